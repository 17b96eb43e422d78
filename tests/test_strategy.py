import numpy as np
import pytest

from course_utils.strategy import FedAvg, RoundSkipped

ZERO2 = [np.zeros(2)]  # the global parameters of the fit_result tests


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

    parameters, metrics = FedAvg().aggregate_fit(1, results, [], current=ZERO2)

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

    parameters, _ = FedAvg(accept_failures=True).aggregate_fit(1, results, failures, current=ZERO2)

    assert np.array_equal(parameters[0], [2.0, 2.0])


def test_accept_failures_false_skips_the_round_naming_the_failed_client():
    results = [fit_result(0, 1.0, 5), fit_result(2, 3.0, 5)]
    failures = [(7, RuntimeError("out of battery"))]

    with pytest.raises(RoundSkipped, match="client 7: RuntimeError: out of battery"):
        FedAvg(accept_failures=False).aggregate_fit(3, results, failures, current=ZERO2)


def test_accept_failures_false_skips_evaluate_rounds_with_failures_too():
    with pytest.raises(RoundSkipped, match="client 4"):
        FedAvg(accept_failures=False).aggregate_evaluate(1, [(0, 1.0, 5, {})], [(4, ValueError("no data"))])


def test_too_few_successes_skip_the_round_even_when_failures_are_accepted():
    results = [fit_result(0, 1.0, 5)]
    failures = [(1, RuntimeError("a")), (2, RuntimeError("b"))]

    with pytest.raises(RoundSkipped, match=r"1 client\(s\) succeeded, fewer than min_fit_successes=2"):
        FedAvg(min_fit_successes=2, accept_failures=True).aggregate_fit(1, results, failures, current=ZERO2)


def test_too_few_evaluate_successes_raises():
    with pytest.raises(RoundSkipped, match="evaluate"):
        FedAvg(min_evaluate_successes=2).aggregate_evaluate(1, [(0, 1.0, 5, {})], [(1, RuntimeError("x"))])


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


# --- strategies for the open questions -------------------------------------------------------

from course_utils.client import make_client_fn  # noqa: E402
from course_utils.compression import CompressedFedAvg, compress_update  # noqa: E402
from course_utils.evaluation import make_evaluate_fn  # noqa: E402
from course_utils.faults import DeadlineFedAvg  # noqa: E402
from course_utils.models import get_parameters  # noqa: E402
from course_utils.partition import iid  # noqa: E402
from course_utils.simulation import run_simulation  # noqa: E402
from course_utils.strategy import (  # noqa: E402
    FedAdam,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
)


def vector_result(cid, values, num_examples=1, **metrics):
    return (cid, [np.array(values, dtype=np.float64)], num_examples, metrics)


def timed_result(cid, value, compute_time):
    return (cid, [np.full(2, value)], 1, {"train_loss": 1.0, "compute_time": compute_time})


# FedProx


def test_fedprox_sends_proximal_mu_with_the_config():
    strategy = FedProx(proximal_mu=0.5, on_fit_config_fn=lambda server_round: {"local_epochs": 2})

    _, config = strategy.configure_fit(3, 10, rng())

    assert config == {"local_epochs": 2, "server_round": 3, "proximal_mu": 0.5}


def test_fedprox_aggregates_like_fedavg():
    results = [fit_result(0, 0.0, 10, train_loss=2.0), fit_result(1, 11.0, 100, train_loss=0.9)]

    (parameters,), metrics = FedProx().aggregate_fit(1, results, [], current=ZERO2)
    (expected,), expected_metrics = FedAvg().aggregate_fit(1, results, [], current=ZERO2)

    assert np.array_equal(parameters, expected)
    assert metrics == expected_metrics


@pytest.mark.parametrize("proximal_mu", [-0.01, float("nan")])
def test_fedprox_rejects_negative_proximal_mu(proximal_mu):
    with pytest.raises(ValueError, match="proximal_mu"):
        FedProx(proximal_mu=proximal_mu)


# FedAvgM


