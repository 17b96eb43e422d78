"""Re-execute notebooks in place with a fresh kernel, so that their stored outputs are current.

    python tools/execute_notebooks.py                       # every notebook
    python tools/execute_notebooks.py notebooks/03_*.ipynb  # some

Runs each notebook top to bottom in its own folder (as nbval does), stores the outputs, and
drops the widget state that progress bars leave in the metadata (it changes on every run and
only adds noise to diffs). Prints the time each took.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``path`` top to bottom in a fresh kernel started in its folder, writing nothing.

    Returns the executed notebook and the seconds it took.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def execute(path: Path) -> float:
    """Execute ``path`` in place, without the progress bars' widget state; return the seconds it took."""
    notebook, seconds = run(path)
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"{path.name:45s} {execute(path):6.1f} s", flush=True)


if __name__ == "__main__":
    main()
