import logging
import math

import dp_accounting
import numpy as np
import pytest

from course_utils.aggregate import fedavg
from course_utils.client import make_client_fn
from course_utils.data import load_dataset
from course_utils.evaluation import make_evaluate_fn
from course_utils.models import get_parameters, make_model
from course_utils.partition import iid
from course_utils.privacy import (
    MODES,
    DPFedAvg,
    adaptive_noise_multipliers,
    add_noise,
    clip_update,
    dp_fedavg_epsilon,
    gaussian_mechanism,
    gaussian_sigma,
    global_norm,
    laplace_count,
    local_dp_epsilon,
    noise_multiplier_for_epsilon,
    noise_rng,
    poisson_sample,
    update_norms,
)
from course_utils.simulation import run_simulation

DELTA = 1e-5


def rng(seed=0):
    return np.random.default_rng(seed)


def fit_result(cid, values, num_examples):
    return (cid, [np.asarray(values, dtype=np.float64)], num_examples, {"train_loss": 1.0})


# --- mechanisms on one query --------------------------------------------------------------------


def test_laplace_count_is_unbiased_with_std_sqrt2_over_epsilon():
    data = np.arange(100) < 30  # 30 people answer yes
    generator = rng()

    draws = np.array([laplace_count(data, 0.5, generator) for _ in range(20_000)])

    assert draws.mean() == pytest.approx(30, abs=0.1)
    assert draws.std() == pytest.approx(math.sqrt(2) / 0.5, rel=0.03)


def test_laplace_count_of_booleans_equals_laplace_count_of_their_count():
    data = np.array([True, False, True, True])

    assert laplace_count(data, 1.0, rng(7)) == laplace_count(3, 1.0, rng(7))


def test_gaussian_mechanism_adds_noise_of_std_sigma_times_sensitivity():
    value = np.full((200, 1000), 5.0)

    noisy = gaussian_mechanism(value, sensitivity=2.0, sigma=1.5, rng=rng())

    assert noisy.shape == value.shape
    assert (noisy - value).mean() == pytest.approx(0, abs=0.02)
    assert (noisy - value).std() == pytest.approx(3.0, rel=0.01)
    assert isinstance(gaussian_mechanism(5.0, 1.0, 1.0, rng()), float)


def test_gaussian_sigma_analytic_is_exact_and_smaller_than_the_classical_bound():
    for epsilon in (0.1, 0.5, 0.9):
        analytic = gaussian_sigma(epsilon, DELTA)
        assert dp_accounting.get_epsilon_gaussian(analytic, DELTA) == pytest.approx(epsilon, rel=1e-6)
        assert analytic < gaussian_sigma(epsilon, DELTA, method="classical")
    assert gaussian_sigma(0.5, DELTA, method="classical") == pytest.approx(math.sqrt(2 * math.log(1.25e5)) / 0.5)
    assert gaussian_sigma(4.0, DELTA) < gaussian_sigma(1.0, DELTA)  # the analytic one also works for epsilon >= 1


# --- clipping ---------------------------------------------------------------------------------


def test_clip_update_scales_a_large_update_to_clip_norm_keeping_its_direction():
    update = [np.array([3.0]), np.array([[4.0, 0.0]])]  # global norm 5

    clipped, norm = clip_update(update, clip_norm=1.0)

    assert norm == pytest.approx(5.0)
    assert global_norm(clipped) == pytest.approx(1.0)
    np.testing.assert_allclose(clipped[0], [0.6])
    np.testing.assert_allclose(clipped[1], [[0.8, 0.0]])  # the same direction: update / 5


def test_clip_update_leaves_a_small_update_unchanged():
    update = [np.array([0.3, 0.4], dtype=np.float32), np.zeros((2, 2), dtype=np.float32)]

    clipped, norm = clip_update(update, clip_norm=1.0)

    assert norm == pytest.approx(0.5)
    for before, after in zip(update, clipped):
        np.testing.assert_array_equal(after, before)
        assert after.dtype == np.float32 and after is not before


def test_clip_update_of_a_random_update_never_exceeds_clip_norm():
    generator = rng()
    for _ in range(20):
        update = [generator.normal(size=(3, 4)), generator.normal(size=5) * 10]
        clipped, norm = clip_update(update, clip_norm=0.7)
        assert global_norm(clipped) <= 0.7 + 1e-12
        assert global_norm(clipped) == pytest.approx(min(norm, 0.7))


# --- DPFedAvg ---------------------------------------------------------------------------------


def test_dp_fedavg_without_noise_or_clipping_is_the_unweighted_mean_of_updates():
    current = [np.array([1.0, 1.0])]
    results = [fit_result(0, [3.0, 1.0], 10), fit_result(1, [1.0, 5.0], 100)]
    strategy = DPFedAvg(clip_norm=1e9, noise_multiplier=0.0)

    parameters, _ = strategy.aggregate_fit(1, results, [], current=current)

    np.testing.assert_allclose(parameters[0], [2.0, 3.0])  # 1 + mean of the updates (2, 0) and (0, 4)
    np.testing.assert_allclose(parameters[0], fedavg([(p, 1) for _, p, _, _ in results])[0])
    assert not np.allclose(parameters[0], fedavg([(p, n) for _, p, n, _ in results])[0])  # not example-weighted


def test_dp_fedavg_clips_each_update_before_averaging():
    current = [np.zeros(2)]
    results = [fit_result(0, [3.0, 4.0], 10), fit_result(1, [0.3, 0.4], 10)]  # norms 5 and 0.5

    parameters, _ = DPFedAvg(clip_norm=1.0, noise_multiplier=0.0).aggregate_fit(1, results, [], current=current)

    np.testing.assert_allclose(parameters[0], [0.45, 0.6])  # mean of (0.6, 0.8) and (0.3, 0.4)


def test_dp_fedavg_counts_a_failed_client_as_a_zero_update():
    current = [np.zeros(2)]
    results = [fit_result(0, [3.0, 0.0], 10), fit_result(1, [0.0, 3.0], 10)]
    strategy = DPFedAvg(clip_norm=1e9, noise_multiplier=0.0)

    parameters, _ = strategy.aggregate_fit(1, results, [(2, RuntimeError("gone"))], current=current)

    np.testing.assert_allclose(parameters[0], [1.0, 1.0])  # the denominator is the 3 clients sampled


