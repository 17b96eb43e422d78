"""The hospitals notebook's predict-then-run check: more or less record-level epsilon for a larger hospital?"""

import pytest

from course_utils.dp_sgd import record_epsilon, sample_rate
from course_utils.exercises.hospitals import check_record_epsilon_prediction

SETTING = {"noise_multiplier": 4.0, "num_patients": 22, "batch_size": 16, "epochs": 10, "delta": 1e-5}


def test_the_larger_hospital_spends_less_and_the_check_says_so():
    small = record_epsilon(4.0, sample_rate(22, 16), 10 * 2, 1e-5)
    large = record_epsilon(4.0, sample_rate(88, 16), 10 * 6, 1e-5)
    assert large < small  # the reference answer, computed independently of the check
    assert check_record_epsilon_prediction("less", **SETTING)
    assert check_record_epsilon_prediction(" Less ", **SETTING)


def test_the_wrong_prediction_fails_and_shows_both_epsilons():
    verdict = check_record_epsilon_prediction("more", **SETTING)
    assert not verdict
    assert "22 patients" in repr(verdict) and "88 patients" in repr(verdict) and "sampling" in repr(verdict)


@pytest.mark.parametrize("answer", [None, ...])
def test_no_answer_yet(answer):
    verdict = check_record_epsilon_prediction(answer, **SETTING)
    assert not verdict and "Not answered yet" in repr(verdict)


@pytest.mark.parametrize("answer", [3, "smaller", True])
def test_an_answer_that_is_not_more_or_less_is_named(answer):
    verdict = check_record_epsilon_prediction(answer, **SETTING)
    assert not verdict and "('more', 'less')" in repr(verdict)
