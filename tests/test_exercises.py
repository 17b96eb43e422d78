"""Tests of course_utils.exercises: the generic checks first, then the checks of each notebook's exercises."""

import numpy as np
import pytest

from course_utils.exercises import Verdict, check_function, check_value, difference

# Generic checks ---------------------------------------------------------------------------------


def test_verdict_is_truthy_when_correct_and_displays_as_its_message():
    right, wrong = Verdict(True, "✓ yes"), Verdict(False, "✗ no")

    assert bool(right) is True and bool(wrong) is False
    assert repr(right) == "✓ yes" and repr(wrong) == "✗ no"


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        (3, 3.0),
        (0.1 + 0.2, 0.3),  # equal within the tolerance
        (np.array([1.0, 2.0]), np.array([1, 2])),
        ([1.0, 2.0], np.array([1, 2])),  # a list may answer an array
        ([1, np.array([2.0, 3.0])], [1, np.array([2.0, 3.0])]),
        ((1, "a"), (1, "a")),
        ("text", "text"),
        (True, True),
        (None, None),
        (np.array([np.nan, 1.0]), np.array([np.nan, 1.0])),  # NaN where NaN is expected is right
    ],
)
def test_difference_is_none_when_equal(got, expected):
    assert difference(got, expected) is None


def test_difference_respects_atol():
    assert difference(1.05, 1.0, atol=0.1) is None
    assert difference(1.05, 1.0) is not None


def test_difference_of_numbers_gives_both_values_and_the_gap():
    assert difference(1.5, 1.0) == "values differ: expected 1., got 1.5 (largest difference 0.5)"


def test_difference_of_arrays_gives_the_largest_gap_and_where_it_is():
    assert difference(np.array([1, 2, 3]), np.array([1, 2, 4])) == (
        "values differ: expected [1. 2. 4.], got [1. 2. 3.] (largest difference 1 at index (2,))"
    )


def test_difference_of_large_arrays_describes_them_by_shape():
    got = np.zeros((3, 4))
    got[1, 2] = 0.5

    assert difference(got, np.zeros((3, 4))) == (
        "values differ: expected array(3, 4), got array(3, 4) (largest difference 0.5 at index (1, 2))"
    )


@pytest.mark.parametrize("got", [np.array([np.nan, 2.0]), np.array([np.nan, np.nan]), np.array([np.inf, 2.0])])
def test_difference_reports_nan_or_inf_where_a_number_is_expected(got):
    problem = difference(got, np.array([1.0, 2.0]))

    assert problem is not None
    assert problem.endswith("(largest difference inf at index (0,))")


def test_difference_reports_shape_mismatch():
    assert difference(np.zeros(2), np.zeros(3)) == "expected shape (3,), got shape (2,)"
    assert difference(np.zeros((2, 3)), np.zeros((3, 2))) == "expected shape (3, 2), got shape (2, 3)"


def test_difference_of_lists_names_the_first_differing_item():
    assert difference([1, 2], [1, 3]) == "item 1: values differ: expected 3., got 2. (largest difference 1)"
    assert difference((0, [1, "b"]), (0, [1, "c"])) == "item 1: item 1: expected 'c', got 'b'"


def test_difference_reports_length_mismatch():
    assert difference([1, 2, 3], [1, 2]) == "expected 2 items, got 3"
    assert difference((1,), (1, 2)) == "expected 2 items, got 1"


def test_difference_reports_a_non_sequence_where_a_list_or_tuple_is_expected():
    assert difference(3, [1, 3]) == "expected a list of 2 items, got int"
    assert difference(np.array([1, 2]), (1, 2)) == "expected a tuple of 2 items, got ndarray"


def test_difference_of_strings():
    assert difference("a", "b") == "expected 'b', got 'a'"
    assert difference(1, "1") == "expected '1', got 1"


def test_difference_reports_a_string_where_a_number_is_expected():
    assert difference("abc", 1.0) == "expected a number or array like 1.0, got 'abc'"


def square(x):
    return x**2


def make_array(rng):
    return (rng.normal(size=3),)


def test_check_function_accepts_a_correct_function():
    verdict = check_function(lambda x: x * x, square, make_array, trials=5)

    assert verdict
    assert repr(verdict) == "✓ Correct: your function matches the reference on 5 random inputs."


def test_check_function_calls_make_inputs_once_per_trial():
    calls = []

    check_function(square, square, lambda rng: calls.append(1) or (rng.normal(),), trials=7)

    assert len(calls) == 7


def test_check_function_shows_the_input_and_the_difference_for_a_wrong_function():
    verdict = check_function(lambda x: 2 * x, square, lambda rng: (3.0,))

    assert not verdict
    assert verdict.message == (
        "✗ Not yet. On input (3.0):\n  values differ: expected 9., got 6. (largest difference 3)"
    )


def test_check_function_finds_a_function_wrong_only_on_some_inputs():
    inputs = iter([(2.0,), (-2.0,)])

    verdict = check_function(lambda x: x, abs, lambda rng: next(inputs), trials=2)

    assert not verdict
    assert "On input (-2.0)" in verdict.message


def test_check_function_adds_the_hint_of_the_matching_wrong_function():
    hints = [(lambda x: x + 1, "did you add one?"), (lambda x: 2 * x, "square, don't double.")]

    verdict = check_function(lambda x: 2 * x, square, lambda rng: (3.0,), hints=hints)

    assert not verdict
    assert verdict.message.endswith("\n  Hint: square, don't double.")
    assert "did you add one?" not in verdict.message


def test_check_function_gives_no_hint_when_no_wrong_function_matches():
    verdict = check_function(lambda x: x + 5, square, lambda rng: (3.0,), hints=[(lambda x: 2 * x, "double")])

    assert not verdict
    assert "Hint" not in verdict.message


def test_check_function_says_not_answered_while_not_implemented():
    def unanswered(x):
        raise NotImplementedError

    verdict = check_function(unanswered, square, make_array)

    assert not verdict
    assert verdict.message.startswith("Not answered yet")


def test_check_function_names_another_exception_and_the_input():
    def broken(x):
        raise KeyError("oops")

    verdict = check_function(broken, square, lambda rng: (3.0,))

    assert not verdict
    assert verdict.message == "✗ Your function raised KeyError: 'oops'\n  on input (3.0)"


def test_check_function_gives_each_function_its_own_copy_of_the_inputs():
    original = np.array([1.0, 2.0, 3.0])

    def learner(x):  # mutates its input: x.sum() + 3 is wrong
        x += 1
        return x.sum()

    def reference(x):  # mutates its input too, after reading it
        total = x.sum()
        x[:] = 100.0
        return total

    hints = [(lambda x: x.sum() + len(x), "don't change the input")]

    verdict = check_function(learner, reference, lambda rng: (original,), trials=1, hints=hints)

    # The learner saw the original input (not the reference's 100s), so its answer is 6 + 3 = 9,
    # and the hint function saw it too (not the learner's + 1), so the hint matches.
    assert "expected 6., got 9." in verdict.message
    assert verdict.message.endswith("Hint: don't change the input")
    assert np.array_equal(original, [1.0, 2.0, 3.0])


