"""Diagrams drawn in code: one round of FL, secure aggregation's rounds, stragglers, Flower's processes.

Each function draws on ``ax`` if given (else on a new figure sized for a notebook's width) and
returns the Figure. Boxes and arrows live in data coordinates of an axes with its frame turned
off, so a drawing looks the same in Jupyter, on Colab and on the course's site.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from course_utils.checks import check_number
from course_utils.faults import DEADLINE_POLICIES

SERVER, CLIENT, IDLE, LONG, SHORT = "#dbe9f6", "#e3f1dc", "#eeeeee", "#dbe9f6", "#fdf0d5"
SEND, REPLY, DROP = "tab:blue", "tab:orange", "tab:red"


def _canvas(ax: Axes | None, size: tuple[float, float], xlim: float, ylim: float) -> Axes:
    """An axes without frame or ticks, ``[0, xlim] x [0, ylim]`` in data units (a new figure if ``ax`` is None)."""
    if ax is None:
        ax = plt.subplots(figsize=size)[1]
    ax.set_xlim(0, xlim)
    ax.set_ylim(0, ylim)
    ax.set_axis_off()
    return ax


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, fill: str, size: float = 9, **text_kw) -> None:
    """A rounded box of width ``w`` and height ``h`` centred on ``(x, y)``, with ``text`` in its middle."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.15",
                                facecolor=fill, edgecolor="0.35", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, **text_kw)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str = "0.3",
           style: str = "-|>", linestyle: str = "-", curve: float = 0.0) -> None:
    """An arrow from ``start`` to ``end`` (``curve``: the bend, 0 for straight)."""
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(
        arrowstyle=style, color=color, linewidth=1.4, linestyle=linestyle, shrinkA=0, shrinkB=0,
        connectionstyle=f"arc3,rad={curve}", mutation_scale=14))


def _label(ax: Axes, x: float, y: float, text: str, color: str = "black", size: float = 8.5, **kw) -> None:
    """Text on a white background, so that it stays readable over arrows."""
    ax.text(x, y, text, ha=kw.pop("ha", "center"), va=kw.pop("va", "center"), fontsize=size, color=color,
            bbox=dict(facecolor="white", edgecolor="none", pad=1.5), **kw)


def five_steps(ax: Axes | None = None) -> Figure:
    """One round of federated learning: the server, four clients (three selected), and what travels at each step.

    The arrows carry the course's step numbers: 0 initialize, 1 sample and send, 2 train locally,
    3 return the update, 4 aggregate, 5 repeat.
    """
    ax = _canvas(ax, (10, 5.6), 12, 8)
    _box(ax, 6, 6.75, 6.4, 1.9, "Server: holds the global model $w_t$\n"
         "1  select a sample of the clients (here 3 of 4)\n"
         r"4  aggregate (FedAvg): $w_{t+1} = \sum_k \, (n_k / n) \, w_k$,  $n = \sum_k n_k$", SERVER, size=9.5)
    clients = [1.6, 4.6, 7.6, 10.4]
    selected = [True, True, False, True]
    for k, (x, chosen) in enumerate(zip(clients, selected), start=1):
        if chosen:
            _box(ax, x, 1.35, 2.6, 1.9, f"client {k}\nlocal data $D_{k}$ ($n_{k}$ examples)\n"
                 "2  train locally:\na few epochs, from $w_t$", CLIENT, size=8.5)
            top, server_x = 2.3, 6 + (x - 6) * 0.55
            _arrow(ax, (server_x - 0.25, 5.8), (x - 0.35, top), SEND)
            _arrow(ax, (x + 0.35, top), (server_x + 0.25, 5.8), REPLY)
        else:
            _box(ax, x, 1.35, 2.6, 1.9, f"client {k}\nlocal data $D_{k}$\nnot selected:\nidle this round",
                 IDLE, size=8.5, color="0.45")
    _label(ax, 2.1, 4.15, "1  send them the global\nparameters $w_t$", SEND, size=9)
    _label(ax, 9.9, 4.15, "3  send the update\n(parameters $w_k$, num_examples $n_k$)", REPLY, size=9)
    ax.text(6, 0.05, "Step 0, once: the server initializes $w_0$ (at random or from a checkpoint).  "
            "Step 5: repeat steps 1-4 with $w_{t+1}$ until the model converges.", ha="center", va="bottom",
            fontsize=8.5, style="italic")
    ax.set_title("One round of federated learning: the data stays on the clients, only parameters travel", fontsize=10)
    return ax.figure


