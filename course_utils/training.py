"""Plain machine learning: train a model on a dataset, evaluate it. No FL in this module.

Mini-batches are drawn by shuffling indices with a seeded ``torch.Generator``, so the same
seed gives the same batches, and the global random state is never touched.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.checks import check_dataset, check_integer, check_number, check_seed


def _check_model(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")


def _check_labels_fit(labels: torch.Tensor, logits: torch.Tensor) -> None:
    """Raise unless the model gives (batch, num_classes) logits and every label is in ``range(num_classes)``."""
    if logits.ndim != 2:
        raise ValueError(f"model must return logits of shape (batch, num_classes), got shape {tuple(logits.shape)}")
    num_classes = logits.shape[1]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"data has labels from {int(labels.min())} to {int(labels.max())}, but the model gives {num_classes} "
            f"outputs: labels must be in [0, {num_classes - 1}] (one output per class)"
        )


def model_device(model: nn.Module) -> torch.device:
    """The device that ``model``'s parameters are on (the CPU for a model without parameters)."""
    return next((w.device for w in model.parameters()), torch.device("cpu"))


def _logits(model: nn.Module, x: torch.Tensor, data: TensorDataset, first: bool) -> torch.Tensor:
    """``model(x)``; on the ``first`` batch, also check that ``data``'s inputs and labels fit the model."""
    try:
        logits = model(x)
    except RuntimeError as error:  # e.g. "mat1 and mat2 shapes cannot be multiplied"
        raise ValueError(
            f"data: inputs of shape {tuple(x.shape[1:])} do not fit the model ({str(error).splitlines()[0]})"
        ) from None
    if first:
        _check_labels_fit(data.tensors[1], logits)
    return logits


def batches(data: TensorDataset, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
    """One shuffled pass over ``data`` in mini-batches of ``batch_size`` (the last may be smaller)."""
    check_integer("batch_size", batch_size, 1)  # now, not at the first next()
    order = torch.randperm(len(data), generator=generator)
    starts = range(0, len(data), batch_size)
    return (tuple(t[order[start : start + batch_size]] for t in data.tensors) for start in starts)


@torch.no_grad()
def sgd_step(model: nn.Module, lr: float) -> None:
    """One step of plain SGD on every parameter that has a gradient: ``w <- w - lr * w.grad``."""
    check_number("lr", lr, 0, min_open=True)
    for weight in model.parameters():
        if weight.grad is not None:
            weight.add_(weight.grad, alpha=-lr)


def proximal_term(model: nn.Module, start: list[torch.Tensor], mu: float) -> torch.Tensor:
    """FedProx's penalty ``mu / 2 * sum ||w - w_start||^2`` over the model's parameters."""
    check_number("mu", mu, 0)
    return mu / 2 * sum(((w - w0) ** 2).sum() for w, w0 in zip(model.parameters(), start))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of the mini-batch order of ``epoch`` in a run with ``seed``, for training one epoch at a time.

    Different for every (seed, epoch) pair: ``seed + epoch`` would give seed 0's second epoch
    the order of seed 1's first, so runs at neighbouring seeds would share shuffles.
    """
    check_seed(seed)
    check_integer("epoch", epoch, 0)
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train(
    model: nn.Module,
    data: TensorDataset,
    *,
    epochs: int = 1,
    steps: int | None = None,
    batch_size: int = 32,
    lr: float = 0.1,
    seed: int = 0,
    proximal_mu: float = 0.0,
) -> dict[str, float]:
    """Train ``model`` in place with plain SGD (``w <- w - lr * gradient``) and cross-entropy loss.

    Runs where the model is (``data`` stays on the CPU; each mini-batch moves to the model's
    device). Runs ``epochs`` passes over ``data``, or exactly ``steps`` mini-batch steps if ``steps``
    is given (cycling through the data as needed). With ``proximal_mu > 0`` the loss gets
    FedProx's proximal term ``mu / 2 * ||w - w_start||^2`` (Li et al., 2020), which pulls the
    weights towards where training started. Returns ``{"loss": mean training loss (without
    the proximal term), "steps": number of SGD steps}``. Bad arguments raise a TypeError or
    ValueError naming them before any step; so does ``data`` whose inputs or labels do not fit
    the model (checked on the first batch).
    """
    _check_model(model)
    check_dataset(data)
    check_integer("batch_size", batch_size, 1)
    check_number("lr", lr, 0, min_open=True)
    check_integer("epochs", epochs, 1)
    if steps is not None:
        check_integer("steps", steps, 1)
    check_number("proximal_mu", proximal_mu, 0)
    check_seed(seed)
    if lr * proximal_mu >= 2:
        raise ValueError(
            f"proximal_mu must be below 2 / lr = {2 / lr:g} (got {proximal_mu}): "
            "a larger pull makes SGD overshoot and diverge"
        )
    start = [w.detach().clone() for w in model.parameters()] if proximal_mu > 0 else []
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    total_loss, done = 0.0, 0
    target = steps if steps is not None else epochs * -(-len(data) // batch_size)
    device = model_device(model)
    while done < target:
        for x, y in batches(data, batch_size, generator):
            x, y = x.to(device), y.to(device)  # the same tensors on the CPU
            model.zero_grad()
            loss = loss_fn(_logits(model, x, data, first=done == 0), y)
            penalty = proximal_term(model, start, proximal_mu) if proximal_mu > 0 else 0.0
            (loss + penalty).backward()
            sgd_step(model, lr)
            total_loss += loss.item()
            done += 1
            if done == target:
                break
    return {"loss": total_loss / done, "steps": float(done)}


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 512) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (a fraction in [0, 1]) of ``model`` on ``data``, on the model's device."""
    _check_model(model)
    check_dataset(data)
    check_integer("batch_size", batch_size, 1)
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total_loss, correct = 0.0, 0
    x_all, y_all = data.tensors
    device = model_device(model)
    for start in range(0, len(data), batch_size):
        x, y = x_all[start : start + batch_size].to(device), y_all[start : start + batch_size].to(device)
        logits = _logits(model, x, data, first=start == 0)
        total_loss += loss_fn(logits, y).item()
        correct += (logits.argmax(dim=1) == y).sum().item()
    return total_loss / len(data), correct / len(data)
