"""The exercise checks speak the notebook's language: every learner-facing text exists in English and Chinese."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import course_utils.exercises as exercises
from course_utils import checks
from course_utils.exercises.core import check_function, check_prediction, check_value, localized, set_language

MODULES = sorted((Path(exercises.__file__).parent).glob("*.py"))
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def chinese():
    set_language("zh")
    yield
    set_language("en")


def test_localized_follows_the_language(chinese):
    assert localized("right", "正确") == "正确"
    set_language("en")
    assert localized("right", "正确") == "right"


VALIDATORS = {name for name in dir(checks) if name.startswith("check_")}  # bad-input errors, for programmers


def _is_programmer_text(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True for docstrings, error messages (``raise ...``), argument descriptions given to the
    course_utils.checks validators, texts already inside ``localized(...)``, and the choices a
    learner types (a ``..._CHOICES`` tuple such as ``("fewer", "about the same", "more")``: they stay English)."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Raise):
            return True
        if isinstance(parent, ast.Expr) and isinstance(parent.value, ast.Constant):
            return True  # a docstring
        if isinstance(parent, ast.Assign) and all(getattr(t, "id", "").endswith("_CHOICES") for t in parent.targets):
            return True  # the answers a learner types, compared as written
        if isinstance(parent, ast.Call):
            name = getattr(parent.func, "id", getattr(parent.func, "attr", ""))
            if name == "localized" or name in VALIDATORS:
                return True
        node = parent
    return False


def _english_only_texts(path: Path) -> list[str]:
    """Sentences (three words or more) in ``path`` that a learner could see and that no localized() holds."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Constant, ast.JoinedStr)) or isinstance(parents.get(node), ast.JoinedStr):
            continue  # not a string, or a part of an f-string (judged as the whole)
        text = node.value if isinstance(node, ast.Constant) else "".join(
            v.value for v in node.values if isinstance(v, ast.Constant))
        if not isinstance(text, str) or " " not in text.strip() or len(re.findall(r"[A-Za-z]{2,}", text)) < 3:
            continue
        if not _is_programmer_text(node, parents):
            found.append(f"{path.name}:{node.lineno}: {text[:70]!r}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_message_of_the_checks_has_its_chinese(path):
    missing = _english_only_texts(path)
    assert not missing, ("learner-facing texts without a Chinese version (write them as localized(english, chinese)):\n"
                         + "\n".join(missing))


def test_check_function_speaks_chinese(chinese):
    def reference(x):
        return x * 2

    def unanswered(x):
        raise NotImplementedError

    def raises(x):
        raise KeyError("k")

    def inputs(rng):
        return (rng.normal(size=3),)

    hints = [(lambda x: x * 3, localized("triple", "三倍"))]
    for learner in (unanswered, raises, lambda x: x * 3, reference):
        message = check_function(learner, reference, inputs, hints=hints).message
        assert CJK.search(message), message
    assert "提示：三倍" in check_function(lambda x: x * 3, reference, inputs, hints=[(lambda x: x * 3, "三倍")]).message


def test_check_value_and_check_prediction_speak_chinese(chinese):
    for answer in (None, 1.0, 2.0, np.array([1.0, 2.0])):
        assert CJK.search(check_value(answer, 2.0, "解释").message)
    for answer in (None, "maybe", "up", "down"):
        assert CJK.search(check_prediction(answer, ("up", "down"), lambda: ("up", "测得：上升。")).message)


ENGLISH_PHRASE = re.compile(r"\b[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}\b")  # three English words in a row


def _reads_chinese(message: str, after: str = "") -> bool:
    """Whether the part of ``message`` after ``after`` (all of it if "") is Chinese with no English phrase left:
    after "提示：" a check_function hint, after "\\n  " a check_value explanation."""
    assert after in message, message
    text = message.split(after, 1)[1] if after else message
    return bool(CJK.search(text)) and not ENGLISH_PHRASE.search(text)


def _assert_hints_and_successes_read_chinese(wrong_answers: dict, right_answers: dict) -> None:
    """Each check_function check (a key of both) fails each of its wrong answers with a Chinese hint, and
    passes its right answer in Chinese."""
    for check, wrongs in wrong_answers.items():
        for wrong in wrongs:
            verdict = check(wrong)
            assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
        verdict = check(right_answers[check])
        assert verdict and _reads_chinese(verdict.message), verdict.message


def test_aggregation_checks_speak_chinese(chinese):
    import math

    from course_utils.aggregate import fedavg, median
    from course_utils.exercises.aggregation import (
        _lower_median,
        _quantized_bytes,
        _top_k_vector,
        check_alie_prediction,
        check_coordinate_median,
        check_quantized_bytes,
        check_rounding_prediction,
        check_top_k_vector,
    )
    from course_utils.exercises.rounds import _unweighted_mean

    wrong_answers = {
        check_coordinate_median: (_unweighted_mean, fedavg, _lower_median),
        check_quantized_bytes: (lambda shapes, bits: sum(math.ceil(np.prod(s) * bits / 8) for s in shapes),
                                lambda shapes, bits: 4 * sum(int(np.prod(s)) for s in shapes)),
        check_top_k_vector: (lambda v, k: v[np.argsort(np.abs(v))[len(v) - k:]],
                             lambda v, k: np.where(np.isin(np.arange(len(v)), np.argsort(np.abs(v))[:k]), v, 0.0)),
    }
    right_answers = {check_coordinate_median: median, check_quantized_bytes: _quantized_bytes,
                     check_top_k_vector: _top_k_vector}
    _assert_hints_and_successes_read_chinese(wrong_answers, right_answers)
    for check, wrong, right, outside in ((check_rounding_prediction, "nearest", "stochastic", "random"),
                                         (check_alie_prediction, "FedAvg", "FedMedian", "Krum")):
        verdict = check(wrong)
        assert not verdict and _reads_chinese(verdict.message, "\n  "), verdict.message
        assert check(right) and _reads_chinese(check(right).message)
        verdict = check(outside)
        assert not verdict and _reads_chinese(verdict.message) and repr(outside) in verdict.message, verdict.message
        assert _reads_chinese(check(None).message)


def test_local_data_checks_speak_chinese(chinese):
    from course_utils.exercises.local_data import (
        _unseen_fraction,
        _update_bytes,
        check_unseen_fraction,
        check_update_bytes,
        check_worst_client,
    )

    for wrong in (lambda counts: (counts == 0).sum(axis=1), lambda counts: (counts > 0).mean(axis=1),
                  lambda counts: (counts == 0).mean(axis=0)):
        verdict = check_unseen_fraction(wrong)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    for wrong in (lambda n, dtype: n, lambda n, dtype: 4 * n, lambda n, dtype: 8 * n * np.dtype(dtype).itemsize,
                  lambda n, dtype: n * np.dtype(dtype).itemsize / 2**20):
        verdict = check_update_bytes(wrong)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    for check, right in ((check_unseen_fraction, _unseen_fraction), (check_update_bytes, _update_bytes)):
        assert check(right) and _reads_chinese(check(right).message)
    accuracies, counts = {0: 0.91, 1: 0.42, 2: 0.88}, np.array([[5, 5, 5], [0, 1, 40], [6, 4, 5]])
    verdict = check_worst_client(0, accuracies, counts)
    assert not verdict and _reads_chinese(verdict.message, "\n  ") and "客户端 1" in verdict.message, verdict.message
    verdict = check_worst_client(1, accuracies, counts)
    assert verdict and _reads_chinese(verdict.message), verdict.message


def test_rounds_checks_speak_chinese(chinese):
    from course_utils.aggregate import fedavg
    from course_utils.exercises.rounds import (
        _apply_differences,
        _unweighted_mean,
        _weighted_sum,
        check_apply_differences,
        check_weighted_average,
    )

    for wrong in (_unweighted_mean, lambda results: [s / len(results) for s in _weighted_sum(results)], _weighted_sum):
        verdict = check_weighted_average(wrong)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    for wrong in (lambda g, results: fedavg(results),
                  lambda g, results: [np.asarray(a) + d for a, d in zip(g, _unweighted_mean(results))],
                  lambda g, results: [np.asarray(a) - d for a, d in zip(g, fedavg(results))]):
        verdict = check_apply_differences(wrong)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    for check, right in ((check_weighted_average, fedavg), (check_apply_differences, _apply_differences)):
        assert check(right) and _reads_chinese(check(right).message)


def test_evaluation_checks_speak_chinese(chinese):
    from course_utils.exercises.evaluation import (
        _client_updates,
        _client_weighted_accuracy,
        check_client_updates,
        check_weighted_client_accuracy,
        check_worst_evaluated_client,
    )

    def accuracies(metrics):
        return np.array([m["accuracy"] for m in metrics.values()])

    def counts(metrics):
        return np.array([m["num_examples"] for m in metrics.values()], dtype=float)

    for wrong in (lambda metrics: float(accuracies(metrics).mean()),
                  lambda metrics: float(accuracies(metrics) @ counts(metrics)),
                  lambda metrics: float(accuracies(metrics) @ counts(metrics) / len(metrics)),
                  lambda metrics: float(np.mean(list(metrics)))):
        verdict = check_weighted_client_accuracy(wrong)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    for wrong in (lambda n, r, f, m: r * int(f * n), lambda n, r, f, m: r * max(int(np.ceil(f * n)), m),
                  lambda n, r, f, m: min(n, max(int(f * n), m))):
        verdict = check_client_updates(wrong)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    for check, right in ((check_weighted_client_accuracy, _client_weighted_accuracy),
                         (check_client_updates, _client_updates)):
        assert check(right) and _reads_chinese(check(right).message)
    metrics = {0: {"num_examples": 30, "accuracy": 0.95}, 1: {"num_examples": 12, "accuracy": 0.4},
               2: {"num_examples": 25, "accuracy": 0.8}}
    label_counts = np.array([[10, 10, 10], [0, 2, 10], [9, 8, 8]])
    wrong_answers = ((0, "服务得最好"), (5, "没有参与评估"), (0.4, "看起来像准确率"), ("one", "客户端的编号"), (2, ""))
    for wrong, says in wrong_answers:
        verdict = check_worst_evaluated_client(wrong, metrics, label_counts)
        assert not verdict and _reads_chinese(verdict.message, "\n  ") and says in verdict.message, verdict.message
    verdict = check_worst_evaluated_client(1, metrics, label_counts)
    assert verdict and _reads_chinese(verdict.message), verdict.message


def test_failures_checks_speak_chinese(chinese):
    from functools import partial

    from course_utils.exercises.failures import (
        _binomial_sum,
        _round_continues,
        _round_success_probability,
        _round_times,
        _round_times_with,
        check_coverage_prediction,
        check_round_continues,
        check_round_success_probability,
        check_round_times,
    )

    wrong_answers = {  # the mistakes the hints name, one each
        check_round_success_probability: (
            lambda n, p, m: _binomial_sum(n, 1 - p, range(m, m + 1)),
            lambda n, p, m: _binomial_sum(n, 1 - p, range(m + 1, n + 1)),
            lambda n, p, m: _binomial_sum(n, p, range(m, n + 1)),
            lambda n, p, m: _binomial_sum(n, 1 - p, range(m)),
            lambda n, p, m: float(n * (1 - p) >= m)),
        check_round_times: tuple(
            partial(_round_times_with, **mistake)
            for mistake in ({"reduce": np.mean}, {"per_batch": False}, {"drop": "on_time"}, {"drop": "wait"},
                            {"partial": "wait"}, {"partial": "fractional"}, {"partial": "zero"})),
        check_round_continues: (
            lambda n, f, m, accept: n - f >= m,
            lambda n, f, m, accept: (accept or f == 0) and n - f > m,
            lambda n, f, m, accept: (accept or f == 0) and f <= m,
            lambda n, f, m, accept: accept or f == 0),
    }
    right_answers = {check_round_success_probability: _round_success_probability, check_round_times: _round_times,
                     check_round_continues: _round_continues}
    _assert_hints_and_successes_read_chinese(wrong_answers, right_answers)
    for wrong in ("fewer", "about the same"):
        verdict = check_coverage_prediction(wrong)
        assert not verdict and _reads_chinese(verdict.message, "\n  "), verdict.message
    assert check_coverage_prediction("more") and _reads_chinese(check_coverage_prediction("more").message)
    verdict = check_coverage_prediction("less")  # the choices the learner types stay English: CJK around them
    assert not verdict and CJK.search(verdict.message) and "'about the same'" in verdict.message, verdict.message
    assert _reads_chinese(check_coverage_prediction(None).message)


def test_heterogeneity_checks_speak_chinese(chinese):
    from course_utils.exercises.heterogeneity import (
        _fedprox_local_optimum,
        _largest_class_share,
        check_fedprox_local_optimum,
        check_largest_class_share,
    )

    def solve(matrix, right):
        return np.linalg.solve(matrix, right)

    wrong_answers = {  # the mistakes the hints name, one each
        check_largest_class_share: (
            lambda counts: counts.max(axis=1) / counts.sum(axis=1),
            lambda counts: counts.max(axis=1).mean(),
            lambda counts: counts.max(axis=1).sum() / counts.sum(),
            lambda counts: (counts.max(axis=0) / counts.sum(axis=0)).mean()),
        check_fedprox_local_optimum: (
            lambda A, c, w, mu: c,
            lambda A, c, w, mu: w,
            lambda A, c, w, mu: (A @ c + mu * w) / (1 + mu),
            lambda A, c, w, mu: solve(A + mu, A @ c + mu * w),
            lambda A, c, w, mu: solve(A + mu * np.eye(len(c)), c + mu * w),
            lambda A, c, w, mu: solve(A + mu * np.eye(len(c)), A @ c - mu * w)),
    }
    right_answers = {check_largest_class_share: _largest_class_share,
                     check_fedprox_local_optimum: _fedprox_local_optimum}
    _assert_hints_and_successes_read_chinese(wrong_answers, right_answers)


def test_attacks_checks_speak_chinese(chinese):
    from course_utils.exercises.attacks import (
        _recover_input,
        _threshold_guess,
        check_clipping_prediction,
        check_membership_guess,
        check_recover_input,
    )

    wrong_answers = {
        check_recover_input: (lambda w, b: w[0], lambda w, b: w.sum(axis=0)),  # w.mean / b.mean is right here
        check_membership_guess: (lambda losses, t: np.asarray(losses) > t, lambda losses, t: np.asarray(losses) <= t),
    }
    right_answers = {check_recover_input: _recover_input, check_membership_guess: _threshold_guess}
    _assert_hints_and_successes_read_chinese(wrong_answers, right_answers)
    verdict = check_clipping_prediction(True)
    assert not verdict and _reads_chinese(verdict.message, "\n  "), verdict.message
    assert check_clipping_prediction(False) and _reads_chinese(check_clipping_prediction(False).message)


def test_analytics_checks_speak_chinese(chinese):
    from course_utils.exercises.analytics import (
        _federated_mean,
        _mask_pair,
        check_dropout_tolerance,
        check_federated_mean,
        check_mask_pair,
    )

    def top(bits):
        return np.uint64(2**bits - 1)

    wrong_answers = {
        check_federated_mean: (lambda pairs: float(np.mean([s / n for s, n in pairs])),
                               lambda pairs: sum(s for s, _ in pairs) / len(pairs),
                               lambda pairs: sum(s for s, _ in pairs)),
        check_mask_pair: (lambda x_u, x_v, r, bits: (x_u + r, x_v - r),
                          lambda x_u, x_v, r, bits: ((x_u + r) & top(bits), (x_v + r) & top(bits)),
                          lambda x_u, x_v, r, bits: ((x_u - r) & top(bits), (x_v + r) & top(bits)),
                          lambda x_u, x_v, r, bits: (x_u, x_v)),
    }
    _assert_hints_and_successes_read_chinese(wrong_answers, {check_federated_mean: _federated_mean,
                                                             check_mask_pair: _mask_pair})
    for wrong, says in (((6, 6), "必须存活的个数"), ((5, 4), "不泄露任何信息"), ((6, 3), "")):
        verdict = check_dropout_tolerance(wrong, num_clients=10, threshold=6)
        assert not verdict and _reads_chinese(verdict.message, "\n  ") and says in verdict.message, verdict.message
    verdict = check_dropout_tolerance((6, 4), num_clients=10, threshold=6)
    assert verdict and _reads_chinese(verdict.message), verdict.message


def test_privacy_checks_speak_chinese(chinese):
    from course_utils.exercises.privacy import (
        _dp_clip_and_norm,
        _dp_clipped,
        _dp_global_norm,
        _dp_laplace_scale,
        check_adaptive_bound_prediction,
        check_clip_update,
        check_laplace_scale,
        check_smaller_epsilon,
    )

    wrong_answers = {
        check_clip_update: (lambda update, c: [a * min(1.0, c / np.linalg.norm(a)) for a in update],
                            lambda update, c: [a * c / _dp_global_norm(update) for a in update],
                            lambda update, c: [a * max(1.0, c / _dp_global_norm(update)) for a in update],
                            lambda update, c: [a / _dp_global_norm(update) for a in update],
                            _dp_clip_and_norm),
        check_laplace_scale: (lambda s, e: 1.0 / e, lambda s, e: e / s, lambda s, e: s * e,
                              lambda s, e: np.sqrt(2) * s / e),
    }
    _assert_hints_and_successes_read_chinese(wrong_answers, {check_clip_update: _dp_clipped,
                                                             check_laplace_scale: _dp_laplace_scale})
    settings = ({"noise_multiplier": 1.0, "sampling_rate": 0.1, "num_rounds": 50},
                {"noise_multiplier": 0.5, "sampling_rate": 0.1, "num_rounds": 50})
    for check, wrong, right in ((lambda answer: check_smaller_epsilon(answer, *settings), "B", "A"),
                                (check_adaptive_bound_prediction, "lower", "higher")):
        for answer, says in ((wrong, ""), ("neither", "请用字符串")):
            verdict = check(answer)
            assert not verdict and _reads_chinese(verdict.message, "\n  ") and says in verdict.message, verdict.message
        verdict = check(right)
        assert verdict and _reads_chinese(verdict.message), verdict.message
    assert "50 轮" in check_smaller_epsilon("B", *settings).message


def test_hospitals_checks_speak_chinese(chinese):
    from course_utils.exercises.hospitals import (
        _hospital_variances,
        _malignant_recall,
        _pooled_std,
        check_biggest_gain,
        check_malignant_recall,
        check_pooled_std,
        check_record_epsilon_prediction,
    )

    def totals(stats):
        return tuple(float(sum(column)) for column in zip(*stats))

    def count(stats):
        return sum(c for c, _, _ in stats)

    wrong_answers = {
        check_malignant_recall: (lambda y, p: float(np.mean(p[y == 1] == 1)), lambda y, p: float(np.mean(p == y)),
                                 lambda y, p: float(np.mean(y[p == 0] == 0)),
                                 lambda y, p: float(np.mean(p[y == 0] == 1)),
                                 lambda y, p: float(np.sum((p == 0) & (y == 0)))),
        check_pooled_std: (
            lambda stats: float(np.mean(np.sqrt(_hospital_variances(stats)))),
            lambda stats: float(np.sqrt(np.dot([c for c, _, _ in stats], _hospital_variances(stats)) / count(stats))),
            lambda stats: (lambda n, s, q: q / n - (s / n) ** 2)(*totals(stats)),
            lambda stats: (lambda n, s, q: float(np.sqrt((q - s**2 / n) / (n - 1))))(*totals(stats)),
            lambda stats: (lambda n, s, q: float(np.sqrt(q / n)))(*totals(stats))),
    }
    _assert_hints_and_successes_read_chinese(wrong_answers, {check_malignant_recall: _malignant_recall,
                                                             check_pooled_std: _pooled_std})
    alone, counts = {0: 0.6, 1: 0.8, 2: 0.9}, np.array([[50, 200], [20, 30], [100, 300]])
    wrong_answers = ((1, "规模最小的医院"), (7, "没有医院 7"), (0.95, "看起来像指标值"), ("zero", "医院的编号"),
                     (2, "恶性召回率"))
    for wrong, says in wrong_answers:
        verdict = check_biggest_gain(wrong, alone, 0.95, counts)
        assert not verdict and _reads_chinese(verdict.message, "\n  ") and says in verdict.message, verdict.message
    verdict = check_biggest_gain(0, alone, 0.95, counts)
    assert verdict and _reads_chinese(verdict.message), verdict.message
    setting = {"noise_multiplier": 4.0, "num_patients": 22, "batch_size": 16, "epochs": 10, "delta": 1e-5}
    for wrong, says in (("more", "22 名患者"), ("smaller", "之一作答")):
        verdict = check_record_epsilon_prediction(wrong, **setting)
        assert not verdict and _reads_chinese(verdict.message, "\n  ") and says in verdict.message, verdict.message
    verdict = check_record_epsilon_prediction("less", **setting)
    assert verdict and _reads_chinese(verdict.message), verdict.message


def test_flower_checks_speak_chinese(chinese):
    flwr_app = pytest.importorskip("flwr.app")
    from flwr.serverapp import NeighboringRelation, PrivacyConfig, RdpAccountant, SamplingMethod
    from flwr.serverapp import strategy as flower_strategies

    from course_utils.exercises.flower import (
        check_array_record_conversion,
        check_epsilon_growth_prediction,
        check_flower_dp_wrapper,
        check_flower_fedavg_arguments,
    )

    course = dict(fraction_fit=0.3, fraction_evaluate=0.5, min_fit_clients=3, min_evaluate_clients=2,
                  min_available_clients=10)
    flower = dict(fraction_train=0.3, fraction_evaluate=0.5, min_train_nodes=3, min_evaluate_nodes=2,
                  min_available_nodes=10)
    wrong_answers = ((None, "还没有作答"), ([("fraction_train", 0.3)], "dict"), (course, "提示："),
                     ({**flower, "fraction_training": 1.0}, "没有参数"), ({**flower, "min_train_nodes": 2}, "含义相同"),
                     ({k: v for k, v in flower.items() if k != "min_available_nodes"}, "缺少"),
                     ({**flower, "weighted_by_key": "num-examples"}, "没有对应项"))
    for wrong, says in wrong_answers:
        verdict = check_flower_fedavg_arguments(wrong, course)
        assert not verdict and _reads_chinese(verdict.message) and says in verdict.message, verdict.message
    verdict = check_flower_fedavg_arguments(dict(flower), course)
    assert verdict and _reads_chinese(verdict.message), verdict.message

    def to_record(parameters):
        return flwr_app.ArrayRecord(parameters)

    def from_record(record):
        return record.to_numpy_ndarrays()

    def unanswered(*args):
        raise NotImplementedError

    for wrong_from in (lambda r: [r[k].numpy() for k in sorted(r.keys())],
                       lambda r: [r[k].numpy() for k in sorted(r.keys(), reverse=True)], lambda r: list(r.values())):
        verdict = check_array_record_conversion(to_record, wrong_from)
        assert not verdict and _reads_chinese(verdict.message, "提示："), verdict.message
    wrong_answers = ((to_record, lambda r: [a.numpy().astype(np.float64) for a in r.values()]),
                     (lambda p: p, from_record), (lambda p: to_record(p[::-1]), from_record),
                     (unanswered, from_record), (to_record, unanswered))
    for wrong_to, wrong_from in wrong_answers:
        verdict = check_array_record_conversion(wrong_to, wrong_from)
        assert not verdict and _reads_chinese(verdict.message), verdict.message
    verdict = check_array_record_conversion(to_record, from_record)
    assert verdict and _reads_chinese(verdict.message), verdict.message

    def wrapper(kind=flower_strategies.DifferentialPrivacyServerSideFixedClipping, noise=1.2, clip=1.0, sampled=5,
                population=10, delta=1e-5, accountant=True):
        config = PrivacyConfig(target_delta=delta, population_size=population,
                               neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                               sampling_method=SamplingMethod.NO_AMPLIFICATION)
        return lambda strategy: kind(strategy, noise, clip, sampled,
                                     accountant=RdpAccountant(config) if accountant else None)

    wrong_answers = ((wrapper(flower_strategies.DifferentialPrivacyClientSideFixedClipping), "客户端侧"),
                     (wrapper(noise=1.0, clip=1.2), "弄反了"), (wrapper(noise=0.5), "应为 1.2"),
                     (wrapper(sampled=10), "节点数 = 5"), (wrapper(accountant=False), "没有核算器"),
                     (wrapper(population=5), "SuperNode 总数"), (wrapper(delta=1e-3), "target_delta 应为"),
                     (lambda strategy: wrapper()(flower_strategies.FedAvg()), "传给你的那个策略"),
                     (unanswered, "还没有作答"))
    for wrong, says in wrong_answers:
        verdict = check_flower_dp_wrapper(wrong)
        assert not verdict and _reads_chinese(verdict.message) and says in verdict.message, verdict.message
    verdict = check_flower_dp_wrapper(wrapper(noise=-1.0))  # Flower's own error message stays as Flower wrote it
    assert not verdict and "你的函数抛出了 ValueError：" in verdict.message, verdict.message
    verdict = check_flower_dp_wrapper(lambda strategy: strategy)  # a bare strategy: Flower's import path is the hint
    assert not verdict and CJK.search(verdict.message) and "提示：from flwr" in verdict.message, verdict.message
    verdict = check_flower_dp_wrapper(wrapper())
    assert verdict and _reads_chinese(verdict.message), verdict.message

    for wrong, says in ((None, "还没有作答"), ("4", "正数"), (2.0, "3.90 倍")):
        verdict = check_epsilon_growth_prediction(wrong, epsilon_short=10.0, epsilon_long=39.0, factor=4)
        assert not verdict and _reads_chinese(verdict.message) and says in verdict.message, verdict.message
    verdict = check_epsilon_growth_prediction(4.0, epsilon_short=10.0, epsilon_long=39.0, factor=4)
    assert verdict and _reads_chinese(verdict.message) and "4 倍" in verdict.message, verdict.message
