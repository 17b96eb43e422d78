"""Exercise checks: hospitals: recall, gains, pooled statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, id_answer_problem, localized

_MALIGNANT = 0  # the breast-cancer table's label of a malignant tumour (1 is benign)
_METRIC_NAMES_ZH = {"malignant recall": "恶性召回率"}  # check_biggest_gain's metric in a Chinese sentence


def _malignant_recall(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Reference: the share of the malignant tumours (label 0) predicted malignant: sensitivity, TP / (TP + FN)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float(np.mean(predictions[labels == _MALIGNANT] == _MALIGNANT))


def _random_diagnoses(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predictions (0 malignant, 1 benign) of 8 to 120 tumours.

    At least one of each outcome (a cancer caught and one missed, a false alarm and a correct
    all-clear), so that every rate, right or wrong, is defined.
    """
    num_extra = int(rng.integers(4, 117))
    labels = rng.integers(0, 2, size=num_extra)
    wrong = rng.random(num_extra) < rng.uniform(0.05, 0.4)
    predictions = np.where(wrong, 1 - labels, labels)
    labels, predictions = np.r_[[0, 0, 1, 1], labels], np.r_[[0, 1, 0, 1], predictions]
    order = rng.permutation(labels.size)
    return labels[order].astype(np.int64), predictions[order].astype(np.int64)


def check_malignant_recall(fn: Callable[[np.ndarray, np.ndarray], float]) -> Verdict:
    """``fn(labels, predictions)``: the malignant recall (sensitivity), with label 0 malignant and 1 benign."""
    return check_function(
        fn,
        _malignant_recall,
        _random_diagnoses,
        trials=20,
        hints=[
            (lambda y, p: float(np.mean(p[y == 1] == 1)),
             localized("that is the recall of the benign tumours (the specificity). "
                       "In this table label 0 is malignant: take the tumours whose label is 0 and count how many are "
                       "predicted 0.",
                       "这是良性肿瘤的召回率（特异度）。在这张表里，标签 0 表示恶性："
                       "取出标签为 0 的肿瘤，数一数其中有多少被预测为 0。")),
            (lambda y, p: float(np.mean(p == y)),
             localized("that is the accuracy over all tumours. Recall looks only at the tumours that ARE malignant: "
                       "the share of them that the model flags as malignant.",
                       "这是全部肿瘤上的准确率。召回率只看确实是恶性的肿瘤：其中被模型判为恶性的比例。")),
            (lambda y, p: float(np.mean(y[p == 0] == 0)),
             localized("that is the precision: of the tumours PREDICTED malignant, the share that are. "
                       "Recall starts from the tumours that ARE malignant (labels == 0) and asks how many were "
                       "predicted malignant.",
                       "这是精确率：在被预测为恶性的肿瘤中，确实是恶性的比例。召回率从确实是恶性的肿瘤"
                       "（labels == 0）出发，问其中有多少被预测为恶性。")),
            (lambda y, p: float(np.mean(p[y == 0] == 1)),
             localized("that is the share of cancers missed (the false-negative rate), which is 1 - recall.",
                       "这是漏诊的癌症所占的比例（假阴性率），等于 1 - 召回率。")),
            (lambda y, p: float(np.sum((p == 0) & (y == 0))),
             localized("that is the number of cancers caught (true positives); "
                       "divide it by the number of malignant tumours.",
                       "这是查出的癌症个数（真阳性）；还要除以恶性肿瘤的个数。")),
        ],
    )


