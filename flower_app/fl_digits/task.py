"""Plain ML for the app, with no Flower in it: everything comes from course_utils.

The ClientApp and the ServerApp receive their settings as Flower's run config (a flat dict
with hyphenated keys, from ``[tool.flwr.app.config]`` in pyproject.toml); these functions turn
it into the course's objects, exactly as the course's notebooks build them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.client import Client, make_client_fn
from course_utils.data import CourseData, load_dataset
from course_utils.evaluation import make_evaluate_fn
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid

# The models are tiny: one thread is the fastest, and every process that runs them (the
# notebook, Ray's workers, a SuperNode's ClientApps) then computes them the same way.
torch.set_num_threads(1)

RunConfig = Mapping[str, Any]


@lru_cache(maxsize=None)
def dataset(name: str) -> CourseData:
    """``course_utils.data.load_dataset(name)``, loaded once per process and name: in the simulation engine
    one ClientApp process handles every message of a run, and each message needs the same data."""
    return load_dataset(name)


def model_fn_for(config: RunConfig, data: CourseData) -> Callable[[], nn.Module]:
    """The course's ``model_fn``: a fresh model, initial weights drawn from the run's seed."""
    return lambda: make_model(str(config["model"]), data.input_shape, data.num_classes, seed=int(config["seed"]))


def load_client(config: RunConfig, partition_id: int, num_partitions: int) -> Client:
    """The course's client ``partition_id`` of ``num_partitions`` IID clients (course_utils.partition.iid).

    The same split, local test data and seeds as ``make_client_fn`` gives in the notebooks.
    """
    data = dataset(str(config["dataset"]))
    seed = int(config["seed"])
    partitions = iid(len(data.train), num_partitions, seed=seed)
    client_fn = make_client_fn(
        data.train, partitions, model_fn_for(config, data), test_fraction=float(config["test-fraction"]), seed=seed
    )
    return client_fn(partition_id)


def server_evaluate_fn(config: RunConfig) -> Callable[[int, list[np.ndarray]], tuple[float, dict[str, float]]]:
    """The course's server-side ``evaluate_fn(server_round, parameters) -> (loss, {"accuracy"})`` on the test set."""
    data = dataset(str(config["dataset"]))
    return make_evaluate_fn(model_fn_for(config, data), data.test)


def initial_parameters(config: RunConfig) -> list[np.ndarray]:
    """Step 0: the global model's parameters, a list of NumPy arrays (course_utils.models.get_parameters)."""
    data = dataset(str(config["dataset"]))
    return get_parameters(model_fn_for(config, data)())


def fit_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Flower's per-round train config (hyphenated keys) as the course's fit config."""
    return {
        "server_round": int(config["server-round"]),
        "local_epochs": int(config["local-epochs"]),
        "batch_size": int(config["batch-size"]),
        "learning_rate": float(config["learning-rate"]),
    }
