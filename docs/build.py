"""Build the course site: an index page and one HTML page per notebook, with their stored outputs.

    python docs/build.py [--out docs/site]

Notebooks are found by glob (``notebooks/NN_*.ipynb``), rendered with nbconvert's HTML exporter
as they are stored (nothing is executed), linked to the previous and next notebook, and listed
on ``index.html`` with their learning goals and Colab links.
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path

import nbformat
import tomllib
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

ROOT = Path(__file__).resolve().parents[1]
GOALS = "## Learning goals\n\nIn this notebook you will:"  # how every notebook introduces its goals
STYLE = """<style>
.course-nav { font-family: sans-serif; display: flex; justify-content: space-between; gap: 1em;
  max-width: 1000px; margin: 1em auto; padding: 0.6em 1em; background: #f3f5f8; border-radius: 6px; }
.course-nav a { text-decoration: none; }
</style>"""


def course_setting(key: str) -> str:
    """A value from ``[tool.course]`` in pyproject.toml (e.g. the GitHub repository)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"][key]


def colab_url(name: str) -> str:
    """The Open-in-Colab address of notebook ``name``."""
    return f"https://colab.research.google.com/github/{course_setting('repository')}/blob/{course_setting('ref')}/notebooks/{name}"


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def title_and_goals(notebook: nbformat.NotebookNode) -> tuple[str, str]:
    """The first markdown cell's ``# title`` and the list under its ``## Learning goals`` (markdown)."""
    first = next(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    title = re.search(r"^# (.+)$", first, re.MULTILINE).group(1).strip()
    goals = first.split(GOALS, 1)[-1] if GOALS in first else ""
    return title, goals.strip()


def nav(pages: list[Path], index: int) -> str:
    """The bar linking a page to the index and to the previous and next notebook."""
    previous = f'<a href="{pages[index - 1].stem}.html">&larr; {pages[index - 1].stem}</a>' if index > 0 else "<span></span>"
    following = f'<a href="{pages[index + 1].stem}.html">{pages[index + 1].stem} &rarr;</a>' if index + 1 < len(pages) else "<span></span>"
    return f'<nav class="course-nav">{previous}<a href="index.html">all notebooks</a>{following}</nav>'


def render_page(path: Path, pages: list[Path], index: int) -> str:
    """One notebook as a standalone HTML page with navigation; links to notebooks point at their pages."""
    body, _ = HTMLExporter(template_name="lab").from_filename(str(path))
    body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb"', r'href="\1.html"', body)
    bar = nav(pages, index)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + STYLE + bar, body, count=1)
    return body.replace("</body>", bar + "</body>", 1)


def render_index(pages: list[Path]) -> str:
    rows = []
    for path in pages:
        title, goals = title_and_goals(nbformat.read(path, as_version=4))
        rows.append(
            f'<section><h2><a href="{path.stem}.html">{html.escape(title)}</a></h2>'
            f'<p><a href="{colab_url(path.name)}">Open in Colab</a></p>{markdown2html(goals)}</section>'
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Federated learning, hands-on, from zero</title>'
        '<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;line-height:1.5}'
        "section{border-top:1px solid #ddd;padding-top:.5em}</style></head><body>"
        "<h1>Federated learning, hands-on, from zero</h1>"
        "<p>The course's notebooks in order, with their stored outputs. Open one in Colab to run it.</p>"
        + "".join(rows)
        + "</body></html>"
    )


def build(out: Path) -> list[Path]:
    """Write index.html and one page per notebook into ``out``; return the pages written."""
    out.mkdir(parents=True, exist_ok=True)
    pages = notebooks()
    written = [out / "index.html"]
    written[0].write_text(render_index(pages), encoding="utf-8")
    for index, path in enumerate(pages):
        page = out / f"{path.stem}.html"
        page.write_text(render_page(path, pages, index), encoding="utf-8")
        written.append(page)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "site")
    args = parser.parse_args()
    for page in build(args.out):
        print(page.relative_to(ROOT) if page.is_relative_to(ROOT) else page)


if __name__ == "__main__":
    main()
