"""The privacy notebook's prediction check runs adaptive clipping and judges the answer by what it did."""

import pytest

from course_utils.exercises import check_adaptive_bound_prediction
from course_utils.exercises.privacy import _dp_adaptive_bound


def test_a_higher_target_quantile_settles_at_a_higher_bound_near_that_quantile():
    median, high, low = (_dp_adaptive_bound(q, seed=0) for q in (0.5, 0.9, 0.2))

    assert low < median < high
    assert abs(median - 1.0) < 0.1  # the synthetic norms' median is 1
    assert abs(high / 1.469 - 1) < 0.1  # their 90% quantile, exp(0.3 * 1.2816)


@pytest.mark.parametrize(("target", "right", "wrong"), [(0.9, "higher", "lower"), (0.2, "lower", "higher")])
def test_the_check_accepts_the_right_prediction_written_several_ways_and_explains_a_wrong_one(target, right, wrong):
    for answer in (right, right.upper(), f" {right} "):
        assert check_adaptive_bound_prediction(answer, target_quantile=target).correct
    verdict = check_adaptive_bound_prediction(wrong, target_quantile=target)
    assert not verdict.correct and "quantile" in verdict.message


def test_the_check_says_not_answered_and_asks_for_the_words_it_understands():
    assert "Not answered" in check_adaptive_bound_prediction(None).message
    assert "'higher' or 'lower'" in check_adaptive_bound_prediction("up").message
    assert "'higher' or 'lower'" in check_adaptive_bound_prediction(1).message


@pytest.mark.parametrize("target", [0.5, 0.0, 1.0, "0.9"])
def test_the_check_refuses_a_target_that_asks_nothing(target):
    with pytest.raises(ValueError, match="target_quantile"):
        check_adaptive_bound_prediction("higher", target_quantile=target)
