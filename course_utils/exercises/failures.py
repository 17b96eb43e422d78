"""Exercise checks: failures and stragglers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, localized


def _round_success_probability(num_sampled: int, failure_rate: float, min_fit_successes: int) -> float:
    """Reference: the chance that at least ``min_fit_successes`` of ``num_sampled`` clients succeed,
    each failing independently with probability ``failure_rate`` (a binomial tail)."""
    from math import comb

    success = 1.0 - failure_rate
    return float(sum(comb(num_sampled, k) * success**k * failure_rate ** (num_sampled - k)
                     for k in range(min_fit_successes, num_sampled + 1)))


def _random_unreliable_round(rng: np.random.Generator) -> tuple[int, float, int]:
    """A number of sampled clients (1 to 30), a failure rate and a minimum of successes."""
    num_sampled = int(rng.integers(1, 31))
    failure_rate = float(rng.choice([0.05, 0.1, 0.2, 0.3, 0.5, 0.7]))
    return num_sampled, failure_rate, int(rng.integers(1, num_sampled + 1))


def _binomial_sum(n: int, p_success: float, ks: range) -> float:
    """The chance that the number of successes out of ``n`` tries (each ``p_success``) is in ``ks``."""
    from math import comb

    return float(sum(comb(n, k) * p_success**k * (1 - p_success) ** (n - k) for k in ks))


def check_round_success_probability(fn: Callable[[int, float, int], float]) -> Verdict:
    """``fn(num_sampled, failure_rate, min_fit_successes)``: the chance that a round has enough successes."""
    return check_function(
        fn,
        _round_success_probability,
        _random_unreliable_round,
        trials=20,
        hints=[
            (lambda n, p, m: _binomial_sum(n, 1 - p, range(m, m + 1)),
             localized("that is the chance that exactly min_fit_successes succeed; add up the chances of k successes "
                       "for every k from min_fit_successes to num_sampled.",
                       "这是恰好 min_fit_successes 个客户端成功的概率；应对从 min_fit_successes 到 num_sampled "
                       "的每个 k，把恰好 k 个成功的概率加起来。")),
            (lambda n, p, m: _binomial_sum(n, 1 - p, range(m + 1, n + 1)),
             localized("exactly min_fit_successes successes are enough: start the sum at k = min_fit_successes.",
                       "恰好 min_fit_successes 个成功就已足够：求和应从 k = min_fit_successes 开始。")),
            (lambda n, p, m: _binomial_sum(n, p, range(m, n + 1)),
             localized("each client SUCCEEDS with probability 1 - failure_rate: k successes have probability "
                       "comb(n, k) * (1 - failure_rate)**k * failure_rate**(n - k).",
                       "每个客户端成功（而不是失败）的概率是 1 - failure_rate：恰好 k 个成功的概率是 "
                       "comb(n, k) * (1 - failure_rate)**k * failure_rate**(n - k)。")),
            (lambda n, p, m: _binomial_sum(n, 1 - p, range(0, m)),
             localized("that is the chance that the round FAILS (fewer than min_fit_successes successes); the question "
                       "asks for the chance that it goes on: 1 minus that.",
                       "这是这一轮失败（成功数少于 min_fit_successes）的概率；题目问的是这一轮能继续进行的概率："
                       "1 减去它。")),
            (lambda n, p, m: float(n * (1 - p) >= m),
             localized("that compares the expected number of successes with the minimum; the question asks for a "
                       "probability: the sum over k >= min_fit_successes of the chance of exactly k successes.",
                       "这是在比较成功数的期望值与下限；题目问的是一个概率：对所有 k >= min_fit_successes，"
                       "把恰好 k 个成功的概率加起来。")),
        ],
    )


DEADLINE_POLICIES = ("wait", "drop", "partial")


def _round_times(speeds: np.ndarray, local_steps: int, batch_size: int, deadline: float) -> tuple[float, float, float]:
    """Reference: simulated seconds of one ``DeadlineFedAvg`` round of ``faults.TimedClient`` clients,
    under the policies ``"wait"``, ``"drop"`` and ``"partial"``, in that order.

    Client ``i`` needs ``steps * batch_size / speeds[i]`` seconds. ``"wait"``: the slowest client's time.
    ``"drop"``: ``deadline`` if any client is late, else the slowest time. ``"partial"``: each client does
    the whole steps that fit before the deadline (at least one), and the slowest of those times.
    """
    return _round_times_with(speeds, local_steps, batch_size, deadline)


def _round_times_with(speeds: np.ndarray, local_steps: int, batch_size: int, deadline: float,
                      **mistake: Any) -> tuple[float, float, float]:
    """``_round_times``, or (for the hints) with one of ``_round_time_with``'s typical mistakes."""
    return tuple(_round_time_with(speeds, local_steps, batch_size, deadline, policy, **mistake)
                 for policy in DEADLINE_POLICIES)


