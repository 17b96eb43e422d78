"""The course site (docs/build.py: Sphinx, MyST-NB, the book theme) in both languages: its pages,
links, plots, previous/next, Colab buttons and language switch. tests/test_site_browser.py loads
the same build in Chromium."""

from __future__ import annotations

import functools
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

for tool in ("sphinx", "myst_nb", "sphinx_book_theme"):  # docs/requirements.txt, which course.sh installs
    pytest.importorskip(tool, reason="the site's tools are not installed: pip install -r docs/requirements.txt")

from docs._ext.chinese_search import chinese_terms  # noqa: E402
from docs.build import LANGUAGES, course_setting, notebooks, site_dir, stored_plots, title_and_goals  # noqa: E402

pytest_plugins = ["site_build"]  # the session's one build: the fixture built_site


class Tags(HTMLParser):
    """Every start tag of a page as (tag, attributes), every element id, and the text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.feed(text)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.ids.add(attributes["id"])

    def having_class(self, name: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.tags if name in attrs.get("class", "").split()]


def pages_of(root: Path) -> list[Path]:
    """The HTML pages of one language's site (not the theme's files, not the other language's)."""
    return sorted(root.glob("*.html"))


@functools.cache
def parsed(page: Path) -> Tags:
    return Tags(page.read_text(encoding="utf-8"))


def plain(text: str) -> str:
    """``text`` with typographic quotes made plain and runs of white space made one space."""
    return " ".join(text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\"")).split())


@pytest.fixture(scope="module")
def site(built_site) -> Path:
    return built_site.root


def test_the_build_has_no_warnings(built_site):
    # A link to a missing notebook or heading, a bad toctree or a broken notebook is a Sphinx warning.
    assert built_site.warnings == [], "\n".join(built_site.warnings)


