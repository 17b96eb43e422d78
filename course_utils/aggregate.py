"""Aggregation: pure functions from the clients' results to one result. No torch, no state.

``parameters`` are a list of NumPy arrays (one per model tensor); a client's result is a
``(parameters, num_examples)`` pair.
"""

from __future__ import annotations

import numpy as np

Parameters = list[np.ndarray]


def check_results(results: list[tuple[Parameters, int]]) -> None:
    """Raise ``ValueError`` unless the results can be averaged.

    There must be at least one; every ``num_examples`` a positive integer; every parameter
    list the same length with the same shapes as the first; every value finite.
    """
    if len(results) == 0:
        raise ValueError("results must hold at least one (parameters, num_examples) pair, got none")
    reference = results[0][0]
    for i, (parameters, num_examples) in enumerate(results):
        if isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer)) or num_examples <= 0:
            raise ValueError(f"results[{i}]: num_examples must be a positive integer, got {num_examples!r}")
        if len(parameters) != len(reference):
            raise ValueError(
                f"results[{i}]: parameters must hold {len(reference)} arrays like results[0], got {len(parameters)}"
            )
        for j, (array, ref) in enumerate(zip(parameters, reference)):
            if np.shape(array) != np.shape(ref):
                raise ValueError(
                    f"results[{i}]: parameters[{j}] must have shape {np.shape(ref)} like results[0], "
                    f"got {np.shape(array)}"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"results[{i}]: parameters[{j}] contains NaN or infinite values")


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
        dtype = np.asarray(layers[0]).dtype
        averaged.append((np.rint(weighted) if np.issubdtype(dtype, np.integer) else weighted).astype(dtype))
    return averaged


def weighted_mean(values: list[float], weights: list[int]) -> float:
    """The mean of ``values`` weighted by ``weights`` (e.g. client accuracies by example counts)."""
    if len(values) != len(weights) or len(values) == 0:
        raise ValueError(f"values and weights must be non-empty and of equal length, got {len(values)} and {len(weights)}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return float(np.dot(np.asarray(values, dtype=np.float64), np.asarray(weights, dtype=np.float64)) / sum(weights))


def weighted_metrics(metrics: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Example-weighted mean of each metric over clients: ``[(num_examples, {name: value})]``.

    A metric that only some clients report is averaged over those clients.
    """
    names = sorted({name for _, m in metrics for name in m})
    out = {}
    for name in names:
        pairs = [(m[name], n) for n, m in metrics if name in m]
        out[name] = weighted_mean([v for v, _ in pairs], [n for _, n in pairs])
    return out


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
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
    return [_cast(np.median(_stack(results, i), axis=0), dtypes[i]) for i in range(len(dtypes))]


def trimmed_mean(results: list[tuple[Parameters, int]], trim_fraction: float) -> Parameters:
    """Coordinate-wise trimmed mean: drop the ``trim_fraction`` largest and smallest values, average the rest.

    ``trim_fraction`` in [0, 0.5): with n clients, ``floor(trim_fraction * n)`` values are cut
    at each end of every coordinate; at least one value must remain.
    """
    check_results(results)
    n = len(results)
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    cut = int(trim_fraction * n)
    if n - 2 * cut < 1:
        raise ValueError(f"trim_fraction={trim_fraction} trims all {n} clients; use a smaller trim_fraction")
    dtypes = [np.asarray(a).dtype for a in results[0][0]]
    out = []
    for i, dtype in enumerate(dtypes):
        ordered = np.sort(_stack(results, i), axis=0)
        out.append(_cast(ordered[cut : n - cut].mean(axis=0), dtype))
    return out
