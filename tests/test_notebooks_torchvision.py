"""With DATASET set to a torchvision dataset, the image notebooks run unchanged.

No network here, so each run gets small random files in MNIST's (or Fashion-MNIST's) own
idx format, written where torchvision looks for them (``data/<Class>/raw`` next to the
notebook). Only the parameters cell's DATASET line changes; the notebook must run to the end.
The accuracy claims are not checked: they hold for the default dataset only, and the
notebooks guard them that way. CIFAR-10's loader is tested on its own format in test_data.py
(its files carry checksums that small test files cannot match).
"""

import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from tests.test_data import write_idx

ROOT = Path(__file__).resolve().parents[1]


def parameters_source(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))


# The notebooks whose parameters cell offers the torchvision datasets for DATASET.
TORCHVISION_READY = sorted(
    path for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    if '"mnist", "fashion_mnist"' in parameters_source(path)
)
# These run 28x28 images through many simulated rounds at five seeds (sweeps, races to a target
# that random images never reach): a minute or more each, so they are marked slow and run with
# `pytest -m slow`.
SLOW = {"01_when_data_cannot_move", "03_fedavg_and_evaluation", "04_heterogeneous_data",
        "05_clients_failures_stragglers", "06_aggregation_and_communication", "09_differential_privacy"}
CASES = [
    pytest.param(path, "fashion_mnist" if i % 2 else "mnist", id=path.stem,
                 marks=[pytest.mark.slow] * (path.stem in SLOW))
    for i, path in enumerate(TORCHVISION_READY)
]


def write_fake_mnist(raw: Path, num_train: int = 600, num_test: int = 200, seed: int = 0) -> None:
    """Random 28x28 digits in the idx files torchvision's MNIST classes read (labels cycle 0..9)."""
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True)
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))


def with_dataset(notebook: nbformat.NotebookNode, dataset: str) -> nbformat.NotebookNode:
    """The notebook with its parameters cell's ``DATASET = ...`` line set to ``dataset``."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source, count = re.subn(r'^DATASET = "\w+"', f'DATASET = "{dataset}"', cell.source, flags=re.MULTILINE)
    assert count == 1, "the parameters cell must set DATASET on one line"
    return notebook


def test_the_image_notebooks_offer_torchvision_datasets():
    assert len(TORCHVISION_READY) >= 5


@pytest.mark.parametrize("path, dataset", CASES)
def test_notebook_runs_unchanged_on_a_torchvision_dataset(tmp_path, path, dataset):
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[dataset]
    write_fake_mnist(tmp_path / "data" / folder / "raw")
    shutil.copy(path, tmp_path / path.name)
    notebook = with_dataset(nbformat.read(tmp_path / path.name, as_version=4), dataset)
    # One cell added at the end, after the notebook's own: which data did it load?
    notebook.cells.append(nbformat.v4.new_code_cell("print(DATASET, tuple(data.train.tensors[0].shape))"))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    assert notebook.cells[-1].outputs[0]["text"].strip() == f"{dataset} (600, 1, 28, 28)"
