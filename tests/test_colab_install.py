"""The notebooks' setup cell installs a working course package the way Colab would, and only what is missing.

A fresh virtual environment stands in for Colab: it sees this environment's packages
(Colab ships torch, numpy, scikit-learn, ...) through a .pth file, but not course_utils. The
setup cell's pip command then runs with a local clone of this repository in place of the
GitHub address, and the installed package must import and run from the new environment. Since
every dependency is already there, pip must add the course package and nothing else: no second
torch (Colab keeps its own build; the ranges in pyproject.toml must admit it).
"""

import shlex
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

from tools.sync_notebooks import install_spec, settings

ROOT = Path(__file__).resolve().parents[1]


def colab_like_python(tmp_path: Path) -> Path:
    """A new venv whose interpreter also sees this environment's installed packages, like Colab's."""
    env = tmp_path / "colab"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "colab_preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout to clone")
def test_setup_cell_install_command_gives_an_importable_package(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    ref = settings()["ref"]
    # old pips want a host
    spec = install_spec().replace(f"git+https://github.com/{settings()['repository']}", f"git+file://localhost{clone}")
    assert spec.endswith(f"@{ref}")
    python = colab_like_python(tmp_path)
    install = subprocess.run([python, "-m", "pip", "install", "-q", spec], capture_output=True, text=True)
    assert install.returncode == 0, f"pip install {shlex.quote(spec)} failed:\n{install.stderr[-3000:]}"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    added = {p.name.split("-")[0].lower() for p in Path(site).glob("*.dist-info")} - {"pip", "setuptools"}
    assert added == {"course_utils"}, f"the setup cell should install only what the environment lacks, it added {added}"
    check = (
        "import course_utils, course_utils.simulation, course_utils.exercises, course_utils.dp_sgd;"
        "import course_utils.data as d;"
        "print(course_utils.__file__); print(len(d.load_dataset('digits').train))"
    )
    result = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    installed_at, num_train = result.stdout.split()
    assert str(tmp_path / "colab") in installed_at, "course_utils must come from the new install, not this checkout"
    assert num_train == "1437"
