"""The dashboard end to end in Debian's chromium, driven by Playwright, against a secured server.

The server runs the demo dataset (three patient twins with CGM, a region scenario, an
alarm board) with tokens required on ``/api/v1``; the browser gets its token once in the
page address. Each view is loaded and its Plotly plots must hold data; a reading posted
in the page and one posted by another client must both update the forecast (the second
through the live stream); an accepted recommendation must appear in the audit trail.
No page may log a console error or a Content-Security-Policy violation. A screenshot of
each view is saved under ``$HEALTHTWIN_SCREENSHOTS`` (else pytest's tmp dir).

Needs ``playwright`` (the test extra) and ``/usr/bin/chromium`` (``apt-get install -y
chromium``); without them the module is skipped, except under HEALTHTWIN_FULL_TESTS=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.security_fixtures import Keys, claims, config
from tests.api.v1_server import free_port, serving
from tests.dashboard.conftest import assert_labelled, open_view

from healthtwin.api.app import create_app
from healthtwin.api.demo import load_demo
from healthtwin.store import Store, open_store


@dataclass(frozen=True)
class Site:
    root: str
    store: Store
    token: str
    scenario_job: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    demo = load_demo(app.state, store)
    assert app.state.jobs.wait(demo.scenario_job.id, 120).status == "succeeded"
    token = keys.sign(claims("clinician", sub="dr-browser", lifetime_s=1800))
    try:
        with serving(app, port) as root:
            yield Site(root, store, token, demo.scenario_job.id)
    finally:
        store.close()


def _traces(page: Any, plot_id: str) -> int:
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
    svg_paths: int = page.locator(f"#{plot_id} .main-svg path").count()
    assert svg_paths > 0
    return n


def test_patient_view_plots_and_updates_the_forecast(page: Any, site: Site, shots: Path) -> None:
    open_view(page, site, "/dashboard/patients/twin-demo-ada")
    assert _traces(page, "glucose-plot") >= 6  # two bands (4 traces), median, readings
    page.wait_for_function("() => document.body.dataset.nReadings === '36'")
    assert "#token" not in page.url
    # The demo's vitals on file (NEWS2 6) are in the one vital-signs panel at page load.
    page.wait_for_function("() => document.body.dataset.news2Live === '6'")
    assert "NEWS2 6: medium clinical risk" in page.locator("#news2-live").inner_text()
    assert page.locator("body").inner_text().count("NEWS2 6") == 1
    assert page.locator("#params-table tbody tr").count() == 1
    page.wait_for_function(
        "() => document.getElementById('live-state').textContent === 'connected'"
    )
    assert_labelled(page)
    page.screenshot(path=str(shots / "patient.png"), full_page=True)

    first = page.evaluate("() => document.body.dataset.forecastVersion")
    start = page.evaluate("() => document.getElementById('glucose-plot').data[4].x[0]")
    page.fill("#reading-g", "260")
    page.click("text=Send reading")
    page.wait_for_function(
        "v => document.body.dataset.forecastVersion !== v"
        " && document.body.dataset.nReadings === '37'",
        arg=first,
    )
    moved = page.evaluate("() => document.getElementById('glucose-plot').data[4].x[0]")
    assert moved == start + 5

    # Another client posts a reading: the page hears of it over the live stream.
    second = page.evaluate("() => document.body.dataset.forecastVersion")
    headers = {"Authorization": f"Bearer {site.token}", "X-Purpose-Of-Use": "TREAT"}
    reply = httpx.post(
        f"{site.root}/api/v1/twins/twin-demo-ada/observations",
        json={"t_min": moved + 5, "glucose_mg_dl": 270},
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 201
    page.wait_for_function(
        "v => document.body.dataset.forecastVersion !== v"
        " && document.body.dataset.nReadings === '38'",
        arg=second,
    )
    assert page.problems == []


def test_an_accepted_recommendation_appears_in_the_audit_trail(
    page: Any, site: Site, shots: Path
) -> None:
    open_view(page, site, "/dashboard/patients/twin-demo-ben")
    _traces(page, "glucose-plot")
    page.fill("#meal-g", "45")
    page.click("text=Ask for a bolus recommendation")
    accept = page.get_by_role("button", name="Accept recommendation")
    accept.first.wait_for()
    label = accept.first.get_attribute("aria-label")
    recommendation = label.rsplit(" ", 1)[1]
    accept.first.focus()
    page.keyboard.press("Enter")  # keyboard, as a person without a mouse would
    page.locator("#recs-table .status-accepted").first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#events-list li')]"
        ".some(li => li.textContent.includes('accepted'))"
    )
    page.screenshot(path=str(shots / "patient-accepted.png"), full_page=True)

    page.goto(f"{site.root}/dashboard/governance")  # the token stays in the tab's session
    _traces(page, "audit-plot")
    row = page.locator("#audit-table tbody tr", has_text=f"GuidanceResponse/{recommendation}")
    row.filter(has_text="accept").first.wait_for()
    assert row.filter(has_text="Practitioner/dr-browser").count() >= 1
    assert page.locator("#cards-table tbody tr").count() > 10
    assert_labelled(page)
    page.screenshot(path=str(shots / "governance.png"), full_page=True)
    [event] = [
        e
        for e in site.store.audit_events(action="accept")
        if e.resource_refs == (f"GuidanceResponse/{recommendation}",)
    ]
    assert event.actor == "Practitioner/dr-browser"
    assert page.problems == []


def test_region_view_plots_every_variant(page: Any, site: Site, shots: Path) -> None:
    open_view(page, site, f"/dashboard/regions/{site.scenario_job}")
    assert _traces(page, "incidence-plot") == 6  # a band (2 traces) and a median per variant
    assert _traces(page, "rt-plot") >= 2
    assert _traces(page, "icu-plot") == 3  # two variants and the ICU beds
    assert _traces(page, "compare-plot") == 2
    assert page.locator("#compare-table tbody tr").count() == 2
    assert page.evaluate("() => document.getElementById('job-progress').value") == 1
    page.screenshot(path=str(shots / "region.png"), full_page=True)
    assert page.problems == []


def test_overview_lists_twins_scenarios_and_alarms(page: Any, site: Site, shots: Path) -> None:
    open_view(page, site, "/dashboard/")
    page.locator("#twins-table tbody a", has_text="twin-demo-cleo").wait_for()
    page.locator("#alarms-table tbody tr", has_text="FR").wait_for()
    page.locator("#scenarios-table tbody a").first.wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    assert page.problems == []


def test_without_a_token_the_page_says_why_and_shows_no_data(browser: Any, site: Site) -> None:
    context = browser.new_context()
    try:
        fresh = context.new_page()
        fresh.goto(f"{site.root}/dashboard/patients/twin-demo-ada")
        fresh.wait_for_function(
            "() => document.getElementById('status').textContent.includes('401')"
        )
        assert fresh.evaluate("() => document.body.dataset.nReadings") is None
    finally:
        context.close()
