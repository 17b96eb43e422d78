"""The Flower App in flower_app/ (notebook 11): its configuration, and a real run in Flower's
deployment mode, a SuperLink and two SuperNodes as separate processes on 127.0.0.1.

Flower is optional for the course: the tests that run Flower are skipped without it, and the
rest of the course must neither import it nor need it.
"""

import ast
import importlib.util
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import pytest

from course_utils import flower_processes

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "flower_app"
needs_flower = pytest.mark.skipif(importlib.util.find_spec("flwr") is None, reason="Flower is not installed")


def app_config() -> dict:
    return tomllib.loads((APP / "pyproject.toml").read_text())


def flwr_requirement(lines: list[str]) -> str:
    return next(line.split("#")[0].strip() for line in lines if line.strip().startswith("flwr"))


def test_the_app_pins_the_flower_of_requirements_txt():
    pinned = flwr_requirement((ROOT / "requirements.txt").read_text().splitlines())
    assert pinned.startswith("flwr[simulation]==")
    assert app_config()["project"]["dependencies"] == [pinned]


def test_the_app_declares_its_components_and_the_run_config_the_notebook_sets():
    app = app_config()["tool"]["flwr"]["app"]
    assert app["components"] == {"serverapp": "fl_digits.server_app:app", "clientapp": "fl_digits.client_app:app"}
    assert {"num-server-rounds", "fraction-train", "fraction-evaluate", "num-partitions", "local-epochs",
            "batch-size", "learning-rate", "test-fraction", "seed", "results-file", "strategies",
            "dp-noise-multiplier", "dp-clipping-norm", "dp-delta"} <= set(app["config"])  # fmt: skip
    assert app["config"]["strategies"] == "fedavg"
    assert "federations" not in app_config()["tool"]["flwr"], "Flower 1.42 keeps connections in its own config file"


@needs_flower
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # typer, which flwr's CLI imports, warns about click
def test_flower_validates_the_apps_pyproject():
    from flwr.cli.config_utils import load_and_validate

    _, warnings = load_and_validate(APP / "pyproject.toml", check_module=False)
    assert warnings == []


@pytest.fixture
def server_app(monkeypatch):
    """The app's server_app module, imported as Flower imports it (the app's folder on sys.path)."""
    monkeypatch.syspath_prepend(str(APP))
    import fl_digits.server_app

    return fl_digits.server_app


@needs_flower
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_server_app_builds_each_jobs_strategy_from_the_run_config(server_app):
    from flwr.serverapp import SamplingMethod
    from flwr.serverapp import strategy as flower_strategies

    config = {**app_config()["tool"]["flwr"]["app"]["config"], "num-partitions": 4}
    assert type(server_app.make_strategy("fedavg", config)) is flower_strategies.FedAvg
    median = server_app.make_strategy("fedmedian", config)
    assert isinstance(median, flower_strategies.FedMedian) and median.min_available_nodes == 4
    dp = server_app.make_strategy("dp-fedavg", config)
    assert isinstance(dp, flower_strategies.DifferentialPrivacyServerSideFixedClipping)
    assert (dp.noise_multiplier, dp.clipping_norm, dp.num_sampled_clients) == (
        config["dp-noise-multiplier"], config["dp-clipping-norm"], 4)
    assert dp.strategy.weighted_by_key == server_app.UNIT_WEIGHT  # DP's average is unweighted
    assert dp.accountant.config.population_size == 4
    assert dp.accountant.config.sampling_method is SamplingMethod.NO_AMPLIFICATION
    assert dp.accountant.config.target_delta == config["dp-delta"]
    with pytest.raises(ValueError, match="fraction-train = 1.0"):
        server_app.make_strategy("dp-fedavg", {**config, "fraction-train": 0.5})
    with pytest.raises(ValueError, match="unknown strategy 'krum'"):
        server_app.make_strategy("krum", config)


@needs_flower
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("strategies, jobs", [("fedavg", ["fedavg"]), (" fedavg , fedmedian,dp-fedavg ",
                                              ["fedavg", "fedmedian", "dp-fedavg"])])  # fmt: skip
def test_the_server_app_reads_its_jobs_from_the_run_config(server_app, strategies, jobs):
    assert server_app.job_names({"strategies": strategies}) == jobs


@needs_flower
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("strategies", ["", " , ", "fedavg,fedavg", "fedavg,fedprox"])
def test_the_server_app_refuses_jobs_it_cannot_run(server_app, strategies):
    with pytest.raises(ValueError, match="strategies"):
        server_app.job_names({"strategies": strategies})


def test_the_app_loads_each_dataset_once_per_process(monkeypatch):
    monkeypatch.syspath_prepend(str(APP))
    from fl_digits import task

    task.dataset.cache_clear()
    config = {"dataset": "digits", "model": "mlp", "seed": 0, "test-fraction": 0.2}
    first, second = task.load_client(config, 0, 2), task.load_client(config, 1, 2)
    assert task.dataset.cache_info().misses == 1, "the second client should reuse the digits loaded for the first"
    assert first.cid == 0 and second.cid == 1 and len(first.train_data) > 0 and len(second.train_data) > 0


