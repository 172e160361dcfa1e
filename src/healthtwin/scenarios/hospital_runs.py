"""One hospital inside a world run: routed admissions, a clinical course, ICU changes.

:func:`simulate_hospital` extends
:func:`~healthtwin.coupling.region_hospital.simulate_routed` (the same arrivals, routes and
random streams) with two things a world run needs:

- **Patient twins.** With ``course="twins"`` every admitted patient's stays come from a
  :class:`~healthtwin.coupling.hospital_course.TwinCourse` through the hospital engine's
  ``ClinicalCourse`` hook, and so do the exits of the units the twins live in (kinds
  ``ward``, ``icu``, ``step_down``). Before the run each twin's prognosis
  (:meth:`~healthtwin.coupling.hospital_course.TwinCourse.prognosis`) sets the patient's
  route through the engine's per-patient routing draws (``route_uniform``: the value
  that selects the chosen destination in the unit's pathway row), without changing the
  hospital package's API:

  - a twin that deteriorates (its ICU need) leaves the entry unit for the ICU unit at
    the deterioration, when the hospital has an ICU that the entry unit's pathway row
    can reach (it queues, holding its bed, when the ICU is full, as in the engine);
  - a twin that dies does so where it is (ward, ICU, or the ward while waiting for an
    ICU bed): deaths come from the twins only;
  - a twin that resolves leaves when its stay ends (at the later of resolution and the
    unit's usual stay), to a destination drawn from the unit's pathway row *conditioned
    on* neither death nor the ICU (discharge, or another ward);
  - out of the ICU, a resolved twin goes to the step-down unit when there is one (the
    engine's ``step_down`` rule), else as above.

  What still comes from the tables: the usual stay of each unit (a floor on every twin
  stay), the choice among non-ICU survivor destinations and their proportions, and
  everything in units of other kinds (ED, theatre), which keep their rows unchanged.
  Without an ICU reachable from the entry unit (or with an entry unit of another kind)
  a deterioration is only counted. Daily occupancy needs the engine's event loop re-run to the
  end of each day (its results are totals); re-running the twins each time would cost
  ``days`` times their integration, so the run is done twice: once with the course, whose
  calls are recorded (each visit's unit, start, end and how it ended), then *replayed*
  without it, with those stays and the routes they imply written into the draws. The
  event loop depends on nothing else, so the replay is the same run (checked: its
  discharges, deaths and patients still in hospital must equal the first run's, else
  :class:`~healthtwin.errors.SolverError`).
- **Triage by the prognosis model** (``share_back: triage``, :class:`TriageOrders`).
  With twins and an ICU unit, a patient whose predicted ICU risk is above the threshold
  is admitted straight to the ICU unit instead of the entry unit (their first visit's
  unit is the ICU; they queue for a bed when it is full, as every ICU arrival does); the
  twin then runs its course there (death there, else out by the ICU's rules). Everything
  else is drawn as without triage (arrivals, routing draws, twins), so the same seed with
  and without triage differs only through the triaged patients and what they change
  downstream (bed occupancy, queues, the order of events). Because triage acts on the
  route, whether a patient reached the ICU is no outcome to check the model against; each
  patient's twin ICU need as if untriaged is recorded instead
  (:attr:`PatientStays.needed_icu`, read from the twin before the run).
- **ICU capacity changes** (the national planner's reallocations) happen inside the one
  run, at the start of their day
  (:class:`~healthtwin.hospital.model.CapacityChange` events of the fast engine): an ICU
  that loses beds keeps its patients and admits nobody until a bed is free under its new
  capacity, one that gains beds admits from its queue at once. Patients are neither moved
  nor lost, so the daily deaths and discharges add up to the run's totals.
  ``HospitalRun.beds`` holds the beds at the end of the run.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.hospital_course import TwinCourse, TwinCourseSettings
from healthtwin.coupling.region_hospital import (
    HOURS_PER_DAY,
    HospitalRun,
    admission_hours,
    routed_draws,
    run_by_day,
)
from healthtwin.errors import InvalidInputError, SolverError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.course import ClinicalCourse, EventKind, Patient
from healthtwin.hospital.engine_fast import run_fast
from healthtwin.hospital.model import (
    DEATH,
    CapacityChange,
    CompiledModel,
    PatientDraws,
    capacity_change,
    compile_model,
)

__all__ = [
    "PatientStays",
    "TriageOrders",
    "icu_nurses_per_shift",
    "simulate_hospital",
    "summarise_stays",
    "with_icu_beds",
]


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
    deterioration_hours : ndarray, shape (n,)
        Hour of the run at which each patient's twin deterioration was reported (``inf``
        without one; all ``inf`` without twins).
    died : ndarray of bool, shape (n,)
        Whether the patient's route ends in death (with twins: the twin's prognosis), also
        for patients still in hospital at the end of the run, who die after it.
    triaged : ndarray of bool, shape (n,) or (0,)
        Whether the patient was admitted straight to the ICU by triage (empty without
        :class:`TriageOrders`).
    needed_icu : ndarray of bool, shape (n,) or (0,)
        The twin's ICU need as if nobody were triaged: whether the patient's twin
        deteriorates within the twins' ``horizon_hours``
        (:meth:`~healthtwin.coupling.hospital_course.TwinCourse.prognosis`), read from the
        twin before the run, so neither triage, nor ICU capacity, nor the end of the run
        changes it (empty without twins). It is the label the federated prognosis model
        is trained on; where the entry unit escalates to the ICU, an untriaged patient is
        routed there exactly when it is True.
    """

    entry_los_hours: FloatArray
    visited_icu: np.ndarray
    deteriorated: np.ndarray
    news2_total: IntArray
    news2_single_3: np.ndarray
    twin_deaths: int
    deterioration_hours: FloatArray = field(default_factory=lambda: np.zeros(0))
    died: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    triaged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    needed_icu: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class TriageOrders:
    """The prognosis model's risk of each admitted patient and the triage threshold.

    Attributes
    ----------
    risk : ndarray, shape (n,)
        Each admitted patient's predicted ICU risk, in arrival order.
    threshold : float
        Patients with ``risk > threshold`` go straight to the ICU (0: everyone with a
        positive risk; 1: nobody).

    Examples
    --------
    >>> TriageOrders(np.array([0.1, 0.6, 0.3]), 0.3).triaged().tolist()
    [False, True, False]
    """

    risk: FloatArray
    threshold: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidInputError(f"triage threshold must be in [0, 1]; got {self.threshold!r}")

    def triaged(self) -> np.ndarray:
        """Whether each patient goes straight to the ICU, ``(n,)``."""
        return np.asarray(self.risk, dtype=float) > self.threshold


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
    twin_cache: MutableMapping[tuple[int, int, int], Any] | None = None,
    twin_growth: FloatArray | None = None,
    triage: TriageOrders | None = None,
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
    twin_cache
        Shared store of simulated twins (:class:`~healthtwin.coupling.hospital_course.TwinCourse`):
        runs of the same hospital over more days re-use the twins of shorter ones.
    twin_growth : ndarray, shape (sum(counts_per_day),), optional
        Each admitted patient's twin growth multiplier, in arrival order (their age band
        and covariates, :mod:`~healthtwin.coupling.twin_calibration`); None: 1.
    triage
        The prognosis model's orders (with twins and an ICU unit only; see
        :func:`~healthtwin.scenarios.world_patients.hospital_triage`); None: no triage.

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
    if twin_growth is not None and np.size(twin_growth) != int(counts.sum()):
        raise InvalidInputError(
            f"twin_growth needs one multiplier per admitted patient ({int(counts.sum())}); "
            f"got {np.size(twin_growth)}"
        )
    if triage is not None and np.size(triage.risk) != int(counts.sum()):
        raise InvalidInputError(
            f"triage needs one risk per admitted patient ({int(counts.sum())}); "
            f"got {np.size(triage.risk)}"
        )
    if twins is None or icu_unit is None:
        triage = None
    course = None if twins is None else (twins, twin_growth, triage)
    changes = tuple(
        capacity_change(
            float(day) * HOURS_PER_DAY, str(icu_unit), with_icu_beds(config, str(icu_unit), beds)
        )
        for day, beds in icu_beds
    )
    run, stays = _one(
        config, counts, entry_unit, icu_unit, seed, replication, course, twin_cache, changes
    )
    if changes:
        beds_now = np.array(run.beds, dtype=np.int64)
        beds_now[changes[-1].unit] = changes[-1].beds
        run = replace(run, beds=beds_now)
    return run, stays


