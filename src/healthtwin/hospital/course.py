"""What the simulation asks of an admitted patient: the ``ClinicalCourse`` protocol.

A course gives the next clinical event of a patient in a unit (deterioration, step-down,
fit for discharge, death) and, when it knows them, NEWS2 scores (Royal College of
Physicians 2017). ``coupling/`` supplies a course backed by patient twins; here lives the
distribution-based default: a stay drawn from the unit's length-of-stay law and
deteriorations as a Poisson process of rate ``deterioration_per_day`` during it.

Escalation by NEWS2 band (RCP 2017, chart 2): observations every 12 h at 0, every 4 h at
1-4, hourly at 5-6, continuous (counted here as every 15 minutes) at 7 or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.config import HospitalConfig

__all__ = [
    "ClinicalCourse",
    "DistributionCourse",
    "EventKind",
    "Patient",
    "VisitPlan",
    "observation_interval_hours",
    "plan_visit",
]

EventKind = Literal["deteriorate", "step_down", "fit_for_discharge", "death"]
KINDS = ("deteriorate", "step_down", "fit_for_discharge", "death")
ALERT_SCORE = 5
MAX_EVENTS_PER_VISIT = 100


@dataclass(slots=True)
class Patient:
    """An admitted patient as a course sees it (``stay_end_hours`` is scratch for courses)."""

    id: int
    triage: int
    unit: str
    arrival_hours: float
    admitted_hours: float
    stay_end_hours: float | None = None


class ClinicalCourse(Protocol):
    """The clinical course of admitted patients."""

    def next_event(
        self, patient: Patient, now: float, rng: np.random.Generator
    ) -> tuple[float, EventKind]:
        """Hours until the patient's next clinical event, and its kind."""
        ...

    def news2(self, patient: Patient, now: float) -> int | None:
        """The patient's NEWS2 score at ``now``, or None when unknown."""
        ...


class DistributionCourse:
    """Stays from each unit's length-of-stay law with Poisson deteriorations during them.

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ward": {"kind": "ward", "beds": 5, "deterioration_per_day": 0.0,
    ...                        "los_hours": {"dist": "fixed", "mean": 30.0}}},
    ...     "pathways": {"ward": {"discharge": 1.0}}})
    >>> p = Patient(id=0, triage=3, unit="ward", arrival_hours=0.0, admitted_hours=2.0)
    >>> DistributionCourse(cfg).next_event(p, 2.0, np.random.default_rng(0))
    (30.0, 'fit_for_discharge')
    """

    def __init__(self, config: HospitalConfig) -> None:
        self._config = config

    def next_event(
        self, patient: Patient, now: float, rng: np.random.Generator
    ) -> tuple[float, EventKind]:
        unit = self._config.units[patient.unit]
        if patient.stay_end_hours is None:
            patient.stay_end_hours = now + float(unit.los_hours.sample(rng, 1)[0])
        remaining = max(patient.stay_end_hours - now, 0.0)
        hazard_per_hour = unit.deterioration_per_day / 24.0
        if hazard_per_hour > 0:
            wait = float(rng.exponential(1.0 / hazard_per_hour))
            if wait < remaining:
                return wait, "deteriorate"
        return remaining, "fit_for_discharge"

    def news2(self, patient: Patient, now: float) -> int | None:
        return None


def observation_interval_hours(score: int | None, fixed_hours: float) -> float:
    """Hours to the next observation for a NEWS2 score (``fixed_hours`` when unknown).

    Examples
    --------
    >>> [observation_interval_hours(s, 4.0) for s in (None, 0, 3, 5, 8)]
    [4.0, 12.0, 4.0, 1.0, 0.25]
    """
    if score is None:
        return fixed_hours
    if score == 0:
        return 12.0
    if score < ALERT_SCORE:
        return 4.0
    return 1.0 if score < 7 else 0.25


@dataclass(frozen=True, slots=True)
class VisitPlan:
    """A patient's stay in one unit as the course decided it at admission."""

    stay_hours: float
    end: EventKind
    deteriorations: int
    caught_late: int
    observations: float


def plan_visit(
    course: ClinicalCourse,
    patient: Patient,
    now: float,
    rng: np.random.Generator,
    *,
    fixed_interval_hours: float,
    alert_sensitivity: float,
    late_window_hours: float,
) -> VisitPlan:
    """Ask ``course`` for events until the stay in ``patient.unit`` ends.

    A deterioration is caught late unless some NEWS2 score sampled hourly in the prior
    ``late_window_hours`` reached 5; when the course gives no scores an alert precedes it
    with probability ``alert_sensitivity``.
    """
    t, det, late = now, 0, 0
    end: EventKind = "fit_for_discharge"
    for _ in range(MAX_EVENTS_PER_VISIT):
        dt, kind = course.next_event(patient, t, rng)
        if not dt >= 0 or kind not in KINDS:
            raise InvalidParameterError(
                f"course.next_event returned ({dt!r}, {kind!r}); need hours >= 0 and a kind "
                f"of {list(KINDS)}"
            )
        t += dt
        if kind != "deteriorate":
            end = kind
            break
        det += 1
        if not _alerted(course, patient, t, late_window_hours, alert_sensitivity, rng):
            late += 1
    obs, s = 0.0, now
    while s < t:
        obs += 1.0
        s += observation_interval_hours(course.news2(patient, s), fixed_interval_hours)
    return VisitPlan(t - now, end, det, late, obs)


def _alerted(
    course: ClinicalCourse,
    patient: Patient,
    t: float,
    window: float,
    sensitivity: float,
    rng: np.random.Generator,
) -> bool:
    scores = [course.news2(patient, t - h) for h in np.arange(0.0, window + 1e-9, 1.0)]
    known = [s for s in scores if s is not None]
    if not known:
        return bool(rng.random() < sensitivity)
    return max(known) >= ALERT_SCORE
