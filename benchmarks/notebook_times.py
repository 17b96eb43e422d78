"""Execute every notebook with a fresh kernel and print how long each took.

    python benchmarks/notebook_times.py [notebooks/03_*.ipynb ...]

Nothing is written back: the stored notebooks stay as they are. Goal: each notebook well
under 60 s on 2 CPU cores with its default parameters.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def time_notebook(path: Path) -> float:
    """Seconds to execute ``path`` top to bottom in a fresh kernel started in its folder."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    for path in paths:
        seconds = time_notebook(path)
        total += seconds
        print(f"{path.name:45s} {seconds:6.1f} s", flush=True)
    print(f"{'total':45s} {total:6.1f} s")


if __name__ == "__main__":
    main()
