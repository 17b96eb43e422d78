"""Differential privacy (DP): noisy answers, DP-FedAvg, and the privacy budget it spends.

Three layers, each usable on its own:

- mechanisms on one query: :func:`laplace_count`, :func:`gaussian_mechanism` and
  :func:`gaussian_sigma` (the noise a single Gaussian release needs for (epsilon, delta));
- DP-FedAvg (McMahan et al., 2018, "Learning Differentially Private Recurrent Language
  Models"): :func:`clip_update` and the strategy :class:`DPFedAvg`, with the noise added by the
  server (``mode="central"``) or by every client (``mode="local"``);
- accounting with Google's ``dp_accounting``: :func:`dp_fedavg_epsilon`,
  :func:`noise_multiplier_for_epsilon` and :func:`local_dp_epsilon`.

Plus :func:`update_norms`: each client's update norm, to choose the clipping bound from.

Privacy here is *user-level*: the unit protected is one client's whole contribution. Noise is
drawn from NumPy generators seeded from ``seed`` so that a lesson is reproducible; a real
deployment draws it from a cryptographically secure source.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dp_accounting
import numpy as np

from course_utils.aggregate import Parameters, weighted_metrics
from course_utils.strategy import Failure, FedAvg, FitResult

MODES = ("central", "local")
SIGMA_METHODS = ("analytic", "classical")


# --- checks --------------------------------------------------------------------------------


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive (> 0), got {value!r}")


def _check_delta(delta: float) -> None:
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), typically much less than 1 / (number of users), got {delta!r}")


def _check_noise_multiplier(noise_multiplier: float) -> None:
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0 (0 adds no noise), got {noise_multiplier!r}")


def _check_sampling_rate(sampling_rate: float) -> None:
    if not 0 < sampling_rate <= 1:
        raise ValueError(f"sampling_rate must be in (0, 1] (clients per round / num_clients), got {sampling_rate!r}")


def _check_num_rounds(num_rounds: int) -> None:
    if isinstance(num_rounds, bool) or not isinstance(num_rounds, (int, np.integer)) or num_rounds < 1:
        raise ValueError(f"num_rounds must be a positive integer, got {num_rounds!r}")


# --- 1. mechanisms on a single query ---------------------------------------------------------


def laplace_count(data: np.ndarray | int, epsilon: float, rng: np.random.Generator) -> float:
    """An epsilon-DP count: the true count plus Laplace noise of scale ``1 / epsilon``.

    ``data`` is a boolean array with one entry per person (the count is its number of True
    values) or the count itself, a non-negative integer. Adding or removing one person
    changes a count by at most 1 (sensitivity 1), so scale ``1 / epsilon`` gives epsilon-DP
    (Dwork and Roth, 2014, Theorem 3.6). The noise has standard deviation ``sqrt(2) / epsilon``.
    """
    _check_positive("epsilon", epsilon)
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
    _check_positive("sensitivity", sensitivity)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 (the noise std in units of the sensitivity), got {sigma!r}")
    noise = rng.normal(0.0, sigma * sensitivity, size=np.shape(value))
    return float(value + noise) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64) + noise


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
    return float(dp_accounting.get_sigma_gaussian(epsilon, delta))


# --- 2. DP-FedAvg ---------------------------------------------------------------------------


def global_norm(arrays: Parameters) -> float:
    """The L2 norm of all the arrays taken together, as if flattened into one vector."""
    return math.sqrt(sum(float(np.sum(np.square(np.asarray(a, dtype=np.float64)))) for a in arrays))


def clip_update(update: Parameters, clip_norm: float) -> tuple[Parameters, float]:
    """Scale ``update`` down to global L2 norm at most ``clip_norm``; return (clipped, original norm).

    The direction is kept; an update already within the bound is returned unchanged (as new
    arrays of the same shapes and dtypes). After clipping, one client can move the sum of the
    updates by at most ``clip_norm``: that is the sensitivity the noise is calibrated to.
    """
    _check_positive("clip_norm", clip_norm)
    norm = global_norm(update)
    factor = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return [(np.asarray(u, dtype=np.float64) * factor).astype(np.asarray(u).dtype) for u in update], norm


def add_noise(update: Parameters, std: float, rng: np.random.Generator) -> list[np.ndarray]:
    """``update`` plus independent Gaussian noise of standard deviation ``std`` on every entry (float64)."""
    return [np.asarray(u, dtype=np.float64) + rng.normal(0.0, std, size=np.shape(u)) for u in update]


def noise_rng(seed: int, server_round: int, stream: int) -> np.random.Generator:
    """The generator for one noise draw: stream 0 is the server's, stream ``cid + 1`` client ``cid``'s.

    A pure function of its arguments, so the noise of a round does not depend on what was
    drawn before, nor on which other clients were sampled.
    """
    return np.random.default_rng([seed, server_round, stream])


def _cast_like(array: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``array`` in the dtype of ``like``, rounded first if that dtype is an integer one (as in ``fedavg``)."""
    dtype = np.asarray(like).dtype
    return (np.rint(array) if np.issubdtype(dtype, np.integer) else array).astype(dtype)


