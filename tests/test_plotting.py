import matplotlib

matplotlib.use("Agg")  # no windows: draw in memory

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from course_utils.client import make_client_fn  # noqa: E402
from course_utils.models import get_parameters  # noqa: E402
from course_utils.partition import iid  # noqa: E402
from course_utils.plotting import plot_client_metrics, plot_history, plot_label_distribution  # noqa: E402
from course_utils.simulation import History, run_simulation  # noqa: E402
from course_utils.strategy import FedAvg  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_history(accuracies, losses=None):
    """A History with centralized accuracy (and loss) from round 0."""
    losses = losses or [1.0] * len(accuracies)
    return History(
        losses_centralized=list(enumerate(losses)),
        metrics_centralized={"accuracy": list(enumerate(accuracies))},
    )


def lines_data(ax):
    return [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()]


def legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


# --- plot_history ----------------------------------------------------------------------------


def test_plot_history_draws_one_curve_for_one_history():
    ax = plot_history(make_history([0.1, 0.5, 0.8]))

    assert isinstance(ax, Axes)
    assert lines_data(ax) == [([0, 1, 2], [0.1, 0.5, 0.8])]
    assert ax.get_xlabel() == "round"
    assert ax.get_ylabel() == "accuracy (centralized)"
    assert ax.get_legend() is None  # nothing to tell apart


def test_plot_history_draws_one_labelled_curve_per_history_of_a_dict():
    runs = {"FedAvg": make_history([0.1, 0.9]), "local": make_history([0.1, 0.4])}

    ax = plot_history(runs)

    assert lines_data(ax) == [([0, 1], [0.1, 0.9]), ([0, 1], [0.1, 0.4])]
    assert legend_texts(ax) == ["FedAvg", "local"]


def test_plot_history_plots_the_chosen_metric_and_kind():
    ax = plot_history(make_history([0.1, 0.9], losses=[2.0, 0.5]), metric="loss")

    assert lines_data(ax) == [([0, 1], [2.0, 0.5])]
    assert ax.get_ylabel() == "loss (centralized)"


def test_plot_history_draws_a_labelled_horizontal_line_per_reference():
    references = {"centralized": 0.97, "chance": 0.1, "a": 0.2, "b": 0.3, "c": 0.4}

    ax = plot_history(make_history([0.1, 0.5]), references=references)

    curve, *lines = ax.get_lines()
    assert [line.get_ydata()[0] for line in lines] == [0.97, 0.1, 0.2, 0.3, 0.4]
    assert all(list(line.get_ydata()) == [line.get_ydata()[0]] * 2 for line in lines)  # horizontal
    assert legend_texts(ax) == list(references)


def test_plot_history_draws_on_the_given_axes():
    fig, ax = plt.subplots()

    returned = plot_history(make_history([0.1, 0.5]), ax=ax)

    assert returned is ax
    assert plt.get_fignums() == [fig.number]
    assert len(ax.get_lines()) == 1


def test_plot_history_of_an_unrecorded_metric_raises_key_error():
    with pytest.raises(KeyError, match="f1"):
        plot_history(make_history([0.1]), metric="f1")


def test_plot_history_of_a_real_run(feature_data, logistic_fn):
    client_fn = make_client_fn(feature_data, iid(len(feature_data), 2, seed=0), logistic_fn)
    strategy = FedAvg(fraction_evaluate=1.0)
    _, history = run_simulation(client_fn, 2, 2, strategy, get_parameters(logistic_fn()), progress=False)

    ax = plot_history(history, kind="distributed")

    [(rounds, values)] = lines_data(ax)
    assert (rounds, values) == history.series("accuracy", "distributed")
    assert rounds == [1, 2]


# --- plot_client_metrics ---------------------------------------------------------------------


def bars(ax):
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    return labels, [patch.get_height() for patch in ax.patches]


def test_plot_client_metrics_draws_one_bar_per_client_of_a_list():
    ax = plot_client_metrics([0.5, 0.75, 0.25])

    assert isinstance(ax, Axes)
    assert bars(ax) == (["0", "1", "2"], [0.5, 0.75, 0.25])
    assert ax.get_xlabel() == "client"
    assert ax.get_ylabel() == "accuracy"


def test_plot_client_metrics_draws_a_dict_in_client_order():
    ax = plot_client_metrics({7: 0.2, 3: 0.9}, metric="loss")

    assert bars(ax) == (["3", "7"], [0.9, 0.2])
    assert ax.get_ylabel() == "loss"


def test_plot_client_metrics_draws_the_reference_line():
    ax = plot_client_metrics([0.5, 0.7], reference=0.6)

    [line] = ax.get_lines()
    assert list(line.get_ydata()) == [0.6, 0.6]
    assert legend_texts(ax) == ["reference 0.600"]


def test_plot_client_metrics_draws_on_the_given_axes():
    fig, ax = plt.subplots()

    assert plot_client_metrics([0.5], ax=ax) is ax
    assert plt.get_fignums() == [fig.number]
    assert len(ax.patches) == 1


# --- plot_label_distribution -----------------------------------------------------------------


def test_plot_label_distribution_shows_the_count_matrix():
    counts = np.array([[5, 0, 1], [0, 3, 2]])

    ax = plot_label_distribution(counts, title="Dirichlet")

    assert isinstance(ax, Axes)
    [image] = ax.get_images()
    assert np.array_equal(image.get_array(), counts)
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert list(ax.get_yticks()) == [0, 1]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("class", "client", "Dirichlet")


def test_plot_label_distribution_accepts_nested_lists():
    ax = plot_label_distribution([[1, 2], [3, 4]])

    assert np.array_equal(ax.get_images()[0].get_array(), [[1, 2], [3, 4]])


def test_plot_label_distribution_draws_on_the_given_axes():
    fig, ax = plt.subplots()

    assert plot_label_distribution(np.ones((2, 3)), ax=ax) is ax
    assert plt.get_fignums() == [fig.number]
    assert len(ax.get_images()) == 1


@pytest.mark.parametrize("counts", [np.arange(3), np.ones((2, 2, 2))])
def test_plot_label_distribution_rejects_a_matrix_that_is_not_2d(counts):
    with pytest.raises(ValueError, match="counts"):
        plot_label_distribution(counts)
