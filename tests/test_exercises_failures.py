"""The failures notebook's prediction check: right answers pass in the ways a learner writes them,
wrong ones explain."""

import pytest

from course_utils.exercises import check_coverage_prediction
from course_utils.population import rounds_until_all_seen


@pytest.mark.parametrize("answer", ["more", "More", " more "])
def test_the_right_prediction_passes(answer):
    assert check_coverage_prediction(answer)


def test_the_right_prediction_is_what_the_population_shows():
    small = sum(rounds_until_all_seen(1000, 10, seed=s) for s in range(5))
    large = sum(rounds_until_all_seen(10_000, 100, seed=s) for s in range(5))
    assert large > small


@pytest.mark.parametrize("answer", ["fewer", "about the same"])
def test_a_wrong_prediction_says_why(answer):
    verdict = check_coverage_prediction(answer)
    assert not verdict and "coupon collector" in repr(verdict)


def test_an_answer_outside_the_choices_is_named():
    verdict = check_coverage_prediction("less")
    assert not verdict and "'fewer', 'about the same', 'more'" in repr(verdict)


@pytest.mark.parametrize("answer", [None, ...])
def test_no_answer_yet(answer):
    assert "Not answered yet" in repr(check_coverage_prediction(answer))
