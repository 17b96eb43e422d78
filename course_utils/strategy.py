"""The server's decisions, in the manner of Flower's ``FedAvg`` strategy.

A strategy says which clients take part in a round and with which config, how their
results are combined, and whether a round with failed clients may change the model.

The contract, at a glance (``run_simulation`` calls these, in this order, every round):

- ``configure_fit(server_round, num_clients, rng) -> (cids, config)``: step 1;
- ``aggregate_fit(server_round, results: list[FitRes], failures: list[Failure], current) ->
  (parameters, metrics)``: step 4, where ``current`` are the global parameters the clients
  started from; it raises :class:`RoundSkipped` when the round may not change the model;
- ``aggregate_parameters(results, current) -> parameters``: the rule that combines the
  updates (FedAvg's weighted mean here; FedMedian, FedTrimmedAvg and the server
  optimizers override only this);
- ``configure_evaluate`` / ``aggregate_evaluate`` / ``evaluate``: the two kinds of evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from course_utils.aggregate import Parameters, cast_to, fedavg, median, trimmed_mean, weighted_mean, weighted_metrics
from course_utils.checks import check_callable, check_integer, check_number

Config = dict[str, Any]


class FitRes(NamedTuple):
    """One client's training result (Flower's ``FitRes``, with the client's id in front)."""

    cid: int
    parameters: Parameters
    num_examples: int
    metrics: dict[str, float]


class EvaluateRes(NamedTuple):
    """One client's federated-evaluation result (Flower's ``EvaluateRes``, with the client's id)."""

    cid: int
    loss: float
    num_examples: int
    metrics: dict[str, float]


FitResult = FitRes  # the older names, still importable
EvaluateResult = EvaluateRes
Failure = tuple[int, BaseException]  # (cid, what it raised)


class RoundSkipped(RuntimeError):
    """This round's results may not be used; ``run_simulation`` keeps the global model as it was.

    Flower's strategies return ``None`` instead of parameters in this case, and Flower's server
    keeps its parameters; here the reason travels with the exception into ``History``.
    """


def _describe(failures: list[Failure]) -> str:
    shown = "; ".join(f"client {cid}: {type(e).__name__}: {e}" for cid, e in failures[:3])
    return shown + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")


# --- checks of constructor arguments -------------------------------------------------------


def _sample_size(fraction: float, minimum: int, num_available: int) -> int:
    """The one sample-size rule: ``min(num_available, max(int(fraction * num_available), minimum))``."""
    check_integer("num_available (the clients to sample from)", num_available, 1)
    return min(int(num_available), max(int(fraction * num_available), minimum))


