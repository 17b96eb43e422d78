"""Self-checking exercises: compare a learner's answer with the reference and say what differs.

``check_function`` runs the learner's function and the reference on the same random inputs;
``check_value`` compares one answer. Both return a :class:`Verdict`: true when the answer is
right, shown in a notebook as its message. A function that still raises
``NotImplementedError`` counts as "not answered yet".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np



@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``bool(verdict)`` says whether it passed; it displays as its message."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return self.message


Hint = tuple[Callable[..., Any], str]  # (a known wrong function, what to tell a learner who wrote it)


def _describe(value: Any) -> str:
    """A short description of an input or output: arrays by shape, short values in full."""
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.size > 6 else np.array2string(value, precision=4)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def difference(got: Any, expected: Any, atol: float = 1e-6) -> str | None:
    """What differs between ``got`` and ``expected`` (numbers, arrays, lists/tuples of them), or None."""
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = difference(g, e, atol)
            if problem:
                return f"item {i}: {problem}"
        return None
    if isinstance(expected, (str, bool)) or expected is None:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    try:
        got_array, expected_array = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return f"expected a number or array like {_describe(expected)}, got {_describe(got)}"
    if got_array.shape != expected_array.shape:
        return f"expected shape {expected_array.shape}, got shape {got_array.shape}"
    if not np.allclose(got_array, expected_array, atol=atol, rtol=1e-5, equal_nan=True):
        with np.errstate(invalid="ignore"):  # inf - inf
            gap = np.abs(got_array - expected_array)
        close = np.isclose(got_array, expected_array, atol=atol, rtol=1e-5, equal_nan=True)
        # a NaN (or inf) where a number is expected is an infinite difference
        gap = np.where(close, 0.0, np.nan_to_num(gap, nan=np.inf, posinf=np.inf))
        where = tuple(int(i) for i in np.unravel_index(np.argmax(gap), gap.shape)) if gap.ndim else ()
        return (f"values differ: expected {_describe(expected_array)}, got {_describe(got_array)} "
                f"(largest difference {np.max(gap):.4g}{f' at index {where}' if where else ''})")
    return None


def check_function(
    learner_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    make_inputs: Callable[[np.random.Generator], tuple],
    trials: int = 10,
    hints: Sequence[Hint] = (),
    atol: float = 1e-6,
    seed: int = 0,
) -> Verdict:
    """Call both functions on ``trials`` random inputs from ``make_inputs(rng)`` and compare.

    ``hints`` pairs known wrong functions with advice: if the learner's output matches one,
    the advice is added. The verdict is correct when every trial matches.
    """
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        args = make_inputs(rng)
        expected = reference_fn(*copy.deepcopy(args))
        try:
            got = learner_fn(*copy.deepcopy(args))
        except NotImplementedError:
            return Verdict(False, "Not answered yet: replace `raise NotImplementedError` with your code, then run this cell again.")
        except Exception as error:
            return Verdict(False, f"✗ Your function raised {type(error).__name__}: {error}\n  on input {_describe(args)}")
        problem = difference(got, expected, atol)
        if problem:
            message = f"✗ Not yet. On input {_describe(args)}:\n  {problem}"
            for wrong_fn, advice in hints:
                if difference(got, wrong_fn(*copy.deepcopy(args)), atol) is None:
                    message += f"\n  Hint: {advice}"
                    break
            return Verdict(False, message)
    return Verdict(True, f"✓ Correct: your function matches the reference on {trials} random inputs.")


def check_value(answer: Any, expected: Any, explanation: str, atol: float = 1e-6) -> Verdict:
    """Compare one answer with the expected one; if wrong, the verdict includes ``explanation``."""
    if answer is None or answer is Ellipsis:
        return Verdict(False, "Not answered yet: set your answer in the cell above, then run this cell again.")
    problem = difference(answer, expected, atol)
    if problem:
        return Verdict(False, f"✗ Not yet: {problem}.\n  {explanation}")
    return Verdict(True, "✓ Correct.")


# Notebook 01 · When data cannot move ------------------------------------------------------------


def _unseen_fraction(counts: np.ndarray) -> np.ndarray:
    """Reference: per client, the fraction of classes it holds no example of. (clients, classes) -> (clients,)."""
    return (np.asarray(counts) == 0).mean(axis=1)


def _random_label_distribution(rng: np.random.Generator) -> tuple[np.ndarray]:
    """A clients x classes count matrix of a random label-skewed split of random labels."""
    from course_utils.partition import dirichlet, label_distribution

    num_classes, num_clients = int(rng.integers(2, 11)), int(rng.integers(2, 7))
    labels = rng.integers(0, num_classes, size=int(rng.integers(50, 300)))
    alpha = float(rng.choice([0.3, 1.0, 10.0]))
    partitions = dirichlet(labels, num_clients, alpha=alpha, seed=int(rng.integers(2**31)))
    return (label_distribution(labels, partitions, num_classes),)


def check_unseen_fraction(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(counts)``: from a clients x classes count matrix, each client's fraction of classes never seen."""
    return check_function(
        fn,
        _unseen_fraction,
        _random_label_distribution,
        hints=[
            (lambda counts: (counts == 0).sum(axis=1),
             "that is the number of unseen classes; divide by the number of classes."),
            (lambda counts: (counts > 0).mean(axis=1),
             "that is the fraction of classes a client HAS seen; count the zeros instead."),
            (lambda counts: (counts == 0).mean(axis=0),
             "that is one value per class; take the mean along each client's row (axis=1)."),
        ],
    )


