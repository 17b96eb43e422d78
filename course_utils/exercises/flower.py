"""Exercise checks: flower's names and records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, difference, localized

# Flower is optional: these checks import flwr inside the function, never at module level.

# The course's FedAvg settings and the name each has in flwr.serverapp.strategy.FedAvg (Flower 1.42).
FLOWER_FEDAVG_NAMES = {
    "fraction_fit": "fraction_train",
    "fraction_evaluate": "fraction_evaluate",
    "min_fit_clients": "min_train_nodes",
    "min_evaluate_clients": "min_evaluate_nodes",
    "min_available_clients": "min_available_nodes",
}


def _flower_missing() -> Verdict | None:
    """A verdict saying how to install Flower, or None if it is installed."""
    import importlib.util

    if importlib.util.find_spec("flwr") is None:
        return Verdict(False, localized("Flower is not installed: pip install -r requirements.txt (it pins flwr), "
                                        "then run this cell again.",
                                        "Flower 尚未安装：运行 pip install -r requirements.txt"
                                        "（其中固定了 flwr 的版本），再运行这个单元格。"))
    return None


def check_flower_fedavg_arguments(answer: Any, course_settings: dict[str, float]) -> Verdict:
    """``answer``: keyword arguments for Flower's ``FedAvg`` that mean what ``course_settings`` (keyword
    arguments of ``course_utils.strategy.FedAvg``) mean in the course."""
    if answer is None or answer is Ellipsis:
        return Verdict(False, localized("Not answered yet: set your answer in the cell above, then run this cell "
                                        "again.",
                                        "还没有作答：在上面的单元格里填好你的答案，再运行这个单元格。"))
    if not isinstance(answer, dict):
        kind = type(answer).__name__
        return Verdict(False, localized(f"✗ Not yet: expected a dict of keyword arguments, got {kind}.",
                                        f"✗ 还不对：应为由关键字参数组成的 dict，得到的是 {kind}。"))
    if missing := _flower_missing():
        return missing
    import inspect

    from flwr.serverapp.strategy import FedAvg

    accepted = [name for name in inspect.signature(FedAvg.__init__).parameters if name != "self"]
    course_names = sorted(set(answer) & set(FLOWER_FEDAVG_NAMES) - set(FLOWER_FEDAVG_NAMES.values()))
    if course_names:
        return Verdict(False, localized(f"✗ Not yet: {course_names[0]!r} is the course's name.\n  Hint: Flower 1.42 "
                                        "calls clients *nodes* and fit *train*: min_fit_clients becomes "
                                        "min_train_nodes.",
                                        f"✗ 还不对：{course_names[0]!r} 是课程里的名字。\n  提示：Flower 1.42 "
                                        "把客户端叫作 *node*（节点），把 fit 叫作 *train*："
                                        "min_fit_clients 变成 min_train_nodes。"))
    unknown = sorted(set(answer) - set(accepted))
    if unknown:
        return Verdict(False, localized(f"✗ Not yet: Flower's FedAvg has no argument {unknown[0]!r}; "
                                        f"it takes {', '.join(accepted)}.",
                                        f"✗ 还不对：Flower 的 FedAvg 没有参数 {unknown[0]!r}；"
                                        f"它接受的参数是 {'、'.join(accepted)}。"))
    expected = {FLOWER_FEDAVG_NAMES[name]: (name, value) for name, value in course_settings.items()}
    for flower_name, (course_name, value) in expected.items():
        if flower_name not in answer:
            return Verdict(False, localized(f"✗ Not yet: {flower_name!r} is missing: it is Flower's name for the "
                                            f"course's {course_name} (here {value}).",
                                            f"✗ 还不对：缺少 {flower_name!r}：它是 Flower 对课程中 {course_name} 的"
                                            f"叫法（这里为 {value}）。"))
        verdict = check_value(answer[flower_name], value,
                              localized(f"{flower_name} means what the course's {course_name} means, "
                                        f"so it takes the same value ({value}).",
                                        f"{flower_name} 与课程中的 {course_name} 含义相同，"
                                        f"所以取值也相同（{value}）。"))
        if not verdict:
            return Verdict(False, localized(f"{flower_name}: {verdict.message}", f"{flower_name}：{verdict.message}"))
    extra = sorted(set(answer) - set(expected))
    if extra:
        return Verdict(False, localized(f"✗ Not yet: {extra[0]!r} has no counterpart in the course's settings; "
                                        "leave it at Flower's default.",
                                        f"✗ 还不对：{extra[0]!r} 在课程的设置中没有对应项；让它保持 Flower 的默认值。"))
    FedAvg(**answer)  # and Flower accepts them
    arguments = ", ".join(f"{k}={v}" for k, v in answer.items())
    return Verdict(True, localized(f"✓ Correct: FedAvg({arguments}).", f"✓ 正确：FedAvg({arguments})。"))


def _random_model_arrays(rng: np.random.Generator) -> list[np.ndarray]:
    """11 to 14 arrays, as a model's parameters: float32 weights of random shapes and one int64 counter.

    More than ten arrays, so that keys "0", "1", ..., "10" sorted as text come out of order.
    """
    count = int(rng.integers(11, 15))
    arrays: list[np.ndarray] = [
        rng.normal(size=tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(1, 4)))).astype(np.float32)
        for _ in range(count)
    ]
    counter = np.asarray(int(rng.integers(0, 1000)), dtype=np.int64)  # like batch norm's num_batches_tracked
    arrays[int(rng.integers(count))] = counter
    return arrays


def _dtype_difference(got: Any, expected: list[np.ndarray]) -> str | None:
    """What differs in dtype between two lists of arrays, or None."""
    for i, (g, e) in enumerate(zip(got, expected)):
        if np.asarray(g).dtype != e.dtype:
            got_dtype = np.asarray(g).dtype
            return localized(f"item {i}: expected dtype {e.dtype}, got {got_dtype}: keep each array's own dtype",
                             f"第 {i} 项：dtype 应为 {e.dtype}，得到的是 {got_dtype}：请保持每个数组自己的 dtype")
    return None


def check_array_record_conversion(
    to_record: Callable[[list[np.ndarray]], Any], from_record: Callable[[Any], list[np.ndarray]]
) -> Verdict:
    """``to_record(parameters)``: the course's parameters (a list of NumPy arrays) as Flower's ``ArrayRecord``;
    ``from_record(record)``: back to the list, in the same order, with the same shapes and dtypes."""
    if missing := _flower_missing():
        return missing
    from flwr.app import ArrayRecord

    def reference_from(record: Any) -> list[np.ndarray]:
        return record.to_numpy_ndarrays()

    try:
        sample = from_record(ArrayRecord(_random_model_arrays(np.random.default_rng(0))))
    except Exception:  # NotImplementedError and other errors are reported by check_function below
        sample = None
    if isinstance(sample, (list, tuple)) and any(not isinstance(a, np.ndarray) for a in sample):
        kind = type(next(a for a in sample if not isinstance(a, np.ndarray))).__name__
        return Verdict(False, localized(f"✗ from_record must return NumPy arrays, got {kind} objects.\n  Hint: an "
                                        "ArrayRecord holds flwr Array objects; call .numpy() on each, or use "
                                        "record.to_numpy_ndarrays().",
                                        f"✗ from_record 必须返回 NumPy 数组，得到的是 {kind} 对象。\n"
                                        "  提示：ArrayRecord 里存放的是 flwr 的 Array 对象；"
                                        "对每个对象调用 .numpy()，或者使用 record.to_numpy_ndarrays()。"))

    verdict = check_function(
        from_record,
        reference_from,
        lambda rng: (ArrayRecord(_random_model_arrays(rng)),),
        hints=[
            (lambda record: [record[key].numpy() for key in sorted(record.keys())],
             localized("you sorted the keys as text, where '10' comes before '2'. Keep the record's own order, "
                       "which is the model's: record.to_numpy_ndarrays().",
                       "你把键当作文本排序了，这样 '10' 会排在 '2' 前面。应保持记录自身的顺序，也就是模型的顺序："
                       "record.to_numpy_ndarrays()。")),
            (lambda record: [record[key].numpy() for key in sorted(record.keys(), reverse=True)],
             localized("the arrays must come back in the record's own order: record.to_numpy_ndarrays().",
                       "数组必须按记录自身的顺序返回：record.to_numpy_ndarrays()。")),
        ],
    )
    if not verdict:
        if verdict.message.startswith(localized("Not answered", "还没有作答")):
            return verdict
        return Verdict(False, localized("from_record: ", "from_record：") + verdict.message)
    rng = np.random.default_rng(1)
    for _ in range(5):
        parameters = _random_model_arrays(rng)
        record = ArrayRecord(parameters)
        problem = _dtype_difference(from_record(record), parameters)
        if problem:
            return Verdict(False, localized(f"✗ from_record: {problem}.", f"✗ from_record：{problem}。"))
        try:
            got = to_record([a.copy() for a in parameters])
        except NotImplementedError:
            return Verdict(False, localized("Not answered yet: to_record still raises NotImplementedError.",
                                            "还没有作答：to_record 仍然抛出 NotImplementedError。"))
        except Exception as error:
            return Verdict(False, localized(f"✗ to_record raised {type(error).__name__}: {error}",
                                            f"✗ to_record 抛出了 {type(error).__name__}：{error}"))
        if not isinstance(got, ArrayRecord):
            return Verdict(False, localized(f"✗ to_record must return an ArrayRecord, got {type(got).__name__}.\n"
                                            "  Hint: ArrayRecord(parameters) builds one from a list of NumPy arrays.",
                                            f"✗ to_record 必须返回一个 ArrayRecord，得到的是 {type(got).__name__}。\n"
                                            "  提示：ArrayRecord(parameters) 可以由 NumPy 数组的列表"
                                            "构建一个 ArrayRecord。"))
        back = got.to_numpy_ndarrays()
        problem = difference(back, parameters, atol=0) or _dtype_difference(back, parameters)
        if problem:
            return Verdict(False, localized(f"✗ to_record: reading your ArrayRecord back gives different arrays: "
                                            f"{problem}.",
                                            f"✗ to_record：把你的 ArrayRecord 读回来，得到的数组不同：{problem}。"))
    return Verdict(True, localized("✓ Correct: parameters -> ArrayRecord -> parameters keeps every array, "
                                   "its order and its dtype.",
                                   "✓ 正确：parameters -> ArrayRecord -> parameters 保留了每个数组、它们的顺序和"
                                   "各自的 dtype。"))


# The exercise's setting: the app's FedAvg samples half of 10 SuperNodes; the wrapper clips to 1.0, adds noise of
# multiplier 1.2, and Flower's accountant reports epsilon at delta 1e-5.
DP_EXERCISE = {"num_nodes": 10, "fraction_train": 0.5, "noise_multiplier": 1.2, "clipping_norm": 1.0, "delta": 1e-5}


def _dp_wrapper_problem(wrapped: Any, strategy: Any, setting: dict[str, float]) -> str | None:
    """What is wrong with ``wrapped`` as the exercise's DP wrapper of ``strategy``, or None."""
    from flwr.serverapp import strategy as flower_strategies

    if isinstance(wrapped, flower_strategies.DifferentialPrivacyClientSideFixedClipping):
        return localized("the client-side wrapper expects every ClientApp to clip its own update (fixedclipping_mod); "
                         "the app's ClientApp has no such mod, so nothing would be clipped. Let the server clip: "
                         "DifferentialPrivacyServerSideFixedClipping.",
                         "客户端侧的包装器要求每个 ClientApp 自己裁剪自己的更新（fixedclipping_mod）；"
                         "而这个应用的 ClientApp 没有这样的 mod，所以什么都不会被裁剪。应让服务器来裁剪："
                         "DifferentialPrivacyServerSideFixedClipping。")
    if isinstance(wrapped, (flower_strategies.DifferentialPrivacyServerSideAdaptiveClipping,
                            flower_strategies.DifferentialPrivacyClientSideAdaptiveClipping)):
        return localized("the exercise asks for a fixed clipping norm of 1.0, not adaptive clipping.",
                         "练习要求的是固定的裁剪范数 1.0，而不是自适应裁剪。")
    if not isinstance(wrapped, flower_strategies.DifferentialPrivacyServerSideFixedClipping):
        return localized(f"expected a DifferentialPrivacyServerSideFixedClipping, got {type(wrapped).__name__}. Hint: "
                         "from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping.",
                         f"应为 DifferentialPrivacyServerSideFixedClipping，得到的是 {type(wrapped).__name__}。提示："
                         "from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping。")
    if wrapped.strategy is not strategy:
        return localized("wrap the strategy you were given (the app's FedAvg), not a new one: its settings would be "
                         "lost.",
                         "请包装传给你的那个策略（应用的 FedAvg），而不是新建一个：否则它的设置会丢失。")
    if (wrapped.noise_multiplier, wrapped.clipping_norm) == (setting["clipping_norm"], setting["noise_multiplier"]):
        return localized("noise_multiplier and clipping_norm are swapped: the noise multiplier is 1.2, the clipping "
                         "norm 1.0.",
                         "noise_multiplier 和 clipping_norm 弄反了：噪声乘数是 1.2，裁剪范数是 1.0。")
    for name in ("noise_multiplier", "clipping_norm"):
        if getattr(wrapped, name) != setting[name]:
            return localized(f"{name} should be {setting[name]}, got {getattr(wrapped, name)}.",
                             f"{name} 应为 {setting[name]}，得到的是 {getattr(wrapped, name)}。")
    sampled = int(setting["fraction_train"] * setting["num_nodes"])
    if wrapped.num_sampled_clients != sampled:
        return localized(f"num_sampled_clients is the number of clients that train in a round, fraction_train x "
                         f"nodes = {sampled}, not {wrapped.num_sampled_clients}: the noise's std is noise_multiplier x "
                         "clipping_norm / num_sampled_clients, and the accountant checks every round against it.",
                         f"num_sampled_clients 是一轮中参与训练的客户端个数，即 fraction_train x 节点数 = {sampled}，"
                         f"而不是 {wrapped.num_sampled_clients}：噪声的标准差是 noise_multiplier x clipping_norm / "
                         "num_sampled_clients，核算器每一轮都会据此核对。")
    if wrapped.accountant is None:
        return localized("no accountant: privacy_spent() would return None. "
                         "Pass accountant=RdpAccountant(PrivacyConfig(...)) (both from flwr.serverapp).",
                         "没有核算器：privacy_spent() 会返回 None。请传入 "
                         "accountant=RdpAccountant(PrivacyConfig(...))（两者都来自 flwr.serverapp）。")
    config = wrapped.accountant.config
    if config.population_size != setting["num_nodes"]:
        return localized(f"the accountant's population_size is the number of SuperNodes clients are drawn from, "
                         f"{setting['num_nodes']}, not {config.population_size}.",
                         f"核算器的 population_size 是从中抽取客户端的 SuperNode 总数，即 {setting['num_nodes']}，"
                         f"而不是 {config.population_size}。")
    if config.target_delta != setting["delta"]:
        return localized(f"the accountant's target_delta should be {setting['delta']}, got {config.target_delta}.",
                         f"核算器的 target_delta 应为 {setting['delta']}，得到的是 {config.target_delta}。")
    return None


