"""How much does the simulation machinery cost on top of the bare SGD compute?

Times a FedAvg simulation (10 IID clients, 1 local epoch, 10 rounds, digits, small CNN, no
evaluation) against the same number of SGD steps, with the same batch size, done centrally
in one loop, the two back to back in each repeat (the same load for both). Prints both times
(medians of --repeats runs) and the median of the repeats' ratios; goal <= 1.05. Ten clients are
below run_simulation's batched threshold: this is the sequential path, the course's reference.

    python benchmarks/simulation_overhead.py [--repeats 5] [--with-evaluation] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from course_utils.client import DEFAULT_FIT_CONFIG, make_client_fn
from course_utils.data import load_dataset
from course_utils.evaluation import make_evaluate_fn
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid
from course_utils.simulation import run_simulation
from course_utils.strategy import FedAvg
from course_utils.training import train

NUM_CLIENTS, NUM_ROUNDS, SEED = 10, 10, 0


def time_simulation(with_evaluation: bool) -> tuple[float, int]:
    """Seconds for one simulation, and the total number of SGD steps the clients took."""
    data = load_dataset("digits")
    model_fn = lambda: make_model("cnn", data.input_shape, data.num_classes)  # noqa: E731
    client_fn = make_client_fn(data.train, iid(len(data.train), NUM_CLIENTS, SEED), model_fn, seed=SEED)
    strategy = FedAvg(
        fraction_evaluate=1.0 if with_evaluation else 0.0,
        evaluate_fn=make_evaluate_fn(model_fn, data.test) if with_evaluation else None,
    )
    start = time.perf_counter()
    run_simulation(client_fn, NUM_CLIENTS, NUM_ROUNDS, strategy, get_parameters(model_fn()), SEED, progress=False)
    elapsed = time.perf_counter() - start
    batch = DEFAULT_FIT_CONFIG["batch_size"]
    steps = NUM_ROUNDS * sum(-(-len(client_fn(c).train_data) // batch) for c in range(NUM_CLIENTS))
    return elapsed, steps


def time_central(steps: int) -> float:
    """Seconds for ``steps`` SGD steps on the whole training set in one loop."""
    data = load_dataset("digits")
    model = make_model("cnn", data.input_shape, data.num_classes)
    start = time.perf_counter()
    train(model, data.train, steps=steps, batch_size=DEFAULT_FIT_CONFIG["batch_size"], lr=0.1, seed=SEED)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--with-evaluation", action="store_true", help="also evaluate every round (not bare compute)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the notebooks use 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    time_simulation(args.with_evaluation)  # warm-up: imports, allocator, thread pool
    simulation, central = [], []
    for _ in range(args.repeats):
        seconds, steps = time_simulation(args.with_evaluation)
        simulation.append(seconds)
        central.append(time_central(steps))
    sim, cen = statistics.median(simulation), statistics.median(central)
    ratio = statistics.median(s / c for s, c in zip(simulation, central))
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"SGD steps: {steps} (batch {DEFAULT_FIT_CONFIG['batch_size']}), evaluation: {args.with_evaluation}")
    print(f"simulation: {sim:.3f} s   central loop: {cen:.3f} s   (medians of {args.repeats})")
    print(f"ratios: {', '.join(f'{s / c:.3f}' for s, c in zip(simulation, central))}")
    print(f"overhead ratio (median of the repeats' ratios): {ratio:.3f}   (goal: at most 1.05)")


if __name__ == "__main__":
    main()