def check_worst_client(answer: Any, accuracies: dict[int, float], counts: np.ndarray) -> Verdict:
    """``answer``: the id of the client whose model, trained alone, has the lowest accuracy in ``accuracies``.

    ``counts`` is the split's clients x classes label distribution, used to explain the answer.
    """
    worst = int(min(accuracies, key=accuracies.__getitem__))
    row = np.asarray(counts)[worst]
    top = int(row.argmax())
    explanation = (
        f"Client {worst} reaches only {accuracies[worst]:.3f} on the shared test set. Its row of the label "
        f"distribution: {int(row.sum())} examples, none of class(es) {np.flatnonzero(row == 0).tolist()}, and "
        f"{row[top] / row.sum():.0%} of them are one class ({top}). Trained alone, a model never learns a class "
        "it has not seen, and learns little from one it has seen a few times."
    )
    return check_value(answer, worst, explanation)


def _update_bytes(num_parameters: int, dtype: str) -> int:
    """Reference: bytes of an uncompressed update of ``num_parameters`` numbers of type ``dtype``."""
    return int(num_parameters) * np.dtype(dtype).itemsize


def _random_model_size(rng: np.random.Generator) -> tuple[int, str]:
    dtype = str(rng.choice(["float32", "float16", "float64", "int8", "int64"]))
    return int(rng.integers(100, 20_000_000)), dtype


def check_update_bytes(fn: Callable[[int, str], int]) -> Verdict:
    """``fn(num_parameters, dtype)``: the size in bytes of one model update, sent uncompressed."""
    return check_function(
        fn,
        _update_bytes,
        _random_model_size,
        hints=[
            (lambda n, dtype: n, "that is the number of parameters; each one takes np.dtype(dtype).itemsize bytes."),
            (lambda n, dtype: 4 * n, "4 bytes per number is right for float32 only; use np.dtype(dtype).itemsize."),
            (lambda n, dtype: 8 * n * np.dtype(dtype).itemsize, "that is bits; a byte holds 8 bits."),
            (lambda n, dtype: n * np.dtype(dtype).itemsize / 2**20, "that is MiB; the check wants plain bytes."),
        ],
    )


# Notebook 02: the five steps by hand ------------------------------------------------------------

ClientResults = list[tuple[list[np.ndarray], int]]  # [(parameters or differences, num_examples)]


def _random_client_results(rng: np.random.Generator, shapes: list[tuple[int, ...]] | None = None) -> ClientResults:
    """2 to 5 clients with float32 arrays of common ``shapes`` and distinct ``num_examples`` (1 to 200).

    By default the shapes are those of a small linear layer: a weight matrix and a bias vector.
    """
    if shapes is None:
        num_out, num_in = int(rng.integers(2, 5)), int(rng.integers(3, 6))
        shapes = [(num_out, num_in), (num_out,)]
    sizes = rng.choice(np.arange(1, 201), size=int(rng.integers(2, 6)), replace=False)  # distinct: weights matter
    return [([rng.normal(size=shape).astype(np.float32) for shape in shapes], int(n)) for n in sizes]


def _layers(results: ClientResults) -> list[np.ndarray]:
    """Each layer stacked over the clients: shape (num_clients, *layer_shape), float64."""
    return [np.stack([np.asarray(a, dtype=np.float64) for a in layer]) for layer in zip(*(p for p, _ in results))]


