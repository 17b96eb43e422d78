import numpy as np
import pytest

from course_utils.client import make_client_fn
from course_utils.evaluation import evaluate_clients, evaluate_parameters, make_evaluate_fn
from course_utils.models import get_parameters, make_model, set_parameters
from course_utils.partition import iid
from course_utils.training import evaluate, train


@pytest.fixture
def trained_parameters(feature_data, logistic_fn):
    model = logistic_fn()
    train(model, feature_data, epochs=5, batch_size=8)
    return get_parameters(model)


def test_evaluate_parameters_matches_evaluating_the_loaded_model(feature_data, logistic_fn, trained_parameters):
    model = logistic_fn()
    set_parameters(model, trained_parameters)

    assert evaluate_parameters(logistic_fn, trained_parameters, feature_data) == evaluate(model, feature_data)


def test_evaluate_parameters_ignores_the_model_fn_initial_weights(feature_data, trained_parameters):
    def model_fn_seed_0():
        return make_model("logistic", (4,), 2, seed=0)

    def model_fn_seed_1():
        return make_model("logistic", (4,), 2, seed=1)

    first = evaluate_parameters(model_fn_seed_0, trained_parameters, feature_data)
    second = evaluate_parameters(model_fn_seed_1, trained_parameters, feature_data)

    assert first == second


def test_make_evaluate_fn_returns_loss_and_accuracy(feature_data, logistic_fn, trained_parameters):
    evaluate_fn = make_evaluate_fn(logistic_fn, feature_data)

    loss, metrics = evaluate_fn(3, trained_parameters)

    assert (loss, metrics["accuracy"]) == evaluate_parameters(logistic_fn, trained_parameters, feature_data)
    assert set(metrics) == {"accuracy"}
    assert metrics["accuracy"] == 1.0


def test_evaluate_clients_reports_every_client_with_test_data(feature_data, logistic_fn, trained_parameters):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 4, seed=0), logistic_fn)

    report = evaluate_clients(client_fn, [0, 2, 3], trained_parameters)

    assert sorted(report) == [0, 2, 3]
    for cid, record in report.items():
        loss, num_examples, metrics = client_fn(cid).evaluate(trained_parameters, {})
        assert record == {"num_examples": num_examples, "loss": loss, "accuracy": metrics["accuracy"]}
        assert record["num_examples"] == 2


def test_evaluate_clients_skips_clients_without_test_data(feature_data, logistic_fn, trained_parameters):
    partitions = [np.array([0]), np.arange(1, 40)]  # client 0 has a single example, kept for training
    client_fn = make_client_fn(feature_data, partitions, logistic_fn)

    report = evaluate_clients(client_fn, [0, 1], trained_parameters)

    assert sorted(report) == [1]


def test_evaluate_parameters_rejects_parameters_for_another_model(feature_data, logistic_fn):
    other = get_parameters(make_model("mlp", (4,), 2))

    with pytest.raises(ValueError, match="parameters"):
        evaluate_parameters(logistic_fn, other, feature_data)


def test_per_class_accuracy_of_a_model_that_always_says_class_0(feature_data, logistic_fn):
    from course_utils.evaluation import per_class_accuracy

    always_0 = [np.zeros((2, 4), dtype=np.float32), np.array([1.0, 0.0], dtype=np.float32)]  # weight, bias

    assert per_class_accuracy(logistic_fn, always_0, feature_data, 2) == [1.0, 0.0]


def test_per_class_accuracy_weighted_by_class_sizes_is_the_accuracy(image_data):
    from course_utils.evaluation import per_class_accuracy

    def model_fn():
        return make_model("cnn", (1, 8, 8), 4, seed=0)

    parameters = get_parameters(model_fn())  # untrained: a mix of right and wrong answers
    sizes = np.bincount(image_data.tensors[1].numpy(), minlength=4)

    per_class = per_class_accuracy(model_fn, parameters, image_data, 4)

    assert len(per_class) == 4
    accuracy = evaluate_parameters(model_fn, parameters, image_data)[1]
    assert np.dot(per_class, sizes) / sizes.sum() == pytest.approx(accuracy)


def test_per_class_accuracy_is_nan_for_a_class_absent_from_the_data(feature_data, logistic_fn, trained_parameters):
    from course_utils.evaluation import per_class_accuracy

    per_class = per_class_accuracy(logistic_fn, trained_parameters, feature_data, 3)

    assert per_class[:2] == [1.0, 1.0] and np.isnan(per_class[2])


def test_per_class_accuracy_rejects_too_few_classes(feature_data, logistic_fn, trained_parameters):
    from course_utils.evaluation import per_class_accuracy

    with pytest.raises(ValueError, match="num_classes"):
        per_class_accuracy(logistic_fn, trained_parameters, feature_data, 1)