def test_the_chinese_edition_has_every_english_notebook():
    english = {path.name for path in notebooks("en")}
    chinese = {path.name for path in notebooks("zh")}
    assert english, "no notebooks found in notebooks/"
    assert chinese == english, (
        f"notebooks/zh/ lacks {sorted(english - chinese)} and has extra {sorted(chinese - english)}: "
        "every English notebook needs its Chinese page"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_notebook_has_a_page_and_the_landing_page_lists_it_with_its_goals(site, language):
    root = site_dir(site, language)
    names = {page.name for page in pages_of(root)}
    expected = {"index.html", "search.html"} | {f"{path.stem}.html" for path in notebooks(language)}
    assert names == expected
    landing = parsed(root / "index.html")
    text = plain("".join(landing.text))
    links = {attrs.get("href") for _, attrs in landing.tags if _ == "a"}
    for path in notebooks(language):
        title, goals = title_and_goals(nbformat.read(path, as_version=4))
        assert f"{path.stem}.html" in links, f"{language} landing page does not link to {path.stem}"
        assert goals, f"{path} has no list of learning goals under its first '##' heading"
        first_goal = plain(re.sub(r"[`*\[\]]", "", goals.splitlines()[0][2:]).split("(")[0][:30])
        assert first_goal in text, f"{language} landing page lacks {path.stem}'s goals ({first_goal!r})"


@pytest.mark.parametrize("language", LANGUAGES)
def test_internal_links_and_images_resolve(site, language):
    for page in pages_of(site_dir(site, language)):
        for tag, attrs in parsed(page).tags:
            for name in ("href", "src"):
                target = attrs.get(name)
                if not target or target.startswith(("http://", "https://", "data:", "mailto:", "javascript:")):
                    continue
                parts = urlsplit(target)
                path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
                assert path.is_file(), f"{page.relative_to(site)}: <{tag} {name}={target!r}> points at nothing"
                if parts.fragment and path.suffix == ".html" and tag == "a":
                    assert parts.fragment in parsed(path).ids, (
                        f"{page.relative_to(site)}: a link to #{parts.fragment}, which {path.name} lacks "
                        "(a link to a heading or a notebook that this language's site does not have)"
                    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_notebook_pages_show_their_plots(site, language):
    root = site_dir(site, language)
    for path in notebooks(language):
        page = root / f"{path.stem}.html"
        images = [
            attrs["src"] for tag, attrs in parsed(page).tags if tag == "img" and "_images/" in attrs.get("src", "")
        ]
        assert len(images) >= stored_plots(path), f"{page.name}: {len(images)} images for {stored_plots(path)} plots"


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_link_to_previous_and_next(site, language):
    root = site_dir(site, language)
    order = ["index"] + [path.stem for path in notebooks(language)]
    for i, name in enumerate(order):
        tags = parsed(root / f"{name}.html")
        previous = [attrs["href"] for attrs in tags.having_class("left-prev")]
        following = [attrs["href"] for attrs in tags.having_class("right-next")]
        assert previous == ([f"{order[i - 1]}.html"] if i > 0 else []), f"{language}/{name}: previous {previous}"
        assert following == ([f"{order[i + 1]}.html"] if i + 1 < len(order) else []), (
            f"{language}/{name}: next {following}"
        )


def colab_buttons(page: Path) -> list[str]:
    """Where the theme's launch menu on ``page`` opens Colab (the notebook's own badge is not counted)."""
    items = parsed(page).having_class("dropdown-item")
    return [attrs["href"] for attrs in items if attrs.get("href", "").startswith("https://colab.research.google.com/")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_notebook_page_has_a_colab_button_for_its_own_notebook(site, language):
    root = site_dir(site, language)
    repository, ref = course_setting("repository"), course_setting("ref")
    for path in notebooks(language):
        in_repository = path.relative_to(Path(__file__).resolve().parents[1]).as_posix()
        colab = f"https://colab.research.google.com/github/{repository}/blob/{ref}/{in_repository}"
        assert colab_buttons(root / f"{path.stem}.html") == [colab], f"{language}/{path.stem}"
    assert colab_buttons(root / "index.html") == []  # the landing page is no notebook


def test_every_page_switches_to_the_same_page_in_the_other_language(site):
    for language in LANGUAGES:
        root = site_dir(site, language)
        for page in pages_of(root):
            switches = parsed(page).having_class("course-language-switch")
            assert len(switches) == 1, f"{page.relative_to(site)} has {len(switches)} language switches"
            target = (root / switches[0]["href"]).resolve()
            other = site_dir(site, "zh" if language == "en" else "en").resolve()
            assert target.parent == other, f"{page.relative_to(site)} switches to {target}, outside the other site"
            # the same page when the other language has it (every page, once notebooks/zh is complete)
            expected = page.name if (other / page.name).exists() else "index.html"
            assert target.name == expected and target.is_file(), f"{page.relative_to(site)} switches to {target}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_have_search_contents_and_math(site, language):
    root = site_dir(site, language)
    index = (root / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(index[index.index("(") + 1 : index.rindex(")")])["terms"]  # Search.setIndex({...})
    assert "fedavg" in terms
    if language == "zh":  # Sphinx splits Chinese words with jieba (docs/requirements.txt)
        assert "联邦" in terms, "the Chinese search index has no Chinese words: is jieba installed?"
        assert "差分隐私" in terms, "the terms of i18n/zh/TERMS.md are not kept whole"
        assert "window.Stemmer = EnglishStemmer;" in (root / "_static" / "language_data.js").read_text()
    for path in notebooks(language):
        text = (root / f"{path.stem}.html").read_text(encoding="utf-8")
        assert 'id="pst-page-toc-nav"' in text, f"{path.stem}: no per-page contents"
        markdown = [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]
        if any(re.search(r"\$[^$\s][^$]*\$", source) for source in markdown):  # $...$ math
            assert 'class="math notranslate nohighlight"' in text, f"{path.stem}: math not rendered"
            assert "mathjax" in text, f"{path.stem}: no MathJax"


def test_the_chinese_search_dictionary_takes_the_terms_column():
    rows = [
        "| English | 中文 | note |",
        "|---|---|---|",
        "| FL | 联邦学习 (FL) | 见 联邦 |",
        "| client | 客户端节点, 客户端 | |",
    ]
    table = "\n".join(rows)
    assert chinese_terms(table) == sorted(["联邦学习", "客户端节点", "客户端"])  # not the header, not the notes
