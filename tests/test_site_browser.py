"""Every page of the course site, in both languages, loaded in headless Chromium and checked from
its DOM: the title, the sidebar of chapters, the language switch, every plot decoded, and on the
Chinese pages no missing-glyph boxes (each character is drawn by a font that has it).

The browser is driven through the DevTools protocol (websocket-client; no driver binary). The
test skips when Chromium is absent (``bash .ci/install_browser.sh`` installs it and the CJK font),
unless ``COURSE_REQUIRE_BROWSER=1``, as in CI, where it fails.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

if os.environ.get("COURSE_REQUIRE_BROWSER") != "1":  # in CI a missing tool is an error, not a skip
    for tool in ("sphinx", "myst_nb", "sphinx_book_theme", "websocket", "fontTools"):
        pytest.importorskip(tool, reason="the site's tools are not installed: pip install -r docs/requirements.txt")

import websocket  # noqa: E402
from fontTools.ttLib import TTCollection, TTFont  # noqa: E402

from docs.build import LANGUAGES, notebooks, site_dir, stored_plots, title_and_goals  # noqa: E402

pytest_plugins = ["site_build"]  # the session's one build: the fixture built_site

LANGUAGE_TAGS = {"en": "en", "zh": "zh-CN"}  # <html lang> of each site
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Marks each visible element whose own text has Chinese characters and returns those texts.
MARK_CHINESE = r"""(() => {
  const chinese = /[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]/;
  const texts = [];
  for (const element of document.body.querySelectorAll('*:not(script):not(style)')) {
    const own = [...element.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join('');
    if (chinese.test(own) && element.getClientRects().length > 0) {
      element.setAttribute('data-glyph-check', texts.length);
      texts.push(own);
    }
  }
  return texts;
})()"""
PAGE_FACTS = r"""(() => {
  const visible = e => e !== null && e.getClientRects().length > 0;
  const sidebar = [...document.querySelectorAll('nav.bd-docs-nav a.reference.internal')];
  const plots = [...document.querySelectorAll('.cell_output img')];
  const h1 = document.querySelector('article h1, .bd-search-container h1');
  const switcher = document.querySelector('a.course-language-switch');
  return {
    title: document.title,
    h1: h1 ? h1.textContent.replace(/#$/, '').trim() : null,
    lang: document.documentElement.lang,
    sidebar: sidebar.filter(visible).map(a => a.getAttribute('href')),
    plots: plots.map(img => ({src: img.getAttribute('src'), decoded: img.complete && img.naturalWidth > 0})),
    switcher: visible(switcher) ? switcher.href : null,
  };
})()"""


def find_chromium() -> str | None:
    found = os.environ.get("COURSE_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    return found


class Browser:
    """One headless Chromium and its first tab, spoken to over the DevTools protocol."""

    def __init__(self, executable: str, profile: Path, env: dict[str, str] | None = None) -> None:
        options = ["--headless", "--disable-gpu", "--no-first-run", "--window-size=1280,900"]
        options += ["--disable-dev-shm-usage"]  # containers often have a small /dev/shm
        options += ["--host-resolver-rules=MAP * ~NOTFOUND"]  # nothing from the network: the site must stand alone
        options += ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
        options += [f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]
        self.process = subprocess.Popen(
            [executable, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        port = self._wait_for_port(profile / "DevToolsActivePort")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            tab = next(t for t in json.load(answer) if t["type"] == "page")
        self.socket = websocket.create_connection(tab["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        for domain in ("Page", "DOM", "CSS"):
            self.send(f"{domain}.enable")

    def _wait_for_port(self, path: Path, seconds: float = 60) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited at start (code {self.process.returncode})")
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            time.sleep(0.1)
        raise RuntimeError(f"Chromium did not open its DevTools port within {seconds} s")

    def send(self, method: str, wait_for: str | None = None, **params: Any) -> dict:
        """Call ``method`` and return its result; with ``wait_for``, also wait for that event after it."""
        call = next(self.ids)
        self.socket.send(json.dumps({"id": call, "method": method, "params": params}))
        result, waiting = None, wait_for
        while result is None or waiting:
            message = json.loads(self.socket.recv())
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result = message["result"]
            elif message.get("method") == waiting:
                waiting = None
        return result

    def open(self, url: str) -> None:
        self.send("Page.navigate", wait_for="Page.loadEventFired", url=url)

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def fonts_of_marked(self) -> dict[int, list[dict]]:
        """The platform fonts that drew the own text of each element marked ``data-glyph-check``."""
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        nodes = self.send("DOM.querySelectorAll", nodeId=root, selector="[data-glyph-check]")["nodeIds"]
        fonts = {}
        for node in nodes:
            mark = self.send("DOM.getAttributes", nodeId=node)["attributes"]
            index = int(dict(zip(mark[::2], mark[1::2]))["data-glyph-check"])
            fonts[index] = self.send("CSS.getPlatformFontsForNode", nodeId=node)["fonts"]
        return fonts

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        self.socket.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@functools.cache
def font_files() -> dict[str, tuple[str, int]]:
    """Each installed font's PostScript name -> (file, index in a collection), from fontconfig."""
    if shutil.which("fc-list") is None:
        pytest.fail("fc-list (Debian's fontconfig) is missing: bash .ci/install_browser.sh installs it")
    listing = subprocess.run(
        ["fc-list", "--format", "%{postscriptname}\t%{file}\t%{index}\n"], capture_output=True, text=True, check=True
    )
    files = {}
    for line in listing.stdout.splitlines():
        name, file, index = line.split("\t")
        files.setdefault(name, (file, int(index or 0)))
    return files


@functools.cache
def characters_of(postscript_name: str) -> frozenset[int]:
    """The code points an installed font has glyphs for (empty for a web font, which fontconfig does not know)."""
    if postscript_name not in font_files():
        return frozenset()
    file, index = font_files()[postscript_name]
    if file.lower().endswith((".ttc", ".otc")):
        font = TTCollection(file, lazy=True).fonts[index]
    else:
        font = TTFont(file, lazy=True)
    return frozenset(font.getBestCmap())


def missing_glyphs(texts: list[str], fonts: dict[int, list[dict]]) -> list[str]:
    """The texts some character of which no font that drew its element has (a box on screen)."""
    missing = []
    for index, text in enumerate(texts):
        used = fonts.get(index, [])
        covered = frozenset().union(*(characters_of(font["postScriptName"]) for font in used))
        absent = sorted({char for char in text if not char.isspace() and ord(char) not in covered})
        if absent:
            names = [font["familyName"] for font in used]
            missing.append(f"{text.strip()[:40]!r}: {''.join(absent)[:20]!r} not in the fonts used {names}")
    return missing


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = find_chromium()
    if executable is None:
        reason = "Chromium is not installed (bash .ci/install_browser.sh installs it with fonts-noto-cjk)"
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return executable


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    browser = Browser(chromium, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


def site_pages(root: Path, language: str) -> list[tuple[Path, Path | None]]:
    """(page, its notebook or None) for every HTML page of one language's site."""
    by_stem = {path.stem: path for path in notebooks(language)}
    return [(page, by_stem.get(page.stem)) for page in sorted(root.glob("*.html"))]


def page_problems(browser: Browser, language: str, page: Path, notebook: Path | None, chapters: list[str]) -> list[str]:
    """What is wrong with ``page`` as Chromium renders it (``chapters``: the pages the sidebar must list)."""
    where = f"{language}/{page.stem}"
    browser.open(page.as_uri())
    facts = browser.evaluate(PAGE_FACTS)
    problems = []
    if not facts["title"] or not facts["h1"] or not facts["title"].startswith(facts["h1"]):
        problems.append(f"{where}: title {facts['title']!r}, heading {facts['h1']!r}")
    if notebook is not None and facts["h1"] != title_and_goals(nbformat.read(notebook, as_version=4))[0]:
        problems.append(f"{where}: heading {facts['h1']!r} is not the notebook's title")
    if facts["lang"] != LANGUAGE_TAGS[language]:
        problems.append(f"{where}: <html lang={facts['lang']!r}> (the browser picks fonts by it)")
    listed = {href for href in facts["sidebar"] if href != "#"} | {page.name}  # the current page's link is "#"
    if missing := [chapter for chapter in chapters if chapter not in listed]:
        problems.append(f"{where}: the sidebar does not show {missing}")
    if not facts["switcher"] or not Path(urllib.request.url2pathname(facts["switcher"][7:])).is_file():
        problems.append(f"{where}: language switch {facts['switcher']!r} is not a page")
    return problems + plot_problems(where, notebook, facts["plots"])


def glyph_problems(browser: Browser, where: str) -> list[str]:
    """The Chinese texts of the open page that show a box (a character no font used for them has)."""
    texts = browser.evaluate(MARK_CHINESE)
    if not texts:
        return [f"{where}: no Chinese text on the page"]
    return [f"{where}: {problem}" for problem in missing_glyphs(texts, browser.fonts_of_marked())]


def test_every_page_renders_in_chromium(built_site, browser):
    problems = []
    for language in LANGUAGES:
        root = site_dir(built_site.root, language)
        for page, notebook in site_pages(root, language):
            chapters = ["index.html"] + [f"{path.stem}.html" for path in notebooks(language)]
            problems += page_problems(browser, language, page, notebook, chapters)
            if language == "zh":
                problems += glyph_problems(browser, f"{language}/{page.stem}")
    shown = problems[:40]
    if any("not in the fonts used" in problem for problem in problems):
        shown.append("(boxes: is a CJK font installed? fonts-noto-cjk, which bash .ci/install_browser.sh installs)")
    assert not problems, "\n".join(shown)


def search_results(browser: Browser, page: Path, query: str, seconds: float = 20) -> list[str]:
    """The pages that the site's search page lists for ``query`` (it fills them in after loading)."""
    browser.open(f"{page.as_uri()}?{urllib.parse.urlencode({'q': query})}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = browser.evaluate("document.querySelector('#search-results .search-summary')?.textContent || ''")
        links = browser.evaluate("[...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href)")
        if status.strip() and links:  # the summary is written when the search has finished
            return links
        time.sleep(0.2)
    return links


@pytest.mark.parametrize(("language", "query"), [("en", "FedAvg"), ("zh", "差分隐私"), ("zh", "FedAvg")])
def test_search_finds_pages(built_site, browser, language, query):
    # Chinese terms are looked up whole: the index keeps i18n/zh/TERMS.md's words (docs/_ext/chinese_search.py)
    root = site_dir(built_site.root, language)
    links = search_results(browser, root / "search.html", query)
    assert links, f"{language}: searching {query!r} found nothing"
    for link in links:
        assert Path(urllib.request.url2pathname(urllib.parse.urlsplit(link).path)).is_file(), link


def plot_problems(where: str, notebook: Path | None, plots: list[dict]) -> list[str]:
    """What is wrong with a page's plots: fewer than its notebook's stored PNGs, or any not decoded."""
    if notebook is None:
        return []
    stored = stored_plots(notebook)
    problems = [f"{where}: plot {plot['src']} not decoded" for plot in plots if not plot["decoded"]]
    if len(plots) < stored:
        problems.append(f"{where}: {len(plots)} plots shown, {stored} stored")
    return problems


def test_the_glyph_check_sees_boxes_without_a_cjk_font(built_site, chromium, tmp_path):
    # The same check in a browser whose fontconfig knows only DejaVu (no CJK): it must report boxes.
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if not dejavu.is_dir():
        pytest.skip("needs fonts-dejavu-core for a font set without CJK")
    config = tmp_path / "fonts.conf"
    config.write_text(
        f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig><dir>{dejavu}</dir>'
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>"
    )
    browser = Browser(chromium, tmp_path / "profile", env={**os.environ, "FONTCONFIG_FILE": str(config)})
    try:
        browser.open((site_dir(built_site.root, "zh") / "index.html").as_uri())
        texts = browser.evaluate(MARK_CHINESE)
        missing = missing_glyphs(texts, browser.fonts_of_marked())
    finally:
        browser.close()
    assert texts and len(missing) == len(texts), f"{len(missing)} of {len(texts)} Chinese texts reported"