@pytest.mark.parametrize(("mode", "expected_std"), [("central", 2.0 * 0.5 / 4), ("local", 2.0 * 0.5 / math.sqrt(4))])
def test_dp_fedavg_noise_on_the_average_has_the_std_of_its_mode(mode, expected_std):
    current = [np.zeros(100_000, dtype=np.float32)]
    results = [(cid, [np.zeros(100_000, dtype=np.float32)], 10, {}) for cid in range(4)]
    strategy = DPFedAvg(clip_norm=0.5, noise_multiplier=2.0, mode=mode, seed=3)

    parameters, _ = strategy.aggregate_fit(1, results, [], current=current)

    assert parameters[0].dtype == np.float32
    assert parameters[0].std() == pytest.approx(expected_std, rel=0.02)


def test_dp_fedavg_noise_is_reproducible_from_its_seed():
    current = [np.zeros(50)]
    results = [fit_result(0, np.ones(50), 10), fit_result(1, -np.ones(50), 20)]

    def aggregate(seed, server_round=1, mode="central"):
        strategy = DPFedAvg(clip_norm=1.0, noise_multiplier=1.0, mode=mode, seed=seed)
        return strategy.aggregate_fit(server_round, results, [], current=current)[0][0]

    for mode in ("central", "local"):
        np.testing.assert_array_equal(aggregate(0, mode=mode), aggregate(0, mode=mode))
        assert not np.allclose(aggregate(0, mode=mode), aggregate(1, mode=mode))
        assert not np.allclose(aggregate(0, server_round=1, mode=mode), aggregate(0, server_round=2, mode=mode))


def released_and_noise_free(seed, mode="central", server_round=1):
    """One DP-FedAvg round on 3 clients: (the released parameters, the same round without noise)."""
    current = [np.zeros(200), np.zeros((4, 5))]
    results = [(cid, [np.full(200, 0.01 * cid), np.full((4, 5), -0.01)], 10, {}) for cid in range(3)]

    def release(noise_multiplier, seed):
        strategy = DPFedAvg(clip_norm=1.0, noise_multiplier=noise_multiplier, mode=mode, seed=seed)
        return strategy.aggregate_fit(server_round, results, [], current=current)[0]

    return release(1.0, seed), release(0.0, 0)


def strip_noise(released, noise_free, guessed_seed, mode="central", server_round=1):
    """The attack: regenerate the noise a guessed seed would give, subtract it; the largest error left."""
    shapes = [np.shape(p) for p in noise_free]
    streams = [0] if mode == "central" else [cid + 1 for cid in range(3)]  # the server's, or each client's
    noise = [np.zeros(shape) for shape in shapes]
    for stream in streams:
        generator = noise_rng(guessed_seed, server_round, stream)
        noise = [n + generator.normal(0.0, 1.0, size=shape) / 3 for n, shape in zip(noise, shapes)]  # z C = 1, m = 3
    return max(float(np.max(np.abs(r - n - f))) for r, n, f in zip(released, noise, noise_free))


@pytest.mark.parametrize("mode", MODES)
def test_seeded_noise_can_be_subtracted_by_whoever_knows_the_seed(mode):
    released, noise_free = released_and_noise_free(seed=0, mode=mode)

    assert strip_noise(released, noise_free, 0, mode) < 1e-12  # the attack works on a known seed
    assert strip_noise(released, noise_free, 1, mode) > 0.5


@pytest.mark.parametrize("mode", MODES)
def test_unseeded_noise_cannot_be_subtracted_with_any_guessed_seed(mode):
    released, noise_free = released_and_noise_free(seed=None, mode=mode)
    noise_std = 1.0 / 3 if mode == "central" else 1.0 / math.sqrt(3)

    smallest_error_left = min(strip_noise(released, noise_free, guess, mode) for guess in range(300))

    assert smallest_error_left > noise_std  # a wrong guess leaves two noises: its largest of 220 entries ~4 std
    assert DPFedAvg().seed is None  # and no seed is the default


def test_two_unseeded_runs_differ_and_seeded_runs_repeat(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 4, seed=0), logistic_fn, seed=0)
    initial = get_parameters(logistic_fn())

    def run(seed):
        strategy = DPFedAvg(fraction_fit=0.5, fraction_evaluate=0.0, clip_norm=0.5, noise_multiplier=1.0, seed=seed)
        return run_simulation(client_fn, 4, 2, strategy, initial, seed=0, progress=False)[0]

    first, second = run(None), run(None)  # DPFedAvg(seed=None) used to fail with a TypeError
    assert not any(np.allclose(a, b) for a, b in zip(first, second))
    assert all(np.array_equal(a, b) for a, b in zip(run(5), run(5)))
    assert not all(np.allclose(a, b) for a, b in zip(run(5), run(6)))


def test_noise_rng_without_seed_draws_fresh_os_randomness_every_call(monkeypatch):
    import course_utils.privacy as privacy

    calls = []
    real = privacy.secrets.randbits
    monkeypatch.setattr(privacy.secrets, "randbits", lambda k: calls.append(k) or real(k))

    draws = {float(noise_rng(None, 1, 0).normal()) for _ in range(5)}

    assert calls == [128] * 5 and len(draws) == 5
    assert noise_rng(3, 1, 0).normal() == noise_rng(3, 1, 0).normal()


def test_dp_fedavg_needs_the_current_global_parameters():
    with pytest.raises(ValueError, match="current"):
        DPFedAvg().aggregate_fit(1, [fit_result(0, [1.0], 1), fit_result(1, [1.0], 1)], [])


def test_dp_fedavg_epsilon_follows_its_sampling_and_mode():
    fixed = DPFedAvg(fraction_fit=0.5, noise_multiplier=1.0)
    poisson = DPFedAvg(fraction_fit=0.5, noise_multiplier=1.0, sampling="poisson")
    local = DPFedAvg(fraction_fit=0.5, noise_multiplier=1.0, mode="local")

    assert fixed.sampling_rate(10) == poisson.sampling_rate(10) == 0.5
    assert fixed.epsilon(10, 20, DELTA) == dp_fedavg_epsilon(1.0, 0.5, 20, DELTA, sampling="fixed", num_clients=10)
    assert poisson.epsilon(10, 20, DELTA) == dp_fedavg_epsilon(1.0, 0.5, 20, DELTA)
    assert fixed.epsilon(10, 20, DELTA) > poisson.epsilon(10, 20, DELTA)  # replace-one, twice the sensitivity
    assert local.epsilon(10, 20, DELTA) == local_dp_epsilon(1.0, 20, DELTA)


@pytest.mark.parametrize(("num_clients", "fraction_fit", "min_fit_clients"),
                         [(200, 0.2, 2), (10, 0.05, 2), (7, 0.5, 1)])
