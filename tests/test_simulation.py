import numpy as np
import pytest
import torch
from conftest import SMALL_POPULATION
from torch.utils.data import TensorDataset

from course_utils.client import Client, make_client_fn
from course_utils.data import load_digits_data
from course_utils.evaluation import make_evaluate_fn
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid
from course_utils.simulation import History, run_local_only, run_simulation
from course_utils.strategy import FedAvg

NUM_CLIENTS = SMALL_POPULATION  # the population of conftest's client_fn


class FailingClient(Client):
    """Trains like any client, except that ``fit`` raises."""

    def fit(self, parameters, config):
        raise RuntimeError("boom")


class NaNClient(Client):
    """Returns parameters full of NaN from ``fit``."""

    def fit(self, parameters, config):
        return [np.full_like(p, np.nan) for p in parameters], len(self.train_data), {"train_loss": 0.0}



@pytest.fixture
def evaluate_fn(feature_data, logistic_fn):
    return make_evaluate_fn(logistic_fn, feature_data)


def with_client_at(client_fn, bad_cid, client_class):
    """``client_fn``, but client ``bad_cid`` is a ``client_class`` with the same data."""

    def patched(cid):
        client = client_fn(cid)
        if cid != bad_cid:
            return client
        return client_class(cid, client.model_fn, client.train_data, client.test_data, seed=client.seed)

    return patched


def simulate(client_fn, initial_parameters, num_rounds=3, seed=0, round_timeout=3600.0, **strategy_options):
    strategy = FedAvg(**{"fraction_fit": 0.5, "fraction_evaluate": 0.5, **strategy_options})
    return run_simulation(client_fn, NUM_CLIENTS, num_rounds, strategy, initial_parameters, seed=seed, progress=False,
                          round_timeout=round_timeout)


def test_same_seed_gives_equal_history_and_final_parameters(client_fn, initial_parameters, evaluate_fn):
    first_parameters, first_history = simulate(client_fn, initial_parameters, seed=5, evaluate_fn=evaluate_fn)
    second_parameters, second_history = simulate(client_fn, initial_parameters, seed=5, evaluate_fn=evaluate_fn)

    assert first_history == second_history
    assert len(first_parameters) == len(second_parameters)
    for a, b in zip(first_parameters, second_parameters):
        assert np.array_equal(a, b)


def test_different_seed_samples_different_clients(client_fn, initial_parameters):
    _, first = simulate(client_fn, initial_parameters, seed=0)
    _, second = simulate(client_fn, initial_parameters, seed=1)

    assert first.client_metrics != second.client_metrics


def test_with_every_client_every_round_a_different_seed_still_gives_a_different_run(client_fn, initial_parameters,
                                                                                     evaluate_fn):
    """The run's seed reaches the clients' shuffles: full participation samples nothing, yet runs differ."""
    runs = {seed: simulate(client_fn, initial_parameters, seed=seed, fraction_fit=1.0, fraction_evaluate=1.0,
                           evaluate_fn=evaluate_fn) for seed in (11, 12)}

    assert not all(np.array_equal(a, b) for a, b in zip(runs[11][0], runs[12][0]))
    assert runs[11][1] != runs[12][1]


def test_with_every_client_every_round_the_same_seed_repeats_the_run_exactly(client_fn, initial_parameters):
    first = simulate(client_fn, initial_parameters, seed=11, fraction_fit=1.0, fraction_evaluate=1.0)
    second = simulate(client_fn, initial_parameters, seed=11, fraction_fit=1.0, fraction_evaluate=1.0)

    assert first[1] == second[1]
    assert all(np.array_equal(a, b) for a, b in zip(first[0], second[0]))


def test_the_run_seed_is_sent_to_the_clients_in_the_fit_config(client_fn, initial_parameters):
    seen = []

    def recording_client_fn(cid):
        client = client_fn(cid)
        fit = client.fit
        client.fit = lambda parameters, config: (seen.append(config), fit(parameters, config))[1]
        return client

    simulate(recording_client_fn, initial_parameters, num_rounds=2, seed=7)
    assert seen and all(config["seed"] == 7 for config in seen)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_run_simulation_rejects_a_seed_that_is_not_a_non_negative_integer(seed, client_fn, initial_parameters):
    with pytest.raises((TypeError, ValueError), match="seed must be an integer >= 0"):
        simulate(client_fn, initial_parameters, seed=seed)


