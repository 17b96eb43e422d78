import matplotlib

matplotlib.use("Agg")  # no windows: draw in memory

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from course_utils import diagrams  # noqa: E402
from course_utils.faults import DeadlineFedAvg, TimedClient  # noqa: E402
from course_utils.strategy import FitRes  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(figure: Figure) -> str:
    """Every text drawn on the figure, joined, so that a test can look for a label."""
    return "\n".join(t.get_text() for t in figure.findobj(Text))


DRAWINGS = {
    "five_steps": (diagrams.five_steps, [
        "1  select", "1  send them the global", "2  train locally", "3  send the update", "num_examples",
        "4  aggregate", "not selected", "Step 0, once", "Step 5: repeat steps 1-4"]),
    "secure_aggregation_rounds": (diagrams.secure_aggregation_rounds, [
        "1  advertise", "2  share", "3  masked", "4  unmasking", "Shamir", "X25519", "never sends", "dropped D",
        "the dropout is recovered here", "nothing else", "Bonawitz"]),
    "flower_architecture": (diagrams.flower_architecture, [
        "flwr run", "SuperLink", "SuperNode 0", "SuperNode 1", "ServerApp", "ClientApp", "SuperExec",
        "partition-id=0", "--simulation", "connects out"]),
    "straggler_timeline": (lambda ax=None: diagrams.straggler_timeline([1.0, 3.0, 5.0], 4.0, ax=ax), [
        "wait:", "drop:", "partial:", "deadline 4 s", "late: dropped", "work not done", "client 2"]),
}


@pytest.mark.parametrize("name", DRAWINGS)
def test_each_diagram_returns_a_figure_with_its_labels(name):
    draw, labels = DRAWINGS[name]

    figure = draw()

    assert isinstance(figure, Figure)
    drawn = texts(figure)
    missing = [label for label in labels if label not in drawn]
    assert not missing, f"{name} lacks the labels {missing}"
    figure.canvas.draw()  # renders (mathtext included) without an exception


@pytest.mark.parametrize("name", DRAWINGS)
def test_each_diagram_draws_on_the_given_axes(name):
    draw, labels = DRAWINGS[name]
    figure, (left, right) = plt.subplots(1, 2)

    returned = draw(ax=right)

    assert returned is figure
    assert len(right.texts) + len(right.patches) > 0
    assert not left.texts and not left.patches  # nothing spilled onto the other axes
    assert len(figure.axes) == 2  # no new axes or figure


def round_end_text(figure: Figure, policy: str) -> str:
    return next(t for t in texts(figure).splitlines() if t.startswith(f"{policy}:"))


class FakeClient:
    """Just enough of a Client for TimedClient: a cid, data of some length and a fit that echoes."""

    def __init__(self, cid: int, num_examples: int) -> None:
        self.cid, self.train_data, self.test_data = cid, list(range(num_examples)), []

    def fit(self, parameters, config):
        return parameters, len(self.train_data), {}


@pytest.mark.parametrize("policy", ["wait", "drop", "partial"])
def test_the_timeline_ends_each_round_where_deadline_fedavg_does(policy):
    """The picture and the engine agree: same round time and same number of updates used."""
    speeds, batch, deadline = [40.0, 10.0, 5.0, 2.5], 10, 3.0  # 40 examples each: 1, 4, 8 and 16 s of work
    clients = [TimedClient(FakeClient(cid, 40), speed) for cid, speed in enumerate(speeds)]
    strategy = DeadlineFedAvg(deadline=deadline, policy=policy)
    config = {"batch_size": batch, "local_epochs": 1, "deadline": deadline, "partial_work": policy == "partial"}
    full = [c.fit([np.zeros(1)], {**config, "partial_work": False})[2]["compute_time"] for c in clients]
    results = [FitRes(c.cid, *c.fit([np.zeros(1)], config)) for c in clients]
    _, metrics = strategy.aggregate_fit(1, results, [], [np.zeros(1)])

    figure = diagrams.straggler_timeline(full, deadline, policies=[policy], step_times=[batch / s for s in speeds])

    expected = (f"{policy}: the round ends at {metrics['round_time']:g} s, "
                f"{metrics['clients_used']:.0f} of 4 updates used")
    assert round_end_text(figure, policy) == expected


def test_partial_times_stop_at_the_deadline_or_do_whole_steps_at_least_one():
    times = np.array([2.0, 5.0, 9.0])

    assert diagrams.partial_times(times, 4.0).tolist() == [2.0, 4.0, 4.0]
    assert diagrams.partial_times(times, 4.0, step_times=np.array([1.0, 1.5, 4.5])).tolist() == [2.0, 3.0, 4.5]


def test_drop_ends_the_round_with_the_slowest_when_no_one_is_late():
    figure = diagrams.straggler_timeline([1.0, 2.5], deadline=3.0, policies=["drop"])

    assert round_end_text(figure, "drop") == "drop: the round ends at 2.5 s, 2 of 2 updates used"


@pytest.mark.parametrize("arguments, match", [
    (dict(compute_times=[], deadline=1.0), "compute_times must be a non-empty 1-D"),
    (dict(compute_times=[[1.0]], deadline=1.0), "compute_times must be a non-empty 1-D"),
    (dict(compute_times=["1"], deadline=1.0), "compute_times must be a non-empty 1-D"),
    (dict(compute_times=[1.0, -2.0], deadline=1.0), "compute_times must all be finite and > 0"),
    (dict(compute_times=[1.0, np.nan], deadline=1.0), "compute_times must all be finite and > 0"),
    (dict(compute_times=[1.0], deadline=0.0), "deadline"),
    (dict(compute_times=[1.0], deadline=1.0, policies=["wait", "hurry"]), "policies must be"),
    (dict(compute_times=[1.0], deadline=1.0, policies="wait"), "policies must be"),
    (dict(compute_times=[1.0, 2.0], deadline=1.0, step_times=[0.1, 0.1, 0.1]), "one value per client"),
    (dict(compute_times=[1.0], deadline=1.0, step_times=0.0), "step_times must all be finite and > 0"),
])
def test_the_timeline_rejects_bad_input_naming_the_argument(arguments, match):
    with pytest.raises(ValueError, match=match):
        diagrams.straggler_timeline(**arguments)
