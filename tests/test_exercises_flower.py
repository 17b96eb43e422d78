"""The Flower notebook's DP exercises: the wrapper check accepts Flower's own answer and explains typical
mistakes; the epsilon-growth prediction is judged against what the accountant measures."""

import importlib.util

import pytest

from course_utils.exercises.flower import DP_EXERCISE, check_epsilon_growth_prediction, check_flower_dp_wrapper

needs_flower = pytest.mark.skipif(importlib.util.find_spec("flwr") is None, reason="Flower is not installed")


def wrapper(strategy_class=None, noise=1.2, clip=1.0, sampled=5, population=10, delta=1e-5, accountant=True,
            new_strategy=False):
    """A learner's answer, right by default; each argument makes one typical mistake."""
    from flwr.serverapp import NeighboringRelation, PrivacyConfig, RdpAccountant, SamplingMethod
    from flwr.serverapp import strategy as flower_strategies

    strategy_class = strategy_class or flower_strategies.DifferentialPrivacyServerSideFixedClipping

    def wrap(strategy):
        inner = flower_strategies.FedAvg() if new_strategy else strategy
        account = RdpAccountant(PrivacyConfig(target_delta=delta, population_size=population,
                                              neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                                              sampling_method=SamplingMethod.NO_AMPLIFICATION)) if accountant else None
        return strategy_class(inner, noise, clip, sampled, accountant=account)

    return wrap


@needs_flower
def test_check_flower_dp_wrapper_accepts_the_server_side_wrapper_with_its_accountant():
    verdict = check_flower_dp_wrapper(wrapper())
    assert verdict, verdict.message
    assert verdict.message.startswith("✓")


@needs_flower
@pytest.mark.parametrize("mistake, hint", [
    (dict(strategy_class="client"), "fixedclipping_mod"),
    (dict(noise=1.0, clip=1.2), "swapped"),
    (dict(noise=0.5), "noise_multiplier should be 1.2"),
    (dict(sampled=10), "fraction_train x nodes = 5"),
    (dict(accountant=False), "no accountant"),
    (dict(population=5), "population_size"),
    (dict(delta=1e-3), "target_delta"),
    (dict(new_strategy=True), "the strategy you were given"),
])
def test_check_flower_dp_wrapper_explains_typical_mistakes(mistake, hint):
    from flwr.serverapp import strategy as flower_strategies

    if mistake.get("strategy_class") == "client":
        mistake = {**mistake, "strategy_class": flower_strategies.DifferentialPrivacyClientSideFixedClipping}
    verdict = check_flower_dp_wrapper(wrapper(**mistake))
    assert not verdict
    assert hint in verdict.message, verdict.message


@needs_flower
def test_check_flower_dp_wrapper_refuses_the_bare_strategy_and_says_not_answered():
    assert not check_flower_dp_wrapper(lambda strategy: strategy)
    def unanswered(strategy):
        raise NotImplementedError
    assert check_flower_dp_wrapper(unanswered).message.startswith("Not answered yet")


@needs_flower
def test_check_flower_dp_wrapper_shows_what_flower_refuses():
    from flwr.serverapp import strategy as flower_strategies

    verdict = check_flower_dp_wrapper(
        lambda s: flower_strategies.DifferentialPrivacyServerSideFixedClipping(s, -1.0, 1.0, 5))
    assert not verdict and "ValueError" in verdict.message


def test_dp_exercise_samples_a_whole_number_of_nodes():
    assert (DP_EXERCISE["fraction_train"] * DP_EXERCISE["num_nodes"]).is_integer()


@pytest.mark.parametrize("answer, correct", [(4.0, True), (3.6, True), (2.0, False), (1.0, False), (8.0, False)])
def test_check_epsilon_growth_prediction_judges_against_the_measured_ratio(answer, correct):
    verdict = check_epsilon_growth_prediction(answer, epsilon_short=10.0, epsilon_long=39.0, factor=4)
    assert bool(verdict) is correct, verdict.message
    assert "3.90 times" in verdict.message


@pytest.mark.parametrize("answer", [None, ..., "4", True, -1, 0])
def test_check_epsilon_growth_prediction_refuses_non_answers(answer):
    verdict = check_epsilon_growth_prediction(answer, 10.0, 20.0, 4)
    assert not verdict
