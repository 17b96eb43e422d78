import time
import tracemalloc

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils.models import get_parameters, make_model
from course_utils.population import (
    NUM_CLASSES,
    NUM_FEATURES,
    SplitPopulation,
    SyntheticPopulation,
    rounds_until_all_seen,
)
from course_utils.simulation import run_simulation
from course_utils.strategy import FedAvg


def logistic():
    return make_model("logistic", (NUM_FEATURES,), NUM_CLASSES, seed=0)


# --- SyntheticPopulation ---------------------------------------------------------------------


def test_the_same_seed_and_cid_give_the_same_data_and_others_differ():
    a, b = SyntheticPopulation(1000, seed=3), SyntheticPopulation(1000, seed=3)
    x, y = a.examples(17)
    x2, y2 = b.examples(17)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(a.examples(18)[0][:5], x[:5])  # another client
    assert not np.array_equal(SyntheticPopulation(1000, seed=4).examples(17)[0][:5], x[:5])  # another seed
    assert x.dtype == np.float32 and x.shape == (a.size(17), NUM_FEATURES) and y.dtype == np.int64


def test_a_client_does_not_depend_on_the_population_size():
    assert np.array_equal(SyntheticPopulation(10).examples(3)[0], SyntheticPopulation(10**6).examples(3)[0])


def test_labels_follow_the_clients_own_model():
    population = SyntheticPopulation(100, alpha=0.5, beta=0.5, seed=1)
    x, y = population.examples(5)
    W, b = population.model(5)
    assert np.array_equal(y, np.argmax(x.astype(np.float64) @ W.T + b, axis=1))
    assert W.shape == (NUM_CLASSES, NUM_FEATURES) and b.shape == (NUM_CLASSES,)
    assert y.min() >= 0 and y.max() < NUM_CLASSES


def test_the_features_have_the_papers_diagonal_covariance():
    population = SyntheticPopulation(1, beta=0.0, min_size=20000, size_sigma=0.0, size_mu=0.0)
    x, _ = population.examples(0)
    variance = x.astype(np.float64).var(axis=0)
    expected = np.arange(1, NUM_FEATURES + 1) ** -1.2
    assert np.allclose(variance, expected, rtol=0.05)
    assert np.allclose(x.mean(axis=0), population.feature_mean(0), atol=0.05)


def model_means(population, cids):
    return np.array([population.model(cid)[0].mean() for cid in cids])


def test_alpha_spreads_the_models_and_beta_the_features():
    cids = range(200)
    same = SyntheticPopulation(1000, alpha=0.0, beta=0.0, seed=2)
    spread = SyntheticPopulation(1000, alpha=2.0, beta=2.0, seed=2)
    # each client's W has 600 entries ~ N(u_k, 1): their mean estimates u_k to within ~0.04
    assert model_means(same, cids).std() < 0.1 < 1.5 < model_means(spread, cids).std()

    def feature_means(p):
        return np.array([p.feature_mean(cid).mean() for cid in cids])

    assert feature_means(same).std() < 0.3 < 1.5 < feature_means(spread).std()


def test_alpha_and_beta_zero_still_give_each_client_its_own_model_but_iid_shares_one():
    zero = SyntheticPopulation(10, alpha=0.0, beta=0.0, seed=0)
    assert not np.array_equal(zero.model(0)[0], zero.model(1)[0])  # the paper: W_k ~ N(0, 1) for every k
    iid = SyntheticPopulation(10, iid=True, seed=0)
    assert all(np.array_equal(iid.model(0)[0], iid.model(k)[0]) for k in range(10))
    assert all(np.array_equal(iid.feature_mean(k), np.zeros(NUM_FEATURES)) for k in range(10))


def test_sizes_follow_a_heavy_tailed_law_with_a_minimum():
    population = SyntheticPopulation(2000, seed=0)
    sizes = np.array([population.size(cid) for cid in range(2000)])
    assert sizes.min() >= population.min_size
    assert np.mean(sizes) > np.median(sizes)  # a long right tail
    assert sizes.max() > 5 * np.median(sizes)


def test_creating_a_million_clients_is_instant_and_small():
    tracemalloc.start()
    start = time.perf_counter()
    population = SyntheticPopulation(1_000_000, seed=0)
    client = population.client_fn(logistic)(999_999)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 5_000_000  # bytes: nothing per client is kept
    assert len(client.train_data) > 0


def test_memory_does_not_grow_with_the_population_size():
    peaks = []
    for num_clients in (1000, 1_000_000):
        tracemalloc.start()
        population = SyntheticPopulation(num_clients, seed=0)
        for cid in range(50):
            population.client_data(cid)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0] + 100_000


def test_client_fn_runs_a_simulation_and_repeats_it():
    population = SyntheticPopulation(1000, seed=0)
    test = population.test_data(range(900, 1000))

    def run():
        from course_utils.evaluation import make_evaluate_fn
        strategy = FedAvg(fraction_fit=0.01, fraction_evaluate=0.0, evaluate_fn=make_evaluate_fn(logistic, test),
                          on_fit_config_fn=lambda r: {"local_epochs": 1, "batch_size": 16, "learning_rate": 0.1})
        return run_simulation(population.client_fn(logistic), 1000, 3, strategy, get_parameters(logistic()),
                              seed=5, progress=False)[1]

    first, again = run(), run()
    assert first.series() == again.series() and len(first.series()[0]) == 4


def test_the_local_split_keeps_a_training_example():
    population = SyntheticPopulation(10, min_size=1, size_sigma=0.0, size_mu=-5.0, test_fraction=0.9, seed=0)
    train, test = population.client_data(0)
    assert len(train) == 1 and test is None  # one example: it trains, nothing is left to test


