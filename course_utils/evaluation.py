"""Evaluating parameters: on the server's own test set, or on clients' local test data."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.utils.data import TensorDataset

from course_utils.aggregate import Parameters
from course_utils.checks import check_callable, check_dataset, check_integer
from course_utils.client import Client
from course_utils.models import set_parameters
from course_utils.training import evaluate


def evaluate_parameters(
    model_fn: Callable[[], nn.Module], parameters: Parameters, data: TensorDataset
) -> tuple[float, float]:
    """Loss and accuracy of ``parameters`` loaded into ``model_fn()``, on ``data``."""
    check_callable("model_fn", model_fn, "a function () -> nn.Module")
    model = model_fn()
    set_parameters(model, parameters)
    return evaluate(model, data)


def make_evaluate_fn(
    model_fn: Callable[[], nn.Module], test_data: TensorDataset
) -> Callable[[int, Parameters], tuple[float, dict[str, float]]]:
    """A server-side ``evaluate_fn(server_round, parameters) -> (loss, {"accuracy": ...})``."""
    check_callable("model_fn", model_fn, "a function () -> nn.Module")
    check_dataset(test_data, "test_data")

    def evaluate_fn(server_round: int, parameters: Parameters) -> tuple[float, dict[str, float]]:
        loss, accuracy = evaluate_parameters(model_fn, parameters, test_data)
        return loss, {"accuracy": accuracy}

    return evaluate_fn


def evaluate_clients(
    client_fn: Callable[[int], Client], cids: list[int], parameters: Parameters
) -> dict[int, dict[str, float]]:
    """Federated evaluation by hand: ``{cid: {"num_examples", "loss", "accuracy"}}`` per client.

    Clients without local test data are skipped.
    """
    check_callable("client_fn", client_fn, "a function cid -> Client")
    if isinstance(cids, (str, bytes)) or not hasattr(cids, "__iter__"):
        raise TypeError(f"cids must be a list of client ids, got {type(cids).__name__} {cids!r}")
    out = {}
    for cid in cids:
        client = client_fn(cid)
        if client.test_data is None:
            continue
        loss, num_examples, metrics = client.evaluate(parameters, {})
        out[cid] = {"num_examples": num_examples, "loss": loss, **metrics}
    return out


def per_class_accuracy(
    model_fn: Callable[[], nn.Module], parameters: Parameters, data: TensorDataset, num_classes: int
) -> list[float]:
    """The accuracy of ``parameters`` on the examples of each class in ``data`` (each class's recall).

    One value per class, ``num_classes`` in all; NaN for a class with no examples in ``data``.
    A model that never learned a class scores 0 on it.
    """
    from course_utils.data import labels_of, subset

    check_dataset(data)
    check_integer("num_classes", num_classes, 1)
    labels = labels_of(data)
    if num_classes <= labels.max():
        raise ValueError(f"num_classes must exceed the largest label ({labels.max()}), got {num_classes}")
    out = []
    for c in range(num_classes):
        members = (labels == c).nonzero()[0]
        accuracy = evaluate_parameters(model_fn, parameters, subset(data, members))[1] if members.size else float("nan")
        out.append(accuracy)
    return out
