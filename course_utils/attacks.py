"""Attacks on federated learning: what a curious server reads from an update, and what a malicious client can do.

Three threats, each with the metric that says whether it worked:

- **Gradient inversion** (a curious server): the exact recovery of one example from the gradient
  of a first linear layer with a bias (Phong et al., 2017; Geiping et al., 2020, sec. 4), the
  label from the last layer's gradient (Zhao et al., 2020, iDLG), and gradient matching for
  several examples (Zhu et al., 2019, DLG; Geiping et al., 2020, cosine similarity). Metric:
  :func:`reconstruction_error`, compared with a blind guess.
- **Membership inference** (anyone holding the model): a low loss says "this example was
  trained on" (Yeom et al., 2018). Metric: :func:`membership_auc` (0.5 is a coin toss).
- **Poisoning** (a malicious client): label flipping (Tolpegin et al., 2020) and a backdoor
  trigger (Bagdasaryan et al., 2020). Metric: :func:`attack_success_rate`, next to clean accuracy.
  Against robust aggregation, colluding clients that stay inside the honest spread ("A Little
  Is Enough", Baruch et al., 2019: :func:`little_is_enough`); metric: the global model's accuracy.

and one server-side defence that the other strategies lack, :class:`NormClippedFedAvg`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.aggregate import Parameters, cast_to, fedavg
from course_utils.checks import check_dataset, check_integer, check_number, check_seed
from course_utils.client import Client
from course_utils.faults import ClientWrapper
from course_utils.privacy import clip_update
from course_utils.strategy import FedAvg, FitRes

LOSSES = ("l2", "cosine")


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")


def _float_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    array = np.asarray(value.detach().numpy() if isinstance(value, torch.Tensor) else value)
    if not (np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_):
        raise TypeError(f"{name} must be an array of numbers, got dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {array.shape}")
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a non-empty array of finite numbers")
    return array.astype(np.float64)


# --- 1. Gradient inversion -----------------------------------------------------------------


def gradients_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[np.ndarray]:
    """The gradient of the mean cross-entropy loss of ``model`` on the batch ``(x, y)``, one array per parameter.

    ``x``: (batch, *input_shape) float, ``y``: (batch,) int64. This is what one local SGD step
    sends, up to the factor ``-learning_rate`` (see :func:`gradient_from_update`).
    """
    _check_model(model)
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or len(x) != len(y) or len(x) == 0:
        raise ValueError("x and y must be tensors with the same, non-zero number of examples")
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.detach().numpy().copy() for p in model.parameters()]
    model.zero_grad()
    return grads


def gradient_from_update(before: Parameters, after: Parameters, learning_rate: float) -> list[np.ndarray]:
    """``(before - after) / learning_rate``: the gradient of a one-step SGD update (the mean step of several)."""
    lr = check_number("learning_rate", learning_rate, 0, min_open=True)
    if len(before) != len(after):
        raise ValueError(f"before and after must hold as many arrays, got {len(before)} and {len(after)}")
    return [(_float_array("before", b) - _float_array("after", a)) / lr for b, a in zip(before, after)]


def invert_linear_layer(weight_grad: np.ndarray, bias_grad: np.ndarray) -> np.ndarray:
    """The input of a linear layer ``W x + b`` read off its gradients; shape (in_features,).

    For one example, ``dL/dW[i] = dL/db[i] * x`` for every output ``i``, so ``x`` is any row of
    ``weight_grad`` divided by its bias gradient; we take the least-squares answer over all rows,
    ``sum_i db_i dW_i / sum_i db_i**2`` (exact for one example; Phong et al., 2017; Geiping et al.,
    2020, sec. 4). For a batch the gradient is a mean, and the answer is a mixture of its
    examples. ``weight_grad``: (out_features, in_features); ``bias_grad``: (out_features,).
    """
    w = _float_array("weight_grad", weight_grad, ndim=2)
    b = _float_array("bias_grad", bias_grad, ndim=1)
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"bias_grad must have one entry per row of weight_grad ({w.shape[0]}), got {b.shape[0]}")
    energy = float(b @ b)
    if energy == 0:
        raise ValueError("bias_grad is all zero: this gradient carries no information about the input")
    return b @ w / energy


def infer_labels(last_layer_grad: np.ndarray, num_examples: int = 1) -> np.ndarray:
    """The labels of a batch read off the last layer's gradient (Zhao et al., 2020, iDLG); shape (num_examples,).

    With softmax and cross-entropy, output ``j``'s gradient is ``(p_j - [j == y]) * h`` with ``h``
    the (non-negative) features, negative only for the true label ``y``. ``last_layer_grad``:
    its bias gradient (num_classes,) or weight gradient (num_classes, features), whose rows are
    summed. Returns the ``num_examples`` classes with the most negative gradient, sorted (exact
    for one example; for a batch, distinct labels are a guess that iDLG does not promise).
    """
    g = _float_array("last_layer_grad", last_layer_grad)
    if g.ndim not in (1, 2):
        raise ValueError(f"last_layer_grad must be (num_classes,) or (num_classes, features), got shape {g.shape}")
    check_integer("num_examples", num_examples, 1, g.shape[0])
    scores = g if g.ndim == 1 else g.sum(axis=1)
    return np.sort(np.argsort(scores, kind="stable")[:num_examples])


def _match_loss(dummy: list[torch.Tensor], target: list[torch.Tensor], loss: str) -> torch.Tensor:
    if loss == "l2":
        return sum(((d - t) ** 2).sum() for d, t in zip(dummy, target))
    dot = sum((d * t).sum() for d, t in zip(dummy, target))
    norms = torch.sqrt(sum((d**2).sum() for d in dummy)) * torch.sqrt(sum((t**2).sum() for t in target))
    return 1 - dot / (norms + 1e-12)


def match_gradients(
    model: nn.Module,
    target_grads: list[np.ndarray],
    labels: np.ndarray,
    input_shape: tuple[int, ...],
    *,
    steps: int = 100,
    lr: float = 0.1,
    loss: str = "cosine",
    seed: int = 0,
) -> np.ndarray:
    """Inputs whose gradient matches ``target_grads``: gradient matching with known labels; (len(labels), *input_shape).

    Starts from uniform noise in [0, 1] and runs ``steps`` of Adam on the dummy inputs to
    minimise the squared distance (``loss="l2"``, Zhu et al., 2019, DLG) or one minus the cosine
    similarity (``loss="cosine"``, Geiping et al., 2020) between their gradient and the target;
    pixels are kept in [0, 1]. ``labels`` (e.g. from :func:`infer_labels`) fix the classes, as in
    iDLG. ``model`` must be the one the target gradient was computed on.
    """
    _check_model(model)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    check_integer("steps", steps, 1)
    check_number("lr", lr, 0, min_open=True)
    check_seed(seed)
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64)).reshape(-1)
    if labels.numel() == 0:
        raise ValueError("labels must hold at least one label (one per example to reconstruct)")
    params = list(model.parameters())
    if not isinstance(target_grads, (list, tuple)) or len(target_grads) != len(params):
        raise ValueError(f"target_grads must hold one array per model parameter ({len(params)})")
    target = [torch.as_tensor(_float_array("target_grads", g), dtype=torch.float32) for g in target_grads]
    for t, p in zip(target, params):
        if t.shape != p.shape:
            raise ValueError(f"target_grads: an array of shape {tuple(t.shape)} where the model has {tuple(p.shape)}")
    generator = torch.Generator().manual_seed(seed)
    dummy = torch.rand((len(labels), *input_shape), generator=generator, requires_grad=True)
    optimizer = torch.optim.Adam([dummy], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        grads = torch.autograd.grad(nn.functional.cross_entropy(model(dummy), labels), params, create_graph=True)
        _match_loss(list(grads), target, loss).backward()
        optimizer.step()
        with torch.no_grad():
            dummy.clamp_(0, 1)
    return dummy.detach().numpy().copy()


def reconstruction_error(originals: np.ndarray, reconstructions: np.ndarray) -> float:
    """Mean squared pixel error between two sets of examples, each reconstruction paired with its best original.

    Both of shape (num_examples, ...) (or one example without the batch axis). Gradient
    inversion gets the order of a batch wrong, so the pairing that minimises the total error
    is used (the Hungarian algorithm). 0 is a perfect reconstruction.
    """
    a, b = _float_array("originals", originals), _float_array("reconstructions", reconstructions)
    a, b = a.reshape(len(a), -1) if a.ndim > 1 else a[None], b.reshape(len(b), -1) if b.ndim > 1 else b[None]
    if a.shape != b.shape:
        raise ValueError(f"originals and reconstructions must have the same shape, got {a.shape} and {b.shape}")
    from scipy.optimize import linear_sum_assignment  # imported here: only notebook 07 pays for SciPy

    cost = ((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def blind_guess_error(originals: np.ndarray, public_images: np.ndarray) -> float:
    """The error of an attacker who ignores the update and guesses the mean of ``public_images`` for every example.

    The baseline any reconstruction must beat: ``reconstruction_error(originals, mean image)``.
    """
    guess = _float_array("public_images", public_images).mean(axis=0)
    originals = _float_array("originals", originals)
    return reconstruction_error(originals, np.broadcast_to(guess, originals.shape))


# --- 2. Membership inference ---------------------------------------------------------------


@torch.no_grad()
def example_losses(model: nn.Module, data: TensorDataset) -> np.ndarray:
    """The cross-entropy loss of ``model`` on each example of ``data``; shape (len(data),)."""
    _check_model(model)
    check_dataset(data)
    model.eval()
    x, y = data.tensors
    return nn.functional.cross_entropy(model(x), y, reduction="none").numpy().astype(np.float64)


def membership_auc(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> float:
    """The AUC of the loss-threshold membership attack (Yeom et al., 2018): P(member's loss < non-member's).

    Every threshold at once: the probability that a random training example has a lower loss
    than a random unseen one (ties count one half; the Mann-Whitney statistic). 0.5 is a coin
    toss; 1.0 separates every member from every non-member. Both arguments 1-D, non-empty.
    """
    m = _float_array("member_losses", member_losses, ndim=1)
    n = _float_array("nonmember_losses", nonmember_losses, ndim=1)
    less = (m[:, None] < n[None, :]).mean()
    ties = (m[:, None] == n[None, :]).mean()
    return float(less + 0.5 * ties)


# --- 3. Poisoning --------------------------------------------------------------------------


def _check_label(name: str, label: Any) -> int:
    return check_integer(name, label, 0)


def flip_labels(data: TensorDataset, source: int, target: int) -> TensorDataset:
    """``data`` with every label ``source`` replaced by ``target`` (label flipping, Tolpegin et al., 2020)."""
    check_dataset(data)
    source, target = _check_label("source", source), _check_label("target", target)
    if source == target:
        raise ValueError(f"source and target must differ, got {source} for both")
    x, y = data.tensors
    return TensorDataset(x, torch.where(y == source, torch.tensor(target), y))


def stamp_trigger(x: torch.Tensor, size: int = 2, value: float = 1.0) -> torch.Tensor:
    """A copy of images ``x`` (batch, channels, height, width) with a ``size`` x ``size`` square of
    ``value`` in the bottom-right corner."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a tensor of images (batch, channels, height, width), "
                         f"got {getattr(x, 'shape', x)!r}")
    check_integer("size", size, 1, min(x.shape[2], x.shape[3]))
    check_number("value", value)
    stamped = x.clone()
    stamped[:, :, -size:, -size:] = value
    return stamped


