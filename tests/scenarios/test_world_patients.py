"""Patient twins and the national ICU planner inside world runs."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from healthtwin.coupling.region_hospital import simulate_routed
from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.scenarios import WorldResult, parse_world, run_world, write_outputs
from healthtwin.scenarios.hospital_runs import simulate_hospital
from healthtwin.scenarios.world import TwinSpec

UNITS = {
    "ward": {"kind": "ward", "beds": 60, "los_hours": {"dist": "exponential", "mean": 36}},
    "icu": {"kind": "icu", "beds": 6, "los_hours": {"dist": "exponential", "mean": 120}},
}
PATHWAYS = {"ward": {"icu": 0.1, "discharge": 0.85, "death": 0.05}, "icu": {"discharge": 1.0}}


def _world(course: str | None, **country: Any) -> dict[str, Any]:
    hospital: dict[str, Any] = {
        "name": "h", "region": "c", "catchment_share": 1.0,
        "config": {"units": UNITS, "pathways": PATHWAYS},
    }  # fmt: skip
    body: dict[str, Any] = {
        "name": "X",
        "geography": {"regions": [{"name": "c", "population": 30000}]},
        "disease": {"r0": 2.5, "hospitalised_fraction": 0.05},
        "initial_infected": {"c": 60},
        "hospitals": [hospital],
    }
    if course is not None:
        body["patients"] = {"course": course, "cohort_size": 50}
    body.update(country)
    return {"days": 28, "replicates": 2, "seed": 3, "countries": [body]}


@pytest.fixture(scope="module")
def twins() -> WorldResult:
    return run_world(parse_world(_world("twins")))


@pytest.fixture(scope="module")
def usual() -> WorldResult:
    return run_world(parse_world(_world("distribution")))


def test_twins_keep_admissions_equal_to_routed_admissions(twins: WorldResult) -> None:
    c = twins.countries[0]
    assert c.routed.sum() > 50
    for rep, runs in enumerate(c.hospital_runs):
        run = runs[0]
        np.testing.assert_array_equal(run.admissions, c.routed[rep, :, :, 0].sum(axis=1))
        assert run.arrived == run.admissions.sum()
        assert run.arrived == run.discharged + run.died + run.in_hospital
    patients = twins.summary()["countries"]["X"]["hospitals"]["h"]["patients"]
    assert patients["course"] == "twins"
    assert patients["patients"] == int(c.routed.sum())
    assert 0.0 < patients["twin_icu_need_share"] < 0.5
    assert 0.0 <= patients["icu_transfer_share"] <= 1.0
    assert 0.0 < patients["news2_mean"] < 20.0
    assert 0.0 <= patients["news2_emergency_share"] <= patients["news2_alert_share"] <= 1.0
    assert 18.0 <= patients["admitted_cohort"]["age_years"] <= 90.0


def test_twins_lengthen_stays_as_their_resolution_implies(
    twins: WorldResult, usual: WorldResult
) -> None:
    # The epidemic and routing are the same (same seed); only the course differs.
    np.testing.assert_array_equal(twins.countries[0].routed, usual.countries[0].routed)
    t = twins.summary()["countries"]["X"]["hospitals"]["h"]["patients"]
    u = usual.summary()["countries"]["X"]["hospitals"]["h"]["patients"]
    assert u["news2_mean"] is None
    assert u["twin_icu_need_share"] == 0.0
    # A twin's stay is the later of the usual stay and its resolution (death aside). Twins
    # calibrated to the disease's hospital fatality (14 % here) deteriorate more often and
    # leave the ward for the ICU at once, which shortens the mean a little (was + 5 h).
    assert t["mean_entry_los_hours"] > u["mean_entry_los_hours"] + 2.0


def test_twin_stays_exceed_usual_stays_within_a_99_percent_interval() -> None:
    # Fixed usual stays, so that the twins are the only source of the difference.
    units = copy.deepcopy(UNITS)
    units["ward"]["los_hours"] = {"dist": "fixed", "mean": 36}
    cfg = HospitalConfig.model_validate({"units": units, "pathways": PATHWAYS})
    counts = np.full(10, 5)
    diffs = []
    for rep in range(5):
        kw: dict[str, Any] = {
            "entry_unit": "ward",
            "icu_unit": "icu",
            "seed": 1,
            "replication": rep,
        }
        _, usual = simulate_hospital(cfg, counts, **kw)
        _, twin = simulate_hospital(cfg, counts, twins=TwinSpec().settings(), **kw)
        # Twins that do not deteriorate stay at least the usual stay (they resolve later);
        # those that deteriorate leave the ward for the ICU then (see the next test).
        kept = twin.entry_los_hours[~twin.deteriorated]
        assert (kept >= 36.0 - 1e-9).all()
        diffs.append(kept.mean() - usual.entry_los_hours.mean())
    d = np.array(diffs)
    half = 4.604 * d.std(ddof=1) / np.sqrt(d.size)  # t(0.995, 4)
    assert d.mean() - half > 0.0


def test_the_report_shows_the_twins(twins: WorldResult, tmp_path: Path) -> None:
    write_outputs(twins, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "Share whose twin predicted ICU need" in page
    assert "National ICU planner" not in page
    assert (
        json.loads((tmp_path / "summary.json").read_text())["countries"]["X"]["hospitals"]["h"][
            "patients"
        ]["course"]
        == "twins"
    )


def test_without_twins_the_hospital_run_is_the_routed_run() -> None:
    cfg = HospitalConfig.model_validate({"units": UNITS, "pathways": PATHWAYS})
    counts = np.random.default_rng(0).poisson(6, 20)
    kw: dict[str, Any] = {"entry_unit": "ward", "seed": 4, "replication": 1}
    routed = simulate_routed(cfg, counts, **kw)
    run, stays = simulate_hospital(cfg, counts, icu_unit="icu", **kw)
    np.testing.assert_array_equal(run.occupancy, routed.occupancy)
    assert (run.discharged, run.died, run.in_hospital) == (
        routed.discharged, routed.died, routed.in_hospital
    )  # fmt: skip
    assert stays.entry_los_hours.size == counts.sum()
    # An ICU change at day 10: the days before are the unchanged run's, the ICU grows after.
    bigger, _ = simulate_hospital(cfg, counts, icu_unit="icu", icu_beds=[(10, 12)], **kw)
    np.testing.assert_array_equal(bigger.occupancy[:10], run.occupancy[:10])
    assert bigger.beds[bigger.units.index("icu")] == 12
    assert bigger.arrived == run.arrived
    with pytest.raises(InvalidInputError, match="icu_unit"):
        simulate_hospital(cfg, counts, icu_unit=None, icu_beds=[(3, 2)], **kw)


def test_same_seed_same_twins(twins: WorldResult) -> None:
    again = run_world(parse_world(_world("twins")))
    assert again.summary() == twins.summary()
    # A country's result travels to and from Dask workers.
    back = pickle.loads(pickle.dumps(twins.countries[0]))
    assert back.patients == twins.countries[0].patients


def _uneven(**national: Any) -> dict[str, Any]:
    world = _world(None)
    c = world["countries"][0]
    c["geography"] = {"regions": [{"name": n, "population": 40000} for n in "abc"]}
    c["initial_infected"] = {"a": 150, "b": 1, "c": 1}
    c["mobility"] = {"model": "none"}
    c["hospitals"] = []
    for n in "abc":
        units: dict[str, Any] = copy.deepcopy(UNITS)
        units["icu"]["beds"] = 3
        c["hospitals"].append(
            {"name": f"h{n}", "region": n, "catchment_share": 1.0,
             "config": {"units": units, "pathways": PATHWAYS}}
        )  # fmt: skip
    if national:
        c["national"] = national
    world["days"] = 40
    return world


def _page(result: WorldResult, out: Path) -> str:
    write_outputs(result, out)
    return (out / "report.html").read_text()


@pytest.mark.parametrize(("forecast", "day"), [("ensemble", 12), ("trend", 27)])
def test_the_national_planner_moves_beds_to_demand_and_conserves_them(
    tmp_path: Path, forecast: str, day: int
) -> None:
    base = run_world(parse_world(_uneven()))
    # Planned to the end of the run (the default looks two weeks ahead).
    national = {"days": [day], "movable_fraction": 1.0, "forecast": forecast, "horizon_days": None}
    planned = run_world(parse_world(_uneven(**national)))
    c, b = planned.countries[0], base.countries[0]
    np.testing.assert_array_equal(c.epidemic.icu_occupancy, b.epidemic.icu_occupancy)
    assert c.icu_schedule is not None
    assert (c.icu_schedule.sum(axis=2) == 9).all()
    assert (c.icu_schedule[:, :day] == 3).all()
    for plans, runs in zip(c.reallocations, c.hospital_runs, strict=True):
        (plan,) = plans
        assert plan.after[0] > 3
        assert plan.moved > 0
        # Pushed down: each hospital's ICU has the region's new beds from the day on.
        held = [int(r.beds[r.units.index("icu")]) for r in runs]
        assert held == plan.after.tolist()
    # Unmet ICU bed-days, common random numbers: reallocation helps and the baseline's
    # own figure is the run without it.
    with_, without = c.unmet_icu_bed_days(), c.unmet_icu_bed_days(reallocated=False)
    np.testing.assert_allclose(without, b.unmet_icu_bed_days())
    assert with_.mean() < without.mean()
    s = planned.summary()["countries"]["X"]
    assert s["unmet_icu_bed_days"][1] <= s["unmet_icu_bed_days_without_reallocation"][1]
    assert s["reallocations"][0]["day"] == day
    assert "National ICU planner" in _page(planned, tmp_path)
    assert c.overflow_deaths.sum() < b.overflow_deaths.sum()


def test_national_days_must_increase_and_late_ones_are_ignored() -> None:
    late = run_world(parse_world(_uneven(days=[39, 40, 60])))
    assert [[r.day for r in plans] for plans in late.countries[0].reallocations] == [[39]] * 2
    with pytest.raises(ResourceValidationError, match="must increase"):
        parse_world(_uneven(days=[12, 5]))
    with pytest.raises(ResourceValidationError, match="course"):
        parse_world(_world("magic"))


def test_national_vaccines_are_given_and_cut_admissions() -> None:
    base = run_world(parse_world(_uneven()))
    vaccinated = run_world(
        parse_world(_uneven(days=[5], movable_fraction=0.0, vaccine_daily_doses=2000.0))
    )
    c, b = vaccinated.countries[0], base.countries[0]
    given = c.epidemic.vaccinated[:, -1].sum(axis=-1)  # (reps,)
    assert (given > 0).all()
    assert (given <= 2000.0 * 40 + 1e-6).all()
    assert c.epidemic.admissions.sum() < b.epidemic.admissions.sum()
    for plans in c.reallocations:
        np.testing.assert_array_equal(plans[0].after, [3, 3, 3])  # nothing movable
