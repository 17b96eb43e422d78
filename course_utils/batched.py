"""Many clients trained as one computation: the batched path of ``run_simulation``.

The sequential path (``Client.fit`` for one client after another) is the readable reference;
notebook 02's hand-written round matches it. This module gives the same result for a group of
the course's own clients at once: their parameters are stacked along a new first dimension
(one slice per client), ``torch.func.vmap`` runs the model on each client's own mini-batch
with its own slice (``torch.func.functional_call``), and one backward pass over the sum of the
clients' losses gives every client its own gradient, since no client's loss depends on another
client's slice.

Each client draws its mini-batches exactly as ``Client.fit`` does (the same seed, the same
``torch.randperm`` order, the same batch sizes, the last batch of a pass smaller), so the two
paths train on the same examples in the same order and agree to float rounding (about 1e-6).
At step ``t`` the clients' batches are padded only to the largest batch *at that step*
(1,000 clients holding two digits each are padded to 2, not to the batch size), and a client
that has finished its steps drops out of the computation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.utils.data import TensorDataset

from course_utils.client import DEFAULT_FIT_CONFIG, FIT_CONFIG_KEYS, Client, check_config, client_seed
from course_utils.models import MLP, LogisticRegression, SmallCNN, set_parameters
from course_utils.training import model_device

Parameters = list[np.ndarray]

BATCHED_MIN_CLIENTS = 64  # rounds of fewer clients stay sequential (why: run_simulation's docstring)
BATCHED_CHUNK = 512  # clients in one batched computation at most: larger chunks were slower per example (memory-bound)
COURSE_MODELS = (SmallCNN, MLP, LogisticRegression)


def batchable_reason(client: Any, model: nn.Module | None = None, strict: bool = True) -> str | None:
    """Why ``client`` cannot be trained on the batched path, or None if it can.

    It can if it is the course's own :class:`~course_utils.client.Client` (not a subclass or a
    wrapper: faults, poisoned and custom clients keep their own ``fit``), its training data is
    (inputs, integer labels), and its model has parameters only (no buffers, as batch norm
    keeps). With ``strict`` (what ``batched="auto"`` uses) the model must also be one of the
    course's models, whose forward pass has no randomness and no train/eval difference.
    """
    if type(client) is not Client:
        return f"it is a {type(client).__name__}, not the course's own Client"
    if len(client.train_data.tensors) != 2 or client.train_data.tensors[1].dtype != torch.int64:
        return "its train_data is not (inputs, int64 labels)"
    model = client.model_fn() if model is None else model
    if strict and type(model) not in COURSE_MODELS:
        names = [m.__name__ for m in COURSE_MODELS]
        return f"its model is a {type(model).__name__}, not one of the course's models {names}"
    if len(model.state_dict()) != len(list(model.parameters())):
        return "its model has buffers (state besides its parameters)"
    return None


def batch_plan(num_examples: int, steps: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """The example indices of each of one client's ``steps`` mini-batches, drawn as ``training.train`` draws them.

    A pass is ``torch.randperm(num_examples)`` from a generator seeded with ``seed``, cut into
    batches of ``batch_size`` (the last one smaller); passes repeat until ``steps`` batches.
    """
    generator = torch.Generator().manual_seed(seed)
    plan: list[np.ndarray] = []
    while len(plan) < steps:
        order = torch.randperm(num_examples, generator=generator).numpy()
        plan.extend(order[start : start + batch_size] for start in range(0, num_examples, batch_size))
    return plan[:steps]


def _local_steps(num_examples: int, config: dict) -> int:
    if config.get("local_steps") is not None:
        return int(config["local_steps"])
    return int(config["local_epochs"]) * -(-num_examples // int(config["batch_size"]))


def _index_tables(clients: list[Client], config: dict, pad_row: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Example rows ``(steps, clients, largest batch)`` (padding: ``pad_row``), batch sizes, steps per client."""
    batch_size = int(config["batch_size"])
    sizes = [len(c.train_data) for c in clients]
    steps = [_local_steps(n, config) for n in sizes]
    width = min(batch_size, max(sizes))
    rows = np.full((max(steps), len(clients), width), pad_row, dtype=np.int64)
    counts = np.zeros((max(steps), len(clients)), dtype=np.int64)
    offset = 0
    for k, client in enumerate(clients):
        seed = client_seed(int(config.get("seed", client.seed)), client.cid, int(config.get("server_round", 0)))
        for t, batch in enumerate(batch_plan(sizes[k], steps[k], batch_size, seed)):
            rows[t, k, : batch.size] = batch + offset
            counts[t, k] = batch.size
        offset += sizes[k]
    return rows, counts, steps


