"""Tests for ``course_utils.data``, fully offline.

The bundled datasets come with scikit-learn. The torchvision datasets are tested on small
files that the tests write into ``tmp_path`` in each dataset's own on-disk format; they are
then read by torchvision's real ``MNIST``, ``FashionMNIST`` and ``CIFAR10`` classes.

No test can reach the network: the autouse fixture ``offline`` makes every name lookup and
socket connection fail the way they fail on a machine without internet.
"""

from __future__ import annotations

import hashlib
import pickle
import socket
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets
from torch.utils.data import Subset, TensorDataset

from course_utils.data import (
    _NORMALIZATION,
    DATASETS,
    DatasetUnavailableError,
    labels_of,
    load_dataset,
    subset,
)

N_TRAIN, N_TEST = 20, 10

MNIST_CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                 "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine")  # fmt: skip
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")  # fmt: skip


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Cut the network at the socket level, below urllib and torchvision.

    A name lookup fails with the error an offline machine gives (urllib turns it into a
    ``URLError``, exactly as for real), and a direct connection is refused.
    """

    def no_lookup(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def no_connect(self, address):
        raise ConnectionRefusedError(f"tests are offline: no connection to {address}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connect)


# ---------------------------------------------------------------------------------------------
# Bundled datasets
# ---------------------------------------------------------------------------------------------


def test_digits():
    data = load_dataset("digits")
    (x_train, y_train), (x_test, y_test) = data.train.tensors, data.test.tensors

    assert (len(data.train), len(data.test)) == (1437, 360)
    assert data.input_shape == (1, 8, 8)
    assert data.num_classes == 10
    for x, y in [(x_train, y_train), (x_test, y_test)]:
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8)
        assert x.min() >= 0 and x.max() <= 1
        assert y.dtype == torch.int64 and y.shape == (len(x),)
        assert set(y.tolist()) == set(range(10))


def test_breast_cancer():
    data = load_dataset("breast_cancer")
    x_train, x_test = data.train.tensors[0], data.test.tensors[0]

    assert (len(data.train), len(data.test)) == (455, 114)
    assert data.input_shape == (30,)
    assert x_train.shape == (455, 30) and x_test.shape == (114, 30)
    assert x_train.dtype == torch.float32
    assert data.num_classes == 2
    assert data.classes == ("malignant", "benign")
    # Standardized with the training set's statistics.
    torch.testing.assert_close(x_train.mean(dim=0), torch.zeros(30), atol=1e-5, rtol=0)
    torch.testing.assert_close(x_train.std(dim=0, unbiased=False), torch.ones(30), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_bundled_split_is_the_same_on_every_call(name):
    first, second = load_dataset(name), load_dataset(name)
    for a, b in [(first.train, second.train), (first.test, second.test)]:
        for tensor_a, tensor_b in zip(a.tensors, b.tensors):
            assert torch.equal(tensor_a, tensor_b)


def test_digits_are_scikit_learns_with_its_stratified_split(monkeypatch, tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    x_train, x_test, y_train, y_test = train_test_split(x, bunch.target, test_size=0.2, stratify=bunch.target,
                                                        random_state=0)
    for _ in range(2):  # computed, then read from the cache
        data = load_dataset("digits")
        for got, expected in zip(data.train.tensors + data.test.tensors, (x_train, y_train, x_test, y_test)):
            assert np.array_equal(got.numpy(), expected)
    assert len(list(tmp_path.glob("split-*.npz"))) == 1


def test_split_cache_that_is_broken_or_unwritable_is_recomputed(monkeypatch, tmp_path):
    from course_utils.data import split_indices

    y = np.repeat(np.arange(4), 10)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    train, test = split_indices(y)
    (cached,) = (tmp_path / "cache").glob("split-*.npz")
    cached.write_bytes(b"not an npz file")
    again_train, again_test = split_indices(y)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("COURSE_CACHE", str(blocked / "cache"))  # a directory under a file: cannot be made
    assert np.array_equal(split_indices(y)[1], test)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(40))
    assert np.bincount(y[test]).tolist() == [2, 2, 2, 2]  # stratified: 20% of each class


def test_loading_the_digits_from_the_cache_does_not_import_scikit_learn(tmp_path):
    import os
    import subprocess
    import sys

    code = ("import sys; from course_utils.data import load_dataset; load_dataset('digits'); "
            "print('sklearn' in sys.modules)")
    env = {**os.environ, "COURSE_CACHE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [run.stdout.strip() for run in runs] == ["True", "False"]


def test_labels_of_and_subset():
    train = load_dataset("digits").train
    x, y = train.tensors
    indices = np.array([5, 0, 42, 5])

    labels = labels_of(train)
    assert labels.dtype == np.int64 and labels.shape == (len(train),)
    np.testing.assert_array_equal(labels, y.numpy())

    part = subset(train, indices)
    assert isinstance(part, TensorDataset) and len(part) == 4
    assert torch.equal(part.tensors[0], x[indices])
    np.testing.assert_array_equal(labels_of(part), y.numpy()[indices])
    # A torch Subset of a TensorDataset works too.
    np.testing.assert_array_equal(labels_of(Subset(train, indices.tolist())), y.numpy()[indices])

    with pytest.raises(TypeError, match="TensorDataset"):
        labels_of([(x[0], y[0])])


def test_unknown_name():
    with pytest.raises(ValueError, match="name must be one of") as info:
        load_dataset("imagenet")
    message = str(info.value)
    assert "'imagenet'" in message
    for allowed in DATASETS:
        assert repr(allowed) in message


# ---------------------------------------------------------------------------------------------
# Torchvision datasets, read from small files in their own on-disk formats
# ---------------------------------------------------------------------------------------------


def random_images(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random uint8 images, shape (N, [C,] H, W), whose top-left pixel is 0 and the next 255."""
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    images[..., 0, 0], images[..., 0, 1] = 0, 255
    return images


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the idx format of the MNIST files.

    The header is big-endian: the magic number 0x00000800 + number of dimensions (0x08 means
    uint8; so 2049 for labels, 2051 for images), then each dimension as a uint32.
    """
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist_files(raw: Path, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four uncompressed files torchvision's MNIST reads from ``<root>/<ClassName>/raw``."""
    raw.mkdir(parents=True)
    written = {}
    for split, prefix, n in [("train", "train", N_TRAIN), ("test", "t10k", N_TEST)]:
        images, labels = random_images(rng, (n, 28, 28)), rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written[split] = images, labels
    return written


