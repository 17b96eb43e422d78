"""Tests for course_utils.replicate: summaries over seeds, paired comparisons, the claim rule."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.replicate import Summary, assert_greater, assert_less, compare, default_min_wins, repeat


def test_repeat_runs_every_seed_and_summarizes_each_figure():
    calls = []

    def experiment(seed):
        calls.append(seed)
        return {"a": seed * 1.0, "b": 10.0 - seed}

    results = repeat(experiment, [1, 2, 3])
    assert calls == [1, 2, 3]
    assert results["a"].seeds == (1, 2, 3)
    np.testing.assert_array_equal(results["a"].values, [1.0, 2.0, 3.0])
    assert results["a"].mean == 2.0 and results["a"].std == 1.0
    assert results["a"].sem == pytest.approx(1 / np.sqrt(3))
    assert (results["b"].min, results["b"].max) == (7.0, 9.0)


def test_summary_formats_mean_and_spread():
    s = Summary(np.array([0.92, 0.93, 0.94]), (0, 1, 2))
    assert str(s) == "0.930 +/- 0.010 over 3 seeds"
    assert s.format(2) == "0.93 +/- 0.01 over 3 seeds"
    assert Summary(np.array([0.5]), (0,)).std == 0.0


@pytest.mark.parametrize("seeds, message", [([], "at least one"), ([1, 1], "distinct"), ([-1], ">= 0"),
                                            ([1.5], "integers"), ([True], "integers")])
def test_repeat_refuses_bad_seeds(seeds, message):
    with pytest.raises(ValueError, match=message):
        repeat(lambda seed: {"x": 1.0}, seeds)


def test_repeat_refuses_runs_that_measure_different_figures():
    with pytest.raises(ValueError, match="same figures"):
        repeat(lambda seed: {"x": 1.0} if seed == 0 else {"y": 1.0}, [0, 1])


def test_summary_refuses_nan_and_wrong_shapes():
    with pytest.raises(ValueError, match="finite"):
        Summary(np.array([0.1, np.nan]), (0, 1))
    with pytest.raises(ValueError, match="one number per seed"):
        Summary(np.array([0.1, 0.2, 0.3]), (0, 1))


def _summary(values):
    return Summary(np.array(values, dtype=float), tuple(range(len(values))))


def test_compare_is_paired_by_seed():
    c = compare(_summary([0.9, 0.8, 0.7]), _summary([0.85, 0.85, 0.6]))
    np.testing.assert_allclose(c.differences, [0.05, -0.05, 0.1])
    assert c.wins == 2 and c.n == 3
    assert c.mean == pytest.approx(0.1 / 3)
    assert "ahead in 2 of 3 seeds" in str(c)


def test_compare_against_a_number_and_refuses_unpaired_seeds():
    assert compare(_summary([1.0, 2.0]), 1.5).wins == 1
    with pytest.raises(ValueError, match="same seeds"):
        compare(_summary([1.0, 2.0]), Summary(np.array([1.0, 2.0]), (5, 6)))
    with pytest.raises(TypeError, match="Summary or a finite number"):
        compare(_summary([1.0]), float("nan"))


def test_default_rule_is_all_but_one_of_five_or_more():
    assert [default_min_wins(n) for n in (1, 3, 4, 5, 10)] == [1, 3, 4, 4, 9]


def test_assert_greater_holds_for_mean_and_enough_seeds():
    a, b = _summary([0.9, 0.9, 0.9, 0.9, 0.8]), _summary([0.8, 0.8, 0.8, 0.8, 0.85])
    assert assert_greater(a, b, "a beats b").wins == 4


def test_assert_greater_fails_when_too_few_seeds_agree():
    a, b = _summary([0.9, 0.9, 0.9, 0.8, 0.8]), _summary([0.8, 0.8, 0.8, 0.85, 0.85])
    with pytest.raises(AssertionError, match=r"a beats b: does not hold.*3 of 5"):
        assert_greater(a, b, "a beats b")


def test_assert_greater_fails_when_the_mean_disagrees_even_if_most_seeds_win():
    a, b = _summary([0.51, 0.51, 0.51, 0.51, 0.0]), _summary([0.5, 0.5, 0.5, 0.5, 0.9])
    with pytest.raises(AssertionError, match="does not hold"):
        assert_greater(a, b, "a beats b")


def test_negative_margin_means_not_much_worse():
    fedavg, central = _summary([0.93, 0.94, 0.92, 0.95, 0.93]), _summary([0.96, 0.96, 0.97, 0.96, 0.96])
    assert_greater(fedavg, central, "within 5 points", margin=-0.05)
    with pytest.raises(AssertionError, match="within 1 point"):
        assert_greater(fedavg, central, "within 1 point", margin=-0.01)


def test_assert_less_and_its_message_shows_the_original_values():
    low, high = _summary([0.1, 0.2, 0.1]), _summary([0.5, 0.6, 0.7])
    assert assert_less(low, high, "low below high").wins == 3
    with pytest.raises(AssertionError, match=r"a = \[0\.500, 0\.600, 0\.700\]"):
        assert_less(high, low, "high below low")


@pytest.mark.parametrize("min_wins", [0, 6, 2.5, True])
def test_min_wins_outside_the_seeds_is_refused(min_wins):
    with pytest.raises(ValueError, match="min_wins"):
        assert_greater(_summary([1.0] * 5), 0.0, "x", min_wins=min_wins)
