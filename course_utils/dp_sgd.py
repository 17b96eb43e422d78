"""Differential privacy done by the clients: record-level DP-SGD with Opacus, and noise shares under secure aggregation.

``privacy.DPFedAvg`` protects a whole client (user-level DP: one hospital, one phone). Here the
unit protected is one *record* (one patient) of a client's data: each client trains with DP-SGD
(Abadi et al., 2016, "Deep Learning with Differential Privacy"), as implemented by Opacus
(Yousefpour et al., 2021), PyTorch's DP library. In every step of local training

- the mini-batch is a Poisson sample: each record joins independently with probability
  ``q = 1 / ceil(n / batch_size)`` (Opacus's ``sample_rate`` for a loader of that batch size);
- each record's gradient is clipped to L2 norm ``max_grad_norm`` (per-sample clipping);
- Gaussian noise of std ``noise_multiplier * max_grad_norm`` is added to their sum, which is then
  divided by the expected batch size ``q * n`` and applied as one SGD step.

Each client keeps a *ledger*, an Opacus RDP accountant, over every step it ever trained, and
reports the record-level epsilon spent so far (at the ``delta`` given) in its fit metrics.

:class:`ClippedNoisyClient` is the other privacy a client can do itself: it clips its whole update
and adds its share of the noise before the update is masked, so that under secure aggregation
the sum carries the noise of central DP-FedAvg although nobody saw a noiseless update
(*distributed DP*, Kairouz, Liu and Steinke, 2021, "The Distributed Discrete Gaussian Mechanism
for Federated Learning with Secure Aggregation", who use a discrete Gaussian; here, a continuous one).

Randomness: the sampling and the noise come from ``torch.Generator`` objects seeded from
(seed, client id, round), so the same seed repeats a run exactly. That is for lessons and tests
only: Opacus's ``secure_mode`` (off here) draws both from a cryptographic generator, as a
deployment must.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis import rdp as opacus_rdp
from opacus.accountants.utils import get_noise_multiplier
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.checks import check_dataset, check_integer, check_number, check_seed
from course_utils.client import Client, Config, Parameters, check_config, client_seed, make_client_fn
from course_utils.faults import ClientWrapper
from course_utils.models import get_parameters, set_parameters
from course_utils.privacy import add_noise, clip_update

DP_SGD_CONFIG_KEYS = ("local_epochs", "batch_size", "learning_rate", "server_round", "seed")
DP_SGD_DEFAULT_CONFIG: Config = {"local_epochs": 1, "batch_size": 16, "learning_rate": 0.1}


def _check_delta(delta: Any) -> float:
    return check_number("delta", delta, 0, 1, min_open=True, max_open=True,
                        hint=", typically much less than 1 / (number of records)")


def _check_dp_sgd(noise_multiplier: Any, max_grad_norm: Any) -> None:
    check_number("noise_multiplier", noise_multiplier, 0, hint=" (0 adds no noise)")
    check_number("max_grad_norm", max_grad_norm, 0, min_open=True, hint=" (each record's gradient is clipped to it)")


def sample_rate(num_examples: int, batch_size: int) -> float:
    """Opacus's Poisson sampling rate for ``num_examples`` records and batches of ``batch_size``:
    ``1 / ceil(n / b)``."""
    check_integer("num_examples", num_examples, 1)
    check_integer("batch_size", batch_size, 1)
    return 1 / math.ceil(num_examples / batch_size)


def record_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """The record-level epsilon of ``steps`` DP-SGD steps (Opacus's RDP accountant), at ``delta``.

    ``noise_multiplier = 0`` gives infinity: no noise, no privacy.
    """
    check_number("noise_multiplier", noise_multiplier, 0, hint=" (0 adds no noise)")
    check_number("sample_rate", sample_rate, 0, 1, min_open=True)
    check_integer("steps", steps, 1)
    _check_delta(delta)
    if noise_multiplier == 0:
        return math.inf
    ledger = RDPAccountant()
    ledger.history.append((float(noise_multiplier), float(sample_rate), int(steps)))
    return spent_epsilon(ledger, delta)


@functools.lru_cache(maxsize=1024)
def _rdp_of_one_step(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    """Opacus's RDP of one DP-SGD step at its default orders (a pure function: memoized, it is slow)."""
    return tuple(opacus_rdp.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1,
                                        orders=RDPAccountant.DEFAULT_ALPHAS))


