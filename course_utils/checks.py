"""Argument checks shared by the modules: each raises a TypeError or ValueError that names the argument.

A wrong *type* (a string, None, a bool where a count is wanted) is a TypeError; a value of the
right type outside the allowed range (zero clients, NaN, a fraction above 1) is a ValueError.
Every message says which argument, what is allowed, and what was given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _integer_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    return "an integer" if minimum is None else f"an integer >= {minimum}"


def check_integer(
    name: str, value: Any, minimum: int | None = None, maximum: int | None = None, *, hint: str = ""
) -> int:
    """``value`` as an int if it is an integer (not a bool, not a float) in ``[minimum, maximum]``.

    ``hint``, if given, follows the allowed range in the message, e.g. ``" (rounds of training)"``.
    """
    allowed = _integer_range(minimum, maximum) + hint
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_number(
    name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
    *, min_open: bool = False, max_open: bool = False, hint: str = "",
) -> float:
    """``value`` as a float if it is a finite real number (not a bool) within the given bounds.

    ``min_open`` / ``max_open`` exclude the bound itself: ``minimum=0, min_open=True`` is "> 0".
    ``hint``, if given, follows the allowed range in the message, e.g. ``" (0 adds no noise)"``.
    """
    low = "" if minimum is None else f"{'(' if min_open else '['}{minimum:g}"
    high = "" if maximum is None else f"{maximum:g}{')' if max_open else ']'}"
    if low and high:
        allowed = f"a finite number in {low}, {high}"
    elif low:
        allowed = f"a finite number {'>' if min_open else '>='} {minimum:g}"
    elif high:
        allowed = f"a finite number {'<' if max_open else '<='} {maximum:g}"
    else:
        allowed = "a finite number"
    allowed += hint
    if _is_bool(value) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    number = float(value)
    too_low = minimum is not None and (number <= minimum if min_open else number < minimum)
    too_high = maximum is not None and (number >= maximum if max_open else number > maximum)
    if not math.isfinite(number) or too_low or too_high:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return number


def check_seed(value: Any, name: str = "seed") -> int:
    """``value`` as an int if it is a seed: an integer >= 0."""
    return check_integer(name, value, 0)


def check_callable(name: str, value: Any, what: str) -> None:
    """Raise a TypeError unless ``value`` can be called; ``what`` says what it should be, e.g. ``"() -> nn.Module"``."""
    if not callable(value):
        raise TypeError(f"{name} must be callable ({what}), got {type(value).__name__} {value!r}")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``allowed``; otherwise a ValueError naming ``name``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_dataset(data: Any, name: str = "data") -> None:
    """Raise unless ``data`` is a non-empty ``TensorDataset``."""
    from torch.utils.data import TensorDataset  # here: flower_processes' watchdog needs these checks, not torch

    if not isinstance(data, TensorDataset):
        raise TypeError(f"{name} must be a TensorDataset, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty: there is nothing to train or evaluate on")


def check_indices(name: str, indices: Any, size: int) -> np.ndarray:
    """``indices`` as an int64 array of shape (k,) if it is a 1-D array of integers in ``[0, size)``.

    An empty list is allowed (k = 0).
    """
    array = np.asarray(indices)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of example indices, got shape {array.shape}")
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer example indices, got dtype {array.dtype}")
    if array.min() < 0 or array.max() >= size:
        raise ValueError(
            f"{name} must hold indices in [0, {size - 1}], got values from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64)
