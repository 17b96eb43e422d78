"""The installation files agree with each other."""

import re
from pathlib import Path

import tomllib

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