def test_fixed_sampling_accounts_for_exactly_the_clients_its_sampler_draws(num_clients, fraction_fit, min_fit_clients):
    strategy = DPFedAvg(fraction_fit=fraction_fit, min_fit_clients=min_fit_clients, min_available_clients=1)
    drawn = {len(strategy.configure_fit(r, num_clients, rng(r))[0]) for r in range(1, 6)}

    assert drawn == {strategy.clients_per_round(num_clients)}
    assert strategy.sampling_rate(num_clients) == strategy.clients_per_round(num_clients) / num_clients


def test_poisson_sampling_takes_each_client_independently_with_probability_q():
    generator = rng()
    counts = np.zeros(50)
    sizes = []
    for _ in range(4000):
        sampled = poisson_sample(50, 0.2, generator)
        assert sampled == sorted(set(sampled)) and all(0 <= cid < 50 for cid in sampled)
        counts[sampled] += 1
        sizes.append(len(sampled))

    assert np.mean(sizes) == pytest.approx(10, abs=0.15)  # binomial(50, 0.2): mean 10, varies
    assert np.var(sizes) == pytest.approx(50 * 0.2 * 0.8, rel=0.1)
    assert np.all(np.abs(counts / 4000 - 0.2) < 0.04)  # every client about q of the rounds


def test_dp_fedavg_poisson_divides_by_the_expected_number_of_clients_not_by_those_sampled():
    strategy = DPFedAvg(fraction_fit=0.5, clip_norm=1e9, noise_multiplier=0.0, sampling="poisson")
    cids, config = strategy.configure_fit(1, 10, rng(3))
    current = [np.zeros(2)]
    results = [fit_result(cid, [1.0, 2.0], 10) for cid in cids]

    parameters, _ = strategy.aggregate_fit(1, results, [], current=current)

    assert config == {"server_round": 1}
    np.testing.assert_allclose(parameters[0], np.array([1.0, 2.0]) * len(cids) / 5)  # m = q N = 5


def test_dp_fedavg_poisson_accepts_a_round_that_sampled_nobody():
    strategy = DPFedAvg(fraction_fit=0.01, noise_multiplier=1.0, clip_norm=1.0, sampling="poisson", seed=0)
    strategy.configure_fit(1, 10, rng())
    current = [np.zeros(1000)]

    parameters, _ = strategy.aggregate_fit(1, [], [], current=current)

    assert parameters[0].std() == pytest.approx(1.0 / 0.1, rel=0.1)  # noise z C over m = q N = 0.1


def test_dp_fedavg_poisson_needs_configure_fit_first():
    with pytest.raises(ValueError, match="configure_fit"):
        DPFedAvg(sampling="poisson").aggregate_fit(1, [fit_result(0, [1.0], 1)], [], current=[np.zeros(1)])


def test_dp_fedavg_poisson_run_samples_varying_numbers_of_clients(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 8, seed=0), logistic_fn, seed=0)
    strategy = DPFedAvg(fraction_fit=0.5, fraction_evaluate=0.0, noise_multiplier=0.5, sampling="poisson", seed=1)
    sizes = []
    original = strategy.configure_fit

    def counting(server_round, num_clients, generator):
        cids, config = original(server_round, num_clients, generator)
        sizes.append(len(cids))
        return cids, config

    strategy.configure_fit = counting
    run_simulation(client_fn, 8, 10, strategy, get_parameters(logistic_fn()), seed=0, progress=False)

    assert len(set(sizes)) > 1


def test_dp_fedavg_on_digits_learns_without_noise_and_noise_costs_accuracy():
    data = load_dataset("digits")

    def model_fn():
        return make_model("cnn", data.input_shape, data.num_classes, seed=0)

    client_fn = make_client_fn(data.train, iid(len(data.train), 10, seed=0), model_fn, seed=0)
    initial = get_parameters(model_fn())

    def final_accuracy(noise_multiplier):
        strategy = DPFedAvg(
            fraction_fit=0.5, fraction_evaluate=0.0, evaluate_fn=make_evaluate_fn(model_fn, data.test),
            on_fit_config_fn=lambda _: {"local_steps": 10, "batch_size": 16, "learning_rate": 0.1},
            clip_norm=1.0, noise_multiplier=noise_multiplier, seed=0,
        )
        return run_simulation(client_fn, 10, 5, strategy, initial, seed=0, progress=False)[1].final("accuracy")

    without_noise, with_noise = final_accuracy(0.0), final_accuracy(1.0)

    assert without_noise > 0.5
    assert with_noise < without_noise - 0.2


# --- accounting ---------------------------------------------------------------------------------


def rdp_epsilon_by_hand(noise_multiplier, sampling_rate, num_rounds, delta):
    """The same computation straight from dp_accounting, as a cross-check."""
    accountant = dp_accounting.rdp.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, num_rounds))
    return accountant.get_epsilon(delta)


def test_epsilon_decreases_as_the_noise_multiplier_grows():
    epsilons = [dp_fedavg_epsilon(z, 0.1, 100, DELTA) for z in (0.8, 1.0, 2.0, 4.0)]

    assert all(a > b for a, b in zip(epsilons, epsilons[1:]))


def test_epsilon_grows_with_rounds_and_sampling_rate():
    by_rounds = [dp_fedavg_epsilon(1.0, 0.1, t, DELTA) for t in (1, 10, 100)]
    by_rate = [dp_fedavg_epsilon(1.0, q, 50, DELTA) for q in (0.01, 0.1, 1.0)]

    assert all(a < b for a, b in zip(by_rounds, by_rounds[1:]))
    assert all(a < b for a, b in zip(by_rate, by_rate[1:]))


def test_epsilon_matches_dp_accounting_used_directly():
    assert dp_fedavg_epsilon(1.1, 0.05, 200, DELTA) == pytest.approx(rdp_epsilon_by_hand(1.1, 0.05, 200, DELTA))


def test_epsilon_agrees_with_abadi_et_al_mnist_setting():
    # Abadi et al. (2016), Section 3.1: q = 0.01, sigma = 4, delta = 1e-5, T = 10,000 steps gives
    # epsilon = 1.26 with the moments accountant. RDP with today's conversion is tighter (1.035)
    # and still above the nearly exact privacy-loss-distribution accountant (0.947).
    epsilon = dp_fedavg_epsilon(4.0, 0.01, 10_000, DELTA)
    pld = dp_accounting.pld.PLDAccountant()
    pld.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(0.01, dp_accounting.GaussianDpEvent(4.0)), 10_000))

    assert pld.get_epsilon(DELTA) <= epsilon <= 1.26
    assert epsilon == pytest.approx(1.035, abs=0.01)


