"""The course site, built once per test session for tests/test_docs.py and tests/test_site_browser.py.

Both modules load this file as a plugin (``pytest_plugins = ["site_build"]``), so that the
session-scoped fixture below exists once and the site (about 30 s) is built once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import pytest

from docs.build import build


class BuiltSite(NamedTuple):
    root: Path  # the English site; the Chinese one is root / "zh"
    warnings: list[str]  # Sphinx's warnings, one a line
    seconds: float  # how long the build took


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> BuiltSite:
    root = tmp_path_factory.mktemp("site") / "site"
    start = time.perf_counter()
    warnings = build(root)
    return BuiltSite(root, warnings, time.perf_counter() - start)
