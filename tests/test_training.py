import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils.models import get_parameters, make_model
from course_utils.training import batches, evaluate, sgd_step, train


def count_forward_calls(model):
    """Attach a counter of forward passes to ``model``; returns a one-element list holding the count."""
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_batches_cover_every_example_once_in_batches_of_the_given_size(feature_data):
    generator = torch.Generator().manual_seed(0)

    xs, ys = zip(*batches(feature_data, 16, generator))

    assert [len(y) for y in ys] == [16, 16, 8]
    assert torch.equal(torch.sort(torch.cat(ys)).values, torch.sort(feature_data.tensors[1]).values)
    assert sum(len(x) for x in xs) == len(feature_data)


def test_same_seed_gives_same_trained_weights(image_data):
    first = make_model("cnn", (1, 8, 8), 4, seed=0)
    second = make_model("cnn", (1, 8, 8), 4, seed=0)

    train(first, image_data, epochs=2, batch_size=8, seed=5)
    train(second, image_data, epochs=2, batch_size=8, seed=5)

    for a, b in zip(get_parameters(first), get_parameters(second)):
        assert np.array_equal(a, b)


def test_different_seed_gives_different_trained_weights(image_data):
    first = make_model("mlp", (1, 8, 8), 4, seed=0)
    second = make_model("mlp", (1, 8, 8), 4, seed=0)

    train(first, image_data, epochs=1, batch_size=8, seed=0)
    train(second, image_data, epochs=1, batch_size=8, seed=1)

    assert not np.array_equal(get_parameters(first)[0], get_parameters(second)[0])


@pytest.mark.parametrize("steps", [1, 2, 3, 7])
def test_steps_gives_exactly_that_many_steps(steps, feature_data):
    # 40 examples in batches of 16 make 3 batches per epoch: 7 steps needs a third pass.
    model = make_model("logistic", (4,), 2)
    calls = count_forward_calls(model)

    stats = train(model, feature_data, steps=steps, batch_size=16)

    assert calls[0] == steps
    assert stats["steps"] == steps


def test_epochs_give_one_step_per_batch_per_epoch(feature_data):
    model = make_model("logistic", (4,), 2)
    calls = count_forward_calls(model)

    stats = train(model, feature_data, epochs=2, batch_size=16)

    assert calls[0] == 6
    assert stats["steps"] == 6


def test_training_lowers_loss_on_separable_toy_problem(feature_data):
    model = make_model("logistic", (4,), 2)
    loss_before, _ = evaluate(model, feature_data)

    train(model, feature_data, epochs=20, batch_size=8, lr=0.1)

    loss_after, accuracy_after = evaluate(model, feature_data)
    assert loss_after < 0.5 * loss_before
    assert accuracy_after == 1.0


def test_train_returns_mean_loss_and_steps(feature_data):
    stats = train(make_model("logistic", (4,), 2), feature_data, epochs=1, batch_size=16)

    assert set(stats) == {"loss", "steps"}
    assert stats["loss"] > 0
    assert stats["steps"] == 3.0


def test_train_leaves_global_rng_state_unchanged(feature_data):
    model = make_model("logistic", (4,), 2)
    before = torch.random.get_rng_state()

    train(model, feature_data, epochs=1)

    assert torch.equal(torch.random.get_rng_state(), before)


def test_evaluate_returns_loss_and_accuracy_in_unit_interval(image_data):
    loss, accuracy = evaluate(make_model("cnn", (1, 8, 8), 4), image_data)

    assert loss > 0
    assert 0.0 <= accuracy <= 1.0


def test_evaluate_accuracy_by_hand():
    # Logistic regression with zero weights and bias (0, 1) always predicts class 1.
    model = make_model("logistic", (4,), 2)
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.bias.copy_(torch.tensor([0.0, 1.0]))
    data = TensorDataset(torch.zeros(4, 4), torch.tensor([1, 1, 1, 0]))

    loss, accuracy = evaluate(model, data)

    assert accuracy == 0.75
    expected_loss = (3 * np.log(1 + np.exp(-1.0)) + np.log(1 + np.exp(1.0))) / 4
    assert loss == pytest.approx(expected_loss, rel=1e-6)