def write_cifar10_files(folder: Path, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The pickled batches torchvision's CIFAR10 reads from ``<root>/cifar-10-batches-py``.

    The real files are Python 2 pickles; torchvision loads them with ``encoding="latin1"``,
    which turns their keys into ``str``, so the keys written here are ``str`` too.
    Each image is one row of 3,072 bytes: the 1,024 red, then green, then blue pixels.
    """
    folder.mkdir(parents=True)

    def write_batches(names: list[str], n_per_batch: int) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for name in names:
            batch_images = random_images(rng, (n_per_batch, 3, 32, 32)).reshape(n_per_batch, 3 * 32 * 32)
            batch_labels = rng.integers(0, 10, size=n_per_batch).tolist()
            with open(folder / name, "wb") as file:
                pickle.dump({"data": batch_images, "labels": batch_labels}, file)
            images.append(batch_images)
            labels.extend(batch_labels)
        return np.concatenate(images), np.array(labels)

    train = write_batches([f"data_batch_{i}" for i in range(1, 6)], N_TRAIN // 5)
    test = write_batches(["test_batch"], N_TEST)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": list(CIFAR10_CLASSES), "num_vis": 3 * 32 * 32}, file)
    return {"train": train, "test": test}


def use_checksums_of_test_files(monkeypatch, folder: Path) -> None:
    """Make torchvision's CIFAR10 accept the small test files.

    CIFAR10 checks every file against the MD5 sum of the real download (in ``_check_integrity``
    for the batches and again in ``_load_meta`` for ``batches.meta``); small test files cannot
    match those sums. Rather than switching the checks off, give CIFAR10 the sums of the files
    written here, so that torchvision's own integrity checks still run.
    """
    cifar10 = torchvision.datasets.CIFAR10

    def md5(name: str) -> str:
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    monkeypatch.setattr(cifar10, "train_list", [[name, md5(name)] for name, _ in cifar10.train_list])
    monkeypatch.setattr(cifar10, "test_list", [[name, md5(name)] for name, _ in cifar10.test_list])
    monkeypatch.setattr(cifar10, "meta", {**cifar10.meta, "md5": md5(cifar10.meta["filename"])})


def check_loaded(data, name: str, written: dict, shape: tuple[int, ...], classes: tuple[str, ...]) -> None:
    """``data`` holds exactly the written images, normalized per channel, and the written labels."""
    mean, std = (torch.tensor(v).view(-1, 1, 1) for v in _NORMALIZATION[name])
    assert data.name == name
    assert data.input_shape == shape
    assert data.classes == classes
    assert data.num_classes == 10
    for split in ("train", "test"):
        x, y = getattr(data, split).tensors
        images, labels = written[split]
        assert x.dtype == torch.float32 and x.shape == (len(images), *shape)
        assert y.dtype == torch.int64
        np.testing.assert_array_equal(y.numpy(), labels)
        # In every image and channel, the top-left pixel is 0 and the next one 255.
        torch.testing.assert_close(x[:, :, 0, 0], (-mean / std).view(1, -1).expand(len(x), -1))
        torch.testing.assert_close(x[:, :, 0, 1], ((1 - mean) / std).view(1, -1).expand(len(x), -1))
        expected = (torch.as_tensor(images, dtype=torch.float32).view(x.shape) / 255 - mean) / std
        torch.testing.assert_close(x, expected)


@pytest.mark.parametrize(
    ("name", "folder", "classes"),
    [("mnist", "MNIST", MNIST_CLASSES), ("fashion_mnist", "FashionMNIST", FASHION_MNIST_CLASSES)],
)
def test_mnist_and_fashion_mnist_from_idx_files(tmp_path, name, folder, classes):
    written = write_mnist_files(tmp_path / folder / "raw", np.random.default_rng(0))

    data = load_dataset(name, root=tmp_path, download=False)

    check_loaded(data, name, written, (1, 28, 28), classes)


def test_cifar10_from_pickled_batches(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar10_files(folder, np.random.default_rng(0))
    use_checksums_of_test_files(monkeypatch, folder)

    data = load_dataset("cifar10", root=tmp_path, download=False)

    check_loaded(data, "cifar10", written, (3, 32, 32), CIFAR10_CLASSES)


# ---------------------------------------------------------------------------------------------
# Missing files and failed downloads: one clear error
# ---------------------------------------------------------------------------------------------


def assert_one_clear_error(error: BaseException) -> None:
    """No chained traceback ("During handling of the above exception...") and a one-line message."""
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert "\n" not in str(error)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_files_without_download(tmp_path, name):
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset(name, root=tmp_path, download=False)

    message = str(info.value)
    assert "download=True" in message
    assert "'digits'" in message
    assert_one_clear_error(info.value)


@pytest.mark.parametrize(
    ("name", "urls"),
    [
        # MNIST tries each of its mirrors before giving up with a RuntimeError.
        ("mnist", [m + "train-images-idx3-ubyte.gz" for m in torchvision.datasets.MNIST.mirrors]),
        ("fashion_mnist", [m + "train-images-idx3-ubyte.gz" for m in torchvision.datasets.FashionMNIST.mirrors]),
        # CIFAR10 lets urllib's URLError through.
        ("cifar10", [torchvision.datasets.CIFAR10.url]),
    ],
)
def test_download_without_network(tmp_path, monkeypatch, name, urls):
    # Record what torchvision asks urllib for; the `offline` fixture makes every request fail.
    requested = []
    real_urlopen = urllib.request.urlopen

    def recording_urlopen(request, *args, **kwargs):
        requested.append(request.full_url if isinstance(request, urllib.request.Request) else request)
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)

    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset(name, root=tmp_path, download=True)

    assert requested == urls, "the download should have been attempted (and failed) via urllib"
    message = str(info.value)
    assert "network seems unavailable" in message
    assert "Temporary failure in name resolution" in message
    assert "'digits'" in message
    assert_one_clear_error(info.value)