def test_check_function_uses_the_seed_for_its_inputs():
    seen = {0: [], 1: []}
    for seed in seen:
        check_function(square, square, lambda rng, seed=seed: seen[seed].append(rng.normal()) or (1.0,), trials=2,
                       seed=seed)

    again = []
    check_function(square, square, lambda rng: again.append(rng.normal()) or (1.0,), trials=2, seed=0)

    assert again == seen[0] != seen[1]


def test_check_value_accepts_the_right_answer():
    assert check_value(0.1 + 0.2, 0.3, "explanation") == Verdict(True, "✓ Correct.")
    assert check_value([1, 2], (1, 2), "explanation")  # a list answers a tuple


def test_check_value_explains_a_wrong_answer():
    verdict = check_value(0.5, 0.25, "Half of the clients hold half of the data.")

    assert not verdict
    assert verdict.message == (
        "✗ Not yet: values differ: expected 0.25, got 0.5 (largest difference 0.25).\n"
        "  Half of the clients hold half of the data."
    )


@pytest.mark.parametrize("answer", [None, ...])
def test_check_value_says_not_answered_for_none_or_ellipsis(answer):
    verdict = check_value(answer, 3, "explanation")

    assert not verdict
    assert verdict.message.startswith("Not answered yet")


def test_check_value_respects_atol():
    assert check_value(0.31, 0.3, "", atol=0.05)
    assert not check_value(0.31, 0.3, "")


# Notebook 01 · When data cannot move ------------------------------------------------------------


def test_check_unseen_fraction_accepts_the_right_answer():
    from course_utils.exercises import check_unseen_fraction

    assert check_unseen_fraction(lambda counts: (counts == 0).mean(axis=1))
    assert check_unseen_fraction(lambda counts: 1 - np.count_nonzero(counts, axis=1) / counts.shape[1])


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda counts: (counts == 0).sum(axis=1), "divide by the number of classes"),
        (lambda counts: (counts > 0).mean(axis=1), "HAS seen"),
        (lambda counts: (counts == 0).mean(axis=0), "axis=1"),
    ],
)
def test_check_unseen_fraction_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_unseen_fraction

    verdict = check_unseen_fraction(wrong)

    assert not verdict
    assert verdict.message.startswith("✗ Not yet") and hint in verdict.message


def test_check_unseen_fraction_says_not_answered_yet():
    from course_utils.exercises import check_unseen_fraction

    def unanswered(counts):
        raise NotImplementedError

    assert check_unseen_fraction(unanswered).message.startswith("Not answered yet")


def test_check_worst_client_accepts_the_lowest_accuracy_and_explains_a_wrong_answer():
    from course_utils.exercises import check_worst_client

    counts = np.array([[5, 0, 3], [0, 0, 9], [1, 1, 1]])
    accuracies = {0: 0.5, 1: 0.2, 2: 0.8}

    assert check_worst_client(1, accuracies, counts)
    verdict = check_worst_client(2, accuracies, counts)
    assert not verdict
    assert "Client 1 reaches only 0.200" in verdict.message
    assert "9 examples, none of class(es) [0, 1], and 100% of them are one class (2)" in verdict.message
    assert check_worst_client(None, accuracies, counts).message.startswith("Not answered yet")


def test_check_update_bytes_accepts_the_right_answer():
    from course_utils.exercises import check_update_bytes

    assert check_update_bytes(lambda n, dtype: n * np.dtype(dtype).itemsize)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda n, dtype: n, "each one takes"),
        (lambda n, dtype: 4 * n, "float32 only"),
        (lambda n, dtype: 8 * n * np.dtype(dtype).itemsize, "that is bits"),
        (lambda n, dtype: n * np.dtype(dtype).itemsize / 2**20, "that is MiB"),
    ],
)
def test_check_update_bytes_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_update_bytes

    verdict = check_update_bytes(wrong)

    assert not verdict
    assert hint in verdict.message


# Notebook 02: weighted_average and apply_differences --------------------------------------------


def _by_layer(results):
    """The clients' arrays grouped by layer."""
    return list(zip(*(parameters for parameters, _ in results)))


def _np_average(results):
    return [np.average(np.stack(layer), axis=0, weights=[n for _, n in results]) for layer in _by_layer(results)]


def _unanswered(*args):
    raise NotImplementedError


def test_check_weighted_average_accepts_fedavg_written_another_way():
    from course_utils.exercises import check_weighted_average

    verdict = check_weighted_average(_np_average)

    assert verdict
    assert verdict.message.startswith("✓ Correct")