def backdoor_data(
    data: TensorDataset, target: int, fraction: float = 0.5, size: int = 2, seed: int = 0
) -> TensorDataset:
    """``data`` plus a ``fraction`` of its examples stamped with the trigger and labelled ``target``
    (Bagdasaryan et al., 2020).

    The clean examples stay, so the poisoned model still does its main task (and hides).
    """
    check_dataset(data)
    _check_label("target", target)
    check_number("fraction", fraction, 0, 1, min_open=True)
    check_seed(seed)
    x, y = data.tensors
    count = max(1, int(round(fraction * len(x))))
    chosen = torch.as_tensor(np.random.default_rng(seed).choice(len(x), size=count, replace=False))
    stamped = stamp_trigger(x[chosen], size)
    return TensorDataset(torch.cat([x, stamped]), torch.cat([y, torch.full((count,), target, dtype=y.dtype)]))


def _check_boost(boost: Any) -> float:
    return check_number("boost", boost, 0, min_open=True)


class MaliciousClient(ClientWrapper):
    """A client that trains on ``poisoned_data`` instead of its own and sends ``global + boost * update``.

    ``boost > 1`` scales the update up so that it survives averaging with honest clients
    (Bagdasaryan et al., 2020's model replacement uses ``boost`` = number of clients).
    """

    def __init__(self, client: Client, poisoned_data: TensorDataset, boost: float = 1.0) -> None:
        super().__init__(client)
        check_dataset(poisoned_data, "poisoned_data")
        self.boost = _check_boost(boost)
        self.poisoned = Client(client.cid, client.model_fn, poisoned_data, client.test_data, seed=client.seed)

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        new_parameters, num_examples, metrics = self.poisoned.fit(parameters, config)
        sent = [cast_to(np.asarray(old, np.float64)
                        + self.boost * (np.asarray(new, np.float64) - np.asarray(old, np.float64)),
                        np.asarray(new).dtype) for new, old in zip(new_parameters, parameters)]
        return sent, len(self.client.train_data), metrics


