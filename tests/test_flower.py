"""course_utils.flower: commands, configuration files and stopping processes (no Flower needed)."""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import tomllib

from course_utils import flower


@pytest.fixture
def fake_executables(monkeypatch):
    """Flower's commands as if installed in /opt/flwr/bin, so that these tests need no Flower."""
    monkeypatch.setattr(flower, "flower_executable", lambda name: f"/opt/flwr/bin/{name}")


def test_write_flower_config_names_one_insecure_connection_per_superlink(tmp_path):
    path = flower.write_flower_config(tmp_path, {"sim": 9092, "deploy": 9093}, default="deploy")

    assert path == tmp_path / "config.toml"
    config = tomllib.loads(path.read_text())
    assert config["superlink"]["default"] == "deploy"
    assert config["superlink"]["sim"] == {"address": "127.0.0.1:9092", "insecure": True}
    assert config["superlink"]["deploy"] == {"address": "127.0.0.1:9093", "insecure": True}


def test_write_flower_config_defaults_to_the_first_connection(tmp_path):
    config = tomllib.loads(flower.write_flower_config(tmp_path, {"a": 1, "b": 2}).read_text())
    assert config["superlink"]["default"] == "a"


@pytest.mark.parametrize(("connections", "default"), [({}, None), ({"a": 1}, "b")])
def test_write_flower_config_rejects_no_connection_or_an_unknown_default(tmp_path, connections, default):
    with pytest.raises(ValueError, match="connections|default"):
        flower.write_flower_config(tmp_path, connections, default)


def test_flower_env_sets_flwr_home_and_turns_off_what_needs_the_internet(tmp_path, fake_executables):
    env = flower.flower_env(tmp_path)

    assert env["FLWR_HOME"] == str(tmp_path.resolve())
    assert env["FLWR_TELEMETRY_ENABLED"] == "0" and env["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] == "1"
    assert env["PATH"].startswith("/opt/flwr/bin")


def test_superlink_and_supernode_commands(fake_executables):
    assert flower.superlink_command(9093) == [
        "/opt/flwr/bin/flower-superlink", "--insecure", "--host", "127.0.0.1", "--port", "9093",
        "--disable-runtime-dependency-installation",
    ]  # fmt: skip
    assert "--simulation" in flower.superlink_command(9093, simulation=True)
    node = flower.supernode_command(9093, 9094, partition_id=1, num_partitions=2)
    assert node[:2] == ["/opt/flwr/bin/flower-supernode", "--insecure"]
    assert node[node.index("--superlink") + 1] == "127.0.0.1:9093"
    assert node[node.index("--port") + 1] == "9094"
    assert node[node.index("--node-config") + 1] == "partition-id=1 num-partitions=2"


@pytest.mark.parametrize("partition_id", [-1, 2])
def test_supernode_command_rejects_a_partition_outside_the_range(fake_executables, partition_id):
    with pytest.raises(ValueError, match="partition_id"):
        flower.supernode_command(9093, 9094, partition_id=partition_id, num_partitions=2)


def test_config_args_write_toml_values():
    args = flower.config_args("--run-config", {"rounds": 3, "lr": 0.1, "on": True, "name": "a b", "path": Path("/x/y")})
    assert args == [
        "--run-config", "rounds=3", "--run-config", "lr=0.1", "--run-config", "on=true",
        "--run-config", 'name="a b"', "--run-config", 'path="/x/y"',
    ]  # fmt: skip
    assert flower.config_args("--run-config", None) == []
    with pytest.raises(TypeError, match="run config values"):
        flower.config_args("--run-config", {"bad": [1, 2]})


def test_flwr_run_command_streams_and_passes_both_configs(fake_executables):
    command = flower.flwr_run_command(Path("flower_app"), "sim", {"num-server-rounds": 2}, {"num-supernodes": 5})
    assert command == [
        "/opt/flwr/bin/flwr", "run", "flower_app", "sim", "--stream",
        "--run-config", "num-server-rounds=2", "--federation-config", "num-supernodes=5",
    ]  # fmt: skip
    assert flower.show(command).startswith("flwr run flower_app sim --stream")


def test_free_port_can_be_bound():
    import socket

    port = flower.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_flower_executable_explains_how_to_install_flower(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(flower.FlowerError, match="pip install -r requirements.txt"):
        flower.flower_executable("flwr")


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

    flower.stop([parent], timeout=5)

    assert parent.poll() is not None
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_running_stops_everything_even_when_the_block_fails(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(flower.FlowerError, match="did not answer"):
        with flower.running([sleeper], {}, tmp_path, superlink_port=flower.free_port(), timeout=1):
            pass  # never reached: nothing answers on the port
    log = next(tmp_path.glob("python*-0.log"))
    assert log.exists()
    # the process list is not returned on failure; no python child of this test may be left running
    sleepers = [p for p in psutil.Process().children(recursive=True) if "time.sleep(60)" in " ".join(p.cmdline())]
    assert not [p for p in sleepers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