def test_check_weighted_average_reference_gives_the_10_and_100_example_by_hand():
    from course_utils.aggregate import fedavg

    averaged = fedavg([([np.array([0.0], dtype=np.float32)], 10), ([np.array([11.0], dtype=np.float32)], 100)])

    assert averaged[0][0] == pytest.approx(10.0)  # (10 * 0 + 100 * 11) / 110, not the plain mean 5.5


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda results: [np.mean(np.stack(layer), axis=0) for layer in _by_layer(results)], "plain (unweighted) mean"),
        (lambda results: [sum(a * n for a, (_, n) in zip(layer, results)) / len(results)
                          for layer in _by_layer(results)],
         "divided by the number of clients"),
        (lambda results: [sum(a * n for a, (_, n) in zip(layer, results)) for layer in _by_layer(results)],
         "that is the weighted sum"),
    ],
)
def test_check_weighted_average_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_weighted_average

    verdict = check_weighted_average(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_weighted_average_says_not_answered_and_names_other_errors():
    from course_utils.exercises import check_weighted_average

    assert check_weighted_average(_unanswered).message.startswith("Not answered yet")
    assert "raised TypeError" in check_weighted_average(lambda results: results + 1).message


def test_check_apply_differences_accepts_the_right_answer():
    from course_utils.exercises import check_apply_differences

    verdict = check_apply_differences(lambda g, results: [a + d for a, d in zip(g, _np_average(results))])

    assert verdict
    assert verdict.message.startswith("✓ Correct")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda g, results: _np_average(results), "the averaged difference alone"),
        (lambda g, results: [a + np.mean(np.stack(layer), axis=0) for a, layer in zip(g, _by_layer(results))],
         "plain (unweighted) mean of the differences"),
        (lambda g, results: [a - d for a, d in zip(g, _np_average(results))], "you subtracted"),
    ],
)
def test_check_apply_differences_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_apply_differences

    verdict = check_apply_differences(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_apply_differences_says_not_answered():
    from course_utils.exercises import check_apply_differences

    assert check_apply_differences(_unanswered).message.startswith("Not answered yet")


# Notebook 09 · Federated analytics and secure aggregation ----------------------------------------


def test_check_federated_mean_accepts_the_pooled_mean():
    from course_utils.exercises import check_federated_mean

    assert check_federated_mean(lambda pairs: sum(s for s, _ in pairs) / sum(n for _, n in pairs))
    assert check_federated_mean(lambda pairs: np.divide(*np.sum(np.array(pairs), axis=0)))


def test_check_federated_mean_reference_weights_by_count():
    from course_utils.exercises.analytics import _federated_mean

    # 3 values of mean 10 and 300 values of mean 20: the pooled mean is near 20, not 15.
    assert _federated_mean([(30.0, 3), (6000.0, 300)]) == pytest.approx(6030 / 303)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda pairs: float(np.mean([s / n for s, n in pairs])), "mean of the clients' means"),
        (lambda pairs: sum(s for s, _ in pairs) / len(pairs), "divided the total by the number of clients"),
        (lambda pairs: sum(s for s, _ in pairs), "that is the total of the values"),
    ],
)
def test_check_federated_mean_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_federated_mean

    verdict = check_federated_mean(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_federated_mean_says_not_answered():
    from course_utils.exercises import check_federated_mean

    assert check_federated_mean(_unanswered).message.startswith("Not answered yet")


def test_check_mask_pair_accepts_modular_arithmetic_written_several_ways():
    from course_utils.exercises import check_mask_pair

    assert check_mask_pair(lambda x_u, x_v, r, bits: ((x_u + r) % 2**bits, (x_v - r) % 2**bits))
    as_ints = lambda a: a.astype(np.int64)  # noqa: E731  (negative differences, then Python's modulo)
    assert check_mask_pair(lambda x_u, x_v, r, bits: ((as_ints(x_u) + as_ints(r)) % 2**bits,
                                                      (as_ints(x_v) - as_ints(r)) % 2**bits))


def test_check_mask_pair_reference_masks_cancel_in_the_sum():
    from course_utils.exercises.analytics import _mask_pair

    x_u, x_v, r = (np.array(v, dtype=np.uint64) for v in ([5, 200], [3, 0], [250, 100]))

    y_u, y_v = _mask_pair(x_u, x_v, r, bits=8)

    assert y_u.tolist() == [255, 44] and y_v.tolist() == [9, 156]  # 5 + 250, 200 + 100 - 256; 3 - 250 + 256, ...
    assert ((y_u + y_v) % 256).tolist() == [8, 200]  # = x_u + x_v: the mask is gone


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda x_u, x_v, r, bits: (x_u + r, x_v - r), "reduce modulo 2**bits"),
        (lambda x_u, x_v, r, bits: ((x_u + r) % 2**bits, (x_v + r) % 2**bits), "both clients added the mask"),
        (lambda x_u, x_v, r, bits: ((x_u - r) % 2**bits, (x_v + r) % 2**bits), "the signs are swapped"),
        (lambda x_u, x_v, r, bits: (x_u, x_v), "unmasked inputs"),
    ],
)
def test_check_mask_pair_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_mask_pair

    verdict = check_mask_pair(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_mask_pair_says_not_answered():
    from course_utils.exercises import check_mask_pair

    assert check_mask_pair(_unanswered).message.startswith("Not answered yet")


def test_check_dropout_tolerance_accepts_threshold_shares_and_the_rest_as_dropouts():
    from course_utils.exercises import check_dropout_tolerance

    assert check_dropout_tolerance((6, 4), num_clients=10, threshold=6)
    assert check_dropout_tolerance([3, 2], num_clients=5, threshold=3)


@pytest.mark.parametrize(
    ("answer", "extra"),
    [
        ((6, 6), "6 is how many must survive"),
        ((5, 4), "threshold - 1 is the most shares that reveal nothing"),
        ((6, 5), None),
    ],
)
def test_check_dropout_tolerance_explains_a_wrong_answer(answer, extra):
    from course_utils.exercises import check_dropout_tolerance

    verdict = check_dropout_tolerance(answer, num_clients=10, threshold=6)

    assert not verdict
    assert "at most 10 - 6 = 4 clients may drop out" in verdict.message
    if extra:
        assert extra in verdict.message


def test_check_dropout_tolerance_says_not_answered():
    from course_utils.exercises import check_dropout_tolerance

    assert check_dropout_tolerance(None, 10, 6).message.startswith("Not answered yet")


# Notebook 03 · Federated averaging and federated evaluation -------------------------------------


def _nb03_unanswered(*args):
    raise NotImplementedError


def _nb03_weighted_accuracy(client_metrics):
    pairs = [(m["accuracy"], m["num_examples"]) for m in client_metrics.values()]
    return sum(a * n for a, n in pairs) / sum(n for _, n in pairs)


def test_weighted_client_accuracy_reference_by_hand():
    from course_utils.exercises.evaluation import _client_weighted_accuracy

    metrics = {3: {"num_examples": 10, "accuracy": 0.5}, 7: {"num_examples": 100, "accuracy": 1.0}}

    assert _client_weighted_accuracy(metrics) == pytest.approx(105 / 110)


def test_check_weighted_client_accuracy_accepts_the_right_answer():
    from course_utils.exercises import check_weighted_client_accuracy

    verdict = check_weighted_client_accuracy(_nb03_weighted_accuracy)

    assert verdict
    assert verdict.message.startswith("✓ Correct")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda metrics: float(np.mean([m["accuracy"] for m in metrics.values()])), "unweighted mean"),
        (lambda metrics: sum(m["accuracy"] * m["num_examples"] for m in metrics.values()),
         "number of correct predictions"),
        (lambda metrics: sum(m["accuracy"] * m["num_examples"] for m in metrics.values()) / len(metrics),
         "divided the weighted sum by the number of clients"),
        (lambda metrics: float(np.mean(list(metrics))), "client ids"),
    ],
)
def test_check_weighted_client_accuracy_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_weighted_client_accuracy

    verdict = check_weighted_client_accuracy(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_weighted_client_accuracy_says_not_answered():
    from course_utils.exercises import check_weighted_client_accuracy

    assert check_weighted_client_accuracy(_nb03_unanswered).message.startswith("Not answered yet")


NB03_CLIENT_METRICS = {
    0: {"num_examples": 12, "loss": 0.2, "accuracy": 0.75},
    4: {"num_examples": 7, "loss": 1.1, "accuracy": 0.5714},
    9: {"num_examples": 3, "loss": 0.0, "accuracy": 1.0},
}
NB03_COUNTS = np.array([[5, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 30, 4], [0, 0, 0], [0, 0, 0], [0, 0, 0],
                        [0, 0, 0], [2, 2, 2]])


@pytest.mark.parametrize("answer", [4, np.int64(4), 4.0])
def test_check_worst_evaluated_client_accepts_the_worst_client(answer):
    from course_utils.exercises import check_worst_evaluated_client

    assert check_worst_evaluated_client(answer, NB03_CLIENT_METRICS, NB03_COUNTS)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (9, "best-served client"),
        (0.5714, "looks like an accuracy"),
        (5, "was not evaluated"),
        ([4], "must be a client id"),
        (0, "Client 4 has the lowest accuracy, 0.571 on its 7 test example(s)"),
    ],
)
def test_check_worst_evaluated_client_explains_wrong_answers(answer, hint):
    from course_utils.exercises import check_worst_evaluated_client

    verdict = check_worst_evaluated_client(answer, NB03_CLIENT_METRICS, NB03_COUNTS)

    assert not verdict
    assert hint in verdict.message


