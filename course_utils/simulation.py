"""The round loop: federated learning simulated in one process.

Clients are created on demand by ``client_fn(cid)`` when they are sampled and dropped after
their work, so a population of thousands never sits in memory at once.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from tqdm.auto import tqdm

from course_utils.aggregate import Parameters, check_results, check_update
from course_utils.batched import BATCHED_CHUNK, BATCHED_MIN_CLIENTS, fit_batched, split_batchable
from course_utils.checks import check_integer, check_number
from course_utils.client import Client
from course_utils.strategy import EvaluateRes, Failure, FedAvg, FitRes, RoundSkipped

T = TypeVar("T")

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
    as ``(cid, "ErrorType: message")``; ``skipped_rounds[server_round]`` and
    ``skipped_evaluations[server_round]`` why a round's update (or its federated evaluation)
    was not used (see ``strategy.RoundSkipped``): the global model stayed as it was.
    """

    losses_centralized: Series = field(default_factory=list)
    metrics_centralized: dict[str, Series] = field(default_factory=dict)
    losses_distributed: Series = field(default_factory=list)
    metrics_distributed: dict[str, Series] = field(default_factory=dict)
    metrics_distributed_fit: dict[str, Series] = field(default_factory=dict)
    client_metrics: dict[int, dict[int, dict[str, float]]] = field(default_factory=dict)
    failures: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    evaluate_failures: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    skipped_rounds: dict[int, str] = field(default_factory=dict)
    skipped_evaluations: dict[int, str] = field(default_factory=dict)

    def _add(self, target: dict[str, Series], server_round: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            target.setdefault(name, []).append((server_round, float(value)))

    def _keep_rounds(self, last_round: int) -> None:
        """Forget everything recorded after ``last_round`` (a round that was interrupted half-way)."""
        for series in (self.losses_centralized, self.losses_distributed):
            series[:] = [(r, v) for r, v in series if r <= last_round]
        for metrics in (self.metrics_centralized, self.metrics_distributed, self.metrics_distributed_fit):
            for name in list(metrics):
                metrics[name] = [(r, v) for r, v in metrics[name] if r <= last_round]
                if not metrics[name]:
                    del metrics[name]
        for by_round in (self.client_metrics, self.failures, self.evaluate_failures, self.skipped_rounds,
                         self.skipped_evaluations):
            for server_round in [r for r in by_round if r > last_round]:
                del by_round[server_round]

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
        """The first round whose ``metric`` is at least ``target`` (a finite number), or None if no round reached it."""
        check_number("target", target, hint=" (e.g. an accuracy in [0, 1])")
        for server_round, value in zip(*self.series(metric, kind)):
            if value >= target:
                return server_round
        return None


class ClientTimeout(RuntimeError):
    """A client did not finish its ``fit`` or ``evaluate`` within the run's ``round_timeout``."""


class SimulationInterrupted(KeyboardInterrupt):
    """Ctrl-C (or another ``KeyboardInterrupt``) stopped ``run_simulation``; nothing learned is lost.

    ``parameters`` are the global parameters after round ``completed_rounds`` (the initial ones
    if it is 0) and ``history`` holds rounds 0 to ``completed_rounds``; the round that was
    running is left out. As a ``KeyboardInterrupt`` it still stops a script or a notebook cell::

        try:
            parameters, history = run_simulation(...)
        except SimulationInterrupted as stop:
            parameters, history = stop.parameters, stop.history
    """

    def __init__(self, parameters: Parameters, history: History, completed_rounds: int) -> None:
        super().__init__(f"run_simulation interrupted after {completed_rounds} complete round(s); "
                         "its .parameters and .history hold them")
        self.parameters, self.history, self.completed_rounds = parameters, history, completed_rounds


def _alarm_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def call_with_timeout(call: Callable[[], T], timeout: float | None, what: str) -> T:
    """``call()``, raising :class:`ClientTimeout` if it takes longer than ``timeout`` seconds (None: no limit).

    On the main thread of a POSIX system a ``SIGALRM`` timer interrupts the call (no thread is
    left running it); the previous handler and any outer timer are restored afterwards. Where
    that is impossible (Windows, or not the main thread) the call cannot be interrupted: it runs
    to its end, and then counts as timed out if it took longer (a client that never returns
    still blocks). ``what`` names the call in the message, e.g. ``"client 3's fit"``.
    """
    if timeout is None:
        return call()
    if not _alarm_available():
        start = time.monotonic()
        out = call()
        if time.monotonic() - start > timeout:
            raise ClientTimeout(f"{what} took {time.monotonic() - start:.1f} s, longer than round_timeout={timeout} s "
                                "(measured afterwards: without SIGALRM a client cannot be interrupted)")
        return out
    finished = False

    def on_alarm(signum: int, frame: Any) -> None:
        if not finished:
            raise ClientTimeout(f"{what} did not finish within round_timeout={timeout} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    start, outer = time.monotonic(), 0.0
    try:
        try:
            outer = signal.setitimer(signal.ITIMER_REAL, timeout)[0]
            return call()
        finally:
            finished = True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # someone else's timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-6))


def check_evaluation(loss: Any, num_examples: Any, metrics: Any, name: str = "evaluation") -> None:
    """Raise ``ValueError`` unless a client's evaluation can be averaged: a finite ``loss``, a
    positive integer ``num_examples``, and ``metrics`` a dict of finite numbers."""
    if isinstance(loss, (bool, np.bool_)) or not isinstance(loss, (int, float, np.integer, np.floating)) \
            or not math.isfinite(loss):
        raise ValueError(f"{name}: loss must be a finite number, got {loss!r}")
    if isinstance(num_examples, (bool, np.bool_)) or not isinstance(num_examples, (int, np.integer)) \
            or num_examples <= 0:
        raise ValueError(f"{name}: num_examples must be a positive integer, got {num_examples!r}")
    _check_metrics(metrics, name)


def _check_metrics(metrics: Any, name: str) -> None:
    if not isinstance(metrics, dict):
        raise ValueError(f"{name}: metrics must be a dict of numbers, got {type(metrics).__name__}")
    for key, value in metrics.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ValueError(f"{name}: metrics[{key!r}] must be a finite number, got {value!r}")


def _fit_round(client_fn: Callable[[int], Client], cids: list[int], parameters: Parameters, config: dict,
               round_timeout: float | None) -> tuple[list[FitRes], list[Failure]]:
    results: list[FitRes] = []
    failures: list[Failure] = []
    for cid in cids:
        try:  # a client's failure (even SystemExit, or a hang past round_timeout) must not end the whole run
            new_parameters, num_examples, metrics = call_with_timeout(
                lambda cid=cid: client_fn(cid).fit(parameters, config), round_timeout, f"client {cid}'s fit")
            check_update(new_parameters, num_examples, parameters, name=f"client {cid}'s update")
            _check_metrics(metrics, f"client {cid}'s fit")
            results.append(FitRes(cid, new_parameters, num_examples, metrics))
        except (Exception, SystemExit) as error:
            failures.append((cid, error))
    return results, failures


def _fit_round_batched(client_fn: Callable[[int], Client], cids: list[int], parameters: Parameters, config: dict,
                       round_timeout: float | None, batched: bool | str) -> tuple[list[FitRes], list[Failure]]:
    """:func:`_fit_round` with the batchable clients trained together (:func:`course_utils.batched.fit_batched`).

    ``batched="auto"``: together only if at least ``BATCHED_MIN_CLIENTS`` sampled clients can be
    (see :func:`course_utils.batched.split_batchable`), the others one by one; ``True``: every
    sampled client must be batchable (``ValueError`` otherwise). The batched computation is one
    call under ``round_timeout`` (one per ``BATCHED_CHUNK`` clients): if it fails or times out, every
    client in it fails.
    """
    results: dict[int, FitRes] = {}
    failures: dict[int, BaseException] = {}
    built: list[tuple[int, Client]] = []
    for cid in cids:
        try:
            built.append((cid, call_with_timeout(lambda cid=cid: client_fn(cid), round_timeout,
                                                 f"client {cid}'s creation")))
        except (Exception, SystemExit) as error:
            failures[cid] = error
    together, apart = split_batchable([client for _, client in built], strict=batched == "auto")
    if batched is True and apart:
        i, reason = next(iter(apart.items()))
        raise ValueError(f"batched=True, but client {built[i][0]} cannot be trained on the batched path: {reason}; "
                         "use batched='auto' to train such clients one by one")
    if len(together) < BATCHED_MIN_CLIENTS and batched == "auto":
        together = []
    chosen = set(together)
    alone = [i for i in range(len(built)) if i not in chosen]
    for i in alone:
        cid, client = built[i]
        try:
            new_parameters, num_examples, metrics = call_with_timeout(
                lambda client=client: client.fit(parameters, config), round_timeout, f"client {cid}'s fit")
            check_update(new_parameters, num_examples, parameters, name=f"client {cid}'s update")
            _check_metrics(metrics, f"client {cid}'s fit")
            results[cid] = FitRes(cid, new_parameters, num_examples, metrics)
        except (Exception, SystemExit) as error:
            failures[cid] = error
    for first in range(0, len(together), BATCHED_CHUNK):  # a chunk at a time: the working memory stays bounded
        group = [built[i] for i in together[first : first + BATCHED_CHUNK]]
        try:
            outcomes = call_with_timeout(lambda group=group: fit_batched([c for _, c in group], parameters, config),
                                         round_timeout, f"the batched fit of {len(group)} clients")
        except (Exception, SystemExit) as error:
            outcomes = [error] * len(group)
        for (cid, _), outcome in zip(group, outcomes):
            try:
                if isinstance(outcome, BaseException):
                    raise outcome
                new_parameters, num_examples, metrics = outcome  # shapes and counts right by construction
                if not all(np.isfinite(array).all() for array in new_parameters):
                    check_update(new_parameters, num_examples, parameters, name=f"client {cid}'s update")
                _check_metrics(metrics, f"client {cid}'s fit")
                results[cid] = FitRes(cid, new_parameters, num_examples, metrics)
            except (Exception, SystemExit) as error:
                failures[cid] = error
    return [results[c] for c in cids if c in results], [(c, failures[c]) for c in cids if c in failures]


def _evaluate_round(client_fn: Callable[[int], Client], cids: list[int], parameters: Parameters, config: dict,
                    round_timeout: float | None) -> tuple[list[EvaluateRes], list[Failure]]:
    results: list[EvaluateRes] = []
    failures: list[Failure] = []
    for cid in cids:
        try:
            loss, num_examples, metrics = call_with_timeout(
                lambda cid=cid: client_fn(cid).evaluate(parameters, config), round_timeout,
                f"client {cid}'s evaluate")
            check_evaluation(loss, num_examples, metrics, name=f"client {cid}'s evaluation")
            results.append(EvaluateRes(cid, float(loss), num_examples, metrics))
        except (Exception, SystemExit) as error:
            failures.append((cid, error))
    return results, failures


def _check_run_arguments(client_fn, num_clients, num_rounds, strategy, seed, progress, stop_when, round_timeout,
                         batched="auto") -> None:
    if not callable(client_fn):
        raise TypeError(f"client_fn must be a function cid -> Client, got {type(client_fn).__name__}")
    check_integer("num_clients", num_clients, 1)
    check_integer("num_rounds", num_rounds, 1)
    if not isinstance(strategy, FedAvg):
        raise TypeError(f"strategy must be a FedAvg (or a subclass of it), got {type(strategy).__name__}")
    check_integer("seed", seed, 0)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if stop_when is not None and not callable(stop_when):
        raise TypeError(f"stop_when must be a function History -> bool or None, got {type(stop_when).__name__}")
    if round_timeout is not None:
        check_number("round_timeout", round_timeout, 0, min_open=True, hint=" (seconds), or None for no limit")
    if not (batched is True or batched is False or (isinstance(batched, str) and batched == "auto")):
        raise ValueError(f"batched must be 'auto', True or False, got {batched!r}")


def run_simulation(
    client_fn: Callable[[int], Client],
    num_clients: int,
    num_rounds: int,
    strategy: FedAvg,
    initial_parameters: Parameters,
    seed: int = 0,
    progress: bool = True,
    stop_when: Callable[[History], bool] | None = None,
    round_timeout: float | None = 3600.0,
    batched: bool | str = "auto",
) -> tuple[Parameters, History]:
    """Run ``num_rounds`` rounds of FL over clients ``0 .. num_clients - 1``.

    Each round: sample clients and send them the parameters (step 1), each trains locally
    (step 2) and returns its update (step 3), the strategy aggregates (step 4); then
    server-side and federated evaluation. Returns the final parameters and the History.

    ``seed`` is the run's seed: it draws the client sample of every round and is sent to the
    clients in the fit config (``config["seed"]``), from which each client derives its
    shuffles (and a simulated fault its dropouts) for that round. Same ``seed``, same History;
    another ``seed``, another run, even when every client takes part in every round.

    A client fails when it raises (any ``Exception``, or ``SystemExit``), returns an update
    that cannot be averaged or an evaluation with a NaN or infinite loss, or takes longer than
    ``round_timeout`` seconds (:class:`ClientTimeout`; see :func:`call_with_timeout`; None: no
    limit; the default, 3600 s, is the per-round timeout of Flower 1.42's ``Strategy.start``).
    Failures are recorded in ``History.failures`` and handed to the strategy, which may skip
    the round's update (``History.skipped_rounds``).

    ``stop_when(history) -> bool``, if given, is asked after every round; the run ends early
    (after fewer than ``num_rounds`` rounds) as soon as it returns True, e.g.
    ``stop_when=lambda h: h.rounds_to_reach(0.9) is not None``. The rounds it did run are
    the same as those of a full run.

    Ctrl-C raises :class:`SimulationInterrupted`, which carries the parameters and history
    of the rounds completed so far.

    ``batched`` says how the sampled clients train (step 2). The *sequential* path calls each
    client's ``fit`` in turn: it is the readable reference, which notebook 02's hand-written
    round matches bit for bit, and the only path for faulty, poisoned or custom clients (any
    wrapper or subclass of ``Client``). The *batched* path trains the course's own ``Client``
    objects (the course's models, plain SGD with or without FedProx's term) as one computation
    (:mod:`course_utils.batched`); each client still draws its own mini-batches, so the
    results equal the sequential ones up to float rounding (about 1e-6, not bit for bit).
    ``"auto"`` (the default) takes the batched path in a round that samples at least
    ``BATCHED_MIN_CLIENTS`` (64) such clients, and trains any other sampled client one by one.
    The batched path is already faster at 10 clients (``benchmarks/README.md``), but rounds
    of fewer than 64 stay on the reference path, so that the notebooks' stored results,
    made on it, do not change: notebook 05 samples up to 50 clients a round, and notebook
    09's Poisson sampling (20 expected of 200) reaches 32 to 35 in a few rounds. Ask for
    ``batched=True`` to train smaller rounds together. ``False``: always sequential. ``True``: batched in
    every round, and a ``ValueError`` if a sampled client cannot be batched. On the batched
    path ``round_timeout`` limits the one batched computation, and if it fails every client
    in it fails.
    """
    _check_run_arguments(client_fn, num_clients, num_rounds, strategy, seed, progress, stop_when, round_timeout,
                         batched)
    if not isinstance(initial_parameters, (list, tuple)) or len(initial_parameters) == 0:
        raise ValueError(f"initial_parameters must be a non-empty list of arrays, got {initial_parameters!r:.80}")
    check_results([(initial_parameters, 1)])
    strategy.check_population(num_clients)
    strategy.reset()
    rng = np.random.default_rng(seed)
    history = History()
    parameters = [np.array(p, copy=True) for p in initial_parameters]  # step 0
    _evaluate_centrally(strategy, 0, parameters, history)
    completed = 0
    bar = tqdm(range(1, num_rounds + 1), desc="rounds", disable=not progress)
    try:
        for server_round in bar:
            parameters = _run_round(strategy, client_fn, server_round, num_clients, rng, seed, parameters,
                                    history, round_timeout, batched)
            completed = server_round
            if history.metrics_centralized.get("accuracy"):
                bar.set_postfix(accuracy=f"{history.final('accuracy'):.3f}")
            if stop_when is not None and stop_when(history):
                break
    except KeyboardInterrupt as interrupt:
        history._keep_rounds(completed)
        raise SimulationInterrupted(parameters, history, completed) from interrupt
    finally:
        bar.close()
    return parameters, history


def _run_round(strategy, client_fn, server_round, num_clients, rng, seed, parameters, history, round_timeout,
               batched="auto"):
    """One round: steps 1-4, then both evaluations. Returns the new global parameters."""
    cids, config = strategy.configure_fit(server_round, num_clients, rng)
    if batched is False or (batched == "auto" and len(cids) < BATCHED_MIN_CLIENTS):
        results, failures = _fit_round(client_fn, cids, parameters, {**config, "seed": seed}, round_timeout)
    else:
        results, failures = _fit_round_batched(client_fn, cids, parameters, {**config, "seed": seed}, round_timeout,
                                               batched)
    if failures:
        history.failures[server_round] = [(cid, f"{type(e).__name__}: {e}") for cid, e in failures]
    try:
        new_parameters, fit_metrics = strategy.aggregate_fit(server_round, results, failures, current=parameters)
        history._add(history.metrics_distributed_fit, server_round, fit_metrics)
    except RoundSkipped as skipped:  # the global model stays as it was, as on Flower's server
        new_parameters = parameters
        history.skipped_rounds[server_round] = str(skipped)
    _evaluate_centrally(strategy, server_round, new_parameters, history)
    _evaluate_federated(strategy, client_fn, server_round, num_clients, rng, new_parameters, history, round_timeout)
    return new_parameters


def _evaluate_centrally(strategy: FedAvg, server_round: int, parameters: Parameters, history: History) -> None:
    outcome = strategy.evaluate(server_round, parameters)
    if outcome is not None:
        loss, metrics = outcome
        history.losses_centralized.append((server_round, float(loss)))
        history._add(history.metrics_centralized, server_round, metrics)


def _evaluate_federated(strategy, client_fn, server_round, num_clients, rng, parameters, history,
                        round_timeout=None) -> None:
    cids, config = strategy.configure_evaluate(server_round, num_clients, rng)
    if not cids:
        return
    results, failures = _evaluate_round(client_fn, cids, parameters, config, round_timeout)
    if failures:
        history.evaluate_failures[server_round] = [(cid, f"{type(e).__name__}: {e}") for cid, e in failures]
    try:
        loss, metrics = strategy.aggregate_evaluate(server_round, results, failures)
    except RoundSkipped as skipped:
        history.skipped_evaluations[server_round] = str(skipped)
        return
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
    if not callable(client_fn):
        raise TypeError(f"client_fn must be a function cid -> Client, got {type(client_fn).__name__}")
    if isinstance(cids, (str, bytes)) or not hasattr(cids, "__iter__"):
        raise TypeError(f"cids must be a list of client ids, got {type(cids).__name__}")
    for cid in cids:
        check_integer("each of cids", cid, 0)
    check_results([(initial_parameters, 1)])
    check_integer("num_rounds", num_rounds, 1)
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict or None, got {type(config).__name__}")
    if evaluate_fn is not None and not callable(evaluate_fn):
        raise TypeError(f"evaluate_fn must be a function (server_round, parameters) -> (loss, metrics), "
                        f"got {type(evaluate_fn).__name__}")
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
