"""A link on every page to the same page in the course's other language (or to its landing page).

Settings (docs/conf.py): ``language_switch_root``, the other site's root relative to this one's
(``"zh/"`` or ``"../"``); ``language_switch_pages``, the page names the other site has;
``language_switch_label``, the link's text; ``language_switch_language``, its ``hreflang``.
The template ``language-switch.html`` shows the link in every page's header.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def switch_url(pagename: str, other_root: str, other_pages: list[str]) -> str:
    """The address of ``pagename``'s counterpart, relative to the page: the same name, else the landing page."""
    up = "../" * pagename.count("/")
    target = pagename if pagename in other_pages else "index"
    return f"{up}{other_root}{target}.html"


def add_switch(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """html-page-context: give the template the link to this page in the other language."""
    config = app.config
    context["language_switch"] = {
        "url": switch_url(pagename, config.language_switch_root, config.language_switch_pages),
        "label": config.language_switch_label,
        "language": config.language_switch_language,
    }


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("language_switch_root", "", "html", str)
    app.add_config_value("language_switch_pages", [], "html", list)
    app.add_config_value("language_switch_label", "", "html", str)
    app.add_config_value("language_switch_language", "", "html", str)
    app.connect("html-page-context", add_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
