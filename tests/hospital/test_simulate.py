"""The simulation's rules: engines agree, common random numbers, census, windows, courses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, UnknownModelError
from healthtwin.hospital import (
    Census,
    DistributionCourse,
    HospitalConfig,
    Patient,
    load_hospital_config,
    simulate,
)
from healthtwin.hospital.engine_fast import next_discharge_time

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "hospital" / "example_hospital.yaml"


@pytest.fixture(scope="module")
def example() -> HospitalConfig:
    return load_hospital_config(EXAMPLE)


def test_fast_and_simpy_engines_agree(example: HospitalConfig) -> None:
    fast = simulate(example, days=20, replications=3, warmup_days=5, seed=2)
    slow = simulate(example, days=20, replications=3, warmup_days=5, seed=2, engine="simpy")
    for metric in ("ed_4h_breach", "occupancy.acute_ward", "wait_hours.icu", "throughput",
                   "boarding_hours", "nurse_observations"):  # fmt: skip
        np.testing.assert_allclose(fast.values(metric), slow.values(metric), rtol=1e-9)


def test_common_random_numbers_pair_scenarios(example: HospitalConfig) -> None:
    base = simulate(example, days=20, replications=4, seed=5)
    more = simulate(example.with_capacity("icu", beds=16), days=20, replications=4, seed=5)
    np.testing.assert_array_equal(base.values("patients.arrived"), more.values("patients.arrived"))
    assert (more.values("wait_hours.icu") <= base.values("wait_hours.icu") + 1e-12).all()
    other = simulate(example, days=20, replications=4, seed=6)
    assert not np.array_equal(base.values("patients.arrived"), other.values("patients.arrived"))


def test_census_start_fills_beds_at_time_zero(example: HospitalConfig) -> None:
    census = Census.from_counts({"acute_ward": [24.0] * 100, "icu": [10.0] * 10})
    full = simulate(example, days=1, replications=3, seed=1, census=census)
    empty = simulate(example, days=1, replications=3, seed=1)
    assert (full.values("occupancy.acute_ward") > 0.75).all()
    assert (empty.values("occupancy.acute_ward") < 0.2).all()
    with pytest.raises(InvalidInputError, match="12 beds"):
        simulate(example, days=1, replications=1, census=Census.from_counts({"icu": [1.0] * 13}))


def test_discharge_window_and_triage_priority(example: HospitalConfig) -> None:
    assert next_discharge_time(13.0, (8.0, 12.0)) == 32.0
    anytime = example.model_copy(update={"discharge_hours": None})
    with_window = simulate(example, days=20, replications=3, seed=3)
    without = simulate(anytime, days=20, replications=3, seed=3)
    assert (
        with_window.values("occupancy.acute_ward") > without.values("occupancy.acute_ward")
    ).all()
    urgent = HospitalConfig.model_validate({
        "units": {"ed": {"kind": "ed", "beds": 3,
                         "los_hours": {"dist": "exponential", "mean": 1.0}}},
        "arrivals": [{"unit": "ed", "rate_per_hour": 2.7, "triage_mix": [0.5, 0.5]}],
        "pathways": {"ed": {"ward": 0.0, "discharge": 1.0}, "ward": {"discharge": 1.0}}}
        | {"units": {"ed": {"kind": "ed", "beds": 3,
                            "los_hours": {"dist": "exponential", "mean": 1.0}},
                     "ward": {"kind": "ward", "beds": 1,
                              "los_hours": {"dist": "fixed", "mean": 1.0}}},
           "triage_pathways": {"ed": {1: {"ward": 1.0}}}})  # fmt: skip
    r = simulate(urgent, days=200, replications=3, seed=4)
    assert (r.values("wait_hours.ward") > 0).all()


class FlaggingCourse:
    """Deteriorates every patient once after 2 h, alerting only for odd patient ids.

    Ids 1 mod 4 alert on the total (6), ids 3 mod 4 only on a single parameter scoring 3
    (total 3); even ids stay at a total of 4 with no single 3, which is no alert.
    """

    def next_event(
        self, patient: Patient, now: float, rng: np.random.Generator
    ) -> tuple[float, str]:
        if patient.stay_end_hours is None:
            patient.stay_end_hours = now + 2.0
            return 2.0, "deteriorate"
        return 1.0, "fit_for_discharge"

    def news2(self, patient: Patient, now: float) -> tuple[int, bool] | None:
        return {1: (6, False), 3: (3, True)}.get(patient.id % 4, (4, False))


def test_a_course_drives_deteriorations_and_late_catches() -> None:
    cfg = HospitalConfig.model_validate({
        "units": {"ward": {"kind": "ward", "beds": 1000,
                           "los_hours": {"dist": "fixed", "mean": 3.0}}},
        "arrivals": [{"unit": "ward", "rate_per_hour": 4.0}],
        "pathways": {"ward": {"discharge": 1.0}}})  # fmt: skip
    r = simulate(cfg, days=30, replications=2, seed=8, course=FlaggingCourse())  # type: ignore[arg-type]
    det, late = r.values("deteriorations"), r.values("deteriorations_caught_late")
    np.testing.assert_allclose(det, r.values("throughput"), rtol=0.01)
    np.testing.assert_allclose(late / det, 0.5, atol=0.03)
    default = simulate(cfg, days=30, replications=2, seed=8, course=DistributionCourse(cfg))
    np.testing.assert_allclose(default.values("occupancy.ward") * 1000, 12.0, rtol=0.05)


def test_unknown_engine_and_metric_are_named(example: HospitalConfig) -> None:
    with pytest.raises(UnknownModelError, match="engines are"):
        simulate(example, days=1, replications=1, engine="fortran")  # type: ignore[arg-type]
    r = simulate(example, days=1, replications=2)
    with pytest.raises(UnknownModelError, match="metrics are"):
        r.values("ed_wait")


def test_engines_agree_on_every_metric_under_heavy_blocking() -> None:
    """Cascades of freed beds, a roster, electives, diversion, census and warm-up at once."""
    staff = {"shifts": [{"start_hour": 7, "length_hours": 12, "nurses": 2},
                        {"start_hour": 19, "length_hours": 12, "nurses": 1}],
             "patients_per_nurse": 3}  # fmt: skip
    cfg = HospitalConfig.model_validate({
        "units": {"ed": {"kind": "ed", "beds": 4,
                         "los_hours": {"dist": "gamma", "mean": 2.0, "cv": 0.5}},
                  "ward": {"kind": "ward", "beds": 6, "staff": staff,
                           "los_hours": {"dist": "lognormal", "mean": 30.0, "cv": 0.6}},
                  "icu": {"kind": "icu", "beds": 2,
                          "los_hours": {"dist": "exponential", "mean": 40.0}}},
        "arrivals": [{"unit": "ed", "rate_per_hour": [1.0] * 8 + [2.5] * 16,
                      "triage_mix": [0.2, 0.5, 0.3]}],
        "electives": [{"unit": "ward", "per_weekday": [2, 2, 2, 2, 2, 0, 0], "hour": 8.0}],
        "pathways": {"ed": {"ward": 0.4, "icu": 0.05, "discharge": 0.55},
                     "ward": {"icu": 0.1, "discharge": 0.85, "death": 0.05},
                     "icu": {"ward": 0.7, "death": 0.3}},
        "discharge_hours": [8, 12],
        "diversion": {"unit": "ed", "max_queue": 6, "boarding_threshold": 3}})  # fmt: skip
    census = Census.from_counts({"ward": [5.0, 50.0, 100.0], "icu": [3.0]})
    kw = {"days": 60.0, "replications": 3, "seed": 9, "warmup_days": 4.0, "census": census}
    fast = simulate(cfg, **kw)  # type: ignore[arg-type]
    slow = simulate(cfg, engine="simpy", **kw)  # type: ignore[arg-type]
    assert (fast.values("boarding_hours") > 10).all()
    assert (fast.values("refusals") > 1).all()
    for metric in fast.metrics:
        np.testing.assert_allclose(
            fast.values(metric), slow.values(metric), rtol=1e-9, err_msg=metric
        )