def _unweighted_mean(results: ClientResults) -> list[np.ndarray]:
    return [layer.mean(axis=0) for layer in _layers(results)]


def _weighted_sum(results: ClientResults) -> list[np.ndarray]:
    weights = np.asarray([n for _, n in results], dtype=np.float64)
    return [np.tensordot(weights, layer, axes=1) for layer in _layers(results)]


def check_weighted_average(fn: Callable[[ClientResults], list[np.ndarray]]) -> Verdict:
    """``fn(results)``: FedAvg, each layer averaged over the clients weighted by their ``num_examples``."""
    from course_utils.aggregate import fedavg

    return check_function(
        fn,
        fedavg,
        lambda rng: (_random_client_results(rng),),
        hints=[
            (_unweighted_mean, "that is the plain (unweighted) mean: every client counts the same. Multiply each "
                               "client's arrays by its num_examples, add them up, and divide by the total of num_examples."),
            (lambda results: [s / len(results) for s in _weighted_sum(results)],
             "you weighted by num_examples but divided by the number of clients; divide by the total of num_examples."),
            (_weighted_sum, "that is the weighted sum; divide it by the total of num_examples."),
        ],
    )


def _apply_differences(global_parameters: list[np.ndarray], results: ClientResults) -> list[np.ndarray]:
    """Reference: the global parameters plus the example-weighted mean of the clients' differences."""
    from course_utils.aggregate import fedavg

    return [np.asarray(g) + d for g, d in zip(global_parameters, fedavg(results))]


def _random_global_and_differences(rng: np.random.Generator) -> tuple[list[np.ndarray], ClientResults]:
    results = _random_client_results(rng)
    global_parameters = [rng.normal(size=a.shape).astype(np.float32) for a in results[0][0]]
    return global_parameters, results


def check_apply_differences(fn: Callable[[list[np.ndarray], ClientResults], list[np.ndarray]]) -> Verdict:
    """``fn(global_parameters, results)``: the new global model from differences ``new - global``."""
    from course_utils.aggregate import fedavg

    return check_function(
        fn,
        _apply_differences,
        _random_global_and_differences,
        hints=[
            (lambda g, results: fedavg(results),
             "that is the averaged difference alone; add it to global_parameters to get the new global model."),
            (lambda g, results: [np.asarray(a) + d for a, d in zip(g, _unweighted_mean(results))],
             "you added the plain (unweighted) mean of the differences; weight each client by its num_examples."),
            (lambda g, results: [np.asarray(a) - d for a, d in zip(g, fedavg(results))],
             "you subtracted the average difference; a difference is new - global, so the server adds it."),
        ],
    )


# Notebook 03 · Federated averaging and federated evaluation -------------------------------------

ClientMetrics = dict[int, dict[str, float]]  # {cid: {"num_examples": ..., "accuracy": ..., ...}}


def _client_weighted_accuracy(client_metrics: ClientMetrics) -> float:
    """Reference: the mean of the clients' accuracies weighted by their ``num_examples``."""
    from course_utils.aggregate import weighted_mean

    return weighted_mean([m["accuracy"] for m in client_metrics.values()],
                         [m["num_examples"] for m in client_metrics.values()])


def _random_client_metrics(rng: np.random.Generator) -> tuple[ClientMetrics]:
    """Federated-evaluation results of 2 to 8 clients of very different sizes, with made-up accuracies."""
    cids = rng.choice(100, size=int(rng.integers(2, 9)), replace=False)
    metrics = {}
    for cid in cids:
        num_examples = int(rng.integers(1, 200))
        correct = int(rng.integers(0, num_examples + 1))
        metrics[int(cid)] = {"num_examples": num_examples, "loss": float(rng.uniform(0, 3)), "accuracy": correct / num_examples}
    return (metrics,)


def check_weighted_client_accuracy(fn: Callable[[ClientMetrics], float]) -> Verdict:
    """``fn(client_metrics)``: the example-weighted mean accuracy of ``{cid: {"num_examples", "accuracy"}}``."""

    def accuracies(metrics: ClientMetrics) -> np.ndarray:
        return np.array([m["accuracy"] for m in metrics.values()])

    def counts(metrics: ClientMetrics) -> np.ndarray:
        return np.array([m["num_examples"] for m in metrics.values()], dtype=float)

    return check_function(
        fn,
        _client_weighted_accuracy,
        _random_client_metrics,
        hints=[
            (lambda metrics: float(accuracies(metrics).mean()),
             "that is the unweighted mean: every client counts the same. Weight each accuracy by the client's "
             "num_examples, so that every test example counts the same."),
            (lambda metrics: float(accuracies(metrics) @ counts(metrics)),
             "that is the number of correct predictions over all clients; divide by the total of num_examples."),
            (lambda metrics: float(accuracies(metrics) @ counts(metrics) / len(metrics)),
             "you divided the weighted sum by the number of clients; divide by the total of num_examples."),
            (lambda metrics: float(np.mean(list(metrics))),
             "that averages the client ids (the dict's keys); use the values: metrics[cid]['accuracy'] ..."),
        ],
    )