@dataclass
class DPFedAvg(FedAvg):
    """DP-FedAvg (McMahan et al., 2018): FedAvg on clipped updates, with Gaussian noise.

    Each client's update (its new parameters minus the global parameters it received) is
    clipped to L2 norm ``clip_norm`` with :func:`clip_update`. Then, with ``m`` clients
    sampled this round:

    - ``mode="central"`` (a trusted server adds the noise): the new global parameters are the
      old ones plus ``sum(clipped updates) / m`` plus Gaussian noise of std
      ``noise_multiplier * clip_norm / m`` on every entry. Privacy covers what leaves the
      server (the model), not the server itself; :func:`dp_fedavg_epsilon` gives the budget.
    - ``mode="local"`` (nobody is trusted): every clipped update gets its own noise of std
      ``noise_multiplier * clip_norm`` before it is averaged, so the server only ever sees
      noisy updates; :func:`local_dp_epsilon` gives each client's budget. The average then
      carries noise of std ``noise_multiplier * clip_norm / sqrt(m)``, ``sqrt(m)`` times more
      than in central mode for the same privacy per round: the price of trusting nobody.

    Why the average is *unweighted* (every client weight 1, not ``num_examples``): DP needs a
    bound on how far one client can move the result. Each clipped update moves the sum by at
    most ``clip_norm``, so dividing by the number of sampled clients ``m`` (fixed before
    training) moves the average by at most ``clip_norm / m``. With example-count weights a
    client's influence would grow with the count it reports, which nothing bounds. (McMahan et
    al. allow fixed weights capped at 1 and a fixed denominator; here every weight is 1.) A
    client that fails counts as a zero update, so the denominator stays ``m``.

    Where the local noise is added: on a real device, before the update is sent. This
    one-process simulation adds it in :meth:`aggregate_fit` instead, which gives the same
    result in distribution and keeps one strategy object holding the whole DP configuration
    (a client wrapper would split it in two, and a wrapped client plus a local-mode strategy
    would add the noise twice). Client ``cid``'s noise in round ``r`` comes from its own
    generator, ``noise_rng(seed, r, cid + 1)``, as a device's own generator would.

    The updates need the global parameters the clients started from: ``run_simulation``
    passes them to :meth:`aggregate_fit` as ``current``, as it does for every strategy.
    """

    clip_norm: float = 1.0
    noise_multiplier: float = 1.0
    mode: str = "central"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("clip_norm", self.clip_norm)
        _check_noise_multiplier(self.noise_multiplier)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    def aggregate_fit(
        self,
        server_round: int,
        results: list[FitResult],
        failures: list[Failure],
        current: Parameters | None = None,
    ) -> tuple[Parameters, dict[str, float]]:
        """Step 4 with DP: clip each update ``new - current``, sum, add noise, divide by the clients sampled.

        ``current`` are the global parameters sent this round (required). Returns the new
        global parameters and the usual example-weighted training metrics (not privatized).
        """
        if current is None:
            raise ValueError("DPFedAvg.aggregate_fit needs current, the global parameters the clients started from")
        self._check_round(server_round, "fit", len(results), self.min_fit_clients, failures)
        total = self._noisy_sum(server_round, [(cid, p) for cid, p, _, _ in results], current)
        num_sampled = len(results) + len(failures)
        new = [_cast_like(np.asarray(c, np.float64) + t / num_sampled, c) for c, t in zip(current, total)]
        return new, weighted_metrics([(n, m) for _, _, n, m in results])

    def _noisy_sum(
        self, server_round: int, results: list[tuple[int, Parameters]], current: Parameters
    ) -> list[np.ndarray]:
        """The sum of the clipped updates ``new - current``, with the noise of ``mode`` (float64 arrays)."""
        std = self.noise_multiplier * self.clip_norm
        total = [np.zeros(np.shape(p), dtype=np.float64) for p in current]
        for cid, parameters in results:
            update = [np.asarray(new, np.float64) - old for new, old in zip(parameters, current)]
            update, _ = clip_update(update, self.clip_norm)
            if self.mode == "local":  # on a device, this happens before the update is sent
                update = add_noise(update, std, noise_rng(self.seed, server_round, cid + 1))
            total = [t + u for t, u in zip(total, update)]
        if self.mode == "central":
            total = add_noise(total, std, noise_rng(self.seed, server_round, 0))
        return total

    def sampling_rate(self, num_clients: int) -> float:
        """The share of the ``num_clients`` clients that train in each round (for the accountant)."""
        size = min(num_clients, max(int(self.fraction_fit * num_clients), self.min_fit_clients))
        return size / num_clients

    def epsilon(self, num_clients: int, num_rounds: int, delta: float) -> float:
        """The privacy spent by ``num_rounds`` rounds over ``num_clients`` clients.

        Central mode: the model's user-level epsilon (:func:`dp_fedavg_epsilon`). Local mode:
        each client's (:func:`local_dp_epsilon`), for a client sampled in every round (the worst case).
        """
        if self.mode == "central":
            return dp_fedavg_epsilon(self.noise_multiplier, self.sampling_rate(num_clients), num_rounds, delta)
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


