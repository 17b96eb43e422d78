"""Sending less: compress a client's update before upload, decompress on the server.

An update is a list of float arrays (new parameters minus the global ones). Each compressor
returns what would travel over the network and its size in bytes; ``dequantize`` and
``densify`` rebuild a dense update of the original shapes.

- ``quantize``: each array on ``2**bits`` even levels between its minimum and maximum, rounded
  to the nearest level (deterministic, biased per entry) or stochastically (unbiased: an entry
  rounds up with probability equal to its distance from the level below, as in the
  probabilistic quantization of Konecny et al., 2016, *Federated Learning: Strategies for
  Improving Communication Efficiency*).
- ``top_k``: keep only the largest entries (Aji & Heafield, 2017, *Sparse Communication for
  Distributed Gradient Descent*; Lin et al., 2018, *Deep Gradient Compression*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_utils.checks import check_choice, check_integer, check_number
from course_utils.strategy import FedAvg, FitRes, require_current

Update = list[np.ndarray]
COMPRESSIONS = ("none", "quantize", "top_k")
QUANTIZE_BITS = (1, 2, 4, 8, 16)
ROUNDINGS = ("nearest", "stochastic")


def check_update_arrays(update: Update) -> None:
    """Raise unless ``update`` is a non-empty list of finite numeric arrays (one per layer)."""
    if not isinstance(update, (list, tuple)) or len(update) == 0:
        raise TypeError(f"update must be a non-empty list of NumPy arrays, one per layer, got {type(update).__name__}")
    for i, array in enumerate(update):
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"update[{i}] must be a numeric array, got dtype {array.dtype}")
        if not np.isfinite(array).all():
            raise ValueError(f"update[{i}] holds NaN or infinite values; only finite updates can be compressed")


def quantize(
    update: Update, bits: int = 8, rounding: str = "nearest", seed: int | None = None
) -> tuple[list[tuple[np.ndarray, float, float]], int]:
    """Uniform quantization of each array to ``bits``-bit integers between its min and max.

    ``rounding="nearest"`` rounds every entry to the closest level: the same input always gives
    the same codes, and each entry's error (at most half a step) has a fixed sign.
    ``rounding="stochastic"`` rounds an entry at fraction ``f`` of the way from one level to the
    next up with probability ``f``, so the dequantized value equals the entry *on average* over
    the random draws (unbiased; Konecny et al., 2016); ``seed`` (an integer >= 0) makes the draws
    repeatable, None takes them from the operating system.

    Returns ``[(codes, low, step), ...]`` and the bytes sent: the codes (``bits / 8`` bytes
    each, as uint8 or uint16) plus two float32 numbers per array.
    """
    if bits not in QUANTIZE_BITS:
        raise ValueError(f"bits must be one of {', '.join(map(str, QUANTIZE_BITS))}, got {bits}")
    check_choice("rounding", rounding, ROUNDINGS)
    if seed is not None:
        check_integer("seed", seed, 0)
    check_update_arrays(update)
    rng = np.random.default_rng(seed) if rounding == "stochastic" else None
    levels = 2**bits - 1
    packed, size = [], 0
    for array in update:
        array = np.asarray(array, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        step = (high - low) / levels if high > low else 1.0
        position = np.clip((array - low) / step, 0, levels)  # in levels, from 0 to levels
        rounded = np.rint(position) if rng is None else np.minimum(np.floor(position + rng.random(array.shape)), levels)
        codes = rounded.astype(np.uint16 if bits == 16 else np.uint8)
        packed.append((codes, low, step))
        size += int(np.ceil(array.size * bits / 8)) + 2 * 4
    return packed, size


def dequantize(packed: list[tuple[np.ndarray, float, float]], dtype: np.dtype = np.float32) -> Update:
    """Rebuild the update from :func:`quantize`'s output: ``low + codes * step``."""
    return [(low + codes.astype(np.float64) * step).astype(dtype) for codes, low, step in packed]


