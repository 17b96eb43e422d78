"""Re-execute notebooks in place with a fresh kernel, so that their stored outputs are current.

    python tools/execute_notebooks.py                       # every notebook
    python tools/execute_notebooks.py notebooks/03_*.ipynb  # some

Runs each notebook top to bottom in its own folder (as nbval does), stores the outputs with
each progress bar's text as the bar finished, and drops the widget state that progress bars
leave in the metadata (it changes on every run and only adds noise to diffs). Prints the time each took.
"""

from __future__ import annotations

import html
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
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def finished_bar(model_id: str, models: dict) -> str:
    """The text of tqdm's notebook bar ``model_id`` as it stood at the end (an HBox of label, bar, counts)."""
    label, bar, counts = (models[child.removeprefix("IPY_MODEL_")]["state"]
                          for child in models[model_id]["state"]["children"])
    done = round(10 * bar["value"] / bar["max"]) if bar.get("max") else 0
    return f"{html.unescape(label['value'])}|{'█' * done}{' ' * (10 - done)}|{html.unescape(counts['value'])}"


def store_finished_bars(notebook: nbformat.NotebookNode) -> None:
    """Replace each progress bar's text (what GitHub and the site show, as it was when the bar
    started: "0%") by the bar as it finished, then drop the widgets' state, which changes on
    every run and only adds noise to diffs."""
    models = notebook.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id") in models:
                output["data"]["text/plain"] = finished_bar(view["model_id"], models)


def execute(path: Path) -> float:
    """Execute ``path`` in place, with finished progress bars; return the seconds it took."""
    notebook, seconds = run(path)
    store_finished_bars(notebook)
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"{path.name:45s} {execute(path):6.1f} s", flush=True)


if __name__ == "__main__":
    main()