def test_fedavgm_without_momentum_and_with_learning_rate_one_is_fedavg():
    strategy = FedAvgM(server_momentum=0.0, server_learning_rate=1.0)
    current = [np.array([1.0, -1.0])]

    for server_round, results in enumerate([[fit_result(0, 2.0, 1), fit_result(1, 4.0, 3)],
                                            [fit_result(0, -1.0, 1), fit_result(1, 1.0, 1)]], start=1):
        expected, expected_metrics = FedAvg().aggregate_fit(server_round, results, [], current=current)
        current, metrics = strategy.aggregate_fit(server_round, results, [], current=current)
        assert np.array_equal(current[0], expected[0])
        assert metrics == expected_metrics


def test_fedavgm_by_hand_over_two_rounds():
    strategy = FedAvgM(server_momentum=0.5, server_learning_rate=0.5)

    # Round 1: delta = 2 - 0 = 2, v = 2, new = 0 + 0.5 * 2 = 1.
    first, _ = strategy.aggregate_fit(1, [fit_result(0, 2.0, 1), fit_result(1, 2.0, 1)], [], current=[np.zeros(2)])
    # Round 2: delta = 3 - 1 = 2, v = 0.5 * 2 + 2 = 3 (the first delta, times the momentum, is still in
    # the step), new = 1 + 0.5 * 3 = 2.5.
    second, _ = strategy.aggregate_fit(2, [fit_result(0, 3.0, 1), fit_result(1, 3.0, 1)], [], current=first)

    assert first[0].tolist() == [1.0, 1.0]
    assert second[0].tolist() == [2.5, 2.5]
    assert strategy.velocity[0].tolist() == [3.0, 3.0]


def test_fedavgm_keeps_the_dtype_of_the_current_parameters():
    current = [np.zeros(2, dtype=np.float32)]

    (new,), _ = FedAvgM().aggregate_fit(1, [fit_result(0, 1.0, 1), fit_result(1, 2.0, 1)], [], current=current)

    assert new.dtype == np.float32


