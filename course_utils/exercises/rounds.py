"""Exercise checks: one round by hand: weighted averaging, updates as differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.exercises.core import Verdict, check_function, localized

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
            (_unweighted_mean,
             localized("that is the plain (unweighted) mean: every client counts the same. Multiply each "
                       "client's arrays by its num_examples, add them up, and divide by the total of num_examples.",
                       "这是简单（不加权）均值：每个客户端分量一样。应把每个客户端的数组乘以它的 num_examples，"
                       "全部相加，再除以 num_examples 的总和。")),
            (lambda results: [s / len(results) for s in _weighted_sum(results)],
             localized("you weighted by num_examples but divided by the number of clients; "
                       "divide by the total of num_examples.",
                       "你按 num_examples 加了权，却除以客户端个数；应除以 num_examples 的总和。")),
            (_weighted_sum, localized("that is the weighted sum; divide it by the total of num_examples.",
                                      "这是加权和；还要除以 num_examples 的总和。")),
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
             localized("that is the averaged difference alone; "
                       "add it to global_parameters to get the new global model.",
                       "这只是平均后的差值；把它加到 global_parameters 上，才得到新的全局模型。")),
            (lambda g, results: [np.asarray(a) + d for a, d in zip(g, _unweighted_mean(results))],
             localized("you added the plain (unweighted) mean of the differences; "
                       "weight each client by its num_examples.",
                       "你加上的是差值的简单（不加权）均值；应按 num_examples 给每个客户端加权。")),
            (lambda g, results: [np.asarray(a) - d for a, d in zip(g, fedavg(results))],
             localized("you subtracted the average difference; a difference is new - global, so the server adds it.",
                       "你减去了平均差值；差值是 new - global，所以服务器要把它加上。")),
        ],
    )