def test_history_records_every_round(client_fn, initial_parameters, evaluate_fn):
    _, history = simulate(client_fn, initial_parameters, num_rounds=3, evaluate_fn=evaluate_fn)

    assert [r for r, _ in history.losses_centralized] == [0, 1, 2, 3]
    assert [r for r, _ in history.metrics_centralized["accuracy"]] == [0, 1, 2, 3]
    assert [r for r, _ in history.losses_distributed] == [1, 2, 3]
    assert [r for r, _ in history.metrics_distributed["accuracy"]] == [1, 2, 3]
    assert [r for r, _ in history.metrics_distributed_fit["train_loss"]] == [1, 2, 3]
    assert sorted(history.client_metrics) == [1, 2, 3]
    assert history.failures == {}


def test_round_zero_centralized_evaluation_is_the_initial_model(client_fn, initial_parameters, evaluate_fn):
    _, history = simulate(client_fn, initial_parameters, num_rounds=1, evaluate_fn=evaluate_fn)

    loss, metrics = evaluate_fn(0, initial_parameters)
    assert history.losses_centralized[0] == (0, loss)
    assert history.metrics_centralized["accuracy"][0] == (0, metrics["accuracy"])


def test_client_metrics_hold_each_evaluated_clients_results(client_fn, initial_parameters):
    _, history = simulate(client_fn, initial_parameters, num_rounds=1, fraction_evaluate=1.0)

    assert sorted(history.client_metrics[1]) == [0, 1, 2, 3]
    for record in history.client_metrics[1].values():
        assert set(record) == {"num_examples", "loss", "accuracy"}
        assert record["num_examples"] == 2  # 10 examples per client, 20% held out


def test_without_evaluate_fn_nothing_centralized_is_recorded(client_fn, initial_parameters):
    _, history = simulate(client_fn, initial_parameters, num_rounds=1)

    assert history.losses_centralized == []
    assert history.metrics_centralized == {}


def test_fraction_evaluate_zero_records_no_distributed_evaluation(client_fn, initial_parameters):
    _, history = simulate(client_fn, initial_parameters, num_rounds=2, fraction_evaluate=0.0)

    assert history.losses_distributed == []
    assert history.client_metrics == {}
    assert len(history.metrics_distributed_fit["train_loss"]) == 2


def test_training_improves_the_global_model(client_fn, initial_parameters, evaluate_fn):
    _, history = simulate(client_fn, initial_parameters, num_rounds=5, fraction_fit=1.0, evaluate_fn=evaluate_fn)

    rounds, losses = history.series("loss")
    assert rounds == [0, 1, 2, 3, 4, 5]
    assert losses[-1] < losses[0]
    assert history.final("accuracy") >= 0.9


def test_run_simulation_does_not_mutate_initial_parameters(client_fn, initial_parameters):
    before = [p.copy() for p in initial_parameters]

    final, _ = simulate(client_fn, initial_parameters, num_rounds=2)

    for a, b in zip(initial_parameters, before):
        assert np.array_equal(a, b)
    assert not np.array_equal(final[0], before[0])


def test_failing_client_is_recorded_and_the_run_goes_on(client_fn, initial_parameters):
    failing = with_client_at(client_fn, 1, FailingClient)

    _, history = simulate(failing, initial_parameters, num_rounds=3, fraction_fit=1.0, accept_failures=True)

    assert history.failures == {1: [(1, "RuntimeError: boom")], 2: [(1, "RuntimeError: boom")],
                                3: [(1, "RuntimeError: boom")]}
    assert [r for r, _ in history.metrics_distributed_fit["train_loss"]] == [1, 2, 3]


def test_failures_not_accepted_skip_the_round_and_keep_the_model_as_flower_does(client_fn, initial_parameters,
                                                                              evaluate_fn):
    failing = with_client_at(client_fn, 1, FailingClient)

    final, history = simulate(failing, initial_parameters, num_rounds=2, fraction_fit=1.0, accept_failures=False,
                              evaluate_fn=evaluate_fn)

    assert sorted(history.skipped_rounds) == [1, 2]
    assert "client 1: RuntimeError: boom" in history.skipped_rounds[1]
    assert history.metrics_distributed_fit == {}
    for got, start in zip(final, initial_parameters):
        assert np.array_equal(got, start)  # no round changed the model
    assert [r for r, _ in history.losses_centralized] == [0, 1, 2]  # the run went on


