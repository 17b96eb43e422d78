import numpy as np
import pytest

from course_utils.strategy import FedAvg, RoundFailedError


def rng(seed=0):
    return np.random.default_rng(seed)


def fit_result(cid, value, num_examples, train_loss=1.0):
    return (cid, [np.full(2, value)], num_examples, {"train_loss": train_loss})


@pytest.mark.parametrize(
    ("fraction_fit", "min_fit_clients", "num_clients", "expected"),
    [
        (1.0, 2, 10, 10),
        (0.5, 2, 10, 5),
        (0.1, 2, 10, 2),  # int(0.1 * 10) = 1 is raised to the minimum
        (0.1, 1, 10, 1),
        (0.01, 2, 1000, 10),
        (0.3, 8, 5, 5),  # the minimum is capped by the population
    ],
)
def test_configure_fit_samples_fraction_but_at_least_minimum(fraction_fit, min_fit_clients, num_clients, expected):
    strategy = FedAvg(fraction_fit=fraction_fit, min_fit_clients=min_fit_clients, min_available_clients=1)

    cids, _ = strategy.configure_fit(1, num_clients, rng())

    assert len(cids) == expected


def test_configure_fit_gives_sorted_distinct_valid_cids():
    strategy = FedAvg(fraction_fit=0.3)

    for server_round in range(1, 6):
        cids, _ = strategy.configure_fit(server_round, 50, rng(server_round))
        assert cids == sorted(set(cids))
        assert all(isinstance(cid, int) and 0 <= cid < 50 for cid in cids)


def test_same_rng_seed_gives_same_sample():
    strategy = FedAvg(fraction_fit=0.2)

    first, _ = strategy.configure_fit(1, 100, rng(42))
    second, _ = strategy.configure_fit(1, 100, rng(42))

    assert first == second


def test_different_rng_seed_gives_different_sample():
    strategy = FedAvg(fraction_fit=0.2)

    first, _ = strategy.configure_fit(1, 100, rng(0))
    second, _ = strategy.configure_fit(1, 100, rng(1))

    assert first != second


def test_configure_fit_adds_server_round_to_config():
    _, config = FedAvg().configure_fit(4, 10, rng())

    assert config == {"server_round": 4}


def test_configure_fit_uses_on_fit_config_fn():
    strategy = FedAvg(on_fit_config_fn=lambda server_round: {"local_epochs": server_round * 2, "batch_size": 8})

    _, config = strategy.configure_fit(3, 10, rng())

    assert config == {"local_epochs": 6, "batch_size": 8, "server_round": 3}


def test_configure_fit_does_not_mutate_the_dict_from_on_fit_config_fn():
    shared = {"local_epochs": 1}
    strategy = FedAvg(on_fit_config_fn=lambda server_round: shared)

    strategy.configure_fit(3, 10, rng())

    assert shared == {"local_epochs": 1}


def test_configure_evaluate_samples_and_uses_on_evaluate_config_fn():
    strategy = FedAvg(fraction_evaluate=0.5, on_evaluate_config_fn=lambda server_round: {"batch_size": 4})

    cids, config = strategy.configure_evaluate(2, 10, rng())

    assert len(cids) == 5
    assert cids == sorted(set(cids))
    assert config == {"batch_size": 4, "server_round": 2}


def test_fraction_evaluate_zero_gives_no_evaluation_clients():
    cids, config = FedAvg(fraction_evaluate=0.0).configure_evaluate(1, 10, rng())

    assert cids == []
    assert config == {}


def test_aggregate_fit_averages_by_num_examples_and_weights_metrics():
    results = [fit_result(0, 0.0, 10, train_loss=2.0), fit_result(1, 11.0, 100, train_loss=0.9)]

    parameters, metrics = FedAvg().aggregate_fit(1, results, [])

    assert np.array_equal(parameters[0], [10.0, 10.0])
    assert metrics == {"train_loss": pytest.approx((10 * 2.0 + 100 * 0.9) / 110)}


