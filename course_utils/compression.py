"""Sending less: compress a client's update before upload, decompress on the server.

An update is a list of float arrays (new parameters minus the global ones). Each compressor
returns what would travel over the network and its size in bytes; ``decompress_*`` rebuilds
a dense update of the original shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_utils.checks import check_choice, check_integer, check_number
from course_utils.strategy import FedAvg, FitRes, require_current

Update = list[np.ndarray]
COMPRESSIONS = ("none", "quantize", "top_k")
QUANTIZE_BITS = (1, 2, 4, 8, 16)


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


def quantize(update: Update, bits: int = 8) -> tuple[list[tuple[np.ndarray, float, float]], int]:
    """Uniform quantization of each array to ``bits``-bit integers between its min and max.

    Returns ``[(codes, low, step), ...]`` and the bytes sent: the codes (``bits / 8`` bytes
    each, as uint8 or uint16) plus two float32 numbers per array.
    """
    if bits not in (1, 2, 4, 8, 16):
        raise ValueError(f"bits must be one of 1, 2, 4, 8, 16, got {bits}")
    check_update_arrays(update)
    levels = 2**bits - 1
    packed, size = [], 0
    for array in update:
        array = np.asarray(array, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        step = (high - low) / levels if high > low else 1.0
        codes = np.rint((array - low) / step).astype(np.uint16 if bits == 16 else np.uint8)
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


def compress_update(update: Update, method: str, bits: int = 8, fraction: float = 0.1) -> tuple[Update, int]:
    """Compress and decompress ``update`` as the server would see it; also return the bytes sent.

    ``method``: ``"none"`` (float32, 4 bytes per entry), ``"quantize"`` (``bits``) or
    ``"top_k"`` (``fraction``).
    """
    check_choice("method", method, COMPRESSIONS)
    if method == "none":
        return [np.asarray(a, dtype=np.float32) for a in update], int(sum(np.asarray(a).size * 4 for a in update))
    if method == "quantize":
        packed, size = quantize(update, bits)
        return dequantize(packed), size
    packed, size = top_k(update, fraction)  # method == "top_k"
    return densify(packed), size


@dataclass
class CompressedFedAvg(FedAvg):
    """FedAvg where each client uploads a compressed update (see ``course_utils.compression``).

    ``compression`` in ``COMPRESSIONS``; ``bits`` in ``QUANTIZE_BITS`` (for "quantize"),
    ``fraction`` in (0, 1] (for "top_k"). The server rebuilds ``current + decompressed update``
    for every client, then averages. Records the bytes uploaded per round as the fit metric
    ``upload_bytes``.
    """

    compression: str = "quantize"
    bits: int = 8
    fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("compression", self.compression, COMPRESSIONS)
        if check_integer("bits", self.bits, 1) not in QUANTIZE_BITS:
            raise ValueError(f"bits must be one of {QUANTIZE_BITS}, got {self.bits!r}")
        check_number("fraction", self.fraction, 0, 1, min_open=True, hint=" (the share of entries top_k keeps)")

    def aggregate_fit(self, server_round, results, failures, current):
        current = require_current(current, "CompressedFedAvg")
        rebuilt, total = [], 0
        for cid, parameters, num_examples, metrics in results:
            update = [np.asarray(p, np.float64) - c for p, c in zip(parameters, current)]
            received, size = compress_update(update, self.compression, self.bits, self.fraction)
            rebuilt.append(FitRes(cid, [(c + u).astype(c.dtype) for c, u in zip(current, received)], num_examples, metrics))
            total += size
        parameters, metrics = super().aggregate_fit(server_round, rebuilt, failures, current)
        return parameters, {**metrics, "upload_bytes": float(total)}
