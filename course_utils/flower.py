"""Running a Flower App from Python: Flower's processes on this machine, and ``flwr run``.

Notebook 10 and its tests start a SuperLink (and SuperNodes) on 127.0.0.1, point Flower's
command-line interface at them with a Flower configuration file, run the app with
``flwr run``, and always stop every process they started. Everything goes through Flower's
command-line tools in subprocesses: this module never imports ``flwr``, so the rest of the
course works without Flower installed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

LOCALHOST = "127.0.0.1"

# What the processes need besides the current environment: no telemetry or update check
# (they would try the internet), no per-run virtual environment for the app's dependencies
# (the app uses the course's own environment), and SuperExec polling for work 5 times a second.
FLOWER_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.2",
    "PYTHONUNBUFFERED": "1",
}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FlowerError(RuntimeError):
    """A Flower process or ``flwr run`` failed; the message ends with the end of its output."""


def flower_executable(name: str) -> str:
    """The full path of Flower's command ``name`` (``flwr``, ``flower-superlink``, ...).

    Looked up next to the running Python first (a virtual environment's ``bin``), then on PATH.
    """
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise FlowerError(
            f"Flower's command {name!r} was not found. Install Flower with the course's pinned version: "
            "pip install -r requirements.txt (or the flwr line in it)."
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def flower_env(flwr_home: Path) -> dict[str, str]:
    """The environment for Flower's processes: this one, plus ``FLOWER_ENV`` and ``FLWR_HOME``.

    ``FLWR_HOME`` is where Flower keeps its configuration file, installed apps and state;
    a temporary folder keeps the learner's own ``~/.flwr`` untouched. Flower's commands
    start each other by name, so their folder goes first on PATH.
    """
    bin_dir = str(Path(flower_executable("flwr")).parent)
    env = {**os.environ, **FLOWER_ENV, "FLWR_HOME": str(Path(flwr_home).resolve())}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def write_flower_config(flwr_home: Path, connections: Mapping[str, int], default: str | None = None) -> Path:
    """Write Flower's configuration file, ``flwr_home/config.toml``: one insecure SuperLink connection per name.

    ``connections`` maps a connection name (what ``flwr run APP NAME`` uses) to the port of a
    SuperLink on 127.0.0.1. Returns the file's path.
    """
    if not connections:
        raise ValueError("connections must name at least one SuperLink connection, got none")
    default = next(iter(connections)) if default is None else default
    if default not in connections:
        raise ValueError(f"default must be one of {sorted(connections)}, got {default!r}")
    lines = ["[superlink]", f"default = {json.dumps(default)}", ""]
    for name, port in connections.items():
        lines += [f"[superlink.{name}]", f'address = "{LOCALHOST}:{int(port)}"', "insecure = true", ""]
    path = Path(flwr_home) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def superlink_command(port: int, simulation: bool = False) -> list[str]:
    """``flower-superlink`` on 127.0.0.1:``port`` without TLS.

    With ``simulation=True`` it runs each run in Flower's simulation engine (virtual
    SuperNodes) instead of sending messages to SuperNodes that connect to it.
    """
    command = [flower_executable("flower-superlink"), "--insecure", "--host", LOCALHOST, "--port", str(port)]
    command += ["--simulation"] if simulation else []
    return command + ["--disable-runtime-dependency-installation"]


def supernode_command(superlink_port: int, port: int, partition_id: int, num_partitions: int) -> list[str]:
    """``flower-supernode`` for partition ``partition_id`` of ``num_partitions``, connecting to the
    SuperLink on 127.0.0.1:``superlink_port``; ``port`` is its own API for the ClientApp processes."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(f"partition_id must be in [0, {num_partitions - 1}], got {partition_id}")
    return [
        flower_executable("flower-supernode"), "--insecure",
        "--superlink", f"{LOCALHOST}:{superlink_port}",
        "--host", LOCALHOST, "--port", str(port),
        "--node-config", f"partition-id={partition_id} num-partitions={num_partitions}",
    ]  # fmt: skip


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a TOML basic string
    raise TypeError(f"run config values must be bool, int, float or str, got {type(value).__name__}")


def config_args(option: str, values: Mapping[str, Any] | None) -> list[str]:
    """``values`` as repeated command-line options: ``["--run-config", "key=value", ...]``."""
    args: list[str] = []
    for key, value in (values or {}).items():
        args += [option, f"{key}={_toml_value(value)}"]
    return args


