"""The attacks succeed where they must (one example, no defence) and fail where they must (strong noise)."""

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils.aggregate import median, trimmed_mean
from course_utils.attacks import (
    ColludingClient,
    MaliciousClient,
    NormClippedFedAvg,
    attack_success_rate,
    backdoor_data,
    blind_guess_error,
    example_losses,
    flip_labels,
    gradient_from_update,
    gradients_of,
    infer_labels,
    invert_linear_layer,
    little_is_enough,
    little_is_enough_z,
    make_colluding,
    make_malicious,
    match_gradients,
    membership_auc,
    reconstruction_error,
    stamp_trigger,
)
from course_utils.client import Client, make_client_fn
from course_utils.data import load_dataset
from course_utils.evaluation import evaluate_parameters
from course_utils.models import get_parameters, make_model, set_parameters
from course_utils.partition import iid
from course_utils.privacy import add_noise
from course_utils.simulation import run_simulation
from course_utils.strategy import FedAvg, FedMedian, FitRes
from course_utils.training import train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _images(digits, start, count):
    x, y = digits.train.tensors
    return x[start : start + count], y[start : start + count]


# --- gradient inversion --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp", "logistic"])
def test_analytic_inversion_recovers_one_example_exactly(digits, name):
    model = make_model(name, (1, 8, 8), 10, seed=3)
    for start in range(5):
        x, y = _images(digits, start, 1)
        grads = gradients_of(model, x, y)
        recovered = invert_linear_layer(grads[0], grads[1])
        np.testing.assert_allclose(recovered, x.numpy().ravel(), atol=1e-5)


def test_analytic_inversion_under_strong_noise_is_no_better_than_a_blind_guess(digits):
    model, rng = make_model("mlp", (1, 8, 8), 10, seed=0), np.random.default_rng(0)
    x, y = _images(digits, 0, 1)
    noisy = add_noise(gradients_of(model, x, y), 10.0, rng)
    error = reconstruction_error(x.numpy(), invert_linear_layer(noisy[0], noisy[1]).reshape(1, 1, 8, 8))
    assert error > blind_guess_error(x.numpy(), digits.test.tensors[0].numpy())


def test_a_batch_gives_a_mixture_not_any_one_example(digits):
    model = make_model("mlp", (1, 8, 8), 10, seed=0)
    x, y = _images(digits, 0, 8)
    grads = gradients_of(model, x, y)
    recovered = invert_linear_layer(grads[0], grads[1])
    assert min(reconstruction_error(x[i : i + 1].numpy(), recovered[None]) for i in range(8)) > 1e-3


