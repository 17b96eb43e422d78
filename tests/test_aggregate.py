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
