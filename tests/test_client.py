import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils.client import Client, client_seed, make_client_fn, split_local
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid


@pytest.fixture
def client(feature_data, logistic_fn):
    return Client(3, logistic_fn, train_data=feature_data, test_data=feature_data, seed=0)


@pytest.fixture
def global_parameters(logistic_fn):
    return get_parameters(logistic_fn())


def assert_same_parameters(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_fit_returns_parameters_num_examples_and_train_loss(client, global_parameters):
    parameters, num_examples, metrics = client.fit(global_parameters, {"server_round": 1})

    assert isinstance(parameters, list)
    assert [p.shape for p in parameters] == [p.shape for p in global_parameters]
    assert all(isinstance(p, np.ndarray) and p.dtype == np.float32 for p in parameters)
    assert num_examples == len(client.train_data) == 40
    assert set(metrics) == {"train_loss"}
    assert metrics["train_loss"] > 0


def test_fit_changes_the_parameters_but_not_the_input_list(client, global_parameters):
    before = [p.copy() for p in global_parameters]

    parameters, _, _ = client.fit(global_parameters, {"server_round": 1})

    assert_same_parameters(global_parameters, before)
    assert not np.array_equal(parameters[0], global_parameters[0])


def test_fit_is_deterministic_for_the_same_server_round(client, global_parameters):
    first, _, _ = client.fit(global_parameters, {"server_round": 2, "batch_size": 8})
    second, _, _ = client.fit(global_parameters, {"server_round": 2, "batch_size": 8})

    assert_same_parameters(first, second)


def test_fit_differs_between_server_rounds(client, global_parameters):
    first, _, _ = client.fit(global_parameters, {"server_round": 1, "batch_size": 8})
    second, _, _ = client.fit(global_parameters, {"server_round": 2, "batch_size": 8})

    assert not np.array_equal(first[0], second[0])


def test_fit_does_not_depend_on_the_model_fn_initial_weights(feature_data, global_parameters):
    client_a = Client(0, lambda: make_model("logistic", (4,), 2, seed=1), feature_data)
    client_b = Client(0, lambda: make_model("logistic", (4,), 2, seed=2), feature_data)

    first, _, _ = client_a.fit(global_parameters, {"server_round": 1})
    second, _, _ = client_b.fit(global_parameters, {"server_round": 1})

    assert_same_parameters(first, second)


def test_fit_local_steps_takes_precedence_over_local_epochs(client, global_parameters):
    # One small step moves the weights less than 10 epochs would.
    one_step, _, _ = client.fit(global_parameters, {"local_steps": 1, "local_epochs": 10, "learning_rate": 1e-3})
    many_epochs, _, _ = client.fit(global_parameters, {"local_epochs": 10, "learning_rate": 1e-3})

    assert np.abs(one_step[0] - global_parameters[0]).max() < np.abs(many_epochs[0] - global_parameters[0]).max()


def test_fit_seed_in_the_config_changes_the_shuffles_and_repeats_them(client, global_parameters):
    first = client.fit(global_parameters, {"server_round": 1, "seed": 5})[0]
    again = client.fit(global_parameters, {"server_round": 1, "seed": 5})[0]
    other = client.fit(global_parameters, {"server_round": 1, "seed": 6})[0]

    assert_same_parameters(first, again)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_fit_without_a_seed_in_the_config_uses_the_clients_own_seed(client, global_parameters):
    assert_same_parameters(client.fit(global_parameters, {"server_round": 2})[0],
                           client.fit(global_parameters, {"server_round": 2, "seed": client.seed})[0])


@pytest.mark.parametrize("config, message", [
    ({"lr": 0.5}, r"unknown key\(s\) \['lr'\]; allowed keys: \['local_epochs'"),
    ({"learning_rate": -1}, r"config\['learning_rate'\] must be a finite number > 0"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"batch_size": 1.7}, r"config\['batch_size'\] must be a positive integer, got 1.7"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": True}, "batch_size"),
    ({"local_epochs": 0}, "local_epochs"),
    ({"local_epochs": 2.5}, "local_epochs"),
    ({"local_steps": -3}, "local_steps"),
    ({"proximal_mu": -0.1}, "proximal_mu"),
    ({"proximal_mu": float("inf")}, "proximal_mu"),
    ({"server_round": -1}, "server_round"),
    ({"seed": 0.5}, "seed"),
])
def test_fit_refuses_bad_config_naming_the_key(client, global_parameters, config, message):
    with pytest.raises(ValueError, match=message):
        client.fit(global_parameters, config)


def test_fit_accepts_integral_floats_and_numpy_integers(client, global_parameters):
    client.fit(global_parameters, {"batch_size": np.int64(8), "local_epochs": 1.0, "server_round": 1})


def test_evaluate_refuses_unknown_config_keys(client, global_parameters):
    with pytest.raises(ValueError, match="unknown key"):
        client.evaluate(global_parameters, {"batch_size": 4})


def test_evaluate_returns_loss_num_test_examples_and_accuracy(client, global_parameters):
    loss, num_examples, metrics = client.evaluate(global_parameters, {})

    assert loss > 0
    assert num_examples == 40
    assert set(metrics) == {"accuracy"}
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_evaluate_after_fit_is_better(client, global_parameters):
    trained, _, _ = client.fit(global_parameters, {"local_epochs": 5, "server_round": 1})

    loss_before, _, _ = client.evaluate(global_parameters, {})
    loss_after, _, metrics_after = client.evaluate(trained, {})

    assert loss_after < loss_before
    assert metrics_after["accuracy"] == 1.0


def test_client_seed_differs_for_every_argument():
    seeds = {client_seed(0, 0, 0), client_seed(1, 0, 0), client_seed(0, 1, 0), client_seed(0, 0, 1),
             client_seed(0, 0, 0, purpose=1)}

    assert len(seeds) == 5
    assert client_seed(4, 5, 6) == client_seed(4, 5, 6)


def test_split_local_gives_disjoint_train_and_test_covering_the_indices():
    indices = np.arange(100, 120)

    train_idx, test_idx = split_local(indices, test_fraction=0.25, seed=0)

    assert train_idx.size == 15 and test_idx.size == 5
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_idx, test_idx])), indices)


