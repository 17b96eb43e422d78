"""The shared argument checks: what they accept, what they refuse, and how they say it."""

import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils.checks import check_callable, check_dataset, check_indices, check_integer, check_number, check_seed


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_integer_accepts_python_and_numpy_integers(value):
    assert check_integer("n", value, 1) == 3
    assert type(check_integer("n", value, 1)) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, "3", None])
def test_check_integer_refuses_other_types_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"^n must be a positive integer, got"):
        check_integer("n", value, 1)


@pytest.mark.parametrize(("minimum", "maximum", "value", "allowed"), [
    (1, None, 0, "a positive integer"),
    (0, None, -1, "an integer >= 0"),
    (2, None, 1, "an integer >= 2"),
    (1, 10, 11, r"an integer in \[1, 10\]"),
])
def test_check_integer_states_the_allowed_range(minimum, maximum, value, allowed):
    with pytest.raises(ValueError, match=rf"^n must be {allowed}, got {value}$"):
        check_integer("n", value, minimum, maximum)
    check_integer("n", minimum, minimum, maximum)  # the bound itself is allowed


@pytest.mark.parametrize(("kwargs", "bad", "good", "allowed"), [
    ({"minimum": 0, "min_open": True}, 0, 1e-9, "> 0"),
    ({"minimum": 0}, -1e-9, 0, ">= 0"),
    ({"minimum": 0, "maximum": 1, "min_open": True}, 0, 1, r"in \(0, 1\]"),
    ({"minimum": 0, "maximum": 0.5, "max_open": True}, 0.5, 0, r"in \[0, 0\.5\)"),
    ({"maximum": 1, "max_open": True}, 1, -5, "< 1"),
])
def test_check_number_open_and_closed_bounds(kwargs, bad, good, allowed):
    with pytest.raises(ValueError, match=rf"x must be a finite number {allowed}, got"):
        check_number("x", bad, **kwargs)
    assert check_number("x", good, **kwargs) == good


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_number_refuses_nan_and_infinity(value):
    with pytest.raises(ValueError, match="x must be a finite number"):
        check_number("x", value)


@pytest.mark.parametrize("value", [True, "0.1", None, [0.1], torch.tensor(0.1)])
def test_check_number_refuses_non_numbers_with_a_type_error(value):
    with pytest.raises(TypeError, match="x must be a finite number"):
        check_number("x", value)


def test_check_number_returns_a_float_for_numpy_and_int_input():
    assert check_number("x", np.float32(0.5)) == 0.5
    assert type(check_number("x", 2)) is float


def test_check_seed_names_its_argument():
    assert check_seed(np.uint32(2**32 - 1)) == 2**32 - 1
    with pytest.raises(ValueError, match=r"client_seed must be an integer >= 0"):
        check_seed(-1, "client_seed")


def test_check_callable_says_what_is_expected():
    check_callable("fn", len, "a function")
    with pytest.raises(TypeError, match=r"fn must be callable \(a function x -> y\), got int 3"):
        check_callable("fn", 3, "a function x -> y")


def test_check_dataset_refuses_other_types_and_empty_data():
    check_dataset(TensorDataset(torch.zeros(1, 2)))
    with pytest.raises(TypeError, match="test_data must be a TensorDataset, got list"):
        check_dataset([1], "test_data")
    with pytest.raises(ValueError, match="test_data is empty"):
        check_dataset(TensorDataset(torch.zeros(0, 2)), "test_data")


def test_check_indices_returns_int64_and_allows_none():
    assert check_indices("idx", [2, 0], 3).dtype == np.int64
    assert check_indices("idx", [], 3).shape == (0,)


@pytest.mark.parametrize(("indices", "error", "match"), [
    ([3], ValueError, r"idx must hold indices in \[0, 2\], got values from 3 to 3"),
    ([-1, 0], ValueError, r"idx must hold indices in \[0, 2\]"),
    ([0.0, 1.0], TypeError, "idx must hold integer example indices, got dtype float64"),
    ([True, False], TypeError, "idx must hold integer example indices, got dtype bool"),
    ([[0], [1]], ValueError, r"idx must be a 1-D array of example indices, got shape \(2, 1\)"),
])
def test_check_indices_refuses_bad_indices(indices, error, match):
    with pytest.raises(error, match=match):
        check_indices("idx", indices, 3)
