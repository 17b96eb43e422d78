"""Splitting a dataset across clients.

Every partitioner takes a ``seed``, keeps its own ``np.random.Generator``, and returns a list
of ``num_clients`` int64 index arrays that are disjoint and together cover every example.
Same arguments, same split.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_indices, check_integer, check_number, check_seed


def _check_num_clients(num_clients: int, num_examples: int) -> None:
    check_integer("num_clients", num_clients, 1)
    if num_clients > num_examples:
        raise ValueError(
            f"num_clients must be at most the number of examples ({num_examples}), got {num_clients}: "
            "some clients would hold no data"
        )


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty 1-D integer array, "
                         f"got shape {labels.shape}, dtype {labels.dtype}")
    if labels.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    return labels


def _check_alpha(alpha: float) -> None:
    check_number("alpha", alpha, 0, min_open=True)


def iid(num_examples: int, num_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffle the examples and deal them out in ``num_clients`` near-equal parts."""
    check_integer("num_examples", num_examples, 1)
    _check_num_clients(num_clients, num_examples)
    check_seed(seed)
    order = np.random.default_rng(seed).permutation(num_examples)
    return [np.sort(part) for part in np.array_split(order, num_clients)]


def dirichlet(
    labels: np.ndarray, num_clients: int, alpha: float, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Label skew: each class is shared among the clients in Dirichlet(alpha) proportions.

    Small ``alpha`` (e.g. 0.1) gives each client a few dominant labels; large ``alpha``
    (e.g. 100) approaches IID. Draws are repeated (up to 1,000 times) until every client
    holds at least ``min_size`` examples.
    """
    labels = _check_labels(labels)
    _check_num_clients(num_clients, labels.size)
    _check_alpha(alpha)
    check_integer("min_size", min_size, 1, labels.size // num_clients)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * members.size).astype(int)
            for client, chunk in enumerate(np.split(members, cuts)):
                parts[client].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise ValueError(
        f"could not give every client {min_size} example(s) with alpha={alpha} and "
        f"num_clients={num_clients}; use a larger alpha or fewer clients"
    )


def shards(labels: np.ndarray, num_clients: int, shards_per_client: int = 2, seed: int = 0) -> list[np.ndarray]:
    """McMahan et al.'s pathological split: sort by label, cut into shards, deal shards out.

    With ``shards_per_client=2`` most clients see only two labels.
    """
    labels = _check_labels(labels)
    _check_num_clients(num_clients, labels.size)
    check_integer("shards_per_client", shards_per_client, 1, labels.size // num_clients)
    check_seed(seed)
    num_shards = num_clients * shards_per_client
    rng = np.random.default_rng(seed)
    by_label = np.argsort(labels, kind="stable")
    pieces = np.array_split(by_label, num_shards)
    order = rng.permutation(num_shards).reshape(num_clients, shards_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])).astype(np.int64) for row in order]


def quantity_skew(num_examples: int, num_clients: int, alpha: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """Quantity skew: IID labels, but client sizes drawn from Dirichlet(alpha) proportions.

    Every client gets at least one example; small ``alpha`` makes sizes very unequal.
    """
    check_integer("num_examples", num_examples, 1)
    _check_num_clients(num_clients, num_examples)
    _check_alpha(alpha)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    extra = rng.multinomial(num_examples - num_clients, rng.dirichlet(np.full(num_clients, alpha)))
    sizes = extra + 1
    order = rng.permutation(num_examples)
    return [np.sort(part) for part in np.split(order, np.cumsum(sizes)[:-1])]


def label_distribution(labels: np.ndarray, partitions: list[np.ndarray], num_classes: int | None = None) -> np.ndarray:
    """The clients x classes matrix of example counts, int64 of shape (num_clients, num_classes)."""
    labels = _check_labels(labels)
    num_classes = int(labels.max()) + 1 if num_classes is None else check_integer("num_classes", num_classes, 1)
    if num_classes <= labels.max():
        raise ValueError(f"num_classes must exceed the largest label ({labels.max()}), got {num_classes}")
    if not isinstance(partitions, (list, tuple)):
        raise TypeError(f"partitions must be a list of index arrays (one per client), got {type(partitions).__name__}")
    counts = np.zeros((len(partitions), num_classes), dtype=np.int64)
    for client, idx in enumerate(partitions):
        idx = check_indices(f"partitions[{client}]", idx, labels.size)
        counts[client] = np.bincount(labels[idx], minlength=num_classes)
    return counts
