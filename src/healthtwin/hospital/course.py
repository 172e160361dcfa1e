"""What the simulation asks of an admitted patient: the ``ClinicalCourse`` protocol.

A course gives the next clinical event of a patient in a unit (deterioration, step-down,
fit for discharge, death) and, when it knows them, NEWS2 scores (Royal College of
Physicians 2017) as ``(total, any single parameter scored 3)``. ``coupling/`` supplies a
course backed by patient twins; here lives the distribution-based default: a stay drawn
from the unit's length-of-stay law and deteriorations as a Poisson process of rate
``deterioration_per_day`` during it.

Alerts follow the RCP 2017 trigger: a total of 5 or more, or a score of 3 in any single
parameter. Escalation by NEWS2 band (RCP 2017, chart 2): observations every 12 h at 0,
every 4 h at 1-4, hourly at 5-6 or when a single parameter scores 3, continuous (counted
here as every 15 minutes) at 7 or more.
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
    "News2",
    "Patient",
    "VisitPlan",
    "is_alert",
    "observation_interval_hours",
    "plan_visit",
]

EventKind = Literal["deteriorate", "step_down", "fit_for_discharge", "death"]
News2 = tuple[int, bool]
"""A NEWS2 reading: the total score and whether any single parameter scored 3."""
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

    def news2(self, patient: Patient, now: float) -> tuple[int, bool] | None:
        """The patient's NEWS2 at ``now`` as ``(total, any single parameter scored 3)``.

        None when the course does not know the patient's vitals.
        """
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

    def news2(self, patient: Patient, now: float) -> tuple[int, bool] | None:
        return None


def is_alert(news2: tuple[int, bool] | None) -> bool:
    """Whether a NEWS2 reading triggers an alert: total >= 5 or a single parameter 3.

    Examples
    --------
    >>> [is_alert(r) for r in (None, (4, False), (3, True), (5, False))]
    [False, False, True, True]
    """
    return news2 is not None and (news2[0] >= ALERT_SCORE or news2[1])


def observation_interval_hours(news2: tuple[int, bool] | None, fixed_hours: float) -> float:
    """Hours to the next observation for a NEWS2 reading (``fixed_hours`` when unknown).

    Parameters
    ----------
    news2
        ``(total, any single parameter scored 3)``, or None when unknown.
    fixed_hours
        The unit's fixed interval, used when the score is unknown.

    Examples
    --------
    >>> readings = (None, (0, False), (3, False), (3, True), (5, False), (8, False))
    >>> [observation_interval_hours(r, 4.0) for r in readings]
    [4.0, 12.0, 4.0, 1.0, 1.0, 0.25]
    """
    if news2 is None:
        return fixed_hours
    total, single_three = news2
    if total >= 7:
        return 0.25
    if total >= ALERT_SCORE or single_three:
        return 1.0
    return 12.0 if total == 0 else 4.0


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

    A deterioration is caught late unless some NEWS2 reading sampled hourly in the prior
    ``late_window_hours`` alerted (total >= 5 or a single parameter 3, see
    :func:`is_alert`); when the course gives no scores an alert precedes it with
    probability ``alert_sensitivity``.
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
    readings = [course.news2(patient, t - h) for h in np.arange(0.0, window + 1e-9, 1.0)]
    known = [r for r in readings if r is not None]
    if not known:
        return bool(rng.random() < sensitivity)
    return any(is_alert(r) for r in known)