def test_check_worst_evaluated_client_names_the_dominant_class_when_given_counts():
    from course_utils.exercises import check_worst_evaluated_client

    with_counts = check_worst_evaluated_client(0, NB03_CLIENT_METRICS, NB03_COUNTS).message
    without = check_worst_evaluated_client(0, NB03_CLIENT_METRICS).message

    assert "35 examples, 86% of them of class 1" in with_counts
    assert "class" not in without


def test_check_worst_evaluated_client_breaks_ties_by_the_smaller_id():
    from course_utils.exercises import check_worst_evaluated_client

    tied = {2: {"num_examples": 5, "accuracy": 0.6}, 1: {"num_examples": 5, "accuracy": 0.6}}

    assert check_worst_evaluated_client(1, tied)
    assert not check_worst_evaluated_client(2, tied)


def test_check_worst_evaluated_client_says_not_answered():
    from course_utils.exercises import check_worst_evaluated_client

    assert check_worst_evaluated_client(None, NB03_CLIENT_METRICS).message.startswith("Not answered yet")


@pytest.mark.parametrize("seed", range(5))
def test_client_updates_reference_counts_what_fedavg_samples(seed):
    from course_utils.exercises.evaluation import _client_updates, _random_sampling_setup
    from course_utils.strategy import FedAvg

    rng = np.random.default_rng(seed)
    for _ in range(20):
        num_clients, num_rounds, fraction_fit, min_fit_clients = _random_sampling_setup(rng)
        strategy = FedAvg(fraction_fit=fraction_fit, min_fit_clients=min_fit_clients, min_available_clients=1)
        sampled = sum(len(strategy.configure_fit(r, num_clients, rng)[0]) for r in range(1, num_rounds + 1))

        assert _client_updates(num_clients, num_rounds, fraction_fit, min_fit_clients) == sampled


def test_client_updates_reference_by_hand():
    from course_utils.exercises.evaluation import _client_updates

    assert _client_updates(20, 20, 0.3) == 120  # 6 clients a round
    assert _client_updates(10, 5, 0.1) == 10  # int(1.0) = 1 < min_fit_clients = 2
    assert _client_updates(3, 4, 1.0, min_fit_clients=5) == 12  # never more than there are clients


def test_check_client_updates_accepts_the_right_answer():
    from course_utils.exercises import check_client_updates

    verdict = check_client_updates(lambda n, r, f, m=2: r * min(n, max(int(f * n), m)))

    assert verdict
    assert verdict.message.startswith("✓ Correct")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda n, r, f, m=2: r * int(f * n), "can fall below min_fit_clients"),
        (lambda n, r, f, m=2: r * min(n, max(int(np.ceil(f * n)), m)), "down (int), not up"),
        (lambda n, r, f, m=2: r * min(n, max(round(f * n), m)), "down (int), not up nor to the nearest"),
        (lambda n, r, f, m=2: min(n, max(int(f * n), m)), "number of clients in one round"),
    ],
)
def test_check_client_updates_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_client_updates

    verdict = check_client_updates(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_client_updates_says_not_answered():
    from course_utils.exercises import check_client_updates

    assert check_client_updates(_nb03_unanswered).message.startswith("Not answered yet")


# Notebook 04 · Heterogeneous data ---------------------------------------------------------------


def test_check_largest_class_share_accepts_the_right_answer():
    from course_utils.exercises import check_largest_class_share

    assert check_largest_class_share(lambda counts: float(np.mean(counts.max(axis=1) / counts.sum(axis=1))))
    assert check_largest_class_share(lambda counts: np.mean([row.max() / row.sum() for row in counts]))


def test_check_largest_class_share_reference_on_a_hand_computed_case():
    from course_utils.exercises.heterogeneity import _largest_class_share

    # client 0: 3 of 4 in its top class; client 1: balanced over 2 classes -> mean of 0.75 and 0.5
    assert _largest_class_share(np.array([[3, 1, 0], [0, 5, 5]])) == pytest.approx(0.625)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda counts: counts.max(axis=1) / counts.sum(axis=1), "one share per client"),
        (lambda counts: counts.max(axis=1).mean(), "divide each client's count"),
        (lambda counts: counts.max(axis=1).sum() / counts.sum(), "weights clients by their size"),
        (lambda counts: (counts.max(axis=0) / counts.sum(axis=0)).mean(), "axis=1"),
    ],
)
def test_check_largest_class_share_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_largest_class_share

    verdict = check_largest_class_share(wrong)

    assert not verdict
    assert verdict.message.startswith("✗ Not yet") and hint in verdict.message


def test_check_largest_class_share_says_not_answered_yet():
    from course_utils.exercises import check_largest_class_share

    def unanswered(counts):
        raise NotImplementedError

    assert check_largest_class_share(unanswered).message.startswith("Not answered yet")


# Notebook 05 · Client selection, failures and stragglers ----------------------------------------


def test_check_round_success_probability_accepts_the_right_answer():
    from math import comb

    from course_utils.exercises import check_round_success_probability

    def right(num_sampled, failure_rate, min_fit_successes):
        fail = sum(comb(num_sampled, k) * (1 - failure_rate) ** k * failure_rate ** (num_sampled - k)
                   for k in range(min_fit_successes))
        return 1 - fail

    assert check_round_success_probability(right)


def test_round_success_probability_reference_matches_hand_computed_cases():
    from course_utils.exercises.failures import _round_success_probability

    assert _round_success_probability(10, 0.5, 8) == pytest.approx(56 / 1024)  # 45 + 10 + 1 ways of 8+ successes
    assert _round_success_probability(10, 0.5, 2) == pytest.approx(1 - 11 / 1024)
    assert _round_success_probability(3, 0.0, 3) == 1.0
    assert _round_success_probability(1, 0.2, 1) == pytest.approx(0.8)


def test_round_success_probability_reference_agrees_with_simulated_dropouts():
    from course_utils.exercises.failures import _round_success_probability
    from course_utils.faults import ClientDropout, make_unreliable

    class Stub:
        def __init__(self, cid):
            self.cid, self.train_data, self.test_data = cid, [0], None

        def fit(self, parameters, config):
            return parameters, 1, {}

    clients = make_unreliable(Stub, 0.5, seed=0)
    rounds_ok = 0
    for server_round in range(1, 2001):
        succeeded = 0
        for cid in range(10):
            try:
                clients(cid).fit([], {"server_round": server_round})
                succeeded += 1
            except ClientDropout:
                pass
        rounds_ok += succeeded >= 8

    assert rounds_ok / 2000 == pytest.approx(_round_success_probability(10, 0.5, 8), abs=0.02)