def test_fixed_size_epsilon_is_sampling_without_replacement_of_half_the_multiplier_under_replace_one():
    accountant = dp_accounting.rdp.RdpAccountant(neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE)
    accountant.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.SampledWithoutReplacementDpEvent(200, 40, dp_accounting.GaussianDpEvent(0.5)), 30))

    fixed = dp_fedavg_epsilon(1.0, 0.2, 30, DELTA, sampling="fixed", num_clients=200)

    assert fixed == pytest.approx(accountant.get_epsilon(DELTA))
    assert fixed > dp_fedavg_epsilon(1.0, 0.2, 30, DELTA)  # Poisson at the same rate: 8.94 against 60.5


def test_fixed_size_epsilon_with_every_client_is_the_replace_one_gaussian():
    # Everyone in every round: no amplification, and replacing one client moves the sum by 2 C,
    # which is exactly the local-DP analysis (any two updates differ by up to 2 C).
    assert dp_fedavg_epsilon(2.0, 1.0, 10, DELTA, sampling="fixed", num_clients=5) == pytest.approx(
        local_dp_epsilon(2.0, 10, DELTA))


def test_fixed_size_accounting_needs_a_whole_number_of_clients():
    with pytest.raises(ValueError, match="whole number"):
        dp_fedavg_epsilon(1.0, 0.25, 10, DELTA, sampling="fixed", num_clients=10)
    with pytest.raises(TypeError, match="^num_clients "):
        dp_fedavg_epsilon(1.0, 0.2, 10, DELTA, sampling="fixed")


@pytest.mark.parametrize("sampling", ["poisson", "fixed"])
def test_noise_multiplier_for_epsilon_round_trips_for_both_samplings(sampling):
    z = noise_multiplier_for_epsilon(5.0, 0.2, 30, DELTA, sampling=sampling, num_clients=200)

    assert 4.99 <= dp_fedavg_epsilon(z, 0.2, 30, DELTA, sampling=sampling, num_clients=200) <= 5.0
    assert dp_fedavg_epsilon(z - 0.01, 0.2, 30, DELTA, sampling=sampling, num_clients=200) > 5.0


# --- cross-check with Flower 1.42 ------------------------------------------------------------------


def flower_epsilon(noise_multiplier, sampling_method, relation, num_rounds=30, sample_size=40, population=200):
    """epsilon from Flower's own accountant, flwr.serverapp.RdpAccountant (a wrapper of dp_accounting)."""
    serverapp = pytest.importorskip("flwr.serverapp")
    from flwr.supercore.privacy_accounting import GaussianPrivacyEvent

    config = serverapp.PrivacyConfig(target_delta=DELTA, population_size=population,
                                     neighboring_relation=relation, sampling_method=sampling_method)
    accountant = serverapp.RdpAccountant(config)
    accountant.compose(GaussianPrivacyEvent(noise_multiplier, sample_size, population), count=num_rounds)
    return accountant.get_epsilon(DELTA)


def test_flower_accountant_agrees_on_poisson_sampling():
    serverapp = pytest.importorskip("flwr.serverapp")
    poisson = flower_epsilon(1.0, serverapp.SamplingMethod.POISSON, serverapp.NeighboringRelation.ADD_OR_REMOVE_ONE)

    assert poisson == pytest.approx(DPFedAvg(fraction_fit=0.2, sampling="poisson").epsilon(200, 30, DELTA))
    assert poisson == pytest.approx(8.94, abs=0.01)


def test_flower_accountant_needs_half_the_multiplier_for_fixed_size_sampling():
    serverapp = pytest.importorskip("flwr.serverapp")
    method, relation = serverapp.SamplingMethod.WITHOUT_REPLACEMENT, serverapp.NeighboringRelation.REPLACE_ONE
    ours = DPFedAvg(fraction_fit=0.2, sampling="fixed").epsilon(200, 30, DELTA)

    # Flower takes the multiplier relative to whatever sensitivity the caller means; under
    # replace-one the clipped sum's is 2 C, so z C of noise is a multiplier of z / 2.
    assert flower_epsilon(0.5, method, relation) == pytest.approx(ours)
    given_z = flower_epsilon(1.0, method, relation)  # what passing z itself gives: 15.0
    assert given_z == pytest.approx(15.0, abs=0.01) and given_z < ours / 3


def test_flower_dp_strategy_accounts_without_amplification_which_is_our_sampling_rate_1():
    serverapp = pytest.importorskip("flwr.serverapp")
    flower = flower_epsilon(1.0, serverapp.SamplingMethod.NO_AMPLIFICATION,
                            serverapp.NeighboringRelation.ADD_OR_REMOVE_ONE)

    assert flower == pytest.approx(dp_fedavg_epsilon(1.0, 1.0, 30, DELTA))  # every round charged in full
    assert flower > DPFedAvg(fraction_fit=0.2, sampling="poisson").epsilon(200, 30, DELTA)


def test_flower_noise_std_on_the_average_is_ours():
    pytest.importorskip("flwr")
    from flwr.supercore.differential_privacy import compute_stdv

    current = [np.zeros(100_000)]
    results = [fit_result(cid, np.zeros(100_000), 10) for cid in range(40)]
    released, _ = DPFedAvg(clip_norm=0.7, noise_multiplier=1.0, seed=0).aggregate_fit(1, results, [], current=current)

    assert compute_stdv(1.0, 0.7, 40) == pytest.approx(1.0 * 0.7 / 40)
    assert released[0].std() == pytest.approx(compute_stdv(1.0, 0.7, 40), rel=0.01)


def test_local_dp_epsilon_is_a_gaussian_of_half_the_noise_multiplier_over_all_rounds():
    epsilon = local_dp_epsilon(2.0, 10, DELTA)
    exact = dp_accounting.get_epsilon_gaussian(1.0 / math.sqrt(10), DELTA)  # 10 of multiplier 1 = 1 of 1/sqrt(10)

    assert epsilon == pytest.approx(rdp_epsilon_by_hand(1.0, 1.0, 10, DELTA))
    assert exact <= epsilon <= 1.2 * exact  # RDP is an upper bound, and a close one here


def test_no_noise_means_infinite_epsilon():
    assert dp_fedavg_epsilon(0.0, 0.1, 10, DELTA) == math.inf
    assert local_dp_epsilon(0.0, 10, DELTA) == math.inf


