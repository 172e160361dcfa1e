"""The hospitals simulated together with the epidemic: their occupancy changes transmission."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios import WorldResult, parse_world, run_world, write_outputs

UNITS = {
    "ward": {"kind": "ward", "beds": 40, "los_hours": {"dist": "exponential", "mean": 60}},
    "icu": {"kind": "icu", "beds": 4, "los_hours": {"dist": "exponential", "mean": 120}},
}
PATHWAYS = {"ward": {"icu": 0.1, "discharge": 0.85, "death": 0.05}, "icu": {"discharge": 1.0}}


def _world(line: dict[str, Any] | None, *, course: str | None = "twins") -> dict[str, Any]:
    hospitals = [
        {"name": f"h{n}", "region": n, "catchment_share": 1.0,
         "config": {"units": copy.deepcopy(UNITS), "pathways": PATHWAYS}}
        for n in "ab"
    ]  # fmt: skip
    country: dict[str, Any] = {
        "name": "X",
        "geography": {"regions": [{"name": n, "population": 30000} for n in "ab"]},
        "disease": {"r0": 2.8, "hospitalised_fraction": 0.06},
        "initial_infected": {"a": 80, "b": 5},
        "hospitals": hospitals,
    }
    if course is not None:
        country["patients"] = {"course": course, "cohort_size": 30}
    world: dict[str, Any] = {"days": 42, "replicates": 3, "seed": 11, "countries": [country]}
    if line is not None:
        world["feedback"] = {"occupancy_line": line}
    return world


@pytest.fixture(scope="module")
def free() -> WorldResult:
    return run_world(parse_world(_world(None)))


@pytest.fixture(scope="module")
def looped() -> WorldResult:
    line = {"line": 0.3, "contact_scale": 0.3, "review_every_days": 5}
    return run_world(parse_world(_world(line)))


def test_each_review_saw_what_the_results_report(looped: WorldResult) -> None:
    c = looped.countries[0]
    assert [r.day for r in c.reviews] == list(range(4, 42, 5))
    occupancy = c.hospital_occupancy()  # (reps, days, H)
    for review in c.reviews:
        np.testing.assert_array_equal(review.occupancy, occupancy[:, review.day, :])
        above = review.occupancy > 0.3 * 44.0  # one hospital per region, 44 beds
        np.testing.assert_array_equal(review.above, above)
    assert any(r.above.any() for r in c.reviews), "the line was never crossed: no test"


def test_simulated_occupancy_cuts_contacts_in_the_run(
    looped: WorldResult, free: WorldResult
) -> None:
    c, f = looped.countries[0], free.countries[0]
    first = next(r for r in c.reviews if r.above.any())
    # Identical up to the first review that crossed the line (common random numbers) ...
    through = first.day + 1
    np.testing.assert_array_equal(
        c.epidemic.incidence[:, :through], f.epidemic.incidence[:, :through]
    )
    # ... then fewer infections in every replicate whose hospitals crossed it.
    crossed = first.above.any(axis=1)
    looped_total = c.epidemic.incidence.sum(axis=(1, 2))
    free_total = f.epidemic.incidence.sum(axis=(1, 2))
    assert (looped_total[crossed] < free_total[crossed]).all()


def test_a_line_never_crossed_changes_nothing_in_the_epidemic(free: WorldResult) -> None:
    never = run_world(parse_world(_world({"line": 1e6, "contact_scale": 0.0}, course=None)))
    c, f = never.countries[0], free.countries[0]
    np.testing.assert_array_equal(c.epidemic.incidence, f.epidemic.incidence)
    np.testing.assert_array_equal(c.epidemic.admissions, f.epidemic.admissions)
    assert c.reviews
    assert not any(r.above.any() for r in c.reviews)


def test_patients_and_deaths_are_conserved_through_the_loop(looped: WorldResult) -> None:
    c = looped.countries[0]
    np.testing.assert_array_equal(c.routed.sum(axis=3), c.epidemic.admissions)
    for runs in c.hospital_runs:
        for run in runs:
            assert run.arrived == run.discharged + run.died + run.in_hospital
    national = c.national("deaths").totals.sum(axis=1)
    np.testing.assert_allclose(national, c.deaths().sum(axis=(1, 2)))


def test_the_loop_is_deterministic_for_a_seed(looped: WorldResult) -> None:
    line = {"line": 0.3, "contact_scale": 0.3, "review_every_days": 5}
    again = run_world(parse_world(_world(line)))
    np.testing.assert_array_equal(again.countries[0].routed, looped.countries[0].routed)
    assert again.summary() == looped.summary()


def test_the_epidemic_source_watches_its_own_compartments_every_day(free: WorldResult) -> None:
    line = {"line": 0.3, "contact_scale": 0.3, "source": "epidemic"}
    own = run_world(parse_world(_world(line, course=None))).countries[0]
    assert own.reviews == ()
    assert own.epidemic.incidence.sum() < free.countries[0].epidemic.incidence.sum()


def test_an_oracle_planner_cannot_plan_inside_the_loop() -> None:
    world = _world({"line": 0.5, "contact_scale": 0.5}, course=None)
    world["countries"][0]["national"] = {"days": [10], "forecast": "ensemble"}
    with pytest.raises(InvalidInputError, match="forecast: trend"):
        run_world(parse_world(world))


def test_the_planner_in_the_loop_plans_on_the_past_only() -> None:
    world = _world({"line": 0.5, "contact_scale": 0.5, "review_every_days": 7}, course=None)
    world["countries"][0]["national"] = {"days": [20, 30], "movable_fraction": 1.0}
    c = run_world(parse_world(world)).countries[0]
    assert c.icu_schedule is not None
    assert (c.icu_schedule.sum(axis=2) == 8).all()
    # Each replicate's planner plans on its own past; its hospitals hold its last plan.
    for plans, runs in zip(c.reallocations, c.hospital_runs, strict=True):
        assert [p.day for p in plans] == [20, 30]
        held = [int(r.beds[r.units.index("icu")]) for r in runs]
        assert held == plans[-1].after.tolist()


def test_the_reviews_are_in_the_summary_and_the_report(looped: WorldResult, tmp_path: Path) -> None:
    c = looped.countries[0]
    reviews = looped.summary()["countries"]["X"]["occupancy_reviews"]
    assert [r["day"] for r in reviews] == [r.day for r in c.reviews]
    for got, review in zip(reviews, c.reviews, strict=True):
        assert list(got["share_of_replicates_above"].values()) == review.above.mean(0).tolist()
    write_outputs(looped, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "Hospital occupancy reviews" in page
    assert f"reviewed {len(c.reviews)} times" in page
