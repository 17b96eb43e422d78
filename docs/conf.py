"""Sphinx settings of the course site, shared by both languages (docs/build.py runs Sphinx).

build.py builds each language from its own staging folder of notebooks and landing page; the
tag ``zh`` (``tags=["zh"]``) selects the Chinese edition. Nothing is executed and nothing is
downloaded at build time: MyST-NB renders the notebooks' stored outputs.
"""

import logging
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
COURSE = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"]
CHINESE = tags.has("zh")  # noqa: F821 (Sphinx defines `tags` for conf.py)
if CHINESE:
    try:  # Sphinx's Chinese search splits words with jieba when it is installed (docs/requirements.txt)
        import jieba

        jieba.setLogLevel(logging.WARNING)  # not its dictionary-loading messages at every build
    except ImportError:
        pass

# the course's name, in Chinese as README.zh.md gives it
project = "联邦学习，从零动手" if CHINESE else "Federated learning, hands-on, from zero"
author = COURSE["repository"].split("/")[0]  # the GitHub organisation: "By federated-from-zero"
language = "zh_CN" if CHINESE else "en"
extensions = ["myst_nb", "language_switch", "chinese_search"]
root_doc = "index"
exclude_patterns = ["_build", ".ipynb_checkpoints"]
templates_path = [str(ROOT / "docs" / "_templates")]
html_static_path = [str(ROOT / "docs" / "_static")]
html_css_files = ["course.css"]

# Notebooks are shown as stored (their outputs are the record that CI validates).
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]  # $...$ and $$...$$ in markdown cells, by MathJax
myst_heading_anchors = 3  # links to headings inside a notebook (#section) resolve
suppress_warnings = ["myst.header"]  # notebooks start at '#' and may skip a level in exercises

html_theme = "sphinx_book_theme"
html_title = project
html_use_index = False  # no index entries in the notebooks: no empty genindex page
html_copy_source = False  # the notebooks are on GitHub (the launch and repository buttons)
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": f"https://github.com/{COURSE['repository']}",
    "repository_branch": COURSE["ref"],
    # where this language's notebooks are in the repository: the Colab button opens the page's own
    "path_to_docs": "notebooks/zh" if CHINESE else "notebooks",
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "use_repository_button": True,
    "use_download_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "article_header_end": ["language-switch.html", "article-header-buttons.html"],
}

# The language switch (docs/_ext/language_switch.py): where the other language's site is,
# relative to this one's root, and which pages it has (the others link to its landing page).
OTHER_NOTEBOOKS = ROOT / "notebooks" if CHINESE else ROOT / "notebooks" / "zh"
language_switch_root = "../" if CHINESE else "zh/"
language_switch_label = "English" if CHINESE else "中文"
language_switch_language = "en" if CHINESE else "zh-CN"
language_switch_pages = ["index", "search"] + sorted(p.stem for p in OTHER_NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