def check_worst_evaluated_client(answer: Any, client_metrics: ClientMetrics, counts: np.ndarray | None = None) -> Verdict:
    """``answer``: the id of the client with the lowest accuracy in one round's ``client_metrics``.

    ``counts`` (the split's clients x classes label distribution), if given, explains the answer.
    """
    worst = int(min(client_metrics, key=lambda cid: (client_metrics[cid]["accuracy"], cid)))
    best = int(max(client_metrics, key=lambda cid: (client_metrics[cid]["accuracy"], -cid)))
    low = client_metrics[worst]
    explanation = (f"Client {worst} has the lowest accuracy, {low['accuracy']:.3f} on its {low['num_examples']} "
                   "test example(s).")
    if counts is not None:
        row = np.asarray(counts)[worst]
        share = row / row.sum()
        explanation += (f" Its data: {int(row.sum())} examples, {share.max():.0%} of them of class {int(share.argmax())}; "
                        "one global model serves everyone, and it serves worst the clients whose data is mostly "
                        "the classes it is weakest on.")
    if answer is None or answer is Ellipsis:
        pass  # check_value says "not answered yet"
    elif isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer, float, np.floating)):
        explanation = "The answer must be a client id: an integer, one of the keys of client_metrics. " + explanation
    elif not float(answer).is_integer():
        explanation = "Your answer looks like an accuracy; the question asks for the client id (a key of client_metrics). " + explanation
    elif int(answer) == best and best != worst:
        explanation = f"Client {best} is the best-served client, not the worst. " + explanation
    elif int(answer) not in client_metrics:
        explanation = f"Client {int(answer)} was not evaluated in this round. " + explanation
    return check_value(answer, worst, explanation)


def _client_updates(num_clients: int, num_rounds: int, fraction_fit: float, min_fit_clients: int = 2) -> int:
    """Reference: the client updates a run costs; per round ``FedAvg`` samples
    ``min(num_clients, max(int(fraction_fit * num_clients), min_fit_clients))`` clients."""
    return num_rounds * min(num_clients, max(int(fraction_fit * num_clients), min_fit_clients))


def _random_sampling_setup(rng: np.random.Generator) -> tuple[int, int, float, int]:
    min_fit_clients = int(rng.integers(1, 6))
    num_clients = int(rng.integers(min_fit_clients, 200))
    fraction_fit = float(rng.choice([0.01, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0]))
    return num_clients, int(rng.integers(1, 100)), fraction_fit, min_fit_clients


def check_client_updates(fn: Callable[[int, int, float, int], int]) -> Verdict:
    """``fn(num_clients, num_rounds, fraction_fit, min_fit_clients)``: client updates in a whole run."""
    return check_function(
        fn,
        _client_updates,
        _random_sampling_setup,
        trials=30,
        hints=[
            (lambda n, r, f, m: r * int(f * n),
             "with few clients, int(fraction_fit * num_clients) can fall below min_fit_clients; FedAvg then "
             "samples min_fit_clients instead."),
            (lambda n, r, f, m: r * max(int(np.ceil(f * n)), m),
             "FedAvg rounds fraction_fit * num_clients down (int), not up nor to the nearest integer."),
            (lambda n, r, f, m: r * max(int(round(f * n)), m),
             "FedAvg rounds fraction_fit * num_clients down (int), not up nor to the nearest integer."),
            (lambda n, r, f, m: min(n, max(int(f * n), m)),
             "that is the number of clients in one round; the run has num_rounds rounds."),
        ],
    )


# Notebook 07 · Federated analytics and secure aggregation ----------------------------------------

SumsAndCounts = list[tuple[float, int]]  # one (sum of the values, number of values) pair per client


def _federated_mean(pairs: SumsAndCounts) -> float:
    """Reference: the pooled mean from per-client ``(sum, count)`` pairs: all the sums over all the counts."""
    return float(sum(s for s, _ in pairs) / sum(n for _, n in pairs))


