"""Shared browser fixtures of the dashboard tests: Debian's chromium driven by Playwright.

Each test module defines its own ``site`` fixture (a served app with the data it needs);
``page`` opens a fresh laptop-sized context on it and collects console and page errors in
``page.problems``. Screenshots go to ``$HEALTHTWIN_SCREENSHOTS`` or a temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FULL, require

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = require("playwright.sync_api", "test")
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if FULL:
            pytest.fail(f"{message} (HEALTHTWIN_FULL_TESTS=1 forbids skipping)")
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("HEALTHTWIN_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Any, site: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()


def open_view(page: Any, site: Any, path: str) -> None:
    """Open ``path`` of the served dashboard with the site's token."""
    page.goto(f"{site.root}{path}#token={site.token}")


def assert_labelled(page: Any) -> None:
    """Every visible input and select of the page has a label."""
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input, select')]"
        ".filter(i => i.type !== 'hidden' && i.labels.length === 0).map(i => i.id)"
    )
    assert unlabelled == []


def plot_traces(page: Any, plot_id: str) -> int:
    """Wait until the Plotly plot holds data; return its number of traces with points."""
    page.wait_for_function(
        "id => { const el = document.getElementById(id);"
        " return el && el.classList.contains('js-plotly-plot') && el.data &&"
        " el.data.some(t => (t.y || []).length > 0); }",
        arg=plot_id,
    )
    n: int = page.evaluate(
        "id => document.getElementById(id).data.filter(t => (t.y || []).length > 0).length",
        plot_id,
    )
    assert page.locator(f"#{plot_id} .main-svg").count() > 0
    return n


def tab_reaches_every_control(page: Any) -> None:
    """Tab from the top of the page until every visible control has had the focus."""
    n: int = page.evaluate(
        "() => { const all = [...document.querySelectorAll("
        "'a[href], button, input, select, textarea, [tabindex]:not([tabindex=\"-1\"])')]"
        ".filter(e => !e.disabled && e.getClientRects().length > 0);"
        " all.forEach((e, i) => e.dataset.kb = String(i)); return all.length; }"
    )
    assert n > 0
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(n + 5):
        page.keyboard.press("Tab")
        mark = page.evaluate("() => document.activeElement.dataset.kb || null")
        if mark is not None:
            reached.add(mark)
    missed = page.evaluate(
        "seen => [...document.querySelectorAll('[data-kb]')].filter(e => !seen.includes("
        "e.dataset.kb)).map(e => e.id || e.textContent.trim().slice(0, 40))",
        sorted(reached),
    )
    assert missed == []
