"""Exercise checks: heterogeneous data: how skewed a split is, and where FedProx's local training ends."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.exercises.core import Verdict, check_function, localized
from course_utils.exercises.local_data import _random_label_distribution


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
             localized("that is one share per client; return their mean, a single number.",
                       "这是每个客户端各自的占比；应返回它们的均值，即一个数。")),
            (lambda counts: counts.max(axis=1).mean(),
             localized("that is the mean count of the most common class; divide each client's count by its own number "
                       "of examples first.",
                       "这是最常见类别的样本数的均值；应先把每个客户端的这个数除以它自己的样本总数。")),
            (lambda counts: counts.max(axis=1).sum() / counts.sum(),
             localized("that weights clients by their size, so big clients count more; take each client's share first, "
                       "then the plain mean over clients.",
                       "这是按客户端的大小加权，大客户端的分量更重；应先求每个客户端的占比，"
                       "再对各客户端取简单平均。")),
            (lambda counts: (counts.max(axis=0) / counts.sum(axis=0)).mean(),
             localized("that works along the classes (axis=0); each client is a row, so take the max and the sum "
                       "along axis=1.",
                       "这是按类别（axis=0）计算的；每个客户端是一行，所以应沿 axis=1 取最大值和求和。")),
        ],
    )


def _fedprox_local_optimum(A: np.ndarray, c: np.ndarray, w_global: np.ndarray, mu: float) -> np.ndarray:
    """Reference: the minimum of ``1/2 (w - c)^T A (w - c) + mu/2 ||w - w_global||^2``.

    The gradient ``A (w - c) + mu (w - w_global)`` is zero where ``(A + mu I) w = A c + mu w_global``.
    """
    A = np.asarray(A, dtype=np.float64)
    return np.linalg.solve(A + mu * np.eye(len(c)),
                           A @ np.asarray(c, np.float64) + mu * np.asarray(w_global, np.float64))


def _random_quadratic_client(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A client's curvature A (symmetric positive definite, 2 to 4 dimensions, not diagonal), its
    optimum c, a global model w_global and a mu: the toy of notebook 04 with random numbers."""
    dim = int(rng.integers(2, 5))
    B = rng.normal(size=(dim, dim))
    A = B @ B.T + 0.2 * np.eye(dim)
    return A, rng.normal(size=dim) * 2, rng.normal(size=dim), float(rng.choice([0.1, 0.5, 2.0, 3.0]))


def check_fedprox_local_optimum(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]) -> Verdict:
    """``fn(A, c, w_global, mu)``: where FedProx's local training ends on the loss ``1/2 (w - c)^T A (w - c)``.

    That is the minimum of the loss plus the proximal term ``mu/2 ||w - w_global||^2``, an
    array of the shape of ``c``.
    """
    def solve(matrix, right):
        return np.linalg.solve(matrix, right)

    return check_function(
        fn,
        _fedprox_local_optimum,
        _random_quadratic_client,
        hints=[
            (lambda A, c, w, mu: c,
             localized("that is the client's own optimum, where plain local training (mu = 0) ends. With the proximal "
                       "term, set the whole gradient A (w - c) + mu (w - w_global) to zero and solve for w.",
                       "这是客户端自己的最优点，即普通本地训练（mu = 0）的终点。加上近端项后，应令整个梯度 "
                       "A (w - c) + mu (w - w_global) 为零，再解出 w。")),
            (lambda A, c, w, mu: w,
             localized("that is where local training starts; it moves away from w_global until the two pulls balance: "
                       "A (w - c) + mu (w - w_global) = 0.",
                       "这是本地训练的起点；训练会离开 w_global，直到两股拉力相互平衡："
                       "A (w - c) + mu (w - w_global) = 0。")),
            (lambda A, c, w, mu: (A @ c + mu * w) / (1 + mu),
             localized("you divided by a number; the equation (A + mu I) w = A c + mu w_global needs a matrix solve: "
                       "np.linalg.solve(A + mu * np.eye(len(c)), ...).",
                       "你除以的是一个数；方程 (A + mu I) w = A c + mu w_global 需要求解一个矩阵方程："
                       "np.linalg.solve(A + mu * np.eye(len(c)), ...)。")),
            (lambda A, c, w, mu: solve(A + mu, A @ c + mu * w),
             localized("A + mu adds mu to every entry of A; the term's gradient mu (w - w_global) adds mu only on the "
                       "diagonal: use A + mu * np.eye(len(c)).",
                       "A + mu 把 mu 加到了 A 的每个元素上；而近端项的梯度 mu (w - w_global) 只在对角线上加 mu："
                       "应使用 A + mu * np.eye(len(c))。")),
            (lambda A, c, w, mu: solve(A + mu * np.eye(len(c)), c + mu * w),
             localized("the loss's gradient is A (w - c), so the right-hand side is A @ c + mu * w_global, "
                       "not c + mu * w_global.",
                       "损失的梯度是 A (w - c)，所以右端是 A @ c + mu * w_global，而不是 c + mu * w_global。")),
            (lambda A, c, w, mu: solve(A + mu * np.eye(len(c)), A @ c - mu * w),
             localized("check the sign: the gradient of mu/2 ||w - w_global||^2 is + mu (w - w_global), "
                       "so mu * w_global moves to the right-hand side with a plus.",
                       "检查一下符号：mu/2 ||w - w_global||^2 的梯度是 + mu (w - w_global)，"
                       "所以 mu * w_global 移到右端时带正号。")),
        ],
    )