def check_flower_dp_wrapper(wrap: Callable[[Any], Any]) -> Verdict:
    """``wrap(strategy)``: Flower's ``FedAvg`` ``strategy`` (``fraction_train=0.5`` of 10 SuperNodes) wrapped for
    central DP as ``DP_EXERCISE`` says: the server clips, Flower's RDP accountant reports epsilon."""
    if missing := _flower_missing():
        return missing
    from flwr.serverapp.strategy import FedAvg

    setting = DP_EXERCISE
    strategy = FedAvg(fraction_train=setting["fraction_train"], min_train_nodes=2,
                      min_available_nodes=setting["num_nodes"])  # fmt: skip
    try:
        wrapped = wrap(strategy)
    except NotImplementedError:
        return Verdict(False, localized("Not answered yet: replace `raise NotImplementedError` with your code, then "
                                        "run this cell again.",
                                        "还没有作答：把 `raise NotImplementedError` 换成你的代码，再运行这个单元格。"))
    except Exception as error:  # Flower refuses some combinations itself, with a message worth showing
        return Verdict(False, localized(f"✗ Not yet: your function raised {type(error).__name__}: {error}",
                                        f"✗ 还不对：你的函数抛出了 {type(error).__name__}：{error}"))
    problem = _dp_wrapper_problem(wrapped, strategy, setting)
    if problem:
        return Verdict(False, localized(f"✗ Not yet: {problem}", f"✗ 还不对：{problem}"))
    return Verdict(True, localized("✓ Correct: the server clips every update to 1.0, adds noise of std 1.2 x 1.0 / 5 "
                                   "to the average, and the accountant composes one Gaussian release per round.",
                                   "✓ 正确：服务器把每份更新裁剪到范数 1.0，在平均值上加上标准差为 1.2 x 1.0 / 5 的"
                                   "噪声，核算器则每轮组合一次高斯发布。"))


