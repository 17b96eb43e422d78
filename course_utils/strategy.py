"""The server's decisions, in the manner of Flower's ``FedAvg`` strategy.

A strategy says which clients take part in a round and with which config, how their
results are combined, and whether a round with failed clients may go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_utils.aggregate import Parameters, fedavg, weighted_mean, weighted_metrics

Config = dict[str, Any]
FitResult = tuple[int, Parameters, int, dict[str, float]]  # (cid, parameters, num_examples, metrics)
EvaluateResult = tuple[int, float, int, dict[str, float]]  # (cid, loss, num_examples, metrics)
Failure = tuple[int, BaseException]  # (cid, what it raised)


class RoundFailedError(RuntimeError):
    """A round cannot go on: clients failed and the strategy does not accept it."""


def _describe(failures: list[Failure]) -> str:
    shown = "; ".join(f"client {cid}: {type(e).__name__}: {e}" for cid, e in failures[:3])
    return shown + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")


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

    def check_population(self, num_clients: int) -> None:
        """Raise ``ValueError`` if ``num_clients`` cannot satisfy the minimums."""
        for name in ("min_available_clients", "min_fit_clients", "min_evaluate_clients"):
            if getattr(self, name) > num_clients:
                raise ValueError(f"{name} must be at most num_clients ({num_clients}), got {getattr(self, name)}")

    def _sample(self, fraction: float, minimum: int, num_clients: int, rng: np.random.Generator) -> list[int]:
        size = min(num_clients, max(int(fraction * num_clients), minimum))
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
        self, server_round: int, results: list[FitResult], failures: list[Failure]
    ) -> tuple[Parameters, dict[str, float]]:
        """Step 4: the new global parameters (FedAvg) and example-weighted training metrics."""
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
