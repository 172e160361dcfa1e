"""One hospital inside a world run: routed admissions, a clinical course, ICU changes.

:func:`simulate_hospital` extends
:func:`~healthtwin.coupling.region_hospital.simulate_routed` (the same arrivals, routes and
random streams) with two things a world run needs:

- **Patient twins.** With ``course="twins"`` every admitted patient's stays come from a
  :class:`~healthtwin.coupling.hospital_course.TwinCourse` through the hospital engine's
  ``ClinicalCourse`` hook. Daily occupancy needs the engine's event loop re-run to the
  end of each day (its results are totals); re-running the twins each time would cost
  ``days`` times their integration, so the run is done twice: once with the course, whose
  calls are recorded (each visit's unit, start, end and how it ended), then *replayed*
  without it, with those stays and the routes they imply written into the draws. The
  event loop depends on nothing else, so the replay is the same run (checked: its
  discharges, deaths and patients still in hospital must equal the first run's, else
  :class:`~healthtwin.errors.SolverError`).
- **ICU capacity changes** (the national planner's reallocations). The hospital engine has
  no capacity schedule (``hospital/config.py`` holds fixed beds and daily nurse rosters),
  so the run is split at each change day: the hospital is simulated once per capacity with
  the same seed (common random numbers: the same patients), and day ``d`` of the result
  is day ``d`` of the run whose capacity held on ``d``. Patient totals are those of the
  last capacity's run. The stitch ignores the queue a capacity change leaves behind (the
  run with the new capacity had it from day 0): an approximation, documented in
  ``docs/scaling.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.hospital_course import TwinCourse, TwinCourseSettings
from healthtwin.coupling.region_hospital import (
    HOURS_PER_DAY,
    HospitalRun,
    admission_hours,
    routed_draws,
)
from healthtwin.errors import InvalidInputError, SolverError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.course import ClinicalCourse, EventKind, Patient
from healthtwin.hospital.engine_fast import run_fast
from healthtwin.hospital.model import DEATH, CompiledModel, PatientDraws, compile_model

__all__ = ["PatientStays", "simulate_hospital", "summarise_stays"]


@dataclass(frozen=True)
class PatientStays:
    """What the admitted patients did in one replication.

    Attributes
    ----------
    entry_los_hours : ndarray, shape (n,)
        Stay of each admitted patient in the unit they entered (as planned for those
        still waiting for a bed at the end).
    visited_icu : ndarray of bool, shape (n,)
        Whether the patient's route reached the ICU unit.
    deteriorated : ndarray of bool, shape (n,)
        Whether the patient's twin deteriorated (its predicted ICU need; all False
        without twins).
    news2_total : ndarray of int, shape (n_obs,)
        Hourly NEWS2 totals over every recorded stay (empty without twins).
    news2_single_3 : ndarray of bool, shape (n_obs,)
        Whether a single parameter scored 3 at each of those readings.
    twin_deaths
        Deaths the twins produced.
    """

    entry_los_hours: FloatArray
    visited_icu: np.ndarray
    deteriorated: np.ndarray
    news2_total: IntArray
    news2_single_3: np.ndarray
    twin_deaths: int


@dataclass
class _Visit:
    unit: str
    start: float
    end: float = np.nan
    kind: EventKind | None = None


@dataclass
class _Recorder:
    """A course that records each visit's stay and how it ended (then delegates)."""

    inner: ClinicalCourse
    visits: dict[int, list[_Visit]] = field(default_factory=dict)

    def next_event(
        self, patient: Patient, now: float, rng: np.random.Generator
    ) -> tuple[float, EventKind]:
        dt, kind = self.inner.next_event(patient, now, rng)
        mine = self.visits.setdefault(patient.id, [])
        if not mine or mine[-1].kind is not None:
            mine.append(_Visit(patient.unit, patient.admitted_hours))
        if kind != "deteriorate":
            mine[-1].end, mine[-1].kind = now + dt, kind
        return dt, kind

    def news2(self, patient: Patient, now: float) -> tuple[int, bool] | None:
        return self.inner.news2(patient, now)