def test_fedavgm_reset_forgets_the_velocity():
    strategy = FedAvgM(server_momentum=0.5, server_learning_rate=1.0)
    strategy.aggregate_fit(1, [fit_result(0, 2.0, 1), fit_result(1, 2.0, 1)], [], current=[np.zeros(2)])

    strategy.reset()
    assert strategy.velocity is None
    (new,), _ = strategy.aggregate_fit(2, [fit_result(0, 3.0, 1), fit_result(1, 3.0, 1)], [], current=[np.ones(2)])

    assert new.tolist() == [3.0, 3.0]  # no momentum from before the reset: 1 + (3 - 1)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"server_learning_rate": 0.0}, "server_learning_rate"),
        ({"server_learning_rate": -1.0}, "server_learning_rate"),
        ({"server_momentum": -0.1}, "server_momentum"),
        ({"server_momentum": 1.0}, "server_momentum"),
        ({"server_momentum": float("nan")}, "server_momentum"),
    ],
)
def test_fedavgm_rejects_bad_hyperparameters(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        FedAvgM(**kwargs)


# FedAdam


def test_fedadam_one_step_by_hand():
    strategy = FedAdam(eta=0.1, beta_1=0.9, beta_2=0.99, tau=1e-3)
    current = [np.array([1.0, 1.0, 1.0])]
    results = [vector_result(0, [2.0, 1.0, 0.5]), vector_result(1, [4.0, 1.0, -0.5])]  # mean [3, 1, 0]

    (new,), _ = strategy.aggregate_fit(1, results, [], current=current)

    # delta = [2, 0, -1]; m = 0.1 * delta; v = 0.01 * delta^2, so sqrt(v) = [0.2, 0, 0.1].
    np.testing.assert_allclose(strategy.m[0], [0.2, 0.0, -0.1])
    np.testing.assert_allclose(strategy.v[0], [0.04, 0.0, 0.01])
    np.testing.assert_allclose(new, [1 + 0.1 * 0.2 / 0.201, 1.0, 1 - 0.1 * 0.1 / 0.101])


def test_fedadam_second_step_accumulates_both_moments():
    strategy = FedAdam(eta=0.1, beta_1=0.5, beta_2=0.5, tau=1.0)
    strategy.aggregate_fit(1, [vector_result(0, [2.0]), vector_result(1, [2.0])], [], current=[np.zeros(1)])

    (new,), _ = strategy.aggregate_fit(2, [vector_result(0, [1.0]), vector_result(1, [1.0])], [], current=[np.zeros(1)])

    # Step 1: delta 2, m = 1, v = 2. Step 2: delta 1, m = 0.5 + 0.5 = 1, v = 1 + 0.5 = 1.5.
    assert strategy.m[0].tolist() == [1.0]
    assert strategy.v[0].tolist() == [1.5]
    assert new[0] == pytest.approx(0.1 * 1.0 / (np.sqrt(1.5) + 1.0))


def test_fedadam_reset_forgets_both_moments():
    strategy = FedAdam()
    strategy.aggregate_fit(1, [vector_result(0, [2.0]), vector_result(1, [2.0])], [], current=[np.zeros(1)])

    strategy.reset()

    assert strategy.m is None and strategy.v is None


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"eta": 0.0}, "eta"),
        ({"tau": -1e-3}, "tau"),
        ({"beta_1": 1.0}, "beta_1"),
        ({"beta_1": -0.1}, "beta_1"),
        ({"beta_2": 1.5}, "beta_2"),
    ],
)
def test_fedadam_rejects_bad_hyperparameters(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        FedAdam(**kwargs)


@pytest.mark.parametrize("strategy", [FedAvgM(), FedAdam(), CompressedFedAvg()],
                         ids=lambda strategy: type(strategy).__name__)
def test_update_based_strategies_need_the_current_parameters(strategy):
    results = [fit_result(0, 1.0, 1), fit_result(1, 2.0, 1)]
    with pytest.raises(TypeError, match="current"):  # a required argument of every strategy
        strategy.aggregate_fit(1, results, [])
    with pytest.raises(ValueError, match="current"):
        strategy.aggregate_fit(1, results, [], current=None)


# FedMedian and FedTrimmedAvg


def test_fedmedian_takes_the_coordinate_wise_median_and_weights_the_metrics():
    results = [fit_result(0, 1.0, 1, train_loss=1.0), fit_result(1, 2.0, 1, train_loss=2.0),
               fit_result(2, 1e6, 2, train_loss=3.0)]

    (parameters,), metrics = FedMedian().aggregate_fit(1, results, [], current=ZERO2)

    assert parameters.tolist() == [2.0, 2.0]
    assert metrics == {"train_loss": 2.25}  # (1 + 2 + 2 * 3) / 4


def test_fedtrimmedavg_averages_what_is_left_after_trimming():
    results = [fit_result(cid, value, 1) for cid, value in enumerate([-1e6, 1.0, 2.0, 6.0, 1e6])]

    (parameters,), _ = FedTrimmedAvg(trim_fraction=0.2).aggregate_fit(1, results, [], current=ZERO2)

    assert parameters.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("strategy", [FedMedian(accept_failures=False), FedTrimmedAvg(accept_failures=False)],
                         ids=lambda strategy: type(strategy).__name__)
def test_robust_strategies_still_check_the_round(strategy):
    with pytest.raises(RoundSkipped, match="client 9"):
        strategy.aggregate_fit(1, [fit_result(0, 1.0, 1), fit_result(1, 2.0, 1)], [(9, RuntimeError("x"))],
                               current=ZERO2)


@pytest.mark.parametrize("trim_fraction", [0.5, -0.1, float("nan")])
def test_fedtrimmedavg_rejects_trim_fraction_outside_zero_to_half(trim_fraction):
    with pytest.raises(ValueError, match="trim_fraction"):
        FedTrimmedAvg(trim_fraction=trim_fraction)


# CompressedFedAvg


def random_fit_results(num_clients=3, seed=0):
    generator = np.random.default_rng(seed)
    current = [generator.normal(size=(3, 2)).astype(np.float32), generator.normal(size=4).astype(np.float32)]
    results = [
        (cid, [(p + 0.1 * generator.normal(size=p.shape)).astype(np.float32) for p in current], 10 * (cid + 1),
         {"train_loss": float(cid)})
        for cid in range(num_clients)
    ]
    return current, results


def test_compressed_fedavg_without_compression_is_fedavg_up_to_float32_rounding():
    current, results = random_fit_results()

    parameters, metrics = CompressedFedAvg(compression="none").aggregate_fit(1, results, [], current=current)
    expected, expected_metrics = FedAvg().aggregate_fit(1, results, [], current=current)

    for got, want in zip(parameters, expected):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert metrics == {**expected_metrics, "upload_bytes": 3 * 4 * (6 + 4)}


@pytest.mark.parametrize(("compression", "options"), [("none", {}), ("quantize", {"bits": 4}),
                                                      ("top_k", {"fraction": 0.5})])
def test_compressed_fedavg_records_the_bytes_uploaded_by_all_clients(compression, options):
    current, results = random_fit_results()
    strategy = CompressedFedAvg(compression=compression, **options)

    _, metrics = strategy.aggregate_fit(1, results, [], current=current)

    sizes = [compress_update([p - c for p, c in zip(parameters, current)], compression, **options)[1]
             for _, parameters, _, _ in results]
    assert metrics["upload_bytes"] == float(sum(sizes))


def test_compressed_fedavg_with_quantization_changes_the_result_slightly():
    current, results = random_fit_results()

    parameters, _ = CompressedFedAvg(compression="quantize", bits=8).aggregate_fit(1, results, [], current=current)
    expected, _ = FedAvg().aggregate_fit(1, results, [], current=current)

    for got, want in zip(parameters, expected):
        assert not np.array_equal(got, want)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)  # updates span < 1, so a step is < 1 / 255


