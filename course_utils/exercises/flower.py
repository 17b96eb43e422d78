"""Exercise checks: flower's names and records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, difference

# Flower is optional: these checks import flwr inside the function, never at module level.

# The course's FedAvg settings and the name each has in flwr.serverapp.strategy.FedAvg (Flower 1.42).
FLOWER_FEDAVG_NAMES = {
    "fraction_fit": "fraction_train",
    "fraction_evaluate": "fraction_evaluate",
    "min_fit_clients": "min_train_nodes",
    "min_evaluate_clients": "min_evaluate_nodes",
    "min_available_clients": "min_available_nodes",
}


def _flower_missing() -> Verdict | None:
    """A verdict saying how to install Flower, or None if it is installed."""
    import importlib.util

    if importlib.util.find_spec("flwr") is None:
        return Verdict(False, "Flower is not installed: pip install -r requirements.txt (it pins flwr), "
                              "then run this cell again.")
    return None


def check_flower_fedavg_arguments(answer: Any, course_settings: dict[str, float]) -> Verdict:
    """``answer``: keyword arguments for Flower's ``FedAvg`` that mean what ``course_settings`` (keyword
    arguments of ``course_utils.strategy.FedAvg``) mean in the course."""
    if answer is None or answer is Ellipsis:
        return Verdict(False, "Not answered yet: set your answer in the cell above, then run this cell again.")
    if not isinstance(answer, dict):
        return Verdict(False, f"✗ Not yet: expected a dict of keyword arguments, got {type(answer).__name__}.")
    if missing := _flower_missing():
        return missing
    import inspect

    from flwr.serverapp.strategy import FedAvg

    accepted = [name for name in inspect.signature(FedAvg.__init__).parameters if name != "self"]
    course_names = sorted(set(answer) & set(FLOWER_FEDAVG_NAMES) - set(FLOWER_FEDAVG_NAMES.values()))
    if course_names:
        return Verdict(False, f"✗ Not yet: {course_names[0]!r} is the course's name.\n  Hint: Flower 1.42 calls "
                              "clients *nodes* and fit *train*: min_fit_clients becomes min_train_nodes.")
    unknown = sorted(set(answer) - set(accepted))
    if unknown:
        return Verdict(False, f"✗ Not yet: Flower's FedAvg has no argument {unknown[0]!r}; "
                              f"it takes {', '.join(accepted)}.")
    expected = {FLOWER_FEDAVG_NAMES[name]: (name, value) for name, value in course_settings.items()}
    for flower_name, (course_name, value) in expected.items():
        if flower_name not in answer:
            return Verdict(False, f"✗ Not yet: {flower_name!r} is missing: it is Flower's name for the course's "
                                  f"{course_name} (here {value}).")
        verdict = check_value(answer[flower_name], value, f"{flower_name} means what the course's {course_name} means, "
                                                          f"so it takes the same value ({value}).")
        if not verdict:
            return Verdict(False, f"{flower_name}: {verdict.message}")
    extra = sorted(set(answer) - set(expected))
    if extra:
        return Verdict(False, f"✗ Not yet: {extra[0]!r} has no counterpart in the course's settings; leave it at "
                              "Flower's default.")
    FedAvg(**answer)  # and Flower accepts them
    return Verdict(True, f"✓ Correct: FedAvg({', '.join(f'{k}={v}' for k, v in answer.items())}).")


def _random_model_arrays(rng: np.random.Generator) -> list[np.ndarray]:
    """11 to 14 arrays, as a model's parameters: float32 weights of random shapes and one int64 counter.

    More than ten arrays, so that keys "0", "1", ..., "10" sorted as text come out of order.
    """
    count = int(rng.integers(11, 15))
    arrays: list[np.ndarray] = [
        rng.normal(size=tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(1, 4)))).astype(np.float32)
        for _ in range(count)
    ]
    counter = np.asarray(int(rng.integers(0, 1000)), dtype=np.int64)  # like batch norm's num_batches_tracked
    arrays[int(rng.integers(count))] = counter
    return arrays


def _dtype_difference(got: Any, expected: list[np.ndarray]) -> str | None:
    """What differs in dtype between two lists of arrays, or None."""
    for i, (g, e) in enumerate(zip(got, expected)):
        if np.asarray(g).dtype != e.dtype:
            return f"item {i}: expected dtype {e.dtype}, got {np.asarray(g).dtype}: keep each array's own dtype"
    return None


def check_array_record_conversion(
    to_record: Callable[[list[np.ndarray]], Any], from_record: Callable[[Any], list[np.ndarray]]
) -> Verdict:
    """``to_record(parameters)``: the course's parameters (a list of NumPy arrays) as Flower's ``ArrayRecord``;
    ``from_record(record)``: back to the list, in the same order, with the same shapes and dtypes."""
    if missing := _flower_missing():
        return missing
    from flwr.app import ArrayRecord

    def reference_from(record: Any) -> list[np.ndarray]:
        return record.to_numpy_ndarrays()

    try:
        sample = from_record(ArrayRecord(_random_model_arrays(np.random.default_rng(0))))
    except Exception:  # NotImplementedError and other errors are reported by check_function below
        sample = None
    if isinstance(sample, (list, tuple)) and any(not isinstance(a, np.ndarray) for a in sample):
        kind = type(next(a for a in sample if not isinstance(a, np.ndarray))).__name__
        return Verdict(False, f"✗ from_record must return NumPy arrays, got {kind} objects.\n  Hint: an ArrayRecord "
                              "holds flwr Array objects; call .numpy() on each, or use record.to_numpy_ndarrays().")

    verdict = check_function(
        from_record,
        reference_from,
        lambda rng: (ArrayRecord(_random_model_arrays(rng)),),
        hints=[
            (lambda record: [record[key].numpy() for key in sorted(record.keys())],
             "you sorted the keys as text, where '10' comes before '2'. Keep the record's own order, which is "
             "the model's: record.to_numpy_ndarrays()."),
            (lambda record: [record[key].numpy() for key in sorted(record.keys(), reverse=True)],
             "the arrays must come back in the record's own order: record.to_numpy_ndarrays()."),
        ],
    )
    if not verdict:
        if verdict.message.startswith("Not answered"):
            return verdict
        return Verdict(False, "from_record: " + verdict.message)
    rng = np.random.default_rng(1)
    for _ in range(5):
        parameters = _random_model_arrays(rng)
        record = ArrayRecord(parameters)
        problem = _dtype_difference(from_record(record), parameters)
        if problem:
            return Verdict(False, f"✗ from_record: {problem}.")
        try:
            got = to_record([a.copy() for a in parameters])
        except NotImplementedError:
            return Verdict(False, "Not answered yet: to_record still raises NotImplementedError.")
        except Exception as error:
            return Verdict(False, f"✗ to_record raised {type(error).__name__}: {error}")
        if not isinstance(got, ArrayRecord):
            return Verdict(False, f"✗ to_record must return an ArrayRecord, got {type(got).__name__}.\n"
                                  "  Hint: ArrayRecord(parameters) builds one from a list of NumPy arrays.")
        back = got.to_numpy_ndarrays()
        problem = difference(back, parameters, atol=0) or _dtype_difference(back, parameters)
        if problem:
            return Verdict(False, f"✗ to_record: reading your ArrayRecord back gives different arrays: {problem}.")
    return Verdict(True, "✓ Correct: parameters -> ArrayRecord -> parameters keeps every array, "
                         "its order and its dtype.")
