"""Pictures: how the data is split, how training went, how each client fares.

Every function draws on ``ax`` if given (else a new figure) and returns the Axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from course_utils.simulation import History


def _axes(ax: Axes | None, size: tuple[float, float] = (6, 3.5)) -> Axes:
    return plt.subplots(figsize=size)[1] if ax is None else ax


def plot_label_distribution(counts: np.ndarray, ax: Axes | None = None, title: str = "Labels per client") -> Axes:
    """Heat map of a clients x classes count matrix (from ``partition.label_distribution``)."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a 2-D clients x classes matrix, got shape {counts.shape}")
    ax = _axes(ax, (0.45 * counts.shape[1] + 2, 0.3 * counts.shape[0] + 1.5))
    image = ax.imshow(counts, aspect="auto", cmap="Blues")
    ax.figure.colorbar(image, ax=ax, label="examples")
    ax.set_xlabel("class")
    ax.set_ylabel("client")
    ax.set_xticks(range(counts.shape[1]))
    if counts.shape[0] <= 20:
        ax.set_yticks(range(counts.shape[0]))
    ax.set_title(title)
    return ax


def plot_history(
    runs: History | Mapping[str, History],
    metric: str = "accuracy",
    kind: str = "centralized",
    ax: Axes | None = None,
    references: Mapping[str, float] | None = None,
) -> Axes:
    """Curves of ``metric`` per round for one History or several ``{label: History}``.

    ``references`` draws horizontal lines, e.g. ``{"centralized": 0.97}``.
    """
    runs = {"": runs} if isinstance(runs, History) else runs
    ax = _axes(ax)
    for label, history in runs.items():
        rounds, values = history.series(metric, kind)
        ax.plot(rounds, values, marker="o", markersize=3, label=label or None)
    for (label, value), style in zip((references or {}).items(), cycle(("--", ":", "-."))):
        ax.axhline(value, linestyle=style, color="grey", label=label)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{metric} ({kind})")
    if any(runs) or references:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_client_metrics(
    values: Sequence[float] | Mapping[int, float], ax: Axes | None = None, metric: str = "accuracy",
    reference: float | None = None,
) -> Axes:
    """Bar chart of one value per client (a list indexed by client, or ``{cid: value}``)."""
    items = sorted(values.items()) if isinstance(values, Mapping) else list(enumerate(values))
    ax = _axes(ax)
    ax.bar([str(cid) for cid, _ in items], [v for _, v in items], color="tab:blue")
    if reference is not None:
        ax.axhline(reference, linestyle="--", color="grey", label=f"reference {reference:.3f}")
        ax.legend()
    ax.set_xlabel("client")
    ax.set_ylabel(metric)
    return ax