def _client_loss(model: nn.Module, mu: float):
    """The loss of one client on one (padded) batch, as ``train`` computes it: mean cross-entropy (+ FedProx)."""

    def loss(params, start, x, y, weight):
        logits = functional_call(model, params, (x,))
        ce = -torch.log_softmax(logits, dim=1).gather(1, y[:, None])[:, 0]  # cross_entropy has no fast vmap rule
        data_loss = (ce * weight).sum() / weight.sum()
        if mu > 0:
            penalty = mu / 2 * sum(((params[n] - start[n]) ** 2).sum() for n in params)
            return data_loss + penalty, data_loss
        return data_loss, data_loss

    return loss


def _sgd_step(model: nn.Module, stacked: dict, start: dict, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
              chosen: torch.Tensor | None, lr: float, mu: float) -> torch.Tensor:
    """One SGD step of the clients at rows ``chosen`` of ``stacked`` (None: all), in place; their batch losses.

    ``x``, ``y``, ``weight``: (clients, width, ...) padded batches, weight 1 for an example, 0 for padding.
    """
    params = {n: (w if chosen is None else w[chosen]).detach().requires_grad_(True) for n, w in stacked.items()}
    losses, data_losses = vmap(_client_loss(model, mu), in_dims=(0, None, 0, 0, 0))(params, start, x, y, weight)
    grads = torch.autograd.grad(losses.sum(), list(params.values()))
    with torch.no_grad():
        for w, g in zip(stacked.values(), grads):
            if chosen is None:
                w.add_(g, alpha=-lr)
            else:
                w.index_add_(0, chosen, g, alpha=-lr)
    return data_losses.detach()


def fit_batched(clients: list[Client], parameters: Parameters,
                config: dict) -> list[tuple[Parameters, int, dict[str, float]]]:
    """``[client.fit(parameters, config) for client in clients]``, computed as one batched training run.

    ``clients``: the course's own clients sharing one architecture (see :func:`split_batchable`;
    a ``ValueError`` names one that is not); their data stays on the CPU and moves to the model's
    device batch by batch. Returns, per client, (new parameters, number of training examples,
    ``{"train_loss"}``), as ``Client.fit`` does, equal to it within float rounding.
    """
    if not isinstance(clients, (list, tuple)) or len(clients) == 0:
        raise ValueError(f"clients must be a non-empty list of Client, got {clients!r:.80}")
    apart = split_batchable(list(clients), strict=False)[1]
    if apart:
        i, reason = next(iter(apart.items()))
        raise ValueError(f"clients[{i}] cannot be trained on the batched path: {reason}")
    check_config(config, FIT_CONFIG_KEYS)
    config = {**DEFAULT_FIT_CONFIG, **config}
    model = clients[0].model_fn()
    set_parameters(model, parameters)  # checks the parameters as Client.fit does
    model.train()
    device = model_device(model)
    start = {name: w.detach() for name, w in model.named_parameters()}
    stacked = {name: w.unsqueeze(0).repeat(len(clients), *([1] * w.ndim)) for name, w in start.items()}
    padding = torch.zeros_like(clients[0].train_data.tensors[0][:1])  # the one row every padded slot reads
    inputs = torch.cat([c.train_data.tensors[0] for c in clients] + [padding])
    labels = torch.cat([c.train_data.tensors[1] for c in clients] + [torch.zeros(1, dtype=torch.int64)])
    rows, counts, steps = _index_tables(clients, config, pad_row=len(inputs) - 1)
    total_loss = np.zeros(len(clients))
    for t in range(rows.shape[0]):
        active = np.flatnonzero(counts[t])
        width = int(counts[t].max())
        idx = torch.from_numpy(rows[t, active, :width])
        weight = (torch.arange(width) < torch.from_numpy(counts[t, active])[:, None]).to(device, torch.float32)
        chosen = None if active.size == len(clients) else torch.from_numpy(active).to(device)
        losses = _sgd_step(model, stacked, start, inputs[idx].to(device), labels[idx].to(device), weight, chosen,
                           float(config["learning_rate"]), float(config.get("proximal_mu", 0.0)))
        total_loss[active] += losses.cpu().numpy().astype(np.float64)
    arrays = [w.detach().cpu().numpy() for w in stacked.values()]  # the arrays now own the stacked tensors' memory
    return [([a[k] for a in arrays], len(c.train_data), {"train_loss": float(total_loss[k] / steps[k])})
            for k, c in enumerate(clients)]


