"""Clients as they are in the wild: some crash or drop out, some are slow.

Wrappers around a :class:`~course_utils.client.Client` that simulate failures and compute
speeds, seeded so that the same seed gives the same failures and the same speeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.client import Client, client_seed

Parameters = list[np.ndarray]


class ClientDropout(RuntimeError):
    """A simulated client that disappeared in the middle of a round."""


class UnreliableClient:
    """A client that drops out of ``fit`` with probability ``failure_rate`` in each round.

    Whether client ``cid`` fails in round ``r`` depends only on ``(seed, run seed, cid, r)``, where
    the run seed is the ``seed`` that ``run_simulation`` sends in the config (0 without one).
    """

    def __init__(self, client: Client, failure_rate: float, seed: int = 0) -> None:
        if not 0 <= failure_rate <= 1:
            raise ValueError(f"failure_rate must be in [0, 1], got {failure_rate}")
        self.client, self.failure_rate, self.seed = client, failure_rate, seed
        self.cid, self.train_data, self.test_data = client.cid, client.train_data, client.test_data

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        run_seed = int(config.get("seed", 0))
        rng = np.random.default_rng([client_seed(self.seed, self.cid, int(config.get("server_round", 0)), purpose=2), run_seed])
        if rng.random() < self.failure_rate:
            raise ClientDropout(f"client {self.cid} dropped out (simulated, failure_rate={self.failure_rate})")
        return self.client.fit(parameters, config)

    def evaluate(self, parameters: Parameters, config: dict[str, Any]):
        return self.client.evaluate(parameters, config)


def make_unreliable(client_fn: Callable[[int], Client], failure_rate: float, seed: int = 0) -> Callable[[int], UnreliableClient]:
    """Wrap every client of ``client_fn`` in an :class:`UnreliableClient`."""
    if not 0 <= failure_rate <= 1:
        raise ValueError(f"failure_rate must be in [0, 1], got {failure_rate}")
    return lambda cid: UnreliableClient(client_fn(cid), failure_rate, seed)


def client_speeds(num_clients: int, median: float = 100.0, spread: float = 1.0, seed: int = 0) -> np.ndarray:
    """Simulated compute speeds in examples per second, log-normal around ``median``; shape (num_clients,).

    ``spread`` is the standard deviation of the log-speed: 0 makes all clients equal, 1 makes
    the slowest of 100 clients about 10x slower than the median one.
    """
    if num_clients < 1 or not median > 0 or not spread >= 0:
        raise ValueError(f"need num_clients >= 1, median > 0, spread >= 0; got {num_clients}, {median}, {spread}")
    return median * np.exp(spread * np.random.default_rng(seed).standard_normal(num_clients))


class TimedClient:
    """A client with a simulated compute ``speed`` (examples per second).

    ``fit`` reports ``compute_time``, the simulated seconds its local work took
    (``steps * batch_size / speed``). If the
    config carries a ``deadline`` and ``partial_work`` is true, the client does only the
    mini-batch steps that fit before the deadline (at least one).
    """

    def __init__(self, client: Client, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 examples per second, got {speed}")
        self.client, self.speed = client, speed
        self.cid, self.train_data, self.test_data = client.cid, client.train_data, client.test_data

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        batch_size = int(config.get("batch_size", 16))
        steps_per_epoch = -(-len(self.train_data) // batch_size)
        steps = config.get("local_steps") or int(config.get("local_epochs", 1)) * steps_per_epoch
        if config.get("partial_work") and config.get("deadline") is not None:
            steps = max(1, min(steps, int(config["deadline"] * self.speed // batch_size)))
        client_config = {k: v for k, v in config.items() if k not in ("deadline", "partial_work")}  # the server's, not the client's
        new_parameters, num_examples, metrics = self.client.fit(parameters, {**client_config, "local_steps": steps})
        compute_time = steps * batch_size / self.speed  # each step costs one batch of examples
        return new_parameters, num_examples, {**metrics, "compute_time": compute_time, "steps": float(steps)}

    def evaluate(self, parameters: Parameters, config: dict[str, Any]):
        return self.client.evaluate(parameters, config)


def make_timed(client_fn: Callable[[int], Client], speeds: np.ndarray) -> Callable[[int], TimedClient]:
    """Wrap client ``cid`` of ``client_fn`` in a :class:`TimedClient` with speed ``speeds[cid]``."""
    return lambda cid: TimedClient(client_fn(cid), float(speeds[cid]))


class PoisonedClient:
    """A malicious client: it trains honestly, then sends ``global + scale * update`` instead of ``global + update``.

    ``update`` is its new parameters minus the global ones it received. ``scale = -10`` turns
    the update around and makes it ten times longer, a simple model-poisoning attack that
    drags a plain average the wrong way; ``scale = 1`` is an honest client.
    """

    def __init__(self, client: Client, scale: float = -10.0) -> None:
        if not np.isfinite(scale):
            raise ValueError(f"scale must be a finite number, got {scale}")
        self.client, self.scale = client, float(scale)
        self.cid, self.train_data, self.test_data = client.cid, client.train_data, client.test_data

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        new_parameters, num_examples, metrics = self.client.fit(parameters, config)
        poisoned = []
        for new, old in zip(new_parameters, parameters):
            old64 = np.asarray(old, dtype=np.float64)
            value = old64 + self.scale * (np.asarray(new, dtype=np.float64) - old64)
            dtype = np.asarray(new).dtype
            poisoned.append((np.rint(value) if np.issubdtype(dtype, np.integer) else value).astype(dtype))
        return poisoned, num_examples, metrics

    def evaluate(self, parameters: Parameters, config: dict[str, Any]):
        return self.client.evaluate(parameters, config)


def make_poisoned(
    client_fn: Callable[[int], Client], bad_cids: list[int], scale: float = -10.0
) -> Callable[[int], Client | PoisonedClient]:
    """``client_fn``, except that the clients in ``bad_cids`` are :class:`PoisonedClient` with ``scale``."""
    if not np.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale}")
    bad = {int(cid) for cid in bad_cids}
    return lambda cid: PoisonedClient(client_fn(cid), scale) if cid in bad else client_fn(cid)
