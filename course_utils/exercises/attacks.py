"""Exercise checks: attacks on updates (gradient inversion, membership inference, poisoning)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, localized


def _recover_input(weight_grad: np.ndarray, bias_grad: np.ndarray) -> np.ndarray:
    """Reference: the input of a linear layer from one example's gradients, ``sum_i db_i dW_i / sum_i db_i**2``."""
    return bias_grad @ weight_grad / (bias_grad @ bias_grad)


def _random_linear_gradients(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One example's gradients of a linear layer: ``dW = outer(db, x)``, with 3 to 10 outputs and 4 to 64 inputs."""
    outputs, inputs = int(rng.integers(3, 11)), int(rng.integers(4, 65))
    x, bias_grad = rng.uniform(0, 1, size=inputs), rng.normal(size=outputs)
    return np.outer(bias_grad, x), bias_grad


def check_recover_input(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(weight_grad, bias_grad)``: the one example ``x`` (in_features,) behind a linear layer's gradients."""
    return check_function(
        fn,
        _recover_input,
        _random_linear_gradients,
        hints=[
            (lambda w, b: w[0],
             localized("row 0 of the weight gradient is x times the bias gradient of output 0: divide by it.",
                       "权重梯度的第 0 行是 x 乘以输出 0 的偏置梯度：要除以它。")),
            (lambda w, b: w.sum(axis=0),
             localized("summing the rows gives x times the sum of the bias gradients: divide by that "
                       "sum, or better, weight each row by its bias gradient and divide by the sum of their squares.",
                       "把各行相加得到的是 x 乘以偏置梯度之和：要除以这个和；更好的做法是用每一行的偏置梯度给该行加权，"
                       "再除以偏置梯度的平方和。")),
            (lambda w, b: w.mean(axis=0) / b.mean(),
             localized("that works only while the bias gradients do not add up to about "
                       "zero (they do for softmax outputs); weight each row by its bias gradient instead.",
                       "只有当偏置梯度之和不接近 0 时这才行得通（softmax 输出的偏置梯度之和恰好约为 0）；"
                       "应改为用每一行的偏置梯度给该行加权。")),
        ],
    )


def _threshold_guess(losses: np.ndarray, threshold: float) -> np.ndarray:
    """Reference: Yeom et al.'s guess, "a member" where the loss is below the threshold."""
    return np.asarray(losses) < threshold


def _random_losses(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    losses = rng.exponential(1.0, size=int(rng.integers(3, 20)))
    return losses, float(rng.choice(losses)) if rng.random() < 0.5 else float(rng.uniform(0, 2))


def check_membership_guess(fn: Callable[[np.ndarray, float], np.ndarray]) -> Verdict:
    """``fn(losses, threshold)``: a boolean array, True ("trained on it") where the loss is below ``threshold``."""
    return check_function(
        fn,
        _threshold_guess,
        _random_losses,
        hints=[
            (lambda losses, t: np.asarray(losses) > t,
             localized("a model fits its training examples better: members have the LOW losses.",
                       "模型对自己的训练样本拟合得更好：成员是损失低的那些样本，而不是损失高的。")),
            (lambda losses, t: np.asarray(losses) <= t,
             localized("an example whose loss equals the threshold is not below it: use < .",
                       "损失恰好等于阈值的样本并不低于阈值：请用 < 。")),
        ],
    )


def check_clipping_prediction(answer: Any) -> Verdict:
    """``answer``: True if clipping the update to a tiny norm stops the analytic recovery, False if not."""
    return check_value(answer, False, localized(
        "Clipping multiplies the whole update by one number, and the recovery divides the weight gradient by the "
        "bias gradient: the factor cancels. Clipping bounds how far one client moves the model; only noise (or "
        "never seeing one client's update) hides its data.",
        "裁剪是把整个更新乘以同一个数，而恢复时是用权重梯度除以偏置梯度：这个因子被约掉了。裁剪限制的是单个客户端"
        "能把模型推多远；只有噪声（或者根本看不到单个客户端的更新）才能隐藏它的数据。"))
