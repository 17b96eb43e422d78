"""Pictures: how the data is split, how training went, how each client fares.

Every function draws on ``ax`` if given (else a new figure) and returns the Axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.ticker import MaxNLocator

from course_utils.checks import check_number
from course_utils.replicate import Summary
from course_utils.simulation import History


def _axes(ax: Axes | None, size: tuple[float, float] = (6, 3.5)) -> Axes:
    return plt.subplots(figsize=size)[1] if ax is None else ax


def _series(history: History, metric: str, kind: str, where: str) -> tuple[list[int], list[float]]:
    """``history.series(metric, kind)``, with errors that say which argument and which run."""
    if not isinstance(history, History):
        raise TypeError(f"{where} must be a History (from run_simulation), got {type(history).__name__}")
    try:
        return history.series(metric, kind)
    except KeyError as error:
        raise KeyError(f"metric={metric!r} (kind={kind!r}) in {where}: {error.args[0]}") from None


def _history_runs(runs: History | Mapping[str, History]) -> Mapping[str, History]:
    if isinstance(runs, History):
        return {"": runs}
    if not isinstance(runs, Mapping):
        raise TypeError(f"runs must be a History or a {{label: History}} mapping, got {type(runs).__name__}")
    return runs


def _check_counts(counts, name: str = "counts") -> np.ndarray:
    """``counts`` as an array if it is a 2-D clients x classes matrix of example counts, else ValueError."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"{name} must be a 2-D clients x classes matrix, got shape {counts.shape}")
    if counts.size == 0:
        raise ValueError(f"{name} must hold at least one client and one class, got shape {counts.shape}")
    if not np.issubdtype(counts.dtype, np.number) or not np.all(counts >= 0):
        raise ValueError(f"{name} must be example counts, numbers >= 0 (as from partition.label_distribution)")
    return counts


# Counts from 1 up start at a visible light blue; 0 is drawn white, so that no client's
# missing class looks like a class it holds a few examples of.
LABEL_COLOURS = ListedColormap(plt.get_cmap("Blues")(np.linspace(0.2, 1.0, 256)), name="counts").with_extremes(
    bad="white")


def plot_label_distribution(
    counts: np.ndarray, ax: Axes | None = None, title: str = "Labels per client", vmax: float | None = None,
    every_client: bool = False, colorbar: bool = True,
) -> Axes:
    """Heat map of a clients x classes count matrix (from ``partition.label_distribution``).

    The colour scale runs from 0 to ``vmax`` (default: the largest count), so panels drawn with
    one ``vmax`` compare (``plot_label_distributions`` does it for you); 0 is white. Every
    client gets a tick when there are at most 20, or always with ``every_client=True``.
    """
    counts = _check_counts(counts)
    vmax = float(counts.max()) if vmax is None else check_number("vmax", vmax, 0, min_open=True)
    if counts.max() > vmax:
        raise ValueError(f"vmax must be at least the largest count, {counts.max()}, got {vmax}")
    ax = _axes(ax, (0.45 * counts.shape[1] + 2, 0.3 * counts.shape[0] + 1.5))
    image = ax.imshow(np.ma.masked_equal(counts, 0), aspect="auto", cmap=LABEL_COLOURS,
                      norm=Normalize(vmin=0, vmax=max(vmax, 1)), interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="examples (white: none)")
    ax.set_xlabel("class")
    ax.set_ylabel("client")
    ax.set_xticks(range(counts.shape[1]))
    if every_client or counts.shape[0] <= 20:
        ax.set_yticks(range(counts.shape[0]))
        ax.tick_params(axis="y", labelsize=8 if counts.shape[0] <= 30 else 6)
    ax.set_title(title)
    return ax