def test_compressed_fedavg_rejects_an_unknown_compression():
    with pytest.raises(ValueError, match="compression.*'zip'"):
        CompressedFedAvg(compression="zip")


# DeadlineFedAvg


@pytest.mark.parametrize(("policy", "partial_work"), [("wait", False), ("drop", False), ("partial", True)])
def test_deadline_fedavg_sends_the_deadline_and_partial_work(policy, partial_work):
    _, config = DeadlineFedAvg(deadline=4.5, policy=policy).configure_fit(2, 10, rng())

    assert config == {"server_round": 2, "deadline": 4.5, "partial_work": partial_work}


def test_deadline_fedavg_drop_leaves_out_late_results():
    results = [timed_result(0, 1.0, 2.0), timed_result(1, 3.0, 10.0), timed_result(2, 100.0, 12.5)]

    (parameters,), metrics = DeadlineFedAvg(deadline=10.0, policy="drop").aggregate_fit(1, results, [], current=ZERO2)

    assert parameters.tolist() == [2.0, 2.0]  # client 2 is late; client 1, right on the deadline, is not
    assert metrics == {"train_loss": 1.0, "compute_time": 6.0, "round_time": 10.0, "clients_used": 2.0}


def test_deadline_fedavg_drop_without_late_clients_lasts_as_long_as_the_slowest():
    results = [timed_result(0, 1.0, 2.0), timed_result(1, 3.0, 7.0)]

    _, metrics = DeadlineFedAvg(deadline=10.0, policy="drop").aggregate_fit(1, results, [], current=ZERO2)

    assert metrics["round_time"] == 7.0
    assert metrics["clients_used"] == 2.0


def test_deadline_fedavg_drop_counts_late_clients_as_failures():
    results = [timed_result(0, 1.0, 2.0), timed_result(1, 3.0, 3.0), timed_result(2, 5.0, 12.5)]

    with pytest.raises(RoundSkipped, match="client 2: StragglerError"):
        DeadlineFedAvg(deadline=10.0, policy="drop", accept_failures=False).aggregate_fit(1, results, [], current=ZERO2)


