"""Keep every notebook's Colab badge, setup cell and GitHub addresses in line with [tool.course].

    python tools/sync_notebooks.py          # rewrite badges and setup cells where they differ
    python tools/sync_notebooks.py --check  # exit 1 if any notebook is out of date

Renaming the GitHub repository, or pinning another reference for Colab, is then a one-line
change in pyproject.toml followed by this command.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BADGE = re.compile(r'<a href="https://colab\.research\.google\.com/github/[^"]*">.*?</a>')
GITHUB = re.compile(r"https://github\.com/[\w.-]+/[\w-]+")  # every GitHub address in a notebook is the course's


def settings() -> dict[str, str]:
    """``[tool.course]`` from pyproject.toml: ``repository`` (owner/name) and ``ref`` (branch or tag)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"]


def badge(name: str) -> str:
    """The Open-in-Colab badge for notebook file ``name``."""
    s = settings()
    url = f"https://colab.research.google.com/github/{s['repository']}/blob/{s['ref']}/notebooks/{name}"
    return (f'<a href="{url}">'
            '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>')


def install_spec() -> str:
    """What the setup cell gives pip on Colab: the course package at the pinned reference."""
    s = settings()
    return f"course_utils @ git+https://github.com/{s['repository']}@{s['ref']}"


def setup_source() -> str:
    """The setup cell: installs the course package on Colab only (Colab already has torch)."""
    return (
        "import sys\n"
        "import subprocess\n"
        "\n"
        'if "google.colab" in sys.modules:  # on Colab only: install the course package (Colab has torch already)\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    "{install_spec()}"], check=True)'
    )


def synced(notebook: nbformat.NotebookNode, name: str) -> list[str]:
    """The sources ``notebook`` (file ``name``) should have: its badge for this repository and
    reference, its first code cell the setup cell, and every GitHub address the repository's."""
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    sources = []
    for i, cell in enumerate(notebook.cells):
        source = setup_source() if i == first_code else BADGE.sub(badge(name), cell.source, count=1)
        sources.append(GITHUB.sub(f"https://github.com/{settings()['repository']}", source))
    return sources


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        wanted = synced(notebook, path.name)
        if wanted == [cell.source for cell in notebook.cells]:
            continue
        if check:
            stale.append(path.name)
        else:
            for cell, source in zip(notebook.cells, wanted):
                cell.source = source
            nbformat.write(notebook, path)
            print(f"updated {path.name}")
    if stale:
        print("out of date (run python tools/sync_notebooks.py):", ", ".join(stale))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
