"""Notebook 04's exercise checks: where FedProx's local training ends (the other checks: test_exercises.py)."""

import numpy as np
import pytest

from course_utils.exercises import check_fedprox_local_optimum
from course_utils.exercises.heterogeneity import _fedprox_local_optimum


def test_reference_on_a_hand_computed_case():
    # A = diag(1, 0.1), c = (2, -1), w_global = 0, mu = 1: (A + I) w = A c gives w = (2 / 2, -0.1 / 1.1)
    A, c = np.diag([1.0, 0.1]), np.array([2.0, -1.0])

    assert _fedprox_local_optimum(A, c, np.zeros(2), 1.0) == pytest.approx([1.0, -0.1 / 1.1])


def test_reference_without_the_term_is_the_client_optimum_and_a_large_mu_keeps_the_start():
    A, c, w_global = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([1.0, 3.0]), np.array([-1.0, 0.5])

    assert _fedprox_local_optimum(A, c, w_global, 0.0) == pytest.approx(c)
    assert _fedprox_local_optimum(A, c, w_global, 1e9) == pytest.approx(w_global, abs=1e-6)


def test_reference_makes_the_gradient_zero():
    rng = np.random.default_rng(3)
    B = rng.normal(size=(3, 3))
    A, c, w_global, mu = B @ B.T + np.eye(3), rng.normal(size=3), rng.normal(size=3), 0.7

    w = _fedprox_local_optimum(A, c, w_global, mu)

    assert A @ (w - c) + mu * (w - w_global) == pytest.approx(np.zeros(3), abs=1e-9)


@pytest.mark.parametrize(
    "right",
    [
        lambda A, c, w, mu: np.linalg.solve(A + mu * np.eye(len(c)), A @ c + mu * w),
        lambda A, c, w, mu: np.linalg.inv(A + mu * np.identity(c.size)) @ (A.dot(c) + mu * w),
        lambda A, c, w, mu: list(np.linalg.solve(mu * np.eye(len(c)) + A, mu * w + A @ c)),
    ],
)
def test_accepts_right_answers_written_several_ways(right):
    assert check_fedprox_local_optimum(right)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda A, c, w, mu: c, "the client's own optimum"),
        (lambda A, c, w, mu: w, "where local training starts"),
        (lambda A, c, w, mu: (A @ c + mu * w) / (1 + mu), "needs a matrix solve"),
        (lambda A, c, w, mu: np.linalg.solve(A + mu, A @ c + mu * w), "only on the diagonal"),
        (lambda A, c, w, mu: np.linalg.solve(A + mu * np.eye(len(c)), c + mu * w), "not c + mu * w_global"),
        (lambda A, c, w, mu: np.linalg.solve(A + mu * np.eye(len(c)), A @ c - mu * w), "check the sign"),
    ],
)
def test_rejects_typical_mistakes_with_their_hint(wrong, hint):
    verdict = check_fedprox_local_optimum(wrong)

    assert not verdict
    assert verdict.message.startswith("✗ Not yet") and hint in verdict.message


def test_a_wrong_answer_without_a_known_mistake_gets_no_hint():
    verdict = check_fedprox_local_optimum(lambda A, c, w, mu: c + 1.0)

    assert not verdict and "Hint" not in verdict.message


def test_says_not_answered_yet():
    def unanswered(A, c, w_global, mu):
        raise NotImplementedError

    assert check_fedprox_local_optimum(unanswered).message.startswith("Not answered yet")