def test_gradient_from_one_sgd_step_is_the_gradient(digits):
    model = make_model("logistic", (1, 8, 8), 10, seed=0)
    x, y = _images(digits, 0, 1)
    before, expected = get_parameters(model), gradients_of(model, x, y)
    train(model, TensorDataset(x, y), steps=1, batch_size=1, lr=0.5)
    for got, want in zip(gradient_from_update(before, get_parameters(model), 0.5), expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_labels_come_out_of_the_last_layer_exactly_and_not_under_noise(digits):
    model, rng = make_model("mlp", (1, 8, 8), 10, seed=1), np.random.default_rng(1)
    hits_clean = hits_noisy = 0
    for start in range(100):
        x, y = _images(digits, start, 1)
        grads = gradients_of(model, x, y)
        hits_clean += int(infer_labels(grads[2])[0] == y[0]) + int(infer_labels(grads[3])[0] == y[0])
        hits_noisy += int(infer_labels(add_noise([grads[3]], 10.0, rng)[0])[0] == y[0])
    assert hits_clean == 200
    assert hits_noisy < 25  # a blind guess gets about 10 of 100


@pytest.mark.parametrize("loss", ["l2", "cosine"])
def test_gradient_matching_recovers_one_example_and_fails_under_noise(digits, loss):
    model = make_model("logistic", (1, 8, 8), 10, seed=0)
    x, y = _images(digits, 0, 1)
    grads = gradients_of(model, x, y)
    found = match_gradients(model, grads, y.numpy(), (1, 8, 8), steps=100, lr=0.1, loss=loss)
    assert reconstruction_error(x.numpy(), found) < 1e-3
    noisy = add_noise(grads, 10.0, np.random.default_rng(0))
    found = match_gradients(model, noisy, y.numpy(), (1, 8, 8), steps=100, lr=0.1, loss=loss)
    assert reconstruction_error(x.numpy(), found) > blind_guess_error(x.numpy(), digits.test.tensors[0].numpy())


def test_reconstruction_error_pairs_examples_in_the_best_order():
    a = np.arange(12, dtype=float).reshape(3, 4)
    assert reconstruction_error(a, a[[2, 0, 1]]) == 0
    assert reconstruction_error(a, a + 1) == pytest.approx(1.0)


# --- membership inference ------------------------------------------------------------------


def test_membership_auc_hand_computed_and_ties():
    assert membership_auc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert membership_auc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5
    assert membership_auc(np.array([0.1, 0.5]), np.array([0.3])) == 0.5


def test_membership_of_an_overfit_model_shows_and_noise_hides_it(digits):
    x, y = digits.train.tensors
    members, others = TensorDataset(x[:30], y[:30]), TensorDataset(x[600:900], y[600:900])
    model = make_model("mlp", (1, 8, 8), 10, seed=0)
    train(model, members, epochs=100, batch_size=10, lr=0.1)
    assert membership_auc(example_losses(model, members), example_losses(model, others)) > 0.7
    noisy = make_model("mlp", (1, 8, 8), 10, seed=0)
    params = add_noise(get_parameters(model), 5.0, np.random.default_rng(0))
    set_parameters(noisy, [p.astype(np.float32) for p in params])
    assert abs(membership_auc(example_losses(noisy, members), example_losses(noisy, others)) - 0.5) < 0.2


# --- poisoning ----------------------------------------------------------------------------


def test_flip_labels_and_backdoor_data():
    x, y = torch.zeros(10, 1, 8, 8), torch.arange(10) % 3
    flipped = flip_labels(TensorDataset(x, y), 1, 2)
    assert (flipped.tensors[1] == 1).sum() == 0 and (flipped.tensors[1] == 2).sum() == 6
    poisoned = backdoor_data(TensorDataset(x, y), target=0, fraction=0.5, size=2, seed=0)
    assert len(poisoned) == 15 and (poisoned.tensors[1][10:] == 0).all()
    assert (poisoned.tensors[0][10:, 0, -2:, -2:] == 1).all() and (poisoned.tensors[0][:10] == 0).all()
    assert (stamp_trigger(x, 3)[:, :, :5, :] == 0).all()


def test_attack_success_rate_counts_the_target_predictions():
    class Always(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()

    data = TensorDataset(torch.zeros(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 4, 5]))
    assert attack_success_rate(Always(), data, target=0) == 1.0
    assert attack_success_rate(Always(), data, target=3) == 0.0
    assert attack_success_rate(Always(), data, target=0, trigger_size=None, source=2) == 1.0


def test_malicious_client_sends_a_boosted_poisoned_update(digits):
    x, y = _images(digits, 0, 20)
    model_fn = lambda: make_model("logistic", (1, 8, 8), 10, seed=0)  # noqa: E731
    honest = Client(0, model_fn, TensorDataset(x, y))
    poisoned = flip_labels(TensorDataset(x, y), 1, 7)
    start, config = get_parameters(model_fn()), {"local_steps": 1, "batch_size": 20, "learning_rate": 0.1}
    sent, n, _ = MaliciousClient(honest, poisoned, boost=3.0).fit(start, config)
    plain, _, _ = Client(0, model_fn, poisoned).fit(start, config)
    assert n == 20
    for s, p, g in zip(sent, plain, start):
        np.testing.assert_allclose(s - g, 3.0 * (p - g), atol=1e-5)


def test_norm_clipping_limits_each_update():
    current = [np.zeros(2, np.float32)]
    results = [FitRes(0, [np.array([100.0, 0.0], np.float32)], 1, {}),
               FitRes(1, [np.array([0.0, 0.5], np.float32)], 1, {})]
    out = NormClippedFedAvg(clip_norm=1.0).aggregate_parameters(results, current)
    np.testing.assert_allclose(out[0], [0.5, 0.25])
    assert out[0].dtype == np.float32


def test_a_boosted_backdoor_beats_fedavg_and_not_the_median(digits):
    model_fn = lambda: make_model("logistic", (1, 8, 8), 10, seed=0)  # noqa: E731
    client_fn = make_malicious(make_client_fn(digits.train, iid(len(digits.train), 10, seed=0), model_fn),
                               [0], lambda d: backdoor_data(d, target=0), boost=10)
    config = lambda r: {"local_epochs": 2}  # noqa: E731
    rates = {}
    for name, strategy in (("fedavg", FedAvg(fraction_evaluate=0.0, on_fit_config_fn=config)),
                           ("median", FedMedian(fraction_evaluate=0.0, on_fit_config_fn=config))):
        parameters, _ = run_simulation(client_fn, 10, 8, strategy, get_parameters(model_fn()), progress=False)
        model = model_fn()
        set_parameters(model, parameters)
        rates[name] = attack_success_rate(model, digits.test, target=0)
        assert evaluate_parameters(model_fn, parameters, digits.test)[1] > 0.7
    assert rates["fedavg"] > 0.5 > 0.2 > rates["median"]


# --- a little is enough -------------------------------------------------------------------


def test_little_is_enough_hand_computed():
    honest = [[np.array([1.0, 5.0]), np.array([[0.0]])], [np.array([3.0, 5.0]), np.array([[2.0]])]]
    crafted = little_is_enough(honest, z=1.0)  # mean (2, 5) and (1); sample std (sqrt 2, 0) and (sqrt 2)
    np.testing.assert_allclose(crafted[0], [2 - np.sqrt(2), 5.0])
    np.testing.assert_allclose(crafted[1], [[1 - np.sqrt(2)]])
    np.testing.assert_allclose(little_is_enough(honest, z=0)[0], [2.0, 5.0])  # z = 0: the mean itself


def test_z_max_of_the_paper():
    # Baruch et al.: s = floor(n/2 + 1) - m honest clients needed, z = Phi^-1((n - s) / n)
    assert little_is_enough_z(50, 12) == pytest.approx(0.5828, abs=1e-4)  # s = 14, Phi^-1(0.72)
    assert little_is_enough_z(10, 3) == pytest.approx(0.5244, abs=1e-4)  # s = 3, Phi^-1(0.7)
    assert little_is_enough_z(10, 1) < little_is_enough_z(10, 3) < little_is_enough_z(10, 4)


def _honest_updates(num_clients, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(1.0, 1.0, size=(20, 5)), rng.normal(-0.5, 0.3, size=7)] for _ in range(num_clients)]


