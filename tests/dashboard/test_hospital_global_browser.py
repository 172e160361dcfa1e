"""The hospital and global views in Debian's chromium (Playwright), and accessibility of every view.

The server runs the demo dataset (a hospital twin simulated forward, a global alarm board
of eight countries and three diseases) with tokens required on ``/api/v1``. The hospital
view must plot the census by unit, the predicted occupancy with its bands and the queue
lengths with data, and list the alerts; the global view must draw the board by country
and disease and highlight the alarming countries. Keyboard navigation (Tab) must reach
every control of both views. Every dashboard view must label each form control and give
each plot an accessible name; and every text colour the stylesheet declares must contrast
at least 4.5:1 with the background it is drawn on (WCAG 2.x AA, computed from the
stylesheet here, no browser needed). Screenshots go to ``$HEALTHTWIN_SCREENSHOTS`` (else
pytest's tmp dir).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from tests.api.security_fixtures import Keys, claims, config
from tests.api.v1_server import free_port, serving
from tests.conftest import require
from tests.dashboard.conftest import open_view, plot_traces, tab_reaches_every_control

from healthtwin.api.app import create_app
from healthtwin.api.demo import DEMO_COUNTRIES, DEMO_HOSPITAL_ID, load_demo
from healthtwin.dashboard.pages import NAVIGATION
from healthtwin.store import open_store

AA_TEXT = 4.5


@dataclass(frozen=True)
class Site:
    root: str
    token: str
    scenario_job: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('dash2') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    demo = load_demo(app.state, store)
    assert demo.hospital_job is not None
    for job in (demo.scenario_job, demo.hospital_job):
        assert app.state.jobs.wait(job.id, 120).status == "succeeded"
    token = keys.sign(claims("clinician", sub="dr-flow", lifetime_s=1800))
    try:
        with serving(app, port) as root:
            yield Site(root, token, demo.scenario_job.id)
    finally:
        store.close()


def test_hospital_view_shows_census_bands_and_alerts(page: Any, site: Site, shots: Path) -> None:
    open_view(page, site, f"/dashboard/hospitals/{DEMO_HOSPITAL_ID}")
    assert plot_traces(page, "census-plot") == 2  # in beds now, free beds
    assert plot_traces(page, "occupancy-plot") == 10  # three units x (band of 2 + median), line
    assert plot_traces(page, "queue-plot") == 9
    assert page.locator("#census-table tbody tr").count() == 3
    ward = page.locator("#census-table tbody tr", has_text="ward")
    assert "58" in ward.inner_text()
    page.locator("#alerts-list li.alert-high", has_text="ward").wait_for()
    assert page.evaluate("() => document.getElementById('run-progress').value") == 1
    assert "Deteriorations a day" in page.locator("#early-summary").inner_text()
    # The alert line is drawn at the run's 85 %.
    line = page.evaluate("() => document.getElementById('occupancy-plot').data.at(-1).y")
    assert line == [85, 85]
    tab_reaches_every_control(page)
    page.screenshot(path=str(shots / "hospital.png"), full_page=True)
    assert page.problems == []


def test_a_forecast_run_from_the_page_replaces_the_plots(page: Any, site: Site) -> None:
    open_view(page, site, "/dashboard/hospitals")  # the first hospital, chosen by the page
    plot_traces(page, "occupancy-plot")
    first = page.evaluate("() => document.body.dataset.forecastJob")
    page.fill("#forecast-days", "3")
    page.fill("#forecast-reps", "4")
    page.locator("#forecast-line").focus()
    page.keyboard.press("Enter")  # submit from the keyboard
    page.wait_for_function("v => document.body.dataset.forecastJob !== v", arg=first)
    days = page.evaluate("() => document.getElementById('occupancy-plot').data[2].x")
    assert days == [1, 2, 3]
    assert page.problems == []


def test_global_view_highlights_alarming_countries(page: Any, site: Site, shots: Path) -> None:
    open_view(page, site, "/dashboard/global")
    assert plot_traces(page, "board-plot") == 1
    heat = page.evaluate("() => document.getElementById('board-plot').data[0]")
    assert heat["type"] == "heatmap"
    # Every monitored disease and country, quiet ones included.
    assert heat["x"] == ["influenza", "measles", "salmonellosis"]
    assert set(heat["y"]) >= set(DEMO_COUNTRIES)
    page.locator("#board-table tbody tr.alarming").first.wait_for()
    alarming = page.evaluate(
        "() => [...document.querySelectorAll('#board-table tbody tr.alarming th')]"
        ".map(th => th.dataset.country)"
    )
    assert sorted(alarming) == ["BE", "ES", "FR"]
    assert page.locator("#board-table td.alarm-cell").count() == 3
    # Sweden has no alarm, only a missing count: listed, not highlighted.
    sweden_row = page.locator("#board-table tbody tr", has_text="SE")
    assert sweden_row.get_attribute("class") in (None, "")
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('#board-table tr.alarming th'))"
        ".backgroundColor"
    )
    assert background == "rgb(253, 227, 220)"
    assert "no bound: missing count" in sweden_row.inner_text()
    quiet = page.locator("#board-table tbody tr", has_text="DE")
    assert quiet.get_attribute("class") in (None, "")
    assert "no alarm" in quiet.inner_text()
    ranked = page.locator("#ranked-table tbody tr")
    assert ranked.count() == 3
    assert ranked.first.locator("td").first.inner_text() == "FR"
    tab_reaches_every_control(page)
    page.screenshot(path=str(shots / "global.png"), full_page=True)
    assert page.problems == []


#: Views that need an id; every other view is an entry of the navigation.
DETAIL_VIEWS = (
    "/dashboard/patients/twin-demo-ada",
    "/dashboard/regions/{job}",
    f"/dashboard/hospitals/{DEMO_HOSPITAL_ID}",
)
SETTLE_MS = 10_000


def _settle(page: Any) -> None:
    """Wait until every plot of the page is drawn with data (views whose plots wait for
    the user to act are checked as they stand after ``SETTLE_MS``)."""
    sync_api = require("playwright.sync_api", "test")
    # A plot left empty is still checked for its accessible name.
    with contextlib.suppress(sync_api.TimeoutError):
        page.wait_for_function(
            "() => [...document.querySelectorAll('.plot')].every(el =>"
            " el.classList.contains('js-plotly-plot') && el.data &&"
            " el.data.some(t => (t.y || []).length > 0))",
            timeout=SETTLE_MS,
        )


def test_every_view_labels_controls_and_names_plots(page: Any, site: Site) -> None:
    views = [item.href for item in NAVIGATION] + [
        v.format(job=site.scenario_job) for v in DETAIL_VIEWS
    ]
    # One page visits every view in turn (its cache keeps Plotly.js: one download).
    for path in views:
        open_view(page, site, path)
        _settle(page)
        unlabelled = page.evaluate(
            "() => [...document.querySelectorAll('input, select, textarea')]"
            ".filter(i => i.type !== 'hidden' && i.labels.length === 0"
            " && !i.getAttribute('aria-label')).map(i => i.id || i.name)"
        )
        assert unlabelled == [], path
        unnamed = page.evaluate(
            "() => [...document.querySelectorAll('.plot, img, [role=img], canvas')]"
            ".filter(e => !(e.getAttribute('aria-label') || e.getAttribute('alt') || '').trim()"
            " && !e.closest('[role=img][aria-label]')).map(e => e.id || e.tagName)"
        )
        assert unnamed == [], path
        plots_are_images = page.evaluate(
            "() => [...document.querySelectorAll('.plot')]"
            ".every(e => e.getAttribute('role') === 'img')"
        )
        assert plots_are_images, path
        assert page.locator("nav[aria-label=Views] a").count() == len(NAVIGATION)
        assert page.locator("nav a[aria-current=page]").count() <= 1
    assert page.problems == []


# -- contrast of the stylesheet's declared colours ------------------------------------------
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


def _stylesheet() -> str:
    path = resources.files("healthtwin.dashboard") / "static" / "dashboard.css"
    css = path.read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    # Media queries wrap rules in a second pair of braces; their colours are the same rules.
    return re.sub(r"@media[^{]*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", r"\1", css)


def _rules(css: str) -> dict[str, dict[str, str]]:
    """selector -> {property: value}, one entry per selector of a selector list."""
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in _RULE.findall(css):
        declarations = {}
        for part in body.split(";"):
            if ":" in part:
                name, value = part.split(":", 1)
                declarations[name.strip()] = value.strip()
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


def _colour(value: str, variables: dict[str, str]) -> tuple[float, float, float] | None:
    match = re.search(r"var\((--[\w-]+)\)", value)
    if match:
        value = variables[match.group(1)]
    match = re.fullmatch(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})", value.strip())
    if not match:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG 2.x contrast ratio of two sRGB colours (components in [0, 1])."""

    def luminance(c: tuple[float, float, float]) -> float:
        linear = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _declared_pairs() -> list[tuple[str, str, str, float]]:
    """(selector, text colour, background, ratio) for each rule that sets either.

    A property a rule does not set comes from the nearest ancestor selector that does
    (``.top a`` looks at ``.top``), else from ``body``.
    """
    rules = _rules(_stylesheet())
    variables = {k: v for k, v in rules[":root"].items() if k.startswith("--")}

    def resolve(selector: str, prop: str) -> tuple[str, tuple[float, float, float]]:
        parts = selector.split()
        while parts:
            declared = rules.get(" ".join(parts), {})
            for name in (prop, f"{prop}-color") if prop == "background" else (prop,):
                if name in declared and _colour(declared[name], variables):
                    return declared[name], _colour(declared[name], variables)  # type: ignore[return-value]
            parts = parts[:-1]
        value = rules["body"][prop]
        return value, _colour(value, variables)  # type: ignore[return-value]

    pairs = []
    for selector, declared in rules.items():
        if selector == ":root" or not {"color", "background", "background-color"} & set(declared):
            continue
        fg_value, fg = resolve(selector, "color")
        bg_value, bg = resolve(selector, "background")
        pairs.append((selector, fg_value, bg_value, contrast(fg, bg)))
    return pairs


def test_contrast_formula_matches_wcag_examples() -> None:
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    grey = _colour("#767676", {})
    assert grey is not None
    assert contrast(grey, (1, 1, 1)) == pytest.approx(4.54, abs=0.01)


def test_every_declared_colour_pair_has_aa_contrast() -> None:
    pairs = _declared_pairs()
    selectors = {p[0] for p in pairs}
    # The checker saw the rules that matter: page text, header links, alarms, buttons.
    assert {
        "body",
        ".top a",
        "tr.alarming th",
        "td.alarm-cell",
        "button",
        "button.secondary",
    } <= selectors
    low = [p for p in pairs if p[3] < AA_TEXT]
    assert low == []