def test_deadline_fedavg_drop_fails_the_round_when_too_few_are_on_time():
    results = [timed_result(0, 1.0, 2.0), timed_result(1, 3.0, 11.0), timed_result(2, 5.0, 12.5)]

    with pytest.raises(RoundSkipped, match=r"1 client\(s\) succeeded"):
        DeadlineFedAvg(deadline=10.0, policy="drop", min_fit_successes=2).aggregate_fit(1, results, [], current=ZERO2)


def test_deadline_fedavg_wait_uses_everyone_and_lasts_as_long_as_the_slowest():
    results = [timed_result(0, 1.0, 2.0), timed_result(1, 3.0, 10.0), timed_result(2, 5.0, 12.5)]

    (parameters,), metrics = DeadlineFedAvg(deadline=10.0, policy="wait").aggregate_fit(1, results, [], current=ZERO2)

    assert parameters.tolist() == [3.0, 3.0]
    assert metrics["round_time"] == 12.5
    assert metrics["clients_used"] == 3.0


@pytest.mark.parametrize(("kwargs", "argument"), [({"policy": "hurry"}, "policy"), ({"deadline": 0.0}, "deadline"),
                                                  ({"deadline": -1.0}, "deadline")])
def test_deadline_fedavg_rejects_bad_policy_or_deadline(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        DeadlineFedAvg(**kwargs)


@pytest.mark.parametrize("strategy_class", [FedProx, FedAvgM, FedAdam, FedMedian, FedTrimmedAvg, CompressedFedAvg,
                                            DeadlineFedAvg])
def test_new_strategies_still_check_the_fedavg_options(strategy_class):
    with pytest.raises(ValueError, match="fraction_fit"):
        strategy_class(fraction_fit=0.0)


# run_simulation resets the strategy


@pytest.fixture
def small_federation(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 4, seed=0), logistic_fn, seed=0)
    return client_fn, get_parameters(logistic_fn()), make_evaluate_fn(logistic_fn, feature_data)


def test_run_simulation_resets_the_strategy_so_a_reused_fedavgm_repeats_its_run(small_federation):
    client_fn, initial_parameters, evaluate_fn = small_federation
    strategy = FedAvgM(server_momentum=0.9, fraction_evaluate=0.0, evaluate_fn=evaluate_fn)

    first_parameters, first = run_simulation(client_fn, 4, 3, strategy, initial_parameters, progress=False)
    second_parameters, second = run_simulation(client_fn, 4, 3, strategy, initial_parameters, progress=False)

    assert first == second
    for a, b in zip(first_parameters, second_parameters):
        assert np.array_equal(a, b)


def test_run_simulation_calls_reset_before_the_first_round(small_federation):
    client_fn, initial_parameters, _ = small_federation
    calls = []

    class Recording(FedAvg):
        def reset(self):
            calls.append("reset")

        def configure_fit(self, server_round, num_clients, rng):
            calls.append(server_round)
            return super().configure_fit(server_round, num_clients, rng)

    run_simulation(client_fn, 4, 2, Recording(fraction_evaluate=0.0), initial_parameters, progress=False)

    assert calls == ["reset", 1, 2]


# SecAggFedAvg: FedAvg through secure aggregation -------------------------------------------------

from course_utils.aggregate import weighted_metrics  # noqa: E402
from course_utils.secagg import SecAggFedAvg  # noqa: E402


def test_secagg_fedavg_gives_fedavg_of_the_10_and_100_example_clients():
    results = [(0, [np.array([0.0, 1.0]), np.array([2.0])], 10, {"train_loss": 1.0}),
               (1, [np.array([11.0, -1.0]), np.array([3.0])], 100, {"train_loss": 0.5})]

    (weights, bias), metrics = SecAggFedAvg().aggregate_fit(1, results, [], current=[np.zeros(2), np.zeros(1)])

    assert weights == pytest.approx([10.0, (10 - 100) / 110], abs=1e-9)  # (10 * 0 + 100 * 11) / 110 = 10
    assert bias == pytest.approx([(20 + 300) / 110], abs=1e-9)
    assert metrics["train_loss"] == pytest.approx((10 * 1.0 + 100 * 0.5) / 110, abs=1e-9)