def make_malicious(
    client_fn: Callable[[int], Client], bad_cids: Iterable[int], poison: Callable[[TensorDataset], TensorDataset],
    boost: float = 1.0,
) -> Callable[[int], Client | MaliciousClient]:
    """``client_fn``, except that each client in ``bad_cids`` trains on ``poison(its train_data)`` and
    boosts its update.

    E.g. ``poison=lambda d: backdoor_data(d, target=0)`` or ``lambda d: flip_labels(d, 7, 1)``.
    """
    if not callable(client_fn) or not callable(poison):
        raise TypeError("client_fn and poison must be functions (cid -> Client, TensorDataset -> TensorDataset)")
    if isinstance(bad_cids, (str, bytes)) or not hasattr(bad_cids, "__iter__"):
        raise TypeError(f"bad_cids must be a list of client ids, got {type(bad_cids).__name__}")
    bad = {check_integer("each of bad_cids", cid, 0) for cid in bad_cids}
    _check_boost(boost)

    def malicious_fn(cid: int) -> Client | MaliciousClient:
        client = client_fn(cid)
        return MaliciousClient(client, poison(client.train_data), boost) if cid in bad else client

    return malicious_fn


@torch.no_grad()
def attack_success_rate(model: nn.Module, data: TensorDataset, target: int, trigger_size: int | None = 2,
                        source: int | None = None) -> float:
    """The share of attacked test examples that ``model`` classifies as ``target`` (a fraction in [0, 1]).

    Backdoor (``trigger_size`` set): every example of ``data`` whose label is not ``target``,
    stamped with the trigger. Label flipping (``trigger_size=None``, ``source`` set): the
    examples of class ``source``, unchanged. A clean model scores about its confusion rate.
    """
    _check_model(model)
    check_dataset(data)
    _check_label("target", target)
    x, y = data.tensors
    if trigger_size is None:
        if source is None:
            raise ValueError("source must be given when trigger_size is None (label flipping: which class is attacked)")
        keep = y == _check_label("source", source)
    else:
        keep = y != target
    if not bool(keep.any()):
        raise ValueError("data has no example to attack (no example of the source class, or all are the target)")
    x = x[keep] if trigger_size is None else stamp_trigger(x[keep], trigger_size)
    model.eval()
    return float((model(x).argmax(dim=1) == target).float().mean())