def _binomial(n, p_success, ks):
    """The chance of a number of successes in ``ks`` out of ``n`` tries that each succeed with ``p_success``."""
    from math import comb

    return sum(comb(n, k) * p_success**k * (1 - p_success) ** (n - k) for k in ks)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda n, p, m: _binomial(n, 1 - p, [m]), "exactly min_fit_successes succeed"),
        (lambda n, p, m: _binomial(n, 1 - p, range(m + 1, n + 1)), "start the sum at k = min_fit_successes"),
        (lambda n, p, m: _binomial(n, p, range(m, n + 1)), "SUCCEEDS with probability 1 - failure_rate"),
        (lambda n, p, m: _binomial(n, 1 - p, range(m)), "the round FAILS"),
        (lambda n, p, m: float(n * (1 - p) >= m), "expected number of successes"),
    ],
)
def test_check_round_success_probability_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_round_success_probability

    verdict = check_round_success_probability(wrong)

    assert not verdict
    assert hint in verdict.message


def test_check_round_success_probability_says_not_answered_yet():
    from course_utils.exercises import check_round_success_probability

    def unanswered(num_sampled, failure_rate, min_fit_successes):
        raise NotImplementedError

    assert check_round_success_probability(unanswered).message.startswith("Not answered yet")


def _learner_round_times(speeds, local_steps, batch_size, deadline):
    """A learner's right answer, written differently from the reference."""
    full = [local_steps * batch_size / speed for speed in speeds]
    partial = [max(1, min(local_steps, int(deadline * speed // batch_size))) * batch_size / speed for speed in speeds]
    return max(full), deadline if max(full) > deadline else max(full), max(partial)


def test_check_round_times_accepts_the_right_answer():
    from course_utils.exercises import check_round_times

    assert check_round_times(_learner_round_times)
    assert check_round_times(lambda *args: list(_learner_round_times(*args)))  # a list will do


def test_round_times_reference_matches_hand_computed_cases():
    from course_utils.exercises.failures import _round_times

    speeds = np.array([100.0, 10.0])  # 4 steps of 16 examples: 0.64 s and 6.4 s
    assert _round_times(speeds, 4, 16, 1.0) == pytest.approx((6.4, 1.0, 1.6))  # partial: the slow one does 1 step
    assert _round_times(speeds, 4, 16, 10.0) == pytest.approx((6.4, 6.4, 6.4))  # nobody late
    assert _round_times(np.array([100.0, 40.0]), 4, 16, 1.0)[2] == pytest.approx(0.8)  # 2 steps at 40/s


@pytest.mark.parametrize("seed", range(5))
def test_round_times_reference_matches_timed_clients_and_deadline_fedavg(seed):
    from course_utils.exercises import DEADLINE_POLICIES
    from course_utils.exercises.failures import _random_round, _round_times
    from course_utils.faults import DeadlineFedAvg, TimedClient

    class Stub:
        def __init__(self, cid, size):
            self.cid, self.train_data, self.test_data = cid, [0] * size, None

        def fit(self, parameters, config):
            return parameters, len(self.train_data), {}

    rng = np.random.default_rng(seed)
    for _ in range(20):
        speeds, local_steps, batch_size, deadline = _random_round(rng)
        expected = _round_times(speeds, local_steps, batch_size, deadline)
        for policy, expected_time in zip(DEADLINE_POLICIES, expected):
            if policy == "drop" and np.all(local_steps * batch_size / speeds > deadline):
                continue  # everyone late: the round fails, there is no round time to compare
            strategy = DeadlineFedAvg(deadline=deadline, policy=policy, min_fit_clients=1)
            _, config = strategy.configure_fit(1, len(speeds), rng)
            config = {**config, "local_steps": local_steps, "batch_size": batch_size}
            results = [(cid, *TimedClient(Stub(cid, 50), float(speed)).fit([np.zeros(1)], config))
                       for cid, speed in enumerate(speeds)]
            _, metrics = strategy.aggregate_fit(1, results, [], current=[np.zeros(1)])

            assert metrics["round_time"] == pytest.approx(expected_time)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ({"reduce": np.mean}, "not the mean"),
        ({"per_batch": False}, "one step processes batch_size examples"),
        ({"drop": "on_time"}, "only knows a client is late when the deadline passes"),
        ({"drop": "wait"}, "stops waiting at the deadline"),
        ({"partial": "wait"}, "only the steps that fit before the deadline"),
        ({"partial": "fractional"}, "whole mini-batch steps"),
        ({"partial": "zero"}, "at least one step"),
    ],
)
def test_check_round_times_rejects_typical_mistakes_with_a_hint(mistake, hint):
    from course_utils.exercises import check_round_times
    from course_utils.exercises.failures import _round_times_with

    verdict = check_round_times(lambda *args: _round_times_with(*args, **mistake))

    assert not verdict
    assert hint in verdict.message


def test_check_round_times_says_not_answered_yet():
    from course_utils.exercises import check_round_times

    def unanswered(speeds, local_steps, batch_size, deadline):
        raise NotImplementedError

    assert check_round_times(unanswered).message.startswith("Not answered yet")


def test_a_function_that_matches_no_typical_mistake_gets_no_hint():
    from course_utils.exercises import check_round_continues

    verdict = check_round_continues(lambda num_sampled, num_failed, min_fit_successes, accept_failures: True)

    assert not verdict
    assert "Hint" not in verdict.message


def test_check_round_continues_accepts_the_right_answer():
    from course_utils.exercises import check_round_continues

    def right(num_sampled, num_failed, min_fit_successes, accept_failures):
        if num_failed > 0 and not accept_failures:
            return False
        return num_sampled - num_failed >= min_fit_successes

    assert check_round_continues(right)


def test_round_continues_reference_matches_hand_computed_cases():
    from course_utils.exercises.failures import _round_continues

    assert _round_continues(10, 2, 8, True)  # exactly the minimum succeeded
    assert not _round_continues(10, 3, 8, True)
    assert not _round_continues(10, 1, 2, False)  # one failure is one too many
    assert _round_continues(10, 0, 2, False)
    assert not _round_continues(10, 10, 1, True)  # nobody succeeded


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda n, f, m, accept: n - f >= m, "a single failure skips the round"),
        (lambda n, f, m, accept: (accept or f == 0) and n - f > m, "compare with >="),
        (lambda n, f, m, accept: (accept or f == 0) and f <= m, "must SUCCEED"),
        (lambda n, f, m, accept: accept or f == 0, "even with accept_failures=True"),
    ],
)
def test_check_round_continues_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_round_continues

    verdict = check_round_continues(wrong)

    assert not verdict
    assert hint in verdict.message


def test_check_round_continues_says_not_answered_yet():
    from course_utils.exercises import check_round_continues

    def unanswered(num_sampled, num_failed, min_fit_successes, accept_failures):
        raise NotImplementedError

    assert check_round_continues(unanswered).message.startswith("Not answered yet")


# Notebook 06 · Aggregation and communication ----------------------------------------------------


def _np_median(results):
    return [np.median(np.stack(layer), axis=0) for layer in _by_layer(results)]


def test_check_coordinate_median_accepts_np_median_over_the_clients():
    from course_utils.exercises import check_coordinate_median

    verdict = check_coordinate_median(_np_median)

    assert verdict
    assert verdict.message.startswith("✓ Correct")