def test_too_few_successes_skip_the_round_under_the_course_rule(client_fn, initial_parameters):
    failing = with_client_at(client_fn, 1, FailingClient)

    _, history = simulate(failing, initial_parameters, num_rounds=1, fraction_fit=1.0,
                          min_fit_successes=NUM_CLIENTS)

    assert f"fewer than min_fit_successes={NUM_CLIENTS}" in history.skipped_rounds[1]


def test_client_returning_nan_parameters_is_a_failure(client_fn, initial_parameters):
    broken = with_client_at(client_fn, 2, NaNClient)

    final, history = simulate(broken, initial_parameters, num_rounds=2, fraction_fit=1.0)

    assert sorted(history.failures) == [1, 2]
    assert [cid for cid, _ in history.failures[1]] == [2]
    assert "NaN or infinite" in history.failures[1][0][1]
    assert all(np.all(np.isfinite(p)) for p in final)


def test_client_fn_is_called_only_for_sampled_clients():
    # 1,000 clients, 1% sampled per round: 10 clients are built per round, never the whole population.
    built = []
    data = TensorDataset(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 0, 1]))

    def model_fn():
        return make_model("logistic", (4,), 2)

    def client_fn(cid):
        built.append(cid)
        return Client(cid, model_fn, data)

    strategy = FedAvg(fraction_fit=0.01, fraction_evaluate=0.0)
    run_simulation(client_fn, 1000, 3, strategy, get_parameters(model_fn()), progress=False)

    assert len(built) == 10 * 3
    for server_round in range(3):
        sampled = built[10 * server_round : 10 * (server_round + 1)]
        assert sampled == sorted(set(sampled))


def test_federated_learning_on_digits_beats_chance_by_far():
    digits = load_digits_data()

    def model_fn():
        return make_model("logistic", digits.input_shape, digits.num_classes)

    client_fn = make_client_fn(digits.train, iid(len(digits.train), 10, seed=0), model_fn)
    strategy = FedAvg(fraction_fit=0.5, fraction_evaluate=0.0, evaluate_fn=make_evaluate_fn(model_fn, digits.test))

    _, history = run_simulation(client_fn, 10, 3, strategy, get_parameters(model_fn()), progress=False)

    assert history.final("accuracy") > 0.5  # chance is 0.1
    assert history.final("accuracy") > history.series("accuracy")[1][0]


# --- History ---------------------------------------------------------------------------------


@pytest.fixture
def history():
    return History(
        losses_centralized=[(0, 2.0), (1, 1.0)],
        metrics_centralized={"accuracy": [(0, 0.1), (1, 0.6)]},
        losses_distributed=[(1, 1.5)],
        metrics_distributed={"accuracy": [(1, 0.5)]},
        metrics_distributed_fit={"train_loss": [(1, 1.2)]},
    )


def test_history_series_gives_rounds_and_values(history):
    assert history.series() == ([0, 1], [0.1, 0.6])
    assert history.series("loss") == ([0, 1], [2.0, 1.0])
    assert history.series("loss", kind="distributed") == ([1], [1.5])
    assert history.series("accuracy", kind="distributed") == ([1], [0.5])
    assert history.series("train_loss", kind="fit") == ([1], [1.2])


def test_history_final_gives_the_last_value(history):
    assert history.final() == 0.6
    assert history.final("loss") == 1.0
    assert history.final("train_loss", kind="fit") == 1.2


def test_history_series_rejects_unknown_kind(history):
    with pytest.raises(ValueError, match="kind"):
        history.series("accuracy", kind="federated")


@pytest.mark.parametrize(("metric", "kind"), [("f1", "centralized"), ("loss", "fit")])
def test_history_series_of_unrecorded_metric_raises_key_error(history, metric, kind):
    with pytest.raises(KeyError, match=metric):
        history.series(metric, kind=kind)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("num_rounds", [0, -1])
def test_run_simulation_rejects_num_rounds_below_one(num_rounds, client_fn, initial_parameters):
    with pytest.raises(ValueError, match="num_rounds"):
        run_simulation(client_fn, NUM_CLIENTS, num_rounds, FedAvg(), initial_parameters, progress=False)


