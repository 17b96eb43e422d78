import numpy as np
import pytest

from course_utils.aggregate import check_results, fedavg, weighted_mean, weighted_metrics


def test_fedavg_of_two_clients_by_hand():
    # Values chosen so that (10 * a + 100 * b) / 110 is exact in floating point: 10, 1, 28, 1.
    a = np.array([0.0, 11.0, -22.0, 1.0])
    b = np.array([11.0, 0.0, 33.0, 1.0])

    (averaged,) = fedavg([([a], 10), ([b], 100)])

    assert np.array_equal(averaged, (10 * a + 100 * b) / 110)
    assert np.array_equal(averaged, [10.0, 1.0, 28.0, 1.0])


def test_fedavg_of_two_clients_matches_weighted_formula_on_random_values():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 5))

    (averaged,) = fedavg([([a], 10), ([b], 100)])

    np.testing.assert_allclose(averaged, (10 * a + 100 * b) / 110, rtol=1e-14, atol=0)


def test_fedavg_with_equal_weights_is_the_plain_mean():
    a = [np.array([1.0, 2.0]), np.array([[4.0]])]
    b = [np.array([3.0, 6.0]), np.array([[0.0]])]

    averaged = fedavg([(a, 5), (b, 5)])

    assert np.array_equal(averaged[0], [2.0, 4.0])
    assert np.array_equal(averaged[1], [[2.0]])


def test_fedavg_of_a_single_client_returns_its_parameters():
    parameters = [np.array([0.25, -1.5], dtype=np.float32)]

    (averaged,) = fedavg([(parameters, 7)])

    assert np.array_equal(averaged, parameters[0])


def test_fedavg_preserves_shapes_and_dtypes():
    a = [np.zeros((2, 3), dtype=np.float32), np.zeros(4, dtype=np.float64), np.zeros((), dtype=np.int64)]
    b = [np.ones((2, 3), dtype=np.float32), np.ones(4, dtype=np.float64), np.ones((), dtype=np.int64)]

    averaged = fedavg([(a, 1), (b, 3)])

    assert [p.shape for p in averaged] == [(2, 3), (4,), ()]
    assert [p.dtype for p in averaged] == [np.float32, np.float64, np.int64]
    assert np.array_equal(averaged[0], np.full((2, 3), 0.75, dtype=np.float32))


def test_fedavg_rounds_integer_arrays():
    # Weighted means 7.75 and 2.25 round to 8 and 2 (not truncated to 7 and 2).
    a = [np.array([10, 0], dtype=np.int64)]
    b = [np.array([7, 3], dtype=np.int64)]

    (averaged,) = fedavg([(a, 1), (b, 3)])

    assert averaged.dtype == np.int64
    assert averaged.tolist() == [8, 2]


def test_fedavg_does_not_mutate_its_inputs():
    a = [np.array([1.0, 2.0]), np.array([3.0], dtype=np.float32)]
    b = [np.array([5.0, 6.0]), np.array([7.0], dtype=np.float32)]
    a_before, b_before = [p.copy() for p in a], [p.copy() for p in b]

    averaged = fedavg([(a, 1), (b, 1)])
    averaged[0][:] = 99.0

    for before, after in zip(a_before + b_before, a + b):
        assert np.array_equal(before, after)


def test_fedavg_accepts_numpy_integer_num_examples():
    (averaged,) = fedavg([([np.array([0.0])], np.int64(1)), ([np.array([4.0])], np.int32(3))])

    assert averaged.tolist() == [3.0]


def test_weighted_mean_by_hand():
    assert weighted_mean([1.0, 0.0], [3, 1]) == 0.75
    assert weighted_mean([0.5, 1.0, 0.0], [10, 30, 0]) == 0.875


def test_weighted_metrics_by_hand():
    metrics = [(10, {"accuracy": 0.5, "loss": 2.0}), (30, {"accuracy": 1.0})]

    assert weighted_metrics(metrics) == {"accuracy": 0.875, "loss": 2.0}


def test_weighted_metrics_of_no_clients_is_empty():
    assert weighted_metrics([]) == {}


# --- bad input -------------------------------------------------------------------------------


def good_parameters():
    return [np.zeros((2, 2)), np.zeros(3)]


def test_fedavg_rejects_empty_results():
    with pytest.raises(ValueError, match="results"):
        fedavg([])


@pytest.mark.parametrize("num_examples", [0, -3, True, 2.0])
def test_fedavg_rejects_num_examples_that_is_not_a_positive_integer(num_examples):
    with pytest.raises(ValueError, match="num_examples"):
        fedavg([(good_parameters(), 5), (good_parameters(), num_examples)])


def test_fedavg_rejects_parameter_lists_of_different_lengths():
    with pytest.raises(ValueError, match=r"results\[1\]: parameters"):
        fedavg([(good_parameters(), 5), (good_parameters()[:1], 5)])


