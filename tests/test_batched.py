"""The batched path trains clients together and must agree with the sequential one, its reference."""

import numpy as np
import pytest
import torch
from conftest import make_image_data
from torch.utils.data import TensorDataset

import course_utils.simulation as simulation
from course_utils.batched import BATCHED_MIN_CLIENTS, batch_plan, batchable_reason, fit_batched, split_batchable
from course_utils.client import Client, make_client_fn
from course_utils.evaluation import make_evaluate_fn
from course_utils.faults import make_unreliable
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid, quantity_skew
from course_utils.simulation import run_simulation
from course_utils.strategy import FedAvg, FedProx
from course_utils.training import batches

TOLERANCE = 1e-5


def image_model(name="cnn"):
    return make_model(name, (1, 8, 8), 4, seed=0)


@pytest.fixture(scope="module")
def images():
    return make_image_data(num_examples=400)


def unequal_clients(data, sizes, model_fn):
    """Clients holding ``sizes`` examples each (consecutive slices of ``data``), sharing one model object."""
    workspace = model_fn()
    bounds = np.cumsum([0, *sizes])
    return [Client(cid, lambda: workspace, TensorDataset(*(t[bounds[cid]:bounds[cid + 1]] for t in data.tensors)))
            for cid in range(len(sizes))]


def assert_parameters_close(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=0)


