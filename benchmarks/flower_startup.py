"""What hiding ``flower_processes.SKIPPED_IMPORTS`` from Flower's processes saves, measured in pairs.

Jupyter installs rfc3987-syntax, jsonschema imports it whenever it can, and every process of Ray
(Flower's simulation engine) imports jsonschema. ``flower_processes.flower_env`` puts a folder first
on PYTHONPATH in which that import fails. Each pair here runs the same thing twice, back to back,
once with that folder on PYTHONPATH and once without, and prints both times and their ratio:

- ``import ray`` in a fresh Python process (the default);
- with ``--simulation``: notebook 11's ``flwr run`` in Flower's simulation engine (its three jobs,
  5 SuperNodes, 5 rounds, the MLP), from the SuperLink's start to its stop.

    python -m benchmarks.flower_startup [--pairs 5] [--simulation]   (from the repository's root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_utils import flower_processes

ROOT = Path(__file__).resolve().parents[1]
RUN_CONFIG = {"model": "mlp", "num-server-rounds": 5, "num-partitions": 5, "strategies": "fedavg,fedmedian,dp-fedavg"}
FEDERATION_CONFIG = {"num-supernodes": 5, "init-args-num-cpus": 1, "client-resources-num-cpus": 1}


def env_for(flwr_home: Path, skip: bool) -> dict[str, str]:
    """``flower_env(flwr_home)``, without its skipped-imports folder unless ``skip``."""
    env = flower_processes.flower_env(flwr_home)
    if not skip:
        hidden = str(flower_processes.skipped_imports_folder(flwr_home))
        env["PYTHONPATH"] = os.pathsep.join(f for f in env["PYTHONPATH"].split(os.pathsep) if f != hidden)
    return env


def import_ray_seconds(env: dict[str, str]) -> float:
    """Wall seconds of ``python -c "import ray"`` in a fresh process with environment ``env``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ray"], env=env, check=True)
    return time.perf_counter() - start


def simulation_seconds(env: dict[str, str], flwr_home: Path) -> float:
    """Wall seconds of notebook 11's simulation: SuperLink start, ``flwr run``, every process stopped."""
    port = flower_processes.free_port()
    flower_processes.write_flower_config(flwr_home, {"local-simulation": port})
    start = time.perf_counter()
    with flower_processes.running([flower_processes.superlink_command(port, simulation=True)], env,
                                  flwr_home / "logs", port):
        flower_processes.flwr_run(ROOT / "flower_app", "local-simulation", env, run_config=RUN_CONFIG,
                                  federation_config=FEDERATION_CONFIG)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--simulation", action="store_true", help="time notebook 11's flwr run instead of import ray")
    args = parser.parse_args()
    what = "notebook 11's simulation" if args.simulation else "import ray"
    ratios = []
    for pair in range(args.pairs):
        seconds = {}
        for skip in (True, False):
            with tempfile.TemporaryDirectory(prefix="flower-startup-") as home:
                env = env_for(Path(home), skip)
                seconds[skip] = simulation_seconds(env, Path(home)) if args.simulation else import_ray_seconds(env)
        ratios.append(seconds[False] / seconds[True])
        print(f"pair {pair + 1}: {what} {seconds[True]:6.2f} s with {flower_processes.SKIPPED_IMPORTS} hidden, "
              f"{seconds[False]:6.2f} s without: {ratios[-1]:.2f}x", flush=True)
    print(f"median over {args.pairs} pairs: {statistics.median(ratios):.2f}x as long without hiding them")


if __name__ == "__main__":
    main()
