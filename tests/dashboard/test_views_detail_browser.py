"""The region, governance and patient views' details, over HTTP and in Debian's chromium.

The region view must draw one small panel per region (incidence, Rt, ICU occupancy against
that region's beds) beside the nation panels, with per-region series stored in the run's
result next to the national sums; the scenario comparison's second axis must fit in its
plot. The governance view must list the demo's consent state (through the governed
``GET /api/v1/governance/consents``) and exactly one row per model card. The patient view of
a twin with vitals on file must plot them with their NEWS2 sub-scores, which must agree
with :func:`healthtwin.physiology.scores.news2`. No page may log a console error or a
Content-Security-Policy violation; the keyboard must reach every control. Screenshots go to
``$HEALTHTWIN_SCREENSHOTS`` (else pytest's tmp dir).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.api.security_fixtures import Keys, claims, config
from tests.api.v1_server import free_port, serving
from tests.dashboard.conftest import assert_labelled, open_view, tab_reaches_every_control

from healthtwin.api.app import create_app
from healthtwin.api.demo import DEMO_PATIENTS, DEMO_SCENARIO, load_demo
from healthtwin.api.regions import summarise_variant
from healthtwin.physiology.scores import news2
from healthtwin.physiology.vitals import Vitals
from healthtwin.population.ensemble import plan_tasks, run_task
from healthtwin.population.scenario import parse_scenario

REGIONS = [r["name"] for r in DEMO_SCENARIO["geography"]["regions"]]


@dataclass(frozen=True)
class Site:
    root: str
    token: str
    scenario_job: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Purpose-Of-Use": "TREAT"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from healthtwin.store import open_store

    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('dash3') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    demo = load_demo(app.state, store)
    assert app.state.jobs.wait(demo.scenario_job.id, 120).status == "succeeded"
    token = keys.sign(claims("clinician", sub="dr-detail", lifetime_s=1800))
    try:
        with serving(app, port) as root:
            yield Site(root, token, demo.scenario_job.id)
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
    assert page.locator(f"#{plot_id} .main-svg path").count() > 0
    return n


# -- the data behind the views (no browser) ------------------------------------------------
def test_per_region_series_are_the_quantiles_of_each_region_over_replicates() -> None:
    spec = parse_scenario(
        {
            "days": 30,
            "replicates": 4,
            "seed": 3,
            "disease": {"r0": 2.5},
            "geography": {
                "regions": [{"name": "a", "population": 3e4}, {"name": "b", "population": 1e4}]
            },
            "initial_infected": {"a": 30, "b": 5},
            "capacity": {"icu_beds": {"a": 6, "b": 2}},
        }
    )
    task = plan_tasks(spec)[0]
    result = run_task(spec, task)
    out = summarise_variant(spec, task.variant, result)
    assert list(out["by_region"]) == ["a", "b"]
    for number, name in enumerate(("a", "b")):
        region = out["by_region"][name]
        series = result.get("incidence")[:, :, number]
        for level in ("0.05", "0.5", "0.95"):
            expected = np.quantile(series, float(level), axis=0)
            np.testing.assert_allclose(region["incidence"][level], expected)
        assert len(region["rt"]["mean"]) == len(region["rt"]["t_end"]) > 0
    assert [out["by_region"][n]["icu_beds"] for n in ("a", "b")] == [6.0, 2.0]
    # The national bands are over replicates of the sum, not sums of regional quantiles.
    national = result.get("incidence").sum(axis=2)
    np.testing.assert_allclose(out["incidence"]["0.95"], np.quantile(national, 0.95, axis=0))


def test_the_run_result_holds_every_region_with_its_own_icu_beds(site: Site) -> None:
    reply = httpx.get(
        f"{site.root}/api/v1/scenarios/{site.scenario_job}/results",
        headers=site.headers,
        timeout=30,
    )
    assert reply.status_code == 200
    for variant in reply.json()["variants"].values():
        by_region = variant["by_region"]
        assert list(by_region) == REGIONS
        assert {n: r["icu_beds"] for n, r in by_region.items()} == {"north": 12.0, "south": 8.0}
        assert sum(r["icu_beds"] for r in by_region.values()) == variant["icu_beds"]


def test_the_consent_state_is_read_through_the_governed_api(site: Site) -> None:
    url = f"{site.root}/api/v1/governance/consents"
    assert httpx.get(url, timeout=30).status_code == 401
    reply = httpx.get(url, headers=site.headers, timeout=30)
    assert reply.status_code == 200
    state = {p["patient"]: p for p in reply.json()["patients"]}
    assert set(state) == {pid for pid, _ in DEMO_PATIENTS}
    [ada] = state["demo-ada"]["consents"]
    assert (ada["scope"], ada["decision"], ada["period"]) == (
        "research",
        "permit",
        ["2024-01-01", "2027-12-31"],
    )
    [ben] = state["demo-ben"]["consents"]
    assert ben["exceptions"][0]["decision"] == "deny"
    assert ben["exceptions"][0]["purposes"] == ["HMARKT"]
    assert state["demo-cleo"]["consents"][0]["decision"] == "deny"


def test_the_model_cards_are_listed_once_each(site: Site) -> None:
    reply = httpx.get(f"{site.root}/api/v1/governance/cards", headers=site.headers, timeout=30)
    cards = reply.json()["cards"]
    folder = resources.files("healthtwin.governance") / "cards"
    n_files = sum(1 for f in folder.iterdir() if f.name.endswith(".yaml"))
    assert len(cards) == n_files
    models = [m for c in cards for m in c["models"]]
    assert len(models) == len(set(models)) > n_files  # some cards cover several models


# -- the views in chromium -----------------------------------------------------------------
def test_region_view_has_a_panel_per_region_and_the_nation(
    page: Any, site: Site, shots: Path
) -> None:
    open_view(page, site, f"/dashboard/regions/{site.scenario_job}")
    assert _traces(page, "incidence-plot") == 6  # nation: band (2) + median, two variants
    page.locator("#region-panels figure.panel").nth(len(REGIONS) - 1).wait_for()
    panels = page.locator("#region-panels figure.panel")
    assert panels.count() == len(REGIONS)
    assert page.evaluate(
        "() => [...document.querySelectorAll('#region-panels figure')].map(f => f.dataset.region)"
    ) == ["north", "south"]  # most populous first
    variants = httpx.get(
        f"{site.root}/api/v1/scenarios/{site.scenario_job}/results",
        headers=site.headers,
        timeout=30,
    ).json()["variants"]
    for k, region in enumerate(REGIONS):
        # per variant: band (2) + median of incidence and ICU, of Rt where it could be
        # estimated (a region the epidemic never reached has none); then the ICU beds
        with_rt = sum(bool(v["by_region"][region]["rt"]["t_end"]) for v in variants.values())
        assert _traces(page, f"region-plot-{k}") == 6 * len(variants) + 3 * with_rt + 1
    beds = page.evaluate(
        "() => [0, 1].map(k => document.getElementById('region-plot-' + k).data.at(-1).y)"
    )
    assert beds == [[12, 12], [8, 8]]
    assert "All 2 regions" in page.locator("#regions-note").inner_text()
    # The comparison's second axis: every tick label inside the plot's box.
    _traces(page, "compare-plot")
    overflow = page.evaluate(
        "() => { const box = document.getElementById('compare-plot').getBoundingClientRect();"
        " const ticks = [...document.querySelectorAll('#compare-plot .y2tick text')];"
        " return [ticks.length, ticks.filter(t => t.getBoundingClientRect().right > box.right"
        " + 0.5).length]; }"
    )
    assert overflow[0] > 0
    assert overflow[1] == 0
    page.select_option("#regions-n", "4")
    assert page.locator("#region-panels figure.panel").count() == len(REGIONS)
    assert_labelled(page)
    tab_reaches_every_control(page)
    page.screenshot(path=str(shots / "region-small-multiples.png"), full_page=True)
    assert page.problems == []


def test_governance_view_lists_consents_and_one_row_per_card(
    page: Any, site: Site, shots: Path
) -> None:
    open_view(page, site, "/dashboard/governance")
    page.wait_for_function("() => document.body.dataset.nCards !== undefined")
    n_cards = int(page.evaluate("() => document.body.dataset.nCards"))
    rows = page.locator("#cards-table tbody tr")
    assert rows.count() == n_cards
    firsts = page.evaluate(
        "() => [...document.querySelectorAll('#cards-table tbody tr th')].map(t => t.textContent)"
    )
    assert len(firsts) == len(set(firsts))
    page.locator("#consent-table tbody tr", has_text="Patient/demo-cleo").wait_for()
    consent_rows = page.locator("#consent-table tbody tr")
    assert consent_rows.count() == len(DEMO_PATIENTS)
    ada = consent_rows.filter(has_text="Patient/demo-ada").inner_text()
    assert "research" in ada
    assert "2024-01-01 to 2027-12-31" in ada
    assert "permit" in ada
    ben = consent_rows.filter(has_text="Patient/demo-ben").inner_text()
    assert "deny HMARKT" in ben
    assert "3 consents on file for 3 patients" in page.locator("#consent-summary").inner_text()
    assert_labelled(page)
    tab_reaches_every_control(page)
    page.screenshot(path=str(shots / "governance-consents.png"), full_page=True)
    assert page.problems == []


def test_patient_view_plots_vitals_with_their_news2_subscores(
    page: Any, site: Site, shots: Path
) -> None:
    open_view(page, site, "/dashboard/patients/twin-demo-ada")
    # The demo's vitals on file: RR 22, SpO2 95, SBP 105, pulse 96, 38.3 degrees C, alert,
    # on air (NEWS2 6), shown once: the latest set with its sub-scores and the trend.
    page.wait_for_function("() => document.body.dataset.news2Live === '6'")
    rows = page.locator("#latest-vitals-table tbody tr")
    assert rows.count() == 7
    subscores = {
        rows.nth(k).locator("th").inner_text(): rows.nth(k).locator("td").nth(1).inner_text()
        for k in range(7)
    }
    assert subscores == {
        "Respiration rate": "2", "SpO2": "1", "Air or oxygen": "0", "Systolic BP": "1",
        "Pulse": "1", "Consciousness (ACVPU)": "0", "Temperature": "1",
    }  # fmt: skip
    assert _traces(page, "news2-trend-plot") >= 1
    assert page.evaluate(
        "() => document.getElementById('news2-trend-plot').data.some(t => t.y && t.y[0] === 6)"
    )
    page.screenshot(path=str(shots / "patient-vitals.png"), full_page=True)
    # The page's sub-scores agree with the package's NEWS2 on and around every band limit.
    grid = {
        "respiratory_rate_per_min": [5, 8, 9, 11, 12, 20, 21, 24, 25, 40],
        "spo2_percent": [85, 91, 92, 93, 94, 95, 96, 100],
        "systolic_bp_mm_hg": [70, 90, 91, 100, 101, 110, 111, 219, 220, 250],
        "heart_rate_per_min": [30, 40, 41, 50, 51, 90, 91, 110, 111, 130, 131, 180],
        "temperature_c": [34.0, 35.0, 35.05, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.1, 41.0],
    }
    normal = {
        "respiratory_rate_per_min": 16.0,
        "spo2_percent": 97.0,
        "systolic_bp_mm_hg": 120.0,
        "heart_rate_per_min": 70.0,
        "temperature_c": 37.0,
    }
    keys = {
        "respiratory_rate_per_min": "respiration_rate",
        "spo2_percent": "spo2",
        "systolic_bp_mm_hg": "systolic_bp",
        "heart_rate_per_min": "pulse",
        "temperature_c": "temperature",
    }
    for name, values in grid.items():
        arrays = {k: np.full(len(values), v) for k, v in normal.items()}
        arrays[name] = np.asarray(values, dtype=float)
        scores = news2(Vitals.from_arrays(**arrays, consciousness=["A"] * len(values)))
        expected = [int(x) for x in getattr(scores, keys[name])]
        shown = page.evaluate(
            "([k, vs]) => vs.map(v => window.healthtwinNews2Subscore(k, v))", [name, values]
        )
        assert shown == expected, name
    assert page.problems == []