def spent_epsilon(ledger: RDPAccountant, delta: float) -> float:
    """``ledger.get_epsilon(delta)``, the same number, without recomputing the RDP of a step for every call.

    The RDP of ``k`` identical steps is ``k`` times that of one (Mironov, 2017), so only one step
    per (noise multiplier, sample rate) is computed, once. An empty ledger has spent 0.
    """
    if not isinstance(ledger, RDPAccountant):
        raise TypeError(f"ledger must be an opacus RDPAccountant, got {type(ledger).__name__}")
    _check_delta(delta)
    if not ledger.history:
        return 0.0
    if any(z == 0 for z, _, _ in ledger.history):
        return math.inf
    rdp = sum(steps * np.asarray(_rdp_of_one_step(float(z), float(q))) for z, q, steps in ledger.history)
    with warnings.catch_warnings():  # with much noise the best order is Opacus's largest: a valid, slightly loose bound
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(opacus_rdp.get_privacy_spent(orders=RDPAccountant.DEFAULT_ALPHAS, rdp=rdp, delta=delta)[0])


def noise_multiplier_for_record_epsilon(target_epsilon: float, sample_rate: float, steps: int, delta: float) -> float:
    """The noise multiplier with which ``steps`` DP-SGD steps at ``sample_rate`` spend ``target_epsilon``
    (Opacus RDP)."""
    check_number("target_epsilon", target_epsilon, 0, min_open=True)
    check_number("sample_rate", sample_rate, 0, 1, min_open=True)
    check_integer("steps", steps, 1)
    _check_delta(delta)
    return _calibrated(float(target_epsilon), float(sample_rate), int(steps), float(delta))


