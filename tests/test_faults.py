import numpy as np
import pytest
from conftest import SMALL_POPULATION

from course_utils.aggregate import fedavg
from course_utils.client import Client
from course_utils.faults import (
    ClientDropout,
    DeadlineFedAvg,
    DeadlineFedNova,
    TimedClient,
    UnreliableClient,
    client_speeds,
    fednova,
    make_timed,
    make_unreliable,
)
from course_utils.simulation import run_simulation
from course_utils.strategy import FedAvg

NUM_CLIENTS = SMALL_POPULATION  # the population of conftest's client_fn


class StubClient:
    """Stands in for a Client: ``fit`` returns the parameters it got, with 5 examples."""

    def __init__(self, cid):
        self.cid, self.train_data, self.test_data = cid, [0] * 5, None

    def fit(self, parameters, config):
        return parameters, 5, {"train_loss": 0.0}

    def evaluate(self, parameters, config):
        return 0.5, 5, {"accuracy": 1.0}


def fails(client, server_round):
    """Whether ``client.fit`` drops out in ``server_round``."""
    try:
        client.fit([np.zeros(1)], {"server_round": server_round})
    except ClientDropout:
        return True
    return False



# --- UnreliableClient ------------------------------------------------------------------------


def test_unreliable_client_fails_deterministically_per_seed_cid_and_round():
    pattern = [[fails(UnreliableClient(StubClient(cid), 0.5, seed=7), r) for r in range(20)] for cid in range(5)]
    again = [[fails(UnreliableClient(StubClient(cid), 0.5, seed=7), r) for r in range(20)] for cid in range(5)]
    other_seed = [[fails(UnreliableClient(StubClient(cid), 0.5, seed=8), r) for r in range(20)] for cid in range(5)]

    assert pattern == again
    assert pattern != other_seed
    assert pattern[0] != pattern[1]  # clients fail in different rounds


def test_unreliable_client_fails_at_about_the_failure_rate():
    # 100 clients x 10 rounds = 1000 draws at rate 0.3: 300 failures expected, standard deviation ~14.5.
    failures = sum(fails(UnreliableClient(StubClient(cid), 0.3, seed=0), r) for cid in range(100) for r in range(10))

    assert 240 <= failures <= 360


@pytest.mark.parametrize(("failure_rate", "expected"), [(0.0, False), (1.0, True)])
def test_failure_rate_zero_never_fails_and_one_always_fails(failure_rate, expected):
    outcomes = {fails(UnreliableClient(StubClient(cid), failure_rate), r) for cid in range(10) for r in range(10)}

    assert outcomes == {expected}


def test_unreliable_client_passes_fit_and_evaluate_through_when_it_does_not_fail():
    client = UnreliableClient(StubClient(3), failure_rate=0.0)
    parameters = [np.ones(2)]

    assert client.fit(parameters, {"server_round": 1}) == (parameters, 5, {"train_loss": 0.0})
    assert client.evaluate(parameters, {}) == (0.5, 5, {"accuracy": 1.0})
    assert (client.cid, client.train_data, client.test_data) == (3, [0] * 5, None)


def test_unreliable_client_names_itself_when_it_drops_out_and_still_evaluates():
    client = UnreliableClient(StubClient(3), failure_rate=1.0)

    with pytest.raises(ClientDropout, match="client 3 dropped out"):
        client.fit([np.ones(2)], {"server_round": 1})
    assert client.evaluate([np.ones(2)], {}) == (0.5, 5, {"accuracy": 1.0})  # only training is unreliable


