import numpy as np
import pytest
import torch

from course_utils.models import get_parameters, make_model, num_bytes, set_parameters


def assert_same_parameters(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_cnn_gives_logits_of_shape_batch_by_classes(input_shape):
    model = make_model("cnn", input_shape, num_classes=10)

    logits = model(torch.zeros(3, *input_shape))

    assert logits.shape == (3, 10)


@pytest.mark.parametrize("name", ["mlp", "logistic"])
@pytest.mark.parametrize("input_shape", [(4,), (1, 8, 8)])
def test_flat_models_give_logits_of_shape_batch_by_classes(name, input_shape):
    model = make_model(name, input_shape, num_classes=3)

    logits = model(torch.zeros(5, *input_shape))

    assert logits.shape == (5, 3)


@pytest.mark.parametrize("name", ["cnn", "mlp", "logistic"])
def test_same_seed_gives_same_weights(name):
    first = make_model(name, (1, 8, 8), 10, seed=3)
    second = make_model(name, (1, 8, 8), 10, seed=3)

    assert_same_parameters(get_parameters(first), get_parameters(second))


def test_different_seed_gives_different_weights():
    first = get_parameters(make_model("mlp", (1, 8, 8), 10, seed=0))
    second = get_parameters(make_model("mlp", (1, 8, 8), 10, seed=1))

    assert not np.array_equal(first[0], second[0])


@pytest.mark.parametrize("name", ["cnn", "mlp", "logistic"])
def test_make_model_leaves_global_rng_state_unchanged(name):
    before = torch.random.get_rng_state()

    make_model(name, (1, 8, 8), 10, seed=123)

    assert torch.equal(torch.random.get_rng_state(), before)


def test_make_model_leaves_global_rng_state_unchanged_when_it_raises():
    before = torch.random.get_rng_state()

    with pytest.raises(ValueError):
        make_model("cnn", (1, 8, 6), 10, seed=123)

    assert torch.equal(torch.random.get_rng_state(), before)


def test_get_parameters_gives_state_dict_arrays_in_order():
    model = make_model("mlp", (4,), 3)

    parameters = get_parameters(model)

    state = model.state_dict()
    assert len(parameters) == len(state)
    for array, tensor in zip(parameters, state.values()):
        assert isinstance(array, np.ndarray)
        assert array.shape == tuple(tensor.shape)
        assert array.dtype == np.float32
        assert np.array_equal(array, tensor.numpy())


def test_get_parameters_returns_copies():
    model = make_model("logistic", (4,), 2)
    parameters = get_parameters(model)

    parameters[0] += 1.0

    assert not np.array_equal(get_parameters(model)[0], parameters[0])


def test_set_parameters_then_get_parameters_round_trips():
    source = make_model("cnn", (1, 8, 8), 10, seed=1)
    target = make_model("cnn", (1, 8, 8), 10, seed=2)

    set_parameters(target, get_parameters(source))

    assert_same_parameters(get_parameters(target), get_parameters(source))


def test_set_parameters_copies_so_later_changes_to_the_arrays_do_not_leak_in():
    model = make_model("logistic", (4,), 2)
    parameters = [np.zeros_like(p) for p in get_parameters(model)]

    set_parameters(model, parameters)
    parameters[0] += 1.0

    assert np.all(get_parameters(model)[0] == 0.0)


def test_set_parameters_accepts_float64_and_keeps_model_dtype():
    model = make_model("logistic", (4,), 2)
    parameters = [np.ones(p.shape, dtype=np.float64) for p in get_parameters(model)]

    set_parameters(model, parameters)

    assert all(p.dtype == np.float32 and np.all(p == 1.0) for p in get_parameters(model))


# --- bad input -------------------------------------------------------------------------------


def test_make_model_rejects_unknown_name():
    with pytest.raises(ValueError, match="name"):
        make_model("resnet", (1, 8, 8), 10)


def test_make_model_rejects_fewer_than_two_classes():
    with pytest.raises(ValueError, match="num_classes"):
        make_model("mlp", (4,), 1)


@pytest.mark.parametrize("input_shape", [(64,), (1, 8, 6)])
def test_make_model_rejects_non_square_image_shape_for_cnn(input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        make_model("cnn", input_shape, 10)


def wrong_length(parameters):
    return parameters[:-1]


def wrong_shape(parameters):
    return [np.zeros((3, 3), dtype=np.float32)] + parameters[1:]


def with_nan(parameters):
    return parameters[:-1] + [np.full_like(parameters[-1], np.nan)]


def with_inf(parameters):
    return parameters[:-1] + [np.full_like(parameters[-1], np.inf)]


@pytest.mark.parametrize("corrupt", [wrong_length, wrong_shape, with_nan, with_inf])
def test_set_parameters_rejects_bad_list_and_leaves_model_unchanged(corrupt):
    model = make_model("mlp", (4,), 3, seed=0)
    before = get_parameters(model)
    good = get_parameters(make_model("mlp", (4,), 3, seed=1))

    with pytest.raises(ValueError, match="parameters"):
        set_parameters(model, corrupt(good))

    assert_same_parameters(get_parameters(model), before)


# --- num_bytes -------------------------------------------------------------------------------


def test_num_bytes_counts_four_bytes_per_float32_and_eight_per_float64():
    assert num_bytes([np.zeros((3, 4), dtype=np.float32)]) == 48
    assert num_bytes([np.zeros((3, 4), dtype=np.float64)]) == 96


def test_num_bytes_adds_up_every_array_of_the_list():
    parameters = [np.zeros((2, 5), dtype=np.float32), np.zeros(5, dtype=np.float64), np.zeros(0, dtype=np.float32)]

    assert num_bytes(parameters) == 40 + 40 + 0
    assert num_bytes([]) == 0


def test_num_bytes_of_a_model_is_four_bytes_per_weight():
    parameters = get_parameters(make_model("logistic", (4,), 2))  # 4 x 2 weights + 2 biases

    size = num_bytes(parameters)

    assert size == 4 * 10
    assert type(size) is int


def test_check_device_accepts_the_cpu():
    from course_utils.models import check_device

    assert check_device("cpu") == torch.device("cpu")
    assert check_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad, error, message", [
    ("gpu", ValueError, "device must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    ("meta", ValueError, "device must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    (0.5, TypeError, "device must be a string"),
])
def test_check_device_refuses_what_is_not_a_device(bad, error, message):
    from course_utils.models import check_device

    with pytest.raises(error, match=message):
        check_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_says_so():
    with pytest.raises(ValueError, match="no GPU that torch .* can use .*use device='cpu'"):
        make_model("mlp", (4,), 2, device="cuda")


def test_make_model_on_the_cpu_by_default_with_the_same_weights_as_asked_for():
    default, asked = make_model("cnn", (1, 8, 8), 10, seed=3), make_model("cnn", (1, 8, 8), 10, seed=3, device="cpu")
    assert all(w.device.type == "cpu" for w in default.parameters())
    assert all(torch.equal(a, b) for a, b in zip(default.parameters(), asked.parameters()))
