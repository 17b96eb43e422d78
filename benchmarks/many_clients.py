"""What a round costs with many clients: 1,000 clients against 10 on the same examples, and a scaling table.

``--ratio`` (the default): one round of FedAvg with 1,000 IID clients against one round with 10
IID clients, both over the same 1,437 training digits (about 1.4 and 144 digits per client), the
course's CNN, one local epoch, batch 32, learning rate 0.1, every client sampled, no evaluation.
Both use ``run_simulation``'s default ``batched="auto"``: the 10 clients train one by one (the
sequential path), the 1,000 together (the batched path). Each repeat times the two rounds back
to back in this process (the same load for both); the medians and the median ratio are printed.
``--sequential`` adds the 1,000 clients on the sequential path (``batched=False``), once.

``--scaling``: seconds per round and peak memory for 10, 100, 1,000 and 10,000 clients per
round, sampled from a population of ``--population`` clients (100,000 by default) that holds 4
digits each. The population exists only as a function: client ``cid``'s digits are drawn from
a generator seeded with ``cid`` when it is sampled, and dropped after the round, so memory should
not grow with the clients that are not sampled; ``--flat`` checks that by sampling 1,000 clients
a round from populations of 10,000 to 10,000,000. Each setting runs in its own process, whose
peak resident memory (``ru_maxrss``) is reported with its growth over the process before the
first round.

    python benchmarks/many_clients.py --ratio --repeats 5 [--sequential]
    python benchmarks/many_clients.py --scaling [--population 100000]
    python benchmarks/many_clients.py --flat
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from course_utils.client import Client, make_client_fn
from course_utils.data import load_dataset, subset
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid
from course_utils.simulation import run_simulation
from course_utils.strategy import FedAvg

FIT_CONFIG = {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.1}
EXAMPLES_PER_CLIENT = 4


def round_seconds(client_fn, num_clients: int, sampled: int, initial, batched="auto", rounds: int = 1) -> float:
    """Median seconds of one round (over ``rounds`` one-round runs) sampling ``sampled`` of ``num_clients``."""
    strategy = FedAvg(fraction_fit=sampled / num_clients, fraction_evaluate=0.0, min_fit_clients=sampled,
                      min_available_clients=1, min_evaluate_clients=1, on_fit_config_fn=lambda r: dict(FIT_CONFIG))
    times = []
    for seed in range(rounds):
        start = time.perf_counter()
        run_simulation(client_fn, num_clients, 1, strategy, initial, seed=seed, progress=False, batched=batched)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ratio(repeats: int, sequential: bool) -> None:
    data = load_dataset("digits")
    model_fn = lambda: make_model("cnn", data.input_shape, data.num_classes)  # noqa: E731
    initial = get_parameters(model_fn())
    few = make_client_fn(data.train, iid(len(data.train), 10, 0), model_fn, test_fraction=0.0)
    many = make_client_fn(data.train, iid(len(data.train), 1000, 0), model_fn, test_fraction=0.0)
    round_seconds(few, 10, 10, initial), round_seconds(many, 1000, 1000, initial)  # warm-up
    pairs = [(round_seconds(few, 10, 10, initial), round_seconds(many, 1000, 1000, initial)) for _ in range(repeats)]
    for ten, thousand in pairs:
        print(f"  10 clients {ten:.3f} s   1,000 clients {thousand:.3f} s   ratio {thousand / ten:.2f}")
    print(f"one round, 10 clients: {statistics.median(p[0] for p in pairs):.3f} s; 1,000 clients: "
          f"{statistics.median(p[1] for p in pairs):.3f} s; ratio (median of {repeats} pairs): "
          f"{statistics.median(p[1] / p[0] for p in pairs):.2f} (goal: at most 2)")
    if sequential:
        ten, thousand = round_seconds(few, 10, 10, initial), round_seconds(many, 1000, 1000, initial, batched=False)
        print(f"1,000 clients on the sequential path: {thousand:.3f} s, "
              f"{thousand / ten:.1f}x the 10 clients' {ten:.3f} s")


def on_demand_population(data, model_fn, examples_per_client: int, seed: int = 0):
    """``client_fn(cid)`` for a population of any size: client ``cid``'s digits are drawn when it is asked for."""
    workspace = model_fn()

    def client_fn(cid: int) -> Client:
        picked = np.random.default_rng([seed, cid]).choice(len(data), examples_per_client, replace=False)
        return Client(cid, lambda: workspace, subset(data, picked), seed=seed)

    return client_fn


def one_setting(sampled: int, population: int) -> dict:
    """Seconds per round and memory of rounds sampling ``sampled`` clients out of ``population`` (in this process)."""
    data = load_dataset("digits")
    model_fn = lambda: make_model("cnn", data.input_shape, data.num_classes)  # noqa: E731
    client_fn = on_demand_population(data.train, model_fn, EXAMPLES_PER_CLIENT)
    initial = get_parameters(model_fn())
    before = _rss_kib()
    round_seconds(client_fn, population, sampled, initial)  # warm-up
    seconds = round_seconds(client_fn, population, sampled, initial, rounds=3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"sampled": sampled, "population": population, "seconds": seconds, "peak_mib": peak / 1024,
            "growth_mib": (peak - before) / 1024}


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def table(settings: list[tuple[int, int]]) -> None:
    print("| clients per round | population | seconds per round | peak memory (MiB) | growth over the start (MiB) |")
    print("|---|---|---|---|---|")
    for sampled, population in settings:
        out = subprocess.run([sys.executable, __file__, "--one", str(sampled), str(population)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        cells = (f"{sampled:,}", f"{population:,}", f"{row['seconds']:.3f}", f"{row['peak_mib']:.0f}",
                 f"{row['growth_mib']:.0f}")
        print(f"| {' | '.join(cells)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", action="store_true")
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--flat", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--one", type=int, nargs=2, metavar=("SAMPLED", "POPULATION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.one:
        print(json.dumps(one_setting(*args.one)))
        return
    print(f"machine: {platform.machine()}, 1 torch thread, torch {torch.__version__}")
    if args.scaling:
        table([(k, args.population) for k in (10, 100, 1000, 10_000)])
    if args.flat:
        table([(1000, n) for n in (10_000, 1_000_000, 10_000_000)])
    if args.ratio or not (args.scaling or args.flat):
        ratio(args.repeats, args.sequential)


if __name__ == "__main__":
    main()
