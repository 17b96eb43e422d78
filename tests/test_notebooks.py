"""Every notebook follows the course's skeleton (nbval checks their outputs separately)."""

import re
from pathlib import Path

import nbformat
import pytest

from tools.sync_notebooks import badge, settings, setup_source, synced

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALLOWED_TAGS = {"parameters", "nbval-ignore-output", "raises-exception"}


def cells_of(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def test_the_course_has_notebooks_numbered_from_00_without_gaps():
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(len(numbers))) and numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_points_at_this_notebook(path):
    first = cells_of(path)[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.name[:2]} ")
    assert badge(path.name) in first.source, "run python tools/sync_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_only_on_colab(path):
    setup = [cell for cell in cells_of(path) if cell.cell_type == "code"][0]
    assert setup.source == setup_source(), "run python tools/sync_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_skeleton_goals_parameters_summary_exercises(path):
    cells = cells_of(path)
    markdown = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    assert "## Learning goals\n\nIn this notebook you will:" in cells[0].source
    for heading in ("## Parameters", "## Summary", "## Exercises"):
        assert heading in markdown, f"missing {heading!r}"
    parameter_cells = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameter_cells) == 1
    assert "SEED" in parameter_cells[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_one_clean_run(path):
    code = [cell for cell in cells_of(path) if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert None not in counts, "execute the notebook top to bottom before committing it"
    assert counts == list(range(1, len(code) + 1)), "re-run the whole notebook with a fresh kernel"
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"a stored error output in: {cell.source[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_known_tags_and_no_path_hacks(path):
    for cell in cells_of(path):
        assert set(cell.metadata.get("tags", [])) <= ALLOWED_TAGS
        if cell.cell_type == "code":
            assert "sys.path" not in cell.source and "autoreload" not in cell.source


@pytest.mark.parametrize("index", range(len(NOTEBOOKS) - 1))
def test_each_notebook_links_to_the_next(index):
    last = cells_of(NOTEBOOKS[index])[-1]
    assert f"({NOTEBOOKS[index + 1].name})" in last.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_github_address_is_the_course_repository(path):
    notebook = nbformat.read(path, as_version=4)
    addresses = re.findall(r"https://github\.com/[\w.-]+/[\w-]+", "".join(c.source for c in notebook.cells))
    assert set(addresses) == {f"https://github.com/{settings()['repository']}"}
    assert synced(notebook, path.name) == [c.source for c in notebook.cells], "run python tools/sync_notebooks.py"
