"""The installation files agree with each other, say which Python the course needs, and `bash course.sh` starts it."""

import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from contextlib import suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _parse(spec: str) -> tuple[str, str]:
    """'scikit-learn>=1.4' -> ('scikit-learn', '>=1.4')."""
    name, version = re.match(r"^\s*([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)\s*(.*)$", spec).groups()
    return CONDA_NAMES.get(name.lower(), name.lower()), version.replace(" ", "")


def requirements() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return dict(_parse(line) for line in lines if line.strip() and not line.startswith(("#", "-")))


def conda_packages() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("dependencies:")
    specs = [line.strip()[2:] for line in lines[start + 1 :] if line.strip().startswith("- ") and ":" not in line]
    specs = [spec for spec in specs if spec != "-e ."]
    return dict(_parse(spec.replace("=", "==", 1) if re.search(r"[^<>=]=[^=]", spec) else spec) for spec in specs)


def test_requirements_and_environment_list_the_same_packages_and_versions():
    conda = conda_packages()
    conda.pop("python")
    conda.pop("pip")
    assert conda == requirements()


def test_both_install_the_course_package_itself():
    assert "-e ." in (ROOT / "requirements.txt").read_text().splitlines()
    assert "      - -e ." in (ROOT / "environment.yml").read_text().splitlines()


def test_package_dependencies_are_in_requirements_with_the_same_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = requirements()
    for spec in project["dependencies"]:
        name, version = _parse(spec)
        assert required.get(name) == version, f"{name}{version} differs from requirements.txt"


def test_torch_is_a_range_never_an_exact_pin():
    for name in ("torch", "torchvision"):
        assert requirements()[name].startswith(">="), f"{name} must stay a range so Colab keeps its own build"


def test_opacus_is_listed_everywhere_the_package_needs_it():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    project = dict(_parse(spec) for spec in dependencies)
    assert "opacus" in project, "course_utils.dp_sgd imports opacus: pyproject's dependencies (Colab's install) need it"
    assert requirements()["opacus"] == conda_packages()["opacus"] == project["opacus"]


def test_the_torch_floor_is_the_one_the_listed_opacus_requires():
    from importlib.metadata import PackageNotFoundError, requires, version

    try:
        needs = [r for r in requires("opacus") if r.startswith("torch") and "extra" not in r]
    except PackageNotFoundError:
        pytest.skip("opacus is not installed")
    assert _lower_bound(requirements()["opacus"]) <= _lower_bound(">=" + version("opacus")), "installed opacus too old"
    (torch_needed,) = needs
    assert _lower_bound(requirements()["torch"]) >= _lower_bound(torch_needed.replace("torch", "", 1)), \
        f"opacus {version('opacus')} needs {torch_needed}; requirements.txt promises less"


# ---- The Python the course needs, said where learners read it ----------------------------------------

MINIMUM_PYTHON = (3, 11)  # flwr 1.42, pinned in requirements.txt, declares Requires-Python >=3.11


def _lower_bound(specifier: str) -> tuple[int, ...]:
    """'>=3.11, <4.0' -> (3, 11)."""
    found = re.search(r">=\s*(\d+)\.(\d+)", specifier)
    assert found, f"no lower bound in {specifier!r}"
    return tuple(int(part) for part in found.groups())


def test_requires_python_is_what_the_pinned_flower_requires():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert _lower_bound(declared) == MINIMUM_PYTHON
    conda_python = dict(line.strip()[2:].split("=", 1) for line in (ROOT / "environment.yml").read_text().splitlines()
                        if line.strip().startswith("- python="))["python"]  # fmt: skip
    assert tuple(int(p) for p in conda_python.split(".")[:2]) >= MINIMUM_PYTHON


def test_the_installed_flower_requires_what_pyproject_says():
    from importlib.metadata import PackageNotFoundError, metadata, version

    try:
        flwr = metadata("flwr")
    except PackageNotFoundError:
        pytest.skip("Flower is not installed")
    assert "flwr[simulation]==" + version("flwr") in (ROOT / "requirements.txt").read_text()
    assert _lower_bound(flwr["Requires-Python"]) == MINIMUM_PYTHON, "update MINIMUM_PYTHON, pyproject and README"


def test_the_readme_states_the_python_the_course_needs():
    readme = (ROOT / "README.md").read_text()
    install = readme[readme.index("## Two commands") : readme.index("## Open a notebook in Colab")]
    assert "Python 3.11 or later" in install
    versions = [tuple(map(int, v)) for v in re.findall(r"Python (\d)\.(\d+)", readme)]
    assert all(v >= MINIMUM_PYTHON for v in versions), f"the README names an older Python: {versions}"
    assert "3.10" not in readme


# ---- bash course.sh: the first command ----------------------------------------------------------------


def fake_venv(tmp_path: Path, jupyter: str) -> Path:
    """A virtual environment for course.sh that is already set up: its python is this one (but
    `python -m pip` does nothing), its jupyter is the script ``jupyter``."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    scripts = {
        "python": (f'#!/usr/bin/env bash\n[[ "$1 $2" == "-m pip" ]] && exit 0\n'
                   f'exec {shlex.quote(sys.executable)} "$@"\n'),
        "jupyter": jupyter,
    }
    for name, text in scripts.items():
        (venv / "bin" / name).write_text(text)
        (venv / "bin" / name).chmod(0o755)
    (venv / ".requirements.sha256").write_text(hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest())
    return venv


def course_env(venv: Path, **extra: str) -> dict[str, str]:
    """The environment of a learner on a headless machine (no display, no browser)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    return {**env, "COURSE_VENV": str(venv), **extra}