@pytest.mark.parametrize(("target", "sampling_rate", "num_rounds"), [(1.0, 0.01, 1000), (1.0, 1.0, 5)])
def test_noise_multiplier_for_epsilon_round_trips(target, sampling_rate, num_rounds):
    z = noise_multiplier_for_epsilon(target, sampling_rate, num_rounds, DELTA)

    assert target - 0.01 <= dp_fedavg_epsilon(z, sampling_rate, num_rounds, DELTA) <= target
    assert dp_fedavg_epsilon(z - 0.01, sampling_rate, num_rounds, DELTA) > target  # and it is the smallest


def test_accounting_hides_the_unconverged_order_warnings_and_only_them(caplog):
    absl_filters = list(logging.getLogger("absl").filters)
    with caplog.at_level(logging.WARNING):
        dp_fedavg_epsilon(0.5, 0.5, 10, DELTA)  # low noise, high rate: fractional orders do not converge

    assert "failed to converge" not in caplog.text
    assert logging.getLogger("absl").filters == absl_filters


# --- bad input ---------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")


def two_results():
    return [fit_result(0, [1.0, 1.0], 1), fit_result(1, [1.0, 1.0], 1)]


BAD_VALUES = [
    # (call, the error, the argument its message starts with)
    (lambda: laplace_count(3, 0.0, rng()), ValueError, "epsilon"),
    (lambda: laplace_count(3, -1.0, rng()), ValueError, "epsilon"),
    (lambda: laplace_count(3, NAN, rng()), ValueError, "epsilon"),
    (lambda: laplace_count(3, INF, rng()), ValueError, "epsilon"),
    (lambda: laplace_count(-1, 1.0, rng()), ValueError, "data"),
    (lambda: laplace_count(True, 1.0, rng()), ValueError, "data"),
    (lambda: laplace_count(np.array([0.5, 1.0]), 1.0, rng()), ValueError, "data"),
    (lambda: gaussian_mechanism(1.0, 0.0, 1.0, rng()), ValueError, "sensitivity"),
    (lambda: gaussian_mechanism(1.0, INF, 1.0, rng()), ValueError, "sensitivity"),
    (lambda: gaussian_mechanism(1.0, 1.0, -1.0, rng()), ValueError, "sigma"),
    (lambda: gaussian_mechanism(1.0, 1.0, NAN, rng()), ValueError, "sigma"),
    (lambda: gaussian_mechanism(np.array([1.0, NAN]), 1.0, 1.0, rng()), ValueError, "value"),
    (lambda: gaussian_mechanism(INF, 1.0, 1.0, rng()), ValueError, "value"),
    (lambda: gaussian_sigma(-1.0, DELTA), ValueError, "epsilon"),
    (lambda: gaussian_sigma(INF, DELTA), ValueError, "epsilon"),
    (lambda: gaussian_sigma(1.0, 0.0), ValueError, "delta"),
    (lambda: gaussian_sigma(1.0, 1.0), ValueError, "delta"),
    (lambda: gaussian_sigma(1.0, NAN), ValueError, "delta"),
    (lambda: gaussian_sigma(1.0, DELTA, method="exact"), ValueError, "method"),
    (lambda: gaussian_sigma(2.0, DELTA, method="classical"), ValueError, "epsilon"),
    (lambda: global_norm([np.array([1.0, NAN])]), ValueError, "arrays"),
    (lambda: clip_update([np.ones(2)], 0.0), ValueError, "clip_norm"),
    (lambda: clip_update([np.ones(2)], INF), ValueError, "clip_norm"),
    (lambda: clip_update([np.ones(2)], NAN), ValueError, "clip_norm"),
    (lambda: clip_update([np.array([1.0, INF])], 1.0), ValueError, "update"),  # used to return NaN
    (lambda: clip_update([np.array([NAN])], 1.0), ValueError, "update"),
    (lambda: add_noise([np.ones(2)], -1.0, rng()), ValueError, "std"),
    (lambda: add_noise([np.ones(2)], INF, rng()), ValueError, "std"),
    (lambda: add_noise([np.array([INF])], 1.0, rng()), ValueError, "update"),
    (lambda: noise_rng(-1, 1, 0), ValueError, "seed"),
    (lambda: noise_rng(0, -1, 0), ValueError, "server_round"),
    (lambda: noise_rng(0, 1, -1), ValueError, "stream"),
    (lambda: poisson_sample(0, 0.5, rng()), ValueError, "num_clients"),
    (lambda: poisson_sample(10, 0.0, rng()), ValueError, "sampling_rate"),
    (lambda: poisson_sample(10, NAN, rng()), ValueError, "sampling_rate"),
    (lambda: DPFedAvg(clip_norm=-1.0), ValueError, "clip_norm"),
    (lambda: DPFedAvg(clip_norm=INF), ValueError, "clip_norm"),
    (lambda: DPFedAvg(clip_norm=NAN), ValueError, "clip_norm"),
    (lambda: DPFedAvg(noise_multiplier=-0.1), ValueError, "noise_multiplier"),
    (lambda: DPFedAvg(noise_multiplier=INF), ValueError, "noise_multiplier"),
    (lambda: DPFedAvg(noise_multiplier=NAN), ValueError, "noise_multiplier"),
    (lambda: DPFedAvg(mode="distributed"), ValueError, "mode"),
    (lambda: DPFedAvg(sampling="uniform"), ValueError, "sampling"),
    (lambda: DPFedAvg(seed=-1), ValueError, "seed"),
    (lambda: DPFedAvg().clients_per_round(0), ValueError, "num_clients"),
    (lambda: DPFedAvg().epsilon(10, 0, DELTA), ValueError, "num_rounds"),
    (lambda: DPFedAvg().epsilon(10, 5, 2.0), ValueError, "delta"),
    (lambda: DPFedAvg(clip_norm=1.0, noise_multiplier=0.0).aggregate_fit(
        1, [fit_result(0, [1.0, INF], 1), fit_result(1, [1.0, 1.0], 1)], [], current=[np.zeros(2)]),
     ValueError, "client 0's parameters"),
    (lambda: DPFedAvg().aggregate_fit(1, [fit_result(0, [1.0, 1.0, 1.0], 1), fit_result(1, [1.0, 1.0], 1)], [],
                                      current=[np.zeros(2)]), ValueError, "client 0's parameters"),
    (lambda: dp_fedavg_epsilon(-1.0, 0.1, 10, DELTA), ValueError, "noise_multiplier"),
    (lambda: dp_fedavg_epsilon(INF, 0.1, 10, DELTA), ValueError, "noise_multiplier"),
    (lambda: dp_fedavg_epsilon(1.0, 0.0, 10, DELTA), ValueError, "sampling_rate"),
    (lambda: dp_fedavg_epsilon(1.0, 1.5, 10, DELTA), ValueError, "sampling_rate"),
    (lambda: dp_fedavg_epsilon(1.0, NAN, 10, DELTA), ValueError, "sampling_rate"),
    (lambda: dp_fedavg_epsilon(1.0, 0.1, 0, DELTA), ValueError, "num_rounds"),
    (lambda: dp_fedavg_epsilon(1.0, 0.1, 10, 1.0), ValueError, "delta"),
    (lambda: dp_fedavg_epsilon(1.0, 0.1, 10, DELTA, sampling="uniform"), ValueError, "sampling"),
    (lambda: dp_fedavg_epsilon(1.0, 0.2, 10, DELTA, sampling="fixed", num_clients=0), ValueError, "num_clients"),
    (lambda: noise_multiplier_for_epsilon(0.0, 0.1, 10, DELTA), ValueError, "target_epsilon"),
    (lambda: noise_multiplier_for_epsilon(INF, 0.1, 10, DELTA), ValueError, "target_epsilon"),
    (lambda: noise_multiplier_for_epsilon(1.0, 0.1, 10, -DELTA), ValueError, "delta"),
    (lambda: noise_multiplier_for_epsilon(1.0, 0.1, -3, DELTA), ValueError, "num_rounds"),
    (lambda: local_dp_epsilon(1.0, 10, 0.0), ValueError, "delta"),
    (lambda: local_dp_epsilon(NAN, 10, DELTA), ValueError, "noise_multiplier"),
    (lambda: local_dp_epsilon(1.0, 0, DELTA), ValueError, "num_rounds"),
    (lambda: noise_rng(0, 1, 0, purpose=-1), ValueError, "purpose"),
    (lambda: DPFedAvg(target_quantile=0.0), ValueError, "target_quantile"),
    (lambda: DPFedAvg(target_quantile=1.0), ValueError, "target_quantile"),
    (lambda: DPFedAvg(target_quantile=1.5), ValueError, "target_quantile"),
    (lambda: DPFedAvg(target_quantile=NAN), ValueError, "target_quantile"),
    (lambda: DPFedAvg(target_quantile=0.5, mode="local"), ValueError, "target_quantile"),
    (lambda: DPFedAvg(clip_norm_lr=0.0), ValueError, "clip_norm_lr"),
    (lambda: DPFedAvg(clip_norm_lr=-0.2), ValueError, "clip_norm_lr"),
    (lambda: DPFedAvg(clip_norm_lr=INF), ValueError, "clip_norm_lr"),
    (lambda: DPFedAvg(clipped_count_stddev=-1.0), ValueError, "clipped_count_stddev"),
    (lambda: DPFedAvg(clipped_count_stddev=NAN), ValueError, "clipped_count_stddev"),
    (lambda: DPFedAvg(target_quantile=0.5, noise_multiplier=1.0, clipped_count_stddev=0.0), ValueError,
     "clipped_count_stddev"),  # an exact count is not private
    (lambda: DPFedAvg(target_quantile=0.5, noise_multiplier=2.0, clipped_count_stddev=1.0), ValueError,
     "noise_multiplier"),  # the count alone would need all of the budget
    (lambda: DPFedAvg(fraction_fit=0.5, target_quantile=0.5, noise_multiplier=1.0).check_population(20), ValueError,
     "noise_multiplier"),  # default clipped_count_stddev m / 20 = 0.5: too little for z = 1
    (lambda: DPFedAvg(target_quantile=0.5, noise_multiplier=0.5).aggregate_fit(1, two_results(), [],
                                                                                current=[np.zeros(2)]),
     ValueError, "target_quantile"),
    (lambda: adaptive_noise_multipliers(1.0, -1.0), ValueError, "count_stddev"),
    (lambda: adaptive_noise_multipliers(-1.0, 1.0), ValueError, "noise_multiplier"),
    (lambda: adaptive_noise_multipliers(3.0, 1.0), ValueError, "noise_multiplier"),
]