def test_run_simulation_rejects_no_clients(client_fn, initial_parameters):
    with pytest.raises(ValueError, match="num_clients"):
        run_simulation(client_fn, 0, 1, FedAvg(), initial_parameters, progress=False)


def test_run_simulation_rejects_min_fit_clients_larger_than_num_clients(client_fn, initial_parameters):
    strategy = FedAvg(min_fit_clients=NUM_CLIENTS + 1)

    with pytest.raises(ValueError, match="min_fit_clients"):
        run_simulation(client_fn, NUM_CLIENTS, 1, strategy, initial_parameters, progress=False)


def test_run_simulation_rejects_nan_initial_parameters(client_fn, initial_parameters):
    broken = [np.full_like(p, np.nan) for p in initial_parameters]

    with pytest.raises(ValueError, match="NaN or infinite"):
        run_simulation(client_fn, NUM_CLIENTS, 1, FedAvg(), broken, progress=False)


# --- failed evaluation -----------------------------------------------------------------------


class EvaluateFailingClient(Client):
    """Trains like any client, except that ``evaluate`` raises."""

    def evaluate(self, parameters, config):
        raise RuntimeError("no test set")


def test_client_failing_to_evaluate_is_recorded_in_evaluate_failures(client_fn, initial_parameters):
    failing = with_client_at(client_fn, 1, EvaluateFailingClient)

    _, history = simulate(failing, initial_parameters, num_rounds=2, fraction_fit=1.0, fraction_evaluate=1.0,
                          accept_failures=True)

    assert history.evaluate_failures == {1: [(1, "RuntimeError: no test set")], 2: [(1, "RuntimeError: no test set")]}
    assert history.failures == {}  # it trained fine
    assert sorted(history.client_metrics[1]) == [0, 2, 3]
    assert [r for r, _ in history.losses_distributed] == [1, 2]


def test_client_failing_to_evaluate_skips_the_evaluation_when_failures_are_not_accepted(client_fn, initial_parameters):
    failing = with_client_at(client_fn, 1, EvaluateFailingClient)

    _, history = simulate(failing, initial_parameters, num_rounds=1, fraction_fit=1.0, fraction_evaluate=1.0,
                          accept_failures=False)

    assert "(evaluate) skipped" in history.skipped_evaluations[1]
    assert "client 1: RuntimeError: no test set" in history.skipped_evaluations[1]
    assert history.losses_distributed == [] and history.skipped_rounds == {}


# --- run_local_only --------------------------------------------------------------------------


def recording_evaluate_fn(calls):
    """An ``evaluate_fn`` that records its arguments and gives loss 0.5, accuracy 0.75."""

    def evaluate_fn(server_round, parameters):
        calls.append((server_round, [p.copy() for p in parameters]))
        return 0.5, {"accuracy": 0.75}

    return evaluate_fn


def train_alone_by_hand(client, parameters, num_rounds, config):
    for server_round in range(1, num_rounds + 1):
        parameters, _, _ = client.fit(parameters, {**config, "server_round": server_round})
    return parameters


def test_run_local_only_trains_each_client_alone_from_the_initial_parameters(client_fn, initial_parameters):
    config = {"local_epochs": 1, "batch_size": 4, "learning_rate": 0.5}
    calls = []
    before = [p.copy() for p in initial_parameters]

    run_local_only(client_fn, [2, 0], initial_parameters, num_rounds=3, config=config,
                   evaluate_fn=recording_evaluate_fn(calls))

    assert [server_round for server_round, _ in calls] == [3, 3]
    for cid, (_, parameters) in zip([2, 0], calls):
        expected = train_alone_by_hand(client_fn(cid), initial_parameters, 3, config)
        assert all(np.array_equal(a, b) for a, b in zip(parameters, expected))
    assert not np.array_equal(calls[0][1][0], calls[1][1][0])  # no averaging: each client has its own model
    assert all(np.array_equal(a, b) for a, b in zip(initial_parameters, before))


def test_run_local_only_gives_num_examples_local_accuracy_and_server_metrics(client_fn, initial_parameters):
    out = run_local_only(client_fn, [0, 3], initial_parameters, num_rounds=2, evaluate_fn=recording_evaluate_fn([]))

    assert sorted(out) == [0, 3]
    for cid in [0, 3]:
        client = client_fn(cid)
        trained = train_alone_by_hand(client, initial_parameters, 2, {})
        local_accuracy = client.evaluate(trained, {})[2]["accuracy"]
        assert out[cid] == {"num_examples": 8, "local_accuracy": local_accuracy, "loss": 0.5, "accuracy": 0.75}