RECORD_ARGS = '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/../jupyter-args"\n'


@pytest.mark.parametrize("display", [None, ":0"])
def test_course_sh_starts_jupyter_as_root_and_headless_without_input(tmp_path, display):
    venv = fake_venv(tmp_path, RECORD_ARGS)
    env = course_env(venv, **({"DISPLAY": display} if display else {}))
    done = subprocess.run(["bash", str(ROOT / "course.sh")], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    args = (venv / "jupyter-args").read_text().splitlines()
    assert args[:2] == ["lab", "notebooks/"]
    assert ("--allow-root" in args) == (os.geteuid() == 0), args
    assert ("--no-browser" in args) == (display is None), args
    assert ("open the address Jupyter Lab prints" in done.stdout) == (display is None)


def test_course_sh_start_passes_options_to_jupyter(tmp_path):
    venv = fake_venv(tmp_path, RECORD_ARGS)
    done = subprocess.run(["bash", str(ROOT / "course.sh"), "start", "--port=8890", "--ip=0.0.0.0"],
                          env=course_env(venv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (venv / "jupyter-args").read_text().splitlines()[-2:] == ["--port=8890", "--ip=0.0.0.0"]


def test_course_sh_test_passes_options_to_pytest(tmp_path):
    """`bash course.sh test ARGS` (e.g. one notebook, for a maintainer) runs just pytest with ARGS."""
    venv = fake_venv(tmp_path, RECORD_ARGS)
    done = subprocess.run(["bash", str(ROOT / "course.sh"), "test", "--collect-only", "-q", "tests/test_replicate.py"],
                          env=course_env(venv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "tests/test_replicate.py::test_repeat_runs_every_seed_and_summarizes_each_figure" in done.stdout
    assert "test_client.py" not in done.stdout


def test_course_sh_test_runs_two_passes_the_second_of_every_notebook_under_other_kernels(tmp_path):
    """The README's test command (and CI): unit tests and English notebooks, then every notebook with
    ATEN_CPU_CAPABILITY=default; a failing first pass still runs the second, and fails the command."""
    venv = fake_venv(tmp_path, RECORD_ARGS)
    record = venv / "pytest-calls"
    (venv / "bin" / "python").write_text(
        '#!/usr/bin/env bash\n[[ "$1 $2" == "-m pip" ]] && exit 0\n'
        '[[ "$1 $2" == "-m pytest" ]] && echo "${ATEN_CPU_CAPABILITY:-unset} ${*:3}" >> '
        f'{shlex.quote(str(record))} && {{ [[ "$3" == --ignore=* ]] && exit 1; exit 0; }}\n'
        f'exec {shlex.quote(sys.executable)} "$@"\n')
    env = {key: value for key, value in course_env(venv).items() if key != "ATEN_CPU_CAPABILITY"}
    done = subprocess.run(["bash", str(ROOT / "course.sh"), "test"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)
    assert record.read_text().splitlines() == ["unset --ignore=notebooks/zh", "default notebooks"]
    assert done.returncode == 1, "the first pass failed, so the command should fail"


def test_course_sh_refuses_a_python_older_than_3_11_and_says_what_to_do(tmp_path):
    old_python = tmp_path / "python3.10"
    old_python.write_text("#!/usr/bin/env bash\necho 'Python 3.10.12'\n")
    old_python.chmod(0o755)
    venv = tmp_path / "new-venv"
    done = subprocess.run(["bash", str(ROOT / "course.sh")], env=course_env(venv, COURSE_PYTHON=str(old_python)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1
    assert "needs Python 3.11 or later" in done.stderr and "COURSE_PYTHON" in done.stderr
    assert not venv.exists()


def test_course_sh_brings_up_jupyter_lab_that_answers_on_its_port(tmp_path):
    import psutil

    jupyter = Path(sys.executable).parent / "jupyter"
    if not jupyter.exists():
        pytest.skip("Jupyter is not installed in this environment")
    venv = fake_venv(tmp_path, f'#!/usr/bin/env bash\nexec {shlex.quote(str(jupyter))} "$@"\n')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = course_env(venv, JUPYTER_PORT=str(port), JUPYTER_PORT_RETRIES="0", JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
                     JUPYTER_CONFIG_DIR=str(tmp_path / "config"))  # fmt: skip
    log = tmp_path / "course.log"
    with open(log, "wb") as out:
        course = subprocess.Popen(["bash", str(ROOT / "course.sh")], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a generous ceiling: it waits for Jupyter to answer, not for a clock
        answer = None
        while answer is None and course.poll() is None and time.monotonic() < deadline:
            with suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as response:
                    answer = json.loads(response.read())
            time.sleep(0.3)
        assert answer and "version" in answer, f"Jupyter did not answer on port {port}:\n{log.read_text()[-3000:]}"
        assert "Running as root is not recommended" not in log.read_text()
    finally:
        family = psutil.Process(course.pid).children(recursive=True) if course.poll() is None else []
        with suppress(ProcessLookupError):
            os.killpg(course.pid, signal.SIGTERM)
        try:
            course.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(course.pid, signal.SIGKILL)
            course.wait(timeout=60)
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"left running: {left}"
