"""Running a Flower App from Python: Flower's processes on this machine, and ``flwr run``.

Notebook 11 and its tests start a SuperLink (and SuperNodes) on 127.0.0.1, point Flower's
command-line interface at them with a Flower configuration file, run the app with
``flwr run``, and always stop every process they started. Everything goes through Flower's
command-line tools in subprocesses: this module never imports ``flwr``, so the rest of the
course works without Flower installed.

No process outlives its starter. Every process started here (and every process those start:
SuperExec, the ServerApp, ClientApps, Ray) carries an environment variable naming the Python
process that owns it, so that it can be found even after its parent died. A ``with running(...)``
block stops its processes when it ends; at exit (and on SIGTERM or SIGHUP) the owner stops the
rest; if the owner is killed outright (a kernel killed with SIGKILL), Linux kills the processes it
started directly (a parent-death signal) and a small watchdog process stops everything else.
``stop_all_flower_processes()`` is the learner's one call to clean up by hand.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import itertools
import json
import operator
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, NamedTuple

import psutil  # in requirements.txt (Jupyter needs it too), and on Colab

from course_utils.checks import check_integer

LOCALHOST = "127.0.0.1"

# What the processes need besides the current environment: no telemetry or update check
# (they would try the internet), no per-run virtual environment for the app's dependencies
# (the app uses the course's own environment), SuperExec polling for work 5 times a second, and
# Ray (the simulation engine) starting no spare worker processes when it starts: Flower starts its
# ClientApp actors itself, and on 2 cores a spare worker's start only delays theirs.
FLOWER_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.2",
    "RAY_prestart_worker_first_driver": "0",
    "PYTHONUNBUFFERED": "1",
}


# Modules that Flower's processes do without. Jupyter brings rfc3987-syntax (through jupyter-events,
# as jsonschema's optional checker of IRIs), and importing it compiles a grammar: 0.8 s of CPU.
# Every process of Ray, Flower's simulation engine, imports jsonschema, which imports that module
# whenever it can: `import ray` took 1.35 s with it and 0.40 s without, and on 2 cores it held up
# the first round of notebook 11's simulation by about 7 s. Without it jsonschema only skips its
# "iri" formats, and nothing that Ray or Flower validates is an IRI.
SKIPPED_IMPORTS = ("rfc3987_syntax",)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# A SuperLink connection's name becomes a TOML table name, ``[superlink.NAME]``, and a command-line
# argument: letters, digits, '-' and '_' only, so that no name can add keys or tables to the file.
CONNECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# A run-config key, as Flower writes them (``num-server-rounds``, or dotted for nested tables).
CONFIG_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

# How a streamed run's log reports a run that failed (see Flower's reference of exit codes).
_RUN_FAILED = re.compile(r"^ERROR\s*:\s*Exit Code: (\d+)", re.MULTILINE)

# What Ray (Flower's simulation engine) prints when its node did not start in time: on a loaded machine its
# dashboard agent can take longer than the 15 s its raylet waits for it (Ray 2.55 has no setting for that wait).
RAY_START_TIMEOUT = "The current node timed out during startup"
RAY_START_ATTEMPTS = 3  # how often flwr_run submits a run whose simulation engine did not start

# Generous ceilings for waiting on work: a loaded 2-core machine can take minutes to start Ray.
START_TIMEOUT = 300.0  # seconds for a SuperLink to answer once started
IDLE_TIMEOUT = 300.0  # seconds `flwr run` may go without printing a line before it is stopped


class FlowerError(RuntimeError):
    """A Flower process or ``flwr run`` failed; the message ends with the end of its output."""


class RayStartTimeout(FlowerError):
    """``flwr run`` failed because Flower's simulation engine (Ray) did not start in time."""


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


def check_port(port: Any, argument: str = "port") -> int:
    """``port`` as an int if it is a TCP port number, 1 to 65535; else a TypeError or ValueError naming ``argument``."""
    if isinstance(port, bool):
        raise TypeError(f"{argument} must be an integer port number from 1 to 65535, got {port!r}")
    try:
        number = operator.index(port)
    except TypeError:
        raise TypeError(f"{argument} must be an integer port number from 1 to 65535, got {port!r}") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"{argument} must be a port number from 1 to 65535, got {number}")
    return number


