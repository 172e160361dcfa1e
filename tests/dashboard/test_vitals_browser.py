"""The patient view's live vital-signs panel in Debian's chromium, driven by Playwright.

A secured server holds one twin; vital signs posted over HTTP by another client must reach
the open page through the twin's stream: the NEWS2 value, its risk band (in words and
colour) and the NEWS2 trend plot update without a reload. NEWS2 has one panel: a reload
shows the same sets, a twin made for a patient with vital signs on file shows them at
page load, and a twin without any says so in words, with no blank plot. The panel's
values must agree with the API's. Screenshots are saved under
``$HEALTHTWIN_SCREENSHOTS`` (else pytest's tmp dir).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.security_fixtures import Keys, claims, config
from tests.api.v1_server import free_port, serving
from tests.dashboard.conftest import assert_labelled, open_view, plot_traces

from healthtwin.api.app import create_app
from healthtwin.scenarios.patient_vitals import VitalSigns, vitals_records
from healthtwin.store import Store, open_store

CALM = {"respiratory_rate_per_min": 16, "spo2_percent": 98, "systolic_bp_mm_hg": 125,
        "heart_rate_per_min": 72, "temperature_c": 36.8, "consciousness": "A"}  # fmt: skip
RAISED = {**CALM, "respiratory_rate_per_min": 22, "spo2_percent": 95, "systolic_bp_mm_hg": 105,
          "heart_rate_per_min": 96, "temperature_c": 38.3}  # fmt: skip


@dataclass(frozen=True)
class Site:
    root: str
    token: str
    twin_id: str
    store: Store

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Purpose-Of-Use": "TREAT"}

    def post_vitals(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.root}/api/v1/twins/{self.twin_id}/vitals"
        reply = httpx.post(url, json=body, headers=self.headers, timeout=30)
        assert reply.status_code == 201, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def make_twin(self, body: dict[str, Any]) -> str:
        reply = httpx.post(f"{self.root}/api/v1/twins", json=body, headers=self.headers, timeout=30)
        assert reply.status_code == 201, reply.text
        twin_id: str = reply.json()["twin_id"]
        return twin_id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('vitals') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    token = keys.sign(claims("clinician", sub="dr-vitals", lifetime_s=1800))
    try:
        with serving(app, port) as root:
            headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "TREAT"}
            made = httpx.post(
                f"{root}/api/v1/twins",
                json={"twin_id": "twin-vitals", "members": 8},
                headers=headers,
                timeout=30,
            )
            assert made.status_code == 201, made.text
            yield Site(root, token, "twin-vitals", store)
    finally:
        store.close()


def _luminance(css: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_posted_vitals_update_news2_and_its_trend_live(page: Any, site: Site, shots: Path) -> None:
    site.post_vitals({"t_min": 0, **CALM})
    open_view(page, site, f"/dashboard/patients/{site.twin_id}")
    page.wait_for_function("() => document.body.dataset.news2Live === '0'")
    assert plot_traces(page, "news2-trend-plot") == 1
    page.wait_for_function(
        "() => document.getElementById('live-state').textContent === 'connected'"
    )
    page.evaluate("() => { window.notReloaded = true; }")

    # Another client posts a raised set: the open page hears of it over the stream.
    answer = site.post_vitals({"t_min": 15, **RAISED})
    page.wait_for_function("() => document.body.dataset.news2Live === '6'")
    assert page.evaluate("() => document.getElementById('news2-trend-plot').data[0].y") == [0, 6]
    live = page.locator("#news2-live")
    assert "NEWS2 6: medium clinical risk" in live.text_content()
    assert answer["news2"]["monitoring_frequency"] in live.text_content()
    assert live.get_attribute("data-band") == "medium"
    colours = page.evaluate(
        "() => { const s = getComputedStyle(document.getElementById('news2-live'));"
        " return [s.color, s.backgroundColor]; }"
    )
    assert _contrast(*colours) >= 4.5
    # NEWS2 is shown once: one panel, no second store-backed summary.
    assert page.locator("#live-vitals h2").inner_text() == "Vital signs and NEWS2"
    assert page.locator("body").inner_text().count("NEWS2 6") == 1

    # A batch: oxygen on scale 2 and a patient responding to voice only.
    batch = [{"t_min": 30, **RAISED},
             {"t_min": 45, **RAISED, "spo2_percent": 97, "spo2_scale": 2, "on_oxygen": True,
              "consciousness": "V"}]  # fmt: skip
    answer = site.post_vitals({"observations": batch})
    total = answer["news2"]["total"]
    assert total == 13
    page.wait_for_function("t => document.body.dataset.news2Live === String(t)", arg=total)
    assert page.evaluate("() => document.getElementById('news2-trend-plot').data[0].y") == [
        0, 6, 6, 13
    ]  # fmt: skip
    assert page.locator("#news2-live").get_attribute("data-band") == "high"
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#latest-vitals-table tbody tr')]"
        ".map(tr => [...tr.children].map(c => c.textContent))"
    )
    table = {label: (value, int(score)) for label, value, score in rows}
    assert table["Consciousness (ACVPU)"] == ("V", 3)
    assert table["SpO2"] == ("97 % (scale 2)", 3)
    assert table["Air or oxygen"] == ("oxygen", 2)
    assert sum(score for _, score in table.values()) == total
    assert page.evaluate("() => window.notReloaded") is True
    assert_labelled(page)
    page.screenshot(path=str(shots / "patient-vitals-live.png"), full_page=True)
    # A reload loads the same sets from the API.
    page.reload()
    page.wait_for_function("t => document.body.dataset.news2Live === String(t)", arg=total)
    assert page.evaluate("() => document.getElementById('news2-trend-plot').data[0].y") == [
        0, 6, 6, 13
    ]  # fmt: skip
    assert page.problems == []


def test_vitals_on_file_before_the_twin_are_shown_at_page_load(
    page: Any, site: Site, shots: Path
) -> None:
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    site.store.create({"resourceType": "Patient", "id": "p-on-file"})
    raised = VitalSigns(0.0, **RAISED)
    site.store.add_observations(
        vitals_records("earlier", "p-on-file", start + timedelta(minutes=20), raised)
    )
    twin_id = site.make_twin({"patient_id": "p-on-file", "members": 8, "start": start.isoformat()})
    open_view(page, site, f"/dashboard/patients/{twin_id}")
    page.wait_for_function("() => document.body.dataset.news2Live === '6'")
    assert plot_traces(page, "news2-trend-plot") == 1
    assert page.evaluate("() => document.getElementById('news2-trend-plot').data[0].x") == [20]
    assert "NEWS2 6: medium clinical risk" in page.locator("#news2-live").inner_text()
    assert page.locator("body").inner_text().count("NEWS2 6") == 1
    assert page.locator("#latest-vitals-table tbody tr").count() == 7
    page.screenshot(path=str(shots / "patient-vitals-on-file.png"), full_page=True)
    assert page.problems == []


def test_a_twin_without_vitals_says_so_and_draws_no_plot(page: Any, site: Site) -> None:
    twin_id = site.make_twin({"members": 8})
    open_view(page, site, f"/dashboard/patients/{twin_id}")
    page.wait_for_function("() => document.body.dataset.vitalsSets === '0'")
    assert page.locator("#news2-live").inner_text() == "No vital signs yet."
    assert not page.locator("#news2-trend-plot").is_visible()
    assert not page.locator("#latest-vitals-table").is_visible()
    assert page.problems == []
