"""The aggregation notebook's prediction check: right answers pass, wrong ones explain, and the answer
is what the code does."""

import numpy as np
import pytest

from course_utils.compression import dequantize, quantize
from course_utils.exercises import check_rounding_prediction
from course_utils.exercises.aggregation import check_alie_prediction


@pytest.mark.parametrize("answer", ["stochastic", "Stochastic ", "STOCHASTIC"])
def test_the_right_prediction_passes(answer):
    assert check_rounding_prediction(answer)


def test_the_right_prediction_is_what_quantize_does():
    update = [np.random.default_rng(0).normal(size=500)]

    def error(received):
        return float(np.linalg.norm(received - update[0]) / np.linalg.norm(update[0]))

    nearest = np.mean([dequantize(quantize(update, 2)[0], np.float64)[0] for _ in range(100)], axis=0)
    stochastic = np.mean([dequantize(quantize(update, 2, "stochastic", s)[0], np.float64)[0] for s in range(100)],
                         axis=0)
    assert error(stochastic) < error(nearest) / 2


@pytest.mark.parametrize("answer", ["nearest", "the same"])
def test_a_wrong_prediction_says_why(answer):
    verdict = check_rounding_prediction(answer)
    assert not verdict and "unbiased" in repr(verdict)


def test_an_answer_outside_the_choices_is_named():
    assert "'nearest', 'stochastic', 'the same'" in repr(check_rounding_prediction("random"))


def test_no_answer_yet():
    assert "Not answered yet" in repr(check_rounding_prediction(None))


@pytest.mark.parametrize("answer", ["FedMedian", "fedmedian", " FEDMEDIAN "])
def test_the_right_alie_prediction_passes(answer):
    assert check_alie_prediction(answer)


@pytest.mark.parametrize("answer", ["FedAvg", "FedTrimmedAvg"])
def test_a_wrong_alie_prediction_says_why(answer):
    verdict = check_alie_prediction(answer)
    assert not verdict and "next honest value" in repr(verdict)


def test_an_alie_answer_outside_the_choices_is_named():
    assert "'FedAvg', 'FedMedian', 'FedTrimmedAvg'" in repr(check_alie_prediction("Krum"))
    assert "Not answered yet" in repr(check_alie_prediction(...))
