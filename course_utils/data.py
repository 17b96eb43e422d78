"""Datasets as in-memory torch tensors: the bundled ones (offline) and torchvision's.

Every loader returns a :class:`CourseData`: a train and a test ``TensorDataset`` with
float32 inputs and int64 labels, plus what a model needs to know (input shape, classes).
There is no FL in this module.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from course_utils.checks import check_indices

BUNDLED = ("digits", "breast_cancer")
TORCHVISION = ("mnist", "fashion_mnist", "cifar10")
DATASETS = BUNDLED + TORCHVISION

SPLIT_SEED = 0  # the bundled datasets' train/test split never changes
TEST_FRACTION = 0.2

# Per-channel mean and standard deviation of each torchvision training set.
_NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class DatasetUnavailableError(RuntimeError):
    """A torchvision dataset is neither on disk nor downloadable."""


@dataclass(frozen=True)
class CourseData:
    """A dataset with a fixed train/test split.

    ``train.tensors`` is ``(x, y)``: ``x`` float32 of shape ``(N, *input_shape)``, ``y`` int64
    of shape ``(N,)`` with values in ``range(num_classes)``.
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def load_dataset(name: str = "digits", root: str | Path = "data", download: bool = False) -> CourseData:
    """Load a dataset by name: one of ``DATASETS``.

    ``root`` and ``download`` are used by the torchvision datasets only.
    """
    _check_download(download)
    if name == "digits":
        return load_digits_data()
    if name == "breast_cancer":
        return load_breast_cancer_data()
    if name in TORCHVISION:
        return load_torchvision_data(name, root=root, download=download)
    raise ValueError(f"name must be one of {DATASETS}, got {name!r}")


def _check_download(download: bool) -> None:
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"download must be True or False, got {type(download).__name__} {download!r}")


def labels_of(dataset: Dataset) -> np.ndarray:
    """The labels of a ``TensorDataset`` (or a ``Subset`` of one) as an int64 array, shape (N,)."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].numpy().astype(np.int64)
    if isinstance(dataset, Subset):
        return labels_of(dataset.dataset)[np.asarray(dataset.indices, dtype=np.int64)]
    raise TypeError(f"dataset must be a TensorDataset or a Subset of one, got {type(dataset).__name__}")


def subset(dataset: TensorDataset, indices: np.ndarray) -> TensorDataset:
    """The examples of ``dataset`` at ``indices`` (a 1-D integer array), as a new TensorDataset."""
    if not isinstance(dataset, TensorDataset):
        raise TypeError(f"dataset must be a TensorDataset, got {type(dataset).__name__}")
    idx = torch.as_tensor(check_indices("indices", indices, len(dataset)))
    return TensorDataset(*(t[idx] for t in dataset.tensors))


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """scikit-learn's stratified split (TEST_FRACTION, SPLIT_SEED): x_train, x_test, y_train, y_test."""
    train, test = split_indices(y)
    return x[train], x[test], y[train], y[test]


