"""The clinical-course rules: the RCP 2017 alert trigger and observation frequency by band."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.course import (
    Patient,
    is_alert,
    observation_interval_hours,
    plan_visit,
)


class SteadyCourse:
    """Stays ``stay`` hours, deteriorating once at ``stay / 2``, at a constant NEWS2."""

    def __init__(self, reading: tuple[int, bool] | None, stay: float = 24.0) -> None:
        self.reading, self.stay = reading, stay

    def next_event(
        self, patient: Patient, now: float, rng: np.random.Generator
    ) -> tuple[float, str]:
        if patient.stay_end_hours is None:
            patient.stay_end_hours = now + self.stay
            return self.stay / 2, "deteriorate"
        return patient.stay_end_hours - now, "fit_for_discharge"

    def news2(self, patient: Patient, now: float) -> tuple[int, bool] | None:
        return self.reading


def _plan(reading: tuple[int, bool] | None, sensitivity: float = 0.5) -> tuple[int, int, float]:
    patient = Patient(id=0, triage=3, unit="ward", arrival_hours=0.0, admitted_hours=0.0)
    plan = plan_visit(
        SteadyCourse(reading),  # type: ignore[arg-type]
        patient,
        0.0,
        np.random.default_rng(0),
        fixed_interval_hours=6.0,
        alert_sensitivity=sensitivity,
        late_window_hours=6.0,
    )
    assert plan.stay_hours == pytest.approx(24.0)
    assert plan.end == "fit_for_discharge"
    return plan.deteriorations, plan.caught_late, plan.observations


def test_alert_on_total_of_five_or_any_single_three() -> None:
    assert not is_alert(None)
    assert not is_alert((4, False))
    assert is_alert((5, False))
    assert is_alert((1, True))
    assert is_alert((9, True))


@pytest.mark.parametrize(
    ("reading", "hours"),
    [((0, False), 12.0), ((2, False), 4.0), ((4, False), 4.0), ((3, True), 1.0),
     ((5, False), 1.0), ((6, True), 1.0), ((7, False), 0.25), ((7, True), 0.25)],
)  # fmt: skip
def test_observation_interval_by_news2_band(reading: tuple[int, bool], hours: float) -> None:
    assert observation_interval_hours(reading, 6.0) == hours


def test_unknown_score_uses_the_unit_interval() -> None:
    assert observation_interval_hours(None, 6.0) == 6.0


def test_single_three_catches_deterioration_and_observes_hourly() -> None:
    assert _plan((3, True)) == (1, 0, 24.0)
    # A total of 4 without a single 3 is no alert: the deterioration is caught late.
    assert _plan((4, False)) == (1, 1, 6.0)
    assert _plan((5, False)) == (1, 0, 24.0)


def test_no_scores_fall_back_to_alert_sensitivity() -> None:
    assert _plan(None, sensitivity=1.0) == (1, 0, 4.0)
    assert _plan(None, sensitivity=0.0) == (1, 1, 4.0)


def test_a_bad_event_from_the_course_is_named() -> None:
    class Broken(SteadyCourse):
        def next_event(
            self, patient: Patient, now: float, rng: np.random.Generator
        ) -> tuple[float, str]:
            return -1.0, "teleport"

    patient = Patient(id=0, triage=3, unit="ward", arrival_hours=0.0, admitted_hours=0.0)
    with pytest.raises(InvalidParameterError, match="teleport"):
        plan_visit(
            Broken(None),  # type: ignore[arg-type]
            patient,
            0.0,
            np.random.default_rng(0),
            fixed_interval_hours=6.0,
            alert_sensitivity=0.5,
            late_window_hours=6.0,
        )