def test_course_utils_works_without_flower():
    # Block `import flwr`, then import every module of the package: none may need Flower.
    modules = sorted(p.stem for p in (ROOT / "course_utils").glob("*.py") if p.stem != "__init__")
    code = "import sys; sys.modules['flwr'] = None\n" + "".join(f"import course_utils.{m}\n" for m in modules)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_course_utils_and_the_other_notebooks_never_import_flower_at_the_top():
    for path in sorted((ROOT / "course_utils").glob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only: a check may import it inside
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "flwr" or n.startswith("flwr.") for n in names), f"{path.name} imports flwr"
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if "flower" not in path.stem:  # the Flower notebook is the one that may
            code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
            assert "import flwr" not in code and "from flwr" not in code, f"{path.name} uses Flower"


@pytest.fixture
def deployment(tmp_path):
    """A SuperLink and two SuperNodes (partitions 0 and 1 of 2) on free ports of 127.0.0.1.

    Yields the environment for `flwr`; every process is stopped afterwards, also when the test
    fails, and the test checks that none is left.
    """
    import psutil

    port = flower_processes.free_port()
    flower_processes.write_flower_config(tmp_path, {"local-deployment": port})
    env = flower_processes.flower_env(tmp_path)
    commands = [flower_processes.superlink_command(port)] + [
        flower_processes.supernode_command(port, flower_processes.free_port(), partition_id, 2)
        for partition_id in range(2)
    ]
    family = []
    with flower_processes.running(commands, env, tmp_path / "logs", port) as processes:  # waits for the SuperLink
        try:
            yield env
        finally:
            family = [member for p in processes for member in flower_processes._family(p)]  # SuperExec, ClientApps
    assert all(p.poll() is not None for p in processes)
    left = [m for m in family if m.is_running() and m.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left running: {left}"


@needs_flower
def test_one_round_on_a_superlink_and_two_supernodes_improves_the_model(deployment, tmp_path):
    # No clock: flwr_run waits as long as the run keeps printing (at most IDLE_TIMEOUT s of silence),
    # so a loaded machine is slower but passes.
    results = tmp_path / "results.json"
    log = flower_processes.flwr_run(
        APP, "local-deployment", deployment,
        run_config={"num-server-rounds": 1, "num-partitions": 2, "fraction-evaluate": 0.0,
                    "results-file": str(results)},
    )  # fmt: skip

    assert "configure_train: Sampled 2 nodes (out of 2)" in log
    metrics = json.loads(results.read_text())["fedavg"]  # the run's only job: the default strategies
    assert list(metrics["centralized"]) == ["0", "1"]  # the initial model and one round
    assert list(metrics["fit"]) == ["1"]
    before, after = metrics["centralized"]["0"]["accuracy"], metrics["centralized"]["1"]["accuracy"]
    assert after > before + 0.3, f"one round of FedAvg should improve the model: {before:.3f} -> {after:.3f}"


# A python process that starts a SuperLink and two SuperNodes, waits until each has started its SuperExec
# (six processes carry its tag), prints "ready", and sleeps: the test then kills it.
DEPLOYMENT_PARENT = """
import sys, time
from pathlib import Path
from course_utils import flower_processes
work = Path(sys.argv[1])
port = flower_processes.free_port()
env = flower_processes.flower_env(work)
commands = [flower_processes.superlink_command(port)] + [
    flower_processes.supernode_command(port, flower_processes.free_port(), i, 2) for i in range(2)]
with flower_processes.running(commands, env, work / "logs", port):
    while len(flower_processes.tagged_processes(flower_processes.owner_tag() + "/")) < 6:
        time.sleep(0.2)
    print("ready", flush=True)
    time.sleep(600)
"""


@needs_flower
def test_killing_the_python_that_started_a_deployment_leaves_no_flower_process(tmp_path):
    import psutil

    parent = subprocess.Popen([sys.executable, "-c", DEPLOYMENT_PARENT, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)  # fmt: skip
    assert parent.stdout.readline().strip() == "ready"  # waits until all six are up, however long it takes
    owner = flower_processes.owner_tag(parent.pid)
    started = flower_processes.tagged_processes(owner + "/")
    names = sorted(" ".join(p.cmdline()[1:2]).rsplit("/", 1)[-1] for p in started)
    assert names.count("flower-superlink") == 1 and names.count("flower-supernode") == 2, names
    assert names.count("flower-superexec") == 3, names  # one for the SuperLink, one per SuperNode

    parent.kill()  # SIGKILL, as when a Jupyter kernel is killed: nothing runs in the parent any more
    parent.wait()

    deadline = time.monotonic() + 300  # a generous ceiling; on an idle machine it takes about a second
    while (left := [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]) and (
            time.monotonic() < deadline):  # fmt: skip
        time.sleep(0.2)
    assert not left, f"left running after their parent was killed: {left}"
    assert not flower_processes.tagged_processes(owner + "/")