def test_evaluate_does_not_depend_on_batch_size(image_data):
    model = make_model("cnn", (1, 8, 8), 4)

    loss_small, accuracy_small = evaluate(model, image_data, batch_size=7)
    loss_large, accuracy_large = evaluate(model, image_data, batch_size=512)

    assert accuracy_small == accuracy_large
    assert loss_small == pytest.approx(loss_large, rel=1e-5)


# --- bad input -------------------------------------------------------------------------------


def empty_data():
    return TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))


def test_train_rejects_empty_data():
    with pytest.raises(ValueError, match="data"):
        train(make_model("logistic", (4,), 2), empty_data())


def test_evaluate_rejects_empty_data():
    with pytest.raises(ValueError, match="data"):
        evaluate(make_model("logistic", (4,), 2), empty_data())


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"epochs": 0}, "epochs"),
        ({"steps": 0}, "steps"),
        ({"steps": -2}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -0.1}, "lr"),
    ],
)
def test_train_rejects_bad_arguments(kwargs, argument, feature_data):
    with pytest.raises(ValueError, match=argument):
        train(make_model("logistic", (4,), 2), feature_data, **kwargs)


# --- sgd_step --------------------------------------------------------------------------------


def linear_model(weight, bias):
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weight]))
        model.bias.copy_(torch.tensor([bias]))
    return model


def test_sgd_step_moves_each_weight_by_minus_lr_times_its_gradient():
    model = linear_model([1.0, 2.0], 0.5)
    model(torch.tensor([[1.0, 3.0]])).sum().backward()  # d/dw = x = [1, 3], d/db = 1

    sgd_step(model, lr=0.5)

    assert torch.equal(model.weight, torch.tensor([[0.5, 0.5]]))  # [1, 2] - 0.5 * [1, 3]
    assert torch.equal(model.bias, torch.tensor([0.0]))  # 0.5 - 0.5 * 1
    assert torch.equal(model.weight.grad, torch.tensor([[1.0, 3.0]]))  # gradients are left for zero_grad
    assert model.weight.grad_fn is None and model.weight.requires_grad


def test_sgd_step_leaves_parameters_without_gradient_untouched():
    model = linear_model([1.0, 2.0], 0.5)
    unused = torch.nn.Linear(2, 1)
    model.unused = unused  # a parameter the forward pass does not use: its grad stays None
    before = unused.weight.detach().clone()
    model(torch.tensor([[1.0, 3.0]])).sum().backward()

    sgd_step(model, lr=0.5)

    assert unused.weight.grad is None
    assert torch.equal(unused.weight, before)
    assert torch.equal(model.weight, torch.tensor([[0.5, 0.5]]))


def test_sgd_step_without_any_gradient_changes_nothing():
    model = linear_model([1.0, 2.0], 0.5)

    sgd_step(model, lr=0.5)

    assert torch.equal(model.weight, torch.tensor([[1.0, 2.0]]))
    assert torch.equal(model.bias, torch.tensor([0.5]))


# --- FedProx's proximal term -----------------------------------------------------------------

from course_utils.training import proximal_term  # noqa: E402


def distance(first, second):
    """Euclidean distance between two parameter lists."""
    return float(np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(first, second))))


def test_proximal_term_by_hand():
    model = linear_model([1.0, 2.0], 0.5)
    start = [torch.tensor([[1.0, 0.0]]), torch.tensor([-0.5])]

    penalty = proximal_term(model, start, mu=3.0)
    penalty.backward()

    assert penalty.item() == 7.5  # 3 / 2 * ((1 - 1)^2 + (2 - 0)^2 + (0.5 + 0.5)^2) = 1.5 * 5
    assert torch.equal(model.weight.grad, torch.tensor([[0.0, 6.0]]))  # mu * (w - w_start)
    assert torch.equal(model.bias.grad, torch.tensor([3.0]))


def test_proximal_term_is_zero_at_the_start():
    model = linear_model([1.0, 2.0], 0.5)
    start = [w.detach().clone() for w in model.parameters()]

    assert proximal_term(model, start, mu=100.0).item() == 0.0