def test_aggregate_evaluate_weights_loss_and_metrics_by_num_examples():
    results = [(0, 1.0, 30, {"accuracy": 0.5}), (1, 3.0, 10, {"accuracy": 1.0})]

    loss, metrics = FedAvg().aggregate_evaluate(1, results, [])

    assert loss == 1.5
    assert metrics == {"accuracy": 0.625}


def test_aggregate_fit_goes_on_with_the_successes_when_failures_are_accepted():
    results = [fit_result(0, 1.0, 5), fit_result(2, 3.0, 5)]
    failures = [(1, RuntimeError("out of battery"))]

    parameters, _ = FedAvg(accept_failures=True).aggregate_fit(1, results, failures)

    assert np.array_equal(parameters[0], [2.0, 2.0])


def test_accept_failures_false_raises_naming_the_failed_client():
    results = [fit_result(0, 1.0, 5), fit_result(2, 3.0, 5)]
    failures = [(7, RuntimeError("out of battery"))]

    with pytest.raises(RoundFailedError, match="client 7: RuntimeError: out of battery"):
        FedAvg(accept_failures=False).aggregate_fit(3, results, failures)


def test_accept_failures_false_raises_on_evaluate_failures_too():
    with pytest.raises(RoundFailedError, match="client 4"):
        FedAvg(accept_failures=False).aggregate_evaluate(1, [(0, 1.0, 5, {})], [(4, ValueError("no data"))])


def test_too_few_successes_raises_even_when_failures_are_accepted():
    results = [fit_result(0, 1.0, 5)]
    failures = [(1, RuntimeError("a")), (2, RuntimeError("b"))]

    with pytest.raises(RoundFailedError, match="only 1 client"):
        FedAvg(min_fit_clients=2, accept_failures=True).aggregate_fit(1, results, failures)


def test_too_few_evaluate_successes_raises():
    with pytest.raises(RoundFailedError, match="evaluate"):
        FedAvg(min_evaluate_clients=2).aggregate_evaluate(1, [(0, 1.0, 5, {})], [(1, RuntimeError("x"))])


def test_evaluate_without_evaluate_fn_is_none():
    assert FedAvg().evaluate(0, [np.zeros(2)]) is None


def test_evaluate_calls_evaluate_fn_with_round_and_parameters():
    calls = []

    def evaluate_fn(server_round, parameters):
        calls.append((server_round, parameters))
        return 0.5, {}

    strategy = FedAvg(evaluate_fn=evaluate_fn)
    parameters = [np.zeros(2)]

    assert strategy.evaluate(3, parameters) == (0.5, {})
    assert calls == [(3, parameters)]


def test_check_population_accepts_enough_clients():
    FedAvg(min_fit_clients=3, min_evaluate_clients=3, min_available_clients=3).check_population(3)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction_fit", [0, -0.1, 1.5, float("nan")])
def test_fraction_fit_outside_zero_one_is_rejected(fraction_fit):
    with pytest.raises(ValueError, match="fraction_fit"):
        FedAvg(fraction_fit=fraction_fit)


@pytest.mark.parametrize("fraction_evaluate", [-0.1, 1.5, float("nan")])
def test_fraction_evaluate_outside_zero_one_is_rejected(fraction_evaluate):
    with pytest.raises(ValueError, match="fraction_evaluate"):
        FedAvg(fraction_evaluate=fraction_evaluate)


@pytest.mark.parametrize("name", ["min_fit_clients", "min_evaluate_clients", "min_available_clients"])
def test_minimums_below_one_are_rejected(name):
    with pytest.raises(ValueError, match=name):
        FedAvg(**{name: 0})


@pytest.mark.parametrize("name", ["min_fit_clients", "min_evaluate_clients", "min_available_clients"])
def test_check_population_rejects_minimum_larger_than_population(name):
    minimums = {"min_fit_clients": 1, "min_evaluate_clients": 1, "min_available_clients": 1, name: 6}
    strategy = FedAvg(**minimums)

    with pytest.raises(ValueError, match=name):
        strategy.check_population(5)