def test_check_coordinate_median_reference_by_hand():
    from course_utils.aggregate import median

    three = median([([np.array([1.0, 5.0])], 1), ([np.array([2.0, -9.0])], 50), ([np.array([100.0, 4.0])], 2)])
    four = median([([np.array([1.0])], 1), ([np.array([2.0])], 1), ([np.array([4.0])], 1), ([np.array([100.0])], 9)])

    np.testing.assert_allclose(three[0], [2.0, 4.0])  # one outlier per coordinate does not move it
    np.testing.assert_allclose(four[0], [3.0])  # even count: the mean of the two middle values


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda results: [np.mean(np.stack(layer), axis=0) for layer in _by_layer(results)], "mean of each coordinate"),
        (_np_average, "FedAvg's weighted mean"),
        (lambda results: [np.sort(np.stack(layer), axis=0)[len(results) // 2] for layer in _by_layer(results)],
         "mean of the two middle values"),
        (lambda results: [np.sort(np.stack(layer), axis=0)[(len(results) - 1) // 2] for layer in _by_layer(results)],
         "mean of the two middle values"),
    ],
)
def test_check_coordinate_median_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_coordinate_median

    verdict = check_coordinate_median(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_coordinate_median_says_not_answered():
    from course_utils.exercises import check_coordinate_median

    assert check_coordinate_median(_unanswered).message.startswith("Not answered yet")


def _quantized_bytes_by_hand(shapes, bits):
    return sum(-(-int(np.prod(shape)) * bits // 8) + 8 for shape in shapes)


def test_check_quantized_bytes_accepts_the_right_answer():
    from course_utils.exercises import check_quantized_bytes

    verdict = check_quantized_bytes(_quantized_bytes_by_hand)

    assert verdict
    assert verdict.message.startswith("✓ Correct")


def test_quantized_bytes_of_the_digits_cnn_by_hand():
    from course_utils.compression import quantize

    shapes = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (10, 512), (10,)]  # 9,930 numbers in 6 arrays

    assert quantize([np.zeros(s) for s in shapes], 8)[1] == 9930 + 6 * 8
    assert quantize([np.zeros(s) for s in shapes], 4)[1] == 72 + 8 + 2304 + 16 + 2560 + 5 + 6 * 8


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda shapes, bits: sum(-(-int(np.prod(s)) * bits // 8) for s in shapes), "you counted the codes only"),
        (lambda shapes, bits: sum(int(np.prod(s)) * bits + 8 for s in shapes), "in bits"),
        (lambda shapes, bits: sum(4 * int(np.prod(s)) for s in shapes), "uncompressed size"),
        (lambda shapes, bits: sum(np.prod(s) * bits / 8 + 8 for s in shapes), "math.ceil"),
    ],
)
def test_check_quantized_bytes_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_quantized_bytes

    verdict = check_quantized_bytes(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_quantized_bytes_says_not_answered():
    from course_utils.exercises import check_quantized_bytes

    assert check_quantized_bytes(_unanswered).message.startswith("Not answered yet")


def _top_k_by_hand(vector, k):
    out = np.zeros_like(vector)
    for i in np.argsort(-np.abs(vector))[:k]:
        out[i] = vector[i]
    return out


def test_check_top_k_vector_accepts_the_right_answer():
    from course_utils.exercises import check_top_k_vector

    verdict = check_top_k_vector(_top_k_by_hand)

    assert verdict
    assert verdict.message.startswith("✓ Correct")


def test_top_k_vector_reference_by_hand():
    from course_utils.exercises.aggregation import _top_k_vector

    np.testing.assert_array_equal(_top_k_vector(np.array([0.5, -3.0, 2.0, 0.1]), 2), [0.0, -3.0, 2.0, 0.0])


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda v, k: np.where(np.isin(np.arange(len(v)), np.argsort(v)[len(v) - k:]), v, 0.0), "largest values"),
        (lambda v, k: np.where(np.isin(np.arange(len(v)), np.argsort(np.abs(v))[:k]), v, 0.0), "smallest magnitudes"),
        (lambda v, k: v[np.argsort(-np.abs(v))[:k]], "same length as the input"),
        (lambda v, k: v[np.sort(np.argsort(np.abs(v))[len(v) - k:])], "same length as the input"),
    ],
)
def test_check_top_k_vector_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_top_k_vector

    verdict = check_top_k_vector(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_top_k_vector_says_not_answered():
    from course_utils.exercises import check_top_k_vector

    assert check_top_k_vector(_unanswered).message.startswith("Not answered yet")


# Notebook 10 · Differential privacy ---------------------------------------------------------------


def _nb08_unanswered(*args):
    raise NotImplementedError


def _nb08_norm(update):
    return float(np.sqrt(sum(np.sum(a**2) for a in update)))


def test_check_clip_update_accepts_global_norm_clipping_written_another_way():
    from course_utils.exercises import check_clip_update

    def clip(update, clip_norm):
        norm = np.linalg.norm(np.concatenate([a.ravel() for a in update]))
        return [a if norm <= clip_norm else a * clip_norm / norm for a in update]

    verdict = check_clip_update(clip)

    assert verdict
    assert verdict.message.startswith("✓ Correct")


def test_clip_update_reference_by_hand():
    from course_utils.exercises.privacy import _dp_clipped

    big = _dp_clipped([np.array([3.0, 0.0]), np.array([4.0])], 1.0)  # norm 5: scaled by 1/5
    small = _dp_clipped([np.array([0.3]), np.array([0.4])], 1.0)  # norm 0.5: unchanged

    assert np.allclose(big[0], [0.6, 0.0]) and np.allclose(big[1], [0.8])
    assert np.allclose(small[0], [0.3]) and np.allclose(small[1], [0.4])


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda update, c: [a * min(1.0, c / np.linalg.norm(a)) for a in update], "each array to clip_norm on its own"),
        (lambda update, c: [a * c / _nb08_norm(update) for a in update], "also the small ones"),
        (lambda update, c: [a * max(1.0, c / _nb08_norm(update)) for a in update], "Use min"),
        (lambda update, c: [a / _nb08_norm(update) for a in update], "gives every update norm 1"),
        (lambda update, c: (update, _nb08_norm(update)), None),
    ],
)
def test_check_clip_update_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_clip_update

    verdict = check_clip_update(wrong)

    assert not verdict
    if hint:
        assert "Hint:" in verdict.message and hint in verdict.message


def test_check_clip_update_says_to_return_the_arrays_only():
    from course_utils.exercises import check_clip_update
    from course_utils.privacy import clip_update

    verdict = check_clip_update(clip_update)  # returns (clipped, norm)

    assert not verdict
    assert "not the norm as well" in verdict.message


def test_check_clip_update_says_not_answered():
    from course_utils.exercises import check_clip_update

    assert check_clip_update(_nb08_unanswered).message.startswith("Not answered yet")


