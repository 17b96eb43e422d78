"""Build the course site with Sphinx, MyST-NB and the book theme, in English and in Chinese.

    python docs/build.py [--out docs/site]

The English site goes to ``OUT/`` from ``notebooks/NN_*.ipynb``, the Chinese one to ``OUT/zh/``
from whatever ``notebooks/zh/NN_*.ipynb`` exist. Notebooks are found by glob and shown with their
stored outputs (nothing is executed, nothing downloaded). Each language is staged in a temporary
folder: its notebooks and a landing page written from ``docs/landing/LANG.md`` with the list of
notebooks and their learning goals. The settings are in ``docs/conf.py``.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import tempfile
import tomllib
import warnings
from pathlib import Path

import nbformat
from sphinx.application import Sphinx
from sphinx.util.console import nocolor
from sphinx.util.docutils import docutils_namespace, patch_docutils

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("en", "zh")  # the first is the site's root; the others live in OUT/<language>/
CAPTIONS = {"en": "Notebooks", "zh": "课程 notebook"}  # the sidebar's heading over the chapters


def course_setting(key: str) -> str:
    """A value from ``[tool.course]`` in pyproject.toml (e.g. the GitHub repository)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"][key]


def notebook_folder(language: str) -> Path:
    """Where the notebooks of ``language`` are: ``notebooks/`` (English) or ``notebooks/<language>/``."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    return ROOT / "notebooks" if language == LANGUAGES[0] else ROOT / "notebooks" / language


def notebooks(language: str = "en") -> list[Path]:
    """The notebooks of ``language`` in course order: ``notebooks/NN_*.ipynb`` or ``notebooks/zh/NN_*.ipynb``."""
    return sorted(notebook_folder(language).glob("[0-9][0-9]_*.ipynb"))


def stored_plots(path: Path) -> int:
    """How many PNG images (plots) the stored outputs of notebook ``path`` hold."""
    cells = nbformat.read(path, as_version=4).cells
    return sum(
        "image/png" in output.get("data", {}) for cell in cells if cell.cell_type == "code" for output in cell.outputs
    )


def site_dir(out: Path, language: str) -> Path:
    """Where the site of ``language`` is written inside ``out``."""
    return out if language == LANGUAGES[0] else out / language


def title_and_goals(notebook: nbformat.NotebookNode) -> tuple[str, str]:
    """The first markdown cell's ``# title``, and the list under its first ``##`` heading (markdown, may be "")."""
    first = next(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    title = re.search(r"^# (.+)$", first, re.MULTILINE).group(1).strip()
    section = re.split(r"^## .*$", first, maxsplit=1, flags=re.MULTILINE)
    goals = section[1] if len(section) > 1 else ""
    items = re.search(r"^[-*] .*?(?=^#|\Z)", goals, re.MULTILINE | re.DOTALL)
    return title, items.group(0).strip() if items else ""


def landing_page(language: str, pages: list[Path]) -> str:
    """The landing page of ``language`` (MyST): its text, each notebook with its goals, and the sidebar's toctree."""
    entries = []
    for path in pages:
        title, goals = title_and_goals(nbformat.read(path, as_version=4))
        entries.append(f"### [{title}]({path.name})\n\n{goals}\n")
    text = (ROOT / "docs" / "landing" / f"{language}.md").read_text(encoding="utf-8")
    text = text.replace("{repository}", course_setting("repository"))
    text = text.replace("{notebooks}", "\n".join(entries))
    toctree = "\n".join(path.stem for path in pages)
    return f"{text}\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {CAPTIONS[language]}\n\n{toctree}\n```\n"


def build_language(language: str, out: Path, work: Path) -> list[str]:
    """Stage ``language``'s notebooks and landing page in ``work``, build them there and copy the pages to ``out``.

    Returns Sphinx's warnings (one string a line).
    """
    source = work / language / "source"
    source.mkdir(parents=True)
    pages = notebooks(language)
    for path in pages:
        shutil.copy2(path, source / path.name)
    (source / "index.md").write_text(landing_page(language, pages), encoding="utf-8")
    messages = io.StringIO()
    # as sphinx-build does: each build registers its directives and roles afresh
    with patch_docutils(ROOT / "docs"), docutils_namespace(), warnings.catch_warnings():
        # the theme and MyST still call APIs that Sphinx 11 removes: not ours to act on
        warnings.filterwarnings("ignore", message=r".* is deprecated\. Check CHANGES for Sphinx API")
        app = Sphinx(
            srcdir=source,
            confdir=ROOT / "docs",
            outdir=work / language / "html",
            doctreedir=work / language / "doctrees",
            buildername="html",
            status=None,
            warning=messages,
            freshenv=True,
            tags=[language],
        )
        app.build()
    shutil.copytree(work / language / "html", out, ignore=shutil.ignore_patterns(".buildinfo"), dirs_exist_ok=True)
    folder = f"{notebook_folder(language).relative_to(ROOT)}/"  # name the notebook, not its staged copy
    return [line.replace(f"{source}/", folder) for line in messages.getvalue().splitlines() if line.strip()]


def build(out: Path) -> list[str]:
    """Write the site of every language into ``out`` (emptied first); return Sphinx's warnings, if any."""
    if out.exists():
        shutil.rmtree(out)
    nocolor()  # plain warnings, to print and to compare
    messages = []
    with tempfile.TemporaryDirectory(prefix="course-site-") as work:
        for language in LANGUAGES:
            messages += build_language(language, site_dir(out, language), Path(work))
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "site")
    args = parser.parse_args()
    messages = build(args.out)
    print("\n".join(messages))
    for language in LANGUAGES:
        print(f"{language}: {len(notebooks(language))} notebooks, {site_dir(args.out, language) / 'index.html'}")


if __name__ == "__main__":
    main()
