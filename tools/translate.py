"""The Chinese edition's translation catalogs: one gettext file per notebook, in ``i18n/zh/``.

    python tools/translate.py extract [notebooks/NN_*.ipynb ...]   # create or update catalogs
    python tools/translate.py fill i18n/zh/NN_x.po DIR              # set translations from DIR/cell-XX.md

A catalog ``i18n/zh/NN_x.po`` holds one entry per markdown cell of ``notebooks/NN_x.ipynb``:
``msgid`` is the cell's English source exactly, ``msgstr`` its Chinese, and the entry's
occurrence (``#: NN_x.ipynb:cell-05``) names the cell. ``extract`` adds entries for new or
changed cells; a cell whose English changed after it was translated keeps its translation as
a *fuzzy* entry that remembers the previous English (``#| msgid``), until a translator updates
it. ``fill`` reads one Markdown file per cell (``cell-05.md``) and makes it that cell's
translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import polib

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ROOT / "i18n" / "zh"


def catalog_path(notebook: Path) -> Path:
    """Where the catalog of ``notebooks/NN_x.ipynb`` lives: ``i18n/zh/NN_x.po``."""
    return CATALOGS / f"{notebook.stem}.po"


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


def extract(notebook: Path) -> polib.POFile:
    """Bring the catalog of ``notebook`` up to date with its markdown cells and save it.

    Entries whose English is unchanged are kept as they are. A cell whose English changed keeps
    its old translation, marked fuzzy with the previous English, so that a translator sees what
    changed; entries of cells that no longer exist are dropped.
    """
    path = catalog_path(notebook)
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
    """Make ``folder/cell-XX.md`` the translation of cell ``cell-XX`` in catalog ``path``; returns how many.

    A filled entry is no longer fuzzy. Raises ValueError for a file that names no cell of the catalog.
    """
    catalog = polib.pofile(str(path), wrapwidth=0)
    by_cell = {cell: entry for entry in catalog for cell in cell_ids(entry)}
    filled = 0
    for file in sorted(folder.glob("cell-*.md")):
        entry = by_cell.get(file.stem)
        if entry is None:
            raise ValueError(f"{file}: {path.name} has no markdown cell {file.stem!r}")
        entry.msgstr = file.read_text(encoding="utf-8").strip("\n")
        entry.flags = [flag for flag in entry.flags if flag != "fuzzy"]
        entry.previous_msgid = None
        filled += 1
    catalog.save(str(path))
    return filled


def main(argv: list[str]) -> int:
    if argv[:1] == ["extract"]:
        paths = [Path(p) for p in argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        for notebook in paths:
            catalog = extract(notebook.resolve())
            print(f"{catalog_path(notebook).relative_to(ROOT)}: {catalog.percent_translated()}% translated, "
                  f"{len(catalog.fuzzy_entries())} fuzzy")
        return 0
    if argv[:1] == ["fill"] and len(argv) == 3:
        print(f"{fill(Path(argv[1]), Path(argv[2]))} translations set in {argv[1]}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
