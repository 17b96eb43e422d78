"""Execute every notebook with a fresh kernel and print how long each took.

    python -m benchmarks.notebook_times [notebooks/03_*.ipynb ...]   (from the repository's root)

Nothing is written back: the stored notebooks stay as they are. Goal: each notebook well
under 60 s on 2 CPU cores with its default parameters.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools.execute_notebooks import run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    for path in paths:
        seconds = run(path)[1]
        total += seconds
        print(f"{path.name:45s} {seconds:6.1f} s", flush=True)
    print(f"{'total':45s} {total:6.1f} s")


if __name__ == "__main__":
    main()
