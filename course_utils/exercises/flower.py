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


# The exercise's setting: the app's FedAvg samples half of 10 SuperNodes; the wrapper clips to 1.0, adds noise of
# multiplier 1.2, and Flower's accountant reports epsilon at delta 1e-5.
DP_EXERCISE = {"num_nodes": 10, "fraction_train": 0.5, "noise_multiplier": 1.2, "clipping_norm": 1.0, "delta": 1e-5}


def _dp_wrapper_problem(wrapped: Any, strategy: Any, setting: dict[str, float]) -> str | None:
    """What is wrong with ``wrapped`` as the exercise's DP wrapper of ``strategy``, or None."""
    from flwr.serverapp import strategy as flower_strategies

    if isinstance(wrapped, flower_strategies.DifferentialPrivacyClientSideFixedClipping):
        return ("the client-side wrapper expects every ClientApp to clip its own update (fixedclipping_mod); "
                "the app's ClientApp has no such mod, so nothing would be clipped. Let the server clip: "
                "DifferentialPrivacyServerSideFixedClipping.")
    if isinstance(wrapped, (flower_strategies.DifferentialPrivacyServerSideAdaptiveClipping,
                            flower_strategies.DifferentialPrivacyClientSideAdaptiveClipping)):
        return "the exercise asks for a fixed clipping norm of 1.0, not adaptive clipping."
    if not isinstance(wrapped, flower_strategies.DifferentialPrivacyServerSideFixedClipping):
        return (f"expected a DifferentialPrivacyServerSideFixedClipping, got {type(wrapped).__name__}. Hint: "
                "from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping.")
    if wrapped.strategy is not strategy:
        return "wrap the strategy you were given (the app's FedAvg), not a new one: its settings would be lost."
    if (wrapped.noise_multiplier, wrapped.clipping_norm) == (setting["clipping_norm"], setting["noise_multiplier"]):
        return "noise_multiplier and clipping_norm are swapped: the noise multiplier is 1.2, the clipping norm 1.0."
    for name in ("noise_multiplier", "clipping_norm"):
        if getattr(wrapped, name) != setting[name]:
            return f"{name} should be {setting[name]}, got {getattr(wrapped, name)}."
    sampled = int(setting["fraction_train"] * setting["num_nodes"])
    if wrapped.num_sampled_clients != sampled:
        return (f"num_sampled_clients is the number of clients that train in a round, fraction_train x nodes = "
                f"{sampled}, not {wrapped.num_sampled_clients}: the noise's std is noise_multiplier x clipping_norm / "
                "num_sampled_clients, and the accountant checks every round against it.")
    if wrapped.accountant is None:
        return ("no accountant: privacy_spent() would return None. Pass accountant=RdpAccountant(PrivacyConfig(...)) "
                "(both from flwr.serverapp).")
    config = wrapped.accountant.config
    if config.population_size != setting["num_nodes"]:
        return (f"the accountant's population_size is the number of SuperNodes clients are drawn from, "
                f"{setting['num_nodes']}, not {config.population_size}.")
    if config.target_delta != setting["delta"]:
        return f"the accountant's target_delta should be {setting['delta']}, got {config.target_delta}."
    return None


def check_flower_dp_wrapper(wrap: Callable[[Any], Any]) -> Verdict:
    """``wrap(strategy)``: Flower's ``FedAvg`` ``strategy`` (``fraction_train=0.5`` of 10 SuperNodes) wrapped for
    central DP as ``DP_EXERCISE`` says: the server clips, Flower's RDP accountant reports epsilon."""
    if missing := _flower_missing():
        return missing
    from flwr.serverapp.strategy import FedAvg

    setting = DP_EXERCISE
    strategy = FedAvg(fraction_train=setting["fraction_train"], min_train_nodes=2,
                      min_available_nodes=setting["num_nodes"])  # fmt: skip
    try:
        wrapped = wrap(strategy)
    except NotImplementedError:
        return Verdict(False, "Not answered yet: replace `raise NotImplementedError` with your code, then run this "
                              "cell again.")
    except Exception as error:  # Flower refuses some combinations itself, with a message worth showing
        return Verdict(False, f"✗ Not yet: your function raised {type(error).__name__}: {error}")
    problem = _dp_wrapper_problem(wrapped, strategy, setting)
    if problem:
        return Verdict(False, f"✗ Not yet: {problem}")
    return Verdict(True, "✓ Correct: the server clips every update to 1.0, adds noise of std 1.2 x 1.0 / 5 to the "
                         "average, and the accountant composes one Gaussian release per round.")


def check_epsilon_growth_prediction(answer: Any, epsilon_short: float, epsilon_long: float, factor: int) -> Verdict:
    """``answer``: the predicted ratio ``epsilon_long / epsilon_short``, where the long run has ``factor`` times the
    rounds; right within 15% of the measured ratio."""
    if answer is None or answer is Ellipsis:
        return Verdict(False, "Not answered yet: set your prediction in the cell above, then run this cell again.")
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)) or answer <= 0:
        return Verdict(False, f"✗ The prediction must be a positive number (a ratio of epsilons), got {answer!r}.")
    measured = epsilon_long / epsilon_short
    explanation = (f"Measured: epsilon {epsilon_short:.3g} -> {epsilon_long:.3g}, {measured:.2f} times for {factor} "
                   f"times the rounds. Under RDP, T Gaussian releases of multiplier z cost T*alpha/(2 z^2) at order "
                   "alpha, plus log(1/delta)/(alpha - 1) to convert: with little noise the first term dominates and "
                   "epsilon grows almost in proportion to T; with much noise the best alpha shrinks as T grows and "
                   "epsilon grows more like sqrt(T).")
    if abs(float(answer) - measured) <= 0.15 * measured:
        return Verdict(True, f"✓ Right: you predicted {float(answer):.2f}. {explanation}")
    return Verdict(False, f"✗ Not quite: you predicted {float(answer):.2f}. {explanation}")
