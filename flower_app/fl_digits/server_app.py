"""The ServerApp: Flower's strategies run the rounds; the course evaluates on the server.

``strategy.start`` does steps 0 to 5: it sends the global ArrayRecord to the sampled
SuperNodes, waits for their replies, aggregates them, asks for federated evaluation, and calls
``evaluate_fn`` on the server's own test set (round 0 is the initial model). It returns a
``Result``, Flower's counterpart of the course's ``History``.

One run can carry several jobs (the run config's ``strategies``, e.g. ``"fedavg,fedmedian"``):
each starts again from the same initial model, one after the other, on the same SuperNodes. In
the simulation engine that pays for starting Ray and its workers once, not once per job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, NeighboringRelation, PrivacyConfig, SamplingMethod, ServerApp
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
    FedMedian,
    Result,
    Strategy,
)

from fl_digits.task import initial_parameters, server_evaluate_fn

app = ServerApp()

STRATEGIES = ("fedavg", "fedmedian", "dp-fedavg")
# The reply's metric that weights each client once: DP's average is unweighted (see dp_fedavg).
UNIT_WEIGHT = "unit-weight"


def node_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling settings every strategy here shares, from the run config: fractions and minimums.

    ``min_available_nodes`` is every partition, so that a run waits until all SuperNodes are connected.
    """
    num_partitions = int(config["num-partitions"])
    return {
        "fraction_train": float(config["fraction-train"]),
        "fraction_evaluate": float(config["fraction-evaluate"]),
        "min_train_nodes": min(2, num_partitions),
        "min_evaluate_nodes": min(2, num_partitions),
        "min_available_nodes": num_partitions,
    }


def dp_fedavg(config: Mapping[str, Any]) -> DifferentialPrivacyServerSideFixedClipping:
    """Central DP-FedAvg: FedAvg wrapped in Flower's server-side fixed clipping, with its RDP accountant.

    The server clips every update to ``dp-clipping-norm`` and adds Gaussian noise of std
    ``dp-noise-multiplier * dp-clipping-norm / num_sampled`` to the average. Flower's accountant
    needs an unweighted average (every client weight 1, the ``UNIT_WEIGHT`` metric) and accounts
    without amplification by sampling: every round is a full Gaussian release.
    """
    from flwr.serverapp import RdpAccountant  # needs dp-accounting (flwr[dp]); the course installs it

    num_partitions = int(config["num-partitions"])
    if float(config["fraction-train"]) != 1.0:
        raise ValueError("dp-fedavg: this app's DP job needs fraction-train = 1.0 (num_sampled_clients is fixed)")
    accountant = RdpAccountant(
        PrivacyConfig(
            target_delta=float(config["dp-delta"]),
            population_size=num_partitions,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        )
    )
    return DifferentialPrivacyServerSideFixedClipping(
        FedAvg(**node_settings(config), weighted_by_key=UNIT_WEIGHT),
        noise_multiplier=float(config["dp-noise-multiplier"]),
        clipping_norm=float(config["dp-clipping-norm"]),
        num_sampled_clients=num_partitions,
        accountant=accountant,
    )


def make_strategy(name: str, config: Mapping[str, Any]) -> Strategy:
    """The Flower strategy called ``name`` (one of ``STRATEGIES``), set up from the run config."""
    if name == "fedavg":
        return FedAvg(**node_settings(config))
    if name == "fedmedian":
        return FedMedian(**node_settings(config))
    if name == "dp-fedavg":
        return dp_fedavg(config)
    raise ValueError(f"strategies: unknown strategy {name!r}; use one or more of {', '.join(STRATEGIES)}")


def job_names(config: Mapping[str, Any]) -> list[str]:
    """The jobs of this run: the comma-separated names in the run config's ``strategies``, checked."""
    names = [name.strip() for name in str(config["strategies"]).split(",") if name.strip()]
    if not names:
        raise ValueError(f"strategies must name at least one of {', '.join(STRATEGIES)}")
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"strategies: {names} must be distinct names from {', '.join(STRATEGIES)}")
    return names


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run ``num-server-rounds`` rounds of each job in ``strategies``, with the settings of the run config."""
    config = context.run_config
    evaluate_fn = server_evaluate_fn(config)

    def global_evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        loss, metrics = evaluate_fn(server_round, arrays.to_numpy_ndarrays())
        return MetricRecord({"loss": loss, **metrics})

    results = {}
    for name in job_names(config):
        strategy = make_strategy(name, config)  # checked before any round runs
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(initial_parameters(config)),
            num_rounds=int(config["num-server-rounds"]),
            train_config=ConfigRecord({key: config[key] for key in ("local-epochs", "batch-size", "learning-rate")}),
            evaluate_fn=global_evaluate,
        )
        results[name] = result_metrics(result)
        if isinstance(strategy, DifferentialPrivacyServerSideFixedClipping):
            spent = strategy.privacy_spent()
            results[name]["privacy"] = {"epsilon": spent.epsilon, "delta": spent.delta,
                                        "num-releases": spent.num_releases}  # fmt: skip
    if config["results-file"]:
        path = Path(str(config["results-file"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))


def result_metrics(result: Result) -> dict[str, dict[str, dict[str, float]]]:
    """The per-round metrics of ``result``: {kind: {round: {metric: value}}}, kind centralized, distributed or fit."""
    kinds = {
        "centralized": result.evaluate_metrics_serverapp,
        "distributed": result.evaluate_metrics_clientapp,
        "fit": result.train_metrics_clientapp,
    }
    return {kind: {str(r): dict(record) for r, record in sorted(rounds.items())} for kind, rounds in kinds.items()}
