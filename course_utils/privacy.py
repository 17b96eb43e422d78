"""Differential privacy (DP): noisy answers, DP-FedAvg, and the privacy budget it spends.

Three layers, each usable on its own:

- mechanisms on one query: :func:`laplace_count`, :func:`gaussian_mechanism` and
  :func:`gaussian_sigma` (the noise a single Gaussian release needs for (epsilon, delta));
- DP-FedAvg (McMahan et al., 2018, "Learning Differentially Private Recurrent Language
  Models"): :func:`clip_update` and the strategy :class:`DPFedAvg`, with the noise added by the
  server (``mode="central"``) or by every client (``mode="local"``), and the clients sampled
  the way the accountant assumes (``sampling="poisson"``: each independently with probability
  q) or a fixed number per round (``sampling="fixed"``, as ``FedAvg`` does); with a fixed
  clipping bound, or one that follows a private quantile of the update norms
  (``target_quantile``: adaptive clipping, Andrew et al., 2021, :func:`adaptive_noise_multipliers`);
- accounting with Google's ``dp_accounting``: :func:`dp_fedavg_epsilon` (for either sampling),
  :func:`noise_multiplier_for_epsilon` and :func:`local_dp_epsilon`.

Plus :func:`update_norms`: each client's update norm, to choose the clipping bound from.

Privacy here is *user-level*: the unit protected is one client's whole contribution.

Where the noise comes from. Without a seed (``seed=None``, the default) every noise draw uses a
new generator seeded with 128 bits from the operating system's secure randomness (``secrets``),
fresh for every round and every stream, so nobody can regenerate the noise and subtract it
from the released model. With a seed the noise is a pure function of (seed, round, stream):
that makes a lesson reproducible, and it lets anyone who knows or guesses the seed remove the
noise exactly, so a deployment must never pass one. Even unseeded, this is a teaching
implementation: NumPy's PCG64 is not a cryptographic generator, and floating-point Gaussian
samples can leak through their lowest bits (Mironov, 2012, "On Significance of the Least
Significant Bits for Differential Privacy"); production systems use a secure generator and a
sampler built against that attack (e.g. the discrete Gaussian of Canonne, Kamath and Steinke,
2020).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.aggregate import Parameters, weighted_metrics
from course_utils.checks import check_integer, check_number
from course_utils.strategy import Config, Failure, FedAvg, FitResult

if TYPE_CHECKING:  # dp_accounting (and the SciPy it imports) loads only where epsilon is computed
    import dp_accounting

MODES = ("central", "local")
SAMPLINGS = ("poisson", "fixed")
SIGMA_METHODS = ("analytic", "classical")


# --- checks --------------------------------------------------------------------------------


def _check_positive(name: str, value: Any) -> None:
    if check_number(name, value) <= 0:
        raise ValueError(f"{name} must be positive (> 0), got {value!r}")


def _check_delta(delta: Any) -> None:
    check_number("delta", delta, 0, 1, min_open=True, max_open=True,
                 hint=", typically much less than 1 / (number of users)")


def _check_noise_multiplier(noise_multiplier: Any) -> None:
    check_number("noise_multiplier", noise_multiplier, 0, hint=" (0 adds no noise)")


def _check_sampling_rate(sampling_rate: Any) -> None:
    check_number("sampling_rate", sampling_rate, 0, 1, min_open=True, hint=" (clients per round / num_clients)")


def _check_num_rounds(num_rounds: Any) -> None:
    check_integer("num_rounds", num_rounds, 1, hint=" (rounds of training)")


def _check_sampling(sampling: Any) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")


def _check_seed(seed: Any) -> None:
    if seed is not None:
        check_integer("seed", seed, 0, hint=" or None (None: noise from the operating system, for deployments)")


def _check_rng(rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")


def _float_arrays(name: str, arrays: Any) -> list[np.ndarray]:
    """``arrays`` (a list or tuple of arrays of real numbers, all finite) as float64 arrays; else a clear error."""
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{name} must be a list of NumPy arrays (one per layer), got {type(arrays).__name__}")
    converted = []
    for i, array in enumerate(arrays):
        array = np.asarray(array)
        if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer)
                                           or np.issubdtype(array.dtype, np.floating)):
            raise TypeError(f"{name}[{i}] must be an array of real numbers, got dtype {array.dtype}")
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}[{i}] holds NaN or infinite values: a broken update cannot be clipped or noised")
        converted.append(array)
    return converted


# --- 1. mechanisms on a single query ---------------------------------------------------------


def laplace_count(data: np.ndarray | int, epsilon: float, rng: np.random.Generator) -> float:
    """An epsilon-DP count: the true count plus Laplace noise of scale ``1 / epsilon``.

    ``data`` is a boolean array with one entry per person (the count is its number of True
    values) or the count itself, a non-negative integer. Adding or removing one person
    changes a count by at most 1 (sensitivity 1), so scale ``1 / epsilon`` gives epsilon-DP
    (Dwork and Roth, 2014, Theorem 3.6). The noise has standard deviation ``sqrt(2) / epsilon``.
    """
    _check_positive("epsilon", epsilon)
    _check_rng(rng)
    if isinstance(data, (bool, np.bool_)) or isinstance(data, (int, np.integer)):
        if isinstance(data, (bool, np.bool_)) or data < 0:
            raise ValueError(f"data must be a boolean array or a non-negative integer count, got {data!r}")
        count = int(data)
    else:
        array = np.asarray(data)
        if array.dtype != np.bool_:
            raise ValueError(f"data must be a boolean array (one entry per person) or a count, got dtype {array.dtype}")
        count = int(array.sum())
    return float(count + rng.laplace(0.0, 1.0 / epsilon))


def gaussian_mechanism(
    value: float | np.ndarray, sensitivity: float, sigma: float, rng: np.random.Generator
) -> float | np.ndarray:
    """``value`` plus Gaussian noise of standard deviation ``sigma * sensitivity`` (same shape).

    ``sensitivity`` is the largest L2 distance between the values of two neighbouring data
    sets; ``sigma`` is the noise multiplier, the noise std in units of the sensitivity (what
    :func:`gaussian_sigma` returns for a target (epsilon, delta)).
    """
    values = np.asarray(value)
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise TypeError(f"value must be a real number or an array of real numbers, got {type(value).__name__}")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("value holds NaN or infinite values")
    _check_positive("sensitivity", sensitivity)
    check_number("sigma", sigma, 0, hint=" (the noise std in units of the sensitivity)")
    _check_rng(rng)
    noise = rng.normal(0.0, sigma * sensitivity, size=values.shape)
    return float(values + noise) if values.ndim == 0 else values + noise


def gaussian_sigma(epsilon: float, delta: float, method: str = "analytic") -> float:
    """The noise multiplier that makes one Gaussian release (epsilon, delta)-DP (sensitivity 1).

    - ``"analytic"``: the smallest sigma that works, computed exactly by
      ``dp_accounting.get_sigma_gaussian`` (Balle and Wang, 2018, "Improving the Gaussian
      Mechanism for Differential Privacy: Analytical Calibration and Optimal Denoising").
      Valid for every epsilon > 0.
    - ``"classical"``: ``sqrt(2 ln(1.25 / delta)) / epsilon`` (Dwork and Roth, 2014,
      Theorem A.1), the textbook bound; it only holds for epsilon < 1 and adds more noise.
    """
    _check_positive("epsilon", epsilon)
    _check_delta(delta)
    if method not in SIGMA_METHODS:
        raise ValueError(f"method must be one of {SIGMA_METHODS}, got {method!r}")
    if method == "classical":
        if epsilon >= 1:
            raise ValueError(f"epsilon must be < 1 for method='classical' (use method='analytic'), got {epsilon}")
        return math.sqrt(2 * math.log(1.25 / delta)) / epsilon
    import dp_accounting

    return float(dp_accounting.get_sigma_gaussian(epsilon, delta))


# --- 2. DP-FedAvg ---------------------------------------------------------------------------


def global_norm(arrays: Parameters) -> float:
    """The L2 norm of all the arrays taken together, as if flattened into one vector.

    ``arrays`` must be a list of finite real arrays. Computed on the arrays scaled by their
    largest magnitude, so that huge finite entries do not overflow to infinity.
    """
    arrays = _float_arrays("arrays", arrays)
    largest = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    if largest == 0:
        return 0.0
    return largest * math.sqrt(sum(float(np.sum(np.square(a / largest))) for a in arrays))


def clip_update(update: Parameters, clip_norm: float) -> tuple[Parameters, float]:
    """Scale ``update`` down to global L2 norm at most ``clip_norm``; return (clipped, original norm).

    The direction is kept; an update already within the bound is returned unchanged (as new
    arrays of the same shapes and dtypes). After clipping, one client can move the sum of the
    updates by at most ``clip_norm``: that is the sensitivity the noise is calibrated to. An
    update with NaN or infinite entries has no direction to keep: ValueError.
    """
    _float_arrays("update", update)
    _check_positive("clip_norm", clip_norm)
    norm = global_norm(update)
    factor = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return [(np.asarray(u, dtype=np.float64) * factor).astype(np.asarray(u).dtype) for u in update], norm


def add_noise(update: Parameters, std: float, rng: np.random.Generator) -> list[np.ndarray]:
    """``update`` plus independent Gaussian noise of standard deviation ``std`` on every entry (float64)."""
    update = _float_arrays("update", update)
    check_number("std", std, 0, hint=" (the noise standard deviation)")
    _check_rng(rng)
    return [u + rng.normal(0.0, std, size=u.shape) for u in update]


def noise_rng(seed: int | None, server_round: int, stream: int, purpose: int = 0) -> np.random.Generator:
    """The generator for one noise draw: stream 0 is the server's, stream ``cid + 1`` client ``cid``'s.

    ``purpose`` tells apart the draws of one stream in one round: 0 for the noise on the
    updates, 1 for the noise on adaptive clipping's count (a seeded draw of purpose 0 is the
    same as before ``purpose`` existed).

    ``seed=None``: a new generator seeded with 128 bits from the operating system's secure
    randomness (``secrets.randbits``), so no two calls share noise and nobody can regenerate
    it. An integer ``seed`` (lessons only): a pure function of its arguments, so the noise of
    a round does not depend on what was drawn before, nor on which other clients were sampled;
    and anyone who knows the seed can regenerate the noise and subtract it.
    """
    _check_seed(seed)
    check_integer("server_round", server_round, 0)
    check_integer("stream", stream, 0, hint=" (0 for the server, cid + 1 for client cid)")
    check_integer("purpose", purpose, 0, hint=" (0: the updates' noise, 1: adaptive clipping's count)")
    if seed is None:
        return np.random.default_rng(secrets.randbits(128))
    return np.random.default_rng([seed, server_round, stream] + ([purpose] if purpose else []))


def poisson_sample(num_clients: int, sampling_rate: float, rng: np.random.Generator) -> list[int]:
    """Poisson sampling: each of the ids ``0 .. num_clients - 1`` independently with probability ``sampling_rate``.

    The sorted ids of the sampled clients; their number varies from round to round (it may be
    0), with mean ``sampling_rate * num_clients``. This is the sampling the RDP accountant's
    ``PoissonSampledDpEvent`` assumes.
    """
    check_integer("num_clients", num_clients, 1)
    _check_sampling_rate(sampling_rate)
    _check_rng(rng)
    return np.flatnonzero(rng.random(num_clients) < sampling_rate).tolist()


def adaptive_noise_multipliers(noise_multiplier: float, count_stddev: float) -> float:
    """The noise multiplier left for the updates when adaptive clipping also releases a noisy count.

    Adaptive clipping (Andrew et al., 2021, "Differentially Private Learning with Adaptive
    Clipping", Section 3) releases two things per round from the same sampled clients: the sum
    of the clipped updates (sensitivity ``C``, noise std ``z_update * C``) and the count of the
    updates whose norm is at most ``C``, each client's bit centred to -1/2 or +1/2
    (sensitivity 1/2, noise std ``count_stddev``). Together they are one Gaussian mechanism of
    multiplier ``(z_update ** -2 + (2 * count_stddev) ** -2) ** -0.5``; this returns the
    ``z_update`` that makes it equal ``noise_multiplier``, the multiplier the accountant is
    given, so that adaptive clipping spends the same epsilon as fixed clipping at
    ``noise_multiplier``. Needs ``noise_multiplier < 2 * count_stddev``; 0 stays 0 (no noise).
    """
    _check_noise_multiplier(noise_multiplier)
    check_number("count_stddev", count_stddev, 0, hint=" (the noise std on the count of unclipped updates)")
    if noise_multiplier == 0:
        return 0.0
    if noise_multiplier >= 2 * count_stddev:
        raise ValueError(f"noise_multiplier must be below 2 * clipped_count_stddev = {2 * count_stddev:g} for "
                         f"adaptive clipping (the count alone would spend the budget), got {noise_multiplier}; "
                         f"raise clipped_count_stddev")
    return float((noise_multiplier ** -2 - (2 * count_stddev) ** -2) ** -0.5)


def _cast_like(array: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``array`` in the dtype of ``like``, rounded first if that dtype is an integer one (as in ``fedavg``)."""
    dtype = np.asarray(like).dtype
    return (np.rint(array) if np.issubdtype(dtype, np.integer) else array).astype(dtype)


@dataclass
class DPFedAvg(FedAvg):
    """DP-FedAvg (McMahan et al., 2018): FedAvg on clipped updates, with Gaussian noise.

    Each client's update (its new parameters minus the global parameters it received) is
    clipped to L2 norm ``clip_norm`` with :func:`clip_update`. The clipped updates are summed
    and divided by a denominator ``m`` fixed before training (see ``sampling``), with noise:

    - ``mode="central"`` (a trusted server adds the noise): Gaussian noise of std
      ``noise_multiplier * clip_norm`` on every entry of the sum, so ``noise_multiplier *
      clip_norm / m`` on the average. Privacy covers what leaves the server (the model), not
      the server itself; :meth:`epsilon` gives the budget.
    - ``mode="local"`` (nobody is trusted): every clipped update gets its own noise of std
      ``noise_multiplier * clip_norm`` before it is averaged, so the server only ever sees
      noisy updates; :func:`local_dp_epsilon` gives each client's budget. With ``k`` updates,
      the average carries noise of std ``noise_multiplier * clip_norm * sqrt(k) / m``, about
      ``sqrt(m)`` times more than in central mode for the same privacy per round.

    ``sampling`` says who trains in a round, and the accountant follows it:

    - ``"fixed"`` (the default, as ``FedAvg``): exactly ``m = clients_per_round(num_clients)``
      clients, drawn without replacement by ``FedAvg``'s own sampler. Accounted under
      *replace-one* neighbouring (the relation of the exact analysis of fixed-size sampling).
    - ``"poisson"`` (as McMahan et al.): every client independently with probability
      ``fraction_fit`` (:func:`poisson_sample`), so a round holds a varying number of clients,
      and the denominator is the expected number, ``m = fraction_fit * num_clients``, never the
      count actually sampled (which would depend on who took part). Accounted under
      *add-or-remove-one* neighbouring. ``min_fit_clients`` is then only required of the
      clients the round actually sampled.

    Why the average is *unweighted* (every client weight 1, not ``num_examples``): DP needs a
    bound on how far one client can move the result. Each clipped update moves the sum by at
    most ``clip_norm``; with example-count weights a client's influence would grow with the
    count it reports, which nothing bounds. (McMahan et al. allow fixed weights capped at 1 and
    a fixed denominator; here every weight is 1.) A client that fails counts as a zero update:
    the denominator stays ``m``.

    **Adaptive clipping** (``target_quantile`` set; central mode only; Andrew et al., 2021, the
    default of TensorFlow Federated's DP aggregator and Flower's
    ``DifferentialPrivacyServerSideAdaptiveClipping``): ``clip_norm`` is only the first round's
    bound ``C``. In every round each update's bit ``b = 1 if norm <= C else 0`` is computed
    where the update is clipped, the bits are summed centred (``b - 1/2``) with Gaussian noise of
    std ``clipped_count_stddev`` (default ``m / 20``, the paper's choice and Flower's), and
    divided by ``m``: a private estimate ``b_mean`` of the fraction of updates within ``C``.
    The bound for the next round is ``C * exp(-clip_norm_lr * (b_mean - target_quantile))``:
    it shrinks while more than ``target_quantile`` of the updates fit, grows while fewer do,
    and so follows that quantile of the norms (0.5: the median). A client moves ``b_mean`` by
    at most ``1 / m``, so ``C`` by a factor at most ``exp(clip_norm_lr / m)`` per round,
    whatever update it sends. The count is a second release from the same clients, so the
    updates get the smaller share :func:`adaptive_noise_multipliers` leaves:
    ``noise_multiplier`` stays the multiplier of the whole round, the one :meth:`epsilon`
    accounts for, and adaptive and fixed clipping at the same ``noise_multiplier`` spend the
    same epsilon. ``clip_norm_history`` holds the bound used in each round (public: it is
    computed from noisy counts only); ``unclipped_history`` the true fraction of updates within
    it (private: a lesson's diagnostic, never to be published). Flower 1.42 names these
    ``initial_clipping_norm``, ``target_clipped_quantile``, ``clip_norm_lr`` and
    ``clipped_count_stddev``; its server-side wrapper counts the *clipped* updates in the same
    update rule (where the paper counts the unclipped ones) and divides by the number of
    replies.

    ``seed``: None (the default) draws every noise from the operating system's secure
    randomness (:func:`noise_rng`), as a deployment must. An integer makes the noise
    reproducible, for lessons and tests only: whoever knows it can subtract the noise.

    Where the local noise is added: on a real device, before the update is sent. This
    one-process simulation adds it in :meth:`aggregate_fit` instead, which gives the same
    result in distribution and keeps one strategy object holding the whole DP configuration.
    Client ``cid``'s noise in round ``r`` comes from its own generator,
    ``noise_rng(seed, r, cid + 1)``, as a device's own generator would.

    The updates need the global parameters the clients started from: ``run_simulation``
    passes them to :meth:`aggregate_fit` as ``current``, as it does for every strategy.
    """

    clip_norm: float = 1.0
    noise_multiplier: float = 1.0
    mode: str = "central"
    sampling: str = "fixed"
    seed: int | None = None
    target_quantile: float | None = None
    clip_norm_lr: float = 0.2
    clipped_count_stddev: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("clip_norm", self.clip_norm)
        _check_noise_multiplier(self.noise_multiplier)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        _check_sampling(self.sampling)
        _check_seed(self.seed)
        if self.target_quantile is not None:
            check_number("target_quantile", self.target_quantile, 0, 1, min_open=True, max_open=True,
                         hint=" (the quantile of the update norms C should follow, 0.5: the median), or None "
                              "for a fixed clip_norm")
            if self.mode != "central":
                raise ValueError(f"target_quantile (adaptive clipping) needs mode='central', got mode={self.mode!r}")
        check_number("clip_norm_lr", self.clip_norm_lr, 0, 10, min_open=True, hint=" (Andrew et al. use 0.2)")
        if self.clipped_count_stddev is not None:
            check_number("clipped_count_stddev", self.clipped_count_stddev, 0,
                         hint=" or None (None: m / 20, m the clients per round)")
            if self.target_quantile is not None and self.noise_multiplier > 0:
                if self.clipped_count_stddev == 0:
                    raise ValueError("clipped_count_stddev must be > 0 when noise_multiplier > 0: an exact count "
                                     "of the unclipped updates is not private")
                adaptive_noise_multipliers(self.noise_multiplier, self.clipped_count_stddev)
        self.reset()

    def reset(self) -> None:
        """Forget the last run: the population size seen by :meth:`configure_fit`, and adaptive clipping's bound."""
        self._num_clients: int | None = None
        self.current_clip_norm = float(self.clip_norm)
        self.clip_norm_history: list[float] = []
        self.unclipped_history: list[float] = []

    @property
    def adaptive(self) -> bool:
        """True when the clipping bound adapts (``target_quantile`` set)."""
        return self.target_quantile is not None

    def count_stddev(self, num_clients: int) -> float:
        """The noise std on adaptive clipping's count: ``clipped_count_stddev``, or ``m / 20`` (0 without noise)."""
        if self.clipped_count_stddev is not None:
            return float(self.clipped_count_stddev)
        return self.clients_per_round(num_clients) / 20 if self.noise_multiplier > 0 else 0.0

    def update_noise_multiplier(self, num_clients: int) -> float:
        """The multiplier of the noise on the updates: ``noise_multiplier``, less the count's share if adaptive."""
        if not self.adaptive:
            return float(self.noise_multiplier)
        return adaptive_noise_multipliers(self.noise_multiplier, self.count_stddev(num_clients))

    def check_population(self, num_clients: int) -> None:
        """FedAvg's checks, and (adaptive) that the count's noise leaves room for the updates' noise."""
        super().check_population(num_clients)
        self.update_noise_multiplier(num_clients)

    def clients_per_round(self, num_clients: int) -> float:
        """The denominator ``m`` of the average, out of ``num_clients`` clients.

        ``"fixed"``: the number of clients ``FedAvg`` samples, :meth:`FedAvg.num_fit_clients`
        (the rule its sampler uses, so that accounting and sampling cannot disagree).
        ``"poisson"``: the expected number ``fraction_fit * num_clients`` (a float).
        """
        check_integer("num_clients", num_clients, 1)
        if self.sampling == "poisson":
            return self.fraction_fit * num_clients
        return float(self.num_fit_clients(num_clients))

    def sampling_rate(self, num_clients: int) -> float:
        """The probability that a given client trains in a round, ``clients_per_round / num_clients``."""
        return self.clients_per_round(num_clients) / num_clients

    def configure_fit(self, server_round: int, num_clients: int, rng: np.random.Generator) -> tuple[list[int], Config]:
        """Step 1: FedAvg's config, sent to FedAvg's fixed-size sample, or to a Poisson sample."""
        cids, config = super().configure_fit(server_round, num_clients, rng)
        self._num_clients = num_clients
        if self.sampling == "poisson":  # replaces the fixed-size draw FedAvg just made
            cids = poisson_sample(num_clients, self.fraction_fit, rng)
        return cids, config

    def aggregate_fit(
        self,
        server_round: int,
        results: list[FitResult],
        failures: list[Failure],
        current: Parameters | None = None,
    ) -> tuple[Parameters, dict[str, float]]:
        """Step 4 with DP: clip each update ``new - current``, sum, add noise, divide by ``m``.

        ``current`` are the global parameters sent this round (required). Returns the new
        global parameters and the usual example-weighted training metrics (not privatized).
        """
        if current is None:
            raise ValueError("DPFedAvg.aggregate_fit needs current, the global parameters the clients started from")
        if self.adaptive and self._num_clients is None:
            raise ValueError("target_quantile (adaptive clipping) needs configure_fit before aggregate_fit: "
                             "its noise depends on the clients per round")
        num_sampled = len(results) + len(failures)
        if self.sampling == "poisson":
            if self._num_clients is None:
                raise ValueError("DPFedAvg(sampling='poisson') needs configure_fit before aggregate_fit: its "
                                 "denominator is fraction_fit * num_clients")
            self._check_round(server_round, "fit", len(results), min(self.min_fit_clients, num_sampled), failures)
            denominator = self.fraction_fit * self._num_clients
        else:
            self._check_round(server_round, "fit", len(results), self.min_fit_clients, failures)
            denominator = num_sampled
        clip_norm = self.current_clip_norm
        total, norms = self._noisy_sum(server_round, [(cid, p) for cid, p, _, _ in results], current)
        new = [_cast_like(np.asarray(c, np.float64) + t / denominator, c) for c, t in zip(current, total)]
        if self.adaptive:
            self.clip_norm_history.append(clip_norm)
            self.unclipped_history.append(float(np.mean(norms <= clip_norm)) if norms.size else math.nan)
            self.current_clip_norm = self._next_clip_norm(server_round, norms, denominator)
        return new, weighted_metrics([(n, m) for _, _, n, m in results])

    def _noisy_sum(
        self, server_round: int, results: list[tuple[int, Parameters]], current: Parameters
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """The sum of the updates ``new - current`` clipped to the current bound, with the noise of ``mode``.

        Returns the sum (float64 arrays) and each update's norm before clipping.
        """
        clip_norm = self.current_clip_norm
        multiplier = self.update_noise_multiplier(self._num_clients) if self.adaptive else self.noise_multiplier
        std = multiplier * clip_norm
        current = _float_arrays("current", current)
        total = [np.zeros_like(p) for p in current]
        norms = []
        for cid, parameters in results:
            new = _float_arrays(f"client {cid}'s parameters", parameters)
            if [a.shape for a in new] != [p.shape for p in current]:
                raise ValueError(f"client {cid}'s parameters have shapes {[a.shape for a in new]}, "
                                 f"but the global parameters {[p.shape for p in current]}")
            update, norm = clip_update([n - p for n, p in zip(new, current)], clip_norm)
            norms.append(norm)
            if self.mode == "local":  # on a device, this happens before the update is sent
                update = add_noise(update, std, noise_rng(self.seed, server_round, cid + 1))
            total = [t + u for t, u in zip(total, update)]
        if self.mode == "central":
            total = add_noise(total, std, noise_rng(self.seed, server_round, 0))
        return total, np.asarray(norms, dtype=np.float64)

    def _next_clip_norm(self, server_round: int, norms: np.ndarray, denominator: float) -> float:
        """Adaptive clipping's step: the bound for the next round, from this round's noisy count of unclipped updates.

        ``b_mean = (sum(b - 1/2) + noise) / m + 1/2``, with ``b = norm <= C`` and noise of std
        :meth:`count_stddev`; then ``C * exp(-clip_norm_lr * (b_mean - target_quantile))``.
        """
        centred = float(np.sum((norms <= self.current_clip_norm) - 0.5))
        noise = noise_rng(self.seed, server_round, 0, purpose=1).normal(0.0, self.count_stddev(self._num_clients))
        unclipped = (centred + noise) / denominator + 0.5
        return float(self.current_clip_norm * math.exp(-self.clip_norm_lr * (unclipped - self.target_quantile)))

    def epsilon(self, num_clients: int, num_rounds: int, delta: float) -> float:
        """The privacy spent by ``num_rounds`` rounds over ``num_clients`` clients, for this strategy's sampling.

        Central mode: the model's user-level epsilon (:func:`dp_fedavg_epsilon` with this
        ``sampling``), the same with adaptive clipping (its count is paid for by the updates' share
        of ``noise_multiplier``, see :func:`adaptive_noise_multipliers`). Local mode: each client's
        (:func:`local_dp_epsilon`), for a client sampled in every round (the worst case).
        """
        if self.mode == "central":
            return dp_fedavg_epsilon(self.noise_multiplier, self.sampling_rate(num_clients), num_rounds, delta,
                                     sampling=self.sampling, num_clients=num_clients)
        return local_dp_epsilon(self.noise_multiplier, num_rounds, delta)


# --- 3. accounting --------------------------------------------------------------------------


class _DropUnconvergedOrders(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to converge" not in record.getMessage()


@contextmanager
def _quiet_fractional_orders() -> Iterator[None]:
    """Hide dp_accounting's warnings about fractional RDP orders it had to skip, for this block only.

    For little noise and a high sampling rate the series for orders such as 1.5 does not
    converge; the accountant then leaves those orders out, which can only make epsilon a
    little larger (still a valid bound), and logs a warning per order through absl. Other
    warnings still show.
    """
    logger, quiet = logging.getLogger("absl"), _DropUnconvergedOrders()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _fixed_sample_size(sampling_rate: float, num_clients: Any) -> int:
    """``sampling_rate * num_clients`` as the whole number of clients a fixed-size round samples."""
    check_integer("num_clients", num_clients, 1, hint=" (needed for sampling='fixed')")
    size = sampling_rate * num_clients
    if abs(size - round(size)) > 1e-9:
        raise ValueError(f"sampling_rate * num_clients must be a whole number of clients for sampling='fixed', "
                         f"got {sampling_rate} * {num_clients} = {size}")
    return int(round(size))


def _dp_fedavg_event(
    noise_multiplier: float, sampling_rate: float, num_rounds: int, sampling: str, num_clients: int | None
) -> tuple[dp_accounting.DpEvent, dp_accounting.NeighboringRelation]:
    """The DpEvent of ``num_rounds`` rounds of central DP-FedAvg, and the neighbouring relation it is accounted under.

    Poisson sampling, add-or-remove-one: the sum's sensitivity is ``clip_norm``, so the
    Gaussian's multiplier is ``noise_multiplier``. Fixed-size sampling without replacement
    (Wang, Balle and Kasiviswanathan, 2019, Theorem 27), replace-one: one client's clipped
    update swapped for another moves the sum by up to ``2 * clip_norm``, so the multiplier
    is ``noise_multiplier / 2``.
    """
    import dp_accounting

    relation = dp_accounting.NeighboringRelation
    if sampling == "poisson":
        event = dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
        return dp_accounting.SelfComposedDpEvent(event, int(num_rounds)), relation.ADD_OR_REMOVE_ONE
    size = _fixed_sample_size(sampling_rate, num_clients)
    event = dp_accounting.SampledWithoutReplacementDpEvent(
        int(num_clients), size, dp_accounting.GaussianDpEvent(noise_multiplier / 2))
    return dp_accounting.SelfComposedDpEvent(event, int(num_rounds)), relation.REPLACE_ONE


def _rdp_epsilon(
    event: dp_accounting.DpEvent,
    delta: float,
    relation: dp_accounting.NeighboringRelation | None = None,
) -> float:
    """epsilon at ``delta`` of ``event`` by the RDP accountant (add-or-remove-one unless ``relation`` says)."""
    import dp_accounting

    relation = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE if relation is None else relation
    accountant = dp_accounting.rdp.RdpAccountant(neighboring_relation=relation)  # the library's default orders
    with _quiet_fractional_orders():
        accountant.compose(event)
        return float(accountant.get_epsilon(delta))


def _check_accounting(sampling_rate: Any, num_rounds: Any, delta: Any, sampling: Any, num_clients: Any) -> None:
    _check_sampling_rate(sampling_rate)
    _check_num_rounds(num_rounds)
    _check_delta(delta)
    _check_sampling(sampling)
    if sampling == "fixed":
        _fixed_sample_size(sampling_rate, num_clients)


def dp_fedavg_epsilon(
    noise_multiplier: float,
    sampling_rate: float,
    num_rounds: int,
    delta: float,
    sampling: str = "poisson",
    num_clients: int | None = None,
) -> float:
    """The epsilon of central DP-FedAvg after ``num_rounds`` rounds, at ``delta`` (user-level).

    Each round is a Gaussian mechanism of noise multiplier ``noise_multiplier`` (noise std over
    ``clip_norm``) applied to a sample of the clients; ``dp_accounting``'s RDP accountant
    composes the rounds (Mironov, 2017; Mironov, Talwar and Zhang, 2019). ``sampling``:

    - ``"poisson"``: each client independently with probability ``sampling_rate`` (McMahan et
      al., 2018), add-or-remove-one neighbouring;
    - ``"fixed"``: exactly ``sampling_rate * num_clients`` clients (a whole number) without
      replacement, replace-one neighbouring, where one client can move the sum by twice the
      clipping norm: the accountant gets multiplier ``noise_multiplier / 2``. Treating a
      fixed-size sample as Poisson sampling at the same rate understates epsilon.

    ``noise_multiplier = 0`` gives infinity: no noise, no privacy.
    """
    _check_noise_multiplier(noise_multiplier)
    _check_accounting(sampling_rate, num_rounds, delta, sampling, num_clients)
    if noise_multiplier == 0:
        return math.inf
    event, relation = _dp_fedavg_event(noise_multiplier, sampling_rate, num_rounds, sampling, num_clients)
    return _rdp_epsilon(event, delta, relation)


def noise_multiplier_for_epsilon(
    target_epsilon: float,
    sampling_rate: float,
    num_rounds: int,
    delta: float,
    sampling: str = "poisson",
    num_clients: int | None = None,
) -> float:
    """The smallest noise multiplier for which :func:`dp_fedavg_epsilon` (same arguments) is at most ``target_epsilon``.

    Found by ``dp_accounting.calibrate_dp_mechanism`` (a bracketed root search over fresh
    RDP accountants), to within 1e-4.
    """
    import dp_accounting

    _check_positive("target_epsilon", target_epsilon)
    _check_accounting(sampling_rate, num_rounds, delta, sampling, num_clients)
    relation = _dp_fedavg_event(1.0, sampling_rate, num_rounds, sampling, num_clients)[1]
    lowest = 0.0 if sampling == "poisson" else 1e-3  # the fixed-size analysis divides by the multiplier
    with _quiet_fractional_orders():
        noise_multiplier = dp_accounting.calibrate_dp_mechanism(
            lambda: dp_accounting.rdp.RdpAccountant(neighboring_relation=relation),
            lambda z: _dp_fedavg_event(z, sampling_rate, num_rounds, sampling, num_clients)[0],
            target_epsilon,
            delta,
            bracket_interval=dp_accounting.LowerEndpointAndGuess(lowest, 1.0),
            tol=1e-4,
        )
    return float(noise_multiplier)


def local_dp_epsilon(noise_multiplier: float, num_rounds: int, delta: float) -> float:
    """The epsilon of one client in local-mode DP-FedAvg after it took part in ``num_rounds`` rounds.

    Local DP must hold between *any* two updates the client could send; after clipping they
    differ by up to ``2 * clip_norm`` (sensitivity), so noise of std ``noise_multiplier *
    clip_norm`` is a Gaussian mechanism of multiplier ``noise_multiplier / 2``. There is no
    amplification by sampling (the server knows who sent what): the RDP accountant composes
    ``num_rounds`` such releases with sampling rate 1.
    """
    _check_noise_multiplier(noise_multiplier)
    _check_num_rounds(num_rounds)
    _check_delta(delta)
    if noise_multiplier == 0:
        return math.inf
    return _rdp_epsilon(_dp_fedavg_event(noise_multiplier / 2, 1.0, num_rounds, "poisson", None)[0], delta)


# --- 4. choosing the clipping norm ----------------------------------------------------------


def update_norms(
    client_fn: Callable[[int], Any], cids: Iterable[int], parameters: Parameters, config: dict[str, Any]
) -> np.ndarray:
    """The global L2 norm of each client's update ``new - parameters`` when it trains from ``parameters``.

    Client ``cid`` (from ``client_fn(cid)``) runs ``fit(parameters, config)`` as in a round;
    the result has one norm per client, in the order of ``cids``: what :func:`clip_update`
    would see, to choose ``clip_norm`` from. In a real deployment these norms are private too:
    choose the bound on public or proxy data, or privately (Andrew et al., 2021,
    "Differentially Private Learning with Adaptive Clipping").
    """
    if not callable(client_fn):
        raise TypeError(f"client_fn must be a function cid -> client, got {type(client_fn).__name__}")
    sent = _float_arrays("parameters", parameters)
    norms = []
    for cid in cids:
        check_integer("cids", cid, 0, hint=" (client ids)")
        new = _float_arrays(f"client {cid}'s parameters", client_fn(cid).fit(parameters, config)[0])
        norms.append(global_norm([n - p for n, p in zip(new, sent)]))
    return np.asarray(norms, dtype=np.float64)