def secure_aggregation_rounds(ax: Axes | None = None) -> Figure:
    """Secure aggregation as ``course_utils.secagg`` runs it (Bonawitz et al. 2017): who sends what to
    whom, per round."""
    ax = _canvas(ax, (10.5, 7.6), 12, 10.4)
    ax.text(4.3, 10.2, "each client u", ha="center", va="top", fontsize=10, weight="bold")
    ax.text(10.1, 10.2, "server", ha="center", va="top", fontsize=10, weight="bold")
    rows = {"1  advertise\n   keys": 8.6, "2  share\n   keys": 6.5, "3  masked\n   input": 4.4, "4  unmasking": 2.0}
    for name, y in rows.items():
        ax.text(0.05, y, name, ha="left", va="center", fontsize=9.5, weight="bold")
        ax.axhline(y - 1.05 if name != "4  unmasking" else y - 1.3, color="0.85", linewidth=0.8)
    left, right = (6.25, 7.95)  # where the arrows between the columns start and end
    y = rows["1  advertise\n   keys"]
    _box(ax, 4.3, y, 3.7, 1.3, "makes an X25519 key pair\n$(sk_u, pk_u)$ and a self-mask seed $b_u$", CLIENT)
    _box(ax, 10.1, y, 3.5, 1.3, "relays every public key\nto every client", SERVER)
    _arrow(ax, (left, y + 0.3), (right, y + 0.3), REPLY)
    _label(ax, 7.1, y + 0.6, "$pk_u$", REPLY)
    _arrow(ax, (right, y - 0.3), (left, y - 0.3), SEND)
    _label(ax, 7.1, y - 0.6, "$pk_1, \\dots, pk_n$", SEND)
    y = rows["2  share\n   keys"]
    _box(ax, 4.3, y, 3.7, 1.5, "splits $sk_u$ and $b_u$ into $n$ Shamir\nshares: any $t$ of them rebuild\n"
         "a secret, fewer tell nothing", CLIENT)
    _arrow(ax, (2.5, y + 0.5), (2.5, y - 0.5), REPLY, curve=0.9)
    _label(ax, 1.3, y - 0.75, "a share of each\nto every client", REPLY, size=8)
    _box(ax, 10.1, y, 3.5, 1.5, "sees no shares\n(the paper routes them through\nthe server, encrypted; the\n"
         "course hands them over directly)", SERVER, size=8)
    y = rows["3  masked\n   input"]
    _box(ax, 4.3, y, 3.7, 1.5, "$y_u = x_u + \\mathrm{PRG}(b_u)$\n$+ \\sum_{v>u} \\mathrm{PRG}(s_{uv}) "
         "- \\sum_{v<u} \\mathrm{PRG}(s_{uv})$\n$s_{uv}$: agreed from $sk_u$ and $pk_v$", CLIENT)
    _box(ax, 10.1, y, 3.5, 1.5, "receives only masked vectors:\neach looks uniformly random\n"
         "mod $2^{bits}$", SERVER)
    _arrow(ax, (left, y + 0.25), (right, y + 0.25), REPLY)
    _label(ax, 7.1, y + 0.55, "$y_u$", REPLY)
    _arrow(ax, (left, y - 0.35), (right, y - 0.35), DROP, linestyle="--")
    ax.text(7.1, y - 0.35, "X", ha="center", va="center", color=DROP, fontsize=13, weight="bold")
    _label(ax, 7.1, y - 0.8, "a client that drops out\nhere never sends $y_u$", DROP, size=8)
    y = rows["4  unmasking"]
    _box(ax, 4.3, y, 3.7, 1.9, "each survivor checks the request\n(at least $t$ survivors, itself among\n"
         "them) and reveals its shares of $b_u$\nfor $u$ in S, of $sk_u$ for $u$ in D,\nnever both for one $u$",
         CLIENT, size=8.5)
    _box(ax, 10.1, y, 3.5, 1.9, "subtracts $\\mathrm{PRG}(b_u)$ of the survivors;\n"
         "rebuilds the dropped clients' $sk_u$\n"
         "and removes their masks\n(the dropout is recovered here)\n$\\Rightarrow \\sum_{u \\in S} x_u$, nothing else",
         SERVER, size=8.5)
    _arrow(ax, (right, y + 0.45), (left, y + 0.45), SEND)
    _label(ax, 7.1, y + 0.8, "survivors S,\ndropped D", SEND, size=8)
    _arrow(ax, (left, y - 0.45), (right, y - 0.45), REPLY)
    _label(ax, 7.1, y - 0.8, "shares", REPLY, size=8)
    ax.text(6, 0.05, "Before round 1 each client encodes its update $x_u$ as integers mod $2^{bits}$ (fixed point). "
            "Masks between two survivors cancel in the sum.", ha="center", va="bottom", fontsize=8.5, style="italic")
    ax.set_title("Secure aggregation (Bonawitz et al. 2017), as course_utils.secagg runs it", fontsize=10)
    return ax.figure