def test_run_local_only_without_test_data_or_evaluate_fn_gives_only_num_examples(feature_data, logistic_fn,
                                                                                initial_parameters):
    no_test_data = make_client_fn(feature_data, iid(len(feature_data), NUM_CLIENTS, seed=0), logistic_fn,
                                  test_fraction=0.0)

    out = run_local_only(no_test_data, [1], initial_parameters, num_rounds=1)

    assert out == {1: {"num_examples": 10}}


@pytest.mark.parametrize("num_rounds", [0, -1])
def test_run_local_only_rejects_num_rounds_below_one(num_rounds, client_fn, initial_parameters):
    with pytest.raises(ValueError, match="num_rounds"):
        run_local_only(client_fn, [0], initial_parameters, num_rounds)


# --- History.rounds_to_reach -----------------------------------------------------------------


@pytest.mark.parametrize(("target", "expected"), [(0.05, 0), (0.1, 0), (0.5, 1), (0.6, 1), (0.61, None)])
def test_rounds_to_reach_gives_the_first_round_at_or_above_target(history, target, expected):
    assert history.rounds_to_reach(target) == expected


def test_rounds_to_reach_gives_the_first_round_even_if_accuracy_drops_later():
    history = History(metrics_centralized={"accuracy": [(0, 0.1), (1, 0.4), (2, 0.8), (3, 0.5), (4, 0.9)]})

    assert history.rounds_to_reach(0.45) == 2
    assert history.rounds_to_reach(0.85) == 4


def test_rounds_to_reach_uses_the_given_metric_and_kind(history):
    assert history.rounds_to_reach(0.5, kind="distributed") == 1
    assert history.rounds_to_reach(0.51, kind="distributed") is None
    assert history.rounds_to_reach(1.0, metric="train_loss", kind="fit") == 1


def test_rounds_to_reach_of_an_unrecorded_metric_raises_key_error(history):
    with pytest.raises(KeyError, match="f1"):
        history.rounds_to_reach(0.5, metric="f1")


# --- run_simulation(stop_when=...) ---------------------------------------------------------------


def test_stop_when_ends_the_run_after_the_first_round_it_returns_true(client_fn, initial_parameters, evaluate_fn):
    asked = []

    def stop_when(history):
        asked.append(len(history.losses_centralized) - 1)  # the round just finished
        return len(asked) == 2

    _, history = simulate(client_fn, initial_parameters, num_rounds=5, evaluate_fn=evaluate_fn)
    _, stopped = run_simulation(client_fn, NUM_CLIENTS, 5, FedAvg(fraction_fit=0.5, fraction_evaluate=0.5,
                                evaluate_fn=evaluate_fn), initial_parameters, progress=False, stop_when=stop_when)

    assert asked == [1, 2]
    assert [r for r, _ in stopped.losses_centralized] == [0, 1, 2]
    assert stopped.losses_centralized == history.losses_centralized[:3]  # the same rounds as a full run


def test_stop_when_never_true_runs_every_round(client_fn, initial_parameters, evaluate_fn):
    strategy = FedAvg(fraction_fit=0.5, fraction_evaluate=0.0, evaluate_fn=evaluate_fn)
    _, history = run_simulation(client_fn, NUM_CLIENTS, 4, strategy, initial_parameters, progress=False,
                                stop_when=lambda h: False)

    assert [r for r, _ in history.losses_centralized] == [0, 1, 2, 3, 4]


def test_stop_when_with_rounds_to_reach_stops_at_the_target(client_fn, initial_parameters, evaluate_fn):
    strategy = FedAvg(fraction_fit=0.5, fraction_evaluate=0.0, evaluate_fn=evaluate_fn)
    _, full = run_simulation(client_fn, NUM_CLIENTS, 6, strategy, initial_parameters, progress=False)
    target = full.series()[1][-1]  # reached at the latest in the last round
    reached = full.rounds_to_reach(target)

    _, stopped = run_simulation(client_fn, NUM_CLIENTS, 6, strategy, initial_parameters, progress=False,
                                stop_when=lambda h: h.rounds_to_reach(target) is not None)

    assert stopped.rounds_to_reach(target) == reached
    assert stopped.series()[0][-1] == reached


