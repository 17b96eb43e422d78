import matplotlib

matplotlib.use("Agg")  # no windows: draw in memory

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from course_utils.client import make_client_fn  # noqa: E402
from course_utils.models import get_parameters  # noqa: E402
from course_utils.partition import iid  # noqa: E402
from course_utils.plotting import (  # noqa: E402
    plot_client_metrics,
    plot_history,
    plot_label_distribution,
    plot_label_distributions,
)
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
    assert np.array_equal(image.get_array().filled(0), counts)
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert list(ax.get_yticks()) == [0, 1]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("class", "client", "Dirichlet")


def test_plot_label_distribution_accepts_nested_lists():
    ax = plot_label_distribution([[1, 2], [3, 4]])

    assert np.array_equal(ax.get_images()[0].get_array().filled(0), [[1, 2], [3, 4]])


def test_plot_label_distribution_draws_on_the_given_axes():
    fig, ax = plt.subplots()

    assert plot_label_distribution(np.ones((2, 3)), ax=ax) is ax
    assert plt.get_fignums() == [fig.number]
    assert len(ax.get_images()) == 1


@pytest.mark.parametrize("counts", [np.arange(3), np.ones((2, 2, 2))])
def test_plot_label_distribution_rejects_a_matrix_that_is_not_2d(counts):
    with pytest.raises(ValueError, match="counts"):
        plot_label_distribution(counts)


def cell_colours(ax):
    """The RGBA colour each cell of the heat map is drawn in, shape (clients, classes, 4)."""
    image = ax.get_images()[0]
    return image.to_rgba(image.get_array())


def test_plot_label_distribution_draws_an_even_split_in_one_colour():
    ax = plot_label_distribution(np.full((4, 3), 18))

    colours = cell_colours(ax).reshape(-1, 4)
    assert np.all(colours == colours[0])
    assert ax.get_images()[0].norm.vmin == 0  # the scale starts at 0, not at the smallest count


def test_plot_label_distribution_draws_zero_white_and_a_few_examples_visibly_coloured():
    ax = plot_label_distribution(np.array([[0, 1, 5, 100]]))

    zero, one, five, most = cell_colours(ax)[0]
    assert tuple(zero) == (1.0, 1.0, 1.0, 1.0)
    assert np.abs(one[:3] - zero[:3]).max() > 0.1  # 1 example is not mistaken for none
    assert np.abs(one[:3] - five[:3]).max() < np.abs(one[:3] - most[:3]).max()


def test_plot_label_distribution_has_a_colour_bar_unless_told_not_to():
    with_bar = plot_label_distribution(np.ones((2, 2)))
    without = plot_label_distribution(np.ones((2, 2)), colorbar=False)

    assert len(with_bar.figure.axes) == 2
    assert len(without.figure.axes) == 1


def test_plot_label_distribution_ticks_every_client_when_asked():
    counts = np.ones((30, 3))

    assert len(plot_label_distribution(counts).get_yticks()) < 30
    assert list(plot_label_distribution(counts, every_client=True).get_yticks()) == list(range(30))


def test_plot_label_distribution_uses_the_given_vmax_and_rejects_a_smaller_one():
    ax = plot_label_distribution(np.array([[2, 4]]), vmax=8)

    assert ax.get_images()[0].norm.vmax == 8
    with pytest.raises(ValueError, match="vmax must be at least the largest count, 4"):
        plot_label_distribution(np.array([[2, 4]]), vmax=3)


def test_plot_label_distributions_share_one_colour_scale_and_one_colour_bar():
    even, skewed = np.full((3, 2), 10), np.array([[30, 0], [0, 10], [5, 5]])

    axes = plot_label_distributions({"IID": even, "skewed": skewed})

    assert [ax.get_title() for ax in axes] == ["IID", "skewed"]
    assert {ax.get_images()[0].norm.vmax for ax in axes} == {30}
    assert len(axes[0].figure.axes) == 3  # two panels and one colour bar
    iid, skew = cell_colours(axes[0]), cell_colours(axes[1])
    assert np.array_equal(iid[0, 0], skew[1, 1])  # 10 examples look the same in both panels
    assert not np.array_equal(iid[0, 0], skew[0, 0])  # and unlike 30


def test_plot_label_distributions_draws_on_the_given_axes():
    fig, axes = plt.subplots(1, 2)

    assert plot_label_distributions({"a": np.ones((2, 2)), "b": np.ones((2, 2))}, axes=axes) == list(axes)
    assert plt.get_fignums() == [fig.number]


@pytest.mark.parametrize("panels, axes, match", [
    ({}, None, "panels must be"),
    ({"a": np.ones(3)}, None, "panels\\['a'\\] must be a 2-D"),
    ({"a": np.ones((2, 2)), "b": -np.ones((2, 2))}, None, "panels\\['b'\\] must be example counts"),
])
def test_plot_label_distributions_rejects_bad_panels_naming_them(panels, axes, match):
    with pytest.raises(ValueError, match=match):
        plot_label_distributions(panels, axes=axes)


def test_plot_history_ticks_rounds_with_whole_numbers():
    ax = plot_history(make_history([0.1, 0.5, 0.6, 0.8, 0.9, 0.95]))
    ax.figure.canvas.draw()

    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_plot_client_metrics_names_the_reference_line_as_told_and_turns_many_labels():
    ax = plot_client_metrics([0.5] * 20, reference=0.6, reference_label="weighted mean")

    assert legend_texts(ax) == ["weighted mean 0.600"]
    assert ax.get_xticklabels()[0].get_rotation() == 90