def partial_times(compute_times: np.ndarray, deadline: float, step_times: np.ndarray | None = None) -> np.ndarray:
    """The seconds each client works under the ``"partial"`` policy, shape of ``compute_times``.

    Without ``step_times`` a client stops at the deadline. With them (seconds per mini-batch step,
    one per client or one for all) it does whole steps, as ``faults.TimedClient`` does: the steps
    that fit before the deadline, at least one, at most all of them.
    """
    if step_times is None:
        return np.minimum(compute_times, deadline)
    steps = np.rint(compute_times / step_times)
    return np.maximum(1, np.minimum(steps, np.floor(deadline / step_times))) * step_times


def _check_times(name: str, values, allow_scalar: bool = False) -> np.ndarray:
    """``values`` as a float array if they are finite numbers > 0 (1-D, or a scalar if allowed)."""
    array = np.asarray(values, dtype=object if isinstance(values, str) else None)
    numeric = np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_
    if not numeric or not (array.ndim == 1 and array.size > 0 or allow_scalar and array.ndim == 0):
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers (seconds), got {values!r}")
    if not (np.all(np.isfinite(array)) and np.all(array > 0)):
        raise ValueError(f"{name} must all be finite and > 0 (seconds), got {values!r}")
    return array.astype(float)


def straggler_timeline(
    compute_times: Sequence[float],
    deadline: float,
    policies: Sequence[str] = DEADLINE_POLICIES,
    step_times: Sequence[float] | float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Each client's compute time (seconds, one per client) against the round's ``deadline``, per policy.

    As ``faults.DeadlineFedAvg`` treats them: ``"wait"`` ends the round with the slowest client;
    ``"drop"`` ignores results later than the deadline (and ends the round at it if any was
    late); ``"partial"`` has each client do only the work that fits (see ``partial_times``).
    """
    times = _check_times("compute_times", compute_times)
    deadline = check_number("deadline", deadline, 0, min_open=True, hint=" (seconds)")
    steps = None if step_times is None else _check_times("step_times", step_times, allow_scalar=True)
    if steps is not None and steps.ndim == 1 and steps.size != times.size:
        raise ValueError(f"step_times must hold one value per client ({times.size}) or one for all, got {steps.size}")
    if isinstance(policies, str) or not policies or any(p not in DEADLINE_POLICIES for p in policies):
        raise ValueError(f"policies must be a non-empty list of {list(DEADLINE_POLICIES)}, got {policies!r}")
    n = times.size
    ax = ax if ax is not None else plt.subplots(figsize=(9, 0.34 * (n + 1.5) * len(policies) + 1.0))[1]
    ticks, labels = [], []
    for block, policy in enumerate(policies):
        top = block * (n + 1.5)
        worked = partial_times(times, deadline, steps) if policy == "partial" else times
        late = times > deadline
        for i in range(n):
            y = top + i + 1
            ticks.append(y)
            labels.append(f"client {i}")
            dropped = policy == "drop" and late[i]
            ax.barh(y, worked[i], height=0.6, color="0.8" if dropped else SEND, hatch="//" if dropped else None,
                    edgecolor="0.5" if dropped else SEND)
            if policy == "partial" and worked[i] < times[i]:
                ax.barh(y, times[i] - worked[i], left=worked[i], height=0.6, fill=False, edgecolor="0.6",
                        linestyle="--")
                ax.text(times[i], y, "  work not done", va="center", fontsize=8, color="0.4")
            if dropped:
                ax.text(times[i], y, "  late: dropped", va="center", fontsize=8, color=DROP)
        ends = deadline if policy == "drop" and late.any() else float(worked.max())
        used = int(n - late.sum()) if policy == "drop" else n
        ax.text(0, top + 0.1, f"{policy}: the round ends at {ends:g} s, {used} of {n} updates used",
                fontsize=9, weight="bold", va="center")
        ax.plot([ends, ends], [top + 0.45, top + n + 0.5], color="black", linewidth=2.5)
    ax.axvline(deadline, color=DROP, linestyle="--", linewidth=1.2)
    ax.text(deadline, -0.6, f"deadline {deadline:g} s", color=DROP, ha="center", va="bottom", fontsize=9)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_ylim(len(policies) * (n + 1.5) - 0.6, -0.6)
    ax.set_xlim(0, times.max() * 1.3)
    ax.set_xlabel("simulated seconds since the round started (black bar: the round ends)")
    ax.grid(alpha=0.3, axis="x")
    return ax.figure


def flower_architecture(ax: Axes | None = None) -> Figure:
    """Flower 1.42's processes as notebook 11 runs them: ``flwr run``, a SuperLink, two SuperNodes and their apps."""
    ax = _canvas(ax, (10.5, 6.4), 12, 9)
    _box(ax, 1.75, 7.6, 3.1, 1.5, "flwr run flower_app\nlocal-deployment --stream\n(Flower's CLI: your terminal,\n"
         "or this notebook)", "white", size=8.5, family="monospace")
    _box(ax, 6.0, 7.6, 3.0, 1.5, "SuperLink\nlong-running; one address\n(127.0.0.1:PORT)\nholds runs and messages",
         LONG)
    _box(ax, 10.3, 7.6, 3.0, 1.5, "ServerApp (server_app.py)\nshort-lived: one per run\nFedAvg's strategy.start\n"
         "runs the rounds", SHORT)
    _arrow(ax, (3.3, 7.75), (4.5, 7.75), REPLY)
    _label(ax, 3.9, 8.55, "the app (FAB)\n+ run config", REPLY, size=8)
    _arrow(ax, (4.5, 7.35), (3.3, 7.35), SEND)
    _label(ax, 3.9, 6.7, "the log\n(--stream)", SEND, size=8)
    _arrow(ax, (7.5, 7.75), (8.8, 7.75), SEND)
    _label(ax, 8.15, 8.55, "starts it\n(SuperExec)", SEND, size=8)
    _arrow(ax, (8.8, 7.35), (7.5, 7.35), REPLY, style="<|-|>")
    _label(ax, 8.15, 6.7, "Messages:\ntrain, evaluate", REPLY, size=8)
    for k, x in enumerate((3.6, 8.4)):
        _box(ax, x, 4.5, 3.4, 1.5, f"SuperNode {k}\nlong-running, next to the data\n--node-config partition-id={k}\n"
             "num-partitions=2", LONG, size=8.5)
        _box(ax, x, 2.05, 3.4, 1.5, f"ClientApp (client_app.py)\nshort-lived: one per message\n"
             f"@app.train(), @app.evaluate()\non partition {k}", SHORT, size=8.5)
        _arrow(ax, (x, 5.3), (6.0 + (x - 6.0) * 0.4, 6.8), "0.3", style="<|-|>")
        _arrow(ax, (x, 3.7), (x, 2.85), SEND)
        _label(ax, x + 0.9, 3.3, "starts it (SuperExec)", SEND, size=8)
    _label(ax, 6.0, 5.95, "each SuperNode connects out to the SuperLink:\n"
           "pulls the messages for it, pushes the replies", "0.2", size=8)
    ax.text(6, 0.0, "Blue boxes run all the time; yellow ones are your app's code, started for a run and then gone.\n"
            "Simulation (flower-superlink --simulation): no SuperNode processes; the SuperLink runs the ClientApps\n"
            "of num-supernodes virtual SuperNodes itself, in Flower's simulation engine (on Ray).",
            ha="center", va="bottom", fontsize=8.5, style="italic")
    ax.set_title("Flower 1.42: the processes of a run (as in notebook 11, section 5)", fontsize=10)
    return ax.figure