def test_secagg_fedavg_matches_fedavg_on_random_float32_results():
    generator = np.random.default_rng(0)
    results = [(cid, [generator.normal(size=(3, 4)).astype(np.float32), generator.normal(size=3).astype(np.float32)],
                int(generator.integers(1, 200)), {"train_loss": float(generator.uniform())}) for cid in range(5)]

    secure, secure_metrics = SecAggFedAvg().aggregate_fit(1, results, [], current=results[0][1])
    plain, plain_metrics = FedAvg().aggregate_fit(1, results, [], current=results[0][1])

    for s, p in zip(secure, plain):
        assert s.dtype == p.dtype == np.float32 and s.shape == p.shape
        assert np.allclose(s, p, rtol=0, atol=1e-6)
    assert secure_metrics["train_loss"] == pytest.approx(plain_metrics["train_loss"], abs=1e-9)


def test_secagg_fedavg_aggregates_only_the_metrics_every_client_reports_and_counts_upload_bytes():
    results = [(0, [np.zeros(3)], 5, {"train_loss": 1.0, "extra": 7.0}), (1, [np.ones(3)], 5, {"train_loss": 3.0}),
               (2, [np.ones(3)], 10, {"train_loss": 2.0})]

    _, metrics = SecAggFedAvg(bits=32, fraction_bits=16).aggregate_fit(1, results, [], current=[np.zeros(3)])

    assert set(metrics) == {"train_loss", "upload_bytes"}
    assert metrics["train_loss"] == pytest.approx(weighted_metrics([(5, {"train_loss": 1.0}), (5, {"train_loss": 3.0}),
                                                                    (10, {"train_loss": 2.0})])["train_loss"], abs=1e-4)
    assert metrics["upload_bytes"] == 3 * (3 + 1 + 1) * 4  # 3 clients x (3 parameters, 1 metric, n_k) x 4 bytes


def test_secagg_fedavg_fails_the_round_when_too_few_clients_succeed():
    results = [(0, [np.zeros(2)], 5, {})]

    with pytest.raises(RoundSkipped, match=r"1 client\(s\) succeeded, fewer than min_fit_successes=2"):
        SecAggFedAvg().aggregate_fit(1, results, [(1, RuntimeError("lost"))], current=ZERO2)


@pytest.mark.parametrize(("kwargs", "argument"), [({"min_fit_clients": 1}, "min_fit_clients"),
                                                  ({"bits": 65}, "bits"), ({"fraction_bits": 64}, "fraction_bits"),
                                                  ({"fraction_fit": 0.0}, "fraction_fit")])
def test_secagg_fedavg_rejects_bad_options(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        SecAggFedAvg(**kwargs)


def test_secagg_fedavg_trains_like_fedavg_in_run_simulation(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 4, seed=0), logistic_fn, seed=0)
    initial_parameters, evaluate_fn = get_parameters(logistic_fn()), make_evaluate_fn(logistic_fn, feature_data)
    runs = {}
    for name, strategy_class in (("plain", FedAvg), ("secure", SecAggFedAvg)):
        strategy = strategy_class(fraction_fit=0.5, fraction_evaluate=0.0, evaluate_fn=evaluate_fn)
        runs[name] = run_simulation(client_fn, 4, 3, strategy, initial_parameters, progress=False)

    (plain_parameters, plain), (secure_parameters, secure) = runs["plain"], runs["secure"]
    for p, s in zip(plain_parameters, secure_parameters):
        assert np.allclose(p, s, rtol=0, atol=1e-5)
    assert secure.series("accuracy") == plain.series("accuracy")
    assert secure.final("upload_bytes", kind="fit") == 2 * (sum(p.size for p in initial_parameters) + 1 + 1) * 8