# --- the round loop under faults ------------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from course_utils.simulation import ClientTimeout, SimulationInterrupted, call_with_timeout  # noqa: E402


class HangingClient(Client):
    """A client whose ``fit`` never comes back (well: after a minute)."""

    def fit(self, parameters, config):
        time.sleep(60)
        return super().fit(parameters, config)


def test_a_hanging_client_is_a_timeout_failure_and_the_run_goes_on(client_fn, initial_parameters):
    hanging = with_client_at(client_fn, 1, HangingClient)
    handler_before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()

    _, history = simulate(hanging, initial_parameters, num_rounds=2, fraction_fit=1.0, round_timeout=0.2)

    assert time.monotonic() - start < 10
    assert [cid for cid, _ in history.failures[1]] == [1] and sorted(history.failures) == [1, 2]
    assert history.failures[1][0][1] == "ClientTimeout: client 1's fit did not finish within round_timeout=0.2 s"
    assert [r for r, _ in history.metrics_distributed_fit["train_loss"]] == [1, 2]
    assert signal.getsignal(signal.SIGALRM) is handler_before  # restored
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no timer left running


def test_call_with_timeout_gives_an_outer_timer_back_what_is_left_of_it():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert call_with_timeout(lambda: 42, 5.0, "a quick call") == 42
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 25.0 < remaining <= 30.0 and fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_a_slow_call_counts_as_timed_out_once_it_returns():
    outcome = {}

    def worker():
        try:
            call_with_timeout(lambda: time.sleep(0.3), 0.05, "client 2's fit")
        except ClientTimeout as error:
            outcome["error"] = str(error)
        outcome["fast"] = call_with_timeout(lambda: "done", 0.05, "client 3's fit")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)

    assert "client 2's fit took" in outcome["error"] and "cannot be interrupted" in outcome["error"]
    assert outcome["fast"] == "done"


@pytest.mark.parametrize("round_timeout", [0, -1.0, float("nan"), True, "10"])
def test_run_simulation_refuses_a_bad_round_timeout(round_timeout, client_fn, initial_parameters):
    with pytest.raises((TypeError, ValueError), match="round_timeout"):
        simulate(client_fn, initial_parameters, round_timeout=round_timeout)


def test_round_timeout_none_means_no_limit(client_fn, initial_parameters):
    _, history = simulate(client_fn, initial_parameters, num_rounds=1, round_timeout=None)

    assert history.failures == {}


class ExitingClient(Client):
    """A client whose ``fit`` calls ``sys.exit(3)``."""

    def fit(self, parameters, config):
        raise SystemExit(3)


def test_a_client_raising_system_exit_is_a_failed_client_not_the_end_of_the_run(client_fn, initial_parameters):
    exiting = with_client_at(client_fn, 2, ExitingClient)

    _, history = simulate(exiting, initial_parameters, num_rounds=2, fraction_fit=1.0)

    assert history.failures == {1: [(2, "SystemExit: 3")], 2: [(2, "SystemExit: 3")]}


class NaNLossClient(Client):
    """Evaluates to a NaN loss."""

    def evaluate(self, parameters, config):
        _, num_examples, metrics = super().evaluate(parameters, config)
        return float("nan"), num_examples, metrics


def test_a_nan_evaluation_loss_is_a_named_evaluate_failure(client_fn, initial_parameters):
    broken = with_client_at(client_fn, 0, NaNLossClient)

    _, history = simulate(broken, initial_parameters, num_rounds=1, fraction_fit=1.0, fraction_evaluate=1.0)

    assert history.evaluate_failures[1] == [
        (0, "ValueError: client 0's evaluation: loss must be a finite number, got nan")]
    assert sorted(history.client_metrics[1]) == [1, 2, 3]
    assert np.isfinite(history.losses_distributed[0][1])


class InterruptingClient(Client):
    """Raises KeyboardInterrupt (as Ctrl-C would) when it is asked to train in round 3."""

    def fit(self, parameters, config):
        if config["server_round"] == 3:
            raise KeyboardInterrupt
        return super().fit(parameters, config)


