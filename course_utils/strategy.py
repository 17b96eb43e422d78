"""The server's decisions, in the manner of Flower's ``FedAvg`` strategy.

A strategy says which clients take part in a round and with which config, how their
results are combined, and whether a round with failed clients may go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_utils.aggregate import Parameters, fedavg, median, trimmed_mean, weighted_mean, weighted_metrics
from course_utils.compression import compress_update
from course_utils.secagg import check_fixed_point, secure_weighted_average

Config = dict[str, Any]
FitResult = tuple[int, Parameters, int, dict[str, float]]  # (cid, parameters, num_examples, metrics)
EvaluateResult = tuple[int, float, int, dict[str, float]]  # (cid, loss, num_examples, metrics)
Failure = tuple[int, BaseException]  # (cid, what it raised)


class RoundFailedError(RuntimeError):
    """A round cannot go on: clients failed and the strategy does not accept it."""


def _describe(failures: list[Failure]) -> str:
    shown = "; ".join(f"client {cid}: {type(e).__name__}: {e}" for cid, e in failures[:3])
    return shown + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")


def _sample_size(fraction: float, minimum: int, num_available: int) -> int:
    """The one sample-size rule: ``min(num_available, max(int(fraction * num_available), minimum))``."""
    if isinstance(num_available, bool) or not isinstance(num_available, (int, np.integer)) or num_available < 1:
        raise ValueError(f"num_available must be an integer >= 1 (the clients to sample from), got {num_available!r}")
    return min(int(num_available), max(int(fraction * num_available), minimum))


@dataclass
class FedAvg:
    """Federated averaging with client sampling, per-round config and two kinds of evaluation.

    - ``fraction_fit`` in (0, 1]: share of the clients sampled for training each round, but
      at least ``min_fit_clients``.
    - ``fraction_evaluate`` in [0, 1]: the same for federated evaluation; 0 turns it off.
    - ``min_available_clients``: the population must be at least this large.
    - ``on_fit_config_fn(server_round) -> config`` and ``on_evaluate_config_fn``: per-round
      config sent to the clients (``server_round`` is always added).
    - ``evaluate_fn(server_round, parameters) -> (loss, metrics)``: server-side evaluation
      on data the server holds, or None.
    - ``accept_failures``: go on with the clients that succeeded (if at least the minimum
      did), or stop the run with :class:`RoundFailedError` at the first failure.
    """

    fraction_fit: float = 1.0
    fraction_evaluate: float = 1.0
    min_fit_clients: int = 2
    min_evaluate_clients: int = 2
    min_available_clients: int = 2
    on_fit_config_fn: Callable[[int], Config] | None = None
    on_evaluate_config_fn: Callable[[int], Config] | None = None
    evaluate_fn: Callable[[int, Parameters], tuple[float, dict[str, float]]] | None = None
    accept_failures: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.fraction_fit <= 1:
            raise ValueError(f"fraction_fit must be in (0, 1], got {self.fraction_fit}")
        if not 0 <= self.fraction_evaluate <= 1:
            raise ValueError(f"fraction_evaluate must be in [0, 1] (0 turns federated evaluation off), got {self.fraction_evaluate}")
        for name in ("min_fit_clients", "min_evaluate_clients", "min_available_clients"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def reset(self) -> None:
        """Forget any state from an earlier run; ``run_simulation`` calls it first. FedAvg has none."""

    def check_population(self, num_clients: int) -> None:
        """Raise ``ValueError`` if ``num_clients`` cannot satisfy the minimums."""
        for name in ("min_available_clients", "min_fit_clients", "min_evaluate_clients"):
            if getattr(self, name) > num_clients:
                raise ValueError(f"{name} must be at most num_clients ({num_clients}), got {getattr(self, name)}")

    def num_fit_clients(self, num_available: int) -> int:
        """How many clients a training round samples out of ``num_available``: Flower's rule.

        ``int(fraction_fit * num_available)`` (rounded down), at least ``min_fit_clients``, at
        most ``num_available``. (Flower's method of this name also returns ``min_available_clients``.)
        """
        return _sample_size(self.fraction_fit, self.min_fit_clients, num_available)

    def num_evaluation_clients(self, num_available: int) -> int:
        """How many clients federated evaluation samples: the rule of :meth:`num_fit_clients`
        with ``fraction_evaluate`` and ``min_evaluate_clients`` (0 if ``fraction_evaluate`` is 0)."""
        if self.fraction_evaluate == 0:
            return 0
        return _sample_size(self.fraction_evaluate, self.min_evaluate_clients, num_available)

    def _sample(self, fraction: float, minimum: int, num_clients: int, rng: np.random.Generator) -> list[int]:
        size = _sample_size(fraction, minimum, num_clients)
        return sorted(rng.choice(num_clients, size=size, replace=False).tolist())

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        """Step 1: the client ids to train this round, and the config they receive."""
        config = dict(self.on_fit_config_fn(server_round)) if self.on_fit_config_fn else {}
        config["server_round"] = server_round
        return self._sample(self.fraction_fit, self.min_fit_clients, num_clients, rng), config

    def configure_evaluate(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        """The client ids for federated evaluation this round (none if ``fraction_evaluate`` is 0)."""
        if self.fraction_evaluate == 0:
            return [], {}
        config = dict(self.on_evaluate_config_fn(server_round)) if self.on_evaluate_config_fn else {}
        config["server_round"] = server_round
        return self._sample(self.fraction_evaluate, self.min_evaluate_clients, num_clients, rng), config

    def _check_round(self, server_round: int, what: str, succeeded: int, minimum: int, failures: list[Failure]) -> None:
        if failures and not self.accept_failures:
            raise RoundFailedError(
                f"round {server_round} ({what}): {len(failures)} client(s) failed and accept_failures=False. "
                f"{_describe(failures)}"
            )
        if succeeded < minimum:
            raise RoundFailedError(
                f"round {server_round} ({what}): only {succeeded} client(s) succeeded, fewer than the minimum "
                f"of {minimum}. {_describe(failures)}"
            )

    def aggregate_fit(
        self,
        server_round: int,
        results: list[FitResult],
        failures: list[Failure],
        current: Parameters | None = None,
    ) -> tuple[Parameters, dict[str, float]]:
        """Step 4: the new global parameters (FedAvg) and example-weighted training metrics.

        ``current`` is the global model the clients started from; FedAvg does not need it,
        but strategies that work with updates (server optimizers, DP) do.
        """
        self._check_round(server_round, "fit", len(results), self.min_fit_clients, failures)
        parameters = fedavg([(p, n) for _, p, n, _ in results])
        return parameters, weighted_metrics([(n, m) for _, _, n, m in results])

    def aggregate_evaluate(
        self, server_round: int, results: list[EvaluateResult], failures: list[Failure]
    ) -> tuple[float, dict[str, float]]:
        """Federated evaluation: example-weighted mean loss and metrics over the clients."""
        self._check_round(server_round, "evaluate", len(results), self.min_evaluate_clients, failures)
        loss = weighted_mean([loss for _, loss, _, _ in results], [n for _, _, n, _ in results])
        return loss, weighted_metrics([(n, m) for _, _, n, m in results])

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, float]] | None:
        """Server-side (centralized) evaluation with ``evaluate_fn``, if there is one."""
        return None if self.evaluate_fn is None else self.evaluate_fn(server_round, parameters)


def _require_current(current: Parameters | None, strategy: str) -> Parameters:
    if current is None:
        raise ValueError(f"{strategy}.aggregate_fit needs current, the global parameters the clients started from")
    return current


@dataclass
class FedProx(FedAvg):
    """FedAvg whose clients add the proximal term ``proximal_mu / 2 * ||w - w_global||^2`` (Li et al., 2020).

    The term keeps local models near the global one, limiting client drift on skewed data.
    """

    proximal_mu: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.proximal_mu >= 0:
            raise ValueError(f"proximal_mu must be >= 0, got {self.proximal_mu}")

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        cids, config = super().configure_fit(server_round, num_clients, rng)
        return cids, {**config, "proximal_mu": self.proximal_mu}


@dataclass
class FedAvgM(FedAvg):
    """FedAvg with server momentum (Hsu et al., 2019).

    The averaged update ``delta = fedavg - current`` feeds a velocity
    ``v <- server_momentum * v + delta``; the new model is ``current + server_learning_rate * v``.
    """

    server_learning_rate: float = 1.0
    server_momentum: float = 0.9

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.server_learning_rate > 0:
            raise ValueError(f"server_learning_rate must be > 0, got {self.server_learning_rate}")
        if not 0 <= self.server_momentum < 1:
            raise ValueError(f"server_momentum must be in [0, 1), got {self.server_momentum}")
        self.reset()

    def reset(self) -> None:
        self.velocity: list[np.ndarray] | None = None

    def aggregate_fit(self, server_round, results, failures, current=None):
        current = _require_current(current, "FedAvgM")
        average, metrics = super().aggregate_fit(server_round, results, failures, current)
        delta = [a.astype(np.float64) - c for a, c in zip(average, current)]
        if self.velocity is None:
            self.velocity = delta
        else:
            self.velocity = [self.server_momentum * v + d for v, d in zip(self.velocity, delta)]
        new = [(c + self.server_learning_rate * v).astype(c.dtype) for c, v in zip(current, self.velocity)]
        return new, metrics


@dataclass
class FedAdam(FedAvg):
    """FedAvg with an Adam optimizer on the server (Reddi et al., 2021, "Adaptive Federated Optimization").

    With ``delta = fedavg - current``: ``m <- beta_1 m + (1 - beta_1) delta``,
    ``v <- beta_2 v + (1 - beta_2) delta^2``, new model ``current + eta * m / (sqrt(v) + tau)``.
    """

    eta: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.99
    tau: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.eta > 0 and self.tau > 0):
            raise ValueError(f"eta and tau must be > 0, got eta={self.eta}, tau={self.tau}")
        if not (0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1):
            raise ValueError(f"beta_1 and beta_2 must be in [0, 1), got {self.beta_1}, {self.beta_2}")
        self.reset()

    def reset(self) -> None:
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def aggregate_fit(self, server_round, results, failures, current=None):
        current = _require_current(current, "FedAdam")
        average, metrics = super().aggregate_fit(server_round, results, failures, current)
        delta = [a.astype(np.float64) - c for a, c in zip(average, current)]
        if self.m is None:
            self.m, self.v = [np.zeros_like(d) for d in delta], [np.zeros_like(d) for d in delta]
        self.m = [self.beta_1 * m + (1 - self.beta_1) * d for m, d in zip(self.m, delta)]
        self.v = [self.beta_2 * v + (1 - self.beta_2) * d**2 for v, d in zip(self.v, delta)]
        new = [(c + self.eta * m / (np.sqrt(v) + self.tau)).astype(c.dtype) for c, m, v in zip(current, self.m, self.v)]
        return new, metrics


@dataclass
class FedMedian(FedAvg):
    """Aggregates with the coordinate-wise median instead of the weighted mean: robust to outliers."""

    def aggregate_fit(self, server_round, results, failures, current=None):
        _, metrics = super().aggregate_fit(server_round, results, failures, current)
        return median([(p, n) for _, p, n, _ in results]), metrics


@dataclass
class FedTrimmedAvg(FedAvg):
    """Aggregates with the coordinate-wise trimmed mean, cutting ``trim_fraction`` at each end."""

    trim_fraction: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.trim_fraction < 0.5:
            raise ValueError(f"trim_fraction must be in [0, 0.5), got {self.trim_fraction}")

    def aggregate_fit(self, server_round, results, failures, current=None):
        _, metrics = super().aggregate_fit(server_round, results, failures, current)
        return trimmed_mean([(p, n) for _, p, n, _ in results], self.trim_fraction), metrics


@dataclass
class CompressedFedAvg(FedAvg):
    """FedAvg where each client uploads a compressed update (see ``course_utils.compression``).

    The server rebuilds ``current + decompressed update`` for every client, then averages.
    Records the bytes uploaded per round as the fit metric ``upload_bytes``.
    """

    compression: str = "quantize"
    bits: int = 8
    fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.compression not in ("none", "quantize", "top_k"):
            raise ValueError(f"compression must be one of 'none', 'quantize', 'top_k', got {self.compression!r}")

    def aggregate_fit(self, server_round, results, failures, current=None):
        current = _require_current(current, "CompressedFedAvg")
        rebuilt, total = [], 0
        for cid, parameters, num_examples, metrics in results:
            update = [p.astype(np.float64) - c for p, c in zip(parameters, current)]
            received, size = compress_update(update, self.compression, self.bits, self.fraction)
            rebuilt.append((cid, [(c + u).astype(c.dtype) for c, u in zip(current, received)], num_examples, metrics))
            total += size
        parameters, metrics = super().aggregate_fit(server_round, rebuilt, failures, current)
        return parameters, {**metrics, "upload_bytes": float(total)}


class StragglerError(RuntimeError):
    """A client's result arrived after the round's deadline."""


@dataclass
class DeadlineFedAvg(FedAvg):
    """FedAvg with a round deadline, for clients that report ``compute_time`` (``faults.TimedClient``).

    ``policy``: ``"wait"`` for every client (the round lasts as long as the slowest);
    ``"drop"`` results later than ``deadline`` (counted as failures); ``"partial"``: clients
    do only the local steps that fit before ``deadline``. Records the simulated
    ``round_time`` (seconds) and ``clients_used`` as fit metrics; clients dropped for being
    late show there, not in ``History.failures`` (they did not fail, the server stopped waiting).
    """

    deadline: float = 10.0
    policy: str = "wait"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.policy not in ("wait", "drop", "partial"):
            raise ValueError(f"policy must be one of 'wait', 'drop', 'partial', got {self.policy!r}")
        if not self.deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {self.deadline}")

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        cids, config = super().configure_fit(server_round, num_clients, rng)
        return cids, {**config, "deadline": self.deadline, "partial_work": self.policy == "partial"}

    def aggregate_fit(self, server_round, results, failures, current=None):
        times = [m["compute_time"] for _, _, _, m in results]
        if self.policy == "drop":
            late = [(cid, StragglerError(f"took {m['compute_time']:.1f} s > deadline {self.deadline} s"))
                    for cid, _, _, m in results if m["compute_time"] > self.deadline]
            results = [r for r in results if r[3]["compute_time"] <= self.deadline]
            failures = failures + late
            round_time = self.deadline if late else max(times, default=0.0)
        else:
            round_time = max(times, default=0.0)
        parameters, metrics = super().aggregate_fit(server_round, results, failures, current)
        return parameters, {**metrics, "round_time": float(round_time), "clients_used": float(len(results))}



@dataclass
class SecAggFedAvg(FedAvg):
    """FedAvg through secure aggregation (``course_utils.secagg``): the server only learns sums.

    Each round the clients that returned a result run the protocol of Bonawitz et al. with the
    smallest safe Shamir threshold (``len(results) // 2 + 1``), uploading ``n_k * parameters``,
    ``n_k * metrics`` and ``n_k`` as masked integers modulo ``2**bits`` with ``fraction_bits``
    fraction bits; the server divides the sums. The result equals FedAvg's to fixed-point
    precision. Only metrics that every client reports are aggregated (securely too). Records
    ``upload_bytes``, the size of the masked vectors uploaded in the round (``ceil(bits / 8)``
    bytes per value). Keys come from the operating system; the sum does not depend on them.
    """

    bits: int = 64
    fraction_bits: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fixed_point(self.bits, self.fraction_bits)
        if self.min_fit_clients < 2:
            raise ValueError(
                f"min_fit_clients must be at least 2 for secure aggregation (the sum of one client is its update), "
                f"got {self.min_fit_clients}"
            )

    def aggregate_fit(self, server_round, results, failures, current=None):
        self._check_round(server_round, "fit", len(results), self.min_fit_clients, failures)
        names = sorted(set.intersection(*(set(m) for _, _, _, m in results)))
        packed = [([*p, np.array([m[name] for name in names], dtype=np.float64)], n) for _, p, n, m in results]
        *parameters, metric_values = secure_weighted_average(
            packed, threshold=len(results) // 2 + 1, bits=self.bits, fraction_bits=self.fraction_bits
        )
        values_per_client = sum(np.size(a) for a in packed[0][0]) + 1  # the last value is n_k
        upload_bytes = len(results) * values_per_client * -(-self.bits // 8)
        return parameters, {**dict(zip(names, metric_values.tolist())), "upload_bytes": float(upload_bytes)}
