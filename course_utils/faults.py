"""Clients as they are in the wild: some crash or drop out, some are slow, some lie.

Wrappers around a :class:`~course_utils.client.Client` that simulate failures, compute
speeds and attacks, seeded so that the same seed gives the same failures and the same speeds.
Each is a :class:`ClientWrapper`: it has the wrapped client's id and data, and changes only
what it overrides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_utils.aggregate import cast_to, check_results, check_update
from course_utils.checks import check_choice, check_integer, check_number
from course_utils.client import Client, client_seed
from course_utils.strategy import Config, FedAvg, FitRes, require_current

Parameters = list[np.ndarray]


class ClientDropout(RuntimeError):
    """A simulated client that disappeared in the middle of a round."""


class ClientWrapper:
    """A client that wraps ``client``: same ``cid``, ``train_data`` and ``test_data``; ``fit`` and
    ``evaluate`` pass through unless a subclass overrides them."""

    def __init__(self, client: Client) -> None:
        if not callable(getattr(client, "fit", None)):
            raise TypeError(f"client must be a Client (with a fit method), got {type(client).__name__}")
        self.client = client
        self.cid, self.train_data, self.test_data = client.cid, client.train_data, client.test_data

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        return self.client.fit(parameters, config)

    def evaluate(self, parameters: Parameters, config: dict[str, Any]):
        return self.client.evaluate(parameters, config)


def _check_failure_rate(failure_rate: Any) -> float:
    return check_number("failure_rate", failure_rate, 0, 1, hint=" (a probability)")


class UnreliableClient(ClientWrapper):
    """A client that drops out of ``fit`` with probability ``failure_rate`` in each round.

    Whether client ``cid`` fails in round ``r`` depends only on ``(seed, run seed, cid, r)``, where
    the run seed is the ``seed`` that ``run_simulation`` sends in the config (0 without one).
    """

    def __init__(self, client: Client, failure_rate: float, seed: int = 0) -> None:
        super().__init__(client)
        self.failure_rate, self.seed = _check_failure_rate(failure_rate), check_integer("seed", seed, 0)

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        run_seed = int(config.get("seed", 0))
        rng = np.random.default_rng([client_seed(self.seed, self.cid, int(config.get("server_round", 0)), purpose=2),
                                     run_seed])
        if rng.random() < self.failure_rate:
            raise ClientDropout(f"client {self.cid} dropped out (simulated, failure_rate={self.failure_rate})")
        return self.client.fit(parameters, config)


def _check_client_fn(client_fn: Any) -> None:
    if not callable(client_fn):
        raise TypeError(f"client_fn must be a function cid -> Client, got {type(client_fn).__name__}")


def make_unreliable(
    client_fn: Callable[[int], Client], failure_rate: float, seed: int = 0
) -> Callable[[int], UnreliableClient]:
    """Wrap every client of ``client_fn`` in an :class:`UnreliableClient`."""
    _check_client_fn(client_fn)
    _check_failure_rate(failure_rate)
    check_integer("seed", seed, 0)
    return lambda cid: UnreliableClient(client_fn(cid), failure_rate, seed)


def client_speeds(num_clients: int, median: float = 100.0, spread: float = 1.0, seed: int = 0) -> np.ndarray:
    """Simulated compute speeds in examples per second, log-normal around ``median``; shape (num_clients,).

    ``spread`` is the standard deviation of the log-speed: 0 makes all clients equal, 1 makes
    the slowest of 100 clients about 10x slower than the median one.
    """
    check_integer("num_clients", num_clients, 1)
    check_number("median", median, 0, min_open=True, hint=" (a speed in examples per second)")
    check_number("spread", spread, 0, hint=" (the standard deviation of the log-speed)")
    check_integer("seed", seed, 0)
    return median * np.exp(spread * np.random.default_rng(seed).standard_normal(num_clients))


class TimedClient(ClientWrapper):
    """A client with a simulated compute ``speed`` (examples per second).

    ``fit`` reports ``compute_time``, the simulated seconds its local work took
    (``steps * batch_size / speed``). If the
    config carries a ``deadline`` and ``partial_work`` is true, the client does only the
    mini-batch steps that fit before the deadline (at least one).
    """

    def __init__(self, client: Client, speed: float) -> None:
        super().__init__(client)
        self.speed = check_number("speed", speed, 0, min_open=True, hint=" (examples per second)")

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        batch_size = int(config.get("batch_size", 16))
        steps_per_epoch = -(-len(self.train_data) // batch_size)
        steps = config.get("local_steps") or int(config.get("local_epochs", 1)) * steps_per_epoch
        if config.get("partial_work") and config.get("deadline") is not None:
            steps = max(1, min(steps, int(config["deadline"] * self.speed // batch_size)))
        # the server's, not the client's
        client_config = {k: v for k, v in config.items() if k not in ("deadline", "partial_work")}
        new_parameters, num_examples, metrics = self.client.fit(parameters, {**client_config, "local_steps": steps})
        compute_time = steps * batch_size / self.speed  # each step costs one batch of examples
        return new_parameters, num_examples, {**metrics, "compute_time": compute_time, "steps": float(steps)}


def make_timed(client_fn: Callable[[int], Client], speeds: np.ndarray) -> Callable[[int], TimedClient]:
    """Wrap client ``cid`` of ``client_fn`` in a :class:`TimedClient` with speed ``speeds[cid]``.

    ``speeds``: a 1-D array of finite speeds > 0, one per client (e.g. from :func:`client_speeds`).
    """
    _check_client_fn(client_fn)
    speeds = np.asarray(speeds)
    if speeds.ndim != 1 or speeds.size == 0 or not np.issubdtype(speeds.dtype, np.number) or speeds.dtype == np.bool_:
        raise ValueError(f"speeds must be a 1-D array of numbers, one per client, got shape {speeds.shape} "
                         f"and dtype {speeds.dtype}")
    if not (np.all(np.isfinite(speeds)) and np.all(speeds > 0)):
        raise ValueError(f"speeds must all be finite and > 0 (examples per second), got min {speeds.min()!r}")

    def timed(cid: int) -> TimedClient:
        if not 0 <= cid < speeds.size:
            raise ValueError(f"cid must be in [0, {speeds.size - 1}] (speeds has one entry per client), got {cid}")
        return TimedClient(client_fn(cid), float(speeds[cid]))

    return timed


def _check_scale(scale: Any) -> float:
    return check_number("scale", scale, hint=" (-10 turns the update around, 1 is honest)")


class PoisonedClient(ClientWrapper):
    """A malicious client: it trains honestly, then sends ``global + scale * update`` instead of ``global + update``.

    ``update`` is its new parameters minus the global ones it received. ``scale = -10`` turns
    the update around and makes it ten times longer, a simple model-poisoning attack that
    drags a plain average the wrong way; ``scale = 1`` is an honest client.
    """

    def __init__(self, client: Client, scale: float = -10.0) -> None:
        super().__init__(client)
        self.scale = _check_scale(scale)

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        new_parameters, num_examples, metrics = self.client.fit(parameters, config)
        poisoned = []
        for new, old in zip(new_parameters, parameters):
            old64 = np.asarray(old, dtype=np.float64)
            value = old64 + self.scale * (np.asarray(new, dtype=np.float64) - old64)
            poisoned.append(cast_to(value, np.asarray(new).dtype))
        return poisoned, num_examples, metrics


def make_poisoned(
    client_fn: Callable[[int], Client], bad_cids: Iterable[int], scale: float = -10.0
) -> Callable[[int], Client | PoisonedClient]:
    """``client_fn``, except that the clients in ``bad_cids`` (integer ids >= 0) are
    :class:`PoisonedClient` with ``scale``."""
    _check_client_fn(client_fn)
    _check_scale(scale)
    if isinstance(bad_cids, (str, bytes)) or not hasattr(bad_cids, "__iter__"):
        raise TypeError(f"bad_cids must be a list of client ids, got {type(bad_cids).__name__}")
    bad = {check_integer("each of bad_cids", cid, 0) for cid in bad_cids}
    return lambda cid: PoisonedClient(client_fn(cid), scale) if cid in bad else client_fn(cid)


class StragglerError(RuntimeError):
    """A client's result arrived after the round's deadline."""


DEADLINE_POLICIES = ("wait", "drop", "partial")


@dataclass
class DeadlineFedAvg(FedAvg):
    """FedAvg with a round deadline, for clients that report ``compute_time`` (``faults.TimedClient``).

    ``policy``: ``"wait"`` for every client (the round lasts as long as the slowest);
    ``"drop"`` results later than ``deadline`` (a result exactly at the deadline is on time);
    ``"partial"``: clients do only the local steps that fit before ``deadline``. Records the
    simulated ``round_time`` (seconds) and ``clients_used`` as fit metrics; clients dropped for
    being late show there, not in ``History.failures`` (they did not fail, the server stopped
    waiting), though the strategy counts them as failures (so ``accept_failures=False`` skips
    a round with a late client).
    """

    deadline: float = 10.0
    policy: str = "wait"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("policy", self.policy, DEADLINE_POLICIES)
        check_number("deadline", self.deadline, 0, min_open=True, hint=" (seconds)")

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        cids, config = super().configure_fit(server_round, num_clients, rng)
        return cids, {**config, "deadline": self.deadline, "partial_work": self.policy == "partial"}

    def aggregate_fit(self, server_round, results, failures, current):
        results = [FitRes(*r) for r in results]
        untimed = [r.cid for r in results if "compute_time" not in r.metrics]
        if untimed:
            raise ValueError(f"DeadlineFedAvg needs each client's simulated 'compute_time' among its fit metrics; "
                             f"client(s) {untimed} reported none (wrap the clients with faults.make_timed)")
        late = [r.metrics["compute_time"] > self.deadline for r in results]  # decided once, here
        round_time = max((r.metrics["compute_time"] for r in results), default=0.0)
        if self.policy == "drop" and any(late):
            failures = failures + [(r.cid, StragglerError(f"took {r.metrics['compute_time']:.1f} s > deadline "
                                                          f"{self.deadline} s"))
                                   for r, is_late in zip(results, late) if is_late]
            results = [r for r, is_late in zip(results, late) if not is_late]
            round_time = self.deadline
        parameters, metrics = super().aggregate_fit(server_round, results, failures, current)
        return parameters, {**metrics, "round_time": float(round_time), "clients_used": float(len(results))}


def fednova(results: list[tuple[Parameters, int]], steps: list[float], current: Parameters) -> Parameters:
    """FedNova's normalized averaging (Wang et al., 2020, NeurIPS) for clients that ran different numbers of SGD steps.

    ``results``: each client's ``(parameters, num_examples)``; ``steps``: its number of local steps
    ``tau_k`` (> 0, one per result); ``current``: the global parameters they all started from.
    With ``p_k = n_k / n`` the new model is ``current + tau_eff * sum_k p_k (w_k - current) / tau_k``,
    where ``tau_eff = sum_k p_k tau_k``: each update becomes a per-step update before it is
    averaged, so a client that did less work counts as much as its data, not less. With equal
    steps it is FedAvg. Returns arrays of the shapes and dtypes of ``current``.
    """
    check_results(results)
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__len__") or len(steps) != len(results):
        raise ValueError(f"steps must hold one number of local steps per result ({len(results)}), got {steps!r:.80}")
    taus = np.array([check_number("each of steps", tau, 0, min_open=True, hint=" (local SGD steps)") for tau in steps])
    check_update(current, 1, results[0][0], name="current")
    p = np.array([int(n) for _, n in results], dtype=np.float64)
    p /= p.sum()
    tau_eff = float(p @ taus)
    new = []
    for j, start in enumerate(current):
        start64 = np.asarray(start, dtype=np.float64)
        direction = sum(p_k / tau_k * (np.asarray(w[j], dtype=np.float64) - start64)
                        for p_k, tau_k, (w, _) in zip(p, taus, results))
        new.append(cast_to(start64 + tau_eff * direction, np.asarray(start).dtype))
    return new


@dataclass
class DeadlineFedNova(DeadlineFedAvg):
    """:class:`DeadlineFedAvg` that aggregates with :func:`fednova`, each client's ``steps`` taken from its fit metrics.

    Under ``policy="partial"`` slow clients do fewer local steps; FedAvg then weights their short
    updates as if they were whole and optimizes an objective that under-weights their data
    (Wang et al., 2020). FedNova divides each update by its steps first. ``faults.TimedClient``
    reports the ``steps`` it did.
    """

    def aggregate_parameters(self, results: list[FitRes], current: Parameters) -> Parameters:
        unstepped = [r.cid for r in results if "steps" not in r.metrics]
        if unstepped:
            raise ValueError(f"DeadlineFedNova needs each client's 'steps' among its fit metrics; "
                             f"client(s) {unstepped} reported none (wrap the clients with faults.make_timed)")
        current = require_current(current, type(self).__name__)
        return fednova([(r.parameters, r.num_examples) for r in results], [r.metrics["steps"] for r in results],
                       current)