BAD_TYPES = [
    (lambda: laplace_count(3, "1", rng()), "epsilon"),
    (lambda: laplace_count(3, True, rng()), "epsilon"),
    (lambda: laplace_count(3, 1.0, 0), "rng"),
    (lambda: gaussian_mechanism("5", 1.0, 1.0, rng()), "value"),
    (lambda: gaussian_mechanism(1.0, True, 1.0, rng()), "sensitivity"),
    (lambda: gaussian_mechanism(1.0, 1.0, 1.0, np.random.RandomState(0)), "rng"),
    (lambda: gaussian_sigma(1.0, None), "delta"),
    (lambda: global_norm(np.ones(3)), "arrays"),
    (lambda: global_norm([np.array(["a"])]), "arrays"),
    (lambda: clip_update([np.ones(2)], True), "clip_norm"),
    (lambda: clip_update([np.array([True, False])], 1.0), "update"),
    (lambda: clip_update({"w": np.ones(2)}, 1.0), "update"),
    (lambda: add_noise([np.ones(2)], 1.0, None), "rng"),
    (lambda: noise_rng(1.5, 1, 0), "seed"),
    (lambda: noise_rng(True, 1, 0), "seed"),
    (lambda: noise_rng(0, 1.0, 0), "server_round"),
    (lambda: poisson_sample(10.0, 0.5, rng()), "num_clients"),
    (lambda: DPFedAvg(seed="0"), "seed"),
    (lambda: DPFedAvg(seed=False), "seed"),
    (lambda: DPFedAvg(noise_multiplier="1"), "noise_multiplier"),
    (lambda: DPFedAvg(clip_norm=None), "clip_norm"),
    (lambda: DPFedAvg().clients_per_round(True), "num_clients"),
    (lambda: dp_fedavg_epsilon(1.0, 0.1, 10.0, DELTA), "num_rounds"),
    (lambda: dp_fedavg_epsilon(1.0, 0.1, True, DELTA), "num_rounds"),
    (lambda: dp_fedavg_epsilon(None, 0.1, 10, DELTA), "noise_multiplier"),
    (lambda: dp_fedavg_epsilon(1.0, 0.2, 10, DELTA, sampling="fixed", num_clients=10.0), "num_clients"),
    (lambda: local_dp_epsilon(1.0, 10, "1e-5"), "delta"),
    (lambda: update_norms("client_fn", [0], [np.zeros(1)], {}), "client_fn"),
    (lambda: DPFedAvg(target_quantile="0.5"), "target_quantile"),
    (lambda: DPFedAvg(target_quantile=True), "target_quantile"),
    (lambda: DPFedAvg(clip_norm_lr=None), "clip_norm_lr"),
    (lambda: DPFedAvg(clipped_count_stddev="1"), "clipped_count_stddev"),
    (lambda: noise_rng(0, 1, 0, purpose=0.5), "purpose"),
]


