"""A world's summary: waiting by unit, regions, ICU admissions and honestly labelled bands."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.scenarios import WorldResult, parse_world, run_world
from healthtwin.scenarios.world_results import (
    QUANTILE_MIN_REPLICATES,
    ReplicateBand,
    growth_at_horizon,
)

PATHWAYS = {"ward": {"icu": 0.2, "discharge": 0.75, "death": 0.05}, "icu": {"discharge": 1.0}}


def small_world(replicates: int = 2, days: int = 28, patients: bool = True) -> dict[str, Any]:
    """Two regions whose small hospitals overflow, with a ``patients:`` section."""

    def hospital(name: str, region: str, ward: int, icu: int) -> dict[str, Any]:
        units = {
            "ward": {
                "kind": "ward",
                "beds": ward,
                "los_hours": {"dist": "exponential", "mean": 96},
            },
            "icu": {"kind": "icu", "beds": icu, "los_hours": {"dist": "exponential", "mean": 150}},
        }
        return {"name": name, "region": region, "catchment_share": 1.0,
                "config": {"units": units, "pathways": PATHWAYS}}  # fmt: skip

    country: dict[str, Any] = {
        "name": "X",
        "geography": {
            "regions": [{"name": "a", "population": 30000}, {"name": "b", "population": 20000}]
        },
        "disease": {"r0": 2.8, "hospitalised_fraction": 0.05},
        "initial_infected": {"a": 80, "b": 10},
        "hospitals": [hospital("ha", "a", 4, 1), hospital("hb", "b", 3, 1)],
    }
    if patients:
        country["patients"] = {"course": "distribution", "cohort_size": 40}
    return {"name": "small", "days": days, "replicates": replicates, "seed": 5,
            "countries": [country]}  # fmt: skip


@pytest.fixture(scope="module")
def result() -> WorldResult:
    return run_world(parse_world(small_world()))


def test_the_band_is_the_range_below_20_replicates_and_the_90_percent_interval_from_20() -> None:
    assert QUANTILE_MIN_REPLICATES == 20
    values = np.arange(19, dtype=float)[::-1]
    few = ReplicateBand(19)
    assert few.is_range
    assert few.label == "range of 19 replicates"
    assert few.of(values) == [0.0, 9.0, 18.0]
    assert few.columns == ("min", "median", "max")
    many = ReplicateBand(20)
    assert not many.is_range
    assert many.label == "90 % interval of 20 replicates"
    assert many.columns == ("q0.05", "median", "q0.95")
    got = many.of(np.arange(20, dtype=float))
    assert got == pytest.approx([0.95, 9.5, 18.05])
    assert got[0] > 0.0
    assert got[2] < 19.0
    assert ReplicateBand(1).label == "range of 1 replicate"
    with pytest.raises(ShapeError, match=r"\(19,\)"):
        few.of(np.zeros(4))
    with pytest.raises(InvalidInputError, match="at least one replicate"):
        ReplicateBand(0)


def test_the_summary_says_which_band_and_the_horizon(result: WorldResult) -> None:
    s = result.summary()
    assert s["interval"] == {"kind": "range", "levels": [0.0, 0.5, 1.0],
                             "columns": ["min", "median", "max"], "replicates": 2,
                             "label": "range of 2 replicates"}  # fmt: skip
    assert s["quantile_levels"] == [0.0, 0.5, 1.0]
    assert s["totals_to_day"] == 28
    admissions = result.countries[0].national("admissions").cumulative()
    assert s["countries"]["X"]["admissions"] == [admissions.min(), np.median(admissions),
                                                 admissions.max()]  # fmt: skip


def test_waiting_by_unit_is_the_runs_queue_days(result: WorldResult) -> None:
    c = result.countries[0]
    s = result.summary()["countries"]["X"]
    band = ReplicateBand(2)
    ward_total = np.zeros(2)
    for h, name in enumerate(c.hospitals):
        mine = s["hospitals"][name]
        for k, unit in enumerate(("ward", "icu")):
            per_rep = np.array([row[h].queue_days[:, k].sum() for row in c.hospital_runs])
            peak = np.array([row[h].queue_days[:, k].max() for row in c.hospital_runs])
            assert mine["queue_days"][unit] == pytest.approx(band.of(per_rep))
            assert mine["peak_waiting"][unit] == pytest.approx(band.of(peak))
        ward_total += [row[h].queue_days[:, 0].sum() for row in c.hospital_runs]
        assert mine["beds"] == {"ward": [4, 3][h], "icu": 1}
        assert mine["catchment"] == {"region": "ab"[h], "share": 1.0}
        assert mine["icu_beds_moved"] == [0.0, 0.0, 0.0]  # no planner: a band of zeros
    # The hospitals are small: patients waited for a ward bed, and the summary shows it.
    assert ward_total.min() > 0
    assert s["ward_queue_days"] == pytest.approx(band.of(ward_total))
    assert max(h["peak_waiting"]["ward"][2] for h in s["hospitals"].values()) > 1.0


def test_regions_add_up_to_the_nation(result: WorldResult) -> None:
    s = result.summary()["countries"]["X"]
    regions = s["regions"]
    assert list(regions) == ["a", "b"]
    assert [r["population"] for r in regions.values()] == [30000.0, 20000.0]
    # With two replicates the median is their mean, so region medians add up to the nation's.
    assert sum(r["infections"][1] for r in regions.values()) == pytest.approx(s["infections"][1])
    assert sum(r["admissions"][1] for r in regions.values()) == pytest.approx(s["admissions"][1])
    incidence = result.countries[0].epidemic.incidence
    for k, r in enumerate(regions.values()):
        rate = np.array(r["attack_rate"])
        assert ((rate >= 0) & (rate <= 1)).all()
        assert rate == pytest.approx(np.array(r["infections"]) / r["population"])
        assert r["infections"][2] == incidence[:, :, k].sum(axis=1).max()
        assert 0 <= r["peak_admissions_day"][0] <= r["peak_admissions_day"][2] < 28
        assert r["vaccine_doses"] is None
    assert regions["a"]["hospitals"] == ["ha"]
    assert regions["b"]["hospitals"] == ["hb"]
    assert 0 < s["attack_rate"][0] <= s["attack_rate"][2] <= 1


def test_icu_admissions_are_the_patients_who_reached_the_icu(result: WorldResult) -> None:
    s = result.summary()["countries"]["X"]
    total = np.zeros(2)
    for h in s["hospitals"].values():
        patients = h["patients"]
        per_rep = np.array(patients["icu_admissions_per_replicate"], dtype=float)
        assert h["icu_admissions"] == pytest.approx(ReplicateBand(2).of(per_rep))
        # Pooled over replicates: the age bands' ICU shares give the same patients.
        pooled = sum(
            round(b["icu_share"] * b["patients"])
            for b in patients["by_age_band"].values()
            if b["patients"]
        )
        assert pooled == per_rep.sum()
        assert sum(b["patients"] for b in patients["by_age_band"].values()) == patients["patients"]
        total += per_rep
    assert total.sum() > 0
    assert s["icu_admissions"] == pytest.approx(ReplicateBand(2).of(total))


def test_without_a_patients_section_icu_admissions_are_not_recorded() -> None:
    s = run_world(parse_world(small_world(days=14, patients=False))).summary()["countries"]["X"]
    assert s["icu_admissions"] is None
    assert all("icu_admissions" not in h for h in s["hospitals"].values())


def test_growth_at_the_horizon_compares_the_last_two_weeks(result: WorldResult) -> None:
    growth = result.summary()["countries"]["X"]["growth_at_horizon"]
    weekly = result.countries[0].epidemic.incidence.sum(axis=2)
    growing = (weekly[:, -7:].sum(axis=1) > weekly[:, -14:-7].sum(axis=1)).sum()
    assert growth["share_of_replicates_growing"] == growing / 2
    if growing:
        assert growth["note"].startswith(f"still growing at day 28 in {growing} of 2 replicates")
    else:
        assert growth["note"].startswith("no longer growing at day 28 in any of the 2")
    assert growth_at_horizon(np.ones((2, 13, 1)), ReplicateBand(2)) is None
    flat = growth_at_horizon(np.ones((2, 14, 1)), ReplicateBand(2))
    assert flat is not None
    assert flat["share_of_replicates_growing"] == 0.0
    assert flat["note"].startswith("no longer growing at day 14 in any of the 2 replicates")


def test_twenty_replicates_report_the_90_percent_interval() -> None:
    s = run_world(parse_world(small_world(replicates=20, days=14, patients=False))).summary()
    assert s["interval"]["label"] == "90 % interval of 20 replicates"
    assert s["quantile_levels"] == [0.05, 0.5, 0.95]
