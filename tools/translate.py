"""The Chinese edition: one gettext catalog per notebook in ``i18n/zh/``, and the notebooks built from them.

    python tools/translate.py extract [NN ...]                      # create or update catalogs
    python tools/translate.py fill i18n/zh/NN_x.po DIR              # set translations from DIR/CELL_ID.md
    python tools/translate.py check [NN ...]                        # which cells lack a current translation
    python tools/translate.py build [NN ...]                        # write notebooks/zh/NN_x.ipynb

A catalog ``i18n/zh/NN_x.po`` holds one entry per markdown cell of ``notebooks/NN_x.ipynb``:
``msgid`` is the cell's English source exactly, ``msgstr`` its Chinese, and the entry's
occurrence (``#: NN_x.ipynb:cell-05``) names the cell. ``extract`` adds entries for new or
changed cells; a cell whose English changed after it was translated keeps its translation as
a *fuzzy* entry that remembers the previous English (``#| msgid``), until a translator updates
it. ``fill`` reads one Markdown file per cell, named by its id (``cell-05.md``, ``fd76ce3f.md``),
and makes it that cell's translation.

``build`` writes ``notebooks/zh/NN_x.ipynb`` from ``notebooks/NN_x.ipynb`` and its catalog: every
markdown cell replaced by its translation (with the Colab badge pointing at the Chinese notebook),
every code cell identical but the setup cell (the first code cell), which ends with
``LANGUAGE_LINE`` so that the exercise checks answer in Chinese; the notebook's metadata keeps the
English one's and records ``"course": {"language": "zh", ...}``. It refuses a notebook in which a
markdown cell has no translation, or only a fuzzy one (its English changed after it was
translated), naming the cell. The Chinese notebooks are stored executed: when their code is
unchanged, ``build`` keeps the outputs they have, so a wording fix needs no re-execution; when the
code changed (or the notebook is new), it writes the notebook without outputs and says so. Then
refresh the outputs with ``python tools/execute_notebooks.py notebooks/zh/NN_x.ipynb`` (it runs the
notebook in ``notebooks/zh/``) and validate them as CI does, under
``ATEN_CPU_CAPABILITY=default python -m pytest notebooks/zh/NN_x.ipynb``. Do the same when
``course_utils`` changes what a notebook prints (an exercise check's feedback, say): the English
notebook is re-executed then, and so is the Chinese one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import polib

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as a script (python tools/translate.py): make the tools package importable
    sys.path.insert(0, str(ROOT))
from tools.sync_notebooks import BADGE, GITHUB, badge, settings  # noqa: E402

CATALOGS = ROOT / "i18n" / "zh"
NOTEBOOKS = ROOT / "notebooks"
ZH_NOTEBOOKS = NOTEBOOKS / "zh"
LANGUAGE = "zh"
LANGUAGE_LINE = (  # the line that ends a Chinese notebook's setup cell
    f'from course_utils.exercises import set_language; set_language("{LANGUAGE}")  # checks answer in Chinese'
)


def catalog_path(notebook: Path) -> Path:
    """Where the catalog of ``notebooks/NN_x.ipynb`` lives: ``i18n/zh/NN_x.po``."""
    return CATALOGS / f"{notebook.stem}.po"


def zh_path(notebook: Path) -> Path:
    """Where the Chinese edition of ``notebooks/NN_x.ipynb`` lives: ``notebooks/zh/NN_x.ipynb``."""
    return ZH_NOTEBOOKS / notebook.name


def cell_ids(entry: polib.POEntry) -> list[str]:
    """The cells an entry translates, from its occurrences ``NN_x.ipynb:cell-05`` (polib keeps them whole)."""
    return [(place + ":" + line if line else place).rpartition(":")[2] for place, line in entry.occurrences]


def markdown_cells(notebook: Path) -> list[tuple[str, str]]:
    """(cell id, English source) of each markdown cell of ``notebook``, in order."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [(cell.id, cell.source) for cell in cells if cell.cell_type == "markdown"]


