"""The Chinese edition: every markdown cell translated and current, notebooks/zh/ built from the catalogs.

The catalogs (``i18n/zh/NN_x.po``) key each translation to the exact English of its cell, so an
English edit makes the translation stale until a translator updates it; ``notebooks/zh/`` is built
from them by ``tools/translate.py build`` and stored executed (nbval validates it like the English
notebooks: ``bash course.sh test`` runs it under ATEN_CPU_CAPABILITY=default).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import polib
import pytest

from course_utils.exercises import language, set_language
from tools.sync_notebooks import badge
from tools.translate import (
    LANGUAGE_LINE,
    ZH_NOTEBOOKS,
    build_notebook,
    catalog_path,
    extract,
    translation_problems,
    zh_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIX_CATALOG = ("translate it: python tools/translate.py extract notebooks/{name}, write the Chinese, "
               "then python tools/translate.py fill i18n/zh/{stem}.po DIR")
FIX_BUILD = ("rebuild it: python tools/translate.py build {number}; if that says its code changed, "
             "python tools/execute_notebooks.py notebooks/zh/{name}")


def _zh(english: Path) -> nbformat.NotebookNode:
    path = ZH_NOTEBOOKS / english.name
    if not path.exists():
        fix = FIX_BUILD.format(number=english.name[:2], name=english.name)
        pytest.fail(f"notebooks/zh/{english.name} is missing: {fix}")
    return nbformat.read(path, as_version=4)


def _catalog_translation(english: Path) -> dict[str, str]:
    catalog = polib.pofile(str(catalog_path(english)), wrapwidth=0)
    cells = nbformat.read(english, as_version=4).cells
    return {cell.id: catalog.find(cell.source).msgstr for cell in cells if cell.cell_type == "markdown"}


def test_every_english_notebook_is_in_the_chinese_edition():
    assert ENGLISH, "no English notebooks found"
    extra = sorted(p.name for p in ZH_NOTEBOOKS.glob("*.ipynb") if not (ROOT / "notebooks" / p.name).exists())
    assert not extra, f"notebooks/zh/ has notebooks with no English source (delete them): {extra}"


# --- the catalogs -----------------------------------------------------------------------------

@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_every_markdown_cell_has_a_current_translation(english):
    problems = translation_problems(english)
    assert not problems, "\n".join(problems) + "\n" + FIX_CATALOG.format(name=english.name, stem=english.stem)


def _translated_copy(tmp_path: Path, english: Path) -> tuple[Path, Path]:
    """A copy of ``english`` and of its catalog in ``tmp_path``, every entry translated (real Chinese,
    or a stand-in where the catalog has none yet), so the copy's check passes before any edit."""
    notebook, catalog = tmp_path / english.name, tmp_path / catalog_path(english).name
    shutil.copy(english, notebook)
    if catalog_path(english).exists():
        shutil.copy(catalog_path(english), catalog)
    entries = extract(notebook, catalog)
    for entry in entries:
        if not entry.msgstr or entry.fuzzy:
            entry.msgstr, entry.flags, entry.previous_msgid = "中文译文", [], None
    entries.save(str(catalog))
    return notebook, catalog


