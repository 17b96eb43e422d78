"""course_utils.flower_processes: commands, configuration files and stopping processes (no Flower needed)."""

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import psutil
import pytest

from course_utils import flower_processes


@pytest.fixture
def fake_executables(monkeypatch):
    """Flower's commands as if installed in /opt/flwr/bin, so that these tests need no Flower."""
    monkeypatch.setattr(flower_processes, "flower_executable", lambda name: f"/opt/flwr/bin/{name}")


def test_write_flower_config_names_one_insecure_connection_per_superlink(tmp_path):
    path = flower_processes.write_flower_config(tmp_path, {"sim": 9092, "deploy": 9093}, default="deploy")

    assert path == tmp_path / "config.toml"
    config = tomllib.loads(path.read_text())
    assert config["superlink"]["default"] == "deploy"
    assert config["superlink"]["sim"] == {"address": "127.0.0.1:9092", "insecure": True}
    assert config["superlink"]["deploy"] == {"address": "127.0.0.1:9093", "insecure": True}


def test_write_flower_config_defaults_to_the_first_connection(tmp_path):
    config = tomllib.loads(flower_processes.write_flower_config(tmp_path, {"a": 1, "b": 2}).read_text())
    assert config["superlink"]["default"] == "a"


@pytest.mark.parametrize(("connections", "default"), [({}, None), ({"a": 1}, "b")])
def test_write_flower_config_rejects_no_connection_or_an_unknown_default(tmp_path, connections, default):
    with pytest.raises(ValueError, match="connections|default"):
        flower_processes.write_flower_config(tmp_path, connections, default)


