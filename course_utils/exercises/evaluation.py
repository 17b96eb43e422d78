"""Exercise checks: federated evaluation and the cost of sampling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import Verdict, check_function, check_value, id_answer_problem, localized

ClientMetrics = dict[int, dict[str, float]]  # {cid: {"num_examples": ..., "accuracy": ..., ...}}


def _client_weighted_accuracy(client_metrics: ClientMetrics) -> float:
    """Reference: the mean of the clients' accuracies weighted by their ``num_examples``."""
    from course_utils.aggregate import weighted_mean

    return weighted_mean([m["accuracy"] for m in client_metrics.values()],
                         [m["num_examples"] for m in client_metrics.values()])


def _random_client_metrics(rng: np.random.Generator) -> tuple[ClientMetrics]:
    """Federated-evaluation results of 2 to 8 clients of very different sizes, with made-up accuracies."""
    cids = rng.choice(100, size=int(rng.integers(2, 9)), replace=False)
    metrics = {}
    for cid in cids:
        num_examples = int(rng.integers(1, 200))
        correct = int(rng.integers(0, num_examples + 1))
        metrics[int(cid)] = {"num_examples": num_examples, "loss": float(rng.uniform(0, 3)),
                             "accuracy": correct / num_examples}
    return (metrics,)


def check_weighted_client_accuracy(fn: Callable[[ClientMetrics], float]) -> Verdict:
    """``fn(client_metrics)``: the example-weighted mean accuracy of ``{cid: {"num_examples", "accuracy"}}``."""

    def accuracies(metrics: ClientMetrics) -> np.ndarray:
        return np.array([m["accuracy"] for m in metrics.values()])

    def counts(metrics: ClientMetrics) -> np.ndarray:
        return np.array([m["num_examples"] for m in metrics.values()], dtype=float)

    return check_function(
        fn,
        _client_weighted_accuracy,
        _random_client_metrics,
        hints=[
            (lambda metrics: float(accuracies(metrics).mean()),
             localized("that is the unweighted mean: every client counts the same. "
                       "Weight each accuracy by the client's num_examples, so that every test example counts the same.",
                       "这是不加权的均值：每个客户端分量一样。应按客户端的 num_examples 给每个准确率加权，"
                       "让每个测试样本分量一样。")),
            (lambda metrics: float(accuracies(metrics) @ counts(metrics)),
             localized("that is the number of correct predictions over all clients; "
                       "divide by the total of num_examples.",
                       "这是所有客户端上预测正确的总数；还要除以 num_examples 的总和。")),
            (lambda metrics: float(accuracies(metrics) @ counts(metrics) / len(metrics)),
             localized("you divided the weighted sum by the number of clients; divide by the total of num_examples.",
                       "你把加权和除以了客户端个数；应除以 num_examples 的总和。")),
            (lambda metrics: float(np.mean(list(metrics))),
             localized("that averages the client ids (the dict's keys); use the values: metrics[cid]['accuracy'] ...",
                       "这是在对客户端编号（字典的键）求平均；应使用字典的值：metrics[cid]['accuracy'] ……")),
        ],
    )


def check_worst_evaluated_client(
    answer: Any, client_metrics: ClientMetrics, counts: np.ndarray | None = None
) -> Verdict:
    """``answer``: the id of the client with the lowest accuracy in one round's ``client_metrics``.

    ``counts`` (the split's clients x classes label distribution), if given, explains the answer.
    """
    worst = int(min(client_metrics, key=lambda cid: (client_metrics[cid]["accuracy"], cid)))
    best = int(max(client_metrics, key=lambda cid: (client_metrics[cid]["accuracy"], -cid)))
    low = client_metrics[worst]
    explanation = localized(f"Client {worst} has the lowest accuracy, {low['accuracy']:.3f} on its "
                            f"{low['num_examples']} test example(s).",
                            f"客户端 {worst} 的准确率最低：在它的 {low['num_examples']} 个测试样本上为 "
                            f"{low['accuracy']:.3f}。")
    if counts is not None:
        row = np.asarray(counts)[worst]
        share = row / row.sum()
        explanation += localized(
            f" Its data: {int(row.sum())} examples, {share.max():.0%} of them of class {int(share.argmax())}; "
            "one global model serves everyone, and it serves worst the clients whose data is mostly "
            "the classes it is weakest on.",
            f"它的数据：{int(row.sum())} 个样本，其中 {share.max():.0%} 属于类别 {int(share.argmax())}；"
            "一个全局模型服务所有客户端，而它服务得最差的，正是数据大多属于它最不擅长的那些类别的客户端。")
    problem = id_answer_problem(answer, localized("client", "客户端"), "client_metrics",
                                localized("an accuracy", "准确率"))
    if problem:
        explanation = localized(f"{problem} {explanation}", f"{problem}{explanation}")
    elif answer is None or answer is Ellipsis:
        pass  # check_value says "not answered yet"
    elif int(answer) == best and best != worst:
        explanation = localized(f"Client {best} is the best-served client, not the worst. ",
                                f"客户端 {best} 是服务得最好的客户端，不是最差的。") + explanation
    elif int(answer) not in client_metrics:
        explanation = localized(f"Client {int(answer)} was not evaluated in this round. ",
                                f"客户端 {int(answer)} 在这一轮没有参与评估。") + explanation
    return check_value(answer, worst, explanation)


def _client_updates(num_clients: int, num_rounds: int, fraction_fit: float, min_fit_clients: int = 2) -> int:
    """Reference: the client updates a run costs; per round ``FedAvg`` samples
    ``FedAvg.num_fit_clients(num_clients)`` clients (rounded down, at least the minimum, at most all)."""
    from course_utils.strategy import FedAvg

    return num_rounds * FedAvg(fraction_fit=fraction_fit, min_fit_clients=min_fit_clients).num_fit_clients(num_clients)


def _random_sampling_setup(rng: np.random.Generator) -> tuple[int, int, float, int]:
    min_fit_clients = int(rng.integers(1, 6))
    num_clients = int(rng.integers(min_fit_clients, 200))
    fraction_fit = float(rng.choice([0.01, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0]))
    return num_clients, int(rng.integers(1, 100)), fraction_fit, min_fit_clients


def check_client_updates(fn: Callable[[int, int, float, int], int]) -> Verdict:
    """``fn(num_clients, num_rounds, fraction_fit, min_fit_clients)``: client updates in a whole run."""
    rounded_down = localized("FedAvg rounds fraction_fit * num_clients down (int), not up nor to the nearest integer.",
                             "FedAvg 把 fraction_fit * num_clients 向下取整（int），既不是向上取整，也不是四舍五入。")
    return check_function(
        fn,
        _client_updates,
        _random_sampling_setup,
        trials=30,
        hints=[
            (lambda n, r, f, m: r * int(f * n),
             localized("with few clients, int(fraction_fit * num_clients) can fall below min_fit_clients; FedAvg then "
                       "samples min_fit_clients instead.",
                       "客户端很少时，int(fraction_fit * num_clients) 可能小于 min_fit_clients；这时 FedAvg 改为采样 "
                       "min_fit_clients 个客户端。")),
            (lambda n, r, f, m: r * max(int(np.ceil(f * n)), m), rounded_down),
            (lambda n, r, f, m: r * max(int(round(f * n)), m), rounded_down),
            (lambda n, r, f, m: min(n, max(int(f * n), m)),
             localized("that is the number of clients in one round; the run has num_rounds rounds.",
                       "这是一轮中的客户端个数；整个运行共有 num_rounds 轮。")),
        ],
    )