def split_indices(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The train and test row indices of ``train_test_split(..., stratify=y)`` with the course's split.

    Importing scikit-learn costs about a second, in every notebook; the split depends only on
    ``y`` and scikit-learn's and NumPy's versions, so it is computed once and kept in a cache
    file (``$COURSE_CACHE``, else ``~/.cache/course_utils``) named by all three. A cache that
    cannot be read or written is simply recomputed.
    """
    versions = f"{importlib.metadata.version('scikit-learn')}-{np.__version__}-{TEST_FRACTION}-{SPLIT_SEED}"
    key = hashlib.sha256(np.ascontiguousarray(y, dtype=np.int64).tobytes() + versions.encode()).hexdigest()[:24]
    path = Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "course_utils")) / f"split-{key}.npz"
    try:
        with np.load(path) as saved:
            return saved["train"], saved["test"]
    except (OSError, KeyError, ValueError):
        pass
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(y)), test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    _save_quietly(path, train=train, test=test)
    return train, test


def _save_quietly(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` atomically (a temporary file, then a rename); skip if the disk refuses."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    except OSError:
        pass


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as (images (1797, 8, 8) float64 in 0..16, labels (1797,) int).

    Read from the CSV file scikit-learn ships (as ``load_digits`` reads it), found without importing
    scikit-learn.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailableError("the digits dataset ships with scikit-learn: pip install scikit-learn")
    with gzip.open(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz") as handle:
        table = np.loadtxt(handle, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)


def _tensors(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    return TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))


def load_digits_data() -> CourseData:
    """scikit-learn's bundled handwritten digits: 1,797 grey 8x8 images, 10 classes.

    Pixels are scaled from 0..16 to 0..1; ``x`` has shape (N, 1, 8, 8).
    Split: 1,437 train, 360 test, stratified, fixed.
    """
    images, labels = _bundled_digits()
    x = (images / 16.0).astype(np.float32)[:, None, :, :]
    x_train, x_test, y_train, y_test = _split(x, labels)
    classes = tuple(str(c) for c in range(10))
    return CourseData("digits", _tensors(x_train, y_train), _tensors(x_test, y_test), (1, 8, 8), classes)


def load_breast_cancer_data() -> CourseData:
    """scikit-learn's bundled Wisconsin breast-cancer table: 569 tumours, 30 features.

    Label 0 is malignant, 1 benign. Features are standardized with the training set's
    mean and standard deviation; ``x`` has shape (N, 30). Split: 455 train, 114 test.
    """
    from sklearn.datasets import load_breast_cancer  # imported here: only notebooks that use it pay for it

    bunch = load_breast_cancer()
    x_train, x_test, y_train, y_test = _split(bunch.data, bunch.target)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    classes = tuple(str(c) for c in bunch.target_names)
    return CourseData("breast_cancer", _tensors(x_train, y_train), _tensors(x_test, y_test), (30,), classes)


def _torchvision_class(name: str) -> type:
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[name]


def _open_torchvision(name: str, root: Path, train: bool, download: bool) -> Dataset:
    """Construct torchvision's dataset class, turning a failed download into one clear error."""
    from torchvision import transforms

    mean, std = _NORMALIZATION[name]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    try:
        return _torchvision_class(name)(root=str(root), train=train, download=download, transform=transform)
    except (OSError, RuntimeError) as error:  # urllib's URLError is an OSError
        if download and (isinstance(error, OSError) or "download" in str(error).lower()):
            # MNIST tries several mirrors and lists every failure on its own lines; the last
            # line is the underlying error, e.g. "<urlopen error [Errno -3] ...>".
            reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            raise DatasetUnavailableError(
                f"Could not download {name!r} into {root}: the network seems unavailable ({reason}). "
                "Use a bundled dataset instead, for example DATASET = 'digits', which needs no download."
            ) from None
        if not download and "not found" in str(error).lower():
            raise DatasetUnavailableError(
                f"{name!r} is not in {root} and download=False. Pass download=True on a machine with "
                "internet access, or use a bundled dataset instead: DATASET = 'digits'."
            ) from None
        raise


def load_torchvision_data(name: str, root: str | Path = "data", download: bool = False) -> CourseData:
    """MNIST, Fashion-MNIST or CIFAR-10 through torchvision's own dataset classes.

    Images are converted with ``ToTensor`` and normalized per channel, then held in memory:
    ``x`` has shape (N, 1, 28, 28) for the MNISTs and (N, 3, 32, 32) for CIFAR-10.
    """
    if name not in TORCHVISION:
        raise ValueError(f"name must be one of {TORCHVISION}, got {name!r}")
    _check_download(download)
    splits = []
    for train in (True, False):
        source = _open_torchvision(name, Path(root), train, download)
        x = torch.stack([source[i][0] for i in range(len(source))])
        y = torch.as_tensor(np.asarray(source.targets), dtype=torch.int64)
        splits.append(TensorDataset(x, y))
    return CourseData(name, splits[0], splits[1], tuple(splits[0].tensors[0].shape[1:]), tuple(source.classes))