def check_connection_name(name: Any, argument: str = "connection") -> str:
    """``name`` if it is a valid SuperLink connection name (``CONNECTION_NAME``); else a TypeError or ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a string, got {type(name).__name__}")
    if not CONNECTION_NAME.fullmatch(name):
        raise ValueError(
            f"{argument} {name!r} is not a valid connection name: use 1 to 64 letters, digits, '-' or '_', "
            "starting with a letter or digit (e.g. 'local-simulation')"
        )
    return name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def flower_env(flwr_home: Path) -> dict[str, str]:
    """The environment for Flower's processes: this one, plus ``FLOWER_ENV`` and ``FLWR_HOME``.

    ``FLWR_HOME`` is where Flower keeps its configuration file, installed apps and state;
    a temporary folder keeps the learner's own ``~/.flwr`` untouched. Flower's commands
    start each other by name, so their folder goes first on PATH. The modules named in
    ``SKIPPED_IMPORTS`` cannot be imported there (a folder first on PYTHONPATH).
    """
    bin_dir = str(Path(flower_executable("flwr")).parent)
    env = {**os.environ, **FLOWER_ENV, "FLWR_HOME": str(Path(flwr_home).resolve())}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    skipped = str(skipped_imports_folder(Path(flwr_home)))
    env["PYTHONPATH"] = os.pathsep.join(folder for folder in (skipped, env.get("PYTHONPATH")) if folder)
    return env


def skipped_imports_folder(flwr_home: Path) -> Path:
    """Write ``flwr_home/skipped-imports/``: one module per name in ``SKIPPED_IMPORTS`` whose import
    fails at once. Flower's processes get it first on PYTHONPATH (see ``SKIPPED_IMPORTS``)."""
    folder = Path(flwr_home) / "skipped-imports"
    folder.mkdir(parents=True, exist_ok=True)
    for name in SKIPPED_IMPORTS:
        message = f"{name} is skipped in Flower's processes (course_utils.flower_processes.SKIPPED_IMPORTS)"
        (folder / f"{name}.py").write_text(f"raise ImportError({message!r})\n")
    return folder


def write_flower_config(flwr_home: Path, connections: Mapping[str, int], default: str | None = None) -> Path:
    """Write Flower's configuration file, ``flwr_home/config.toml``: one insecure SuperLink connection per name.

    ``connections`` maps a connection name (what ``flwr run APP NAME`` uses; letters, digits,
    '-' and '_') to the port of a SuperLink on 127.0.0.1 (1 to 65535). Returns the file's path.
    """
    if not connections:
        raise ValueError("connections must name at least one SuperLink connection, got none")
    ports = {check_connection_name(name, "connections: name"): check_port(port, f"connections[{name!r}]")
             for name, port in connections.items()}  # fmt: skip
    default = next(iter(ports)) if default is None else default
    if default not in ports:
        raise ValueError(f"default must be one of {sorted(ports)}, got {default!r}")
    lines = ["[superlink]", f"default = {json.dumps(default)}", ""]
    for name, port in ports.items():
        lines += [f"[superlink.{name}]", f'address = "{LOCALHOST}:{port}"', "insecure = true", ""]
    path = Path(flwr_home) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def superlink_command(port: int, simulation: bool = False) -> list[str]:
    """``flower-superlink`` on 127.0.0.1:``port`` without TLS.

    With ``simulation=True`` it runs each run in Flower's simulation engine (virtual
    SuperNodes) instead of sending messages to SuperNodes that connect to it.
    """
    port = check_port(port)
    command = [flower_executable("flower-superlink"), "--insecure", "--host", LOCALHOST, "--port", str(port)]
    command += ["--simulation"] if simulation else []
    return command + ["--disable-runtime-dependency-installation"]


