"""Self-checking exercises: compare a learner's answer with the reference and say what differs.

``check_function`` runs the learner's function and the reference on the same random inputs;
``check_value`` compares one answer. Both return a :class:`Verdict`: true when the answer is
right, shown in a notebook as its message. A function that still raises
``NotImplementedError`` counts as "not answered yet".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


# Data on many clients: unseen classes, the worst client, update sizes (notebook 01) ---------------


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


# One round by hand: weighted averaging, updates as differences (notebook 02) ----------------------

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


# Federated evaluation and the cost of sampling (notebook 03) --------------------------------------

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


# Federated analytics and secure aggregation (notebook 07) -----------------------------------------

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


# Heterogeneous data: skew and the proximal term (notebook 04) -------------------------------------


def _largest_class_share(counts: np.ndarray) -> float:
    """Reference: the mean over clients of the share of a client's examples in its most common class."""
    counts = np.asarray(counts, dtype=np.float64)
    return float((counts.max(axis=1) / counts.sum(axis=1)).mean())


def check_largest_class_share(fn: Callable[[np.ndarray], float]) -> Verdict:
    """``fn(counts)``: from a clients x classes count matrix, the mean over clients of the largest class share.

    1/num_classes for perfectly balanced clients, 1.0 when every client holds a single class.
    """
    return check_function(
        fn,
        _largest_class_share,
        _random_label_distribution,
        hints=[
            (lambda counts: counts.max(axis=1) / counts.sum(axis=1),
             "that is one share per client; return their mean, a single number."),
            (lambda counts: counts.max(axis=1).mean(),
             "that is the mean count of the most common class; divide each client's count by its own number "
             "of examples first."),
            (lambda counts: counts.max(axis=1).sum() / counts.sum(),
             "that weights clients by their size, so big clients count more; take each client's share first, "
             "then the plain mean over clients."),
            (lambda counts: (counts.max(axis=0) / counts.sum(axis=0)).mean(),
             "that works along the classes (axis=0); each client is a row, so take the max and the sum along axis=1."),
        ],
    )


def check_slowest_alpha(answer: Any, alphas: Sequence[float]) -> Verdict:
    """``answer``: the Dirichlet concentration among ``alphas`` that should slow FedAvg down the most."""
    alphas = sorted(float(a) for a in alphas)
    explanation = (
        f"alpha is the concentration of the Dirichlet draw that shares each class among the clients. A large alpha "
        f"(here {alphas[-1]:g}) gives every client almost the same share of every class: nearly IID. A small alpha "
        f"puts most of each class on one or two clients, so every client sees few labels and the clients' updates "
        f"pull in different directions. The smallest alpha, {alphas[0]:g}, is the most skewed."
    )
    return check_value(answer, alphas[0], explanation)


def _proximal_term(parameters: list[np.ndarray], global_parameters: list[np.ndarray], mu: float) -> float:
    """Reference: FedProx's penalty mu / 2 * ||w - w_global||^2, all layers taken together."""
    return float(mu / 2 * _squared_distance(parameters, global_parameters))


def _squared_distance(parameters: list[np.ndarray], global_parameters: list[np.ndarray]) -> float:
    return float(sum(np.sum((np.asarray(w, np.float64) - np.asarray(g, np.float64)) ** 2)
                     for w, g in zip(parameters, global_parameters)))