def test_the_crafted_update_hides_inside_the_honest_range():
    honest = _honest_updates(20)
    crafted = little_is_enough(honest[:5], z=0.5)  # estimated from five of them, as colluders would
    flipped = [-10 * a for a in honest[0]]
    for layer in range(2):
        stacked = np.stack([u[layer] for u in honest])
        low, high = stacked.min(axis=0), stacked.max(axis=0)

        def inside(update, layer=layer, low=low, high=high):
            return ((update[layer] >= low) & (update[layer] <= high)).mean()

        assert inside(crafted) > 0.95 and inside(flipped) < 0.15


def test_the_crafted_update_pulls_the_median_and_the_trimmed_mean_down():
    honest = _honest_updates(7)
    crafted = little_is_enough(honest[:3], z=1.0)
    clean = [(u, 1) for u in honest]
    attacked = clean + [(crafted, 1)] * 3
    for name, rule in (("median", median), ("trimmed mean", lambda r: trimmed_mean(r, 0.2))):
        before, after = rule(clean), rule(attacked)
        for layer, (b, a, c) in enumerate(zip(before, after, crafted)):
            if name == "median":  # where the crafted value is below the honest median, the median can only go down
                assert (a[c < b] <= b[c < b] + 1e-12).all()
            spread = np.std(np.stack([u[layer] for u in honest]), axis=0).mean()
            assert (a - b).mean() < -0.1 * spread, f"the {name} should move down, by a tenth of the spread at least"


def test_colluders_send_the_same_crafted_update_and_honest_clients_are_untouched(digits):
    model_fn = lambda: make_model("logistic", (1, 8, 8), 10, seed=0)  # noqa: E731
    client_fn = make_client_fn(digits.train, iid(len(digits.train), 6, seed=0), model_fn, test_fraction=0.0)
    colluding = make_colluding(client_fn, bad_cids=[1, 4], z=1.5)
    start = get_parameters(model_fn())
    config = {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.1, "server_round": 3, "seed": 7}
    honest = {cid: client_fn(cid).fit(start, config) for cid in range(6)}
    expected = little_is_enough([[n - g for n, g in zip(honest[cid][0], start)] for cid in (1, 4)], 1.5)
    for cid in (1, 4):
        client = colluding(cid)
        assert isinstance(client, ColludingClient)
        sent, num_examples, metrics = client.fit(start, config)
        assert num_examples == honest[cid][1] and metrics == honest[cid][2]  # it looks like an honest client
        for s, g, e in zip(sent, start, expected):
            assert s.dtype == g.dtype
            np.testing.assert_allclose(s - g, e, atol=1e-5)
    for cid in (0, 2, 3, 5):
        for s, h in zip(colluding(cid).fit(start, config)[0], honest[cid][0]):
            np.testing.assert_array_equal(s, h)