def _round_time_with(
    speeds: np.ndarray, local_steps: int, batch_size: int, deadline: float, policy: str, *,
    reduce: Callable[[np.ndarray], float] = np.max, per_batch: bool = True, drop: str = "deadline",
    partial: str = "whole",
) -> float:
    """One round's simulated seconds under ``policy`` (see ``_round_times``).

    The keyword arguments make the typical mistakes, for the hints: ``reduce=np.mean``,
    ``per_batch=False`` (time = steps / speed), ``drop`` in "on_time" / "wait", ``partial`` in
    "wait" / "fractional" / "zero" (no minimum of one step).
    """
    speeds = np.asarray(speeds, dtype=np.float64)
    steps = np.full(speeds.shape, float(local_steps))
    if policy == "partial" and partial in ("whole", "zero"):
        steps = np.minimum(steps, (deadline * speeds) // batch_size)
        steps = np.maximum(1.0, steps) if partial == "whole" else steps
    times = steps * (batch_size if per_batch else 1) / speeds
    if policy == "partial" and partial == "fractional":
        times = np.minimum(times, deadline)
    if policy == "drop" and np.any(times > deadline):
        if drop == "deadline":
            return float(deadline)
        if drop == "on_time":
            times = times[times <= deadline]
            return float(reduce(times)) if times.size else 0.0
    return float(reduce(times))


def _random_round(rng: np.random.Generator) -> tuple[np.ndarray, int, int, float]:
    """2 to 6 log-normal client speeds (examples per second), local steps, a batch size and a deadline."""
    speeds = np.round(100.0 * np.exp(rng.standard_normal(int(rng.integers(2, 7)))), 1).clip(min=1.0)
    local_steps, batch_size = int(rng.integers(1, 9)), int(rng.choice([8, 16, 32]))
    deadline = float(rng.choice([0.5, 1.0, 2.0, 4.0]))
    return speeds, local_steps, batch_size, deadline


def check_round_times(fn: Callable[[np.ndarray, int, int, float], tuple[float, float, float]]) -> Verdict:
    """``fn(speeds, local_steps, batch_size, deadline)``: simulated seconds of one round of DeadlineFedAvg
    under the policies ``("wait", "drop", "partial")``, as a tuple in that order."""
    return check_function(
        fn,
        _round_times,
        _random_round,
        trials=20,
        hints=[
            (lambda *args: _round_times_with(*args, reduce=np.mean),
             localized("a round lasts until its last client reports: take the max of the clients' times, not the mean.",
                       "一轮要持续到最后一个客户端返回结果为止：应取各客户端用时的最大值，而不是均值。")),
            (lambda *args: _round_times_with(*args, per_batch=False),
             localized("speed is in examples per second and one step processes batch_size examples: "
                       "a client needs local_steps * batch_size / speed seconds.",
                       "速度的单位是每秒处理的样本数，而一步处理 batch_size 个样本：一个客户端需要 "
                       "local_steps * batch_size / speed 秒。")),
            (lambda *args: _round_times_with(*args, drop="on_time"),
             localized("under 'drop' the server only knows a client is late when the deadline passes: "
                       "if anyone is late, the round lasts exactly `deadline`.",
                       "在 'drop' 下，服务器要等截止时间过去才知道有客户端迟到：只要有人迟到，"
                       "这一轮的时长就恰好是 `deadline`。")),
            (lambda *args: _round_times_with(*args, drop="wait"),
             localized("under 'drop' the server stops waiting at the deadline: if anyone is late, "
                       "the round lasts `deadline`.",
                       "在 'drop' 下，服务器到截止时间就不再等待：只要有人迟到，这一轮的时长就是 `deadline`。")),
            (lambda *args: _round_times_with(*args, partial="wait"),
             localized("under 'partial' each client does only the steps that fit before the deadline: "
                       "min(local_steps, (deadline * speed) // batch_size), but at least 1.",
                       "在 'partial' 下，每个客户端只做截止时间之前做得完的步数："
                       "min(local_steps, (deadline * speed) // batch_size)，但至少 1 步。")),
            (lambda *args: _round_times_with(*args, partial="fractional"),
             localized("under 'partial' clients do whole mini-batch steps: (deadline * speed) // batch_size of them "
                       "(at most local_steps, at least 1), each taking batch_size / speed seconds.",
                       "在 'partial' 下，客户端做的是完整的小批量步：共 (deadline * speed) // batch_size 步"
                       "（最多 local_steps 步，至少 1 步），每步用时 batch_size / speed 秒。")),
            (lambda *args: _round_times_with(*args, partial="zero"),
             localized("a partial client always does at least one step, even if that step alone takes longer than "
                       "the deadline: max(1, ...).",
                       "做部分工作量的客户端总是至少做一步，即使单这一步就超过了截止时间：max(1, ...)。")),
        ],
    )


def _round_continues(num_sampled: int, num_failed: int, min_fit_successes: int, accept_failures: bool) -> bool:
    """Reference: whether ``FedAvg.aggregate_fit`` uses such a round (True) or skips it (False),
    asked of ``FedAvg`` itself."""
    from course_utils.strategy import FedAvg, RoundSkipped

    strategy = FedAvg(min_fit_successes=min_fit_successes, accept_failures=accept_failures)
    results = [(cid, [np.zeros(1)], 1, {}) for cid in range(num_sampled - num_failed)]
    failures = [(cid, RuntimeError("simulated")) for cid in range(num_sampled - num_failed, num_sampled)]
    try:
        strategy.aggregate_fit(1, results, failures, current=[np.zeros(1)])
    except RoundSkipped:
        return False
    return True


def _random_failed_round(rng: np.random.Generator) -> tuple[int, int, int, bool]:
    """A round's sample size, failures (none in about a quarter of rounds), min_fit_successes and accept_failures.

    The minimum often equals the number of successes, where ``>`` and ``>=`` differ.
    """
    num_sampled = int(rng.integers(2, 21))
    num_failed = 0 if rng.random() < 0.25 else int(rng.integers(1, num_sampled + 1))
    succeeded = num_sampled - num_failed
    choice = rng.random()
    if choice < 0.4 and succeeded >= 1:
        min_fit_successes = succeeded
    elif choice < 0.6:
        min_fit_successes = min(num_sampled, succeeded + 1)
    else:
        min_fit_successes = int(rng.integers(1, num_sampled + 1))
    return num_sampled, num_failed, min_fit_successes, bool(rng.random() < 0.6)


def check_round_continues(fn: Callable[[int, int, int, bool], bool]) -> Verdict:
    """``fn(num_sampled, num_failed, min_fit_successes, accept_failures)``: does FedAvg use the round's results?"""
    return check_function(
        fn,
        _round_continues,
        _random_failed_round,
        trials=40,
        hints=[
            (lambda n, f, m, accept: n - f >= m,
             localized("with accept_failures=False a single failure skips the round's update, however many clients "
                       "succeeded (Flower's rule).",
                       "在 accept_failures=False 下，只要有一个客户端失败，就会跳过这一轮的更新，"
                       "无论有多少客户端成功（Flower 的规则）。")),
            (lambda n, f, m, accept: (accept or f == 0) and n - f > m,
             localized("exactly min_fit_successes successes are enough: compare with >=, not >.",
                       "恰好 min_fit_successes 个成功就已足够：应该用 >= 比较，而不是 >。")),
            (lambda n, f, m, accept: (accept or f == 0) and f <= m,
             localized("min_fit_successes is the least number of clients that must SUCCEED (num_sampled - num_failed), "
                       "not the most that may fail.",
                       "min_fit_successes 是必须成功的客户端数（num_sampled - num_failed）的下限，"
                       "而不是允许失败的客户端数的上限。")),
            (lambda n, f, m, accept: accept or f == 0,
             localized("even with accept_failures=True a round needs at least min_fit_successes successes.",
                       "即使 accept_failures=True，一轮也至少需要 min_fit_successes 个成功。")),
        ],
    )


COVERAGE_CHOICES = ("fewer", "about the same", "more")


def check_coverage_prediction(answer: Any) -> Verdict:
    """``answer``: does covering 10,000 clients at 100 per round take "fewer", "about the same" or "more"
    rounds than covering 1,000 clients at 10 per round (every client sampled at least once)?"""
    if isinstance(answer, str) and answer.strip().lower() not in COVERAGE_CHOICES:
        return Verdict(False, localized(f"✗ Not yet: answer with one of {COVERAGE_CHOICES}, got {answer!r}.",
                                        f"✗ 还不对：请用 {COVERAGE_CHOICES} 之一作答，得到的是 {answer!r}。"))
    return check_value(answer.strip().lower() if isinstance(answer, str) else answer, "more", localized(
        "Both sample 1% of the clients per round, so a given client waits about 100 rounds for its turn in both. "
        "But everyone must have had a turn, and the last of 10,000 clients are found later than the last of 1,000: "
        "the coupon collector needs about N/K * (ln N + 0.58) rounds on average, 979 against 749. "
        "Run rounds_until_all_seen on both to see it.",
        "两者每轮都采样 1% 的客户端，所以在两者中，某个给定客户端都要等大约 100 轮才轮到它。"
        "但这里要求每个人都轮到过，而 10,000 个客户端中的最后几个比 1,000 个中的最后几个更晚才被抽到："
        "按赠券收集问题，平均大约需要 N/K * (ln N + 0.58) 轮，979 轮对 749 轮。"
        "对两者分别运行 rounds_until_all_seen 就能看到。"))