def test_check_laplace_scale_accepts_sensitivity_over_epsilon():
    from course_utils.exercises import check_laplace_scale
    from course_utils.exercises.privacy import _dp_laplace_scale

    assert check_laplace_scale(lambda sensitivity, epsilon: sensitivity / epsilon)
    assert _dp_laplace_scale(30.0, 0.5) == pytest.approx(60.0)  # stays capped at 30 days, epsilon 0.5


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda s, e: 1.0 / e, "sensitivity / epsilon"),
        (lambda s, e: e / s, "the wrong way round"),
        (lambda s, e: s * e, "divide by epsilon"),
        (lambda s, e: np.sqrt(2) * s / e, "standard deviation"),
    ],
)
def test_check_laplace_scale_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_laplace_scale

    verdict = check_laplace_scale(wrong)

    assert not verdict
    assert "Hint:" in verdict.message and hint in verdict.message


def test_check_laplace_scale_says_not_answered():
    from course_utils.exercises import check_laplace_scale

    assert check_laplace_scale(_nb08_unanswered).message.startswith("Not answered yet")


NB08_A = {"noise_multiplier": 1.0, "sampling_rate": 0.1, "num_rounds": 100}  # epsilon 7.90 at delta 1e-5
NB08_B = {"noise_multiplier": 1.0, "sampling_rate": 0.2, "num_rounds": 50}  # epsilon 11.34


@pytest.mark.parametrize("answer", ["A", "a", " A "])
def test_check_smaller_epsilon_accepts_the_setting_with_the_smaller_epsilon(answer):
    from course_utils.exercises import check_smaller_epsilon

    assert check_smaller_epsilon(answer, NB08_A, NB08_B)
    assert check_smaller_epsilon("B", NB08_B, NB08_A)  # the order of the settings does not matter


def test_check_smaller_epsilon_explains_with_the_accountants_numbers():
    from course_utils.exercises import check_smaller_epsilon

    verdict = check_smaller_epsilon("B", NB08_A, NB08_B)

    assert not verdict
    assert "epsilon = 7.90" in verdict.message and "epsilon = 11.34" in verdict.message
    assert "amplification by sampling" in verdict.message


def test_check_smaller_epsilon_more_noise_wins_at_equal_rate_and_rounds():
    from course_utils.exercises import check_smaller_epsilon

    noisier = {**NB08_A, "noise_multiplier": 2.0}

    assert check_smaller_epsilon("B", NB08_A, noisier)


@pytest.mark.parametrize("answer", ["C", 1, ["A"]])
def test_check_smaller_epsilon_asks_for_a_or_b(answer):
    from course_utils.exercises import check_smaller_epsilon

    verdict = check_smaller_epsilon(answer, NB08_A, NB08_B)

    assert not verdict
    assert "Answer with the string 'A' or 'B'" in verdict.message


def test_check_smaller_epsilon_says_not_answered():
    from course_utils.exercises import check_smaller_epsilon

    assert check_smaller_epsilon(None, NB08_A, NB08_B).message.startswith("Not answered yet")


# Notebook 11 · Case study: cancer detection across hospitals ------------------------------------


def _nb09_unanswered(*args):
    raise NotImplementedError


def _nb09_recall_by_counts(labels, predictions):
    caught = np.sum((labels == 0) & (predictions == 0))
    missed = np.sum((labels == 0) & (predictions == 1))
    return caught / (caught + missed)


def test_check_malignant_recall_accepts_true_positives_over_malignant_cases():
    from course_utils.exercises import check_malignant_recall

    verdict = check_malignant_recall(_nb09_recall_by_counts)
    assert verdict and verdict.message.startswith("✓")


def test_malignant_recall_reference_by_hand():
    from course_utils.exercises.hospitals import _malignant_recall

    labels, predictions = np.array([0, 0, 0, 1, 1]), np.array([0, 1, 0, 0, 1])  # 2 of 3 cancers caught
    assert _malignant_recall(labels, predictions) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda y, p: np.mean(p[y == 1] == 1), "specificity"),
        (lambda y, p: np.mean(p == y), "accuracy over all tumours"),
        (lambda y, p: np.mean(y[p == 0] == 0), "precision"),
        (lambda y, p: np.mean(p[y == 0] == 1), "1 - recall"),
        (lambda y, p: np.sum((p == 0) & (y == 0)), "number of cancers caught"),
    ],
)
def test_check_malignant_recall_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_malignant_recall

    verdict = check_malignant_recall(wrong)
    assert not verdict and verdict.message.startswith("✗")
    assert hint in verdict.message


def test_check_malignant_recall_says_not_answered():
    from course_utils.exercises import check_malignant_recall

    assert check_malignant_recall(_nb09_unanswered).message.startswith("Not answered yet")


NB09_ALONE = {0: 0.905, 1: 0.952, 2: 0.786, 3: 1.0, 4: 0.452}  # malignant recall of each hospital's own model
NB09_COUNTS = np.array([[23, 98], [35, 6], [4, 23], [105, 5], [3, 153]])  # malignant, benign per hospital


def test_check_biggest_gain_accepts_the_largest_gain():
    from course_utils.exercises import check_biggest_gain

    verdict = check_biggest_gain(4, NB09_ALONE, 0.929, NB09_COUNTS)
    assert verdict and verdict.message == "✓ Correct."


def test_check_biggest_gain_takes_one_federated_value_per_hospital():
    from course_utils.exercises import check_biggest_gain

    federated = {0: 0.9, 1: 0.9, 2: 0.95, 3: 1.0, 4: 0.4}  # hospital 2 gains 0.164, hospital 4 loses
    assert check_biggest_gain(2, NB09_ALONE, federated)
    assert not check_biggest_gain(4, NB09_ALONE, federated)


def test_check_biggest_gain_explains_with_the_numbers_and_the_counts():
    from course_utils.exercises import check_biggest_gain

    verdict = check_biggest_gain(3, NB09_ALONE, 0.929, NB09_COUNTS)
    assert not verdict
    assert "Hospital 3 gains -0.071" in verdict.message
    assert "from 0.452 on its own to 0.929" in verdict.message
    assert "156 patients, 3 of them malignant" in verdict.message


def test_check_biggest_gain_says_the_smallest_hospital_is_not_always_the_answer():
    from course_utils.exercises import check_biggest_gain

    verdict = check_biggest_gain(2, NB09_ALONE, 0.929, NB09_COUNTS)  # hospital 2 is the smallest
    assert not verdict and "smallest hospital is not always" in verdict.message


@pytest.mark.parametrize(("answer", "hint"), [(0.477, "looks like a score"), ("hospital 4", "must be a hospital id"),
                                              (7, "There is no hospital 7")])
def test_check_biggest_gain_explains_answers_that_are_not_hospital_ids(answer, hint):
    from course_utils.exercises import check_biggest_gain

    verdict = check_biggest_gain(answer, NB09_ALONE, 0.929)
    assert not verdict and hint in verdict.message


def test_check_biggest_gain_says_not_answered():
    from course_utils.exercises import check_biggest_gain

    assert check_biggest_gain(None, NB09_ALONE, 0.929).message.startswith("Not answered yet")


def _nb09_pooled_std(stats):
    n = sum(c for c, _, _ in stats)
    mean = sum(s for _, s, _ in stats) / n
    return np.sqrt((sum(q for _, _, q in stats) - n * mean**2) / n)


