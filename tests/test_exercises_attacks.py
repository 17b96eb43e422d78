"""Tests of the exercise checks of the attacks notebook (course_utils.exercises.attacks)."""

import numpy as np
import pytest

from course_utils.attacks import invert_linear_layer
from course_utils.exercises import check_clipping_prediction, check_membership_guess, check_recover_input


def _unanswered(*args):
    raise NotImplementedError


def test_check_recover_input_accepts_the_least_squares_answer_and_the_package_function():
    assert check_recover_input(lambda w, b: b @ w / (b @ b))
    assert check_recover_input(invert_linear_layer)
    assert check_recover_input(lambda w, b: w[np.argmax(np.abs(b))] / b[np.argmax(np.abs(b))])  # one row is exact too


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda w, b: w[0], "divide by it"),
    (lambda w, b: w.sum(axis=0), "summing the rows"),
])
def test_check_recover_input_rejects_typical_mistakes_with_a_hint(wrong, hint):
    verdict = check_recover_input(wrong)
    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_recover_input_says_not_answered():
    assert check_recover_input(_unanswered).message.startswith("Not answered yet")


def test_check_membership_guess_accepts_a_below_threshold_test_and_rejects_the_reverse():
    assert check_membership_guess(lambda losses, t: np.asarray(losses) < t)
    assert check_membership_guess(lambda losses, t: np.array([loss < t for loss in losses]))
    wrong = check_membership_guess(lambda losses, t: np.asarray(losses) > t)
    assert not wrong and "LOW losses" in wrong.message
    at_threshold = check_membership_guess(lambda losses, t: np.asarray(losses) <= t)
    assert not at_threshold and "use <" in at_threshold.message


def test_check_clipping_prediction_wants_false_and_explains():
    assert check_clipping_prediction(False)
    wrong = check_clipping_prediction(True)
    assert not wrong and "cancels" in wrong.message
    assert check_clipping_prediction(None).message.startswith("Not answered yet")