def _dp_fedavg_event(noise_multiplier: float, sampling_rate: float, num_rounds: int) -> dp_accounting.DpEvent:
    round_event = dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    return dp_accounting.SelfComposedDpEvent(round_event, int(num_rounds))


def _rdp_epsilon(event: dp_accounting.DpEvent, delta: float) -> float:
    accountant = dp_accounting.rdp.RdpAccountant()  # the library's default RDP orders
    with _quiet_fractional_orders():
        accountant.compose(event)
        return float(accountant.get_epsilon(delta))


def dp_fedavg_epsilon(noise_multiplier: float, sampling_rate: float, num_rounds: int, delta: float) -> float:
    """The epsilon of central DP-FedAvg after ``num_rounds`` rounds, at ``delta`` (user-level).

    Each round is a Gaussian mechanism of noise multiplier ``noise_multiplier`` applied to a
    sample of the clients, each taken with probability ``sampling_rate``; ``dp_accounting``'s
    RDP accountant composes the rounds (Mironov, 2017; Mironov, Talwar and Zhang, 2019).
    McMahan et al. (2018) sample clients that way (Poisson sampling); ``FedAvg`` samples a
    fixed number instead, and treating that as Poisson sampling at the same rate is the usual
    approximation (an exact analysis of fixed-size sampling exists: ``dp_accounting``'s
    ``SampledWithoutReplacementDpEvent``, under replace-one neighbouring).
    ``noise_multiplier = 0`` gives infinity: no noise, no privacy.
    """
    _check_noise_multiplier(noise_multiplier)
    _check_sampling_rate(sampling_rate)
    _check_num_rounds(num_rounds)
    _check_delta(delta)
    if noise_multiplier == 0:
        return math.inf
    return _rdp_epsilon(_dp_fedavg_event(noise_multiplier, sampling_rate, num_rounds), delta)


def noise_multiplier_for_epsilon(target_epsilon: float, sampling_rate: float, num_rounds: int, delta: float) -> float:
    """The smallest noise multiplier for which :func:`dp_fedavg_epsilon` is at most ``target_epsilon``.

    Found by ``dp_accounting.calibrate_dp_mechanism`` (a bracketed root search over fresh
    RDP accountants), to within 1e-4.
    """
    _check_positive("target_epsilon", target_epsilon)
    _check_sampling_rate(sampling_rate)
    _check_num_rounds(num_rounds)
    _check_delta(delta)
    with _quiet_fractional_orders():
        noise_multiplier = dp_accounting.calibrate_dp_mechanism(
            dp_accounting.rdp.RdpAccountant,
            lambda z: _dp_fedavg_event(z, sampling_rate, num_rounds),
            target_epsilon,
            delta,
            bracket_interval=dp_accounting.LowerEndpointAndGuess(0.0, 1.0),
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
    return _rdp_epsilon(_dp_fedavg_event(noise_multiplier / 2, 1.0, num_rounds), delta)


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
    norms = []
    for cid in cids:
        new, _, _ = client_fn(cid).fit(parameters, config)
        norms.append(global_norm([np.asarray(n, np.float64) - np.asarray(p, np.float64) for n, p in zip(new, parameters)]))
    return np.asarray(norms, dtype=np.float64)