def simulate_hospital(
    config: HospitalConfig,
    counts_per_day: IntArray,
    *,
    entry_unit: str,
    icu_unit: str | None,
    seed: int,
    replication: int = 0,
    twins: TwinCourseSettings | None = None,
    icu_beds: Sequence[tuple[int, int]] = (),
) -> tuple[HospitalRun, PatientStays]:
    """Run one hospital replication on routed admissions (see the module docstring).

    Parameters
    ----------
    config
        The hospital.
    counts_per_day : ndarray of int, shape (days,)
        Routed admissions per day.
    entry_unit, icu_unit
        The unit admitted patients enter, and the ICU unit (or None).
    seed, replication
        Root seed and replication number (streams ``hospital/rep{r}/...``).
    twins
        Settings of the patient twins; None keeps the units' distributions.
    icu_beds
        ``(day, beds)`` changes of the ICU unit's beds, each from its day on.

    Returns
    -------
    HospitalRun, PatientStays

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ward": {"kind": "ward", "beds": 5,
    ...                        "los_hours": {"dist": "fixed", "mean": 30.0}}},
    ...     "pathways": {"ward": {"discharge": 1.0}}})
    >>> run, stays = simulate_hospital(cfg, np.array([2, 0, 1]), entry_unit="ward",
    ...                                icu_unit=None, seed=0)
    >>> run.arrived, run.discharged, run.in_hospital, stays.entry_los_hours.tolist()
    (3, 2, 1, [30.0, 30.0, 30.0])
    """
    counts = np.asarray(counts_per_day, dtype=np.int64)
    if entry_unit not in config.units:
        raise InvalidInputError(
            f"entry_unit {entry_unit!r} is not a unit; units are {sorted(config.units)}"
        )
    if icu_beds and icu_unit is None:
        raise InvalidInputError("ICU bed changes need an icu_unit; set the hospital's icu_unit")
    run, stays = _one(config, counts, entry_unit, icu_unit, seed, replication, twins)
    occupancy = run.occupancy.copy()
    for day, beds in icu_beds:
        # Same seed, new capacity: the same patients; days from ``day`` on come from it.
        cfg = config.with_capacity(str(icu_unit), beds=beds)
        run, stays = _one(cfg, counts, entry_unit, icu_unit, seed, replication, twins)
        occupancy[day:] = run.occupancy[day:]
    return replace(run, occupancy=occupancy), stays


def _one(
    config: HospitalConfig,
    counts: IntArray,
    entry_unit: str,
    icu_unit: str | None,
    seed: int,
    replication: int,
    twins: TwinCourseSettings | None,
) -> tuple[HospitalRun, PatientStays]:
    model = compile_model(config)
    streams = RandomStreams(seed)
    arrival = admission_hours(counts, streams.generator(f"hospital/rep{replication}/admissions"))
    draws = routed_draws(model, arrival, model.names.index(entry_unit), streams, replication)
    horizon = counts.size * HOURS_PER_DAY
    first: dict[str, float] | None = None
    deteriorated = np.zeros(arrival.size, dtype=bool)
    news_total, news_red, twin_deaths = np.zeros(0, np.int64), np.zeros(0, bool), 0
    if twins is not None:
        twin = TwinCourse(config, twins, seed=seed)
        recorder = _Recorder(twin)
        course_rng = streams.generator(f"hospital/rep{replication}/course")
        first = run_fast(model, draws, horizon, 0.0, recorder, course_rng)
        draws = _replayed(model, draws, recorder)
        traj = twin.trajectories(("deteriorate",))
        det_ids = traj.event_patient % 2**32
        deteriorated[det_ids[det_ids < arrival.size]] = True
        twin_deaths = int(twin.trajectories(("death",)).event_patient.size)
        news_total, news_red = traj.total, traj.any_single_3
    run = _daily(model, draws, counts)
    if first is not None:
        again = (run.discharged, run.died, run.in_hospital)
        before = tuple(int(first[f"patients.{k}"]) for k in ("discharged", "died", "in_system"))
        if again != before:
            raise SolverError(
                f"replaying the twin course changed the run ({before} -> {again} discharged, "
                "died, in hospital); the engine's course hook and this replay disagree"
            )
    return run, _stays(model, draws, icu_unit, deteriorated, news_total, news_red, twin_deaths)