@pytest.mark.parametrize("kwargs, error, words", [
    ({"num_clients": 0}, ValueError, "num_clients"),
    ({"num_clients": 2.5}, TypeError, "num_clients"),
    ({"num_clients": 10, "alpha": -1}, ValueError, "alpha"),
    ({"num_clients": 10, "beta": float("nan")}, ValueError, "beta"),
    ({"num_clients": 10, "iid": "yes"}, TypeError, "iid"),
    ({"num_clients": 10, "min_size": 0}, ValueError, "min_size"),
    ({"num_clients": 10, "size_sigma": -0.5}, ValueError, "size_sigma"),
    ({"num_clients": 10, "test_fraction": 1.0}, ValueError, "test_fraction"),
    ({"num_clients": 10, "seed": -1}, ValueError, "seed"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, words):
    with pytest.raises(error, match=words):
        SyntheticPopulation(**kwargs)


@pytest.mark.parametrize("cid, error", [(10, ValueError), (-1, ValueError), (1.0, TypeError), ("3", TypeError)])
def test_a_client_outside_the_population_is_refused(cid, error):
    population = SyntheticPopulation(10)
    with pytest.raises(error, match=r"cid must be .*\[0, 9\]"):
        population.examples(cid)
    with pytest.raises(error, match="cid"):
        population.client_fn(logistic)(cid)


def test_client_fn_wants_a_model_function():
    with pytest.raises(TypeError, match="model_fn"):
        SyntheticPopulation(10).client_fn(logistic())


# --- SplitPopulation -------------------------------------------------------------------------


@pytest.fixture
def dataset():
    x = torch.arange(1437 * 4, dtype=torch.float32).reshape(1437, 4)
    return TensorDataset(x, torch.arange(1437) % 10)


def test_every_example_goes_to_exactly_one_client(dataset):
    population = SplitPopulation(dataset, 1000, seed=0)
    held = np.concatenate([population.indices(cid) for cid in range(1000)])
    assert sorted(held.tolist()) == list(range(1437))
    assert {population.size(cid) for cid in range(1000)} == {1, 2}


def test_a_split_is_seeded(dataset):
    a, b, c = (SplitPopulation(dataset, 1000, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(a.indices(k), b.indices(k)) for k in range(1000))
    assert any(not np.array_equal(a.indices(k), c.indices(k)) for k in range(1000))


def test_sorted_by_label_each_client_holds_one_or_two_labels(dataset):
    population = SplitPopulation(dataset, 1000, order="label", seed=0)
    labels = [set(population.examples(cid)[1].tolist()) for cid in range(1000)]
    assert max(len(s) for s in labels) <= 2 and sum(len(s) == 1 for s in labels) > 900
    random = SplitPopulation(dataset, 100, seed=0)
    assert np.mean([len(set(random.examples(cid)[1].tolist())) for cid in range(100)]) > 6


def test_split_client_fn_gives_clients_their_slice(dataset):
    population = SplitPopulation(dataset, 1000, seed=0)
    client = population.client_fn(lambda: make_model("logistic", (4,), 10, seed=0))(7)
    assert torch.equal(client.train_data.tensors[0], dataset.tensors[0][torch.as_tensor(population.indices(7))])


@pytest.mark.parametrize("kwargs, error, words", [
    ({"num_clients": 1438}, ValueError, r"at most the 1437 examples"),
    ({"num_clients": 0}, ValueError, "num_clients"),
    ({"num_clients": 10, "order": "shuffled"}, ValueError, "order"),
    ({"num_clients": 10, "test_fraction": -0.1}, ValueError, "test_fraction"),
])
def test_split_bad_arguments(dataset, kwargs, error, words):
    with pytest.raises(error, match=words):
        SplitPopulation(dataset, **kwargs)


def test_split_wants_a_dataset():
    with pytest.raises(TypeError, match="data must be a TensorDataset"):
        SplitPopulation([1, 2, 3], 2)


# --- coverage --------------------------------------------------------------------------------


def test_rounds_until_all_seen_is_about_the_coupon_collectors_count():
    counts = [rounds_until_all_seen(1000, 10, seed=s) for s in range(5)]
    expected = 1000 / 10 * sum(1 / k for k in range(1, 1001))  # 748.5
    assert 0.6 * expected < np.mean(counts) < 1.5 * expected
    assert rounds_until_all_seen(50, 50) == 1 and rounds_until_all_seen(1000, 10, seed=3) == counts[3]


def test_rounds_until_all_seen_uses_the_runs_own_sampling():
    rng, seen, rounds = np.random.default_rng(4), set(), 0
    strategy = FedAvg(fraction_fit=0.1, fraction_evaluate=0.0)
    while len(seen) < 100:
        rounds += 1
        seen.update(strategy.configure_fit(rounds, 100, rng)[0])
    assert rounds_until_all_seen(100, 10, seed=4) == rounds


@pytest.mark.parametrize("args, error", [((0, 1), ValueError), ((10, 11), ValueError), ((10, 0), ValueError),
                                         ((10, 2.0), TypeError)])
def test_rounds_until_all_seen_bad_arguments(args, error):
    with pytest.raises(error, match="num_clients|per_round"):
        rounds_until_all_seen(*args)


def test_alpha_changes_no_label_since_it_shifts_every_class_score_alike():
    # u_k adds u_k * (sum(x) + 1) to every class's score: the argmax, the label, cannot move.
    for alpha in (0.5, 5.0):
        moved = SyntheticPopulation(50, alpha=alpha, beta=1.0, seed=3)
        still = SyntheticPopulation(50, alpha=0.0, beta=1.0, seed=3)
        assert all(np.array_equal(moved.examples(k)[1], still.examples(k)[1]) for k in range(50))
        assert not np.array_equal(moved.model(0)[0], still.model(0)[0])  # the models did change
