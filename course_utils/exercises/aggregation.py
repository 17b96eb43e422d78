"""Exercise checks: robust aggregation and compression."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, localized
from course_utils.exercises.rounds import ClientResults, _layers, _random_client_results, _unweighted_mean


def _lower_median(results: ClientResults) -> list[np.ndarray]:
    """The middle value when it exists, else the lower of the two middle ones (not the median for even counts)."""
    return [np.sort(layer, axis=0)[(len(results) - 1) // 2] for layer in _layers(results)]


def _upper_median(results: ClientResults) -> list[np.ndarray]:
    return [np.sort(layer, axis=0)[len(results) // 2] for layer in _layers(results)]


def check_coordinate_median(fn: Callable[[ClientResults], list[np.ndarray]]) -> Verdict:
    """``fn(results)``: the coordinate-wise median of the clients' parameters, ignoring ``num_examples``."""
    from course_utils.aggregate import fedavg, median

    even_count = localized("with an even number of clients the median is the mean of the two middle values "
                           "(np.median does that for you).",
                           "客户端个数为偶数时，中位数是中间两个值的均值（np.median 会替你算好）。")
    return check_function(
        fn,
        median,
        lambda rng: (_random_client_results(rng),),
        hints=[
            (_unweighted_mean, localized("that is the mean of each coordinate; take the median over the clients "
                                         "(np.median of the stacked arrays along axis 0).",
                                         "这是每个坐标的均值；应在各客户端之间取中位数（对堆叠后的数组沿 axis 0 "
                                         "求 np.median）。")),
            (fedavg, localized("that is FedAvg's weighted mean; the median takes the middle value of each coordinate "
                               "and ignores num_examples.",
                               "这是 FedAvg 的加权均值；中位数取每个坐标的中间值，不考虑 num_examples。")),
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
             localized("you counted the codes only; every array also sends two float32 numbers (its minimum and its "
                       "step), 8 more bytes per array.",
                       "你只算了编码；每个数组还要发送两个 float32 数（它的最小值和步长），每个数组多 8 个字节。")),
            (lambda shapes, bits: sum(n * bits for n in _sizes(shapes)) + 8 * len(shapes),
             localized("you counted the codes in bits; a byte holds 8 bits.",
                       "你算的是编码的位数；一个字节有 8 位。")),
            (lambda shapes, bits: 4 * sum(_sizes(shapes)),
             localized("that is the uncompressed size (4 bytes per float32 number); "
                       "each number now takes bits / 8 bytes.",
                       "这是未压缩时的大小（每个 float32 数 4 个字节）；现在每个数只占 bits / 8 个字节。")),
            (lambda shapes, bits: sum(n * bits / 8 for n in _sizes(shapes)) + 8 * len(shapes),
             localized("an array's codes fill whole bytes: round each array's bits / 8 * size up with math.ceil.",
                       "一个数组的编码占整数个字节：用 math.ceil 把每个数组的 bits / 8 * size 向上取整。")),
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
    dense = localized("return a vector of the same length as the input, with zeros where nothing is kept: "
                      "what the server rebuilds.",
                      "应返回与输入等长的向量，没有保留的位置填 0：也就是服务器重建出的那个向量。")
    return check_function(
        fn,
        _top_k_vector,
        _random_vector_and_k,
        hints=[
            (lambda v, k: _keep(v, np.argsort(v)[len(v) - k :]),
             localized("you kept the k largest values; keep the k largest magnitudes (np.abs): a large negative change "
                       "matters as much as a large positive one.",
                       "你保留的是最大的 k 个值；应保留绝对值（np.abs）最大的 k 个：一个很大的负变化和一个很大的正变化"
                       "同样重要。")),
            (lambda v, k: _keep(v, np.argsort(np.abs(v))[:k]),
             localized("you kept the k smallest magnitudes; np.argsort sorts in ascending order, so take the last k.",
                       "你保留的是绝对值最小的 k 个；np.argsort 按升序排列，所以应取最后 k 个。")),
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
        return Verdict(False, localized(f"✗ Not yet: answer with one of {ROUNDING_CHOICES}, got {answer!r}.",
                                        f"✗ 还不对：请用 {ROUNDING_CHOICES} 之一作答，得到的是 {answer!r}。"))
    return check_value(answer.strip().lower() if isinstance(answer, str) else answer, "stochastic", localized(
        "Rounding to the nearest level gives every client the same codes, so their average has exactly the error of "
        "one of them: averaging removes nothing. Stochastic rounding is right on average (unbiased), and the errors "
        "of independent draws cancel: the average's error shrinks like 1/sqrt(number of clients).",
        "舍入到最近等级时，每个客户端得到的编码完全相同，所以它们的平均值的误差恰好就是其中一个的误差：取平均什么也"
        "消除不了。随机舍入在平均意义上是对的（无偏），各次独立抽取的误差相互抵消：平均值的误差按 "
        "1/sqrt(客户端个数) 缩小。"))


ALIE_CHOICES = ("FedAvg", "FedMedian", "FedTrimmedAvg")


def check_alie_prediction(answer: Any) -> Verdict:
    """``answer``: which rule does "A Little Is Enough" (colluders sending ``mean - z * std`` of their honest
    updates) slow down the most in notebook 06: "FedAvg", "FedMedian" or "FedTrimmedAvg"?"""
    if isinstance(answer, str):
        by_lower = {choice.lower(): choice for choice in ALIE_CHOICES}
        if answer.strip().lower() not in by_lower:
            return Verdict(False, localized(f"✗ Not yet: answer with one of {ALIE_CHOICES}, got {answer!r}.",
                                            f"✗ 还不对：请用 {ALIE_CHOICES} 之一作答，得到的是 {answer!r}。"))
        answer = by_lower[answer.strip().lower()]
    return check_value(answer, "FedMedian", localized(
        "The colluders all send the same value, a little below the mean, in every coordinate. The mean gives it the "
        "attackers' share of the weight; the median has no weights: with the attackers' copies on one side, it moves "
        "to the next honest value on that side, in nearly every coordinate at once, whenever an attacker is sampled. "
        "The rule that threw the sign flip away follows this attacker most.",
        "合谋者在每个坐标上都发送同一个值，比均值略低一点。均值只按攻击者所占的份额给它权重；中位数没有权重："
        "攻击者的副本都在同一侧，只要有攻击者被采样，中位数就会在几乎所有坐标上同时移到那一侧的下一个诚实值。"
        "当初甩掉了符号翻转的那条规则，被这个攻击者带偏得最多。"))