def icu_nurses_per_shift(config: HospitalConfig, icu_unit: str, beds: int) -> int | None:
    """Nurses each ICU shift needs to staff ``beds`` (None: the unit has no roster).

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"icu": {"kind": "icu", "beds": 4, "los_hours": {"dist": "fixed", "mean": 9},
    ...                       "staff": {"patients_per_nurse": 2.0,
    ...                                 "shifts": [{"start_hour": 0, "length_hours": 24,
    ...                                             "nurses": 2}]}}},
    ...     "pathways": {"icu": {"discharge": 1.0}}})
    >>> icu_nurses_per_shift(cfg, "icu", 7)
    4
    """
    staff = config.units[icu_unit].staff
    if staff is None:
        return None
    return int(np.ceil(beds / staff.patients_per_nurse))


def with_icu_beds(config: HospitalConfig, icu_unit: str, beds: int) -> HospitalConfig:
    """``config`` with ``beds`` ICU beds, and, if the unit has a roster, the nurses to staff them.

    The national planner moves staffed beds: a bed without the nurses to run it adds no
    usable capacity (usable beds are ``min(beds, nurses x patients_per_nurse)``), so every
    shift of the unit gets ``ceil(beds / patients_per_nurse)`` nurses.
    """
    return config.with_capacity(
        icu_unit, beds=beds, nurses_per_shift=icu_nurses_per_shift(config, icu_unit, beds)
    )


