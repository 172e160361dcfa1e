"""The worlds view in Debian's chromium, driven by Playwright.

A secured server runs a two-country world submitted over HTTP; the worlds view lists the
run, shows each country's key numbers as the API reports them and draws one small-multiple
panel per country with the national bands. A screenshot is saved under
``$HEALTHTWIN_SCREENSHOTS`` (else pytest's tmp dir).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.security_fixtures import Keys, claims, config
from tests.api.test_world_runs import WORLD
from tests.api.v1_server import free_port, serving
from tests.dashboard.conftest import assert_labelled, open_view, plot_traces

from healthtwin.api.app import create_app
from healthtwin.store import open_store


@dataclass(frozen=True)
class Site:
    root: str
    token: str
    job_id: str
    results: dict[str, Any]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('worlds') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    token = keys.sign(claims("clinician", sub="planner", lifetime_s=1800))
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "TREAT"}
    try:
        with (
            serving(app, port) as root,
            httpx.Client(base_url=f"{root}/api/v1", headers=headers, timeout=60) as client,
        ):
            submitted = client.post("/worlds", json={"world": WORLD, "days": 14})
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]
            deadline = time.monotonic() + 120
            while client.get(f"/worlds/{job_id}").json()["status"] != "succeeded":
                assert time.monotonic() < deadline, "the world run did not finish"
                time.sleep(0.2)
            results = client.get(f"/worlds/{job_id}/results").json()
            yield Site(root, token, job_id, results)
    finally:
        store.close()


def test_the_worlds_view_shows_the_run_by_country(page: Any, site: Site, shots: Path) -> None:
    open_view(page, site, "/dashboard/worlds")
    page.wait_for_function("() => document.body.dataset.countriesDrawn === '2'")
    assert page.get_by_role("link", name="Worlds").get_attribute("aria-current") == "page"
    assert page.locator("#runs-table tbody tr").count() == 1
    assert site.job_id in page.locator("#runs-table").inner_text()
    rows = page.locator("#key-table tbody tr")
    assert rows.count() == 2
    east = site.results["summary"]["countries"]["East"]["admissions"]
    shown = page.locator("#key-table tr[data-country='East'] td").first.inner_text()
    assert shown == f"{east[1]:.0f} [{east[0]:.0f}, {east[2]:.0f}]"
    for k in range(2):
        assert plot_traces(page, f"country-plot-{k}") >= 3
    # two replicates: the bands are their range, and the view says so (not "90 %")
    label = site.results["series"]["East"]["band"]["label"]
    assert label == site.results["summary"]["interval"]["label"] == "range of 2 replicates"
    assert page.locator("#series-band").inner_text() == label
    assert page.locator("#key-band").inner_text() == label
    band_trace = page.evaluate("() => document.getElementById('country-plot-0').data[1].name")
    assert band_trace == f"admissions ({label})"
    assert label in (page.locator("#country-plot-0").get_attribute("aria-label") or "")
    assert "90 %" not in page.locator("#countries-section").inner_text()
    assert_labelled(page)
    page.screenshot(path=str(shots / "worlds.png"), full_page=True)
    # the run's own page marks it as the one shown
    open_view(page, site, f"/dashboard/worlds/{site.job_id}")
    page.wait_for_function("() => document.body.dataset.countriesDrawn === '2'")
    assert page.locator("#runs-table a[aria-current=true]").inner_text() == site.job_id
    assert page.problems == []