def test_split_local_keeps_a_single_example_for_training():
    train_idx, test_idx = split_local(np.array([7]), test_fraction=0.5, seed=0)

    assert train_idx.tolist() == [7]
    assert test_idx.size == 0


def indexed_data(num_examples=40):
    """A dataset whose feature 0 is the example's index, so a client's examples can be identified."""
    x = torch.zeros(num_examples, 4)
    x[:, 0] = torch.arange(num_examples)
    return TensorDataset(x, torch.arange(num_examples) % 2)


def example_indices(dataset):
    return sorted(dataset.tensors[0][:, 0].long().tolist())


def test_make_client_fn_splits_each_partition_into_disjoint_local_train_and_test(logistic_fn):
    data = indexed_data()
    partitions = iid(len(data), 4, seed=0)
    client_fn = make_client_fn(data, partitions, logistic_fn, test_fraction=0.2, seed=0)

    for cid, part in enumerate(partitions):
        client = client_fn(cid)
        train_idx, test_idx = example_indices(client.train_data), example_indices(client.test_data)
        assert client.cid == cid
        assert len(train_idx) == 8 and len(test_idx) == 2
        assert set(train_idx).isdisjoint(test_idx)
        assert sorted(train_idx + test_idx) == part.tolist()


def test_make_client_fn_is_stable_across_calls(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 4, seed=0), logistic_fn, seed=0)

    first, second = client_fn(2), client_fn(2)

    assert torch.equal(first.train_data.tensors[0], second.train_data.tensors[0])
    assert torch.equal(first.test_data.tensors[0], second.test_data.tensors[0])


def test_make_client_fn_gives_no_test_data_to_a_single_example_client(feature_data, logistic_fn):
    partitions = [np.array([0]), np.arange(1, 40)]
    client_fn = make_client_fn(feature_data, partitions, logistic_fn)

    assert client_fn(0).test_data is None
    assert len(client_fn(0).train_data) == 1


# --- bad input -------------------------------------------------------------------------------


def test_client_rejects_empty_train_data(logistic_fn):
    empty = TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))

    with pytest.raises(ValueError, match="train_data"):
        Client(0, logistic_fn, train_data=empty)


def test_evaluate_without_test_data_is_rejected(feature_data, logistic_fn, global_parameters):
    client = Client(0, logistic_fn, train_data=feature_data)

    with pytest.raises(ValueError, match="test_data"):
        client.evaluate(global_parameters, {})


def test_make_client_fn_rejects_an_empty_partition(feature_data, logistic_fn):
    partitions = [np.arange(20), np.array([], dtype=np.int64), np.arange(20, 40)]

    with pytest.raises(ValueError, match=r"partitions\[1\]"):
        make_client_fn(feature_data, partitions, logistic_fn)


@pytest.mark.parametrize("cid", [-1, 4])
def test_client_fn_rejects_unknown_cid(cid, feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 4, seed=0), logistic_fn)

    with pytest.raises(ValueError, match="cid"):
        client_fn(cid)


@pytest.mark.parametrize("test_fraction", [-0.1, 1.0])
def test_split_local_rejects_test_fraction_outside_unit_interval(test_fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        split_local(np.arange(10), test_fraction=test_fraction, seed=0)


# --- FedProx: config["proximal_mu"] ----------------------------------------------------------


def test_fit_with_proximal_mu_moves_the_weights_less(client, global_parameters):
    # lr * mu = 0.01 * 100 = 1 keeps plain SGD on the proximal term stable (lr * mu >= 2 diverges).
    config = {"server_round": 1, "local_epochs": 3, "batch_size": 8, "learning_rate": 0.01}

    plain, _, _ = client.fit(global_parameters, config)
    prox, _, _ = client.fit(global_parameters, {**config, "proximal_mu": 100.0})

    def moved(parameters):
        return np.sqrt(sum(((p - g) ** 2).sum() for p, g in zip(parameters, global_parameters)))

    assert 0 < moved(prox) < 0.5 * moved(plain)


def test_fit_with_proximal_mu_zero_is_plain_fit(client, global_parameters):
    plain, _, plain_metrics = client.fit(global_parameters, {"server_round": 1})
    prox, _, prox_metrics = client.fit(global_parameters, {"server_round": 1, "proximal_mu": 0.0})

    assert_same_parameters(plain, prox)
    assert plain_metrics == prox_metrics