def _edit_markdown_cell(notebook: Path, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in the first markdown cell that contains it; returns the cell id."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and old in c.source)
    cell.source = cell.source.replace(old, new, 1)
    nbformat.write(nb, notebook)
    return cell.id


def _insert_markdown_cell(notebook: Path, text: str) -> str:
    """Insert a new markdown cell ``text`` after the notebook's first cell; returns its (generated) id."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(text))
    nbformat.write(nb, notebook)
    return nb.cells[1].id


def test_an_edited_english_cell_makes_its_translation_stale(tmp_path):
    """Edit one English cell of notebook 00 (in a copy): the check names that cell as stale, before
    and after ``extract`` (which keeps the old translation as fuzzy), and says what the English was."""
    notebook, catalog = _translated_copy(tmp_path, ENGLISH[0])
    assert translation_problems(notebook, catalog) == []
    old_line = next(c.source for c in nbformat.read(notebook, as_version=4).cells
                    if c.cell_type == "markdown" and c.source.startswith("## Setup")).splitlines()[-1]
    cell_id = _edit_markdown_cell(notebook, old_line, old_line + " (edited)")
    for when in ("before extract", "after extract"):
        problems = translation_problems(notebook, catalog)
        assert len(problems) == 1, (when, problems)
        assert problems[0].startswith(f"{notebook.name} cell {cell_id} ('## Setup'): the English changed after "
                                      f"it was translated: previous English '{old_line[:60]}"), (when, problems)
        extract(notebook, catalog)
    assert polib.pofile(str(catalog)).fuzzy_entries(), "extract should keep the stale translation as fuzzy"
    with pytest.raises(ValueError, match=f"cell {cell_id} .*the English changed after it was translated"):
        build_notebook(notebook, catalog)


def test_a_new_english_cell_is_never_translated_and_the_build_refuses_it(tmp_path):
    notebook, catalog = _translated_copy(tmp_path, ENGLISH[0])
    new_id = _insert_markdown_cell(notebook, "A brand-new paragraph.\n\nWith a second one.")
    expected = f"{notebook.name} cell {new_id} ('A brand-new paragraph.'): never translated"
    assert translation_problems(notebook, catalog) == [expected]
    with pytest.raises(ValueError, match=re.escape(expected)):
        build_notebook(notebook, catalog)


def test_fill_translates_a_cell_named_by_any_id(tmp_path):
    """A new cell gets a generated id (not ``cell-NN``): ``fill`` takes its ``ID.md`` all the same."""
    from tools.translate import fill

    notebook, catalog = _translated_copy(tmp_path, ENGLISH[0])
    new_id = _insert_markdown_cell(notebook, "A brand-new paragraph.")
    extract(notebook, catalog)
    folder = tmp_path / "translations"
    folder.mkdir()
    (folder / f"{new_id}.md").write_text("一个全新的段落。", encoding="utf-8")
    assert fill(catalog, folder) == 1
    assert translation_problems(notebook, catalog) == []
    (folder / "no-such-cell.md").write_text("多余", encoding="utf-8")
    with pytest.raises(ValueError, match="no markdown cell 'no-such-cell'"):
        fill(catalog, folder)


def test_the_build_keeps_outputs_when_only_markdown_changed_and_drops_them_when_code_did(tmp_path):
    notebook, catalog = _translated_copy(tmp_path, ENGLISH[0])
    built, kept = build_notebook(notebook, catalog)
    assert not kept and all(not c.outputs and c.execution_count is None for c in built.cells if c.cell_type == "code")
    assert not build_notebook(notebook, catalog, stored=built)[1], "a notebook never executed has no outputs to keep"
    for count, cell in enumerate((c for c in built.cells if c.cell_type == "code"), start=1):  # as if executed
        cell.execution_count, cell.outputs = count, [nbformat.v4.new_output("stream", name="stdout", text=f"{count}\n")]
    _edit_markdown_cell(notebook, "## Setup", "## Setup, reworded")
    entries = extract(notebook, catalog)
    for entry in entries.fuzzy_entries():
        entry.msgstr, entry.flags = "## 环境准备（新措辞）", []
    entries.save(str(catalog))
    rebuilt, kept = build_notebook(notebook, catalog, stored=built)
    assert kept
    assert [c.get("outputs") for c in rebuilt.cells] == [c.get("outputs") for c in built.cells]
    assert any("新措辞" in c.source for c in rebuilt.cells)
    nb = nbformat.read(notebook, as_version=4)
    code = next(c for c in nb.cells[3:] if c.cell_type == "code")
    code.source += "\nprint('changed')"
    nbformat.write(nb, notebook)
    rebuilt, kept = build_notebook(notebook, catalog, stored=built)
    assert not kept and all(not c.outputs for c in rebuilt.cells if c.cell_type == "code")


def test_the_language_line_sets_the_checks_language():
    before = language()
    try:
        exec(LANGUAGE_LINE, {})
        assert language() == "zh"
    finally:
        set_language(before)


# --- notebooks/zh/ ----------------------------------------------------------------------------

@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_the_chinese_notebook_is_built_from_the_current_english_and_catalog(english):
    """Same cells and metadata as the English notebook; markdown = the catalog's translation (badge
    pointing here); code identical, but the setup cell ends with the language line."""
    zh, en = _zh(english), nbformat.read(english, as_version=4)
    fix = FIX_BUILD.format(number=english.name[:2], name=english.name)
    assert [(c.id, c.cell_type) for c in zh.cells] == [(c.id, c.cell_type) for c in en.cells], fix
    assert translation_problems(english) == [], "the catalog is not complete: " + FIX_CATALOG.format(
        name=english.name, stem=english.stem)
    chinese = _catalog_translation(english)
    first_code = next(c.id for c in en.cells if c.cell_type == "code")
    for z, e in zip(zh.cells, en.cells):
        if e.cell_type == "markdown":
            assert z.source == zh_markdown(chinese[e.id], english.name), f"markdown cell {e.id} differs: {fix}"
        else:
            expected = f"{e.source.rstrip()}\n{LANGUAGE_LINE}" if e.id == first_code else e.source
            assert z.source == expected, f"code cell {e.id} differs from the English one: {fix}"
        assert {k: v for k, v in z.metadata.items() if k != "execution"} == \
               {k: v for k, v in e.metadata.items() if k != "execution"}, f"cell {e.id}'s metadata (tags): {fix}"
    assert zh.metadata.get("course", {}).get("language") == "zh", fix
    assert zh.metadata.get("kernelspec") == en.metadata.get("kernelspec"), fix


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_the_chinese_notebook_is_stored_from_one_clean_run(english):
    counts = [c.execution_count for c in _zh(english).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"notebooks/zh/{english.name} is not stored executed top to bottom (execution counts {counts}): "
        f"python tools/execute_notebooks.py notebooks/zh/{english.name}")


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_the_colab_badge_opens_the_chinese_notebook(english):
    first = _zh(english).cells[0]
    assert badge(f"zh/{english.name}") in first.source


LINK = re.compile(r"\]\(([^)\s]+)[^)]*\)|(?:src|href)=\"([^\"]+)\"")


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_relative_links_in_the_chinese_markdown_resolve(english):
    broken = []
    for cell in _zh(english).cells:
        if cell.cell_type != "markdown":
            continue
        for match in LINK.finditer(cell.source):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z][a-z+.-]*:|#", target):  # web links, mailto:, data:, anchors
                continue
            if not (ZH_NOTEBOOKS / target.split("#")[0].split("?")[0]).exists():
                broken.append(f"cell {cell.id}: {target}")
    assert not broken, f"links leading nowhere from notebooks/zh/ (one leaving notebooks/ needs a ../ more): {broken}"


def _prose(markdown: str) -> str:
    """The words a reader reads: without code, math, HTML tags and link targets."""
    for pattern in (r"```.*?```", r"`[^`]*`", r"\$\$.*?\$\$", r"\$[^$]*\$", r"<[^>]+>", r"https?://\S+"):
        markdown = re.sub(pattern, " ", markdown, flags=re.S)
    return re.sub(r"\]\([^)]*\)", "]", markdown)


CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def chinese_share(markdown: str) -> float:
    """CJK characters as a share of the letters of the prose (1.0 when it has none): a Chinese
    sentence keeps some Latin (FedAvg, epsilon), the translations run 0.67 to 1; English is 0."""
    prose = _prose(markdown)
    cjk, latin = len(CJK.findall(prose)), len(re.findall(r"[A-Za-z]", prose))
    return cjk / (cjk + latin) if cjk + latin else 1.0


def english_sentences(markdown: str) -> list[str]:
    """The paragraphs and list items of ``markdown`` with eight or more English words and no Chinese
    at all (a paper's reference, which keeps its English title, has a year and is let through)."""
    parts = re.split(r"\n\s*\n|\n(?=\s*(?:[-*|]|\d+\.) )", markdown)
    return [part for part in parts if len(re.findall(r"[A-Za-z]{2,}", _prose(part))) >= 8
            and not CJK.search(_prose(part)) and not re.search(r"\b(19|20)\d\d\b", part)]


def test_the_english_detector_tells_english_from_chinese():
    english = "Each client trains locally for a short time, never to convergence, and returns its update."
    chinese = "每个客户端只做短时间的本地训练（从不训练到收敛），然后返回它的 `update`，与 FedAvg 一致。"
    assert chinese_share(english) == 0 and english_sentences(english) == [english]
    assert chinese_share(chinese) > 0.6 and english_sentences(chinese) == []
    assert english_sentences(f"{chinese}\n\n{english}") == [english]  # one paragraph left in English


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_no_markdown_cell_of_the_chinese_notebook_is_left_in_english(english):
    left = []
    for cell in _zh(english).cells:
        if cell.cell_type != "markdown" or len(re.findall(r"[A-Za-z]{2,}", _prose(cell.source))) < 3:
            continue  # a cell of code, math or a name only has nothing to translate
        share, sentences = chinese_share(cell.source), english_sentences(cell.source)
        if share < 0.3 or sentences:
            english_left = sentences[:1] or cell.source[:80]
            left.append(f"cell {cell.id}: Chinese share {share:.2f}, English left: {english_left!r}")
    assert not left, f"notebooks/zh/{english.name} has English left (fix its translation in i18n/zh/): {left}"
