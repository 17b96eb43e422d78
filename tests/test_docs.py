"""The course site builds, has a page per notebook, and every internal link and image resolves."""

import re
from pathlib import Path

import nbformat
import pytest

from docs.build import build, notebooks


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build(out)
    return out


def test_every_notebook_has_a_page_and_the_index_lists_it(site):
    index = (site / "index.html").read_text()
    for path in notebooks():
        assert (site / f"{path.stem}.html").exists()
        assert f'href="{path.stem}.html"' in index
        assert f"notebooks/{path.name}" in index  # its Colab link


def test_internal_links_and_images_resolve(site):
    for page in site.glob("*.html"):
        text = page.read_text()
        for target in re.findall(r'(?:href|src)="([^"#]+)', text):
            if target.startswith(("http://", "https://", "data:", "mailto:")):
                continue
            assert (site / target).exists(), f"{page.name} points at missing {target}"


def test_pages_contain_the_notebooks_plots(site):
    for path in notebooks():
        notebook = nbformat.read(path, as_version=4)
        plots = sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        page = (site / f"{path.stem}.html").read_text()
        assert page.count("data:image/png;base64,") >= plots > 0


def test_pages_link_to_previous_and_next(site):
    pages = notebooks()
    for i, path in enumerate(pages):
        text = (site / f"{path.stem}.html").read_text()
        assert 'href="index.html"' in text
        if i > 0:
            assert f'href="{pages[i - 1].stem}.html"' in text
        if i + 1 < len(pages):
            assert f'href="{pages[i + 1].stem}.html"' in text
