"""Exercise checks: federated analytics and secure aggregation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, localized

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
             localized("that is the mean of the clients' means, in which a client with 3 values counts as much as one "
                       "with 300. Add up all the sums and all the counts first, then divide once.",
                       "这是各客户端均值的均值，其中只有 3 个值的客户端和有 300 个值的客户端分量一样。应先把所有的和、"
                       "所有的计数分别加起来，再做一次除法。")),
            (lambda pairs: sum(s for s, _ in pairs) / len(pairs),
             localized("you divided the total by the number of clients; divide it by the total count.",
                       "你把总和除以了客户端个数；应除以总计数。")),
            (lambda pairs: sum(s for s, _ in pairs),
             localized("that is the total of the values; divide it by the total count.",
                       "这是所有值的总和；还要除以总计数。")),
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
             localized("reduce modulo 2**bits (for example `% 2**bits`): masked values must stay in [0, 2**bits), and "
                       "x_v - r must wrap around instead of going below 0.",
                       "要对 2**bits 取模（例如 `% 2**bits`）：加掩码后的值必须留在 [0, 2**bits) 之内，x_v - r "
                       "必须绕回取值范围的顶端，而不是变成负数。")),
            (lambda x_u, x_v, r, bits: ((x_u + r) & top(bits), (x_v + r) & top(bits)),
             localized("both clients added the mask, so in the sum it doubles instead of cancelling: v subtracts it.",
                       "两个客户端都加上了掩码，于是它在总和里翻倍，而不是抵消：v 应减去它。")),
            (lambda x_u, x_v, r, bits: ((x_u - r) & top(bits), (x_v + r) & top(bits)),
             localized("the signs are swapped. That cancels too, but the course's convention "
                       "(as in secagg.pairwise_mask) is that the client with the smaller index, u, adds r "
                       "and v subtracts it.",
                       "符号反了。这样也能抵消，但本课程的约定（与 secagg.pairwise_mask 一致）是：编号较小的客户端 u "
                       "加上 r，v 减去 r。")),
            (lambda x_u, x_v, r, bits: (x_u, x_v),
             localized("those are the unmasked inputs; add r to x_u and subtract it from x_v.",
                       "这是未加掩码的输入；应给 x_u 加上 r，从 x_v 中减去 r。")),
        ],
    )


def check_dropout_tolerance(answer: Any, num_clients: int, threshold: int) -> Verdict:
    """``answer = (shares, dropouts)``: the shares needed to rebuild one dropped client's secret key, and the
    most clients that may drop out (after the shares are handed out, before uploading their masked input) with
    the sum still recovered, in a run of ``num_clients`` with Shamir ``threshold``."""
    expected = (threshold, num_clients - threshold)
    explanation = localized(
        f"Any {threshold} shares (the threshold) rebuild a secret and fewer tell nothing about it. Each surviving "
        f"client holds one share of every other client's key, so the server needs {threshold} survivors: at most "
        f"{num_clients} - {threshold} = {num_clients - threshold} clients may drop out.",
        f"任意 {threshold} 份份额（即门限）就能重建一个秘密，更少的份额则透露不出关于它的任何信息。每个存活的客户端"
        f"持有其他每个客户端密钥的一份份额，所以服务器需要 {threshold} 个存活者：最多 {num_clients} - {threshold} = "
        f"{num_clients - threshold} 个客户端可以掉线。",
    )
    if isinstance(answer, (tuple, list)) and len(answer) == 2:
        if answer[1] == threshold and threshold != num_clients - threshold:
            explanation += localized(f" ({threshold} is how many must survive, not how many may drop out.)",
                                     f"（{threshold} 是必须存活的个数，不是可以掉线的个数。）")
        elif answer[0] == threshold - 1:
            explanation += localized(f" ({threshold - 1} = threshold - 1 is the most shares that reveal nothing.)",
                                     f"（{threshold - 1} = threshold - 1 是不泄露任何信息的最多份额数。）")
    return check_value(answer, expected, explanation)
