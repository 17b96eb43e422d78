"""Exercise checks: differential privacy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, localized


def _dp_clipped(update: list[np.ndarray], clip_norm: float) -> list[np.ndarray]:
    """Reference: ``update`` scaled down to global L2 norm at most ``clip_norm`` (see ``privacy.clip_update``)."""
    from course_utils.privacy import clip_update

    return clip_update(update, clip_norm)[0]


def _dp_global_norm(update: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(np.square(a)) for a in update)))


def _dp_clip_and_norm(update: list[np.ndarray], clip_norm: float) -> tuple[list[np.ndarray], float]:
    """What ``privacy.clip_update`` returns, (clipped update, original norm): a known wrong answer to the exercise."""
    from course_utils.privacy import clip_update

    return clip_update(update, clip_norm)


def _dp_random_update_and_clip_norm(rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """An update of 2 or 3 float64 arrays (a weight matrix, a bias, ...) and a bound from 0.3 to 3 times its norm."""
    shapes = [(int(rng.integers(2, 5)), int(rng.integers(2, 6))), (int(rng.integers(2, 5)),)]
    shapes += [(int(rng.integers(2, 4)),)] * int(rng.integers(0, 2))
    update = [rng.normal(scale=float(rng.uniform(0.01, 2.0)), size=shape) for shape in shapes]
    return update, float(_dp_global_norm(update) * rng.choice([0.3, 0.6, 0.9, 1.5, 3.0]))


def check_clip_update(fn: Callable[[list[np.ndarray], float], list[np.ndarray]]) -> Verdict:
    """``fn(update, clip_norm)``: the update (a list of arrays) scaled down to global L2 norm at most ``clip_norm``."""
    return check_function(
        fn,
        _dp_clipped,
        _dp_random_update_and_clip_norm,
        trials=20,
        hints=[
            (lambda update, c: [a * min(1.0, c / np.linalg.norm(a)) for a in update],
             localized("you clipped each array to clip_norm on its own. The bound is on the norm of the whole update, "
                       "all arrays taken together: sqrt of the sum of the squares of every entry of every array. "
                       "Then scale every array by the same factor.",
                       "你把每个数组各自裁剪到了 clip_norm。裁剪界约束的是整个更新的范数，所有数组合在一起算："
                       "每个数组的每个元素的平方之和，再开平方。然后把每个数组乘以同一个因子。")),
            (lambda update, c: [a * c / _dp_global_norm(update) for a in update],
             localized("you scaled every update to norm exactly clip_norm, also the small ones. An update already "
                       "within the bound must stay as it is: scale by min(1, clip_norm / norm).",
                       "你把每个更新都缩放到范数恰好为 clip_norm，小的更新也不例外。"
                       "已经在裁剪界之内的更新必须保持原样：应乘以 min(1, clip_norm / norm)。")),
            (lambda update, c: [a * max(1.0, c / _dp_global_norm(update)) for a in update],
             localized("you took max(1, clip_norm / norm): that enlarges small updates and leaves large "
                       "ones unclipped. Use min.",
                       "你用了 max(1, clip_norm / norm)：这会放大小的更新，而大的更新根本没有被裁剪。请用 min。")),
            (lambda update, c: [a / _dp_global_norm(update) for a in update],
             localized("you divided by the norm, which gives every update norm 1; "
                       "multiply by min(1, clip_norm / norm) instead.",
                       "你除以了范数，这会让每个更新的范数都变成 1；应改为乘以 min(1, clip_norm / norm)。")),
            (lambda update, c: _dp_clip_and_norm(update, c),
             localized("return the clipped arrays only (a list of arrays), not the norm as well.",
                       "只返回裁剪后的数组（一个数组列表），不要连范数一起返回。")),
        ],
    )


def _dp_laplace_scale(sensitivity: float, epsilon: float) -> float:
    """Reference: the Laplace scale ``b = sensitivity / epsilon`` that makes a query epsilon-DP."""
    return sensitivity / epsilon


def _dp_random_sensitivity_and_epsilon(rng: np.random.Generator) -> tuple[float, float]:
    return float(rng.choice([1.0, 2.0, 10.0, 30.0, 100.0]) * rng.uniform(0.5, 2.0)), float(rng.uniform(0.05, 5.0))


def check_laplace_scale(fn: Callable[[float, float], float]) -> Verdict:
    """``fn(sensitivity, epsilon)``: the scale of the Laplace noise that makes a query epsilon-DP."""
    return check_function(
        fn,
        _dp_laplace_scale,
        _dp_random_sensitivity_and_epsilon,
        hints=[
            (lambda s, e: 1.0 / e,
             localized("1 / epsilon is the scale for a count, whose sensitivity is 1; a sum can move by up to its "
                       "sensitivity when one person joins or leaves, so the noise must grow with it: "
                       "sensitivity / epsilon.",
                       "1 / epsilon 是计数的尺度，计数的敏感度为 1；一个人加入或离开时，"
                       "一个求和最多会变化其敏感度那么多，所以噪声必须随之增大：sensitivity / epsilon。")),
            (lambda s, e: e / s,
             localized("you divided the wrong way round: more privacy (smaller epsilon) needs MORE noise.",
                       "你除反了：更强的隐私（更小的 epsilon）需要更多的噪声。")),
            (lambda s, e: s * e,
             localized("more privacy (smaller epsilon) needs MORE noise: divide by epsilon.",
                       "更强的隐私（更小的 epsilon）需要更多的噪声：应除以 epsilon。")),
            (lambda s, e: np.sqrt(2) * s / e,
             localized("that is the noise's standard deviation, sqrt(2) times the scale; "
                       "the question asks for the scale b.",
                       "这是噪声的标准差，即尺度的 sqrt(2) 倍；题目问的是尺度 b。")),
        ],
    )


DpSetting = dict[str, float]  # {"noise_multiplier": z, "sampling_rate": q, "num_rounds": T}


def check_smaller_epsilon(answer: Any, setting_a: DpSetting, setting_b: DpSetting, delta: float = 1e-5) -> Verdict:
    """``answer``: ``"A"`` or ``"B"``, the DP-FedAvg setting whose accountant gives the smaller epsilon at ``delta``.

    Each setting is ``{"noise_multiplier", "sampling_rate", "num_rounds"}``; epsilons come from
    ``privacy.dp_fedavg_epsilon``.
    """
    from course_utils.privacy import dp_fedavg_epsilon

    def epsilon(setting: DpSetting) -> float:
        return dp_fedavg_epsilon(setting["noise_multiplier"], setting["sampling_rate"], int(setting["num_rounds"]),
                                 delta)

    eps_a, eps_b = epsilon(setting_a), epsilon(setting_b)
    expected = "A" if eps_a < eps_b else "B"

    def describe(name: str, setting: DpSetting, eps: float) -> str:
        return localized(f"{name}: z = {setting['noise_multiplier']}, q = {setting['sampling_rate']}, "
                         f"{int(setting['num_rounds'])} rounds -> epsilon = {eps:.2f}",
                         f"{name}：z = {setting['noise_multiplier']}，q = {setting['sampling_rate']}，"
                         f"{int(setting['num_rounds'])} 轮 -> epsilon = {eps:.2f}")

    explanation = localized(
        f"The accountant says {describe('A', setting_a, eps_a)}; "
        f"{describe('B', setting_b, eps_b)} (delta = {delta:g}). "
        "More noise and fewer rounds both lower epsilon; so does a smaller sampling rate q, because a client left "
        "out of a round is fully hidden in it (amplification by sampling): per round the privacy loss shrinks "
        "roughly in proportion to q, while over T rounds it grows only about like sqrt(T).",
        f"隐私核算器给出：{describe('A', setting_a, eps_a)}；{describe('B', setting_b, eps_b)}（delta = {delta:g}）。"
        "更多的噪声和更少的轮数都会降低 epsilon；更小的采样率 q 也会，因为没有被选入某一轮的客户端在这一轮中完全隐藏"
        "（采样带来的隐私放大）：每轮的隐私损失大致与 q 成正比地缩小，而 T 轮下来它只大约按 sqrt(T) 增长。",
    )
    return _check_choice_answer(answer, ("A", "B"), expected, explanation)


def _check_choice_answer(answer: Any, choices: tuple[str, str], expected: str, explanation: str) -> Verdict:
    """``check_value`` for an answer that is one of two ``choices`` (any case, spaces around it ignored).

    Any other answer gets a first sentence saying which strings are understood.
    """
    if isinstance(answer, str):
        answer = next((choice for choice in choices if choice.lower() == answer.strip().lower()), answer)
    if answer is not None and answer is not Ellipsis and not (isinstance(answer, str) and answer in choices):
        explanation = localized(f"Answer with the string {choices[0]!r} or {choices[1]!r}. ",
                                f"请用字符串 {choices[0]!r} 或 {choices[1]!r} 作答。") + explanation
    return check_value(answer, expected, explanation)


def _dp_adaptive_bound(target_quantile: float, seed: int, num_rounds: int = 60) -> float:
    """The clipping bound adaptive clipping settles at (median of its last 20 rounds) on synthetic norms.

    20 clients per round, each update norm drawn from a log-normal of median 1 (spread 0.3),
    starting at C = 1, noise multiplier 1 (the count's noise included), learning rate 0.5.
    """
    from course_utils.privacy import DPFedAvg

    generator = np.random.default_rng(seed)
    strategy = DPFedAvg(fraction_fit=0.2, clip_norm=1.0, noise_multiplier=1.0, sampling="fixed",
                        target_quantile=target_quantile, clip_norm_lr=0.5, seed=seed)
    strategy.check_population(100)
    current = [np.zeros(2)]
    for server_round in range(1, num_rounds + 1):
        cids, _ = strategy.configure_fit(server_round, 100, generator)
        norms = np.exp(generator.normal(0.0, 0.3, len(cids)))
        strategy.aggregate_fit(server_round, [(cid, [np.array([n, 0.0])], 1, {}) for cid, n in zip(cids, norms)],
                               [], current=current)
    return float(np.median(strategy.clip_norm_history[-20:]))


def check_adaptive_bound_prediction(answer: Any, target_quantile: float = 0.9, seed: int = 0) -> Verdict:
    """``answer``: ``"higher"`` or ``"lower"``: where adaptive clipping's bound settles with
    ``target_quantile``, against 0.5.

    The check runs both (:func:`_dp_adaptive_bound`, synthetic norms) and explains the result.
    """
    if not isinstance(target_quantile, (int, float)) or not 0 < target_quantile < 1 or target_quantile == 0.5:
        raise ValueError(f"target_quantile must be a number in (0, 1) other than 0.5, got {target_quantile!r}")
    median_bound, other_bound = _dp_adaptive_bound(0.5, seed), _dp_adaptive_bound(float(target_quantile), seed)
    expected = "higher" if other_bound > median_bound else "lower"
    explanation = localized(
        f"Run on synthetic update norms (median 1): with target_quantile = 0.5 the bound settles near "
        f"{median_bound:.2f}, with {target_quantile} near {other_bound:.2f}. The rule C <- C * exp(-lr * (b_mean - "
        f"target)) stops moving when the fraction of updates within C equals the target: C follows that quantile of "
        f"the norms. Asking for {target_quantile:.0%} of the updates to fit needs a bound "
        f"{'above' if target_quantile > 0.5 else 'below'} the median: fewer updates are shrunk, but the noise, "
        f"proportional to C, grows with it.",
        f"在合成的更新范数（中位数为 1）上运行：target_quantile = 0.5 时，裁剪界稳定在 {median_bound:.2f} 附近；"
        f"为 {target_quantile} 时，稳定在 {other_bound:.2f} 附近。规则 C <- C * exp(-lr * (b_mean - target)) "
        f"在范数不超过 C 的更新所占比例等于目标时不再变化：C 跟随范数的这个分位数。要让 {target_quantile:.0%} "
        f"的更新落在界内，裁剪界就得{'高于' if target_quantile > 0.5 else '低于'}中位数：被缩小的更新变少了，"
        f"但与 C 成正比的噪声也随之增大。",
    )
    return _check_choice_answer(answer, ("higher", "lower"), expected, explanation)
