"""The round loop: federated learning simulated in one process.

Clients are created on demand by ``client_fn(cid)`` when they are sampled and dropped after
their work, so a population of thousands never sits in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from course_utils.aggregate import Parameters, check_results
from course_utils.client import Client
from course_utils.strategy import EvaluateResult, Failure, FedAvg, FitResult

Series = list[tuple[int, float]]  # (server_round, value)


@dataclass
class History:
    """Per-round results of a run, with Flower's names.

    ``losses_centralized`` and ``metrics_centralized`` come from the server's
    ``evaluate_fn`` (round 0 is the initial model); ``losses_distributed`` and
    ``metrics_distributed`` from federated evaluation; ``metrics_distributed_fit`` from
    training. ``client_metrics[server_round][cid]`` holds each evaluated client's
    ``num_examples``, ``loss`` and metrics; ``failures[server_round]`` and
    ``evaluate_failures[server_round]`` the clients that failed to train or to evaluate,
    as ``(cid, "ErrorType: message")``.
    """

    losses_centralized: Series = field(default_factory=list)
    metrics_centralized: dict[str, Series] = field(default_factory=dict)
    losses_distributed: Series = field(default_factory=list)
    metrics_distributed: dict[str, Series] = field(default_factory=dict)
    metrics_distributed_fit: dict[str, Series] = field(default_factory=dict)
    client_metrics: dict[int, dict[int, dict[str, float]]] = field(default_factory=dict)
    failures: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    evaluate_failures: dict[int, list[tuple[int, str]]] = field(default_factory=dict)

    def _add(self, target: dict[str, Series], server_round: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            target.setdefault(name, []).append((server_round, float(value)))

    def series(self, metric: str = "accuracy", kind: str = "centralized") -> tuple[list[int], list[float]]:
        """Rounds and values of ``metric`` (or ``"loss"``) for ``kind`` in centralized, distributed, fit."""
        sources = {"centralized": (self.losses_centralized, self.metrics_centralized),
                   "distributed": (self.losses_distributed, self.metrics_distributed),
                   "fit": ([], self.metrics_distributed_fit)}
        if kind not in sources:
            raise ValueError(f"kind must be one of {tuple(sources)}, got {kind!r}")
        losses, metrics = sources[kind]
        pairs = losses if metric == "loss" else metrics.get(metric)
        if not pairs:
            raise KeyError(f"no {kind} {metric!r} recorded; recorded: {['loss'] * bool(losses) + sorted(metrics)}")
        return [r for r, _ in pairs], [v for _, v in pairs]

    def final(self, metric: str = "accuracy", kind: str = "centralized") -> float:
        """The last recorded value of ``metric`` for ``kind``."""
        return self.series(metric, kind)[1][-1]

    def rounds_to_reach(self, target: float, metric: str = "accuracy", kind: str = "centralized") -> int | None:
        """The first round whose ``metric`` is at least ``target``, or None if no round reached it."""
        for server_round, value in zip(*self.series(metric, kind)):
            if value >= target:
                return server_round
        return None


def _fit_round(client_fn: Callable[[int], Client], cids: list[int], parameters: Parameters, config: dict):
    results: list[FitResult] = []
    failures: list[Failure] = []
    for cid in cids:
        try:
            new_parameters, num_examples, metrics = client_fn(cid).fit(parameters, config)
            check_results([(new_parameters, num_examples), (parameters, 1)])  # a broken update is a failure
            results.append((cid, new_parameters, num_examples, metrics))
        except Exception as error:  # a client's failure must not end the whole simulation
            failures.append((cid, error))
    return results, failures


def _evaluate_round(client_fn: Callable[[int], Client], cids: list[int], parameters: Parameters, config: dict):
    results: list[EvaluateResult] = []
    failures: list[Failure] = []
    for cid in cids:
        try:
            loss, num_examples, metrics = client_fn(cid).evaluate(parameters, config)
            results.append((cid, loss, num_examples, metrics))
        except Exception as error:
            failures.append((cid, error))
    return results, failures


def run_simulation(
    client_fn: Callable[[int], Client],
    num_clients: int,
    num_rounds: int,
    strategy: FedAvg,
    initial_parameters: Parameters,
    seed: int = 0,
    progress: bool = True,
    stop_when: Callable[[History], bool] | None = None,
) -> tuple[Parameters, History]:
    """Run ``num_rounds`` rounds of FL over clients ``0 .. num_clients - 1``.

    Each round: sample clients and send them the parameters (step 1), each trains locally
    (step 2) and returns its update (step 3), the strategy aggregates (step 4); then
    server-side and federated evaluation. Returns the final parameters and the History.

    ``seed`` is the run's seed: it draws the client sample of every round and is sent to the
    clients in the fit config (``config["seed"]``), from which each client derives its
    shuffles (and a simulated fault its dropouts) for that round. Same ``seed``, same History;
    another ``seed``, another run, even when every client takes part in every round.

    ``stop_when(history) -> bool``, if given, is asked after every round; the run ends early
    (after fewer than ``num_rounds`` rounds) as soon as it returns True, e.g.
    ``stop_when=lambda h: h.rounds_to_reach(0.9) is not None``. The rounds it did run are
    the same as those of a full run.
    """
    if num_clients < 1:
        raise ValueError(f"num_clients must be a positive integer, got {num_clients}")
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be a positive integer, got {num_rounds}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    strategy.check_population(num_clients)
    strategy.reset()
    check_results([(initial_parameters, 1)])
    rng = np.random.default_rng(seed)
    history = History()
    parameters = [np.array(p, copy=True) for p in initial_parameters]  # step 0
    _evaluate_centrally(strategy, 0, parameters, history)
    bar = tqdm(range(1, num_rounds + 1), desc="rounds", disable=not progress)
    for server_round in bar:
        cids, config = strategy.configure_fit(server_round, num_clients, rng)
        config = {**config, "seed": seed}
        results, failures = _fit_round(client_fn, cids, parameters, config)
        if failures:
            history.failures[server_round] = [(cid, f"{type(e).__name__}: {e}") for cid, e in failures]
        parameters, fit_metrics = strategy.aggregate_fit(server_round, results, failures, current=parameters)
        history._add(history.metrics_distributed_fit, server_round, fit_metrics)
        _evaluate_centrally(strategy, server_round, parameters, history)
        _evaluate_federated(strategy, client_fn, server_round, num_clients, rng, parameters, history)
        if history.metrics_centralized.get("accuracy"):
            bar.set_postfix(accuracy=f"{history.final('accuracy'):.3f}")
        if stop_when is not None and stop_when(history):
            break
    return parameters, history


def _evaluate_centrally(strategy: FedAvg, server_round: int, parameters: Parameters, history: History) -> None:
    outcome = strategy.evaluate(server_round, parameters)
    if outcome is not None:
        loss, metrics = outcome
        history.losses_centralized.append((server_round, float(loss)))
        history._add(history.metrics_centralized, server_round, metrics)


def _evaluate_federated(strategy, client_fn, server_round, num_clients, rng, parameters, history) -> None:
    cids, config = strategy.configure_evaluate(server_round, num_clients, rng)
    if not cids:
        return
    results, failures = _evaluate_round(client_fn, cids, parameters, config)
    if failures:
        history.evaluate_failures[server_round] = [(cid, f"{type(e).__name__}: {e}") for cid, e in failures]
    loss, metrics = strategy.aggregate_evaluate(server_round, results, failures)
    history.losses_distributed.append((server_round, float(loss)))
    history._add(history.metrics_distributed, server_round, metrics)
    history.client_metrics[server_round] = {
        cid: {"num_examples": n, "loss": float(client_loss), **m} for cid, client_loss, n, m in results
    }


def run_local_only(
    client_fn: Callable[[int], Client],
    cids: list[int],
    initial_parameters: Parameters,
    num_rounds: int,
    config: dict | None = None,
    evaluate_fn: Callable[[int, Parameters], tuple[float, dict[str, float]]] | None = None,
) -> dict[int, dict[str, float]]:
    """The no-collaboration baseline: each client trains alone, as much as it would in FL.

    Client ``cid`` starts from ``initial_parameters`` and calls its own ``fit`` ``num_rounds``
    times with ``config``, never averaging with anyone. Returns ``{cid: metrics}`` with
    ``num_examples``, the client's ``local_accuracy`` on its own test data (if it has any),
    and ``accuracy`` / ``loss`` from ``evaluate_fn`` (the server's test set) if given.
    """
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be a positive integer, got {num_rounds}")
    out = {}
    for cid in cids:
        client = client_fn(cid)
        parameters = initial_parameters
        for server_round in range(1, num_rounds + 1):
            parameters, num_examples, _ = client.fit(parameters, {**(config or {}), "server_round": server_round})
        metrics: dict[str, float] = {"num_examples": num_examples}
        if client.test_data is not None:
            metrics["local_accuracy"] = client.evaluate(parameters, {})[2]["accuracy"]
        if evaluate_fn is not None:
            loss, server_metrics = evaluate_fn(num_rounds, parameters)
            metrics.update(loss=loss, **server_metrics)
        out[cid] = metrics
    return out