def supernode_command(superlink_port: int, port: int, partition_id: int, num_partitions: int) -> list[str]:
    """``flower-supernode`` for partition ``partition_id`` of ``num_partitions``, connecting to the
    SuperLink on 127.0.0.1:``superlink_port``; ``port`` is its own API for the ClientApp processes."""
    superlink_port, port = check_port(superlink_port, "superlink_port"), check_port(port)
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
        if not isinstance(key, str) or not CONFIG_KEY.fullmatch(key):
            raise ValueError(f"{option} keys must be letters, digits, '-', '_' and dots, got {key!r}")
        args += [option, f"{key}={_toml_value(value)}"]
    return args


def flwr_run_command(
    app_dir: str | Path,
    connection: str,
    run_config: Mapping[str, Any] | None = None,
    federation_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """``flwr run APP_DIR CONNECTION --stream`` with ``--run-config`` (and ``--federation-config``) overrides."""
    connection = check_connection_name(connection)
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


def wait_until_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Wait until the SuperLink on 127.0.0.1:``port`` answers ``/health``; raise FlowerError if it
    exits first, or has not answered after ``timeout`` seconds (a generous ceiling: the SuperLink
    answers as soon as it is up, a loaded machine only makes that later)."""
    port = check_port(port)
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


# ---- Owning processes: tags, the parent-death signal, the watchdog ------------------------------------

# Every process started here gets OWNER_VARIABLE = "OWNER/N/" in its environment, OWNER naming this
# Python process ("pid:start time") and N the process; its descendants inherit it.
OWNER_VARIABLE = "COURSE_FLOWER_OWNER"
_started: dict[int, tuple[subprocess.Popen, str]] = {}  # pid -> (process, its tag): the ones still to stop
_numbers = itertools.count()
_watchdog: tuple[int, subprocess.Popen] | None = None  # (the owner's pid, its watchdog)
# Held while a process is started and registered, and while the watchdog is let go (it then ends every
# process tagged with our tag): a run in another thread must not start a process in between.
_lock = threading.RLock()
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def owner_tag(pid: int | None = None) -> str:
    """The owner tag of process ``pid`` (default: this one): ``"pid:start time"``, unique even when pids are reused."""
    process = psutil.Process(pid)
    return f"{process.pid}:{process.create_time():.2f}"


def _owner_alive(tag: str) -> bool:
    """Whether the process named by an owner tag (``"pid:start time"``) still runs."""
    pid = int(tag.split(":")[0])
    with suppress(psutil.Error, ValueError):
        return owner_tag(pid) == tag and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return False


def _tag_of(process: psutil.Process) -> str:
    """The tag ``process`` carries (``"OWNER/N/"``), or "" if it has none or cannot be read."""
    with suppress(psutil.Error):
        if process.pid != os.getpid() and process.status() != psutil.STATUS_ZOMBIE:
            return process.environ().get(OWNER_VARIABLE, "")
    return ""


def tagged_processes(prefix: str) -> list[psutil.Process]:
    """The running processes whose tag starts with ``prefix`` (an owner tag and "/": all of one owner's; "": all)."""
    return [process for process in psutil.process_iter() if (tag := _tag_of(process)) and tag.startswith(prefix)]


def end_processes(processes: Sequence[psutil.Process], timeout: float = 10.0) -> None:
    """SIGTERM ``processes``; SIGKILL the ones still running after ``timeout`` seconds."""
    for process in processes:
        with suppress(psutil.Error):
            process.terminate()
    _, left = psutil.wait_procs(processes, timeout=timeout)
    for process in left:
        with suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=timeout)


def _end_tagged(prefix: str, timeout: float = 10.0) -> list[psutil.Process]:
    """End every process tagged with ``prefix``, again while some appear (one may start another); returns them."""
    ended: list[psutil.Process] = []
    for _ in range(5):
        found = tagged_processes(prefix)
        if not found:
            break
        end_processes(found, timeout)
        ended += found
    return ended


def _die_with(parent_pid: int) -> None:
    """Run in a new process before it starts its program (Linux): get SIGKILL when the parent dies."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl: nobody would send the signal
            os._exit(1)


def watch(owner: str, poll: float = 0.5) -> None:
    """The watchdog's loop: when the owner (an owner tag) has exited or closes our standard input,
    end every process tagged with the owner's tag, then return."""
    print("watching", owner, flush=True)
    while _owner_alive(owner):
        ready, _, _ = select.select([sys.stdin], [], [], poll)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
    _end_tagged(owner + "/")


def _ensure_watchdog(timeout: float = START_TIMEOUT) -> None:
    """Start this process's watchdog unless it runs: a Python process in a session of its own that
    outlives us and ends our tagged processes once we are gone (see :func:`watch`)."""
    global _watchdog
    if _watchdog is not None and _watchdog[0] == os.getpid() and _watchdog[1].poll() is None:
        return
    package_root = str(Path(__file__).resolve().parents[1])
    env = {key: value for key, value in os.environ.items() if key != OWNER_VARIABLE}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    code = f"from course_utils.flower_processes import watch; watch({owner_tag()!r})"
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().decode(errors="replace") if ready else ""
    if not line.startswith("watching"):
        process.kill()
        raise FlowerError(f"the watchdog for Flower's processes did not start: {line}{process.stdout.read(4000)!r}")
    _watchdog = (os.getpid(), process)
    _install_signal_handlers()


def _release_watchdog() -> None:
    """Let the watchdog go once nothing of ours runs: closing its input makes it check, then exit."""
    global _watchdog
    with _lock:
        if _watchdog is None or _watchdog[0] != os.getpid() or _started:
            return
        _, process = _watchdog
        _watchdog = None
        with suppress(OSError):
            process.stdin.close()
        with suppress(subprocess.TimeoutExpired):  # still holding the lock: it ends whatever it finds tagged
            process.wait(timeout=60)


def _stop_own_on_signal(signum: int, frame: Any) -> None:
    """SIGTERM or SIGHUP with no other handler: stop our Flower processes, then die of the signal as before."""
    _stop_own()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_signal_handlers() -> None:
    """Stop our processes on SIGTERM and SIGHUP, where nobody else handles them (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _stop_own_on_signal)


def start_process(command: Sequence[str], env: Mapping[str, str], stdout: IO[Any] | int) -> subprocess.Popen:
    """Start ``command`` so that it ends with us: in a session of its own, tagged, killed by Linux when
    this process dies, and watched by this process's watchdog. ``stdout`` receives its output and errors."""
    with _lock:
        _ensure_watchdog()
        tag = f"{owner_tag()}/{next(_numbers)}/"  # the closing "/": the prefix of process 1 is not that of 10
        parent = os.getpid()
        process = subprocess.Popen(list(command), env={**env, OWNER_VARIABLE: tag}, stdout=stdout,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=(lambda: _die_with(parent)) if _libc is not None else None)  # fmt: skip
        _started[process.pid] = (process, tag)
    return process


def _family(process: subprocess.Popen) -> list[psutil.Process]:
    """The processes that ``process`` started, directly or not, as psutil processes.

    Flower's SuperLink and SuperNode start SuperExec in a session of its own, which starts
    the ServerApp, the ClientApps or Ray: a process group does not reach them all.
    """
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(process: subprocess.Popen, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) to ``process``'s group, its own since it started a session; without
    process groups (Windows), to the process alone."""
    with suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        elif kill:
            process.kill()
        else:
            process.terminate()


def stop(processes: Sequence[subprocess.Popen], timeout: float = 15.0) -> None:
    """Stop ``processes`` and every process they started: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Descendants are found as children (while their parents run) and, for processes started with
    :func:`start_process`, by their tag, which also finds those whose parent died already.
    """
    alive = [process for process in processes if process.poll() is None]
    family = [member for process in alive for member in _family(process)]
    for process in alive:
        _signal_group(process)
    for member in family:
        with suppress(psutil.Error):
            member.terminate()
    deadline = time.monotonic() + timeout
    for process in alive:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, kill=True)
            process.wait(timeout=timeout)
    end_processes(family, timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        _, tag = _started.pop(process.pid, (None, None))
        if tag is not None:
            _end_tagged(tag, timeout)
    _release_watchdog()


def _stop_own() -> None:
    """Stop every process this Python process started here (at exit, on a signal)."""
    if _started or _watchdog is not None:
        stop([process for process, _ in list(_started.values())])
        _end_tagged(owner_tag() + "/")


atexit.register(_stop_own)


def stop_all_flower_processes(timeout: float = 15.0) -> list[str]:
    """Stop every Flower process this course started and left running: the ones this Python
    process started (e.g. after an interrupted cell) and those of a Python process that has
    died (e.g. a kernel killed before it could stop them). Returns what was stopped, as
    ``"name (pid N)"``, so ``[]`` means nothing was left.

    Flower processes started by hand in a terminal carry no tag and are left alone; find them
    with ``ps aux | grep '[f]lower-'``.
    """
    mine = owner_tag() + "/"
    left = []
    for process in psutil.process_iter():
        tag = _tag_of(process)
        if tag and (tag.startswith(mine) or not _owner_alive(tag.split("/")[0])):
            left.append(process)
    names = []
    for process in left:
        with suppress(psutil.Error):
            names.append(f"{process.name()} (pid {process.pid})")
    stop([process for process, _ in list(_started.values())], timeout)
    end_processes(left, timeout)
    return names


@contextmanager
def running(
    commands: Sequence[Sequence[str]],
    env: Mapping[str, str],
    log_dir: Path,
    superlink_port: int,
    timeout: float = START_TIMEOUT,
) -> Iterator[list[subprocess.Popen]]:
    """Start ``commands`` (a SuperLink first, then any SuperNodes), wait for the SuperLink (at most
    ``timeout`` seconds), and always stop them all on leaving the ``with`` block, whether it ends
    normally or with an error.

    Stopping a process also stops every process it started (SuperExec, the ServerApp and
    ClientApps, Ray): see :func:`stop`; and none outlives this Python process: see
    :func:`start_process`. The output of command ``i`` goes to ``log_dir/NAME-i.log``.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        for i, command in enumerate(commands):
            logs.append(log_dir / f"{Path(command[0]).name}-{i}.log")
            with open(logs[-1], "wb") as out:
                processes.append(start_process(command, env, out))
        wait_until_healthy(superlink_port, processes[0], logs[0], timeout)
        yield processes
    finally:
        stop(processes)


def _read_lines(stream: IO[str], lines: list[str], last: list[float]) -> None:
    """Append each line of ``stream`` to ``lines`` and its arrival time to ``last[0]``, until it closes."""
    for line in stream:
        lines.append(line)
        last[0] = time.monotonic()


def flwr_run(
    app_dir: str | Path,
    connection: str,
    env: Mapping[str, str],
    run_config: Mapping[str, Any] | None = None,
    federation_config: Mapping[str, Any] | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
    timeout: float | None = None,
    attempts: int = RAY_START_ATTEMPTS,
) -> str:
    """Run the app with ``flwr run ... --stream``, wait for the run to end, and return its log.

    It waits as long as the run makes progress: it stops ``flwr`` and raises FlowerError (with the
    end of the log) when no line of output came for ``idle_timeout`` seconds, when the run takes
    longer than ``timeout`` seconds in all (None: no limit), or when ``flwr`` or the run fails.
    A run whose simulation engine (Ray) failed to start (``RAY_START_TIMEOUT``, a loaded machine)
    is submitted again, up to ``attempts`` times in all; the log returned says how often.
    """
    check_integer("attempts", attempts, 1)
    retried = []
    for attempt in range(1, attempts + 1):
        try:
            return "".join(retried) + _flwr_run_once(app_dir, connection, env, run_config, federation_config,
                                                     idle_timeout, timeout)  # fmt: skip
        except RayStartTimeout:
            if attempt == attempts:
                raise
            retried.append(f"(attempt {attempt}: Ray did not start in time on this loaded machine; "
                           "submitting the run again)\n")
    raise AssertionError("unreachable")


class FinishedRun(NamedTuple):
    """What :func:`run_in_background` gives back: the run's log, the processes it started (all stopped), its seconds."""

    log: str
    processes: list[subprocess.Popen]
    seconds: float


def run_in_background(
    commands: Sequence[Sequence[str]],
    env: Mapping[str, str],
    log_dir: Path,
    superlink_port: int,
    app_dir: str | Path,
    connection: str,
    **flwr_run_options: Any,
) -> Future[FinishedRun]:
    """Start ``commands`` (a SuperLink first, then any SuperNodes) and ``flwr run`` in a thread; return at once.

    The thread does what ``with running(commands, ...): flwr_run(app_dir, connection, env, ...)`` does,
    so every process is stopped when the run ends, whether it succeeded or failed. The Future's
    ``result()`` waits for that and returns a :class:`FinishedRun`, or raises the run's error.
    ``flwr_run_options`` are :func:`flwr_run`'s (``run_config``, ``federation_config``, ``idle_timeout``, ...).
    Two runs started this way run side by side, each on its own SuperLink.
    """
    superlink_port = check_port(superlink_port, "superlink_port")
    connection = check_connection_name(connection)
    unknown = set(flwr_run_options) - {"run_config", "federation_config", "idle_timeout", "timeout", "attempts"}
    if unknown:
        raise TypeError(f"run_in_background got options that flwr_run does not take: {sorted(unknown)}")
    with _lock:
        _ensure_watchdog()  # here, in the caller's thread: it also installs the signal handlers (main thread only)
    future: Future[FinishedRun] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        start = time.perf_counter()
        try:
            with running(commands, env, log_dir, superlink_port) as processes:
                log = flwr_run(app_dir, connection, env, **flwr_run_options)
            future.set_result(FinishedRun(log, processes, time.perf_counter() - start))
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the Future
            future.set_exception(error)

    threading.Thread(target=run, name=f"flwr run {connection}", daemon=True).start()
    return future


def _flwr_run_once(
    app_dir: str | Path,
    connection: str,
    env: Mapping[str, str],
    run_config: Mapping[str, Any] | None,
    federation_config: Mapping[str, Any] | None,
    idle_timeout: float,
    timeout: float | None,
) -> str:
    """One ``flwr run``: see :func:`flwr_run`."""
    command = flwr_run_command(app_dir, connection, run_config, federation_config)
    lines: list[str] = []
    last = [time.monotonic()]
    start = last[0]
    process = start_process(command, env, subprocess.PIPE)
    reader = threading.Thread(target=_read_lines,
                              args=(io.TextIOWrapper(process.stdout, errors="replace"), lines, last), daemon=True)
    reader.start()
    problem = None
    while process.poll() is None and problem is None:
        time.sleep(0.2)
        if time.monotonic() - last[0] > idle_timeout:
            problem = f"printed nothing for {idle_timeout:.0f} s"
        elif timeout is not None and time.monotonic() - start > timeout:
            problem = f"did not finish within {timeout:.0f} s"
    stop([process])
    reader.join(timeout=10)
    output = _ANSI.sub("", "".join(lines))  # without the terminal's colour codes
    tail = "\n".join(output.splitlines()[-30:])
    if problem is not None:
        raise FlowerError(f"`{show(command)}` {problem}, and was stopped:\n{tail}")
    if RAY_START_TIMEOUT in output:
        raise RayStartTimeout(f"`{show(command)}`: Flower's simulation engine (Ray) did not start in time "
                              f"({RAY_START_TIMEOUT!r}):\n{tail}")
    if process.returncode != 0:
        raise FlowerError(f"`{show(command)}` exited with code {process.returncode}:\n{tail}")
    if failed := _RUN_FAILED.search(output):  # `flwr run --stream` exits with 0 even when the run failed
        raise FlowerError(f"`{show(command)}`: the run failed with Flower's exit code {failed[1]}:\n{tail}")
    return output