@pytest.mark.parametrize(
    ("fraction_fit", "min_fit_clients", "num_available", "expected"),
    [(0.38, 1, 10, 3), (0.5, 2, 10, 5), (0.1, 2, 10, 2), (0.3, 8, 5, 5), (0.019, 1, 1000, 19)],
)
def test_num_fit_clients_is_the_sample_size_of_configure_fit(fraction_fit, min_fit_clients, num_available, expected):
    strategy = FedAvg(fraction_fit=fraction_fit, min_fit_clients=min_fit_clients, min_available_clients=1)

    assert strategy.num_fit_clients(num_available) == expected  # rounded down: 3.8 clients are 3, not 4
    assert len(strategy.configure_fit(1, num_available, rng())[0]) == expected


def test_num_evaluation_clients_follows_fraction_evaluate():
    strategy = FedAvg(fraction_evaluate=0.38, min_evaluate_clients=1, min_available_clients=1)

    assert strategy.num_evaluation_clients(10) == 3
    assert len(strategy.configure_evaluate(1, 10, rng())[0]) == 3
    assert FedAvg(fraction_evaluate=0.0).num_evaluation_clients(10) == 0


# --- bad input, caught at construction or call time ---------------------------------------------

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("strategy_class", "kwargs", "argument"),
    [
        (FedAvg, {"fraction_fit": True}, "fraction_fit"),
        (FedAvg, {"fraction_fit": "0.5"}, "fraction_fit"),
        (FedAvg, {"fraction_fit": INF}, "fraction_fit"),
        (FedAvg, {"fraction_evaluate": None}, "fraction_evaluate"),
        (FedAvg, {"fraction_evaluate": -INF}, "fraction_evaluate"),
        (FedAvg, {"min_fit_clients": 2.5}, "min_fit_clients"),
        (FedAvg, {"min_fit_clients": 2.0}, "min_fit_clients"),
        (FedAvg, {"min_fit_clients": True}, "min_fit_clients"),
        (FedAvg, {"min_evaluate_clients": "2"}, "min_evaluate_clients"),
        (FedAvg, {"min_available_clients": NAN}, "min_available_clients"),
        (FedAvg, {"min_fit_successes": 0}, "min_fit_successes"),
        (FedAvg, {"min_fit_successes": 1.5}, "min_fit_successes"),
        (FedAvg, {"min_evaluate_successes": -1}, "min_evaluate_successes"),
        (FedAvg, {"accept_failures": "no"}, "accept_failures"),
        (FedAvg, {"accept_failures": 0}, "accept_failures"),
        (FedAvg, {"accept_failures": None}, "accept_failures"),
        (FedAvg, {"on_fit_config_fn": {"local_epochs": 1}}, "on_fit_config_fn"),
        (FedAvg, {"on_evaluate_config_fn": 3}, "on_evaluate_config_fn"),
        (FedAvg, {"evaluate_fn": "server"}, "evaluate_fn"),
        (FedProx, {"proximal_mu": INF}, "proximal_mu"),
        (FedProx, {"proximal_mu": True}, "proximal_mu"),
        (FedAvgM, {"server_learning_rate": 0.0}, "server_learning_rate"),
        (FedAvgM, {"server_learning_rate": NAN}, "server_learning_rate"),
        (FedAvgM, {"server_momentum": 1.0}, "server_momentum"),
        (FedAvgM, {"server_momentum": "0.9"}, "server_momentum"),
        (FedAdam, {"eta": -0.1}, "eta"),
        (FedAdam, {"tau": 0.0}, "tau"),
        (FedAdam, {"beta_1": 1.0}, "beta_1"),
        (FedAdam, {"beta_2": NAN}, "beta_2"),
        (FedTrimmedAvg, {"trim_fraction": False}, "trim_fraction"),
        (FedTrimmedAvg, {"trim_fraction": INF}, "trim_fraction"),
        (CompressedFedAvg, {"bits": 3}, "bits"),
        (CompressedFedAvg, {"bits": 8.0}, "bits"),
        (CompressedFedAvg, {"bits": True}, "bits"),
        (CompressedFedAvg, {"fraction": 0.0}, "fraction"),
        (CompressedFedAvg, {"fraction": 1.5}, "fraction"),
        (CompressedFedAvg, {"compression": None}, "compression"),
        (DeadlineFedAvg, {"deadline": NAN}, "deadline"),
        (DeadlineFedAvg, {"deadline": INF}, "deadline"),
        (DeadlineFedAvg, {"deadline": "10"}, "deadline"),
        (DeadlineFedAvg, {"policy": ["wait"]}, "policy"),
        (SecAggFedAvg, {"min_fit_successes": 1}, "min_fit_successes"),
    ],
)
def test_bad_constructor_arguments_are_refused_naming_the_argument(strategy_class, kwargs, argument):
    with pytest.raises((TypeError, ValueError), match=argument):
        strategy_class(**kwargs)


