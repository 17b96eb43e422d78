"""Exercise checks: data on many clients: unseen classes, the worst client, update sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, localized


def _unseen_fraction(counts: np.ndarray) -> np.ndarray:
    """Reference: per client, the fraction of classes it holds no example of. (clients, classes) -> (clients,)."""
    return (np.asarray(counts) == 0).mean(axis=1)


def _random_label_distribution(rng: np.random.Generator) -> tuple[np.ndarray]:
    """A clients x classes count matrix of a random label-skewed split of random labels."""
    from course_utils.partition import dirichlet, label_distribution

    num_classes, num_clients = int(rng.integers(2, 11)), int(rng.integers(2, 7))
    labels = rng.integers(0, num_classes, size=int(rng.integers(50, 300)))
    alpha = float(rng.choice([0.3, 1.0, 10.0]))
    partitions = dirichlet(labels, num_clients, alpha=alpha, seed=int(rng.integers(2**31)))
    return (label_distribution(labels, partitions, num_classes),)


def check_unseen_fraction(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(counts)``: from a clients x classes count matrix, each client's fraction of classes never seen."""
    return check_function(
        fn,
        _unseen_fraction,
        _random_label_distribution,
        hints=[
            (lambda counts: (counts == 0).sum(axis=1),
             localized("that is the number of unseen classes; divide by the number of classes.",
                       "这是没见过的类别的个数；还要除以类别总数。")),
            (lambda counts: (counts > 0).mean(axis=1),
             localized("that is the fraction of classes a client HAS seen; count the zeros instead.",
                       "这是客户端见过的类别所占的比例（不是没见过的）；应改为数 0 的个数。")),
            (lambda counts: (counts == 0).mean(axis=0),
             localized("that is one value per class; take the mean along each client's row (axis=1).",
                       "这是每个类别一个值；应沿每个客户端的那一行（axis=1）取均值。")),
        ],
    )


def check_worst_client(answer: Any, accuracies: dict[int, float], counts: np.ndarray) -> Verdict:
    """``answer``: the id of the client whose model, trained alone, has the lowest accuracy in ``accuracies``.

    ``counts`` is the split's clients x classes label distribution, used to explain the answer.
    """
    worst = int(min(accuracies, key=accuracies.__getitem__))
    row = np.asarray(counts)[worst]
    top = int(row.argmax())
    explanation = localized(
        f"Client {worst} reaches only {accuracies[worst]:.3f} on the shared test set. Its row of the label "
        f"distribution: {int(row.sum())} examples, none of class(es) {np.flatnonzero(row == 0).tolist()}, and "
        f"{row[top] / row.sum():.0%} of them are one class ({top}). Trained alone, a model never learns a class "
        "it has not seen, and learns little from one it has seen a few times.",
        f"客户端 {worst} 在共享测试集上只达到 {accuracies[worst]:.3f}。它在标签分布中的那一行：{int(row.sum())} "
        f"个样本，其中没有类别 {np.flatnonzero(row == 0).tolist()}，{row[top] / row.sum():.0%} 属于同一个类别"
        f"（{top}）。单独训练时，模型学不会它没见过的类别，对只见过几次的类别也学不到多少。",
    )
    return check_value(answer, worst, explanation)


def _update_bytes(num_parameters: int, dtype: str) -> int:
    """Reference: bytes of an uncompressed update of ``num_parameters`` numbers of type ``dtype``."""
    return int(num_parameters) * np.dtype(dtype).itemsize


def _random_model_size(rng: np.random.Generator) -> tuple[int, str]:
    dtype = str(rng.choice(["float32", "float16", "float64", "int8", "int64"]))
    return int(rng.integers(100, 20_000_000)), dtype


def check_update_bytes(fn: Callable[[int, str], int]) -> Verdict:
    """``fn(num_parameters, dtype)``: the size in bytes of one model update, sent uncompressed."""
    return check_function(
        fn,
        _update_bytes,
        _random_model_size,
        hints=[
            (lambda n, dtype: n,
             localized("that is the number of parameters; each one takes np.dtype(dtype).itemsize bytes.",
                       "这是参数的个数；每个参数占 np.dtype(dtype).itemsize 个字节。")),
            (lambda n, dtype: 4 * n,
             localized("4 bytes per number is right for float32 only; use np.dtype(dtype).itemsize.",
                       "每个数 4 个字节只对 float32 成立；请用 np.dtype(dtype).itemsize。")),
            (lambda n, dtype: 8 * n * np.dtype(dtype).itemsize,
             localized("that is bits; a byte holds 8 bits.", "这是位数；一个字节有 8 位。")),
            (lambda n, dtype: n * np.dtype(dtype).itemsize / 2**20,
             localized("that is MiB; the check wants plain bytes.", "这是 MiB；检查要的是字节数。")),
        ],
    )
