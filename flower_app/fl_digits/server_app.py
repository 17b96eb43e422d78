"""The ServerApp: Flower's FedAvg strategy runs the rounds; the course evaluates on the server.

``strategy.start`` does steps 0 to 5: it sends the global ArrayRecord to the sampled
SuperNodes, waits for their replies, averages them weighted by "num-examples", asks for
federated evaluation, and calls ``evaluate_fn`` on the server's own test set (round 0 is the
initial model). It returns a ``Result``, Flower's counterpart of the course's ``History``.
"""

from __future__ import annotations

import json
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, Result

from fl_digits.task import initial_parameters, server_evaluate_fn

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run ``num-server-rounds`` rounds of FedAvg with the settings of the run config."""
    config = context.run_config
    num_partitions = int(config["num-partitions"])
    strategy = FedAvg(
        fraction_train=float(config["fraction-train"]),
        fraction_evaluate=float(config["fraction-evaluate"]),
        min_train_nodes=min(2, num_partitions),
        min_evaluate_nodes=min(2, num_partitions),
        min_available_nodes=num_partitions,  # wait until every partition's SuperNode is connected
    )
    evaluate_fn = server_evaluate_fn(config)

    def global_evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        loss, metrics = evaluate_fn(server_round, arrays.to_numpy_ndarrays())
        return MetricRecord({"loss": loss, **metrics})

    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(initial_parameters(config)),
        num_rounds=int(config["num-server-rounds"]),
        train_config=ConfigRecord(
            {key: config[key] for key in ("local-epochs", "batch-size", "learning-rate")}
        ),
        evaluate_fn=global_evaluate,
    )
    if config["results-file"]:
        write_result(result, Path(str(config["results-file"])))


def write_result(result: Result, path: Path) -> None:
    """Save the per-round metrics of ``result`` as JSON: {kind: {round: {metric: value}}}."""
    kinds = {
        "centralized": result.evaluate_metrics_serverapp,
        "distributed": result.evaluate_metrics_clientapp,
        "fit": result.train_metrics_clientapp,
    }
    out = {kind: {str(r): dict(record) for r, record in sorted(rounds.items())} for kind, rounds in kinds.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