# --- bad input ----------------------------------------------------------------------------


def _model():
    return make_model("logistic", (1, 8, 8), 10, seed=0)


@pytest.mark.parametrize("call, error, words", [
    (lambda: invert_linear_layer(np.ones(3), np.ones(3)), ValueError, "weight_grad must be a 2-D"),
    (lambda: invert_linear_layer(np.ones((3, 4)), np.ones(2)), ValueError, "bias_grad must have one entry"),
    (lambda: invert_linear_layer(np.ones((3, 4)), np.zeros(3)), ValueError, "bias_grad is all zero"),
    (lambda: invert_linear_layer(np.full((3, 4), np.nan), np.ones(3)), ValueError, "finite"),
    (lambda: infer_labels(np.ones(10), num_examples=11), ValueError, "num_examples"),
    (lambda: infer_labels(np.ones((2, 2, 2))), ValueError, "last_layer_grad"),
    (lambda: gradient_from_update([np.ones(2)], [np.ones(2)], 0), ValueError, "learning_rate"),
    (lambda: match_gradients(_model(), [np.ones(1)], [0], (1, 8, 8)), ValueError, "target_grads"),
    (lambda: match_gradients(_model(), [], [0], (1, 8, 8), loss="l1"), ValueError, "loss must be one of"),
    (lambda: match_gradients(_model(), [], [0], (1, 8, 8), steps=0), ValueError, "steps"),
    (lambda: match_gradients("model", [], [0], (1, 8, 8)), TypeError, "model must be"),
    (lambda: reconstruction_error(np.ones((2, 3)), np.ones((3, 3))), ValueError, "same shape"),
    (lambda: membership_auc(np.array([]), np.ones(2)), ValueError, "member_losses"),
    (lambda: membership_auc(np.ones((2, 2)), np.ones(2)), ValueError, "member_losses must be a 1-D"),
    (lambda: flip_labels(TensorDataset(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)), 1, 1), ValueError,
     "source and target must differ"),
    (lambda: flip_labels(TensorDataset(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)), -1, 1), ValueError,
     "source"),
    (lambda: stamp_trigger(torch.zeros(2, 8, 8)), ValueError, "x must be a tensor of images"),
    (lambda: stamp_trigger(torch.zeros(2, 1, 8, 8), size=9), ValueError, "size"),
    (lambda: backdoor_data(TensorDataset(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)), 0, fraction=0),
     ValueError, "fraction"),
    (lambda: make_malicious(lambda c: None, "01", lambda d: d), TypeError, "bad_cids"),
    (lambda: make_malicious(lambda c: None, [0], lambda d: d, boost=0), ValueError, "boost"),
    (lambda: attack_success_rate(_model(), TensorDataset(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)),
                                 0, None), ValueError, "source must be given"),
    (lambda: attack_success_rate(_model(), TensorDataset(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)),
                                 0), ValueError, "no example to attack"),
    (lambda: NormClippedFedAvg(clip_norm=0), ValueError, "clip_norm"),
    (lambda: NormClippedFedAvg().aggregate_parameters([], None), ValueError, "needs current"),
    (lambda: little_is_enough([[np.ones(2)]], 1.0), ValueError, "at least two updates"),
    (lambda: little_is_enough([[np.ones(2)], [np.ones(3)]], 1.0), ValueError, "shapes"),
    (lambda: little_is_enough([[np.ones(2)], [np.ones(2)]], -1.0), ValueError, "z"),
    (lambda: little_is_enough([[np.ones(2)], [np.array([1.0, np.nan])]], 1.0), ValueError, "finite"),
    (lambda: little_is_enough([[np.ones(2)], [np.array(["a", "b"])]], 1.0), TypeError, "numbers"),
    (lambda: little_is_enough_z(10, 5), ValueError, "num_attackers"),
    (lambda: little_is_enough_z(10, 0), ValueError, "num_attackers"),
    (lambda: make_colluding(lambda c: None, [3], 1.0), ValueError, "at least two"),
    (lambda: make_colluding(lambda c: None, "01", 1.0), TypeError, "bad_cids"),
    (lambda: make_colluding(lambda c: None, [0, 1], -0.5), ValueError, "z"),
])
def test_bad_input_is_refused_with_a_clear_error(call, error, words):
    with pytest.raises(error, match=words):
        call()