@pytest.mark.parametrize(("call", "error", "argument"), BAD_VALUES)
def test_bad_value_raises_value_error_naming_the_argument(call, error, argument):
    with pytest.raises(error, match=rf"^{argument}[ \[]"):  # "update[0] holds NaN" names the argument too
        call()


@pytest.mark.parametrize(("call", "argument"), BAD_TYPES)
def test_wrong_type_raises_type_error_naming_the_argument(call, argument):
    with pytest.raises(TypeError, match=rf"^{argument}"):
        call()


def test_update_norms_names_a_client_whose_update_is_broken(feature_data, logistic_fn):
    class Broken:
        def fit(self, parameters, config):
            return [np.full(np.shape(p), np.nan) for p in parameters], 1, {}

    with pytest.raises(ValueError, match="^client 3's parameters"):
        update_norms(lambda cid: Broken(), [3], get_parameters(logistic_fn()), {})


def test_global_norm_of_huge_finite_entries_does_not_overflow():
    assert global_norm([np.array([3e300]), np.array([4e300])]) == pytest.approx(5e300)
    clipped, _ = clip_update([np.array([3e300, 4e300])], 1.0)
    np.testing.assert_allclose(clipped[0], [0.6, 0.8])


# --- choosing the clipping norm -------------------------------------------------------------------


def test_update_norms_are_the_norms_of_each_clients_new_minus_sent_parameters(feature_data, logistic_fn):
    partitions = iid(len(feature_data), 4, seed=0)
    client_fn = make_client_fn(feature_data, partitions, logistic_fn, test_fraction=0.0, seed=0)
    sent = get_parameters(logistic_fn())
    before = [a.copy() for a in sent]
    config = {"local_epochs": 1, "batch_size": 4, "learning_rate": 0.1, "server_round": 3}

    norms = update_norms(client_fn, [2, 0], sent, config)

    by_hand = [global_norm([n - p for n, p in zip(client_fn(cid).fit(sent, config)[0], sent)]) for cid in (2, 0)]
    assert norms.shape == (2,) and norms.dtype == np.float64
    assert norms == pytest.approx(by_hand)
    assert all(np.array_equal(a, b) for a, b in zip(sent, before))  # the sent parameters are left alone


def test_update_norms_grow_with_the_learning_rate(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 2, seed=0), logistic_fn, test_fraction=0.0)
    sent = get_parameters(logistic_fn())

    small, large = (update_norms(client_fn, [0, 1], sent, {"local_steps": 1, "batch_size": 8, "learning_rate": lr})
                    for lr in (0.01, 0.1))

    assert np.all(large > small) and np.all(small > 0)


# --- adaptive clipping (Andrew et al., 2021) ------------------------------------------------


def adaptive(**kwargs):
    options = {"fraction_fit": 0.5, "clip_norm": 0.1, "noise_multiplier": 1.0, "sampling": "fixed",
               "target_quantile": 0.5, "seed": 3, **kwargs}
    return DPFedAvg(**options)


def run_on_norms(strategy, norm_of, num_clients=100, num_rounds=150, seed=0):
    """Run ``strategy`` on synthetic updates ``[norm, 0, 0]`` (``norm_of(generator, cids)``); its C per round."""
    generator = np.random.default_rng(seed)
    strategy.reset()
    strategy.check_population(num_clients)
    current = [np.zeros(3)]
    for server_round in range(1, num_rounds + 1):
        cids, _ = strategy.configure_fit(server_round, num_clients, generator)
        norms = norm_of(generator, cids)
        results = [(cid, [np.array([norm, 0.0, 0.0])], 1, {}) for cid, norm in zip(cids, norms)]
        current, _ = strategy.aggregate_fit(server_round, results, [], current=current)
        current = [np.zeros(3)]  # every round starts again from zero: only the norms matter here
    return np.asarray(strategy.clip_norm_history)


def lognormal_norms(median=2.0, spread=0.3):
    return lambda generator, cids: np.exp(generator.normal(np.log(median), spread, len(cids)))


@pytest.mark.parametrize("sampling", ["fixed", "poisson"])
@pytest.mark.parametrize("target_quantile", [0.2, 0.5, 0.8])
def test_adaptive_clip_norm_converges_to_the_target_quantile_of_the_norms(target_quantile, sampling):
    history = run_on_norms(adaptive(target_quantile=target_quantile, sampling=sampling), lognormal_norms(),
                           num_rounds=250)
    quantile = float(np.exp(np.log(2.0) + 0.3 * __import__("scipy").stats.norm.ppf(target_quantile)))

    assert history[0] == 0.1  # the first round uses clip_norm
    assert abs(np.median(history[-100:]) / quantile - 1) < 0.1


def test_adaptive_clip_norm_grows_when_every_update_is_clipped_and_shrinks_when_none_is():
    grows = run_on_norms(adaptive(clip_norm=1.0), lambda g, cids: np.full(len(cids), 100.0), num_rounds=5)
    shrinks = run_on_norms(adaptive(clip_norm=1.0), lambda g, cids: np.zeros(len(cids)), num_rounds=5)

    assert np.all(np.diff(grows) > 0) and np.all(np.diff(shrinks) < 0)
    # without noise the step is exactly exp(-lr * (fraction within C - target)) = exp(+-0.1)
    exact = run_on_norms(adaptive(clip_norm=1.0, noise_multiplier=0.0), lambda g, cids: np.zeros(len(cids)),
                         num_rounds=3)
    assert np.allclose(exact, [1.0, math.exp(-0.1), math.exp(-0.2)])


