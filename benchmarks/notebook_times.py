"""Execute every notebook with a fresh kernel and print how long each took, in seconds and in
units of a fixed calibration workload measured in the same run.

    python -m benchmarks.notebook_times [notebooks/03_*.ipynb ...]   (from the repository's root)

Nothing is written back: the stored notebooks stay as they are. Machines of the same kind
differ (one idle 2-core machine ran the same loop 3.7x slower than another), so seconds alone
say little; a *unit* is the time this machine takes, right now, for the calibration workload:
one epoch of the course's CNN on the 1,437 training digits (batch 16, plain SGD, one torch
thread, the notebooks' setting), the median of 5 repeats. The budget holds on any machine in
units: each notebook at most ``BUDGET_UNITS_NOTEBOOK`` units, the whole course at most
``BUDGET_UNITS_COURSE`` (60 s and 300 s on the machine of benchmarks/README.md).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from tools.execute_notebooks import run

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_UNIT_SECONDS = 0.16  # the calibration workload on the machine of benchmarks/README.md, lightly loaded
BUDGET_UNITS_NOTEBOOK = 60 / REFERENCE_UNIT_SECONDS
BUDGET_UNITS_COURSE = 300 / REFERENCE_UNIT_SECONDS


def calibration_seconds(repeats: int = 5) -> float:
    """Median seconds of one epoch of the course's CNN on the digits (batch 16, one torch thread)."""
    import torch

    from course_utils.data import load_dataset
    from course_utils.models import make_model
    from course_utils.training import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_dataset("digits")
        times = []
        for repeat in range(repeats + 1):  # the first one warms up
            model = make_model("cnn", data.input_shape, data.num_classes, seed=0)
            start = time.perf_counter()
            train(model, data.train, epochs=1, batch_size=16, lr=0.1, seed=repeat)
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    unit = calibration_seconds()
    print(f"calibration unit: {unit:.3f} s on this machine now ({REFERENCE_UNIT_SECONDS} s on the reference machine)")
    print(f"budget: {BUDGET_UNITS_NOTEBOOK:.0f} units per notebook, {BUDGET_UNITS_COURSE:.0f} units for the course")
    total = 0.0
    for path in paths:
        seconds = run(path)[1]
        total += seconds
        flag = "" if seconds / unit <= BUDGET_UNITS_NOTEBOOK else "  OVER BUDGET"
        print(f"{path.name:45s} {seconds:6.1f} s {seconds / unit:7.0f} units{flag}", flush=True)
    flag = "" if total / unit <= BUDGET_UNITS_COURSE else "  OVER BUDGET"
    print(f"{'total':45s} {total:6.1f} s {total / unit:7.0f} units{flag}")
    print(f"calibration unit again at the end: {calibration_seconds():.3f} s (a large change means the load changed)")


if __name__ == "__main__":
    main()
