"""check_prediction: a prediction is compared with what the experiment measured, and the experiment
runs only once a prediction is given."""

import pytest

from course_utils.exercises.core import check_prediction

CHOICES = ("higher", "lower", "about the same")


def test_a_right_prediction_passes_and_shows_the_measurement():
    verdict = check_prediction(" Lower ", CHOICES, lambda: ("lower", "0.71 against 0.96."))
    assert verdict and "0.71 against 0.96" in repr(verdict)


def test_a_wrong_prediction_fails_and_shows_the_measurement():
    verdict = check_prediction("higher", CHOICES, lambda: ("about the same", "0.95 against 0.96."))
    assert not verdict
    assert "'higher'" in repr(verdict) and "'about the same'" in repr(verdict) and "0.95 against 0.96" in repr(verdict)


@pytest.mark.parametrize("answer", [None, ...])
def test_no_prediction_yet_runs_nothing(answer):
    ran = []
    verdict = check_prediction(answer, CHOICES, lambda: ran.append(1) or ("lower", ""))
    assert not verdict and "Not answered yet" in repr(verdict) and not ran


@pytest.mark.parametrize("answer", ["faster", 1, True, 0.5])
def test_an_answer_outside_the_choices_is_refused_before_running(answer):
    ran = []
    verdict = check_prediction(answer, CHOICES, lambda: ran.append(1) or ("lower", ""))
    assert not verdict and "one of" in repr(verdict) and not ran


def test_an_outcome_outside_the_choices_is_a_bug_in_the_notebook():
    with pytest.raises(ValueError, match="measure"):
        check_prediction("lower", CHOICES, lambda: ("slower", ""))


def test_measure_must_be_callable():
    with pytest.raises(TypeError, match="measure"):
        check_prediction("lower", CHOICES, "lower")