def test_batch_plan_draws_the_batches_that_train_draws():
    generator = torch.Generator().manual_seed(11)
    data = TensorDataset(torch.arange(23).float(), torch.arange(23))
    expected = [y.numpy() for _ in range(2) for _, y in batches(data, 5, generator)]
    plan = batch_plan(23, 10, 5, seed=11)
    assert [len(b) for b in plan] == [5, 5, 5, 5, 3, 5, 5, 5, 5, 3]
    for got, want in zip(plan, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("model_name", ["cnn", "mlp", "logistic"])
@pytest.mark.parametrize("config", [
    {"batch_size": 8, "learning_rate": 0.1},
    {"batch_size": 8, "learning_rate": 0.1, "local_epochs": 2, "proximal_mu": 0.5},
    {"batch_size": 16, "learning_rate": 0.05, "local_steps": 7},
])
def test_fit_batched_equals_each_clients_fit(images, model_name, config):
    # unequal clients, one with fewer examples than a batch, one with a single example
    clients = unequal_clients(images, [1, 3, 8, 9, 40, 17], lambda: image_model(model_name))
    start = get_parameters(image_model(model_name))
    config = {**config, "seed": 4, "server_round": 2}
    batched = fit_batched(clients, start, config)
    for client, (parameters, num_examples, metrics) in zip(clients, batched):
        expected_parameters, expected_examples, expected_metrics = client.fit(start, config)
        assert num_examples == expected_examples
        assert_parameters_close(parameters, expected_parameters)
        assert metrics["train_loss"] == pytest.approx(expected_metrics["train_loss"], abs=TOLERANCE)
        assert not all(np.array_equal(a, b) for a, b in zip(parameters, start))  # it did train


def test_fit_batched_keeps_clients_apart(images):
    # a client whose inputs are NaN ruins only its own parameters
    clients = unequal_clients(images, [10, 10, 10], image_model)
    poisoned = clients[1].train_data.tensors[0].clone().fill_(float("nan"))
    clients[1] = Client(1, clients[1].model_fn, TensorDataset(poisoned, clients[1].train_data.tensors[1]))
    start = get_parameters(image_model())
    out = fit_batched(clients, start, {"batch_size": 4})
    assert not np.isfinite(out[1][0][0]).all()
    for k in (0, 2):
        assert_parameters_close(out[k][0], clients[k].fit(start, {"batch_size": 4})[0])


def population(data, num_clients, model_name="cnn", skew=False, seed=0):
    split = quantity_skew(len(data), num_clients, alpha=1.0, seed=seed) if skew else iid(len(data), num_clients, seed)
    model_fn = lambda: image_model(model_name)  # noqa: E731
    return make_client_fn(data, split, model_fn, test_fraction=0.2, seed=seed), model_fn


def assert_histories_close(first, second):
    for name in ("losses_centralized", "losses_distributed"):
        a, b = getattr(first, name), getattr(second, name)
        assert [r for r, _ in a] == [r for r, _ in b]
        np.testing.assert_allclose([v for _, v in a], [v for _, v in b], atol=TOLERANCE, rtol=0)
    for name in ("metrics_centralized", "metrics_distributed", "metrics_distributed_fit"):
        a, b = getattr(first, name), getattr(second, name)
        assert sorted(a) == sorted(b)
        for metric in a:
            np.testing.assert_allclose([v for _, v in a[metric]], [v for _, v in b[metric]], atol=TOLERANCE, rtol=0)
    assert first.failures == second.failures and first.skipped_rounds == second.skipped_rounds


@pytest.mark.parametrize("strategy_class", [FedAvg, FedProx])
@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("skew", [False, True])
def test_both_paths_give_the_same_run(images, strategy_class, seed, skew):
    client_fn, model_fn = population(images, 40, skew=skew, seed=seed)
    runs = []
    for batched in (False, True):
        strategy = strategy_class(fraction_fit=0.9, fraction_evaluate=0.25,
                                  evaluate_fn=make_evaluate_fn(model_fn, images),
                                  on_fit_config_fn=lambda r: {"batch_size": 8, "learning_rate": 0.1})
        runs.append(run_simulation(client_fn, 40, 3, strategy, get_parameters(model_fn()), seed=seed, progress=False,
                                   batched=batched))
    (sequential, sequential_history), (together, together_history) = runs
    assert_parameters_close(sequential, together)
    assert_histories_close(sequential_history, together_history)


class CountingFit:
    """Stands in for ``fit_batched`` and counts the clients it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, clients, parameters, config):
        self.calls.append(len(clients))
        return fit_batched(clients, parameters, config)


@pytest.mark.parametrize("num_sampled, expect_batched", [(BATCHED_MIN_CLIENTS - 1, False), (BATCHED_MIN_CLIENTS, True)])
def test_auto_batches_only_large_rounds(images, monkeypatch, num_sampled, expect_batched):
    counting = CountingFit()
    monkeypatch.setattr(simulation, "fit_batched", counting)
    client_fn, model_fn = population(images, 80, model_name="mlp")
    strategy = FedAvg(fraction_fit=num_sampled / 80, min_fit_clients=num_sampled, fraction_evaluate=0)
    start = get_parameters(model_fn())
    auto = run_simulation(client_fn, 80, 2, strategy, start, seed=1, progress=False)[0]
    assert counting.calls == ([num_sampled] * 2 if expect_batched else [])
    sequential = run_simulation(client_fn, 80, 2, strategy, start, seed=1, progress=False, batched=False)[0]
    if expect_batched:
        assert_parameters_close(auto, sequential)
    else:  # below the threshold "auto" is the sequential path, bit for bit
        assert all(np.array_equal(a, b) for a, b in zip(auto, sequential))


def test_auto_trains_other_clients_one_by_one(images, monkeypatch):
    counting = CountingFit()
    monkeypatch.setattr(simulation, "fit_batched", counting)
    client_fn, model_fn = population(images, 80, model_name="mlp")
    unreliable = make_unreliable(client_fn, failure_rate=0.3, seed=0)
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0)
    _, history = run_simulation(unreliable, 80, 1, strategy, get_parameters(model_fn()), progress=False)
    assert counting.calls == []  # fault wrappers keep their own fit
    assert history.failures[1]  # and their dropouts still happen

    mixed = lambda cid: unreliable(cid) if cid < 5 else client_fn(cid)  # noqa: E731
    auto = run_simulation(mixed, 80, 1, strategy, get_parameters(model_fn()), progress=False)
    sequential = run_simulation(mixed, 80, 1, strategy, get_parameters(model_fn()), progress=False, batched=False)
    assert counting.calls == [75]
    assert_parameters_close(auto[0], sequential[0])
    assert auto[1].failures == sequential[1].failures


def test_batched_true_refuses_clients_it_cannot_batch(images):
    client_fn, model_fn = population(images, 4)
    unreliable = make_unreliable(client_fn, failure_rate=0.5, seed=0)
    strategy = FedAvg(fraction_evaluate=0)
    with pytest.raises(ValueError, match="batched=True, but client 0 cannot be trained on the batched path: it is a "
                                         "UnreliableClient"):
        run_simulation(unreliable, 4, 1, strategy, get_parameters(model_fn()), progress=False, batched=True)


def test_batched_records_a_diverged_client_as_a_failure(images):
    client_fn, model_fn = population(images, 4)
    nan_data = TensorDataset(torch.full((5, 1, 8, 8), float("nan")), torch.zeros(5, dtype=torch.int64))
    nan_inputs = lambda cid: Client(cid, client_fn(cid).model_fn, nan_data) if cid == 2 else client_fn(cid)  # noqa: E731
    strategy = FedAvg(fraction_evaluate=0)
    for batched in (True, False):
        _, history = run_simulation(nan_inputs, 4, 1, strategy, get_parameters(model_fn()), progress=False,
                                    batched=batched)
        message = "ValueError: client 2's update: parameters[0] contains NaN or infinite values"
        assert history.failures == {1: [(2, message)]}


def test_split_batchable_leaves_unfit_data_to_fit(images):
    clients = unequal_clients(images, [5, 5, 5], image_model)
    wrong_labels = TensorDataset(clients[1].train_data.tensors[0], torch.full((5,), 9, dtype=torch.int64))
    clients[1] = Client(1, clients[1].model_fn, wrong_labels)
    clients.append(Client(3, lambda: make_model("mlp", (1, 8, 8), 4), clients[0].train_data))
    together, apart = split_batchable(clients, strict=True)
    assert together == [0, 2]
    assert set(apart) == {1, 3} and "labels" in apart[1] and "model differs" in apart[3]


def test_batchable_reason_names_what_stands_in_the_way(images):
    class OwnClient(Client):
        pass

    class WithBuffer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(64)
            self.linear = torch.nn.Linear(64, 4)

        def forward(self, x):
            return self.linear(self.norm(x.flatten(1)))

    data = TensorDataset(images.tensors[0][:4], images.tensors[1][:4])
    assert batchable_reason(Client(0, image_model, data)) is None
    assert "OwnClient" in batchable_reason(OwnClient(0, image_model, data))
    assert "not one of the course's models" in batchable_reason(Client(0, WithBuffer, data))
    assert "buffers" in batchable_reason(Client(0, WithBuffer, data), strict=False)


@pytest.mark.parametrize("bad", ["yes", 1, None, "Auto"])
def test_batched_must_be_auto_true_or_false(client_fn, initial_parameters, bad):
    with pytest.raises(ValueError, match="batched must be 'auto', True or False"):
        run_simulation(client_fn, 4, 1, FedAvg(), initial_parameters, progress=False, batched=bad)


def test_fit_batched_refuses_what_it_cannot_batch(images):
    clients = unequal_clients(images, [5, 5], image_model)
    start = get_parameters(image_model())
    with pytest.raises(ValueError, match="clients must be a non-empty list"):
        fit_batched([], start, {})
    with pytest.raises(ValueError, match=r"clients\[1\] cannot be trained on the batched path: it is a Unreliable"):
        fit_batched([clients[0], make_unreliable(lambda cid: clients[cid], 0.5)(1)], start, {})