def _replayed(model: CompiledModel, draws: PatientDraws, recorder: _Recorder) -> PatientDraws:
    """The draws with each recorded visit's stay and the route its end implies."""
    k_max = draws.visits
    los, path = list(draws.los_hours), list(draws.path)
    for p, visits in recorder.visits.items():
        for k, visit in enumerate(visits[:k_max]):
            if visit.kind is None:
                continue
            unit = model.names.index(visit.unit)
            los[p * k_max + k] = visit.end - visit.start
            if visit.kind == "death":
                nxt = DEATH
            elif visit.kind == "step_down" and model.step_down_unit not in (-1, unit):
                nxt = model.step_down_unit
            else:
                nxt = model.next_unit(unit, draws.priority[p], float(draws.route_uniform[p, k]))
            if k + 1 >= k_max and nxt >= 0:
                nxt = -1
            path[p * (k_max + 1) + k + 1] = nxt
    return replace(draws, los_hours=los, path=path)


def _daily(model: CompiledModel, draws: PatientDraws, counts: IntArray) -> HospitalRun:
    days = counts.size
    totals = run_fast(model, draws, days * HOURS_PER_DAY)
    beds = np.asarray(model.beds, dtype=np.int64)
    occupancy = np.zeros((days, beds.size))
    arrived_by = np.cumsum(counts)
    for d in range(days):
        # As in simulate_routed: the run of those arrived by the end of day d measures day d.
        upto = replace(draws, arrival_hours=draws.arrival_hours[: int(arrived_by[d])])
        day = run_fast(model, upto, (d + 1) * HOURS_PER_DAY, d * HOURS_PER_DAY)
        occupancy[d] = [
            day[f"occupancy.{u}"] if b else 0.0 for u, b in zip(model.names, beds, strict=True)
        ]
    return HospitalRun(
        units=model.names,
        beds=beds,
        admissions=counts,
        occupancy=np.nan_to_num(occupancy) * beds,
        arrived=int(totals["patients.arrived"]),
        discharged=int(totals["patients.discharged"]),
        died=int(totals["patients.died"]),
        refused=int(totals["patients.refused"]),
        in_hospital=int(totals["patients.in_system"]),
    )


def _stays(
    model: CompiledModel,
    draws: PatientDraws,
    icu_unit: str | None,
    deteriorated: np.ndarray,
    news_total: IntArray,
    news_red: np.ndarray,
    twin_deaths: int,
) -> PatientStays:
    n, k_max = draws.n, draws.visits
    path = np.asarray(draws.path, dtype=np.int64).reshape(n, k_max + 1)
    los = np.asarray(draws.los_hours, dtype=float).reshape(n, k_max)
    icu = -99 if icu_unit is None else model.names.index(icu_unit)
    return PatientStays(
        entry_los_hours=los[:, 0] if n else np.zeros(0),
        visited_icu=(path == icu).any(axis=1),
        deteriorated=deteriorated,
        news2_total=np.asarray(news_total, dtype=np.int64),
        news2_single_3=np.asarray(news_red, dtype=bool),
        twin_deaths=twin_deaths,
    )


def summarise_stays(stays: Sequence[PatientStays], course: str) -> dict[str, float | str | None]:
    """Key numbers of a hospital's admitted patients pooled over replications (JSON values).

    ``twin_icu_need_share`` is the share whose twin deteriorated (predicted ICU need),
    ``icu_transfer_share`` the share whose simulated route reached the ICU; NEWS2 shares
    are of hourly readings: ``alert`` (total >= 5 or a single 3), ``emergency`` (>= 7).

    Examples
    --------
    >>> s = PatientStays(np.array([10.0, 30.0]), np.array([True, False]),
    ...                  np.array([True, False]), np.array([1, 7]), np.array([False, False]), 0)
    >>> summarise_stays([s], "twins")["news2_emergency_share"]
    0.5
    """
    los = np.concatenate([s.entry_los_hours for s in stays])
    news = np.concatenate([s.news2_total for s in stays])
    red = np.concatenate([s.news2_single_3 for s in stays])

    def share(values: np.ndarray) -> float | None:
        return float(values.mean()) if values.size else None

    return {
        "course": course,
        "patients": int(los.size),
        "mean_entry_los_hours": share(los),
        "icu_transfer_share": share(np.concatenate([s.visited_icu for s in stays])),
        "twin_icu_need_share": share(np.concatenate([s.deteriorated for s in stays])),
        "twin_deaths": int(sum(s.twin_deaths for s in stays)),
        "news2_mean": share(news.astype(float)),
        "news2_alert_share": share((news >= 5) | red),
        "news2_emergency_share": share(news >= 7),
    }
