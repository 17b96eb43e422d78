"""Exercise checks: heterogeneous data: skew and the proximal term."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value
from course_utils.exercises.local_data import _random_label_distribution
from course_utils.exercises.rounds import _random_client_results


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