def test_flower_env_sets_flwr_home_and_turns_off_what_needs_the_internet(tmp_path, fake_executables):
    env = flower_processes.flower_env(tmp_path)

    assert env["FLWR_HOME"] == str(tmp_path.resolve())
    assert env["FLWR_TELEMETRY_ENABLED"] == "0" and env["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] == "1"
    assert env["PATH"].startswith("/opt/flwr/bin")


def test_flower_env_skips_what_only_slows_rays_start_and_keeps_the_users_pythonpath(tmp_path, fake_executables,
                                                                                   monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    env = flower_processes.flower_env(tmp_path)
    first, *rest = env["PYTHONPATH"].split(os.pathsep)
    assert Path(first) == tmp_path / "skipped-imports" and rest == ["/somewhere/else"]

    probe = ("import importlib, jsonschema\n"
             "for name in {names!r}:\n"
             "    try:\n"
             "        importlib.import_module(name)\n"
             "    except ImportError as error:\n"
             "        assert 'SKIPPED_IMPORTS' in str(error), error\n"
             "    else:\n"
             "        raise SystemExit(name + ' was imported')\n"
             "print(jsonschema.validate({{'a': 1}}, {{'type': 'object'}}))")
    result = subprocess.run([sys.executable, "-c", probe.format(names=flower_processes.SKIPPED_IMPORTS)],
                            env={**os.environ, "PYTHONPATH": env["PYTHONPATH"]}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout  # they fail to import, and jsonschema still works
    assert result.stdout.strip() == "None"


def test_superlink_and_supernode_commands(fake_executables):
    assert flower_processes.superlink_command(9093) == [
        "/opt/flwr/bin/flower-superlink", "--insecure", "--host", "127.0.0.1", "--port", "9093",
        "--disable-runtime-dependency-installation",
    ]  # fmt: skip
    assert "--simulation" in flower_processes.superlink_command(9093, simulation=True)
    node = flower_processes.supernode_command(9093, 9094, partition_id=1, num_partitions=2)
    assert node[:2] == ["/opt/flwr/bin/flower-supernode", "--insecure"]
    assert node[node.index("--superlink") + 1] == "127.0.0.1:9093"
    assert node[node.index("--port") + 1] == "9094"
    assert node[node.index("--node-config") + 1] == "partition-id=1 num-partitions=2"


@pytest.mark.parametrize("partition_id", [-1, 2])
def test_supernode_command_rejects_a_partition_outside_the_range(fake_executables, partition_id):
    with pytest.raises(ValueError, match="partition_id"):
        flower_processes.supernode_command(9093, 9094, partition_id=partition_id, num_partitions=2)


def test_config_args_write_toml_values():
    args = flower_processes.config_args("--run-config",
                                        {"rounds": 3, "lr": 0.1, "on": True, "name": "a b", "path": Path("/x/y")})
    assert args == [
        "--run-config", "rounds=3", "--run-config", "lr=0.1", "--run-config", "on=true",
        "--run-config", 'name="a b"', "--run-config", 'path="/x/y"',
    ]  # fmt: skip
    assert flower_processes.config_args("--run-config", None) == []
    with pytest.raises(TypeError, match="run config values"):
        flower_processes.config_args("--run-config", {"bad": [1, 2]})


def test_flwr_run_command_streams_and_passes_both_configs(fake_executables):
    command = flower_processes.flwr_run_command(Path("flower_app"), "sim", {"num-server-rounds": 2},
                                                {"num-supernodes": 5})
    assert command == [
        "/opt/flwr/bin/flwr", "run", "flower_app", "sim", "--stream",
        "--run-config", "num-server-rounds=2", "--federation-config", "num-supernodes=5",
    ]  # fmt: skip
    assert flower_processes.show(command).startswith("flwr run flower_app sim --stream")


def test_free_port_can_be_bound():
    import socket

    port = flower_processes.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_flower_executable_explains_how_to_install_flower(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(flower_processes.FlowerError, match="pip install -r requirements.txt"):
        flower_processes.flower_executable("flwr")


def test_stop_ends_a_process_and_the_processes_it_started():
    # A parent that starts a child in a session of its own, as Flower's SuperLink starts SuperExec.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
         "start_new_session=True); time.sleep(60)"],
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = psutil.Process(parent.pid).children()[0]

    flower_processes.stop([parent], timeout=5)

    assert parent.poll() is not None
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_running_stops_everything_even_when_the_block_fails(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(flower_processes.FlowerError, match="did not answer"):
        with flower_processes.running([sleeper], {}, tmp_path, superlink_port=flower_processes.free_port(), timeout=1):
            pass  # never reached: nothing answers on the port
    log = next(tmp_path.glob("python*-0.log"))
    assert log.exists()
    # the process list is not returned on failure; no python child of this test may be left running
    sleepers = [p for p in psutil.Process().children(recursive=True) if "time.sleep(60)" in " ".join(p.cmdline())]
    assert not [p for p in sleepers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


# ---- Names and ports that reach Flower's configuration file and command lines ------------------------


@pytest.mark.parametrize(
    "name", ["a]\nevil = 1\n[superlink.b", "a.b", "", "a b", 'x"', "-leading-dash", "ä", "n" * 65, "sim\n"]
)
def test_write_flower_config_rejects_a_name_that_could_inject_toml(tmp_path, name):
    with pytest.raises(ValueError, match="connections: name .* is not a valid connection name"):
        flower_processes.write_flower_config(tmp_path, {name: 9093})
    assert not (tmp_path / "config.toml").exists()


@pytest.mark.parametrize("port", [0, -1, 65536, 99999])
def test_write_flower_config_rejects_a_port_outside_1_to_65535(tmp_path, port):
    with pytest.raises(ValueError, match=r"connections\['sim'\] must be a port number from 1 to 65535, got"):
        flower_processes.write_flower_config(tmp_path, {"sim": port})


@pytest.mark.parametrize("port", ["9093", 9093.0, True, None])
def test_write_flower_config_rejects_a_port_that_is_not_an_integer(tmp_path, port):
    with pytest.raises(TypeError, match=r"connections\['sim'\] must be an integer port number"):
        flower_processes.write_flower_config(tmp_path, {"sim": port})


def test_write_flower_config_accepts_numpy_integers_and_the_widest_names(tmp_path):
    import numpy as np

    name = "A" + "z9_-" * 15 + "abc"  # 64 characters
    config = tomllib.loads(flower_processes.write_flower_config(tmp_path, {name: np.int64(65535), "b": 1}).read_text())
    assert config["superlink"][name] == {"address": "127.0.0.1:65535", "insecure": True}
    assert set(config["superlink"]) == {"default", name, "b"}


def test_commands_reject_ports_and_names_outside_the_allowed_range(fake_executables):
    with pytest.raises(ValueError, match="port must be a port number from 1 to 65535, got 99999"):
        flower_processes.superlink_command(99999)
    with pytest.raises(ValueError, match="superlink_port must be a port number"):
        flower_processes.supernode_command(0, 9094, partition_id=0, num_partitions=2)
    with pytest.raises(ValueError, match="port must be a port number"):
        flower_processes.supernode_command(9093, 70000, partition_id=0, num_partitions=2)
    with pytest.raises(ValueError, match="connection 'a b' is not a valid connection name"):
        flower_processes.flwr_run_command("flower_app", "a b")


@pytest.mark.parametrize("key", ["a=b", "a b", "x\ny", "", "a..b"])
def test_config_args_reject_keys_that_could_add_other_settings(key):
    with pytest.raises(ValueError, match="--run-config keys must be"):
        flower_processes.config_args("--run-config", {key: 1})


# ---- Waiting on progress ------------------------------------------------------------------------------


def _as_flwr(monkeypatch, *command: str) -> None:
    """Make flwr_run start ``command`` instead of ``flwr run``."""
    monkeypatch.setattr(flower_processes, "flwr_run_command", lambda *args, **kwargs: list(command))


def _python_as_flwr(monkeypatch, code: str) -> None:
    _as_flwr(monkeypatch, sys.executable, "-c", code)


# The two timing tests use sh, which starts in milliseconds even on a loaded machine, where Python can take seconds.


def test_flwr_run_waits_as_long_as_the_run_prints_progress(monkeypatch):
    # 12 lines 0.25 s apart: 3 s in all, longer than the 2 s it may stay silent
    _as_flwr(monkeypatch, "sh", "-c", "for i in 0 1 2 3 4 5 6 7 8 9 10 11; do echo round $i; sleep 0.25; done")
    log = flower_processes.flwr_run("app", "sim", dict(os.environ), idle_timeout=2)
    assert log.splitlines() == [f"round {i}" for i in range(12)]


def test_flwr_run_stops_a_run_that_prints_nothing_and_says_so(monkeypatch):
    _as_flwr(monkeypatch, "sh", "-c", "echo starting; sleep 600")
    with pytest.raises(flower_processes.FlowerError, match=r"printed nothing for 2 s, and was stopped:\nstarting"):
        flower_processes.flwr_run("app", "sim", dict(os.environ), idle_timeout=2)
    assert not flower_processes.tagged_processes(flower_processes.owner_tag() + "/"), \
        "the silent run must have been stopped"


def test_flwr_run_reports_a_run_that_failed_although_flwr_exits_with_0(monkeypatch):
    _python_as_flwr(monkeypatch,
                    "print('Traceback ...'); print('ERROR :     Exit Code: 700'); print('An unhandled ...')")
    with pytest.raises(flower_processes.FlowerError, match="the run failed with Flower's exit code 700:\nTraceback"):
        flower_processes.flwr_run("app", "sim", dict(os.environ))


def test_flwr_run_reports_a_failing_run_with_the_end_of_its_output(monkeypatch):
    _python_as_flwr(monkeypatch, "import sys; print('bad app'); sys.exit(3)")
    with pytest.raises(flower_processes.FlowerError, match="exited with code 3:\nbad app"):
        flower_processes.flwr_run("app", "sim", dict(os.environ))


# ---- No process outlives the Python process that started it ------------------------------------------

# A stand-in for a SuperLink, without Flower: it starts a child in a session of its own (as the SuperLink
# starts SuperExec) and answers GET /health on the port given as its argument.
FAKE_SUPERLINK = """
import http.server, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""

# The parent: starts the fake SuperLink with flower_processes.running, says "ready" with its watchdog's pid, and waits.
PARENT = """
import os, sys, time
from pathlib import Path
from course_utils import flower_processes
port = flower_processes.free_port()
with flower_processes.running([[sys.executable, "-c", sys.argv[1], str(port)]], dict(os.environ), Path(sys.argv[2]), port):
    while len(flower_processes.tagged_processes(flower_processes.owner_tag() + "/")) < 2:  # the fake SuperLink and its child
        time.sleep(0.1)
    print("ready", flower_processes._watchdog[1].pid, flush=True)
    {then}
"""  # noqa: E501 (the parent's code, run as written)


def wait_for(condition, what: str, ceiling: float = 300.0, every: float = 0.2):
    """Wait until ``condition()`` is true (returns its value); fail after ``ceiling`` seconds, a generous limit."""
    deadline = time.monotonic() + ceiling
    while not (value := condition()):
        assert time.monotonic() < deadline, f"still waiting after {ceiling:.0f} s for {what}"
        time.sleep(every)
    return value


def start_parent(tmp_path, then: str = "time.sleep(600)") -> tuple[subprocess.Popen, int, str]:
    """Start PARENT in a python process; returns it once it is ready, its watchdog's pid, and its owner tag."""
    code = PARENT.replace("{then}", then)
    parent = subprocess.Popen([sys.executable, "-c", code, FAKE_SUPERLINK, str(tmp_path / "logs")],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    line = parent.stdout.readline()  # blocks until the parent is ready (or exits: then "")
    assert line.startswith("ready"), f"the parent did not start the fake SuperLink: {line!r}"
    return parent, int(line.split()[1]), flower_processes.owner_tag(parent.pid)


def gone(processes) -> bool:
    return all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in processes)


def test_killing_the_parent_with_sigkill_leaves_no_process_behind(tmp_path):
    parent, watchdog, owner = start_parent(tmp_path)
    started = flower_processes.tagged_processes(owner + "/")
    assert len(started) == 2  # the fake SuperLink and the child it started in a session of its own

    parent.kill()  # SIGKILL: no atexit, no signal handler, no `finally` runs in the parent
    parent.wait()

    wait_for(lambda: gone(started), "the parent's processes to end")
    wait_for(lambda: not psutil.pid_exists(watchdog) or gone([psutil.Process(watchdog)]), "the watchdog to exit")
    assert not flower_processes.tagged_processes(owner + "/")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_parent_death_signal_ends_direct_children_even_without_the_watchdog(tmp_path):
    parent, watchdog, owner = start_parent(tmp_path)
    started = flower_processes.tagged_processes(owner + "/")
    superlink = [p for p in started if p.ppid() == parent.pid]
    assert len(superlink) == 1 and len(started) == 2
    psutil.Process(watchdog).kill()  # take the watchdog away first: only the kernel's signal is left
    wait_for(lambda: gone([psutil.Process(watchdog)]), "the watchdog to die")

    parent.kill()
    parent.wait()

    wait_for(lambda: gone(superlink), "the fake SuperLink to receive SIGKILL from Linux")
    # its own child (in a session of its own, like SuperExec) was the watchdog's job: the learner's call finds it
    child = [p for p in started if p not in superlink]
    stopped = flower_processes.stop_all_flower_processes()
    assert pids(stopped) == {child[0].pid}, stopped
    assert gone(child)


@pytest.mark.parametrize(
    ("then", "how"),
    [("pass", "leaves the block"), ("sys.exit(0)", "exits inside the block"),
     ("os.kill(os.getpid(), 15); time.sleep(600)", "gets SIGTERM")],
)  # fmt: skip
def test_the_parent_stops_its_processes_when_it_exits_or_gets_sigterm(tmp_path, then, how):
    parent, watchdog, owner = start_parent(tmp_path, then=then)
    started = flower_processes.tagged_processes(owner + "/")
    parent.wait(timeout=300)
    assert gone(started), f"processes left after the parent {how}: {started}"
    wait_for(lambda: not psutil.pid_exists(watchdog) or gone([psutil.Process(watchdog)]), "the watchdog to exit")


def pids(stopped: list[str]) -> set[int]:
    """The pids in stop_all_flower_processes' answer, ["name (pid N)", ...]."""
    return {int(entry.rsplit("pid ", 1)[1].rstrip(")")) for entry in stopped}


def test_stop_all_flower_processes_stops_ours_and_those_of_dead_owners_only(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    ours = flower_processes.start_process(sleeper, dict(os.environ), subprocess.DEVNULL)
    dead_owner = {**os.environ, flower_processes.OWNER_VARIABLE: "1:0.00/0/"}  # pid 1 did not start at time 0: gone
    orphan = subprocess.Popen(sleeper, env=dead_owner)
    # someone else's
    live_owner = {**os.environ, flower_processes.OWNER_VARIABLE: flower_processes.owner_tag(os.getppid()) + "/0/"}
    other = subprocess.Popen(sleeper, env=live_owner)
    try:
        wait_for(lambda: len(flower_processes.tagged_processes("")) >= 3, "the three sleepers to start")

        stopped = flower_processes.stop_all_flower_processes(timeout=5)

        assert pids(stopped) == {ours.pid, orphan.pid}
        assert ours.poll() is not None and orphan.wait(timeout=30) is not None
        assert other.poll() is None, "a process whose owner still runs is that owner's business"
        assert flower_processes.stop_all_flower_processes() == []
    finally:
        other.kill()
        other.wait()


def test_stop_ends_only_the_processes_it_is_given_and_theirs(monkeypatch):
    import itertools

    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    monkeypatch.setattr(flower_processes, "_numbers", itertools.count(1))
    first = flower_processes.start_process(sleeper, dict(os.environ), subprocess.DEVNULL)
    monkeypatch.setattr(flower_processes, "_numbers", itertools.count(10))  # a tag that "1" is a prefix of
    tenth = flower_processes.start_process(sleeper, dict(os.environ), subprocess.DEVNULL)
    try:
        flower_processes.stop([first], timeout=5)
        assert first.poll() is not None
        assert tenth.poll() is None, "stopping process 1 must not stop process 10"
    finally:
        flower_processes.stop([tenth], timeout=5)
    assert tenth.poll() is not None


# A fake `flwr run` whose simulation engine fails to start the first `failures` times (a counter file says
# how often it ran), then finishes.
RAY_FLAKY = """
import sys
from pathlib import Path
counter, failures = Path(sys.argv[1]), int(sys.argv[2])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
if runs <= failures:
    print("Exception: The current node timed out during startup. This could happen because ...")
    print("RuntimeError: Simulation Runtime crashed.")
    print("ERROR :     Exit Code: 700")
else:
    print("INFO :      Strategy execution finished in 1.00s")
"""


def test_flwr_run_submits_again_a_run_whose_ray_did_not_start(monkeypatch, tmp_path):
    counter = tmp_path / "runs"
    _as_flwr(monkeypatch, sys.executable, "-c", RAY_FLAKY, str(counter), "2")
    log = flower_processes.flwr_run("app", "local-simulation", dict(os.environ), attempts=3)
    assert counter.read_text() == "3"
    assert "finished in" in log and log.count("Ray did not start in time") == 2


def test_flwr_run_gives_up_after_its_attempts_and_never_retries_other_failures(monkeypatch, tmp_path):
    counter = tmp_path / "runs"
    _as_flwr(monkeypatch, sys.executable, "-c", RAY_FLAKY, str(counter), "5")
    with pytest.raises(flower_processes.RayStartTimeout, match="did not start in time"):
        flower_processes.flwr_run("app", "local-simulation", dict(os.environ), attempts=2)
    assert counter.read_text() == "2"
    _python_as_flwr(monkeypatch, "print('ERROR :     Exit Code: 700')")  # another failure: reported at once
    with pytest.raises(flower_processes.FlowerError, match="exit code 700"):
        flower_processes.flwr_run("app", "local-simulation", dict(os.environ), attempts=3)
    with pytest.raises(ValueError, match="attempts"):
        flower_processes.flwr_run("app", "local-simulation", dict(os.environ), attempts=0)


# ---- Runs in the background ----------------------------------------------------------------------------


def _fake_superlink(port: int) -> list[str]:
    return [sys.executable, "-c", FAKE_SUPERLINK, str(port)]


def test_run_in_background_returns_at_once_and_stops_the_runs_processes_when_it_ends(monkeypatch, tmp_path):
    release = tmp_path / "release"  # the fake run ends once this file exists: the test decides when
    _as_flwr(monkeypatch, "sh", "-c", f"echo started; while [ ! -f {release} ]; do sleep 0.1; done; echo finished")
    port = flower_processes.free_port()
    future = flower_processes.run_in_background([_fake_superlink(port)], dict(os.environ), tmp_path / "logs", port,
                                                "app", "sim", idle_timeout=300)  # fmt: skip
    assert not future.done(), "run_in_background should return while the run goes on"
    release.touch()
    log, processes, seconds = future.result(timeout=300)
    assert log.splitlines() == ["started", "finished"] and seconds > 0
    assert len(processes) == 1 and processes[0].poll() is not None, "the SuperLink should be stopped"
    wait_for(lambda: not flower_processes.tagged_processes(flower_processes.owner_tag() + "/"),
             "every process of the run to end")  # the fake SuperLink's child too


def test_run_in_background_hands_the_runs_failure_to_result_and_stops_everything(monkeypatch, tmp_path):
    _python_as_flwr(monkeypatch, "import sys; print('bad app'); sys.exit(3)")
    port = flower_processes.free_port()
    future = flower_processes.run_in_background([_fake_superlink(port)], dict(os.environ), tmp_path / "logs", port,
                                                "app", "sim")  # fmt: skip
    with pytest.raises(flower_processes.FlowerError, match="exited with code 3:\nbad app"):
        future.result(timeout=300)
    wait_for(lambda: not flower_processes.tagged_processes(flower_processes.owner_tag() + "/"),
             "the run's processes to end")


def test_two_runs_in_the_background_run_side_by_side(monkeypatch, tmp_path):
    # The first run finishes only once the second has started: run one after the other, it would never finish.
    first_waits = f"while [ ! -f {tmp_path / 'second'} ]; do sleep 0.1; done; echo first"
    second_starts = f"touch {tmp_path / 'second'}; echo second"
    commands = iter([["sh", "-c", first_waits], ["sh", "-c", second_starts]])
    monkeypatch.setattr(flower_processes, "flwr_run_command", lambda *args, **kwargs: next(commands))
    ports = [flower_processes.free_port(), flower_processes.free_port()]
    first = flower_processes.run_in_background([_fake_superlink(ports[0])], dict(os.environ), tmp_path / "a", ports[0],
                                               "app", "sim", idle_timeout=300)  # fmt: skip
    wait_for(lambda: next(tmp_path.glob("a/*.log"), None), "the first run to start its SuperLink")
    second = flower_processes.run_in_background([_fake_superlink(ports[1])], dict(os.environ), tmp_path / "b", ports[1],
                                                "app", "sim")  # fmt: skip
    assert second.result(timeout=300).log == "second\n"
    assert first.result(timeout=300).log == "first\n"


def test_run_in_background_rejects_options_that_flwr_run_does_not_take(tmp_path):
    with pytest.raises(TypeError, match="idle_timout"):
        flower_processes.run_in_background([["true"]], {}, tmp_path, 9093, "app", "sim", idle_timout=5)
    with pytest.raises(ValueError, match="superlink_port"):
        flower_processes.run_in_background([["true"]], {}, tmp_path, 0, "app", "sim")
    assert not flower_processes.tagged_processes(flower_processes.owner_tag() + "/"), "nothing may have started"


def test_the_module_imports_neither_flwr_nor_torch_so_its_watchdog_starts_at_once():
    probe = "import sys, course_utils.flower_processes; print(sorted({'flwr', 'torch', 'ray'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"