@dataclass
class FedAvg:
    """Federated averaging with client sampling, per-round config and two kinds of evaluation.

    Flower's words with Flower's meaning (``flwr.server.strategy.FedAvg``, flwr 1.42):

    - ``fraction_fit`` in (0, 1]: share of the clients sampled for training each round;
      ``min_fit_clients`` (>= 1): the least number *sampled*, whatever the fraction
      (:meth:`num_fit_clients`). ``fraction_evaluate`` in [0, 1] (0 turns federated
      evaluation off) and ``min_evaluate_clients``: the same for federated evaluation.
    - ``min_available_clients``: the population must be at least this large.
    - ``accept_failures``: if False, a round in which any sampled client failed does not
      change the model: its update is skipped (:class:`RoundSkipped`) and the run goes on.
      True (the default): the round is aggregated over the clients that succeeded.
    - ``on_fit_config_fn(server_round) -> config`` and ``on_evaluate_config_fn``: per-round
      config sent to the clients (``server_round`` is always added).
    - ``evaluate_fn(server_round, parameters) -> (loss, metrics)``: server-side evaluation
      on data the server holds, or None.

    One rule of the course's own, with its own name (Flower has none: it aggregates whatever
    came back, and skips a round with no results at all):

    - ``min_fit_successes`` (>= 1, default 1): a round in which fewer clients succeeded is
      skipped like one with failures under ``accept_failures=False``; ``min_evaluate_successes``
      the same for federated evaluation.
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
    min_fit_successes: int = 1
    min_evaluate_successes: int = 1

    def __post_init__(self) -> None:
        check_number("fraction_fit", self.fraction_fit, 0, 1, min_open=True)
        check_number("fraction_evaluate", self.fraction_evaluate, 0, 1, hint=" (0 turns federated evaluation off)")
        for name in ("min_fit_clients", "min_evaluate_clients", "min_available_clients",
                     "min_fit_successes", "min_evaluate_successes"):
            check_integer(name, getattr(self, name), 1, hint=" (at least 1 client)")
        for name in ("on_fit_config_fn", "on_evaluate_config_fn", "evaluate_fn"):
            if getattr(self, name) is not None:
                check_callable(name, getattr(self, name), "a function, or None")
        if not isinstance(self.accept_failures, (bool, np.bool_)):
            raise TypeError(f"accept_failures must be True or False, got {type(self.accept_failures).__name__} "
                            f"{self.accept_failures!r}")

    def reset(self) -> None:
        """Forget any state from an earlier run; ``run_simulation`` calls it first. FedAvg has none."""

    def check_population(self, num_clients: int) -> None:
        """Raise ``ValueError`` if ``num_clients`` cannot satisfy the minimums."""
        check_integer("num_clients", num_clients, 1)
        for name in ("min_available_clients", "min_fit_clients", "min_evaluate_clients"):
            if getattr(self, name) > num_clients:
                raise ValueError(f"{name} must be at most num_clients ({num_clients}), got {getattr(self, name)}")
        checks = [("min_fit_successes", self.num_fit_clients(num_clients), "num_fit_clients")]
        if self.fraction_evaluate > 0:
            checks.append(("min_evaluate_successes", self.num_evaluation_clients(num_clients),
                           "num_evaluation_clients"))
        for name, sampled, method in checks:
            if getattr(self, name) > sampled:
                raise ValueError(f"{name}={getattr(self, name)} can never be met: a round samples only "
                                 f"{method}({num_clients}) = {sampled} clients")

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

    def _config(self, config_fn: Callable[[int], Config] | None, name: str, server_round: int) -> Config:
        check_integer("server_round", server_round, 0)
        config = config_fn(server_round) if config_fn else {}
        if not isinstance(config, dict):
            raise TypeError(f"{name}({server_round}) must return a dict, got {type(config).__name__} {config!r}")
        return {**config, "server_round": server_round}

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        """Step 1: the client ids to train this round, and the config they receive."""
        config = self._config(self.on_fit_config_fn, "on_fit_config_fn", server_round)
        return self._sample(self.fraction_fit, self.min_fit_clients, num_clients, rng), config

    def configure_evaluate(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> tuple[list[int], Config]:
        """The client ids for federated evaluation this round (none if ``fraction_evaluate`` is 0)."""
        if self.fraction_evaluate == 0:
            return [], {}
        config = self._config(self.on_evaluate_config_fn, "on_evaluate_config_fn", server_round)
        return self._sample(self.fraction_evaluate, self.min_evaluate_clients, num_clients, rng), config

    def check_round(self, server_round: int, what: str, results: list, failures: list[Failure]) -> None:
        """Raise :class:`RoundSkipped` if the round's ``results`` may not be used (``what``: "fit" or "evaluate").

        Skipped: any failure under ``accept_failures=False`` (Flower's rule), or fewer results
        than ``min_fit_successes`` / ``min_evaluate_successes`` (the course's rule).
        """
        minimum = self.min_fit_successes if what == "fit" else self.min_evaluate_successes
        self._check_round(server_round, what, len(results), minimum, failures)

    def _check_round(self, server_round: int, what: str, succeeded: int, minimum: int, failures: list[Failure]) -> None:
        """:meth:`check_round` with the number of successes and the minimum given (kept for subclasses)."""
        if failures and not self.accept_failures:
            raise RoundSkipped(
                f"round {server_round} ({what}) skipped: {len(failures)} client(s) failed and "
                f"accept_failures=False. {_describe(failures)}"
            )
        if succeeded < minimum:
            name = "min_fit_successes" if what == "fit" else "min_evaluate_successes"
            raise RoundSkipped(
                f"round {server_round} ({what}) skipped: {succeeded} client(s) succeeded, fewer than "
                f"{name}={minimum}. {_describe(failures)}"
            )

    def aggregate_parameters(self, results: list[FitRes], current: Parameters) -> Parameters:
        """The new global parameters from the round's results: FedAvg's example-weighted mean."""
        return fedavg([(r.parameters, r.num_examples) for r in results])

    def aggregate_fit(
        self, server_round: int, results: list[FitRes], failures: list[Failure], current: Parameters
    ) -> tuple[Parameters, dict[str, float]]:
        """Step 4: the new global parameters and the example-weighted training metrics.

        ``current`` are the global parameters the clients started from (FedAvg does not need
        them; server optimizers, compression and DP do). Raises :class:`RoundSkipped` (see
        :meth:`check_round`) when the round may not change the model.
        """
        results = [FitRes(*r) for r in results]
        self.check_round(server_round, "fit", results, failures)
        parameters = self.aggregate_parameters(results, current)
        return parameters, weighted_metrics([(r.num_examples, r.metrics) for r in results])

    def aggregate_evaluate(
        self, server_round: int, results: list[EvaluateRes], failures: list[Failure]
    ) -> tuple[float, dict[str, float]]:
        """Federated evaluation: example-weighted mean loss and metrics over the clients."""
        results = [EvaluateRes(*r) for r in results]
        self.check_round(server_round, "evaluate", results, failures)
        loss = weighted_mean([r.loss for r in results], [r.num_examples for r in results])
        return loss, weighted_metrics([(r.num_examples, r.metrics) for r in results])

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, float]] | None:
        """Server-side (centralized) evaluation with ``evaluate_fn``, if there is one."""
        return None if self.evaluate_fn is None else self.evaluate_fn(server_round, parameters)


def require_current(current: Parameters | None, strategy: str) -> Parameters:
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
        check_number("proximal_mu", self.proximal_mu, 0, hint=" (0 is plain FedAvg)")

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        cids, config = super().configure_fit(server_round, num_clients, rng)
        return cids, {**config, "proximal_mu": self.proximal_mu}


@dataclass
class FedOpt(FedAvg):
    """FedAvg followed by a server optimizer (Reddi et al., 2021), as Flower's ``FedOpt``.

    The averaged update ``delta = fedavg - current`` is treated as a (negative) gradient:
    :meth:`server_step` turns it into the step added to ``current``. Integer layers are
    rounded back, as :func:`~course_utils.aggregate.fedavg` does.
    """

    def server_step(self, delta: list[np.ndarray]) -> list[np.ndarray]:
        """The step to add to the global parameters, from the averaged update ``delta`` (float64 arrays)."""
        raise NotImplementedError

    def aggregate_parameters(self, results: list[FitRes], current: Parameters) -> Parameters:
        current = require_current(current, type(self).__name__)
        average = super().aggregate_parameters(results, current)
        delta = [np.asarray(a, np.float64) - np.asarray(c, np.float64) for a, c in zip(average, current)]
        step = self.server_step(delta)
        return [cast_to(np.asarray(c, np.float64) + s, np.asarray(c).dtype) for c, s in zip(current, step)]


@dataclass
class FedAvgM(FedOpt):
    """FedAvg with server momentum (Hsu et al., 2019).

    The averaged update ``delta`` feeds a velocity ``v <- server_momentum * v + delta``; the
    new model is ``current + server_learning_rate * v``.
    """

    server_learning_rate: float = 1.0
    server_momentum: float = 0.9

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("server_learning_rate", self.server_learning_rate, 0, min_open=True)
        check_number("server_momentum", self.server_momentum, 0, 1, max_open=True)
        self.reset()

    def reset(self) -> None:
        self.velocity: list[np.ndarray] | None = None

    def server_step(self, delta: list[np.ndarray]) -> list[np.ndarray]:
        if self.velocity is None:
            self.velocity = delta
        else:
            self.velocity = [self.server_momentum * v + d for v, d in zip(self.velocity, delta)]
        return [self.server_learning_rate * v for v in self.velocity]


@dataclass
class FedAdam(FedOpt):
    """FedAvg with an Adam optimizer on the server (Reddi et al., 2021, "Adaptive Federated Optimization").

    With the averaged update ``delta``: ``m <- beta_1 m + (1 - beta_1) delta``,
    ``v <- beta_2 v + (1 - beta_2) delta^2``, new model ``current + eta * m / (sqrt(v) + tau)``
    (without the bias correction that Flower's FedAdam adds to ``eta``).
    """

    eta: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.99
    tau: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("eta", self.eta, 0, min_open=True, hint=" (the server learning rate)")
        check_number("tau", self.tau, 0, min_open=True, hint=" (it keeps the step finite where v is 0)")
        check_number("beta_1", self.beta_1, 0, 1, max_open=True)
        check_number("beta_2", self.beta_2, 0, 1, max_open=True)
        self.reset()

    def reset(self) -> None:
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def server_step(self, delta: list[np.ndarray]) -> list[np.ndarray]:
        if self.m is None or self.v is None:
            self.m, self.v = [np.zeros_like(d) for d in delta], [np.zeros_like(d) for d in delta]
        self.m = [self.beta_1 * m + (1 - self.beta_1) * d for m, d in zip(self.m, delta)]
        self.v = [self.beta_2 * v + (1 - self.beta_2) * d**2 for v, d in zip(self.v, delta)]
        return [self.eta * m / (np.sqrt(v) + self.tau) for m, v in zip(self.m, self.v)]


@dataclass
class FedMedian(FedAvg):
    """Aggregates with the coordinate-wise median instead of the weighted mean: robust to outliers."""

    def aggregate_parameters(self, results: list[FitRes], current: Parameters) -> Parameters:
        return median([(r.parameters, r.num_examples) for r in results])


@dataclass
class FedTrimmedAvg(FedAvg):
    """Aggregates with the coordinate-wise trimmed mean, cutting ``trim_fraction`` at each end."""

    trim_fraction: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("trim_fraction", self.trim_fraction, 0, 0.5, max_open=True)

    def aggregate_parameters(self, results: list[FitRes], current: Parameters) -> Parameters:
        return trimmed_mean([(r.parameters, r.num_examples) for r in results], self.trim_fraction)
