"""Evidence over seeds: repeat an experiment, summarize each figure, and test a claim on it.

One run is an anecdote: a different seed draws a different split, initial model, client sample
and mini-batches, and a comparison that one seed shows can vanish at the next. The course
states a comparative claim only after measuring it over several seeds:

    results = repeat(lambda seed: {"fedavg": run_fedavg(seed), "alone": run_alone(seed)}, SEEDS)
    print(results["fedavg"])                       # 0.931 +/- 0.012 over 5 seeds
    assert_greater(results["fedavg"], results["alone"], "FedAvg beats training alone")

``assert_greater`` checks the rule the course uses everywhere: the claim holds for the mean
*and* in at least all but one of the seeds (all of them with fewer than 5), comparing each seed's
two figures with each other (a paired comparison: both come from the same split and start).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def _check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (a repeated seed repeats the same run), got {seeds}")
    return tuple(int(s) for s in seeds)


@dataclass(frozen=True)
class Summary:
    """One figure measured at several seeds: ``values[i]`` came from ``seeds[i]``."""

    values: np.ndarray
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.shape != (len(self.seeds),):
            raise ValueError(f"values must hold one number per seed ({len(self.seeds)}), got shape {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"values must be finite numbers, got {values.tolist()}")
        object.__setattr__(self, "values", values)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1) over the seeds; 0 for a single seed."""
        return float(self.values.std(ddof=1)) if self.n > 1 else 0.0

    @property
    def sem(self) -> float:
        """Standard error of the mean: ``std / sqrt(n)``."""
        return self.std / math.sqrt(self.n)

    @property
    def min(self) -> float:
        return float(self.values.min())

    @property
    def max(self) -> float:
        return float(self.values.max())

    def format(self, digits: int = 3) -> str:
        """``"0.931 +/- 0.012 over 5 seeds"``: the mean and the standard deviation over the seeds."""
        return f"{self.mean:.{digits}f} +/- {self.std:.{digits}f} over {self.n} seeds"

    def __str__(self) -> str:
        return self.format()


def repeat(
    experiment: Callable[[int], Mapping[str, float]], seeds: Sequence[int]
) -> dict[str, Summary]:
    """Run ``experiment(seed)`` for every seed; each run returns ``{figure name: number}``.

    Returns ``{figure name: Summary}``. Every run must return the same names; a run's seed
    should derive everything random in it (split, initial model, sampling, shuffles, noise).
    """
    if not callable(experiment):
        raise TypeError(f"experiment must be callable (seed -> {{figure name: number}}), "
                        f"got {type(experiment).__name__}")
    seeds = _check_seeds(seeds)
    runs = []
    for seed in seeds:
        figures = dict(experiment(seed))
        if runs and set(figures) != set(runs[0]):
            raise ValueError(
                f"experiment({seed}) returned figures {sorted(figures)}, but experiment({seeds[0]}) "
                f"returned {sorted(runs[0])}: every run must measure the same figures"
            )
        runs.append(figures)
    return {name: Summary(np.array([float(run[name]) for run in runs]), seeds) for name in runs[0]}


@dataclass(frozen=True)
class Comparison:
    """``a - b`` seed by seed: ``differences[i]`` is ``a.values[i] - b.values[i]``."""

    differences: np.ndarray
    seeds: tuple[int, ...]
    margin: float = 0.0

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def mean(self) -> float:
        return float(self.differences.mean())

    @property
    def sem(self) -> float:
        """Standard error of the mean difference."""
        return Summary(self.differences, self.seeds).sem

    @property
    def wins(self) -> int:
        """In how many seeds ``a - b > margin``."""
        return int((self.differences > self.margin).sum())

    def __str__(self) -> str:
        return f"{self.mean:+.3f} +/- {self.sem:.3f} (s.e.), ahead in {self.wins} of {self.n} seeds"


def compare(a: Summary, b: Summary | float, margin: float = 0.0) -> Comparison:
    """The paired difference ``a - b`` per seed (``b`` may be a fixed number); ``wins`` counts ``> margin``."""
    if not isinstance(a, Summary):
        raise TypeError(f"a must be a Summary (from repeat), got {type(a).__name__}")
    if isinstance(b, Summary):
        if b.seeds != a.seeds:
            raise ValueError(f"a and b must come from the same seeds to be paired, got {a.seeds} and {b.seeds}")
        other = b.values
    elif isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool) and np.isfinite(b):
        other = np.full(a.n, float(b))
    else:
        raise TypeError(f"b must be a Summary or a finite number, got {b!r}")
    if not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    return Comparison(a.values - other, a.seeds, float(margin))


def default_min_wins(n: int) -> int:
    """The course's rule: all seeds but one when there are at least 5, else every seed."""
    return n - 1 if n >= 5 else n


def _values(x: Summary | float) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in x.values) + "]" if isinstance(x, Summary) else f"{x:.3f}"


def _check_claim(comparison: Comparison, a, b, claim: str, min_wins: int | None, relation: str) -> Comparison:
    needed = default_min_wins(comparison.n) if min_wins is None else min_wins
    if isinstance(needed, bool) or not isinstance(needed, (int, np.integer)) or not 1 <= needed <= comparison.n:
        raise ValueError(f"min_wins must be an integer in [1, {comparison.n}] (the number of seeds), got {min_wins!r}")
    if not (comparison.mean > comparison.margin and comparison.wins >= needed):
        raise AssertionError(
            f"{claim}: does not hold. Needed {relation} for the mean and in at least {needed} of {comparison.n} "
            f"seeds; got {comparison}. Seeds {list(a.seeds)}: a = {_values(a)}, b = {_values(b)}"
        )
    return comparison


def assert_greater(
    a: Summary, b: Summary | float, claim: str, margin: float = 0.0, min_wins: int | None = None
) -> Comparison:
    """Assert ``a > b + margin`` for the mean and in at least ``min_wins`` seeds; return ``compare(a, b)``.

    ``min_wins`` defaults to :func:`default_min_wins` (4 of 5 seeds). A negative ``margin`` states
    "not much worse than": ``assert_greater(fedavg, central, ..., margin=-0.05)`` is "FedAvg ends
    within 5 points of centralized training". The error shows every seed's values.
    """
    return _check_claim(compare(a, b, margin), a, b, claim, min_wins, f"a - b > {margin:+g}")


def assert_less(
    a: Summary, b: Summary | float, claim: str, margin: float = 0.0, min_wins: int | None = None
) -> Comparison:
    """Assert ``a < b - margin`` for the mean and in at least ``min_wins`` seeds; return the comparison ``b - a``."""
    difference = compare(a, b, margin)
    flipped = Comparison(-difference.differences, difference.seeds, difference.margin)
    return _check_claim(flipped, a, b, claim, min_wins, f"b - a > {margin:+g}")