def check_epsilon_growth_prediction(answer: Any, epsilon_short: float, epsilon_long: float, factor: int) -> Verdict:
    """``answer``: the predicted ratio ``epsilon_long / epsilon_short``, where the long run has ``factor`` times the
    rounds; right within 15% of the measured ratio."""
    if answer is None or answer is Ellipsis:
        return Verdict(False, localized("Not answered yet: set your prediction in the cell above, then run this cell "
                                        "again.",
                                        "还没有作答：在上面的单元格里填好你的预测，再运行这个单元格。"))
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)) or answer <= 0:
        return Verdict(False, localized(f"✗ The prediction must be a positive number (a ratio of epsilons), "
                                        f"got {answer!r}.",
                                        f"✗ 预测必须是一个正数（两个 epsilon 之比），得到的是 {answer!r}。"))
    measured = epsilon_long / epsilon_short
    explanation = localized(
        f"Measured: epsilon {epsilon_short:.3g} -> {epsilon_long:.3g}, {measured:.2f} times for {factor} "
        f"times the rounds. Under RDP, T Gaussian releases of multiplier z cost T*alpha/(2 z^2) at order "
        "alpha, plus log(1/delta)/(alpha - 1) to convert: with little noise the first term dominates and "
        "epsilon grows almost in proportion to T; with much noise the best alpha shrinks as T grows and "
        "epsilon grows more like sqrt(T).",
        f"测得：epsilon 从 {epsilon_short:.3g} 变为 {epsilon_long:.3g}，轮数变为 {factor} 倍时，epsilon 变为 "
        f"{measured:.2f} 倍。在 RDP 下，噪声乘数为 z 的 T 次高斯发布在阶 alpha 上的代价是 T*alpha/(2 z^2)，"
        "换算时还要加上 log(1/delta)/(alpha - 1)：噪声小时第一项占主导，epsilon 几乎与 T 成正比增长；"
        "噪声大时，最优的 alpha 随 T 增大而变小，epsilon 的增长更接近 sqrt(T)。")
    if abs(float(answer) - measured) <= 0.15 * measured:
        return Verdict(True, localized(f"✓ Right: you predicted {float(answer):.2f}. {explanation}",
                                       f"✓ 预测正确：你预测的是 {float(answer):.2f}。{explanation}"))
    return Verdict(False, localized(f"✗ Not quite: you predicted {float(answer):.2f}. {explanation}",
                                    f"✗ 还不太对：你预测的是 {float(answer):.2f}。{explanation}"))