def test_check_pooled_std_accepts_the_pooled_std_written_another_way():
    from course_utils.exercises import check_pooled_std

    verdict = check_pooled_std(_nb09_pooled_std)
    assert verdict and verdict.message.startswith("✓")


def test_pooled_std_reference_equals_np_std_of_the_pooled_values():
    from course_utils.exercises.hospitals import _pooled_std

    a, b = np.array([1.0, 2.0, 3.0]), np.array([10.0])
    stats = [(a.size, a.sum(), np.sum(a**2)), (b.size, b.sum(), np.sum(b**2))]
    assert _pooled_std(stats) == pytest.approx(np.std(np.r_[a, b]))


def _nb09_variances(stats):
    return np.array([q / c - (s / c) ** 2 for c, s, q in stats])


def _nb09_totals(stats):
    return [sum(column) for column in zip(*stats)]


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda stats: np.mean(np.sqrt(_nb09_variances(stats))), "mean of the hospitals' own standard deviations"),
        (lambda stats: np.sqrt(np.dot([c for c, _, _ in stats], _nb09_variances(stats)) / sum(c for c, _, _ in stats)),
         "WITHIN the hospitals only"),
        (lambda stats: (lambda n, s, q: q / n - (s / n) ** 2)(*_nb09_totals(stats)), "its square root"),
        (lambda stats: (lambda n, s, q: np.sqrt((q - s**2 / n) / (n - 1)))(*_nb09_totals(stats)), "N - 1"),
        (lambda stats: (lambda n, s, q: np.sqrt(q / n))(*_nb09_totals(stats)), "root mean square"),
    ],
)
def test_check_pooled_std_rejects_typical_mistakes_with_a_hint(wrong, hint):
    from course_utils.exercises import check_pooled_std

    verdict = check_pooled_std(wrong)
    assert not verdict and verdict.message.startswith("✗")
    assert hint in verdict.message


def test_check_pooled_std_says_not_answered():
    from course_utils.exercises import check_pooled_std

    assert check_pooled_std(_nb09_unanswered).message.startswith("Not answered yet")


# Notebook 11 · From scratch to Flower (these checks need Flower; skipped without it) ------------

NB10_COURSE_SETTINGS = dict(fraction_fit=0.3, fraction_evaluate=0.5, min_fit_clients=3, min_evaluate_clients=2,
                            min_available_clients=10)
NB10_FLOWER_ARGUMENTS = dict(fraction_train=0.3, fraction_evaluate=0.5, min_train_nodes=3, min_evaluate_nodes=2,
                             min_available_nodes=10)


def test_check_flower_fedavg_arguments_accepts_flowers_names():
    pytest.importorskip("flwr")
    from course_utils.exercises import check_flower_fedavg_arguments

    verdict = check_flower_fedavg_arguments(dict(NB10_FLOWER_ARGUMENTS), NB10_COURSE_SETTINGS)

    assert verdict and verdict.message.startswith("✓")


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (NB10_COURSE_SETTINGS, "calls clients *nodes* and fit *train*"),
        ({**NB10_FLOWER_ARGUMENTS, "min_train_nodes": 2},
         "min_train_nodes means what the course's min_fit_clients means"),
        ({k: v for k, v in NB10_FLOWER_ARGUMENTS.items() if k != "min_available_nodes"},
         "'min_available_nodes' is missing"),
        ({**NB10_FLOWER_ARGUMENTS, "fraction_training": 1.0}, "has no argument 'fraction_training'"),
        ({**NB10_FLOWER_ARGUMENTS, "weighted_by_key": "num-examples"}, "no counterpart in the course's settings"),
        ([("fraction_train", 0.3)], "expected a dict"),
    ],
)
def test_check_flower_fedavg_arguments_explains_typical_mistakes(answer, hint):
    pytest.importorskip("flwr")
    from course_utils.exercises import check_flower_fedavg_arguments

    verdict = check_flower_fedavg_arguments(answer, NB10_COURSE_SETTINGS)

    assert not verdict
    assert hint in verdict.message


def test_check_flower_fedavg_arguments_says_not_answered():
    from course_utils.exercises import check_flower_fedavg_arguments

    assert check_flower_fedavg_arguments(None, NB10_COURSE_SETTINGS).message.startswith("Not answered yet")


def _nb10_not_answered(*args):
    raise NotImplementedError


def test_check_array_record_conversion_accepts_flowers_own_conversions():
    flwr_app = pytest.importorskip("flwr.app")
    from course_utils.exercises import check_array_record_conversion

    verdict = check_array_record_conversion(lambda p: flwr_app.ArrayRecord(p), lambda r: r.to_numpy_ndarrays())

    assert verdict and verdict.message.startswith("✓")
    # the loop a learner may write by hand is right too
    assert check_array_record_conversion(lambda p: flwr_app.ArrayRecord(p), lambda r: [a.numpy() for a in r.values()])


@pytest.mark.parametrize(
    ("to_record", "from_record", "hint"),
    [
        (None, lambda r: [r[k].numpy() for k in sorted(r.keys())], "'10' comes before '2'"),
        (None, lambda r: list(r.values()), "call .numpy() on each"),
        (None, lambda r: [a.numpy().astype(np.float64) for a in r.values()], "keep each array's own dtype"),
        (lambda p: p, None, "to_record must return an ArrayRecord"),
        ("reversed", None, "reading your ArrayRecord back gives different arrays"),
        ("float64", None, "keep each array's own dtype"),
        (_nb10_not_answered, None, "Not answered yet"),
        (None, _nb10_not_answered, "Not answered yet"),
    ],
)
def test_check_array_record_conversion_explains_typical_mistakes(to_record, from_record, hint):
    flwr_app = pytest.importorskip("flwr.app")
    from course_utils.exercises import check_array_record_conversion

    to_record = {
        None: lambda p: flwr_app.ArrayRecord(p),
        "reversed": lambda p: flwr_app.ArrayRecord(p[::-1]),
        "float64": lambda p: flwr_app.ArrayRecord([a.astype(np.float64) for a in p]),
    }.get(to_record, to_record) if not callable(to_record) else to_record
    from_record = from_record or (lambda r: r.to_numpy_ndarrays())

    verdict = check_array_record_conversion(to_record, from_record)

    assert not verdict
    assert hint in verdict.message


# The language of the feedback: set in a Chinese notebook's setup cell, read by the checks.

@pytest.fixture
def restore_language():
    from course_utils.exercises import language, set_language

    before = language()
    yield
    set_language(before)


def test_language_is_english_until_set_and_follows_set_language(restore_language):
    from course_utils.exercises import language, set_language

    assert language() == "en"  # every test starts with the default: no test leaves another language set
    set_language("zh")
    assert language() == "zh"
    set_language("en")
    assert language() == "en"


@pytest.mark.parametrize("bad", ["fr", "ZH", "zh_CN", "", None, 1])
def test_set_language_refuses_anything_but_en_or_zh_and_keeps_the_language(bad, restore_language):
    from course_utils.exercises import language, set_language

    set_language("zh")
    with pytest.raises(ValueError, match=r"language must be one of \('en', 'zh'\)"):
        set_language(bad)
    assert language() == "zh"
