"""Flower's simulation engine against course_utils on the same FedAvg job, each as a whole process.

The job: the digits, the course's CNN, 10 IID clients, 10 rounds, every client trains one local
epoch (batch 32, learning rate 0.1) in every round, no federated evaluation, centralized
evaluation on the test set after every round (and of the initial model). Each side runs in a
fresh Python process, timed from its start to its exit (imports, Ray's start and stop included):

- ``course``: ``course_utils.simulation.run_simulation``;
- ``flower``: Flower 1.42's simulation engine (``flwr.simulation.run_simulation``, Ray backend,
  10 virtual SuperNodes) running a small ServerApp (``flwr.serverapp.strategy.FedAvg``) and a
  ClientApp whose ``train`` calls the course's own ``Client.fit``.

A pair is one course process then one Flower process, back to back, so that both see the same
load; the ratio of each pair is printed, then the median over the pairs.

    python benchmarks/flower_vs_course.py [--pairs 3]
    python benchmarks/flower_vs_course.py --side course   # one process of one side (what a pair runs)
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

NUM_CLIENTS, NUM_ROUNDS, SEED = 10, 10, 0
FIT_CONFIG = {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.1}


def job():
    """The shared pieces: the client_fn of the 10 clients, the server's evaluate_fn, the initial parameters."""
    from course_utils.client import make_client_fn
    from course_utils.data import load_dataset
    from course_utils.evaluation import make_evaluate_fn
    from course_utils.models import get_parameters, make_model
    from course_utils.partition import iid

    data = load_dataset("digits")
    model_fn = lambda: make_model("cnn", data.input_shape, data.num_classes, seed=SEED)  # noqa: E731
    split = iid(len(data.train), NUM_CLIENTS, SEED)
    client_fn = make_client_fn(data.train, split, model_fn, test_fraction=0.0, seed=SEED)
    return client_fn, make_evaluate_fn(model_fn, data.test), get_parameters(model_fn())


def run_course() -> float:
    """The job with course_utils; returns the final centralized accuracy."""
    from course_utils.simulation import run_simulation
    from course_utils.strategy import FedAvg

    client_fn, evaluate_fn, initial = job()
    strategy = FedAvg(fraction_evaluate=0.0, evaluate_fn=evaluate_fn, on_fit_config_fn=lambda r: dict(FIT_CONFIG))
    _, history = run_simulation(client_fn, NUM_CLIENTS, NUM_ROUNDS, strategy, initial, seed=SEED, progress=False)
    return history.final("accuracy")


def run_flower() -> float:
    """The job on Flower's simulation engine; returns the final centralized accuracy."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    client_fn, evaluate_fn, initial = job()
    client_app, server_app = ClientApp(), ServerApp()
    accuracy: list[float] = []

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        client = client_fn(int(context.node_config["partition-id"]))
        config = {"local_epochs": int(msg.content["config"]["local-epochs"]),
                  "batch_size": int(msg.content["config"]["batch-size"]),
                  "learning_rate": float(msg.content["config"]["learning-rate"]),
                  "server_round": int(msg.content["config"]["server-round"]), "seed": SEED}
        parameters, num_examples, metrics = client.fit(msg.content["arrays"].to_numpy_ndarrays(), config)
        reply = RecordDict({"arrays": ArrayRecord(parameters),
                            "metrics": MetricRecord({**metrics, "num-examples": num_examples})})
        return Message(content=reply, reply_to=msg)

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=NUM_CLIENTS,
                          min_available_nodes=NUM_CLIENTS)

        def global_evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            loss, metrics = evaluate_fn(server_round, arrays.to_numpy_ndarrays())
            accuracy.append(metrics["accuracy"])
            return MetricRecord({"loss": loss, **metrics})

        strategy.start(grid=grid, initial_arrays=ArrayRecord(initial), num_rounds=NUM_ROUNDS,
                       train_config=ConfigRecord({"local-epochs": FIT_CONFIG["local_epochs"],
                                                  "batch-size": FIT_CONFIG["batch_size"],
                                                  "learning-rate": FIT_CONFIG["learning_rate"]}),
                       evaluate_fn=global_evaluate)

    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=NUM_CLIENTS,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    return accuracy[-1] if accuracy else float("nan")


def one_process(side: str, timeout: float) -> float:
    """Seconds for one whole process of ``side``, from its start to its exit (its process group is
    killed after ``timeout`` seconds: when Ray's node fails to start, Flower's simulation hangs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FLWR_TELEMETRY_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--side", side], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise RuntimeError(f"the {side} process did not finish within {timeout:.0f} s (killed)") from None
    seconds = time.perf_counter() - start
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if done.returncode != 0:
        raise RuntimeError(f"the {side} process failed:\n{done.stderr[-3000:]}")
    print(f"  {side}: {seconds:.1f} s, {done.stdout.strip().splitlines()[-1]}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a process may take before it is killed")
    parser.add_argument("--side", choices=("course", "flower"), help="run one side in this process")
    args = parser.parse_args()
    if args.side:
        import torch

        torch.set_num_threads(1)
        accuracy = run_course() if args.side == "course" else run_flower()
        print(f"final accuracy {accuracy:.3f}")
        return
    ratios = []
    for pair in range(args.pairs):
        print(f"pair {pair + 1}:", flush=True)
        course, flower = one_process("course", args.timeout), one_process("flower", args.timeout)
        ratios.append(flower / course)
        print(f"  ratio {ratios[-1]:.1f}", flush=True)
    print(f"Flower / course_utils, whole process: median {statistics.median(ratios):.1f} over {args.pairs} pairs "
          f"({', '.join(f'{r:.1f}' for r in ratios)}); goal: at least 10")


if __name__ == "__main__":
    main()