def _random_sums_and_counts(rng: np.random.Generator) -> tuple[SumsAndCounts]:
    """2 to 6 clients of very different sizes and different means, each as its (sum, count)."""
    pairs = []
    for _ in range(int(rng.integers(2, 7))):
        count = int(rng.integers(1, 300))
        values = rng.normal(rng.uniform(10.0, 20.0), 3.0, size=count)
        pairs.append((float(values.sum()), count))
    return (pairs,)


def check_federated_mean(fn: Callable[[SumsAndCounts], float]) -> Verdict:
    """``fn(pairs)``: the mean over all clients' values, from each client's ``(sum, count)`` only."""
    return check_function(
        fn,
        _federated_mean,
        _random_sums_and_counts,
        hints=[
            (lambda pairs: float(np.mean([s / n for s, n in pairs])),
             "that is the mean of the clients' means, in which a client with 3 values counts as much as one "
             "with 300. Add up all the sums and all the counts first, then divide once."),
            (lambda pairs: sum(s for s, _ in pairs) / len(pairs),
             "you divided the total by the number of clients; divide it by the total count."),
            (lambda pairs: sum(s for s, _ in pairs), "that is the total of the values; divide it by the total count."),
        ],
    )


def _mask_pair(x_u: np.ndarray, x_v: np.ndarray, r: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: ``(x_u + r mod 2**bits, x_v - r mod 2**bits)``: u < v, the smaller index adds the mask."""
    from course_utils.secagg import add_mod, sub_mod

    return add_mod(x_u, r, bits), sub_mod(x_v, r, bits)


def _random_pair_and_mask(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Two clients' encoded vectors and their shared mask: uint64 values in [0, 2**bits), bits in {8, 16, 32}."""
    bits = int(rng.choice([8, 16, 32]))
    size = int(rng.integers(3, 7))
    x_u, x_v, r = (rng.integers(0, 2**bits, size=size, dtype=np.uint64) for _ in range(3))
    return x_u, x_v, r, bits


def check_mask_pair(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]) -> Verdict:
    """``fn(x_u, x_v, r, bits)``: the masked vectors ``(y_u, y_v)`` of two clients ``u < v`` sharing the mask ``r``."""
    top = lambda bits: np.uint64(2**bits - 1)  # noqa: E731
    return check_function(
        fn,
        _mask_pair,
        _random_pair_and_mask,
        hints=[
            (lambda x_u, x_v, r, bits: (x_u + r, x_v - r),
             "reduce modulo 2**bits (for example `% 2**bits`): masked values must stay in [0, 2**bits), and "
             "x_v - r must wrap around instead of going below 0."),
            (lambda x_u, x_v, r, bits: ((x_u + r) & top(bits), (x_v + r) & top(bits)),
             "both clients added the mask, so in the sum it doubles instead of cancelling: v subtracts it."),
            (lambda x_u, x_v, r, bits: ((x_u - r) & top(bits), (x_v + r) & top(bits)),
             "the signs are swapped. That cancels too, but the course's convention (as in secagg.pairwise_mask) is "
             "that the client with the smaller index, u, adds r and v subtracts it."),
            (lambda x_u, x_v, r, bits: (x_u, x_v), "those are the unmasked inputs; add r to x_u and subtract it from x_v."),
        ],
    )


def check_dropout_tolerance(answer: Any, num_clients: int, threshold: int) -> Verdict:
    """``answer = (shares, dropouts)``: the shares needed to rebuild one dropped client's secret key, and the
    most clients that may drop out after masking, in a run of ``num_clients`` with Shamir ``threshold``."""
    expected = (threshold, num_clients - threshold)
    explanation = (
        f"Any {threshold} shares (the threshold) rebuild a secret and fewer tell nothing about it. Each surviving "
        f"client holds one share of every other client's key, so the server needs {threshold} survivors: at most "
        f"{num_clients} - {threshold} = {num_clients - threshold} clients may drop out."
    )
    if isinstance(answer, (tuple, list)) and len(answer) == 2:
        if answer[1] == threshold and threshold != num_clients - threshold:
            explanation += f" ({threshold} is how many must survive, not how many may drop out.)"
        elif answer[0] == threshold - 1:
            explanation += f" ({threshold - 1} = threshold - 1 is the most shares that reveal nothing.)"
    return check_value(answer, expected, explanation)