def test_adaptive_clipping_spends_the_same_epsilon_as_fixed_clipping_and_gives_the_count_its_share():
    fixed, adapting = DPFedAvg(fraction_fit=0.2, noise_multiplier=1.0, sampling="poisson"), adaptive(
        fraction_fit=0.2, sampling="poisson")
    m = 0.2 * 200
    sigma_b = m / 20  # Andrew et al.'s default, as Flower's

    assert adapting.epsilon(200, 20, DELTA) == fixed.epsilon(200, 20, DELTA)
    assert adapting.count_stddev(200) == sigma_b
    z_update = adapting.update_noise_multiplier(200)
    assert z_update > 1.0
    assert math.isclose((z_update ** -2 + (2 * sigma_b) ** -2) ** -0.5, 1.0)  # one Gaussian of multiplier z
    assert fixed.update_noise_multiplier(200) == 1.0


def test_adaptive_update_noise_has_std_z_update_times_the_current_clip_norm_over_m():
    strategy = adaptive(fraction_fit=0.5, clip_norm=0.4, noise_multiplier=1.0, clipped_count_stddev=2.0)
    cids, _ = strategy.configure_fit(1, 40, rng())
    current = [np.zeros(20_000)]
    new, _ = strategy.aggregate_fit(1, [(cid, current, 1, {}) for cid in cids], [], current=current)
    expected = adaptive_noise_multipliers(1.0, 2.0) * 0.4 / 20

    assert abs(np.std(new[0]) / expected - 1) < 0.03


def test_the_count_of_unclipped_updates_carries_noise_of_std_clipped_count_stddev():
    lr, m, sigma_b = 0.2, 20, 1.5
    steps = []
    for seed in range(2000):  # all norms 0: every bit is 1, so log(C1 / C0) = -lr * (1 + noise / m - 1/2)
        strategy = adaptive(fraction_fit=0.5, clip_norm=1.0, clipped_count_stddev=sigma_b, seed=seed)
        steps.append(math.log(run_on_norms(strategy, lambda g, cids: np.zeros(len(cids)), num_clients=40,
                                           num_rounds=2, seed=seed)[1]))
    steps = np.asarray(steps)

    assert abs(np.mean(steps) + lr * 0.5) < 4 * lr * sigma_b / m / math.sqrt(len(steps))
    assert abs(np.std(steps) / (lr * sigma_b / m) - 1) < 0.08


@pytest.mark.parametrize("lie", ["huge", "zero"])
def test_a_client_choosing_its_norm_bit_moves_the_clip_norm_by_at_most_its_share(lie):
    """A client decides its bit only through its update's norm; whatever it sends, C moves by at most exp(lr / m)."""
    m, lr = 20, 0.2
    honest_norms = np.linspace(0.5, 1.5, m)
    lying_norm = 1e6 if lie == "huge" else 0.0

    def next_clip_norm(norms):
        strategy = adaptive(fraction_fit=0.5, clip_norm=1.0, seed=11)
        cids, _ = strategy.configure_fit(1, 2 * m, rng())
        current = [np.zeros(3)]
        results = [(cid, [np.array([norm, 0.0, 0.0])], 1, {}) for cid, norm in zip(cids, norms)]
        strategy.aggregate_fit(1, results, [], current=current)
        return strategy.current_clip_norm

    honest = next_clip_norm(honest_norms)
    ratios = [next_clip_norm(np.concatenate([honest_norms[:i], [lying_norm], honest_norms[i + 1:]])) / honest
              for i in range(m)]

    assert all(math.exp(-lr / m) * (1 - 1e-12) <= r <= math.exp(lr / m) * (1 + 1e-12) for r in ratios)
    assert max(abs(math.log(r)) for r in ratios) == pytest.approx(lr / m)  # a flipped bit moves it by exactly that


def test_adaptive_runs_repeat_with_a_seed_and_differ_without_one():
    first = run_on_norms(adaptive(seed=5), lognormal_norms(), num_rounds=30)
    again = run_on_norms(adaptive(seed=5), lognormal_norms(), num_rounds=30)
    other = run_on_norms(adaptive(seed=6), lognormal_norms(), num_rounds=30)
    unseeded = [run_on_norms(adaptive(seed=None), lognormal_norms(), num_rounds=30) for _ in range(2)]

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(*unseeded)


def test_adaptive_strategy_starts_every_run_from_clip_norm(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 8, seed=0), logistic_fn, seed=0)
    strategy = DPFedAvg(fraction_fit=0.5, fraction_evaluate=0.0, clip_norm=0.05, noise_multiplier=0.0,
                        target_quantile=0.5, sampling="poisson", seed=1)
    runs = [run_simulation(client_fn, 8, 6, strategy, get_parameters(logistic_fn()), seed=0, progress=False)
            for _ in range(2)]
    history = list(strategy.clip_norm_history)

    assert history[0] == 0.05 and len(history) == 6 and history[-1] != 0.05
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))  # reset: the same run twice
    assert len(strategy.unclipped_history) == 6 and all(0 <= f <= 1 for f in strategy.unclipped_history)


def test_fixed_clipping_noise_is_what_it_was_before_adaptive_clipping():
    """purpose=0 keeps the seeded noise of every earlier lesson: the generator of [seed, round, stream]."""
    assert np.array_equal(noise_rng(4, 2, 1).normal(size=5), np.random.default_rng([4, 2, 1]).normal(size=5))
    assert not np.array_equal(noise_rng(4, 2, 0, purpose=1).normal(size=5), noise_rng(4, 2, 0).normal(size=5))


def test_flower_adaptive_clipping_counts_clipped_updates_so_its_bound_moves_away_from_the_median():
    """Flower 1.42's server-side adaptive clipping, without noise, on norms of median 1 from C = 0.5:
    C falls; ours rises."""
    serverapp = pytest.importorskip("flwr.serverapp")
    from flwr.supercore.differential_privacy import adaptive_clip_inputs_inplace

    flower = serverapp.strategy.DifferentialPrivacyServerSideAdaptiveClipping(
        serverapp.strategy.FedAvg(), noise_multiplier=0.0, num_sampled_clients=20, initial_clipping_norm=0.5)
    generator = np.random.default_rng(0)
    for _ in range(20):
        norms = np.exp(generator.normal(0.0, 0.3, 20))
        bits = sum(int(adaptive_clip_inputs_inplace([np.array([n, 0.0])], flower.clipping_norm)) for n in norms)
        flower._geometric_update(flower._noisy_fraction(bits, 20))
    ours = run_on_norms(adaptive(clip_norm=0.5, noise_multiplier=0.0, fraction_fit=0.2), lognormal_norms(1.0),
                        num_rounds=20)

    assert flower.clipping_norm < 0.1  # away from the median, towards 0
    assert abs(ours[-1] - 1.0) < 0.2  # towards the median