def flwr_run_command(
    app_dir: str | Path,
    connection: str,
    run_config: Mapping[str, Any] | None = None,
    federation_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """``flwr run APP_DIR CONNECTION --stream`` with ``--run-config`` (and ``--federation-config``) overrides."""
    command = [flower_executable("flwr"), "run", str(app_dir), connection, "--stream"]
    return command + config_args("--run-config", run_config) + config_args("--federation-config", federation_config)


def show(command: Sequence[str]) -> str:
    """A command as one would type it in a shell, with the program's name instead of its full path."""
    return shlex.join([Path(command[0]).name, *command[1:]])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def wait_until_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Wait until the SuperLink on 127.0.0.1:``port`` answers ``/health``; raise FlowerError if it
    exits or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FlowerError(f"the SuperLink exited with code {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://{LOCALHOST}:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise FlowerError(f"the SuperLink did not answer on {LOCALHOST}:{port} within {timeout:.0f} s:\n{_tail(log)}")


def _family(process: subprocess.Popen) -> list[Any]:
    """The processes that ``process`` started, directly or not, as psutil processes (none without psutil).

    Flower's SuperLink and SuperNode start SuperExec in a session of its own, which starts
    the ServerApp, the ClientApps or Ray: a process group does not reach them all.
    """
    try:
        import psutil  # in requirements.txt (Jupyter needs it too)
    except ImportError:
        return []
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(process: subprocess.Popen, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) to ``process``'s group, its own since it started a session; without
    process groups (Windows), to the process alone."""
    with suppress(ProcessLookupError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        elif kill:
            process.kill()
        else:
            process.terminate()


def stop(processes: Sequence[subprocess.Popen], timeout: float = 15.0) -> None:
    """Stop ``processes`` and every process they started: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    alive = [process for process in processes if process.poll() is None]
    family = [member for process in alive for member in _family(process)]
    for process in alive:
        _signal_group(process)
    for member in family:
        with suppress(Exception):
            member.terminate()
    deadline = time.monotonic() + timeout
    for process in alive:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, kill=True)
            process.wait(timeout=timeout)
    if family:
        import psutil

        _, left = psutil.wait_procs(family, timeout=max(0.1, deadline - time.monotonic()))
        for member in left:
            with suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(left, timeout=timeout)


@contextmanager
def running(
    commands: Sequence[Sequence[str]], env: Mapping[str, str], log_dir: Path, superlink_port: int, timeout: float = 60.0
) -> Iterator[list[subprocess.Popen]]:
    """Start ``commands`` (a SuperLink first, then any SuperNodes), wait for the SuperLink, and
    always stop them all on leaving the ``with`` block, whether it ends normally or with an error.

    Stopping a process also stops every process it started (SuperExec, the ServerApp and
    ClientApps, Ray): see :func:`stop`. The output of command ``i`` goes to ``log_dir/NAME-i.log``.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        for i, command in enumerate(commands):
            logs.append(log_dir / f"{Path(command[0]).name}-{i}.log")
            with open(logs[-1], "wb") as out:
                processes.append(
                    subprocess.Popen(list(command), env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
                )  # fmt: skip
        wait_until_healthy(superlink_port, processes[0], logs[0], timeout)
        yield processes
    finally:
        stop(processes)


def flwr_run(
    app_dir: str | Path,
    connection: str,
    env: Mapping[str, str],
    run_config: Mapping[str, Any] | None = None,
    federation_config: Mapping[str, Any] | None = None,
    timeout: float = 300.0,
) -> str:
    """Run the app with ``flwr run ... --stream``, wait for the run to end, and return its log.

    Raises FlowerError (with the end of the log) if ``flwr`` fails or takes longer than
    ``timeout`` seconds; the caller's ``running`` block then stops the processes.
    """
    command = flwr_run_command(app_dir, connection, run_config, federation_config)
    try:
        done = subprocess.run(command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired as error:
        output = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else (error.stdout or "")
        tail = "\n".join(_ANSI.sub("", output).splitlines()[-30:])
        raise FlowerError(f"`{show(command)}` did not finish within {timeout:.0f} s:\n{tail}") from None
    output = _ANSI.sub("", done.stdout)  # without the terminal's colour codes
    if done.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise FlowerError(f"`{show(command)}` exited with code {done.returncode}:\n{tail}")
    return output