@pytest.mark.parametrize("num_available", [0, -3, 2.5, True, "10", None])
def test_num_fit_clients_refuses_a_bad_population(num_available):
    with pytest.raises((TypeError, ValueError), match="num_available"):
        FedAvg().num_fit_clients(num_available)


def test_check_population_refuses_a_minimum_of_successes_no_round_can_meet():
    with pytest.raises(ValueError, match=r"min_fit_successes=6 can never be met.*num_fit_clients\(10\) = 5"):
        FedAvg(fraction_fit=0.5, min_fit_successes=6).check_population(10)


def test_on_fit_config_fn_must_return_a_dict():
    with pytest.raises(TypeError, match=r"on_fit_config_fn\(1\) must return a dict"):
        FedAvg(on_fit_config_fn=lambda server_round: [("local_epochs", 1)]).configure_fit(1, 10, rng())


def test_deadline_fedavg_with_untimed_clients_says_how_to_time_them():
    results = [fit_result(0, 1.0, 5), timed_result(1, 2.0, 3.0)]

    with pytest.raises(ValueError, match=r"compute_time.*client\(s\) \[0\].*make_timed"):
        DeadlineFedAvg(policy="drop").aggregate_fit(1, results, [], current=ZERO2)


def test_deadline_fedavg_drop_keeps_a_client_exactly_at_the_deadline():
    results = [timed_result(0, 1.0, 10.0), timed_result(1, 3.0, 4.0)]

    (parameters,), metrics = DeadlineFedAvg(deadline=10.0, policy="drop").aggregate_fit(1, results, [], current=ZERO2)

    assert metrics["clients_used"] == 2.0 and metrics["round_time"] == 10.0
    assert parameters.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("strategy", [FedAvgM(server_momentum=0.0), FedAdam(eta=1.0, tau=1e-9)],
                         ids=lambda strategy: type(strategy).__name__)
def test_server_optimizers_round_integer_layers_like_fedavg(strategy):
    current = [np.zeros(2), np.array([10], dtype=np.int64)]  # e.g. a batch-norm counter
    results = [(0, [np.ones(2), np.array([13])], 1, {}), (1, [np.ones(2), np.array([14])], 1, {})]

    _, counter = strategy.aggregate_fit(1, results, [], current=current)[0]

    fedavg_counter = FedAvg().aggregate_fit(1, results, [], current=current)[0][1]
    assert fedavg_counter.tolist() == [14]  # 13.5 rounds to even
    if isinstance(strategy, FedAvgM):
        assert counter.dtype == np.int64 and counter.tolist() == [14]  # not truncated to 13
    else:
        assert counter.dtype == np.int64 and counter.tolist() == [11]  # 10 + eta * sign(delta) = 10.999.. rounds up


def test_robust_strategies_override_only_the_aggregation_rule():
    for strategy_class in (FedMedian, FedTrimmedAvg):
        assert "aggregate_fit" not in vars(strategy_class)
        assert "aggregate_parameters" in vars(strategy_class)


def test_fit_results_are_named_tuples_that_unpack_like_tuples():
    from course_utils.strategy import FitRes

    result = FitRes(3, [np.zeros(2)], 7, {"train_loss": 0.5})
    cid, parameters, num_examples, metrics = result

    assert ((cid, num_examples, metrics) == (result.cid, result.num_examples, result.metrics)
            == (3, 7, {"train_loss": 0.5}))