def new_catalog(notebook: Path) -> polib.POFile:
    """An empty catalog for ``notebook`` with the header gettext tools expect."""
    catalog = polib.POFile(wrapwidth=0)
    catalog.metadata = {
        "Project-Id-Version": f"federated-from-zero {notebook.stem}",
        "Language": "zh_CN",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    return catalog


def extract(notebook: Path, path: Path | None = None) -> polib.POFile:
    """Bring the catalog of ``notebook`` (``path``, by default ``catalog_path(notebook)``) up to date
    with its markdown cells and save it.

    Entries whose English is unchanged are kept as they are. A cell whose English changed keeps
    its old translation, marked fuzzy with the previous English, so that a translator sees what
    changed; entries of cells that no longer exist are dropped.
    """
    path = path or catalog_path(notebook)
    old = polib.pofile(str(path), wrapwidth=0) if path.exists() else new_catalog(notebook)
    by_cell = {cell: entry for entry in old for cell in cell_ids(entry)}
    catalog = new_catalog(notebook)
    catalog.metadata = old.metadata or catalog.metadata
    for cell_id, source in markdown_cells(notebook):
        entry = catalog.find(source)
        if entry is not None:  # the same English twice (e.g. "## Setup"): one entry, two places
            entry.occurrences.append((notebook.name, cell_id))
            continue
        kept = old.find(source)
        previous = by_cell.get(cell_id)
        entry = polib.POEntry(msgid=source, occurrences=[(notebook.name, cell_id)])
        if kept is not None:
            entry.msgstr, entry.flags = kept.msgstr, list(kept.flags)
            entry.previous_msgid = kept.previous_msgid
        elif previous is not None and previous.msgstr:
            entry.msgstr, entry.flags = previous.msgstr, ["fuzzy"]
            entry.previous_msgid = previous.previous_msgid or previous.msgid
        catalog.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.save(str(path))
    return catalog


def fill(path: Path, folder: Path) -> int:
    """Make ``folder/CELL_ID.md`` the translation of cell ``CELL_ID`` in catalog ``path``; returns how many.

    A filled entry is no longer fuzzy. Raises ValueError for a file that names no cell of the catalog.
    """
    catalog = polib.pofile(str(path), wrapwidth=0)
    by_cell = {cell: entry for entry in catalog for cell in cell_ids(entry)}
    filled = 0
    for file in sorted(folder.glob("*.md")):
        entry = by_cell.get(file.stem)
        if entry is None:
            raise ValueError(f"{file}: {path.name} has no markdown cell {file.stem!r}")
        entry.msgstr = file.read_text(encoding="utf-8").strip("\n")
        entry.flags = [flag for flag in entry.flags if flag != "fuzzy"]
        entry.previous_msgid = None
        filled += 1
    catalog.save(str(path))
    return filled


def _first_line(text: str) -> str:
    line = next((line for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= 80 else line[:77] + "..."


def _first_changed_line(previous: str, current: str) -> str:
    """The first line of ``previous`` that ``current`` does not have at the same place (its first line if none)."""
    old, new = previous.splitlines(), current.splitlines()
    changed = next((line for i, line in enumerate(old) if i >= len(new) or new[i] != line), None)
    return _first_line(changed or previous)


def translation_problems(notebook: Path, catalog: Path | None = None) -> list[str]:
    """Why the markdown cells of ``notebook`` cannot be translated from ``catalog``, one line per cell ([] if all can).

    A cell is either *never translated* (no entry, or an empty one) or *stale*: the English changed
    after it was translated, whether ``extract`` has run since (a fuzzy entry) or not (an entry
    for the same cell keyed to other English). Each line names the notebook, the cell id, the
    cell's first line and, for a stale cell, the previous English.
    """
    path = catalog or catalog_path(notebook)
    if not path.exists():
        return [f"{notebook.name}: no catalog {path.name} (create it with python tools/translate.py extract "
                f"notebooks/{notebook.name}, then translate it)"]
    entries = polib.pofile(str(path), wrapwidth=0)
    by_cell = {cell: entry for entry in entries for cell in cell_ids(entry)}
    problems = []
    for cell_id, source in markdown_cells(notebook):
        where = f"{notebook.name} cell {cell_id} ({_first_line(source)!r})"
        entry = entries.find(source)
        if entry is not None and entry.msgstr and not entry.fuzzy:
            continue
        old = by_cell.get(cell_id)
        if entry is not None and entry.fuzzy:
            previous = entry.previous_msgid or ""
        elif entry is None and old is not None and old.msgstr:
            previous = old.msgid
        else:
            problems.append(f"{where}: never translated")
            continue
        problems.append(f"{where}: the English changed after it was translated: previous English "
                        f"{_first_changed_line(previous, source)!r}; update the translation (extract, then fill)")
    return problems


def translations(notebook: Path, catalog: Path | None = None) -> dict[str, str]:
    """The Chinese of each markdown cell of ``notebook``, by cell id; a ValueError lists the cells that have none."""
    problems = translation_problems(notebook, catalog)
    if problems:
        raise ValueError(f"cannot build {zh_path(notebook).relative_to(ROOT)}:\n  " + "\n  ".join(problems))
    entries = polib.pofile(str(catalog or catalog_path(notebook)), wrapwidth=0)
    return {cell_id: entries.find(source).msgstr for cell_id, source in markdown_cells(notebook)}


def zh_markdown(translation: str, name: str) -> str:
    """A translated markdown cell as the Chinese notebook ``name`` shows it: its Colab badge opens
    ``notebooks/zh/name`` at [tool.course]'s reference, and GitHub addresses are the course's."""
    text = BADGE.sub(badge(f"zh/{name}"), translation, count=1)
    return GITHUB.sub(f"https://github.com/{settings()['repository']}", text)


def zh_code(source: str, setup: bool) -> str:
    """A code cell of the Chinese notebook: the English code, the setup cell ending with ``LANGUAGE_LINE``."""
    return f"{source.rstrip()}\n{LANGUAGE_LINE}" if setup else source


def _clear_outputs(cell: nbformat.NotebookNode) -> None:
    cell.outputs, cell.execution_count = [], None
    cell.metadata.pop("execution", None)


def build_notebook(notebook: Path, catalog: Path | None = None,
                   stored: nbformat.NotebookNode | None = None) -> tuple[nbformat.NotebookNode, bool]:
    """The Chinese edition of ``notebook``, and whether it keeps the outputs of ``stored``.

    ``stored`` is the Chinese notebook as it is now (None: there is none). Its outputs are kept when
    it was executed and its code cells are exactly the new ones (only markdown changed); otherwise
    the result has none.
    """
    chinese = translations(notebook, catalog)
    zh = nbformat.read(notebook, as_version=4)
    first_code = next(i for i, cell in enumerate(zh.cells) if cell.cell_type == "code")
    for i, cell in enumerate(zh.cells):
        if cell.cell_type == "markdown":
            cell.source = zh_markdown(chinese[cell.id], notebook.name)
        elif cell.cell_type == "code":
            cell.source = zh_code(cell.source, setup=i == first_code)
            _clear_outputs(cell)
    zh.metadata["course"] = {"language": LANGUAGE, "translated_from": f"notebooks/{notebook.name}",
                             "catalog": f"i18n/zh/{catalog_path(notebook).name}"}
    new_code = [cell for cell in zh.cells if cell.cell_type == "code"]
    old_code = [cell for cell in stored.cells if cell.cell_type == "code"] if stored is not None else []
    executed = bool(old_code) and all(cell.execution_count is not None for cell in old_code)
    keep = executed and [c.source for c in old_code] == [c.source for c in new_code]
    if keep:
        for new, old in zip(new_code, old_code):
            new.outputs, new.execution_count = old.outputs, old.execution_count
            if "execution" in old.metadata:
                new.metadata["execution"] = old.metadata["execution"]
        if "language_info" in stored.metadata:
            zh.metadata["language_info"] = stored.metadata["language_info"]
    return zh, keep


def build(notebook: Path) -> bool:
    """Write ``notebooks/zh/<name>`` from ``notebook`` and its catalog; True if it kept its outputs.

    Raises ValueError (naming the cells) when a markdown cell lacks a current translation.
    """
    target = zh_path(notebook)
    stored = nbformat.read(target, as_version=4) if target.exists() else None
    zh, kept = build_notebook(notebook, stored=stored)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(zh, target)
    return kept


def english_notebooks(args: list[str]) -> list[Path]:
    """The English notebooks named by ``args`` (numbers such as ``03`` or paths), or all of them."""
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not args:
        return every
    chosen = []
    for arg in args:
        matches = [path for path in every if path.name == Path(arg).name or path.name.startswith(f"{arg}_")]
        if not matches:
            raise ValueError(f"no English notebook {arg!r}: give a number (03) or a path (notebooks/03_x.ipynb)")
        chosen += matches
    return chosen


def main(argv: list[str]) -> int:
    if argv[:1] == ["fill"] and len(argv) == 3:
        print(f"{fill(Path(argv[1]), Path(argv[2]))} translations set in {argv[1]}")
        return 0
    if argv[:1] not in (["extract"], ["check"], ["build"]):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        notebooks = english_notebooks(argv[1:])
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if argv[0] == "extract":
        for notebook in notebooks:
            catalog = extract(notebook)
            print(f"{catalog_path(notebook).relative_to(ROOT)}: {catalog.percent_translated()}% translated, "
                  f"{len(catalog.fuzzy_entries())} fuzzy")
        return 0
    failed = 0
    for notebook in notebooks:
        problems = translation_problems(notebook)
        if problems:
            failed += 1
            print("\n".join(problems), file=sys.stderr)
        elif argv[0] == "check":
            print(f"{notebook.name}: every markdown cell translated")
        elif build(notebook):
            print(f"{zh_path(notebook).relative_to(ROOT)}: built, outputs kept (its code is unchanged)")
        else:
            print(f"{zh_path(notebook).relative_to(ROOT)}: built without outputs (new, not executed, or its code "
                  f"changed): run python tools/execute_notebooks.py {zh_path(notebook).relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
