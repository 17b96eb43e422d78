"""Exercise checks: robust aggregation and compression."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from typing import Any

from course_utils.exercises.core import Verdict, check_function, check_value
from course_utils.exercises.rounds import ClientResults, _layers, _random_client_results, _unweighted_mean


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


ROUNDING_CHOICES = ("nearest", "stochastic", "the same")


def check_rounding_prediction(answer: Any) -> Verdict:
    """``answer``: which 2-bit quantization, averaged over 100 clients that send the *same* update, lands
    closer to that update: rounding to the "nearest" level, "stochastic" rounding, or "the same"?"""
    if isinstance(answer, str) and answer.strip().lower() not in ROUNDING_CHOICES:
        return Verdict(False, f"✗ Not yet: answer with one of {ROUNDING_CHOICES}, got {answer!r}.")
    return check_value(answer.strip().lower() if isinstance(answer, str) else answer, "stochastic", (
        "Rounding to the nearest level gives every client the same codes, so their average has exactly the error of "
        "one of them: averaging removes nothing. Stochastic rounding is right on average (unbiased), and the errors "
        "of independent draws cancel: the average's error shrinks like 1/sqrt(number of clients)."))


ALIE_CHOICES = ("FedAvg", "FedMedian", "FedTrimmedAvg")


def check_alie_prediction(answer: Any) -> Verdict:
    """``answer``: which rule does "A Little Is Enough" (colluders sending ``mean - z * std`` of their honest
    updates) slow down the most in notebook 06: "FedAvg", "FedMedian" or "FedTrimmedAvg"?"""
    if isinstance(answer, str):
        by_lower = {choice.lower(): choice for choice in ALIE_CHOICES}
        if answer.strip().lower() not in by_lower:
            return Verdict(False, f"✗ Not yet: answer with one of {ALIE_CHOICES}, got {answer!r}.")
        answer = by_lower[answer.strip().lower()]
    return check_value(answer, "FedMedian", (
        "The colluders all send the same value, a little below the mean, in every coordinate. The mean gives it the "
        "attackers' share of the weight; the median has no weights: with the attackers' copies on one side, it moves "
        "to the next honest value on that side, in nearly every coordinate at once, whenever an attacker is sampled. "
        "The rule that threw the sign flip away follows this attacker most."))