def check_biggest_gain(
    answer: Any,
    alone: dict[int, float],
    federated: float | dict[int, float],
    counts: np.ndarray | None = None,
    metric: str = "malignant recall",
) -> Verdict:
    """``answer``: the id of the hospital whose ``metric`` gains most from federation (federated minus alone).

    ``alone`` maps each hospital to the ``metric`` of the model it trained on its own;
    ``federated`` is the global model's (one number: one model serves all) or one per hospital.
    ``counts`` (hospitals x classes, column 0 malignant), if given, explains the answer.
    """
    federated = dict(federated) if isinstance(federated, dict) else {h: float(federated) for h in alone}
    gains = {h: federated[h] - alone[h] for h in alone}
    best = int(max(gains, key=lambda h: (gains[h], -h)))
    explanation = localized(f"Hospital {best} gains most: its {metric} goes from {alone[best]:.3f} on its own to "
                            f"{federated[best]:.3f} with federated learning ({gains[best]:+.3f}).",
                            f"医院 {best} 获益最多：它的{_METRIC_NAMES_ZH.get(metric, metric)}从单独训练时的 "
                            f"{alone[best]:.3f} 变为联邦学习下的 {federated[best]:.3f}（{gains[best]:+.3f}）。")
    smallest = None
    if counts is not None:
        counts = np.asarray(counts)
        row = counts[best]
        smallest = int(np.argmin(counts.sum(axis=1)))
        explanation += localized(
            f" Its own data: {int(row.sum())} patients, {int(row[_MALIGNANT])} of them malignant. A "
            "hospital gains most where its own data is thinnest in what the metric measures (for "
            "malignant recall: malignant cases), whatever its size; the others supply what it lacks.",
            f"它自己的数据：{int(row.sum())} 名患者，其中 {int(row[_MALIGNANT])} 名为恶性。获益最多的医院，"
            "是自己的数据在该指标所衡量的方面最单薄的那家（对恶性召回率而言就是恶性病例），与医院规模无关；"
            "其他医院补上了它缺少的部分。")
    problem = id_answer_problem(answer, localized("hospital", "医院"), "`alone`", localized("a score", "指标值"))
    if problem:
        explanation = localized(f"{problem} {explanation}", f"{problem}{explanation}")
    elif answer is None or answer is Ellipsis:
        pass  # check_value says "not answered yet"
    elif int(answer) not in gains:
        explanation = localized(f"There is no hospital {int(answer)}; the ids are {sorted(gains)}. ",
                                f"没有医院 {int(answer)}；医院编号是 {sorted(gains)}。") + explanation
    elif int(answer) != best:
        explanation = localized(f"Hospital {int(answer)} gains {gains[int(answer)]:+.3f}. ",
                                f"医院 {int(answer)} 的增益是 {gains[int(answer)]:+.3f}。") + explanation
        if int(answer) == smallest:
            explanation += localized(" (The smallest hospital is not always the one that lacks most.)",
                                     "（规模最小的医院不一定是最缺所需数据的那家。）")
    return check_value(answer, best, explanation)


HospitalStats = list[tuple[int, float, float]]  # per hospital: (count, sum of the values, sum of their squares)


def _pooled_std(stats: HospitalStats) -> float:
    """Reference: the standard deviation of all the hospitals' values together (dividing by N, as ``np.std``)."""
    count = sum(c for c, _, _ in stats)
    mean = sum(s for _, s, _ in stats) / count
    mean_of_squares = sum(q for _, _, q in stats) / count
    return float(np.sqrt(max(mean_of_squares - mean**2, 0.0)))


def _random_hospital_stats(rng: np.random.Generator) -> tuple[HospitalStats]:
    """2 to 6 hospitals of 2 to 200 values each, with different means and spreads, as (count, sum, sum of squares)."""
    stats = []
    for _ in range(int(rng.integers(2, 7))):
        values = rng.normal(rng.uniform(10.0, 20.0), rng.uniform(1.0, 4.0), size=int(rng.integers(2, 201)))
        stats.append((int(values.size), float(values.sum()), float(np.sum(values**2))))
    return (stats,)


def _hospital_variances(stats: HospitalStats) -> np.ndarray:
    return np.array([q / c - (s / c) ** 2 for c, s, q in stats])


