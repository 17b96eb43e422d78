"""Exercise checks: heterogeneous data: how skewed a split is, and where FedProx's local training ends."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.exercises.core import Verdict, check_function
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


def _fedprox_local_optimum(A: np.ndarray, c: np.ndarray, w_global: np.ndarray, mu: float) -> np.ndarray:
    """Reference: the minimum of ``1/2 (w - c)^T A (w - c) + mu/2 ||w - w_global||^2``.

    The gradient ``A (w - c) + mu (w - w_global)`` is zero where ``(A + mu I) w = A c + mu w_global``.
    """
    A = np.asarray(A, dtype=np.float64)
    return np.linalg.solve(A + mu * np.eye(len(c)), A @ np.asarray(c, np.float64) + mu * np.asarray(w_global, np.float64))


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
             "that is the client's own optimum, where plain local training (mu = 0) ends. With the proximal term, "
             "set the whole gradient A (w - c) + mu (w - w_global) to zero and solve for w."),
            (lambda A, c, w, mu: w,
             "that is where local training starts; it moves away from w_global until the two pulls balance: "
             "A (w - c) + mu (w - w_global) = 0."),
            (lambda A, c, w, mu: (A @ c + mu * w) / (1 + mu),
             "you divided by a number; the equation (A + mu I) w = A c + mu w_global needs a matrix solve: "
             "np.linalg.solve(A + mu * np.eye(len(c)), ...)."),
            (lambda A, c, w, mu: solve(A + mu, A @ c + mu * w),
             "A + mu adds mu to every entry of A; the term's gradient mu (w - w_global) adds mu only on the "
             "diagonal: use A + mu * np.eye(len(c))."),
            (lambda A, c, w, mu: solve(A + mu * np.eye(len(c)), c + mu * w),
             "the loss's gradient is A (w - c), so the right-hand side is A @ c + mu * w_global, not c + mu * w_global."),
            (lambda A, c, w, mu: solve(A + mu * np.eye(len(c)), A @ c - mu * w),
             "check the sign: the gradient of mu/2 ||w - w_global||^2 is + mu (w - w_global), so mu * w_global "
             "moves to the right-hand side with a plus."),
        ],
    )
