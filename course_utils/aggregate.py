"""Aggregation: pure functions from the clients' results to one result. No torch, no state.

``parameters`` are a list of NumPy arrays (one per model tensor); a client's result is a
``(parameters, num_examples)`` pair.
"""

from __future__ import annotations

import numpy as np

Parameters = list[np.ndarray]


def check_update(parameters: Parameters, num_examples: int, reference: Parameters, name: str = "update") -> None:
    """Raise ``ValueError`` unless one client's result can be averaged with ``reference``.

    ``parameters`` must be a list of finite arrays with the number and shapes of ``reference``
    (e.g. the global parameters the client received), and ``num_examples`` a positive integer.
    ``name`` says whose result it is in the message.
    """
    if (isinstance(num_examples, (bool, np.bool_)) or not isinstance(num_examples, (int, np.integer))
            or num_examples <= 0):
        raise ValueError(f"{name}: num_examples must be a positive integer, got {num_examples!r}")
    if not isinstance(parameters, (list, tuple)):
        raise ValueError(f"{name}: parameters must be a list of arrays, got {type(parameters).__name__}")
    if len(parameters) != len(reference):
        raise ValueError(f"{name}: parameters must hold {len(reference)} arrays, got {len(parameters)}")
    for j, (array, ref) in enumerate(zip(parameters, reference)):
        if np.shape(array) != np.shape(ref):
            raise ValueError(f"{name}: parameters[{j}] must have shape {np.shape(ref)}, got {np.shape(array)}")
        values = np.asarray(array)
        if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
            raise ValueError(f"{name}: parameters[{j}] must hold numbers, got dtype {values.dtype}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: parameters[{j}] contains NaN or infinite values")


def check_results(results: list[tuple[Parameters, int]]) -> None:
    """Raise ``ValueError`` unless the results can be averaged: at least one, and each passes
    :func:`check_update` against the first (same number and shapes of arrays, finite values,
    a positive integer ``num_examples``).
    """
    if not isinstance(results, (list, tuple)) or len(results) == 0:
        raise ValueError("results must hold at least one (parameters, num_examples) pair, got none")
    for i, result in enumerate(results):
        if not isinstance(result, (list, tuple)) or len(result) != 2:
            raise ValueError(f"results[{i}] must be a (parameters, num_examples) pair, got {result!r:.80}")
    reference = results[0][0]
    for i, (parameters, num_examples) in enumerate(results):
        check_update(parameters, num_examples, reference, name=f"results[{i}]")


def fedavg(results: list[tuple[Parameters, int]]) -> Parameters:
    """FedAvg (McMahan et al., 2017): the average of the parameters weighted by ``num_examples``.

    Returns a new list of arrays with the shapes and dtypes of the inputs (integer arrays,
    such as a batch-norm counter, are rounded back).
    """
    check_results(results)
    total = sum(int(n) for _, n in results)
    averaged = []
    for layers in zip(*(parameters for parameters, _ in results)):
        weighted = sum(np.asarray(layer, dtype=np.float64) * int(n) for layer, (_, n) in zip(layers, results)) / total
        averaged.append(cast_to(weighted, np.asarray(layers[0]).dtype))
    return averaged


def weighted_mean(values: list[float], weights: list[int]) -> float:
    """The mean of ``values`` weighted by ``weights`` (e.g. client accuracies by example counts).

    ``values`` finite numbers; ``weights`` finite numbers >= 0 with a positive sum; equal lengths.
    """
    if len(values) != len(weights) or len(values) == 0:
        raise ValueError(f"values and weights must be non-empty and of equal length, "
                         f"got {len(values)} and {len(weights)}")
    for name, numbers in (("values", values), ("weights", weights)):
        if any(isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating))
               for x in numbers):
            raise TypeError(f"{name} must be numbers (not bools), got {list(numbers)!r:.120}")
        if not np.all(np.isfinite(np.asarray(numbers, dtype=np.float64))):
            raise ValueError(f"{name} must be finite, got {list(numbers)!r:.120}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)!r:.120}")
    return float(np.dot(np.asarray(values, dtype=np.float64), np.asarray(weights, dtype=np.float64)) / sum(weights))


def weighted_metrics(metrics: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Example-weighted mean of each metric over clients: ``[(num_examples, {name: value})]``.

    A metric that only some clients report is averaged over those clients.
    """
    for i, item in enumerate(metrics):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], dict)):
            raise TypeError(f"metrics[{i}] must be a (num_examples, {{name: value}}) pair, got {item!r:.80}")
    names = sorted({name for _, m in metrics for name in m})
    out = {}
    for name in names:
        pairs = [(m[name], n) for n, m in metrics if name in m]
        out[name] = weighted_mean([v for v, _ in pairs], [n for _, n in pairs])
    return out


def cast_to(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` (float64) as ``dtype``, rounding to the nearest integer for integer dtypes, as fedavg does."""
    return (np.rint(values) if np.issubdtype(dtype, np.integer) else values).astype(dtype)


def _stack(results: list[tuple[Parameters, int]], layer: int) -> np.ndarray:
    """The clients' arrays for one layer, stacked: shape (num_clients, *layer_shape), float64."""
    return np.stack([np.asarray(parameters[layer], dtype=np.float64) for parameters, _ in results])


def median(results: list[tuple[Parameters, int]]) -> Parameters:
    """Coordinate-wise median of the clients' parameters (Yin et al., 2018); ignores ``num_examples``.

    One client, however extreme its values, cannot move the median beyond the honest clients' range.
    """
    check_results(results)
    dtypes = [np.asarray(a).dtype for a in results[0][0]]
    return [cast_to(np.median(_stack(results, i), axis=0), dtypes[i]) for i in range(len(dtypes))]


def trimmed_mean(results: list[tuple[Parameters, int]], trim_fraction: float) -> Parameters:
    """Coordinate-wise trimmed mean: drop the ``trim_fraction`` largest and smallest values, average the rest.

    ``trim_fraction`` in [0, 0.5): with n clients, ``floor(trim_fraction * n)`` values are cut
    at each end of every coordinate; at least one value must remain.
    """
    check_results(results)
    n = len(results)
    if (isinstance(trim_fraction, (bool, np.bool_))
            or not isinstance(trim_fraction, (int, float, np.integer, np.floating))):
        raise TypeError(f"trim_fraction must be a number in [0, 0.5), got {trim_fraction!r}")
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    cut = int(trim_fraction * n)
    if n - 2 * cut < 1:
        raise ValueError(f"trim_fraction={trim_fraction} trims all {n} clients; use a smaller trim_fraction")
    dtypes = [np.asarray(a).dtype for a in results[0][0]]
    out = []
    for i, dtype in enumerate(dtypes):
        ordered = np.sort(_stack(results, i), axis=0)
        out.append(cast_to(ordered[cut : n - cut].mean(axis=0), dtype))
    return out
