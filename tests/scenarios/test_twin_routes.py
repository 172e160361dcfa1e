"""Twins drive the hospital: deterioration sends a patient to the ICU, deaths are the twins'."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.coupling.hospital_course import TwinCourseSettings
from healthtwin.hospital.config import HospitalConfig
from healthtwin.scenarios.hospital_runs import PatientStays, simulate_hospital

# Arrivals over 4 days, then 20 quiet days: every twin event (within the twins' 480 h)
# falls in the run.
COUNTS = np.array([25] * 4 + [0] * 20)
SETTINGS = TwinCourseSettings(horizon_hours=480.0, step_hours=0.5)
HORIZON_HOURS = COUNTS.size * 24.0


def _config(icu_beds: int, ward_row: dict[str, float] | None = None) -> HospitalConfig:
    return HospitalConfig.model_validate({
        "units": {
            "ward": {"kind": "ward", "beds": 300,
                     "los_hours": {"dist": "exponential", "mean": 100}},
            "icu": {"kind": "icu", "beds": icu_beds,
                    "los_hours": {"dist": "exponential", "mean": 150}}},
        "pathways": {"ward": ward_row or {"icu": 0.1, "discharge": 0.85, "death": 0.05},
                     "icu": {"ward": 0.7, "death": 0.3}}})  # fmt: skip


def _run(icu_beds: int, seed: int = 3, **kw: Any) -> tuple[Any, PatientStays]:
    return simulate_hospital(
        _config(icu_beds, **kw), COUNTS, entry_unit="ward", icu_unit="icu", seed=seed,
        twins=SETTINGS,
    )  # fmt: skip


@pytest.fixture(scope="module")
def roomy() -> tuple[Any, PatientStays]:
    return _run(icu_beds=200)


def test_every_deteriorated_twin_with_a_free_icu_bed_reaches_the_icu(
    roomy: tuple[Any, PatientStays],
) -> None:
    run, stays = roomy
    det = stays.deteriorated
    assert det.sum() >= 5  # a tail of the twins deteriorates
    assert (stays.deterioration_hours[det] < HORIZON_HOURS).all()
    assert stays.visited_icu[det].all()
    # Resolved twins leave by the rows conditioned on neither death nor ICU.
    assert not stays.visited_icu[~det].any()
    assert run.arrived == run.discharged + run.died + run.in_hospital == COUNTS.sum()


def test_deaths_are_the_twins_deaths_not_the_pathway_rows(
    roomy: tuple[Any, PatientStays],
) -> None:
    run, stays = roomy
    assert run.in_hospital == 0
    # The ward row says 5 % die on the ward; the twins' deaths are all there is.
    assert run.died == stays.twin_deaths
    assert 0 < run.died <= stays.deteriorated.sum()


def test_a_full_icu_makes_deteriorated_twins_queue_not_vanish(
    roomy: tuple[Any, PatientStays],
) -> None:
    run, stays = _run(icu_beds=1)
    det = stays.deteriorated
    assert run.arrived == run.discharged + run.died + run.in_hospital
    # Same twins as with a roomy ICU (common random numbers) ...
    np.testing.assert_array_equal(det, roomy[1].deteriorated)
    # ... who all wait for the one bed; no resolved twin takes it.
    assert not stays.visited_icu[~det].any()
    assert stays.visited_icu[det].sum() >= 1
    assert run.died <= stays.twin_deaths


def test_icu_need_raises_the_chance_of_icu_over_replications() -> None:
    # P(ICU | deteriorated) > P(ICU | not) in each replication (the review's measure,
    # which was 0.009 vs 0.096 when deteriorations were only counted).
    for seed in (11, 12):
        _, stays = _run(icu_beds=4, seed=seed)
        det = stays.deteriorated
        assert det.any()
        assert stays.visited_icu[det].mean() > stays.visited_icu[~det].mean()


def test_without_an_icu_route_a_deterioration_is_only_counted() -> None:
    run, stays = _run(icu_beds=4, ward_row={"discharge": 0.95, "death": 0.05})
    assert stays.deteriorated.any()
    assert not stays.visited_icu.any()
    assert run.died == stays.twin_deaths