def check_pooled_std(fn: Callable[[HospitalStats], float]) -> Verdict:
    """``fn(stats)``: the standard deviation over all hospitals' values, from each hospital's
    ``(count, sum, sum of squares)`` only (dividing by the total count N, like ``np.std``)."""
    def totals(stats: HospitalStats) -> tuple[float, float, float]:
        return tuple(float(sum(column)) for column in zip(*stats))

    return check_function(
        fn,
        _pooled_std,
        _random_hospital_stats,
        trials=20,
        hints=[
            (lambda stats: float(np.mean(np.sqrt(_hospital_variances(stats)))),
             localized("that is the mean of the hospitals' own standard deviations. "
                       "Add up the counts, the sums and the sums of squares first; "
                       "from the totals: mean = S / N, variance = Q / N - mean**2.",
                       "这是各医院自身标准差的均值。应先把计数、和与平方和分别加起来；再由总数计算："
                       "均值 = S / N，方差 = Q / N - 均值**2。")),
            (lambda stats: float(np.sqrt(np.dot([c for c, _, _ in stats], _hospital_variances(stats))
                                         / sum(c for c, _, _ in stats))),
             localized("that is the spread WITHIN the hospitals only: it misses that the hospitals' means differ "
                       "from each other. Work from the totals: variance = Q / N - (S / N)**2.",
                       "这只是各医院内部的离散程度：它漏掉了各医院的均值彼此不同这一点。应从总数出发："
                       "方差 = Q / N - (S / N)**2。")),
            (lambda stats: (lambda n, s, q: q / n - (s / n) ** 2)(*totals(stats)),
             localized("that is the variance; the standard deviation is its square root.",
                       "这是方差；标准差是它的平方根。")),
            (lambda stats: (lambda n, s, q: float(np.sqrt((q - s**2 / n) / (n - 1))))(*totals(stats)),
             localized("you divided by N - 1 (the sample standard deviation); this check, like np.std and "
                       "load_dataset's standardization, divides by N.",
                       "你除以的是 N - 1（样本标准差）；这个检查与 np.std 以及 load_dataset 的标准化一样，除以 N。")),
            (lambda stats: (lambda n, s, q: float(np.sqrt(q / n)))(*totals(stats)),
             localized("that is the root mean square; subtract the squared mean: variance = Q / N - (S / N)**2.",
                       "这是均方根；还要减去均值的平方：方差 = Q / N - (S / N)**2。")),
        ],
    )


RECORD_EPSILON_ANSWERS = ("more", "less")


def check_record_epsilon_prediction(
    prediction: Any, noise_multiplier: float, num_patients: int, batch_size: int, epochs: int, delta: float,
    factor: int = 4,
) -> Verdict:
    """``prediction``: does a hospital of ``factor`` times ``num_patients`` spend "more" or "less" record-level epsilon?

    Both train ``epochs`` epochs of DP-SGD with the same ``noise_multiplier`` and ``batch_size``;
    the check runs Opacus's accountant (``course_utils.dp_sgd.record_epsilon``) for both and explains.
    """
    from course_utils.dp_sgd import record_epsilon, sample_rate

    spent = {}
    for n in (num_patients, factor * num_patients):
        q = sample_rate(n, batch_size)
        spent[n] = (q, epochs * round(1 / q), record_epsilon(noise_multiplier, q, epochs * round(1 / q), delta))
    (q_small, t_small, e_small), (q_big, t_big, e_big) = spent.values()
    expected = "more" if e_big > e_small else "less"
    explanation = localized(
        f"The accountant says: {num_patients} patients, q = {q_small:.3f}, {t_small} steps: epsilon "
        f"{e_small:.2f}; {factor * num_patients} patients, q = {q_big:.3f}, {t_big} steps: epsilon "
        f"{e_big:.2f}. More patients take more steps per epoch, but each patient is in a batch less "
        "often, and that sampling is what DP-SGD's privacy is made of: the privacy loss of one step "
        "grows about like q squared, while the steps only grow like 1 / q. A patient hides better in a "
        "larger crowd.",
        f"隐私核算器给出：{num_patients} 名患者，q = {q_small:.3f}，{t_small} 步：epsilon {e_small:.2f}；"
        f"{factor * num_patients} 名患者，q = {q_big:.3f}，{t_big} 步：epsilon {e_big:.2f}。患者越多，"
        "每个 epoch 的步数越多，但每名患者进入一个批次的频率更低，而 DP-SGD 的隐私正是由这种采样构成的："
        "一步的隐私损失大约与 q 的平方成正比，而步数只与 1 / q 成正比。患者在更大的人群中藏得更好。",
    )
    if isinstance(prediction, str) and prediction.strip().lower() in RECORD_EPSILON_ANSWERS:
        prediction = prediction.strip().lower()
    elif prediction is not None and prediction is not Ellipsis:
        explanation = localized(f"Answer with one of {RECORD_EPSILON_ANSWERS}, not {prediction!r}. ",
                                f"请用 {RECORD_EPSILON_ANSWERS} 之一作答，而不是 {prediction!r}。") + explanation
    return check_value(prediction, expected, explanation)