def test_make_unreliable_records_failures_and_the_run_finishes(client_fn, initial_parameters):
    strategy = FedAvg(min_fit_clients=1, fraction_evaluate=0.0, accept_failures=True)
    unreliable_fn = make_unreliable(client_fn, failure_rate=0.3, seed=1)

    _, history = run_simulation(unreliable_fn, NUM_CLIENTS, 5, strategy, initial_parameters, progress=False)

    expected = {r: [cid for cid in range(NUM_CLIENTS) if fails(UnreliableClient(StubClient(cid), 0.3, seed=1), r)]
                for r in range(1, 6)}
    assert {r: [cid for cid, _ in failed] for r, failed in history.failures.items()} == {
        r: cids for r, cids in expected.items() if cids
    }
    assert history.failures  # some client failed in some round, and the run went on
    assert all(message.startswith("ClientDropout: client") for failed in history.failures.values()
               for _, message in failed)
    assert [r for r, _ in history.metrics_distributed_fit["train_loss"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("failure_rate", [-0.1, 1.1, float("nan")])
def test_unreliable_client_and_make_unreliable_reject_failure_rate_outside_unit_interval(failure_rate):
    with pytest.raises(ValueError, match="failure_rate"):
        UnreliableClient(StubClient(0), failure_rate)
    with pytest.raises(ValueError, match="failure_rate"):
        make_unreliable(StubClient, failure_rate)


# --- client_speeds ---------------------------------------------------------------------------


def test_client_speeds_have_one_positive_speed_per_client_and_are_seeded():
    speeds = client_speeds(5, median=50.0, seed=3)

    assert speeds.shape == (5,)
    assert np.all(speeds > 0)
    assert np.array_equal(speeds, client_speeds(5, median=50.0, seed=3))
    assert not np.array_equal(speeds, client_speeds(5, median=50.0, seed=4))


def test_client_speeds_with_zero_spread_are_all_the_median():
    assert client_speeds(4, median=20.0, spread=0.0).tolist() == [20.0] * 4


def test_client_speeds_are_spread_around_the_median():
    speeds = client_speeds(1001, median=100.0, spread=1.0, seed=0)

    assert 90 < np.median(speeds) < 110
    assert speeds.min() < 10 and speeds.max() > 1000  # spread 1: an order of magnitude either way


@pytest.mark.parametrize(("kwargs", "argument"), [({"num_clients": 0}, "num_clients"), ({"median": 0.0}, "median"),
                                                  ({"spread": -1.0}, "spread")])
def test_client_speeds_reject_bad_inputs(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        client_speeds(**{"num_clients": 3, **kwargs})


# --- TimedClient -----------------------------------------------------------------------------


@pytest.fixture
def client(feature_data, logistic_fn):
    return Client(2, logistic_fn, train_data=feature_data, seed=0)  # 40 examples: 3 steps of 16 per epoch


@pytest.mark.parametrize(
    ("config", "steps"),
    [
        ({}, 3),  # default batch_size 16, one epoch
        ({"local_epochs": 2}, 6),
        ({"local_steps": 5}, 5),
        ({"batch_size": 8}, 5),
    ],
)
def test_timed_client_reports_compute_time_of_steps_times_batch_size_over_speed(client, initial_parameters,
                                                                                config, steps):
    batch_size = config.get("batch_size", 16)

    _, num_examples, metrics = TimedClient(client, speed=8.0).fit(initial_parameters, {"server_round": 1, **config})

    assert num_examples == 40
    assert metrics["steps"] == steps
    assert metrics["compute_time"] == steps * batch_size / 8.0
    assert "train_loss" in metrics


@pytest.mark.parametrize(("deadline", "steps"), [(4.0, 2), (2.5, 1), (0.1, 1), (100.0, 3)])
def test_timed_client_with_partial_work_does_only_the_steps_that_fit(client, initial_parameters, deadline, steps):
    # At 8 examples per second a step of 16 examples takes 2 s; at least one step, at most the planned 3.
    config = {"server_round": 1, "deadline": deadline, "partial_work": True}

    parameters, _, metrics = TimedClient(client, speed=8.0).fit(initial_parameters, config)

    assert metrics["steps"] == steps
    assert metrics["compute_time"] == 2.0 * steps
    expected, _, _ = client.fit(initial_parameters, {"server_round": 1, "local_steps": steps})
    for a, b in zip(parameters, expected):
        assert np.array_equal(a, b)


def test_timed_client_without_partial_work_ignores_the_deadline(client, initial_parameters):
    config = {"server_round": 1, "deadline": 1.0, "partial_work": False}

    _, _, metrics = TimedClient(client, speed=8.0).fit(initial_parameters, config)

    assert metrics["steps"] == 3
    assert metrics["compute_time"] == 6.0


def test_timed_client_passes_evaluate_through():
    assert TimedClient(StubClient(1), speed=1.0).evaluate([np.ones(1)], {}) == (0.5, 5, {"accuracy": 1.0})


def test_make_timed_gives_client_cid_the_speed_at_index_cid():
    timed_fn = make_timed(StubClient, np.array([1.0, 2.5, 4.0]))

    assert [(timed_fn(cid).cid, timed_fn(cid).speed) for cid in range(3)] == [(0, 1.0), (1, 2.5), (2, 4.0)]


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_timed_client_rejects_speed_that_is_not_positive(speed):
    with pytest.raises(ValueError, match="speed"):
        TimedClient(StubClient(0), speed)


# --- stragglers in a run ---------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "round_time", "clients_used"), [("wait", 12.0, 4.0), ("drop", 5.0, 3.0),
                                                                     ("partial", 4.0, 4.0)])
def test_deadline_policies_with_one_slow_client(client_fn, initial_parameters, policy, round_time, clients_used):
    # Each client trains on 8 examples; 3 epochs of batches of 4 are 6 steps. Client 0 (speed 2) needs 12 s,
    # the others 0.24 s; with a 5 s deadline client 0 is dropped or does the 2 steps that fit (4 s).
    speeds = np.array([2.0, 100.0, 100.0, 100.0])
    strategy = DeadlineFedAvg(deadline=5.0, policy=policy, fraction_evaluate=0.0,
                              on_fit_config_fn=lambda server_round: {"batch_size": 4, "local_epochs": 3})

    _, history = run_simulation(make_timed(client_fn, speeds), NUM_CLIENTS, 2, strategy, initial_parameters,
                                progress=False)

    assert history.series("round_time", kind="fit") == ([1, 2], [round_time, round_time])
    assert history.series("clients_used", kind="fit") == ([1, 2], [clients_used, clients_used])


# --- FedNova: normalized averaging of partial work --------------------------------------------


def test_fednova_by_hand_two_clients_of_10_and_30_examples():
    # p = (0.25, 0.75), tau = (1, 4), tau_eff = 0.25 * 1 + 0.75 * 4 = 3.25.
    # Client 0 moved +2 in one step, client 1 moved +4 in four steps (+1 per step):
    # per-step average 0.25 * 2 + 0.75 * 1 = 1.25, times tau_eff: +4.0625. FedAvg: 0.25 * 2 + 0.75 * 4 = +3.5.
    current = [np.array([1.0, -1.0]), np.array([[0.0]])]
    results = [([c + 2 for c in current], 10), ([c + 4 for c in current], 30)]

    new = fednova(results, [1, 4], current)

    assert np.allclose(new[0], current[0] + 4.0625) and np.allclose(new[1], current[1] + 4.0625)
    assert np.allclose(fedavg(results)[0], current[0] + 3.5)


def test_fednova_with_equal_steps_is_fedavg():
    rng = np.random.default_rng(0)
    current = [rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    results = [([rng.normal(size=a.shape).astype(np.float32) for a in current], n) for n in (5, 17, 40)]

    new = fednova(results, [3, 3, 3], current)

    assert all(np.allclose(a, b, atol=1e-6) and a.dtype == b.dtype for a, b in zip(new, fedavg(results)))


def test_fednova_does_not_let_a_client_that_did_less_work_count_less():
    # Two clients of equal size walk in opposite directions at the same pace (1 per step): +1 per step and
    # -1 per step. Client 0 does 4 steps, client 1 only 1. FedAvg lands at +1.5 (towards the client that
    # worked more); FedNova at 0, the point the equally weighted objective asks for.
    current = [np.zeros(2)]
    results = [([np.full(2, 4.0)], 10), ([np.full(2, -1.0)], 10)]

    assert np.allclose(fedavg(results)[0], 1.5)
    assert np.allclose(fednova(results, [4, 1], current)[0], 0.0)


def test_fednova_keeps_integer_layers_integer():
    current = [np.array([1.0]), np.array([2], dtype=np.int64)]
    results = [([np.array([2.0]), np.array([4], dtype=np.int64)], 1),
               ([np.array([3.0]), np.array([3], dtype=np.int64)], 1)]

    new = fednova(results, [1, 2], current)

    assert new[1].dtype == np.int64 and new[1].tolist() == [4]  # 2 + 1.5 * (0.5 * 2 + 0.5 * 0.5) = 3.875 -> 4


@pytest.mark.parametrize(("steps", "current", "error", "match"), [
    ([1], [np.zeros(2)], ValueError, "steps must hold one"),
    ("12", [np.zeros(2)], ValueError, "steps must hold one"),
    ([1, 0], [np.zeros(2)], ValueError, "each of steps"),
    ([1, float("nan")], [np.zeros(2)], ValueError, "each of steps"),
    ([1, None], [np.zeros(2)], TypeError, "each of steps"),
    ([1, True], [np.zeros(2)], TypeError, "each of steps"),
    ([1, 2], [np.zeros(3)], ValueError, "current"),
    ([1, 2], [np.array([np.inf, 0.0])], ValueError, "current"),
    ([1, 2], [np.zeros(2), np.zeros(1)], ValueError, "current"),
])
def test_fednova_rejects_bad_steps_and_current_naming_them(steps, current, error, match):
    results = [([np.ones(2)], 5), ([np.ones(2)], 5)]

    with pytest.raises(error, match=match):
        fednova(results, steps, current)


def test_fednova_rejects_bad_results_as_fedavg_does():
    with pytest.raises(ValueError, match="results"):
        fednova([], [], [np.zeros(2)])
    with pytest.raises(ValueError, match="NaN"):
        fednova([([np.array([np.nan, 0.0])], 5)], [1], [np.zeros(2)])


def test_deadline_fednova_normalizes_by_the_steps_each_client_reports():
    from course_utils.strategy import FitRes

    strategy = DeadlineFedNova(deadline=1.0, policy="partial")
    current = [np.zeros(2)]
    results = [FitRes(0, [np.full(2, 4.0)], 10, {"compute_time": 0.8, "steps": 4.0}),
               FitRes(1, [np.full(2, -1.0)], 10, {"compute_time": 0.2, "steps": 1.0})]

    parameters, metrics = strategy.aggregate_fit(1, results, [], current)

    assert np.allclose(parameters[0], 0.0)
    assert metrics["clients_used"] == 2.0
    with pytest.raises(ValueError, match="'steps'"):
        strategy.aggregate_fit(1, [FitRes(0, [np.ones(2)], 10, {"compute_time": 0.1})], [], current)
    with pytest.raises(ValueError, match="current"):
        strategy.aggregate_fit(1, results, [], None)


def test_deadline_fednova_in_a_run_equals_deadline_fedavg_when_nobody_is_late(client_fn, initial_parameters):
    speeds = np.full(NUM_CLIENTS, 1000.0)  # everyone does all 6 steps well before the deadline
    config = {"batch_size": 4, "local_epochs": 3}
    runs = [run_simulation(make_timed(client_fn, speeds), NUM_CLIENTS, 2,
                           cls(deadline=5.0, policy="partial", fraction_evaluate=0.0,
                               on_fit_config_fn=lambda r: config),
                           initial_parameters, progress=False)[0] for cls in (DeadlineFedAvg, DeadlineFedNova)]

    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(*runs))


def test_deadline_fednova_in_a_run_differs_from_fedavg_when_a_client_does_partial_work(client_fn, initial_parameters):
    speeds = np.array([2.0, 100.0, 100.0, 100.0])  # client 0 does 2 of its 6 steps, as in the deadline test above
    config = {"batch_size": 4, "local_epochs": 3}
    runs = [run_simulation(make_timed(client_fn, speeds), NUM_CLIENTS, 1,
                           cls(deadline=5.0, policy="partial", fraction_evaluate=0.0,
                               on_fit_config_fn=lambda r: config),
                           initial_parameters, progress=False)[0] for cls in (DeadlineFedAvg, DeadlineFedNova)]

    assert not all(np.allclose(a, b) for a, b in zip(*runs))


# --- PoisonedClient ---------------------------------------------------------------------------


class ShiftClient(StubClient):
    """Honest stub whose ``fit`` adds 1 to every parameter: its update is all ones."""

    def fit(self, parameters, config):
        return [p + 1 for p in parameters], 5, {"train_loss": 0.0}


def test_poisoned_client_sends_global_plus_scale_times_its_update():
    from course_utils.faults import PoisonedClient

    global_parameters = [np.array([2.0, -1.0], dtype=np.float32), np.array([[0.5]], dtype=np.float32)]
    sent, num_examples, metrics = PoisonedClient(ShiftClient(0), scale=-10.0).fit(global_parameters, {})

    np.testing.assert_allclose(sent[0], [2.0 - 10.0, -1.0 - 10.0])
    np.testing.assert_allclose(sent[1], [[0.5 - 10.0]])
    assert [a.dtype for a in sent] == [np.float32, np.float32]
    assert num_examples == 5 and metrics == {"train_loss": 0.0}


def test_poisoned_client_with_scale_one_is_honest(client_fn, initial_parameters):
    from course_utils.faults import PoisonedClient

    honest = client_fn(1).fit(initial_parameters, {"server_round": 1})
    poisoned = PoisonedClient(client_fn(1), scale=1.0).fit(initial_parameters, {"server_round": 1})

    for a, b in zip(honest[0], poisoned[0]):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert honest[1] == poisoned[1]


def test_poisoned_client_passes_evaluate_and_identity_through():
    from course_utils.faults import PoisonedClient

    client = PoisonedClient(StubClient(3))

    assert client.cid == 3 and client.scale == -10.0
    assert client.evaluate([np.zeros(1)], {}) == (0.5, 5, {"accuracy": 1.0})


def test_make_poisoned_poisons_only_the_bad_cids():
    from course_utils.faults import PoisonedClient, make_poisoned

    poisoned_fn = make_poisoned(ShiftClient, bad_cids=[1, 3], scale=-2.0)

    assert [isinstance(poisoned_fn(cid), PoisonedClient) for cid in range(4)] == [False, True, False, True]
    assert poisoned_fn(0).fit([np.zeros(2)], {})[0][0].tolist() == [1.0, 1.0]
    assert poisoned_fn(1).fit([np.zeros(2)], {})[0][0].tolist() == [-2.0, -2.0]


def test_a_poisoned_client_drags_fedavg_but_not_the_median(client_fn, initial_parameters):
    from course_utils.faults import make_poisoned
    from course_utils.strategy import FedMedian

    poisoned_fn = make_poisoned(client_fn, bad_cids=[0], scale=-100.0)
    honest_fedavg = run_simulation(client_fn, NUM_CLIENTS, 1, FedAvg(fraction_evaluate=0.0), initial_parameters,
                                   progress=False)[0]
    drifts = {}
    for name, strategy in [("fedavg", FedAvg(fraction_evaluate=0.0)), ("median", FedMedian(fraction_evaluate=0.0))]:
        parameters = run_simulation(poisoned_fn, NUM_CLIENTS, 1, strategy, initial_parameters, progress=False)[0]
        drifts[name] = max(float(np.abs(p - h).max()) for p, h in zip(parameters, honest_fedavg))

    assert drifts["fedavg"] > 10 * drifts["median"]


@pytest.mark.parametrize("scale", [float("nan"), float("inf")])
def test_poisoned_client_and_make_poisoned_reject_a_scale_that_is_not_finite(scale):
    from course_utils.faults import PoisonedClient, make_poisoned

    with pytest.raises(ValueError, match="scale"):
        PoisonedClient(StubClient(0), scale)
    with pytest.raises(ValueError, match="scale"):
        make_poisoned(lambda cid: StubClient(cid), [0], scale)


# --- bad input, caught when the wrapper is made ---------------------------------------------------

from course_utils.faults import ClientWrapper, PoisonedClient, make_poisoned  # noqa: E402

NAN, INF = float("nan"), float("inf")


def stub_fn(cid):
    return StubClient(cid)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: UnreliableClient(StubClient(0), 1.5), "failure_rate"),
        (lambda: UnreliableClient(StubClient(0), NAN), "failure_rate"),
        (lambda: UnreliableClient(StubClient(0), True), "failure_rate"),
        (lambda: UnreliableClient(StubClient(0), 0.2, seed=-1), "seed"),
        (lambda: UnreliableClient("client 0", 0.2), "client"),
        (lambda: make_unreliable(stub_fn, "0.2"), "failure_rate"),
        (lambda: make_unreliable(stub_fn, 0.2, seed=1.5), "seed"),
        (lambda: make_unreliable([StubClient(0)], 0.2), "client_fn"),
        (lambda: client_speeds(0), "num_clients"),
        (lambda: client_speeds(10.0), "num_clients"),
        (lambda: client_speeds(True), "num_clients"),
        (lambda: client_speeds(10, median=0.0), "median"),
        (lambda: client_speeds(10, median=INF), "median"),
        (lambda: client_speeds(10, spread=-1.0), "spread"),
        (lambda: client_speeds(10, spread=NAN), "spread"),
        (lambda: client_speeds(10, seed="0"), "seed"),
        (lambda: TimedClient(StubClient(0), 0.0), "speed"),
        (lambda: TimedClient(StubClient(0), NAN), "speed"),
        (lambda: TimedClient(StubClient(0), True), "speed"),
        (lambda: make_timed(stub_fn, np.array([100.0, -1.0])), "speeds"),
        (lambda: make_timed(stub_fn, np.array([[100.0]])), "speeds"),
        (lambda: make_timed(stub_fn, np.array([])), "speeds"),
        (lambda: make_timed(stub_fn, np.array([100.0, NAN])), "speeds"),
        (lambda: make_timed(stub_fn, [100.0])(1), "cid"),
        (lambda: PoisonedClient(StubClient(0), INF), "scale"),
        (lambda: PoisonedClient(StubClient(0), True), "scale"),
        (lambda: make_poisoned(stub_fn, [0], scale="-10"), "scale"),
        (lambda: make_poisoned(stub_fn, 0), "bad_cids"),
        (lambda: make_poisoned(stub_fn, [0, -2]), "bad_cids"),
        (lambda: make_poisoned(stub_fn, [True]), "bad_cids"),
    ],
)
def test_bad_fault_arguments_are_refused_naming_the_argument(make, argument):
    with pytest.raises((TypeError, ValueError), match=argument):
        make()


@pytest.mark.parametrize("wrapper", [lambda c: UnreliableClient(c, 0.0), lambda c: TimedClient(c, 100.0),
                                     lambda c: PoisonedClient(c, 1.0)])
def test_every_fault_wrapper_is_a_client_wrapper_with_the_clients_id_and_data(wrapper):
    client = StubClient(3)
    wrapped = wrapper(client)

    assert isinstance(wrapped, ClientWrapper)
    assert (wrapped.cid, wrapped.train_data, wrapped.test_data) == (3, client.train_data, None)
    assert wrapped.evaluate([np.zeros(1)], {}) == client.evaluate([np.zeros(1)], {})
