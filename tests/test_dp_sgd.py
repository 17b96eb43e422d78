"""Tests for course_utils.dp_sgd: DP-SGD inside a client, with Opacus, and its record-level epsilon."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
import torch
from opacus.accountants import RDPAccountant
from torch.utils.data import TensorDataset

from course_utils.dp_sgd import (
    ClippedNoisyClient,
    DPSGDClient,
    make_dp_sgd_client_fn,
    noise_multiplier_for_record_epsilon,
    record_epsilon,
    sample_rate,
    spent_epsilon,
    train_dp_sgd,
)
from course_utils.models import get_parameters, make_model
from course_utils.privacy import dp_fedavg_epsilon
from course_utils.training import train


def _data(n: int = 48, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, (x[:, 0] + 0.5 * x[:, 1] > 0).long())


def _model(kind: str = "logistic", seed: int = 0) -> torch.nn.Module:
    return make_model(kind, (6,), 2, seed=seed)


def _flat(model: torch.nn.Module) -> np.ndarray:
    return np.concatenate([p.ravel() for p in get_parameters(model)]).astype(np.float64)


def test_the_same_seed_repeats_and_another_seed_differs():
    runs = {}
    for seed in (3, 3, 4):
        model = _model("mlp")
        train_dp_sgd(model, _data(), noise_multiplier=1.0, max_grad_norm=1.0, epochs=2, seed=seed)
        runs.setdefault(seed, []).append(_flat(model))
    np.testing.assert_array_equal(runs[3][0], runs[3][1])
    assert not np.allclose(runs[3][0], runs[4][0])


def test_no_noise_and_a_huge_clip_is_plain_sgd_on_a_logistic_model():
    # Full batches, so that the order of the records cannot matter: Opacus's DataLoader draws its
    # batches differently from training.train's shuffle. Per-sample gradients clipped at 1e6 are not
    # clipped, and their sum divided by the batch size is the mean gradient that plain SGD takes.
    data, private, plain = _data(48), _model(), _model()
    train_dp_sgd(private, data, noise_multiplier=0.0, max_grad_norm=1e6, epochs=5, batch_size=48, lr=0.5,
                 poisson_sampling=False)
    train(plain, data, epochs=5, batch_size=48, lr=0.5)
    np.testing.assert_allclose(_flat(private), _flat(plain), rtol=0, atol=1e-6)
    assert not np.allclose(_flat(plain), _flat(_model()))  # both trained


def test_one_record_moves_a_step_by_at_most_twice_the_clip_over_the_batch():
    # The attack DP-SGD must resist: one record with huge features (an outlier patient) swapped in.
    data = _data(32)
    x, y = data.tensors
    x_bad = x.clone()
    x_bad[0] = 1e4
    clip, starts = 0.01, _flat(_model())
    moved = []
    for d in (data, TensorDataset(x_bad, y)):
        model = _model()
        train_dp_sgd(model, d, noise_multiplier=0.0, max_grad_norm=clip, epochs=1, batch_size=32, lr=1.0,
                     poisson_sampling=False)
        moved.append(_flat(model) - starts)
    assert np.linalg.norm(moved[0]) <= clip + 1e-7  # the mean of clipped gradients is no longer than the clip
    assert np.linalg.norm(moved[1] - moved[0]) <= 2 * clip / 32 + 1e-7


def test_the_caller_model_keeps_no_opacus_hooks():
    model = _model("mlp")
    train_dp_sgd(model, _data(), noise_multiplier=1.0, max_grad_norm=1.0)
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert not any(hasattr(p, "grad_sample") for p in model.parameters())
    train(model, _data(), epochs=1)  # and plain training still works on it


def test_epsilon_grows_with_rounds_and_matches_the_accountant_of_all_steps():
    data = _data(40)
    client = DPSGDClient(0, lambda: _model("mlp"), data, noise_multiplier=1.5, max_grad_norm=1.0, delta=1e-5)
    parameters, epsilons = get_parameters(_model("mlp")), []
    for server_round in (1, 2, 3):
        parameters, num_examples, metrics = client.fit(parameters, {"server_round": server_round, "batch_size": 16})
        epsilons.append(metrics["epsilon"])
        assert num_examples == 40 and metrics["steps"] == 3
    assert epsilons[0] < epsilons[1] < epsilons[2]
    assert epsilons[2] == pytest.approx(record_epsilon(1.5, sample_rate(40, 16), 9, 1e-5), rel=1e-9)
    assert spent_epsilon(client.ledger, 1e-5) == pytest.approx(client.ledger.get_epsilon(1e-5), rel=1e-12)


def test_client_fn_keeps_one_ledger_per_client_and_the_plain_clients_data():
    data = _data(60)
    parts = [np.arange(0, 30), np.arange(30, 60)]
    client_fn = make_dp_sgd_client_fn(data, parts, lambda: _model(), noise_multiplier=1.0, max_grad_norm=1.0,
                                      delta=1e-5, test_fraction=0.2, seed=1)
    first, again, other = client_fn(0), client_fn(0), client_fn(1)
    assert first.ledger is again.ledger and first.ledger is not other.ledger
    assert torch.equal(first.train_data.tensors[0], again.train_data.tensors[0]) and len(first.train_data) == 24
    first.fit(get_parameters(_model()), {"server_round": 1})
    assert client_fn.ledgers[0].history == [(1.0, 0.5, 2)] and client_fn.ledgers[1].history == []


def test_opacus_epsilon_agrees_with_the_course_accountant_and_pld_is_tighter():
    z, q, steps, delta = 1.1, 0.25, 80, 1e-5
    opacus_eps = record_epsilon(z, q, steps, delta)
    course_eps = dp_fedavg_epsilon(z, q, steps, delta)  # dp_accounting's RDP accountant, same Poisson Gaussian
    assert opacus_eps == pytest.approx(course_eps, rel=0.02)  # different RDP orders only
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), steps)
    pld = dp_accounting.pld.PLDAccountant().compose(event).get_epsilon(delta)
    assert 0.6 * opacus_eps < pld <= opacus_eps


def test_noise_multiplier_for_record_epsilon_reaches_the_target():
    q, steps = sample_rate(160, 16), 100  # a small q: Opacus's search is quick there
    z = noise_multiplier_for_record_epsilon(2.0, q, steps, 1e-5)
    assert record_epsilon(z, q, steps, 1e-5) == pytest.approx(2.0, abs=0.01)
    assert noise_multiplier_for_record_epsilon(4.0, q, steps, 1e-5) < z


def test_no_noise_spends_an_infinite_budget():
    assert record_epsilon(0.0, 0.5, 10, 1e-5) == math.inf
    client = DPSGDClient(0, lambda: _model(), _data(), noise_multiplier=0.0, max_grad_norm=1.0, delta=1e-5)
    assert client.fit(get_parameters(_model()), {})[2]["epsilon"] == math.inf
    assert spent_epsilon(RDPAccountant(), 1e-5) == 0.0


def test_sample_rate_is_opacus_one_over_the_number_of_batches():
    assert sample_rate(22, 16) == 0.5 and sample_rate(32, 16) == 0.5 and sample_rate(33, 16) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"noise_multiplier": -1.0}, ValueError, "noise_multiplier"),
        ({"max_grad_norm": 0.0}, ValueError, "max_grad_norm"),
        ({"max_grad_norm": "big"}, TypeError, "max_grad_norm"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"lr": 0}, ValueError, "lr"),
        ({"seed": -1}, ValueError, "seed"),
        ({"ledger": "mine"}, TypeError, "ledger"),
    ],
)
def test_train_dp_sgd_refuses_bad_arguments(kwargs, error, words):
    arguments = {"noise_multiplier": 1.0, "max_grad_norm": 1.0, **kwargs}
    with pytest.raises(error, match=words):
        train_dp_sgd(_model(), _data(), **arguments)


def test_bad_client_arguments_and_config_raise_clear_errors():
    with pytest.raises(ValueError, match="delta"):
        DPSGDClient(0, lambda: _model(), _data(), noise_multiplier=1.0, max_grad_norm=1.0, delta=1.5)
    with pytest.raises(ValueError, match="noise_multiplier"):
        make_dp_sgd_client_fn(_data(), [np.arange(10)], lambda: _model(), noise_multiplier=-2, max_grad_norm=1.0,
                              delta=1e-5)
    client = DPSGDClient(0, lambda: _model(), _data(), noise_multiplier=1.0, max_grad_norm=1.0, delta=1e-5)
    with pytest.raises(ValueError, match="local_steps"):
        client.fit(get_parameters(_model()), {"local_steps": 3})
    with pytest.raises(ValueError, match="target_epsilon"):
        noise_multiplier_for_record_epsilon(0.0, 0.5, 10, 1e-5)
    with pytest.raises(ValueError, match="sample_rate"):
        record_epsilon(1.0, 1.5, 10, 1e-5)
    with pytest.raises(TypeError, match="model"):
        train_dp_sgd("a model", _data(), noise_multiplier=1.0, max_grad_norm=1.0)


class _Fixed:
    """A client whose update is always ``step`` (to check the wrapper's arithmetic by hand)."""

    cid, train_data, test_data = 2, None, None

    def __init__(self, step: float) -> None:
        self.step = step

    def fit(self, parameters, config):
        return [p + self.step for p in parameters], 50, {"train_loss": 0.5}


def test_clipped_noisy_client_clips_weighs_one_and_adds_its_noise_share():
    parameters = [np.zeros(3, np.float32), np.zeros((2, 2), np.float32)]
    quiet = ClippedNoisyClient(_Fixed(1.0), clip_norm=0.5, noise_std=0.0)
    sent, num_examples, metrics = quiet.fit(parameters, {"server_round": 1})
    update = np.concatenate([s.ravel() for s in sent])
    assert num_examples == 1 and metrics == {"train_loss": 0.5}
    np.testing.assert_allclose(update, np.full(7, 0.5 / np.sqrt(7)), rtol=1e-6)  # clipped, direction kept
    noisy = ClippedNoisyClient(_Fixed(0.0), clip_norm=0.5, noise_std=0.1, seed=4)
    draws = [np.concatenate([s.ravel() for s in noisy.fit(parameters, {"server_round": r, "seed": 1})[0]])
             for r in (1, 1, 2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.allclose(draws[0], draws[2])
    many = np.concatenate([np.concatenate([s.ravel() for s in noisy.fit(parameters, {"server_round": r})[0]])
                           for r in range(300)])
    assert many.std() == pytest.approx(0.1, rel=0.05)


def test_a_poisoned_update_inside_the_bound_moves_the_average_by_at_most_the_bound():
    # The attacker's boosted update, clipped as a verified bound forces it to be.
    big = ClippedNoisyClient(_Fixed(-1e3), clip_norm=0.5, noise_std=0.0)
    sent = big.fit([np.zeros(4, np.float32)], {})[0][0]
    assert np.linalg.norm(sent) == pytest.approx(0.5, rel=1e-6)


def test_clipped_noisy_client_refuses_bad_arguments():
    with pytest.raises(ValueError, match="clip_norm"):
        ClippedNoisyClient(_Fixed(1.0), clip_norm=0, noise_std=0.1)
    with pytest.raises(ValueError, match="noise_std"):
        ClippedNoisyClient(_Fixed(1.0), clip_norm=1.0, noise_std=-0.1)
    with pytest.raises(TypeError, match="client"):
        ClippedNoisyClient("not a client", clip_norm=1.0, noise_std=0.1)