def test_fedavg_rejects_parameters_of_different_shapes():
    other = [np.zeros((2, 2)), np.zeros(4)]

    with pytest.raises(ValueError, match=r"results\[1\]: parameters\[1\].*shape"):
        fedavg([(good_parameters(), 5), (other, 5)])


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_fedavg_rejects_nan_or_infinite_parameters(bad_value):
    broken = good_parameters()
    broken[1][2] = bad_value

    with pytest.raises(ValueError, match=r"results\[1\]: parameters\[1\].*NaN or infinite"):
        fedavg([(good_parameters(), 5), (broken, 5)])


def test_check_results_accepts_good_results():
    check_results([(good_parameters(), 1), (good_parameters(), 2)])


@pytest.mark.parametrize(("values", "weights"), [([], []), ([1.0], [1, 2])])
def test_weighted_mean_rejects_empty_or_mismatched_lists(values, weights):
    with pytest.raises(ValueError, match="values and weights"):
        weighted_mean(values, weights)


@pytest.mark.parametrize("weights", [[0, 0], [-1, 2]])
def test_weighted_mean_rejects_negative_or_zero_total_weights(weights):
    with pytest.raises(ValueError, match="weights"):
        weighted_mean([1.0, 2.0], weights)


# --- robust aggregation: median and trimmed mean ---------------------------------------------

from course_utils.aggregate import median, trimmed_mean  # noqa: E402


def clients(*rows, num_examples=None):
    """One single-array result per row; ``num_examples`` defaults to 1 for every client."""
    counts = num_examples or [1] * len(rows)
    return [([np.array(row, dtype=np.float64)], n) for row, n in zip(rows, counts)]


def test_median_of_three_clients_by_hand():
    (result,) = median(clients([1.0, 9.0, -2.0], [3.0, 0.0, -1.0], [2.0, 5.0, 7.0]))

    assert result.tolist() == [2.0, 5.0, -1.0]


def test_median_of_four_clients_is_the_mean_of_the_two_middle_values():
    (result,) = median(clients([1.0, 0.0], [2.0, 10.0], [4.0, 20.0], [100.0, 30.0]))

    assert result.tolist() == [3.0, 15.0]


def test_median_ignores_num_examples():
    results = clients([0.0], [1.0], [2.0], num_examples=[1, 1, 1000])

    assert median(results)[0].tolist() == [1.0]
    assert fedavg(results)[0][0] > 1.99  # the heavy client dominates the weighted mean


def test_trimmed_mean_of_five_clients_by_hand():
    # trim_fraction 0.2 of 5 clients cuts 1 value at each end of every coordinate.
    results = clients([1.0, 50.0], [2.0, 10.0], [3.0, 20.0], [4.0, 30.0], [100.0, 40.0])

    (result,) = trimmed_mean(results, trim_fraction=0.2)

    assert result.tolist() == [3.0, 30.0]  # mean(2, 3, 4) and mean(20, 30, 40)


@pytest.mark.parametrize(("trim_fraction", "expected"), [(0.0, 4.0), (0.2, 4.0), (0.25, 2.5), (0.3, 2.5)])
def test_trimmed_mean_cuts_floor_of_fraction_times_clients(trim_fraction, expected):
    # 4 clients: 0.0 and 0.2 cut nothing (mean 4); 0.25 and 0.3 cut one at each end (mean of 2 and 3).
    results = clients([1.0], [2.0], [3.0], [10.0])

    assert trimmed_mean(results, trim_fraction)[0].tolist() == [expected]


def test_trimmed_mean_with_zero_fraction_is_the_plain_mean():
    results = clients([0.0, 1.0], [3.0, 4.0], [6.0, 10.0], num_examples=[5, 1, 1])

    assert trimmed_mean(results, 0.0)[0].tolist() == [3.0, 5.0]  # unweighted, unlike fedavg


def test_trimmed_mean_just_below_half_keeps_the_middle_values():
    just_below_half = float(np.nextafter(0.5, 0.0))

    assert trimmed_mean(clients([1.0], [2.0], [9.0]), just_below_half)[0].tolist() == [2.0]
    assert trimmed_mean(clients([1.0], [2.0], [4.0], [9.0]), just_below_half)[0].tolist() == [3.0]


@pytest.mark.parametrize("aggregate", [median, lambda results: trimmed_mean(results, 0.25)])
def test_a_poisoned_client_does_not_move_robust_aggregates_beyond_the_honest_range(aggregate):
    honest = clients([1.0, -1.0], [2.0, 0.0], [3.0, 1.0])
    poisoned = honest + clients([1e9, -1e9])

    (robust,) = aggregate(poisoned)
    (dragged,) = fedavg(poisoned)

    assert np.all(robust >= [1.0, -1.0]) and np.all(robust <= [3.0, 1.0])
    assert dragged[0] > 1e8 and dragged[1] < -1e8