def top_k(
    update: Update, fraction: float | None = None, k: int | None = None
) -> tuple[list[tuple[np.ndarray, np.ndarray, tuple[int, ...]]], int]:
    """Top-k sparsification: keep only the entries of largest magnitude.

    Give ``fraction`` in (0, 1] to keep that share of each array (at least one entry per
    array), or ``k`` to keep the ``k`` largest magnitudes of the whole update (1 <= k <= its
    number of entries). Returns ``[(indices, values, shape), ...]`` and the bytes sent: 4
    bytes per int32 index plus 4 per float32 value.
    """
    if (fraction is None) == (k is None):
        raise ValueError(f"give exactly one of fraction and k, got fraction={fraction}, k={k}")
    check_update_arrays(update)
    sizes = [np.asarray(array).size for array in update]
    if k is not None:
        k = check_integer("k", k)
        if not 1 <= k <= sum(sizes):
            raise ValueError(f"k must be in [1, {sum(sizes)}] (the number of entries in the update), got {k}")
        magnitudes = np.concatenate([np.abs(np.asarray(array, dtype=np.float64)).ravel() for array in update])
        chosen = np.argpartition(magnitudes, magnitudes.size - k)[magnitudes.size - k :]
        starts = np.cumsum([0, *sizes])
        kept = [np.sort(chosen[(chosen >= lo) & (chosen < hi)] - lo) for lo, hi in zip(starts[:-1], starts[1:])]
    elif not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    else:
        kept = []
        for array in update:
            magnitudes = np.abs(np.asarray(array)).ravel()
            count = max(1, int(round(fraction * magnitudes.size)))
            kept.append(np.sort(np.argpartition(magnitudes, magnitudes.size - count)[magnitudes.size - count :]))
    packed, size = [], 0
    for array, indices in zip(update, kept):
        indices = indices.astype(np.int32)
        packed.append((indices, np.asarray(array).ravel()[indices].astype(np.float32), np.shape(array)))
        size += indices.size * (4 + 4)
    return packed, size


def densify(packed: list[tuple[np.ndarray, np.ndarray, tuple[int, ...]]], dtype: np.dtype = np.float32) -> Update:
    """Rebuild dense arrays from :func:`top_k`'s output, with zeros where nothing was sent."""
    out = []
    for indices, values, shape in packed:
        dense = np.zeros(int(np.prod(shape)), dtype=dtype)
        dense[indices] = values
        out.append(dense.reshape(shape))
    return out


def compress_update(
    update: Update, method: str, bits: int = 8, fraction: float = 0.1, rounding: str = "nearest",
    seed: int | None = None,
) -> tuple[Update, int]:
    """Compress and decompress ``update`` as the server would see it; also return the bytes sent.

    ``method``: ``"none"`` (float32, 4 bytes per entry), ``"quantize"`` (``bits``, ``rounding``
    and ``seed`` as in :func:`quantize`) or ``"top_k"`` (``fraction``).
    """
    check_choice("method", method, COMPRESSIONS)
    if method == "none":
        return [np.asarray(a, dtype=np.float32) for a in update], int(sum(np.asarray(a).size * 4 for a in update))
    if method == "quantize":
        packed, size = quantize(update, bits, rounding, seed)
        return dequantize(packed), size
    packed, size = top_k(update, fraction)  # method == "top_k"
    return densify(packed), size


@dataclass
class CompressedFedAvg(FedAvg):
    """FedAvg where each client uploads a compressed update (see ``course_utils.compression``).

    ``compression`` in ``COMPRESSIONS``; ``bits`` in ``QUANTIZE_BITS`` and ``rounding`` in
    ``ROUNDINGS`` (for "quantize"), ``fraction`` in (0, 1] (for "top_k"). Stochastic rounding
    draws from ``seed``, the client id and the round, so a run repeats exactly. The server
    rebuilds ``current + decompressed update`` for every client, then averages. Records the
    bytes uploaded per round as the fit metric ``upload_bytes``.
    """

    compression: str = "quantize"
    bits: int = 8
    fraction: float = 0.1
    rounding: str = "nearest"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("compression", self.compression, COMPRESSIONS)
        if check_integer("bits", self.bits, 1) not in QUANTIZE_BITS:
            raise ValueError(f"bits must be one of {QUANTIZE_BITS}, got {self.bits!r}")
        check_number("fraction", self.fraction, 0, 1, min_open=True, hint=" (the share of entries top_k keeps)")
        check_choice("rounding", self.rounding, ROUNDINGS)
        check_integer("seed", self.seed, 0)

    def aggregate_fit(self, server_round, results, failures, current):
        current = require_current(current, "CompressedFedAvg")
        rebuilt, total = [], 0
        for cid, parameters, num_examples, metrics in results:
            update = [np.asarray(p, np.float64) - c for p, c in zip(parameters, current)]
            seed = int(np.random.SeedSequence([self.seed, int(cid), int(server_round)]).generate_state(1)[0])
            received, size = compress_update(update, self.compression, self.bits, self.fraction, self.rounding, seed)
            rebuilt.append(FitRes(cid, [(c + u).astype(c.dtype) for c, u in zip(current, received)], num_examples,
                                  metrics))
            total += size
        parameters, metrics = super().aggregate_fit(server_round, rebuilt, failures, current)
        return parameters, {**metrics, "upload_bytes": float(total)}