def little_is_enough_z(num_clients: int, num_attackers: int) -> float:
    """The largest ``z`` of "A Little Is Enough" (Baruch et al., 2019) for ``num_attackers`` among ``num_clients``.

    The paper's rule: ``s = floor(num_clients / 2 + 1) - num_attackers`` is how many honest
    clients the attackers need on their side to pass as the median, and ``z`` is chosen so that
    a share ``(num_clients - s) / num_clients`` of normally spread honest values lies above
    ``mean - z * std``: ``z = Phi^-1((num_clients - s) / num_clients)``. Needs
    ``1 <= num_attackers < num_clients / 2``.
    """
    n = check_integer("num_clients", num_clients, 2)
    m = check_integer("num_attackers", num_attackers, 1, (n - 1) // 2, hint=" (fewer than half of num_clients)")
    s = n // 2 + 1 - m
    return NormalDist().inv_cdf((n - s) / n)


def little_is_enough(honest_updates: list[Parameters], z: float) -> Parameters:
    """The update that "A Little Is Enough" sends: ``mean - z * std`` of ``honest_updates``, coordinate by coordinate.

    Baruch, Baruch & Goldberg (NeurIPS 2019): colluding attackers estimate each coordinate's mean
    and standard deviation (over clients, ``ddof=1``) from the honest updates they can compute
    on their own data, and all send the same value, a little below the mean. For a small ``z`` it
    stays inside the honest spread, where the median and the trimmed mean do not cut it, and pulls
    them the same way in every coordinate, round after round. ``honest_updates``: at least two updates, each a list of
    arrays of the same shapes (new parameters minus the global ones); ``z`` >= 0 (in standard
    deviations). Returns one update of those shapes, float64.
    """
    check_number("z", z, 0, hint=" (standard deviations below the mean)")
    if not isinstance(honest_updates, (list, tuple)) or len(honest_updates) < 2:
        raise ValueError("honest_updates must be a list of at least two updates (a spread needs two values)")
    shapes = [np.shape(a) for a in honest_updates[0]]
    stacked = []
    for layer, shape in enumerate(shapes):
        if any(len(u) != len(shapes) or np.shape(u[layer]) != shape for u in honest_updates):
            raise ValueError(f"honest_updates must all have {len(shapes)} arrays of the shapes {shapes}")
        stacked.append(np.stack([_float_array("honest_updates", u[layer]) for u in honest_updates]))
    return [values.mean(axis=0) - z * values.std(axis=0, ddof=1) for values in stacked]


class ColludingClient(ClientWrapper):
    """One of a coalition of attackers running "A Little Is Enough" (:func:`little_is_enough`).

    In ``fit`` it trains every coalition member's honest update from the parameters it received
    (the attackers pool their own data, no one else's) and sends ``global + little_is_enough(those,
    z)``; every member sampled in a round sends the same. It reports its own ``num_examples`` and
    the training metrics of its own honest fit, as an honest client would.
    """

    def __init__(self, client: Client, coalition: list[Client], z: float) -> None:
        super().__init__(client)
        if len(coalition) < 2:
            raise ValueError("a coalition needs at least two clients, to estimate the honest updates' spread")
        self.coalition, self.z = list(coalition), check_number("z", z, 0)

    def fit(self, parameters: Parameters, config: dict[str, Any]):
        old = [np.asarray(p, np.float64) for p in parameters]
        fits = [(member.cid, member.fit(parameters, config)) for member in self.coalition]
        honest = [[np.asarray(new, np.float64) - o for new, o in zip(result[0], old)] for _, result in fits]
        crafted = little_is_enough(honest, self.z)
        sent = [cast_to(o + c, np.asarray(p).dtype) for o, c, p in zip(old, crafted, parameters)]
        own_metrics = next((result[2] for cid, result in fits if cid == self.cid), {})
        return sent, len(self.client.train_data), own_metrics


def make_colluding(
    client_fn: Callable[[int], Client], bad_cids: Iterable[int], z: float
) -> Callable[[int], Client | ColludingClient]:
    """``client_fn``, except that the clients in ``bad_cids`` (at least two) collude as :class:`ColludingClient`."""
    if not callable(client_fn):
        raise TypeError("client_fn must be a function cid -> Client")
    if isinstance(bad_cids, (str, bytes)) or not hasattr(bad_cids, "__iter__"):
        raise TypeError(f"bad_cids must be a list of client ids, got {type(bad_cids).__name__}")
    bad = sorted({check_integer("each of bad_cids", cid, 0) for cid in bad_cids})
    if len(bad) < 2:
        raise ValueError(f"bad_cids must name at least two clients (a coalition), got {bad}")
    check_number("z", z, 0, hint=" (standard deviations below the mean)")

    def colluding_fn(cid: int) -> Client | ColludingClient:
        client = client_fn(cid)
        return ColludingClient(client, [client_fn(b) for b in bad], z) if cid in bad else client

    return colluding_fn

# --- 4. A defence: clip each update before averaging ---------------------------------------


@dataclass
class NormClippedFedAvg(FedAvg):
    """FedAvg of the updates after clipping each to global L2 norm ``clip_norm`` (Sun et al., 2019,
    "Can you really backdoor FL?").

    A boosted malicious update then weighs no more than an honest one of the bound's length.
    Like the median, it needs each client's update: under secure aggregation only the clients
    could clip, and a malicious client would simply not.
    """

    clip_norm: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("clip_norm", self.clip_norm, 0, min_open=True)

    def aggregate_parameters(self, results: list[FitRes], current: Parameters) -> Parameters:
        if current is None:
            raise ValueError("NormClippedFedAvg needs current (the global parameters the clients started from)")
        clipped = []
        for r in results:
            update = [np.asarray(p, np.float64) - np.asarray(c, np.float64) for p, c in zip(r.parameters, current)]
            small, _ = clip_update(update, self.clip_norm)
            clipped.append(([np.asarray(c, np.float64) + u for c, u in zip(current, small)], r.num_examples))
        return [cast_to(a, np.asarray(c).dtype) for a, c in zip(fedavg(clipped), current)]