def _one(
    config: HospitalConfig,
    counts: IntArray,
    entry_unit: str,
    icu_unit: str | None,
    seed: int,
    replication: int,
    twins: tuple[TwinCourseSettings, FloatArray | None, TriageOrders | None] | None,
    twin_cache: MutableMapping[tuple[int, int, int], Any] | None = None,
    changes: tuple[CapacityChange, ...] = (),
) -> tuple[HospitalRun, PatientStays]:
    model = compile_model(config)
    streams = RandomStreams(seed)
    arrival = admission_hours(counts, streams.generator(f"hospital/rep{replication}/admissions"))
    draws = routed_draws(model, arrival, model.names.index(entry_unit), streams, replication)
    horizon = counts.size * HOURS_PER_DAY
    first: dict[str, float] | None = None
    deteriorated = np.zeros(arrival.size, dtype=bool)
    news_total, news_red, twin_deaths = np.zeros(0, np.int64), np.zeros(0, bool), 0
    det_hours = np.full(arrival.size, np.inf)
    reached: np.ndarray | None = None
    triaged = needed = np.zeros(0, dtype=bool)
    if twins is not None:
        settings, growth, triage = twins
        icu = -1 if icu_unit is None else model.names.index(icu_unit)
        escalate = _escalates(model, draws, icu, settings)
        if triage is not None:
            triaged = triage.triaged()
            draws = _triaged(draws, triaged, icu)
        twin = TwinCourse(
            config,
            settings,
            seed=seed,
            escalate=escalate,
            twin_cache=twin_cache,
            growth_multiplier=growth,
        )
        recorder = _Recorder(twin)
        course_rng = streams.generator(f"hospital/rep{replication}/course")
        twin.start(course_rng)
        draws = _twin_routes(model, draws, twin, icu if escalate else -1)
        needed = _icu_need(twin, arrival.size)
        first = run_fast(model, draws, horizon, 0.0, recorder, course_rng, capacity_changes=changes)
        draws = _replayed(model, draws, recorder)
        traj = twin.trajectories(("deteriorate",))
        det_ids = traj.event_patient % 2**32
        keep = det_ids < arrival.size
        deteriorated[det_ids[keep]] = True
        det_hours[det_ids[keep]] = traj.event_time_hours[keep]
        twin_deaths = int(twin.trajectories(("death",)).event_patient.size)
        news_total, news_red = traj.total, traj.any_single_3
        reached = np.zeros(arrival.size, dtype=bool)
        for p, visits in recorder.visits.items():
            reached[p] = icu_unit is not None and any(v.unit == icu_unit for v in visits)
    run = run_by_day(model, draws, counts, changes)
    if first is not None:
        again = (run.discharged, run.died, run.in_hospital)
        before = tuple(int(first[f"patients.{k}"]) for k in ("discharged", "died", "in_system"))
        if again != before:
            raise SolverError(
                f"replaying the twin course changed the run ({before} -> {again} discharged, "
                "died, in hospital); the engine's course hook and this replay disagree"
            )
    stays = _stays(model, draws, icu_unit, deteriorated, news_total, news_red, twin_deaths)
    if reached is not None:
        stays = replace(stays, visited_icu=reached)
    return run, replace(stays, deterioration_hours=det_hours, triaged=triaged, needed_icu=needed)