def test_large_proximal_mu_keeps_the_weights_closer_to_the_start(feature_data):
    start = get_parameters(make_model("logistic", (4,), 2, seed=0))
    moved = {}
    for mu in (0.0, 5.0):  # lr * mu = 0.5 < 2: the pull towards the start is stable
        model = make_model("logistic", (4,), 2, seed=0)
        train(model, feature_data, epochs=5, batch_size=8, lr=0.1, seed=3, proximal_mu=mu)
        moved[mu] = distance(get_parameters(model), start)

    assert 0 < moved[5.0] < 0.5 * moved[0.0]


def test_proximal_mu_has_no_effect_on_the_first_step(feature_data):
    # The term and its gradient are zero where training starts, so one step is plain SGD.
    plain, prox = make_model("logistic", (4,), 2, seed=0), make_model("logistic", (4,), 2, seed=0)

    plain_stats = train(plain, feature_data, steps=1, batch_size=8, seed=3)
    prox_stats = train(prox, feature_data, steps=1, batch_size=8, seed=3, proximal_mu=10.0)

    assert prox_stats == plain_stats
    for a, b in zip(get_parameters(plain), get_parameters(prox)):
        assert np.array_equal(a, b)


def test_train_reports_the_loss_without_the_proximal_term(feature_data):
    model = make_model("logistic", (4,), 2, seed=0)

    stats = train(model, feature_data, steps=4, batch_size=8, seed=3, proximal_mu=1.0)

    # Re-run the same batches on a copy and compare with the plain cross-entropy seen at each step.
    copy = make_model("logistic", (4,), 2, seed=0)
    start = [w.detach().clone() for w in copy.parameters()]
    losses = []
    for x, y in batches(feature_data, 8, torch.Generator().manual_seed(3)):
        copy.zero_grad()
        loss = torch.nn.functional.cross_entropy(copy(x), y)
        (loss + proximal_term(copy, start, 1.0)).backward()
        sgd_step(copy, 0.1)
        losses.append(loss.item())
        if len(losses) == 4:
            break
    assert stats["loss"] == pytest.approx(sum(losses) / 4, rel=1e-6)


def test_proximal_mu_zero_is_exactly_plain_sgd(feature_data):
    model = make_model("logistic", (4,), 2, seed=0)
    train(model, feature_data, epochs=2, batch_size=16, lr=0.1, seed=3, proximal_mu=0.0)

    # Plain SGD written out: the training loop without any proximal term.
    reference = make_model("logistic", (4,), 2, seed=0)
    generator = torch.Generator().manual_seed(3)
    for _ in range(2):
        for x, y in batches(feature_data, 16, generator):
            reference.zero_grad()
            torch.nn.functional.cross_entropy(reference(x), y).backward()
            sgd_step(reference, 0.1)

    for a, b in zip(get_parameters(model), get_parameters(reference)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("proximal_mu", [-0.1, float("nan")])
def test_train_rejects_negative_proximal_mu(proximal_mu, feature_data):
    with pytest.raises(ValueError, match="proximal_mu"):
        train(make_model("logistic", (4,), 2), feature_data, proximal_mu=proximal_mu)


def test_train_rejects_a_proximal_pull_that_would_make_sgd_diverge(feature_data, logistic_fn):
    with pytest.raises(ValueError, match="proximal_mu must be below 2 / lr"):
        train(logistic_fn(), feature_data, lr=0.1, proximal_mu=20.0)


def test_epoch_seed_differs_for_every_seed_and_epoch_and_repeats():
    from course_utils.training import epoch_seed

    seeds = {epoch_seed(seed, epoch) for seed in range(5) for epoch in range(1, 11)}
    assert len(seeds) == 50  # seed + epoch would give only 14 distinct values here
    assert epoch_seed(3, 2) == epoch_seed(3, 2)


@pytest.mark.parametrize("seed, epoch", [(-1, 1), (0, -1), (0, 1.5), (True, 1)])
def test_epoch_seed_refuses_bad_input(seed, epoch):
    from course_utils.training import epoch_seed

    with pytest.raises((TypeError, ValueError), match="seed|epoch"):
        epoch_seed(seed, epoch)


def test_training_runs_where_the_model_is():
    from course_utils.training import model_device

    model = make_model("mlp", (4,), 2, device="cpu")
    assert model_device(model) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
