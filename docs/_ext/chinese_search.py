"""Chinese search that works in the browser with Sphinx 9.0, and knows the course's terms.

Sphinx 9.0's Chinese search language (``sphinx.search.zh``) splits words with jieba and stems
Latin words with the English stemmer, but ``language_data.js`` exports the stemmer by the
language's name, ``window.Stemmer = ChineseStemmer``, a class that does not exist: the search
page fails with "ChineseStemmer is not defined" (sphinx-doc/sphinx issue 14229, fixed by pull
request 14416 in a release that needs Python 3.12). This registers the same language under the
name of the stemmer it ships. The browser looks a query up whole (it does not split Chinese),
so the index also keeps each term of ``i18n/zh/TERMS.md`` whole (差分隐私, not only 差分 and 隐私):
they become jieba's user dictionary.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.search.zh import SearchChinese

TERMS = Path(__file__).resolve().parents[2] / "i18n" / "zh" / "TERMS.md"


class SearchChineseWithEnglishStemmer(SearchChinese):
    """Sphinx's Chinese search, named after its JavaScript stemmer (English)."""

    language_name = "English"


def chinese_terms(table: str) -> list[str]:
    """The Chinese words (two characters or more) in the second column of the table's rows (not its header)."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    rows = [line.split("|") for line in lines if not re.fullmatch(r"[|:\- ]+", line)]
    cells = [row[2] for row in rows[1:] if len(row) > 3]
    return sorted({word for cell in cells for word in re.findall(r"[\u4e00-\u9fff]{2,}", cell)})


def use_course_terms(app: Sphinx, config: Config) -> None:
    """config-inited: give the Chinese search the terminology table as jieba's user dictionary."""
    if not config.language.startswith("zh") or not TERMS.exists():
        return
    dictionary = Path(app.doctreedir) / "jieba-course-terms.txt"
    dictionary.parent.mkdir(parents=True, exist_ok=True)
    dictionary.write_text("".join(f"{word}\n" for word in chinese_terms(TERMS.read_text(encoding="utf-8"))))
    config.html_search_options = {**config.html_search_options, "dict": str(dictionary)}


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_search_language(SearchChineseWithEnglishStemmer)
    app.connect("config-inited", use_course_terms)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