def _random_parameters_pair(rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """A client's parameters, the global ones (same shapes), and a mu whose half is not 1."""
    (parameters, _), (global_parameters, _) = _random_client_results(rng)[:2]
    return parameters, global_parameters, float(rng.choice([0.01, 0.1, 0.5, 3.0]))


def check_proximal_term(fn: Callable[[list[np.ndarray], list[np.ndarray], float], float]) -> Verdict:
    """``fn(parameters, global_parameters, mu)``: FedProx's proximal term ``mu / 2 * ||w - w_global||^2``."""
    def layer_norms(w, g):
        return sum(float(np.linalg.norm(np.asarray(a, np.float64) - b)) for a, b in zip(w, g))

    return check_function(
        fn,
        _proximal_term,
        _random_parameters_pair,
        hints=[
            (lambda w, g, mu: mu * _squared_distance(w, g),
             "you left out the 1/2: the term is mu / 2 times the squared distance."),
            (lambda w, g, mu: _squared_distance(w, g) / 2, "multiply by mu: it sets how hard the term pulls."),
            (lambda w, g, mu: mu / 2 * np.sqrt(_squared_distance(w, g)),
             "that is mu / 2 times the distance; the term uses the SQUARED distance (no square root)."),
            (lambda w, g, mu: mu / 2 * layer_norms(w, g),
             "you added up one norm per layer; square the differences and add them all up, with no square root."),
        ],
    )


# Failures and stragglers (notebook 05) ------------------------------------------------------------


def _matching_hints(fn: Callable[..., Any], hints: Sequence[Hint], make_inputs: Callable[[np.random.Generator], tuple],
                    trials: int, seed: int = 0) -> list[Hint]:
    """The hints whose wrong function gives the same answers as ``fn`` on all ``trials`` inputs.

    When answers take few values (booleans, small counts), a wrong function can agree with the
    learner's on the one failing input by chance; agreeing on every input identifies the mistake.
    A wrong hint misleads more than none, so a function that matches no hint gets none.
    """
    rng = np.random.default_rng(seed)
    inputs = [make_inputs(rng) for _ in range(trials)]

    def agrees(wrong_fn: Callable[..., Any]) -> bool:
        try:
            return all(difference(fn(*copy.deepcopy(a)), wrong_fn(*copy.deepcopy(a))) is None for a in inputs)
        except Exception:  # the learner's function raised: check_function reports it
            return False

    return [hint for hint in hints if agrees(hint[0])]


def _check_with_hints(
    fn: Callable[..., Any], reference_fn: Callable[..., Any], make_inputs: Callable[[np.random.Generator], tuple],
    trials: int, hints: Sequence[Hint],
) -> Verdict:
    """``check_function`` on ``trials`` inputs, giving only the hints that describe ``fn``'s mistake."""
    return check_function(fn, reference_fn, make_inputs, trials=trials,
                          hints=_matching_hints(fn, hints, make_inputs, trials))


def _round_success_probability(num_sampled: int, failure_rate: float, min_fit_clients: int) -> float:
    """Reference: the chance that at least ``min_fit_clients`` of ``num_sampled`` clients succeed,
    each failing independently with probability ``failure_rate`` (a binomial tail)."""
    from math import comb

    success = 1.0 - failure_rate
    return float(sum(comb(num_sampled, k) * success**k * failure_rate ** (num_sampled - k)
                     for k in range(min_fit_clients, num_sampled + 1)))


def _random_unreliable_round(rng: np.random.Generator) -> tuple[int, float, int]:
    """A number of sampled clients (1 to 30), a failure rate and a minimum of successes."""
    num_sampled = int(rng.integers(1, 31))
    failure_rate = float(rng.choice([0.05, 0.1, 0.2, 0.3, 0.5, 0.7]))
    return num_sampled, failure_rate, int(rng.integers(1, num_sampled + 1))


def _binomial_sum(n: int, p_success: float, ks: range) -> float:
    """The chance that the number of successes out of ``n`` tries (each ``p_success``) is in ``ks``."""
    from math import comb

    return float(sum(comb(n, k) * p_success**k * (1 - p_success) ** (n - k) for k in ks))


def check_round_success_probability(fn: Callable[[int, float, int], float]) -> Verdict:
    """``fn(num_sampled, failure_rate, min_fit_clients)``: the chance that a round has enough successes."""
    return _check_with_hints(
        fn,
        _round_success_probability,
        _random_unreliable_round,
        trials=20,
        hints=[
            (lambda n, p, m: _binomial_sum(n, 1 - p, range(m, m + 1)),
             "that is the chance that exactly min_fit_clients succeed; add up the chances of k successes "
             "for every k from min_fit_clients to num_sampled."),
            (lambda n, p, m: _binomial_sum(n, 1 - p, range(m + 1, n + 1)),
             "exactly min_fit_clients successes are enough: start the sum at k = min_fit_clients."),
            (lambda n, p, m: _binomial_sum(n, p, range(m, n + 1)),
             "each client SUCCEEDS with probability 1 - failure_rate: k successes have probability "
             "comb(n, k) * (1 - failure_rate)**k * failure_rate**(n - k)."),
            (lambda n, p, m: _binomial_sum(n, 1 - p, range(0, m)),
             "that is the chance that the round FAILS (fewer than min_fit_clients successes); the question "
             "asks for the chance that it goes on: 1 minus that."),
            (lambda n, p, m: float(n * (1 - p) >= m),
             "that compares the expected number of successes with the minimum; the question asks for a "
             "probability: the sum over k >= min_fit_clients of the chance of exactly k successes."),
        ],
    )


DEADLINE_POLICIES = ("wait", "drop", "partial")


def _round_times(speeds: np.ndarray, local_steps: int, batch_size: int, deadline: float) -> tuple[float, float, float]:
    """Reference: simulated seconds of one ``DeadlineFedAvg`` round of ``faults.TimedClient`` clients,
    under the policies ``"wait"``, ``"drop"`` and ``"partial"``, in that order.

    Client ``i`` needs ``steps * batch_size / speeds[i]`` seconds. ``"wait"``: the slowest client's time.
    ``"drop"``: ``deadline`` if any client is late, else the slowest time. ``"partial"``: each client does
    the whole steps that fit before the deadline (at least one), and the slowest of those times.
    """
    return _round_times_with(speeds, local_steps, batch_size, deadline)


def _round_times_with(speeds: np.ndarray, local_steps: int, batch_size: int, deadline: float,
                      **mistake: Any) -> tuple[float, float, float]:
    """``_round_times``, or (for the hints) with one of ``_round_time_with``'s typical mistakes."""
    return tuple(_round_time_with(speeds, local_steps, batch_size, deadline, policy, **mistake)
                 for policy in DEADLINE_POLICIES)


def _round_time_with(
    speeds: np.ndarray, local_steps: int, batch_size: int, deadline: float, policy: str, *,
    reduce: Callable[[np.ndarray], float] = np.max, per_batch: bool = True, drop: str = "deadline",
    partial: str = "whole",
) -> float:
    """One round's simulated seconds under ``policy`` (see ``_round_times``).

    The keyword arguments make the typical mistakes, for the hints: ``reduce=np.mean``,
    ``per_batch=False`` (time = steps / speed), ``drop`` in "on_time" / "wait", ``partial`` in
    "wait" / "fractional" / "zero" (no minimum of one step).
    """
    speeds = np.asarray(speeds, dtype=np.float64)
    steps = np.full(speeds.shape, float(local_steps))
    if policy == "partial" and partial in ("whole", "zero"):
        steps = np.minimum(steps, (deadline * speeds) // batch_size)
        steps = np.maximum(1.0, steps) if partial == "whole" else steps
    times = steps * (batch_size if per_batch else 1) / speeds
    if policy == "partial" and partial == "fractional":
        times = np.minimum(times, deadline)
    if policy == "drop" and np.any(times > deadline):
        if drop == "deadline":
            return float(deadline)
        if drop == "on_time":
            times = times[times <= deadline]
            return float(reduce(times)) if times.size else 0.0
    return float(reduce(times))


def _random_round(rng: np.random.Generator) -> tuple[np.ndarray, int, int, float]:
    """2 to 6 log-normal client speeds (examples per second), local steps, a batch size and a deadline."""
    speeds = np.round(100.0 * np.exp(rng.standard_normal(int(rng.integers(2, 7)))), 1).clip(min=1.0)
    local_steps, batch_size = int(rng.integers(1, 9)), int(rng.choice([8, 16, 32]))
    deadline = float(rng.choice([0.5, 1.0, 2.0, 4.0]))
    return speeds, local_steps, batch_size, deadline


def check_round_times(fn: Callable[[np.ndarray, int, int, float], tuple[float, float, float]]) -> Verdict:
    """``fn(speeds, local_steps, batch_size, deadline)``: simulated seconds of one round of DeadlineFedAvg
    under the policies ``("wait", "drop", "partial")``, as a tuple in that order."""
    return _check_with_hints(
        fn,
        _round_times,
        _random_round,
        trials=20,
        hints=[
            (lambda *args: _round_times_with(*args, reduce=np.mean),
             "a round lasts until its last client reports: take the max of the clients' times, not the mean."),
            (lambda *args: _round_times_with(*args, per_batch=False),
             "speed is in examples per second and one step processes batch_size examples: "
             "a client needs local_steps * batch_size / speed seconds."),
            (lambda *args: _round_times_with(*args, drop="on_time"),
             "under 'drop' the server only knows a client is late when the deadline passes: if anyone is late, "
             "the round lasts exactly `deadline`."),
            (lambda *args: _round_times_with(*args, drop="wait"),
             "under 'drop' the server stops waiting at the deadline: if anyone is late, the round lasts `deadline`."),
            (lambda *args: _round_times_with(*args, partial="wait"),
             "under 'partial' each client does only the steps that fit before the deadline: "
             "min(local_steps, (deadline * speed) // batch_size), but at least 1."),
            (lambda *args: _round_times_with(*args, partial="fractional"),
             "under 'partial' clients do whole mini-batch steps: (deadline * speed) // batch_size of them "
             "(at most local_steps, at least 1), each taking batch_size / speed seconds."),
            (lambda *args: _round_times_with(*args, partial="zero"),
             "a partial client always does at least one step, even if that step alone takes longer than "
             "the deadline: max(1, ...)."),
        ],
    )


def _round_continues(num_sampled: int, num_failed: int, min_fit_clients: int, accept_failures: bool) -> bool:
    """Reference: whether ``FedAvg.aggregate_fit`` accepts such a round, asked of ``FedAvg`` itself."""
    from course_utils.strategy import FedAvg, RoundFailedError

    strategy = FedAvg(min_fit_clients=min_fit_clients, accept_failures=accept_failures)
    results = [(cid, [np.zeros(1)], 1, {}) for cid in range(num_sampled - num_failed)]
    failures = [(cid, RuntimeError("simulated")) for cid in range(num_sampled - num_failed, num_sampled)]
    try:
        strategy.aggregate_fit(1, results, failures)
    except RoundFailedError:
        return False
    return True


def _random_failed_round(rng: np.random.Generator) -> tuple[int, int, int, bool]:
    """A round's sample size, failures (none in about a quarter of rounds), minimum and accept_failures.

    The minimum often equals the number of successes, where ``>`` and ``>=`` differ.
    """
    num_sampled = int(rng.integers(2, 21))
    num_failed = 0 if rng.random() < 0.25 else int(rng.integers(1, num_sampled + 1))
    succeeded = num_sampled - num_failed
    choice = rng.random()
    if choice < 0.4 and succeeded >= 1:
        min_fit_clients = succeeded
    elif choice < 0.6:
        min_fit_clients = min(num_sampled, succeeded + 1)
    else:
        min_fit_clients = int(rng.integers(1, num_sampled + 1))
    return num_sampled, num_failed, min_fit_clients, bool(rng.random() < 0.6)


def check_round_continues(fn: Callable[[int, int, int, bool], bool]) -> Verdict:
    """``fn(num_sampled, num_failed, min_fit_clients, accept_failures)``: does FedAvg go on with the round?"""
    return _check_with_hints(
        fn,
        _round_continues,
        _random_failed_round,
        trials=40,
        hints=[
            (lambda n, f, m, accept: n - f >= m,
             "with accept_failures=False a single failure stops the run, however many clients succeeded."),
            (lambda n, f, m, accept: (accept or f == 0) and n - f > m,
             "exactly min_fit_clients successes are enough: compare with >=, not >."),
            (lambda n, f, m, accept: (accept or f == 0) and f <= m,
             "min_fit_clients is the least number of clients that must SUCCEED (num_sampled - num_failed), "
             "not the most that may fail."),
            (lambda n, f, m, accept: accept or f == 0,
             "even with accept_failures=True a round needs at least min_fit_clients successes."),
        ],
    )


# Robust aggregation and compression (notebook 06) -------------------------------------------------


def _lower_median(results: ClientResults) -> list[np.ndarray]:
    """The middle value when it exists, else the lower of the two middle ones (not the median for even counts)."""
    return [np.sort(layer, axis=0)[(len(results) - 1) // 2] for layer in _layers(results)]


def _upper_median(results: ClientResults) -> list[np.ndarray]:
    return [np.sort(layer, axis=0)[len(results) // 2] for layer in _layers(results)]


def check_coordinate_median(fn: Callable[[ClientResults], list[np.ndarray]]) -> Verdict:
    """``fn(results)``: the coordinate-wise median of the clients' parameters, ignoring ``num_examples``."""
    from course_utils.aggregate import fedavg, median

    even_count = ("with an even number of clients the median is the mean of the two middle values "
                  "(np.median does that for you).")
    return check_function(
        fn,
        median,
        lambda rng: (_random_client_results(rng),),
        hints=[
            (_unweighted_mean, "that is the mean of each coordinate; take the median over the clients "
                               "(np.median of the stacked arrays along axis 0)."),
            (fedavg, "that is FedAvg's weighted mean; the median takes the middle value of each coordinate "
                     "and ignores num_examples."),
            (_lower_median, even_count),
            (_upper_median, even_count),
        ],
    )


def _quantized_bytes(shapes: list[tuple[int, ...]], bits: int) -> int:
    """Reference: the bytes ``compression.quantize`` sends for arrays of ``shapes`` at ``bits`` bits."""
    from course_utils.compression import quantize

    return quantize([np.zeros(shape) for shape in shapes], bits)[1]


def _random_shapes_and_bits(rng: np.random.Generator) -> tuple[list[tuple[int, ...]], int]:
    """2 to 6 arrays shaped like a small model's layers (odd sizes included), and a bit width."""
    shapes = []
    for _ in range(int(rng.integers(2, 7))):
        ndim = int(rng.integers(1, 5))
        shapes.append(tuple(int(d) for d in rng.integers(1, 12, size=ndim)))
    return shapes, int(rng.choice([1, 2, 4, 8, 16]))


def _sizes(shapes: list[tuple[int, ...]]) -> list[int]:
    return [int(np.prod(shape)) for shape in shapes]


def check_quantized_bytes(fn: Callable[[list[tuple[int, ...]], int], int]) -> Verdict:
    """``fn(shapes, bits)``: bytes of one update quantized to ``bits`` bits, as ``compression.quantize`` counts them."""
    import math

    return check_function(
        fn,
        _quantized_bytes,
        _random_shapes_and_bits,
        trials=20,
        hints=[
            (lambda shapes, bits: sum(math.ceil(n * bits / 8) for n in _sizes(shapes)),
             "you counted the codes only; every array also sends two float32 numbers (its minimum and its "
             "step), 8 more bytes per array."),
            (lambda shapes, bits: sum(n * bits for n in _sizes(shapes)) + 8 * len(shapes),
             "you counted the codes in bits; a byte holds 8 bits."),
            (lambda shapes, bits: 4 * sum(_sizes(shapes)),
             "that is the uncompressed size (4 bytes per float32 number); each number now takes bits / 8 bytes."),
            (lambda shapes, bits: sum(n * bits / 8 for n in _sizes(shapes)) + 8 * len(shapes),
             "an array's codes fill whole bytes: round each array's bits / 8 * size up with math.ceil."),
        ],
    )


def _top_k_vector(vector: np.ndarray, k: int) -> np.ndarray:
    """Reference: ``vector`` with all but its ``k`` largest-magnitude entries set to zero."""
    kept = np.argsort(np.abs(vector))[len(vector) - k :]
    out = np.zeros_like(vector)
    out[kept] = vector[kept]
    return out


def _keep(vector: np.ndarray, indices: np.ndarray) -> np.ndarray:
    out = np.zeros_like(vector)
    out[indices] = vector[indices]
    return out


def _random_vector_and_k(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    size = int(rng.integers(4, 30))
    return rng.normal(size=size), int(rng.integers(1, size))


def check_top_k_vector(fn: Callable[[np.ndarray, int], np.ndarray]) -> Verdict:
    """``fn(vector, k)``: keep the ``k`` entries of largest magnitude, zeros elsewhere, same shape."""
    dense = ("return a vector of the same length as the input, with zeros where nothing is kept: "
             "what the server rebuilds.")
    return check_function(
        fn,
        _top_k_vector,
        _random_vector_and_k,
        hints=[
            (lambda v, k: _keep(v, np.argsort(v)[len(v) - k :]),
             "you kept the k largest values; keep the k largest magnitudes (np.abs): a large negative change "
             "matters as much as a large positive one."),
            (lambda v, k: _keep(v, np.argsort(np.abs(v))[:k]),
             "you kept the k smallest magnitudes; np.argsort sorts in ascending order, so take the last k."),
            (lambda v, k: v[np.argsort(np.abs(v))[len(v) - k :]], dense),
            (lambda v, k: v[np.sort(np.argsort(np.abs(v))[len(v) - k :])], dense),
            (lambda v, k: v[np.argsort(np.abs(v))[::-1][:k]], dense),
        ],
    )


# Differential privacy (notebook 08) ---------------------------------------------------------------


def _dp_clipped(update: list[np.ndarray], clip_norm: float) -> list[np.ndarray]:
    """Reference: ``update`` scaled down to global L2 norm at most ``clip_norm`` (see ``privacy.clip_update``)."""
    from course_utils.privacy import clip_update

    return clip_update(update, clip_norm)[0]


def _dp_global_norm(update: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(np.square(a)) for a in update)))


def _dp_clip_and_norm(update: list[np.ndarray], clip_norm: float) -> tuple[list[np.ndarray], float]:
    """What ``privacy.clip_update`` returns, (clipped update, original norm): a known wrong answer to the exercise."""
    from course_utils.privacy import clip_update

    return clip_update(update, clip_norm)


def _dp_random_update_and_clip_norm(rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """An update of 2 or 3 float64 arrays (a weight matrix, a bias, ...) and a bound from 0.3 to 3 times its norm."""
    shapes = [(int(rng.integers(2, 5)), int(rng.integers(2, 6))), (int(rng.integers(2, 5)),)]
    shapes += [(int(rng.integers(2, 4)),)] * int(rng.integers(0, 2))
    update = [rng.normal(scale=float(rng.uniform(0.01, 2.0)), size=shape) for shape in shapes]
    return update, float(_dp_global_norm(update) * rng.choice([0.3, 0.6, 0.9, 1.5, 3.0]))


def check_clip_update(fn: Callable[[list[np.ndarray], float], list[np.ndarray]]) -> Verdict:
    """``fn(update, clip_norm)``: the update (a list of arrays) scaled down to global L2 norm at most ``clip_norm``."""
    return check_function(
        fn,
        _dp_clipped,
        _dp_random_update_and_clip_norm,
        trials=20,
        hints=[
            (lambda update, c: [a * min(1.0, c / np.linalg.norm(a)) for a in update],
             "you clipped each array to clip_norm on its own. The bound is on the norm of the whole update, all "
             "arrays taken together: sqrt of the sum of the squares of every entry of every array. Then scale every "
             "array by the same factor."),
            (lambda update, c: [a * c / _dp_global_norm(update) for a in update],
             "you scaled every update to norm exactly clip_norm, also the small ones. An update already within the "
             "bound must stay as it is: scale by min(1, clip_norm / norm)."),
            (lambda update, c: [a * max(1.0, c / _dp_global_norm(update)) for a in update],
             "you took max(1, clip_norm / norm): that enlarges small updates and leaves large ones unclipped. "
             "Use min."),
            (lambda update, c: [a / _dp_global_norm(update) for a in update],
             "you divided by the norm, which gives every update norm 1; multiply by min(1, clip_norm / norm) instead."),
            (lambda update, c: _dp_clip_and_norm(update, c),
             "return the clipped arrays only (a list of arrays), not the norm as well."),
        ],
    )


def _dp_laplace_scale(sensitivity: float, epsilon: float) -> float:
    """Reference: the Laplace scale ``b = sensitivity / epsilon`` that makes a query epsilon-DP."""
    return sensitivity / epsilon


def _dp_random_sensitivity_and_epsilon(rng: np.random.Generator) -> tuple[float, float]:
    return float(rng.choice([1.0, 2.0, 10.0, 30.0, 100.0]) * rng.uniform(0.5, 2.0)), float(rng.uniform(0.05, 5.0))


def check_laplace_scale(fn: Callable[[float, float], float]) -> Verdict:
    """``fn(sensitivity, epsilon)``: the scale of the Laplace noise that makes a query epsilon-DP."""
    return check_function(
        fn,
        _dp_laplace_scale,
        _dp_random_sensitivity_and_epsilon,
        hints=[
            (lambda s, e: 1.0 / e,
             "1 / epsilon is the scale for a count, whose sensitivity is 1; a sum can move by up to its sensitivity "
             "when one person joins or leaves, so the noise must grow with it: sensitivity / epsilon."),
            (lambda s, e: e / s, "you divided the wrong way round: more privacy (smaller epsilon) needs MORE noise."),
            (lambda s, e: s * e, "more privacy (smaller epsilon) needs MORE noise: divide by epsilon."),
            (lambda s, e: np.sqrt(2) * s / e,
             "that is the noise's standard deviation, sqrt(2) times the scale; the question asks for the scale b."),
        ],
    )


DpSetting = dict[str, float]  # {"noise_multiplier": z, "sampling_rate": q, "num_rounds": T}


def check_smaller_epsilon(answer: Any, setting_a: DpSetting, setting_b: DpSetting, delta: float = 1e-5) -> Verdict:
    """``answer``: ``"A"`` or ``"B"``, the DP-FedAvg setting whose accountant gives the smaller epsilon at ``delta``.

    Each setting is ``{"noise_multiplier", "sampling_rate", "num_rounds"}``; epsilons come from
    ``privacy.dp_fedavg_epsilon``.
    """
    from course_utils.privacy import dp_fedavg_epsilon

    def epsilon(setting: DpSetting) -> float:
        return dp_fedavg_epsilon(setting["noise_multiplier"], setting["sampling_rate"], int(setting["num_rounds"]), delta)

    eps_a, eps_b = epsilon(setting_a), epsilon(setting_b)
    expected = "A" if eps_a < eps_b else "B"

    def describe(name: str, setting: DpSetting, eps: float) -> str:
        return (f"{name}: z = {setting['noise_multiplier']}, q = {setting['sampling_rate']}, "
                f"{int(setting['num_rounds'])} rounds -> epsilon = {eps:.2f}")

    explanation = (
        f"The accountant says {describe('A', setting_a, eps_a)}; {describe('B', setting_b, eps_b)} (delta = {delta:g}). "
        "More noise and fewer rounds both lower epsilon; so does a smaller sampling rate q, because a client left "
        "out of a round is fully hidden in it (amplification by sampling): per round the privacy loss shrinks "
        "roughly in proportion to q, while over T rounds it grows only about like sqrt(T)."
    )
    if isinstance(answer, str):
        answer = answer.strip().upper()
        if answer not in ("A", "B"):
            explanation = "Answer with the string 'A' or 'B'. " + explanation
    elif answer is not None and answer is not Ellipsis:
        explanation = "Answer with the string 'A' or 'B'. " + explanation
    return check_value(answer, expected, explanation)


# Hospitals: recall, gains, pooled statistics (notebook 09) ----------------------------------------

_MALIGNANT = 0  # the breast-cancer table's label of a malignant tumour (1 is benign)


def _malignant_recall(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Reference: the share of the malignant tumours (label 0) predicted malignant: sensitivity, TP / (TP + FN)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float(np.mean(predictions[labels == _MALIGNANT] == _MALIGNANT))


def _random_diagnoses(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predictions (0 malignant, 1 benign) of 8 to 120 tumours.

    At least one of each outcome (a cancer caught and one missed, a false alarm and a correct
    all-clear), so that every rate, right or wrong, is defined.
    """
    num_extra = int(rng.integers(4, 117))
    labels = rng.integers(0, 2, size=num_extra)
    wrong = rng.random(num_extra) < rng.uniform(0.05, 0.4)
    predictions = np.where(wrong, 1 - labels, labels)
    labels, predictions = np.r_[[0, 0, 1, 1], labels], np.r_[[0, 1, 0, 1], predictions]
    order = rng.permutation(labels.size)
    return labels[order].astype(np.int64), predictions[order].astype(np.int64)


def check_malignant_recall(fn: Callable[[np.ndarray, np.ndarray], float]) -> Verdict:
    """``fn(labels, predictions)``: the malignant recall (sensitivity), with label 0 malignant and 1 benign."""
    return _check_with_hints(
        fn,
        _malignant_recall,
        _random_diagnoses,
        trials=20,
        hints=[
            (lambda y, p: float(np.mean(p[y == 1] == 1)),
             "that is the recall of the benign tumours (the specificity). In this table label 0 is malignant: "
             "take the tumours whose label is 0 and count how many are predicted 0."),
            (lambda y, p: float(np.mean(p == y)),
             "that is the accuracy over all tumours. Recall looks only at the tumours that ARE malignant: "
             "the share of them that the model flags as malignant."),
            (lambda y, p: float(np.mean(y[p == 0] == 0)),
             "that is the precision: of the tumours PREDICTED malignant, the share that are. Recall starts from "
             "the tumours that ARE malignant (labels == 0) and asks how many were predicted malignant."),
            (lambda y, p: float(np.mean(p[y == 0] == 1)),
             "that is the share of cancers missed (the false-negative rate), which is 1 - recall."),
            (lambda y, p: float(np.sum((p == 0) & (y == 0))),
             "that is the number of cancers caught (true positives); divide it by the number of malignant tumours."),
        ],
    )


def check_biggest_gain(
    answer: Any,
    alone: dict[int, float],
    federated: float | dict[int, float],
    counts: np.ndarray | None = None,
    metric: str = "malignant recall",
) -> Verdict:
    """``answer``: the id of the hospital whose ``metric`` gains most from federation (federated minus alone).

    ``alone`` maps each hospital to the ``metric`` of the model it trained on its own;
    ``federated`` is the global model's (one number: one model serves all) or one per hospital.
    ``counts`` (hospitals x classes, column 0 malignant), if given, explains the answer.
    """
    federated = dict(federated) if isinstance(federated, dict) else {h: float(federated) for h in alone}
    gains = {h: federated[h] - alone[h] for h in alone}
    best = int(max(gains, key=lambda h: (gains[h], -h)))
    explanation = (f"Hospital {best} gains most: its {metric} goes from {alone[best]:.3f} on its own to "
                   f"{federated[best]:.3f} with federated learning ({gains[best]:+.3f}).")
    smallest = None
    if counts is not None:
        counts = np.asarray(counts)
        row = counts[best]
        smallest = int(np.argmin(counts.sum(axis=1)))
        explanation += (f" Its own data: {int(row.sum())} patients, {int(row[_MALIGNANT])} of them malignant. A "
                        "hospital gains most where its own data is thinnest in what the metric measures (for "
                        "malignant recall: malignant cases), whatever its size; the others supply what it lacks.")
    if answer is None or answer is Ellipsis:
        pass  # check_value says "not answered yet"
    elif isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer, float, np.floating)):
        explanation = "The answer must be a hospital id: an integer, one of the keys of `alone`. " + explanation
    elif not float(answer).is_integer():
        explanation = ("Your answer looks like a score; the question asks for the hospital id (a key of `alone`). "
                       + explanation)
    elif int(answer) not in gains:
        explanation = f"There is no hospital {int(answer)}; the ids are {sorted(gains)}. " + explanation
    elif int(answer) != best:
        explanation = f"Hospital {int(answer)} gains {gains[int(answer)]:+.3f}. " + explanation
        if int(answer) == smallest:
            explanation += " (The smallest hospital is not always the one that lacks most.)"
    return check_value(answer, best, explanation)


HospitalStats = list[tuple[int, float, float]]  # per hospital: (count, sum of the values, sum of their squares)


def _pooled_std(stats: HospitalStats) -> float:
    """Reference: the standard deviation of all the hospitals' values together (dividing by N, as ``np.std``)."""
    count = sum(c for c, _, _ in stats)
    mean = sum(s for _, s, _ in stats) / count
    mean_of_squares = sum(q for _, _, q in stats) / count
    return float(np.sqrt(max(mean_of_squares - mean**2, 0.0)))


def _random_hospital_stats(rng: np.random.Generator) -> tuple[HospitalStats]:
    """2 to 6 hospitals of 2 to 200 values each, with different means and spreads, as (count, sum, sum of squares)."""
    stats = []
    for _ in range(int(rng.integers(2, 7))):
        values = rng.normal(rng.uniform(10.0, 20.0), rng.uniform(1.0, 4.0), size=int(rng.integers(2, 201)))
        stats.append((int(values.size), float(values.sum()), float(np.sum(values**2))))
    return (stats,)


def _hospital_variances(stats: HospitalStats) -> np.ndarray:
    return np.array([q / c - (s / c) ** 2 for c, s, q in stats])


def check_pooled_std(fn: Callable[[HospitalStats], float]) -> Verdict:
    """``fn(stats)``: the standard deviation over all hospitals' values, from each hospital's
    ``(count, sum, sum of squares)`` only (dividing by the total count N, like ``np.std``)."""
    def totals(stats: HospitalStats) -> tuple[float, float, float]:
        return tuple(float(sum(column)) for column in zip(*stats))

    return _check_with_hints(
        fn,
        _pooled_std,
        _random_hospital_stats,
        trials=20,
        hints=[
            (lambda stats: float(np.mean(np.sqrt(_hospital_variances(stats)))),
             "that is the mean of the hospitals' own standard deviations. Add up the counts, the sums and the "
             "sums of squares first; from the totals: mean = S / N, variance = Q / N - mean**2."),
            (lambda stats: float(np.sqrt(np.dot([c for c, _, _ in stats], _hospital_variances(stats))
                                         / sum(c for c, _, _ in stats))),
             "that is the spread WITHIN the hospitals only: it misses that the hospitals' means differ from each "
             "other. Work from the totals: variance = Q / N - (S / N)**2."),
            (lambda stats: (lambda n, s, q: q / n - (s / n) ** 2)(*totals(stats)),
             "that is the variance; the standard deviation is its square root."),
            (lambda stats: (lambda n, s, q: float(np.sqrt((q - s**2 / n) / (n - 1))))(*totals(stats)),
             "you divided by N - 1 (the sample standard deviation); this check, like np.std and load_dataset's "
             "standardization, divides by N."),
            (lambda stats: (lambda n, s, q: float(np.sqrt(q / n)))(*totals(stats)),
             "that is the root mean square; subtract the squared mean: variance = Q / N - (S / N)**2."),
        ],
    )


# Flower's names and records (notebook 10) ---------------------------------------------------------
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
