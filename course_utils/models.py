"""Models small enough for a laptop CPU, and the bridge between a model and NumPy arrays.

In FL the server and the clients exchange *parameters*: a list of NumPy arrays, one per
tensor of the model's ``state_dict``, in its order.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from course_utils.checks import check_integer, check_seed

MODELS = ("cnn", "mlp", "logistic")


class SmallCNN(nn.Module):
    """Two 3x3 conv layers (16 and 32 channels) with 2x2 max-pooling, then a linear classifier.

    Input (batch, channels, height, width); output logits (batch, num_classes). Pooling is
    skipped for images smaller than 16 pixels, so 8x8 digits and 32x32 CIFAR both fit.
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__()
        pool = image_size >= 16
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2) if pool else nn.Identity(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4 if pool else image_size // 2
        self.classifier = nn.Linear(32 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class MLP(nn.Module):
    """Flatten, one hidden ReLU layer, linear output: (batch, *input_shape) -> (batch, num_classes)."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LogisticRegression(nn.Module):
    """Multinomial logistic regression: flatten, then one linear layer giving logits."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def check_device(device: str | torch.device) -> torch.device:
    """``device`` ("cpu", "cuda", "cuda:1", "mps" or a ``torch.device``) as a ``torch.device``, if this machine has it.

    A device that this machine (or this build of torch) does not have raises a ``ValueError``
    that says so, rather than failing later inside a training step.
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', or a torch.device, "
                        f"got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device={str(device)!r} was asked for, but this machine has no GPU that torch "
                             f"{torch.__version__} can use (torch.cuda.is_available() is False); use device='cpu'")
        if (device.index or 0) >= count:
            raise ValueError(f"device={str(device)!r} was asked for, but this machine has {count} GPU(s): "
                             f"use cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device='mps' was asked for, but this machine has no Apple GPU that torch can use; "
                             "use device='cpu'")
    elif device.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {str(device)!r}")
    return device


def make_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int = 0,
               device: str | torch.device = "cpu") -> nn.Module:
    """Build model ``name`` (one of ``MODELS``) with weights drawn from ``seed``, on ``device``.

    The weights are drawn on the CPU and then moved, so a seed gives the same starting model
    on every device. ``device`` defaults to the CPU, where stored results reproduce; training
    (``training.train``, the clients, the batched path) runs where the model is. The global
    torch random state is left untouched.
    """
    if name not in MODELS:
        raise ValueError(f"name must be one of {MODELS}, got {name!r}")
    input_shape = _check_input_shape(input_shape, name)
    check_integer("num_classes", num_classes, 2)
    check_seed(seed)
    device = check_device(device)
    with torch.random.fork_rng(devices=[]):  # restores the CPU random state afterwards
        torch.random.default_generator.manual_seed(seed)  # CPU only: weights are drawn on the CPU
        if name == "cnn":
            model = SmallCNN(input_shape[0], input_shape[1], num_classes)
        elif name == "mlp":
            model = MLP(math.prod(input_shape), num_classes)
        else:
            model = LogisticRegression(math.prod(input_shape), num_classes)
    return model.to(device)


def _check_input_shape(input_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    """``input_shape`` as a tuple if it is a non-empty tuple of positive integers that model ``name`` can take."""
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple of positive integers such as (1, 8, 8), got {input_shape!r}")
    if len(input_shape) == 0:
        raise ValueError("input_shape must be a non-empty tuple of positive integers such as (1, 8, 8), got ()")
    for i, size in enumerate(input_shape):
        check_integer(f"input_shape[{i}]", size, 1)  # the message names input_shape and "positive integer"
    if name == "cnn" and (len(input_shape) != 3 or input_shape[1] != input_shape[2]):
        raise ValueError(f"input_shape must be (channels, size, size) for the cnn, got {tuple(input_shape)}")
    if name == "cnn" and input_shape[1] < 2:
        raise ValueError(f"input_shape must have images of at least 2x2 pixels for the cnn, got {tuple(input_shape)}")
    return tuple(int(size) for size in input_shape)


def _check_parameter_list(parameters: list[np.ndarray]) -> None:
    if not isinstance(parameters, (list, tuple)):
        raise TypeError(
            f"parameters must be a list of NumPy arrays (one per model tensor), got {type(parameters).__name__}"
        )


def get_parameters(model: nn.Module) -> list[np.ndarray]:
    """The model's tensors as a list of NumPy arrays (copies), in ``state_dict`` order."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
    return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]


def set_parameters(model: nn.Module, parameters: list[np.ndarray]) -> None:
    """Load ``parameters`` (as from :func:`get_parameters`) into ``model``, in place.

    Checks the number of arrays, each shape, and that every value is finite, before
    changing anything: a bad list leaves the model as it was.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
    _check_parameter_list(parameters)
    state = model.state_dict()
    if len(parameters) != len(state):
        raise ValueError(f"parameters must hold {len(state)} arrays for this model, got {len(parameters)}")
    for i, ((key, tensor), array) in enumerate(zip(state.items(), parameters)):
        array = np.asarray(array)
        if array.shape != tuple(tensor.shape):
            raise ValueError(f"parameters[{i}] ({key}) must have shape {tuple(tensor.shape)}, got {array.shape}")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise TypeError(f"parameters[{i}] ({key}) must hold numbers, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"parameters[{i}] ({key}) contains NaN or infinite values")
    new_state = {key: torch.as_tensor(np.asarray(a), dtype=t.dtype) for (key, t), a in zip(state.items(), parameters)}
    model.load_state_dict(new_state)


def num_bytes(parameters: list[np.ndarray]) -> int:
    """The size of ``parameters`` in bytes as sent over a network, uncompressed."""
    _check_parameter_list(parameters)
    return int(sum(np.asarray(array).nbytes for array in parameters))