def _icu_need(twin: TwinCourse, n: int) -> np.ndarray:
    """Whether each of patients ``0..n-1``'s twin deteriorates (its ICU need), ``(n,)``.

    Read from the twins already simulated for the routes (:func:`_twin_routes` asks every
    patient's prognosis first), so no random stream is drawn from and the run is unchanged.
    """
    return np.array([math.isfinite(twin.prognosis(p)[0]) for p in range(n)], dtype=bool)


def _triaged(draws: PatientDraws, triaged: np.ndarray, icu: int) -> PatientDraws:
    """The draws with the triaged patients' first visit in the ICU unit ``icu``."""
    path = np.asarray(draws.path, dtype=np.int64).reshape(draws.n, draws.visits + 1).copy()
    path[np.asarray(triaged, dtype=bool), 0] = icu
    return replace(draws, path=path.ravel().tolist())


def _escalates(
    model: CompiledModel, draws: PatientDraws, icu: int, twins: TwinCourseSettings
) -> bool:
    """Whether twins that deteriorate in the entry unit can be sent to the ICU unit."""
    if icu < 0 or draws.n == 0:
        return False
    entry = int(draws.path[0])
    kind = model.config.units[model.names[entry]].kind
    if kind == "icu" or kind not in twins.twin_kinds:
        return False
    dest, cum = _row(model, entry, int(draws.priority[0]))
    probs = np.diff(cum, prepend=0.0)
    return bool(((dest == icu) & (probs > 0)).any())


def _row(model: CompiledModel, unit: int, priority: int) -> tuple[np.ndarray, np.ndarray]:
    return model.routes.get((unit, priority)) or model.routes[(unit, 0)]


def _twin_routes(
    model: CompiledModel, draws: PatientDraws, twin: TwinCourse, icu: int
) -> PatientDraws:
    """Routes set by each twin's prognosis (see the module docstring), as routing draws.

    ``icu`` is the ICU unit's index when deteriorations escalate to it, else -1. Each
    visit's ``route_uniform`` becomes the middle of the chosen destination's interval in
    the unit's cumulative pathway row, so the engine's own routing picks it.
    """
    n, k_max = draws.n, draws.visits
    uniforms = np.array(draws.route_uniform, dtype=float, copy=True)
    path = np.asarray(draws.path, dtype=np.int64).reshape(n, k_max + 1).copy()
    kinds = [model.config.units[name].kind for name in model.names]
    twin_kinds = twin.settings.twin_kinds
    avoid = _avoided_unit(icu, kinds)
    for p in range(n):
        det, death, _ = twin.prognosis(p)
        prio = int(draws.priority[p])
        unit = int(path[p, 0])
        for k in range(k_max):
            dest, cum = _row(model, unit, prio)
            probs = np.diff(cum, prepend=0.0)
            u = float(uniforms[p, k])
            if kinds[unit] not in twin_kinds:
                nxt = model.next_unit(unit, prio, u)
            elif k == 0 and icu not in (-1, unit) and math.isfinite(det):
                nxt = icu
            elif math.isfinite(death):
                nxt = DEATH  # the twin dies in this unit; the course ends the stay so
            elif kinds[unit] == "icu" and model.step_down_unit not in (-1, unit):
                nxt = model.step_down_unit
            else:
                allowed = (probs > 0) & (dest != DEATH) & (dest != avoid)
                if not allowed.any():
                    allowed = probs > 0
                share = np.where(allowed, probs, 0.0)
                pick = int(np.searchsorted(np.cumsum(share) / share.sum(), u, side="right"))
                nxt = int(dest[min(pick, dest.size - 1)])
            hit = np.flatnonzero((dest == nxt) & (probs > 0))
            if hit.size:
                i = int(hit[0])
                uniforms[p, k] = (cum[i] - 0.5 * probs[i]) if i else 0.5 * cum[0]
            path[p, k + 1] = nxt if k + 1 < k_max or nxt < 0 else -1
            if nxt < 0:
                path[p, k + 2 :] = nxt
                break
            unit = nxt
    return replace(draws, route_uniform=uniforms, path=path.ravel().tolist())


def _avoided_unit(icu: int, kinds: Sequence[str]) -> int:
    """The unit resolved twins avoid: the escalation ICU, else any unit of kind ``icu``."""
    if icu >= 0:
        return icu
    return next((u for u, kind in enumerate(kinds) if kind == "icu"), -99)


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
        died=(path == DEATH).any(axis=1),
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