def test_median_and_trimmed_mean_keep_shapes_and_dtypes():
    a = [np.zeros((2, 3), dtype=np.float32), np.zeros(4, dtype=np.float64), np.zeros((), dtype=np.int64)]
    b = [np.ones((2, 3), dtype=np.float32), np.ones(4, dtype=np.float64), np.ones((), dtype=np.int64)]
    c = [np.full((2, 3), 5, dtype=np.float32), np.full(4, 5.0), np.full((), 5, dtype=np.int64)]

    for result in (median([(a, 1), (b, 1), (c, 1)]), trimmed_mean([(a, 1), (b, 1), (c, 1)], 0.0)):
        assert [p.shape for p in result] == [(2, 3), (4,), ()]
        assert [p.dtype for p in result] == [np.float32, np.float64, np.int64]


def test_median_and_trimmed_mean_round_integer_arrays_like_fedavg():
    # The median of 1 and 2 is 1.5, the mean of 10, 11, 11 is 10.67: rounded to 2 and 11, not truncated.
    pair = [([np.array([1, -3], dtype=np.int64)], 1), ([np.array([2, -4], dtype=np.int64)], 1)]
    triple = [([np.array([v], dtype=np.int64)], 1) for v in (10, 11, 11)]

    assert median(pair)[0].tolist() == fedavg(pair)[0].tolist() == [2, -4]
    assert trimmed_mean(triple, 0.0)[0].tolist() == fedavg(triple)[0].tolist() == [11]


def test_median_and_trimmed_mean_do_not_mutate_their_inputs():
    results = clients([3.0, 1.0], [1.0, 2.0], [2.0, 3.0])
    before = [p[0].copy() for p, _ in results]

    median(results)
    trimmed_mean(results, 0.34)

    for (parameters, _), original in zip(results, before):
        assert np.array_equal(parameters[0], original)


@pytest.mark.parametrize("trim_fraction", [0.5, 0.6, 1.0, -0.1, float("nan")])
def test_trimmed_mean_rejects_trim_fraction_outside_zero_to_half(trim_fraction):
    with pytest.raises(ValueError, match="trim_fraction"):
        trimmed_mean(clients([1.0], [2.0], [3.0]), trim_fraction)


def test_trimmed_mean_rejects_a_trim_fraction_that_would_leave_nothing():
    # Half of 2 clients at each end trims both: there is nothing left to average.
    with pytest.raises(ValueError, match="trim_fraction"):
        trimmed_mean(clients([1.0], [2.0]), 0.5)


@pytest.mark.parametrize("aggregate", [median, lambda results: trimmed_mean(results, 0.2)])
def test_median_and_trimmed_mean_check_their_results(aggregate):
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
    with pytest.raises(ValueError, match="NaN"):
        aggregate(clients([1.0], [np.nan]))


# --- check_update and bad input ----------------------------------------------------------------

from course_utils.aggregate import check_update  # noqa: E402


@pytest.mark.parametrize(
    ("parameters", "num_examples", "message"),
    [
        ([np.zeros(2)], 5, "must hold 2 arrays"),
        ([np.zeros(2), np.zeros(4)], 5, r"parameters\[1\] must have shape \(3,\)"),
        ([np.zeros(2), np.array([0.0, np.inf, 0.0])], 5, "NaN or infinite"),
        ([np.zeros(2), np.array(["a", "b", "c"])], 5, "must hold numbers"),
        ([np.zeros(2), np.zeros(3)], 0, "num_examples must be a positive integer"),
        ([np.zeros(2), np.zeros(3)], 2.0, "num_examples must be a positive integer"),
        ([np.zeros(2), np.zeros(3)], True, "num_examples must be a positive integer"),
        (np.zeros(5), 5, "must be a list of arrays"),
    ],
)
def test_check_update_names_what_is_wrong_with_one_clients_update(parameters, num_examples, message):
    with pytest.raises(ValueError, match=f"client 7's update: .*{message}"):
        check_update(parameters, num_examples, [np.zeros(2), np.zeros(3)], name="client 7's update")


def test_check_update_accepts_a_good_update():
    check_update([np.ones(2, dtype=np.float32), np.ones(3)], np.int64(4), [np.zeros(2), np.zeros(3)])


@pytest.mark.parametrize(
    ("values", "weights", "argument"),
    [([1.0, float("nan")], [1, 1], "values"), ([1.0, 2.0], [1, float("inf")], "weights"),
     ([True, 2.0], [1, 1], "values"), ([1.0, 2.0], [1, "2"], "weights")],
)
def test_weighted_mean_refuses_nan_infinite_or_non_numbers(values, weights, argument):
    with pytest.raises((TypeError, ValueError), match=argument):
        weighted_mean(values, weights)


@pytest.mark.parametrize("metrics", [[{"accuracy": 1.0}], [(1, 0.5)]])
def test_weighted_metrics_refuses_items_that_are_not_pairs(metrics):
    with pytest.raises(TypeError, match=r"metrics\[0\]"):
        weighted_metrics(metrics)


@pytest.mark.parametrize("trim_fraction", [True, "0.1", None])
def test_trimmed_mean_refuses_a_trim_fraction_that_is_not_a_number(trim_fraction):
    with pytest.raises(TypeError, match="trim_fraction"):
        trimmed_mean([([np.zeros(1)], 1)], trim_fraction)
