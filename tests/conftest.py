"""Tiny synthetic data and models shared by the tests: everything here builds in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils.client import make_client_fn
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid

# The tests train tiny models, for which a second thread only adds overhead; on a busy 2-core
# machine torch's waiting threads made the suite about ten times slower (25 s instead of 3 s).
torch.set_num_threads(1)


def make_feature_data(num_examples: int = 40, seed: int = 0) -> TensorDataset:
    """Two linearly separable classes of 4 features: the label is the sign of feature 0 (margin 2)."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(num_examples) % 2
    x = torch.randn(num_examples, 4, generator=generator)
    x[:, 0] = torch.where(y == 1, 2.0, -2.0) + 0.5 * x[:, 0]
    return TensorDataset(x, y.to(torch.int64))


def make_image_data(num_examples: int = 40, num_classes: int = 4, seed: int = 0) -> TensorDataset:
    """Grey 8x8 images of ``num_classes`` classes; class c brightens row c, so they can be told apart."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(num_examples) % num_classes
    x = 0.1 * torch.randn(num_examples, 1, 8, 8, generator=generator)
    x[torch.arange(num_examples), 0, y, :] += 1.0
    return TensorDataset(x, y.to(torch.int64))


@pytest.fixture
def feature_data() -> TensorDataset:
    return make_feature_data()


@pytest.fixture
def image_data() -> TensorDataset:
    return make_image_data()


@pytest.fixture
def logistic_fn():
    """Builds a logistic regression for ``feature_data`` (4 features, 2 classes)."""
    return lambda: make_model("logistic", (4,), 2, seed=0)


@pytest.fixture
def sorted_labels() -> np.ndarray:
    """200 labels, 20 of each of 10 classes, sorted by class."""
    return np.repeat(np.arange(10), 20)


SMALL_POPULATION = 4  # the clients of the simulation and fault tests


@pytest.fixture
def client_fn(feature_data, logistic_fn):
    """``SMALL_POPULATION`` IID clients over ``feature_data``, each with a local test split."""
    return make_client_fn(feature_data, iid(len(feature_data), SMALL_POPULATION, seed=0), logistic_fn, seed=0)


@pytest.fixture
def initial_parameters(logistic_fn):
    return get_parameters(logistic_fn())