@functools.lru_cache(maxsize=256)
def _calibrated(target_epsilon: float, sample_rate: float, steps: int, delta: float) -> float:
    """Opacus's ``get_noise_multiplier`` (RDP, to 0.001 in epsilon): a pure function, memoized, as its
    search is slow."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                          steps=steps, accountant="rdp", epsilon_tolerance=0.001))


def train_dp_sgd(
    model: nn.Module,
    data: TensorDataset,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 0.1,
    seed: int = 0,
    ledger: RDPAccountant | None = None,
    poisson_sampling: bool = True,
) -> dict[str, float]:
    """Train ``model`` in place with DP-SGD (Opacus's ``PrivacyEngine.make_private``), cross-entropy loss.

    ``epochs`` passes of ``ceil(n / batch_size)`` steps each over the ``n`` records of ``data``;
    each step clips every record's gradient to ``max_grad_norm``, adds noise of std
    ``noise_multiplier * max_grad_norm`` to the sum and divides by the expected batch size.
    ``ledger`` (an Opacus ``RDPAccountant``), if given, records every step, so that it holds the
    privacy spent over all calls. ``poisson_sampling=False`` keeps the shuffled fixed-size batches
    of ``training.train`` instead (for tests: the accountant's guarantee assumes Poisson sampling).
    Returns ``{"loss": mean training loss, "steps": number of steps}``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
    check_dataset(data)
    _check_dp_sgd(noise_multiplier, max_grad_norm)
    check_integer("epochs", epochs, 1)
    check_integer("batch_size", batch_size, 1)
    check_number("lr", lr, 0, min_open=True)
    check_seed(seed)
    if ledger is not None and not isinstance(ledger, RDPAccountant):
        raise TypeError(f"ledger must be an opacus RDPAccountant or None, got {type(ledger).__name__}")
    sampling, noise = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    private = copy.deepcopy(model)  # Opacus hooks into the module it wraps: keep them off the caller's model
    private.train()
    with warnings.catch_warnings():  # secure_mode is off on purpose (seeded lessons), see the module docstring
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")  # inputs need no gradient
        engine = PrivacyEngine(accountant="rdp")
        if ledger is not None:
            engine.accountant = ledger
        loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=sampling)
        module, optimizer, loader = engine.make_private(
            module=private, optimizer=torch.optim.SGD(private.parameters(), lr=lr), data_loader=loader,
            noise_multiplier=float(noise_multiplier), max_grad_norm=float(max_grad_norm),
            poisson_sampling=poisson_sampling, noise_generator=noise)
        loss_fn, total_loss, steps = nn.CrossEntropyLoss(), 0.0, 0
        for _ in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                if len(y):  # a Poisson batch can be empty: the step then adds noise only
                    loss = loss_fn(module(x), y)
                    loss.backward()
                    total_loss += loss.item()
                optimizer.step()
                steps += 1
        module.remove_hooks()
    model.load_state_dict(private.state_dict())
    return {"loss": total_loss / max(steps, 1), "steps": float(steps)}


class DPSGDClient(Client):
    """A :class:`~course_utils.client.Client` that trains with DP-SGD and reports its record-level epsilon.

    ``noise_multiplier`` and ``max_grad_norm`` as in :func:`train_dp_sgd`; ``ledger`` is the
    client's Opacus RDP accountant, kept across rounds (:func:`make_dp_sgd_client_fn` keeps one per
    client); ``delta`` is the delta at which ``fit`` reports the epsilon spent so far.
    """

    def __init__(self, cid: int, model_fn: Callable[[], nn.Module], train_data: TensorDataset,
                 test_data: TensorDataset | None = None, seed: int = 0, *, noise_multiplier: float,
                 max_grad_norm: float, delta: float, ledger: RDPAccountant | None = None) -> None:
        super().__init__(cid, model_fn, train_data, test_data, seed)
        _check_dp_sgd(noise_multiplier, max_grad_norm)
        self.noise_multiplier, self.max_grad_norm = float(noise_multiplier), float(max_grad_norm)
        self.delta = _check_delta(delta)
        self.ledger = RDPAccountant() if ledger is None else ledger

    def fit(self, parameters: Parameters, config: Config) -> tuple[Parameters, int, dict[str, float]]:
        """DP-SGD on local data; metrics: ``train_loss``, ``steps`` and ``epsilon`` (record-level, all rounds so far).

        ``config`` keys: ``DP_SGD_CONFIG_KEYS`` (no ``local_steps``: Opacus's sampling rate is set by
        the batch size, one pass is ``ceil(n / batch_size)`` steps; no ``proximal_mu``).
        """
        check_config(config, DP_SGD_CONFIG_KEYS)
        config = {**DP_SGD_DEFAULT_CONFIG, **config}
        model = self.model_fn()
        set_parameters(model, parameters)
        seed = client_seed(int(config.get("seed", self.seed)), self.cid, int(config.get("server_round", 0)), purpose=2)
        stats = train_dp_sgd(model, self.train_data, noise_multiplier=self.noise_multiplier,
                             max_grad_norm=self.max_grad_norm, epochs=int(config["local_epochs"]),
                             batch_size=int(config["batch_size"]), lr=float(config["learning_rate"]),
                             seed=seed, ledger=self.ledger)
        epsilon = spent_epsilon(self.ledger, self.delta)
        return get_parameters(model), len(self.train_data), {"train_loss": stats["loss"], "steps": stats["steps"],
                                                             "epsilon": epsilon}


def make_dp_sgd_client_fn(
    data: TensorDataset,
    partitions: list[np.ndarray],
    model_fn: Callable[[], nn.Module],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    delta: float,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Callable[[int], DPSGDClient]:
    """``make_client_fn``'s clients (same data, same local test sets), training with DP-SGD.

    The returned ``client_fn`` keeps one ledger per client (``client_fn.ledgers[cid]``), for as
    long as it lives: every round a client trains adds to the epsilon it reports. Use a new
    ``client_fn`` for a new run, since reusing the same data for another run spends more privacy.
    """
    _check_dp_sgd(noise_multiplier, max_grad_norm)
    _check_delta(delta)
    plain = make_client_fn(data, partitions, model_fn, test_fraction=test_fraction, seed=seed)
    ledgers: dict[int, RDPAccountant] = {}

    def client_fn(cid: int) -> DPSGDClient:
        base = plain(cid)
        return DPSGDClient(cid, base.model_fn, base.train_data, base.test_data, seed, noise_multiplier=noise_multiplier,
                           max_grad_norm=max_grad_norm, delta=delta, ledger=ledgers.setdefault(cid, RDPAccountant()))

    client_fn.ledgers = ledgers  # type: ignore[attr-defined]
    return client_fn


class ClippedNoisyClient(ClientWrapper):
    """``client``, its update clipped to ``clip_norm`` and given Gaussian noise of std ``noise_std`` before it leaves.

    ``fit`` returns ``parameters + clip(update) + noise`` with ``num_examples = 1``: every client
    weighs the same, as in DP-FedAvg, so that one client moves the average by at most
    ``clip_norm / m``. With ``m`` clients each adding ``noise_std = z * clip_norm / sqrt(m)``, the
    sum that secure aggregation reveals carries noise of std ``z * clip_norm``: central DP-FedAvg's
    with noise multiplier ``z`` (``privacy.dp_fedavg_epsilon``), as long as every client adds its
    share (one that does not lowers the noise). The noise of client ``cid`` in round ``r`` comes
    from ``(seed, run seed, cid, r)``: reproducible, for lessons; a deployment must not seed it.
    """

    def __init__(self, client: Any, clip_norm: float, noise_std: float, seed: int = 0) -> None:
        super().__init__(client)
        self.clip_norm = check_number("clip_norm", clip_norm, 0, min_open=True)
        self.noise_std = check_number("noise_std", noise_std, 0, hint=" (0 adds no noise)")
        self.seed = check_seed(seed)

    def fit(self, parameters: Parameters, config: Config) -> tuple[Parameters, int, dict[str, float]]:
        new, _, metrics = self.client.fit(parameters, config)
        update, _ = clip_update([np.asarray(n, np.float64) - np.asarray(p, np.float64)
                                 for n, p in zip(new, parameters)], self.clip_norm)
        stream = [self.seed, int(config.get("seed", 0)), int(self.cid), int(config.get("server_round", 0))]
        noisy = add_noise(update, self.noise_std, np.random.default_rng(stream))
        sent = [(np.asarray(p, np.float64) + u).astype(np.asarray(p).dtype) for p, u in zip(parameters, noisy)]
        return sent, 1, metrics
