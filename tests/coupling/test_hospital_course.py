"""Patients as inflammation twins in the hospital simulation, and their early warnings."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.coupling.hospital_course import (
    SMITH_SBP_TABLE_MM_HG,
    TwinCourse,
    TwinCourseSettings,
    circulation_sbp_table,
)
from healthtwin.errors import InvalidParameterError
from healthtwin.hospital import HospitalConfig, Patient, simulate
from healthtwin.hospital.course import ClinicalCourse
from healthtwin.hospital.early_warning import AlertRule, evaluate_alerts, threshold_table
from healthtwin.hospital.results import SimulationResult

CONFIG = {
    "units": {
        "ed": {"kind": "ed", "beds": 10,
               "los_hours": {"dist": "lognormal", "mean": 3.0, "cv": 0.5}},
        "ward": {"kind": "ward", "beds": 40,
                 "los_hours": {"dist": "lognormal", "mean": 72.0, "cv": 0.6}},
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 0.4}],
    "pathways": {"ed": {"ward": 1.0}, "ward": {"discharge": 1.0}},
}  # fmt: skip


@pytest.fixture(scope="module")
def config() -> HospitalConfig:
    return HospitalConfig.model_validate(CONFIG)


@pytest.fixture(scope="module")
def run(config: HospitalConfig) -> tuple[TwinCourse, SimulationResult]:
    course = TwinCourse(config)
    return course, simulate(config, days=30, replications=3, seed=1, course=course)


def test_twin_course_satisfies_the_protocol(config: HospitalConfig) -> None:
    course: ClinicalCourse = TwinCourse(config)
    p = Patient(id=3, triage=3, unit="ward", arrival_hours=0.0, admitted_hours=2.0)
    assert course.news2(p, 1.0) is None  # no replication has started yet
    dt, kind = course.next_event(p, 2.0, np.random.default_rng(0))
    assert dt >= 0
    assert kind in ("deteriorate", "fit_for_discharge", "death")
    reading = course.news2(p, 5.0)
    assert reading is not None
    total, red = reading
    assert 0 <= total <= 20
    assert isinstance(red, bool)
    assert course.news2(p, -1.0) is None  # before hospital arrival


def test_simulation_with_twins_has_plausible_deteriorations_and_deaths(
    run: tuple[TwinCourse, SimulationResult],
) -> None:
    _, res = run
    arrivals = res.values("arrivals")
    deaths = res.values("deaths") / arrivals
    deteriorations = res.values("deteriorations") / arrivals
    # The heterogeneity puts a tail of about 4-6 % of patients in the death basins.
    assert (deaths > 0.01).all()
    assert (deaths < 0.10).all()
    assert (deteriorations >= deaths * 0.8).all()
    assert (deteriorations < 0.15).all()
    n = res.values("patients.arrived")
    out = res.values("patients.discharged") + res.values("patients.died")
    assert (out + res.values("patients.in_system") == n).all()  # conservation


def test_news2_rises_before_deteriorations(run: tuple[TwinCourse, SimulationResult]) -> None:
    course, _ = run
    tr = course.trajectories()
    assert tr.event_time_hours.size >= 20
    before = np.zeros(tr.time_hours.size, dtype=bool)
    for p, te in zip(tr.event_patient, tr.event_time_hours, strict=True):
        before |= (tr.patient == p) & (tr.time_hours < te) & (tr.time_hours >= te - 6.0)
    calm = ~np.isin(tr.patient, tr.event_patient)
    assert tr.total[before].mean() >= tr.total[calm].mean() + 2.0
    assert tr.total[calm].mean() < 3.0


def test_early_warning_figures_from_twin_trajectories(
    run: tuple[TwinCourse, SimulationResult],
) -> None:
    course, _ = run
    tr = course.trajectories()
    e = evaluate_alerts(tr)
    assert 0.6 < e.sensitivity <= 1.0
    assert 1.0 < e.lead_median_hours < 24.0
    assert e.lead_q25_hours <= e.lead_q75_hours
    assert 0.0 < e.false_alerts_per_100_patient_days < 200.0
    strict = evaluate_alerts(tr, AlertRule(threshold=7, single_3=False))
    assert strict.sensitivity < e.sensitivity
    assert strict.false_alerts_per_100_patient_days < e.false_alerts_per_100_patient_days
    table = threshold_table(tr, range(1, 10))
    assert np.all(np.diff(table["sensitivity"]) <= 0)
    deaths = course.trajectories(kinds=("death",))
    assert deaths.event_time_hours.size > 0


def test_common_random_numbers_share_patient_twins(config: HospitalConfig) -> None:
    smaller = config.with_capacity("ward", beds=30)
    a, b = TwinCourse(config), TwinCourse(smaller)
    simulate(config, days=5, replications=1, seed=4, course=a)
    simulate(smaller, days=5, replications=1, seed=4, course=b)
    p = Patient(id=7, triage=3, unit="ward", arrival_hours=0.0, admitted_hours=0.0)
    times = np.arange(0.0, 96.0, 2.5)
    assert [a.news2(p, t) for t in times] == [b.news2(p, t) for t in times]
    other = TwinCourse(config)
    simulate(config, days=5, replications=1, seed=5, course=other)
    assert [other.news2(p, t) for t in times] != [a.news2(p, t) for t in times]


def test_stored_blood_pressure_table_matches_the_circulation_model() -> None:
    np.testing.assert_allclose(circulation_sbp_table(), SMITH_SBP_TABLE_MM_HG, atol=0.01)
    assert np.all(np.diff(SMITH_SBP_TABLE_MM_HG) < 0)  # less resistance, lower pressure


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="pathogen_median must be a finite"):
        TwinCourseSettings(pathogen_median=-1.0)
    with pytest.raises(InvalidParameterError, match="deterioration_damage"):
        TwinCourseSettings(deterioration_damage=20.0)