def _same_architecture(model: nn.Module, reference: nn.Module) -> bool:
    if model is reference:
        return True
    shapes = lambda m: [(n, tuple(w.shape), w.dtype, w.device) for n, w in m.named_parameters()]  # noqa: E731
    return type(model) is type(reference) and shapes(model) == shapes(reference)


def _fits_model(client: Client, reference: Client, num_classes: int) -> bool:
    """Whether ``client``'s data has the reference client's input shape and labels in ``range(num_classes)``."""
    x, y = client.train_data.tensors
    x_reference = reference.train_data.tensors[0]
    return (x.shape[1:] == x_reference.shape[1:] and x.dtype == x_reference.dtype
            and int(y.min()) >= 0 and int(y.max()) < num_classes)


def _num_outputs(model: nn.Module, data: TensorDataset) -> int | None:
    """The number of logits ``model`` gives for one example of ``data``, or None if the example does not fit it."""
    try:
        with torch.no_grad():
            logits = model(data.tensors[0][:1].to(model_device(model)))
    except RuntimeError:
        return None
    return int(logits.shape[1]) if logits.ndim == 2 else None


def split_batchable(clients: list[Client], strict: bool) -> tuple[list[int], dict[int, str]]:
    """Positions in ``clients`` of those that can train together, and ``{position: why not}`` for the others.

    Together: clients that :func:`batchable_reason` accepts, with the architecture of the first
    of them and data that fits it. A client whose data would make ``Client.fit`` raise (another
    input shape, labels the model has no output for) is left to ``Client.fit``, which says why.
    """
    together: list[int] = []
    apart: dict[int, str] = {}
    reference: tuple[Client, nn.Module, int] | None = None
    for i, client in enumerate(clients):
        model = client.model_fn() if type(client) is Client else None
        if reference is not None and model is reference[1]:  # the shared workspace of make_client_fn: checked once
            reason = None if len(client.train_data.tensors) == 2 else "its train_data is not (inputs, labels)"
        else:
            reason = batchable_reason(client, model, strict)
        if reason is None and reference is None:
            num_classes = _num_outputs(model, client.train_data)
            if num_classes is None:
                reason = "its data does not fit its model, or the model does not return (batch, num_classes) logits"
            else:
                reference = (client, model, num_classes)
        elif reason is None and not _same_architecture(model, reference[1]):
            reason = "its model differs from the first batched client's"
        if reason is None and not _fits_model(client, reference[0], reference[2]):
            reason = "its data does not fit the model (input shape, or labels outside its outputs)"
        if reason is None:
            together.append(i)
        else:
            apart[i] = reason
    return together, apart