class SigintClient(Client):
    """Sends this process a real SIGINT in round 3, then works on (Python raises KeyboardInterrupt)."""

    def fit(self, parameters, config):
        if config["server_round"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        return super().fit(parameters, config)


@pytest.mark.parametrize("client_class", [InterruptingClient, SigintClient])
def test_an_interrupted_run_hands_back_the_rounds_it_completed(client_class, client_fn, initial_parameters,
                                                               evaluate_fn):
    interrupting = with_client_at(client_fn, 1, client_class)
    two_rounds, two_history = simulate(client_fn, initial_parameters, num_rounds=2, fraction_fit=1.0,
                                       evaluate_fn=evaluate_fn)

    with pytest.raises(SimulationInterrupted) as caught:
        simulate(interrupting, initial_parameters, num_rounds=5, fraction_fit=1.0, evaluate_fn=evaluate_fn)

    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt) and stop.completed_rounds == 2
    assert stop.history == two_history  # rounds 0 to 2, nothing of round 3
    for got, want in zip(stop.parameters, two_rounds):
        assert np.array_equal(got, want)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_federated_evaluation_scores_the_clients_test_data_not_their_training_data(logistic_fn):
    from conftest import make_feature_data

    from course_utils.models import set_parameters
    from course_utils.training import evaluate

    train_data = make_feature_data(40, seed=1)
    features, labels = train_data.tensors
    flipped = TensorDataset(features.clone(), 1 - labels)  # the same inputs with the other label
    clients = [Client(cid, logistic_fn, train_data, flipped, seed=0) for cid in range(2)]
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=1.0)

    final, history = run_simulation(lambda cid: clients[cid], 2, 3, strategy, get_parameters(logistic_fn()),
                                    progress=False)

    model = logistic_fn()
    set_parameters(model, final)
    test_accuracy, train_accuracy = evaluate(model, flipped)[1], evaluate(model, train_data)[1]
    assert train_accuracy > 0.9 > 0.1 > test_accuracy  # the model learned the training labels
    assert history.client_metrics[3][0]["accuracy"] == pytest.approx(test_accuracy)
    assert history.metrics_distributed["accuracy"][-1][1] == pytest.approx(test_accuracy)


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"client_fn": "clients"}, "client_fn"),
        ({"num_clients": 4.0}, "num_clients"),
        ({"num_clients": True}, "num_clients"),
        ({"num_rounds": 0}, "num_rounds"),
        ({"num_rounds": 2.5}, "num_rounds"),
        ({"strategy": "fedavg"}, "strategy"),
        ({"progress": "no"}, "progress"),
        ({"stop_when": 0.9}, "stop_when"),
        ({"initial_parameters": []}, "initial_parameters"),
        ({"initial_parameters": [np.array([np.nan])]}, "NaN"),
    ],
)
def test_run_simulation_refuses_bad_arguments_naming_them(arguments, argument, client_fn, initial_parameters):
    call = {"client_fn": client_fn, "num_clients": NUM_CLIENTS, "num_rounds": 1, "strategy": FedAvg(),
            "initial_parameters": initial_parameters, "progress": False, **arguments}

    with pytest.raises((TypeError, ValueError), match=argument):
        run_simulation(**call)


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [({"client_fn": None}, "client_fn"), ({"cids": 3}, "cids"), ({"cids": [0, -1]}, "cids"),
     ({"cids": [0.5]}, "cids"), ({"num_rounds": 0}, "num_rounds"), ({"config": [1]}, "config"),
     ({"evaluate_fn": "test set"}, "evaluate_fn")],
)
def test_run_local_only_refuses_bad_arguments_naming_them(arguments, argument, client_fn, initial_parameters):
    call = {"client_fn": client_fn, "cids": [0, 1], "initial_parameters": initial_parameters, "num_rounds": 1,
            **arguments}

    with pytest.raises((TypeError, ValueError), match=argument):
        run_local_only(**call)


@pytest.mark.parametrize("target", [float("nan"), float("inf"), "0.9", None])
def test_rounds_to_reach_refuses_a_target_that_no_round_could_be_compared_with(target):
    history = History(losses_centralized=[(0, 1.0)], metrics_centralized={"accuracy": [(0, 0.5)]})

    with pytest.raises((TypeError, ValueError), match="target"):
        history.rounds_to_reach(target)