def plot_label_distributions(
    panels: Mapping[str, np.ndarray], axes: Sequence[Axes] | None = None, every_client: bool = False,
) -> list[Axes]:
    """Several ``{title: counts}`` heat maps side by side on ONE colour scale, with one colour bar.

    One scale makes them comparable: an even split looks even, and a darker cell means more
    examples in whichever panel it is. Returns the panels' Axes.
    """
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError(f"panels must be a {{title: counts}} mapping with at least one entry, got {panels!r}")
    matrices = {title: _check_counts(counts, f"panels[{title!r}]") for title, counts in panels.items()}
    if axes is None:
        widest = max(m.shape[1] for m in matrices.values())
        tallest = max(m.shape[0] for m in matrices.values())
        axes = plt.subplots(1, len(matrices), figsize=((0.45 * widest + 1.5) * len(matrices) + 1.5,
                                                       0.3 * tallest + 1.5), squeeze=False)[1][0]
    if len(axes) != len(matrices):
        raise ValueError(f"axes must hold one Axes per panel ({len(matrices)}), got {len(axes)}")
    vmax = max(float(m.max()) for m in matrices.values())
    for ax, (title, counts) in zip(axes, matrices.items()):
        plot_label_distribution(counts, ax=ax, title=title, vmax=vmax, every_client=every_client, colorbar=False)
    axes[0].figure.colorbar(axes[0].get_images()[0], ax=list(axes), label="examples (white: none)")
    return list(axes)


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
    runs = _history_runs(runs)
    ax = _axes(ax)
    for label, history in runs.items():
        rounds, values = _series(history, metric, kind, f"runs[{label!r}]")
        ax.plot(rounds, values, marker="o", markersize=3, label=label or None)
    for (label, value), style in zip((references or {}).items(), cycle(("--", ":", "-."))):
        ax.axhline(value, linestyle=style, color="grey", label=label)
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{metric} ({kind})")
    if any(runs) or references:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_band(
    runs: Mapping[str, Sequence[History]],
    metric: str = "accuracy",
    kind: str = "centralized",
    ax: Axes | None = None,
    references: Mapping[str, float] | None = None,
) -> Axes:
    """For each ``{label: [History of seed 1, seed 2, ...]}``: the mean curve and a min-max band over seeds.

    Runs that stopped early are drawn over the rounds that all of the label's seeds reached.
    """
    if not isinstance(runs, Mapping):
        raise TypeError(
            f"runs must be a {{label: [History, ...]}} mapping (one History per seed), got {type(runs).__name__}"
        )
    ax = _axes(ax)
    for label, histories in runs.items():
        if isinstance(histories, History) or not isinstance(histories, Sequence):
            raise TypeError(f"runs[{label!r}] must be a list of History (one per seed), got {type(histories).__name__}")
        if len(histories) == 0:
            raise ValueError(f"runs[{label!r}] is empty: give at least one History")
        series = [_series(h, metric, kind, f"runs[{label!r}][{i}]") for i, h in enumerate(histories)]
        length = min(len(rounds) for rounds, _ in series)
        rounds = series[0][0][:length]
        values = np.array([v[:length] for _, v in series])
        (line,) = ax.plot(rounds, values.mean(axis=0), marker="o", markersize=3,
                          label=f"{label} (mean of {len(histories)})" if label else None)
        ax.fill_between(rounds, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2, linewidth=0)
    for (label, value), style in zip((references or {}).items(), cycle(("--", ":", "-."))):
        ax.axhline(value, linestyle=style, color="grey", label=label)
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{metric} ({kind}), band: min-max over seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_summaries(summaries: Mapping[str, Summary], ax: Axes | None = None, ylabel: str = "accuracy") -> Axes:
    """One figure per label: each seed as a dot, the mean as a bar with +/- one standard deviation."""
    if not isinstance(summaries, Mapping) or len(summaries) == 0:
        raise ValueError(f"summaries must be a {{label: Summary}} mapping with at least one entry, got {summaries!r}")
    ax = _axes(ax)
    for x, (label, summary) in enumerate(summaries.items()):
        if not isinstance(summary, Summary):
            raise TypeError(f"summaries[{label!r}] must be a Summary (from replicate.repeat), "
                            f"got {type(summary).__name__}")
        ax.bar(x, summary.mean, yerr=summary.std, capsize=4, color="tab:blue", alpha=0.35)
        spread = np.linspace(-0.15, 0.15, summary.n) if summary.n > 1 else np.zeros(1)
        ax.scatter(x + spread, summary.values, color="tab:blue", s=14, zorder=3)
    ax.set_xticks(range(len(summaries)))
    ax.set_xticklabels(list(summaries), rotation=20 if len(summaries) > 4 else 0)
    ax.set_ylabel(f"{ylabel} (dots: seeds; bar: mean +/- std)")
    ax.grid(alpha=0.3, axis="y")
    return ax


def plot_client_metrics(
    values: Sequence[float] | Mapping[int, float], ax: Axes | None = None, metric: str = "accuracy",
    reference: float | None = None, reference_label: str = "reference",
) -> Axes:
    """Bar chart of one value per client (a list indexed by client, or ``{cid: value}``); NaN draws no bar.

    ``reference`` draws a dashed line, named ``reference_label`` in the legend (e.g. "weighted mean").
    """
    items = sorted(values.items()) if isinstance(values, Mapping) else list(enumerate(values))
    if not items:
        raise ValueError("values must hold at least one client's value, got none")
    for cid, value in items:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"values must be numbers, one per client; client {cid} has {type(value).__name__} {value!r}"
            )
    if reference is not None:
        check_number("reference", reference)
    ax = _axes(ax)
    ax.bar([str(cid) for cid, _ in items], [v for _, v in items], color="tab:blue")
    if reference is not None:
        ax.axhline(reference, linestyle="--", color="grey", label=f"{reference_label} {reference:.3f}")
        ax.legend()
    if len(items) > 12:
        ax.tick_params(axis="x", labelsize=7, labelrotation=90)
    ax.set_xlabel("client")
    ax.set_ylabel(metric)
    return ax
