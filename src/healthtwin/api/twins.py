"""Patient twins over HTTP: create, feed readings, ask for state, forecasts, what-ifs, advice.

Routes under ``/api/v1`` (JSON in and out; errors are RFC 9457 problem details):

- ``POST /twins``: a glucose twin from a FHIR Patient in the store (``patient_id``; its
  stored CGM readings are assimilated) or from parameters alone (``profile``, a virtual
  patient); ``GET /twins`` lists them.
- ``POST /twins/{id}/observations``: one reading (``{"t_min": 5, "glucose_mg_dl": 140}``
  or ``"time"`` as ISO 8601) or a batch (``{"observations": [...]}``); each is
  assimilated and stored as an Observation row (LOINC 99504-3) under the twin's patient.
- ``POST /twins/{id}/events``: a meal or bolus that was given (``t_min``, ``meal_g``,
  ``bolus_u``), so the twin stops treating its effect as unexplained.
- ``GET /twins/{id}`` (or ``/state``), ``GET /twins/{id}/forecast`` (quantiles),
  ``POST /twins/{id}/what-if`` (plans compared under common random numbers).
- ``POST /twins/{id}/recommendations``: a meal-bolus recommendation
  (:func:`healthtwin.control.recommend.recommend`) proposed through ``store.oversight()``;
  ``POST /recommendations/{rid}/accept`` or ``/override`` records the clinician's
  decision, and the accepted or overriding plan is applied to the twin that proposed it
  (the recommendation's value records it as ``twin``, a ``Device`` reference; a patient
  may have several twins). A proposal without a plan (``plan: null``: no feasible bolus)
  cannot be accepted (``409``); it can be overridden.
- ``POST /twins/{id}/vitals``: one vital-signs set (respiration rate, SpO2 and its scale,
  supplemental oxygen, temperature, systolic BP, heart rate, ACVPU consciousness) or a
  batch (``{"observations": [...]}``); each set is scored (NEWS2) and stored as
  Observations (LOINC codes, see :mod:`healthtwin.scenarios.patient_vitals`); a value out
  of range is a ``400`` problem whose ``errors[]`` name the field (pointer), the value and
  the allowed range.
  ``GET /twins/{id}/vitals`` lists the sets with their NEWS2; the state's ``vitals`` holds
  the latest set, its NEWS2 (total, sub-scores, clinical response) and the NEWS2 trend.
  A twin made for a stored Patient starts with the complete vital-signs sets on file
  since its start (as it starts with the stored CGM readings).
- ``GET /twins/{id}/stream``: server-sent events, one ``reading`` event per new reading
  with the updated forecast median, and one ``vitals`` event per new vital-signs set
  with its NEWS2, for live views.

The twin's logic lives in :mod:`healthtwin.scenarios.patient_session`; this module only
adapts HTTP requests to it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, Tag

from healthtwin.api.education import RECORD_PREFIX as EDUCATION_PREFIX
from healthtwin.api.jobs import RESULT_PREFIX
from healthtwin.api.openapi_doc import BATCH, SINGLE, problems, single_or_batch
from healthtwin.api.schemas import success
from healthtwin.api.schemas.twins import (
    ForecastBody,
    News2Body,
    ObservationsAdded,
    RecommendationBody,
    RecommendationList,
    TwinEventAdded,
    TwinList,
    TwinState,
    VitalsAdded,
    VitalsList,
    WhatIfBody,
)
from healthtwin.api.twin_sessions import (
    CGM_GLUCOSE,
    MAX_GAP_MIN,
    MODEL,
    MODEL_VERSION,
    GlucoseReading,
    PatientTwinSession,
    TwinRegistry,
)
from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.governance.oversight import Recommendation
from healthtwin.scenarios.alarm_board import ALARM_BOARD_KEY
from healthtwin.scenarios.hospital_twins import HOSPITAL_INDEX, HOSPITAL_PREFIX
from healthtwin.scenarios.patient_vitals import (
    MEASURED_RANGES,
    VitalSigns,
    latest_news2,
    stored_vital_signs,
    vital_signs_from_rows,
)
from healthtwin.store import Store

__all__ = [
    "RECOMMENDER",
    "ObservationBatch",
    "ObservationIn",
    "OverrideValue",
    "TwinCreate",
    "VitalsBatch",
    "VitalsIn",
    "ingest",
    "load_stored_vitals",
    "record_vitals",
    "restore",
    "restorer",
    "snapshot",
    "twins_router",
]

twins_router = APIRouter(prefix="/api/v1", tags=["twins"])
#: Who proposes the twin's recommendations (the oversight record's ``proposed_by``).
RECOMMENDER = "Device/healthtwin-bolus-advisor"
_ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
_STRICT = ConfigDict(extra="forbid")


class TwinCreate(BaseModel):
    """A new patient twin."""

    model_config = _STRICT
    twin_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    patient_id: str | None = Field(
        default=None, pattern=_ID_PATTERN, description="A FHIR Patient id in the store."
    )
    profile: str = Field(
        default="nominal-adult",
        description="Virtual patient of the prior (nominal-adult, adult#001...).",
    )
    members: int = Field(default=32, ge=8, le=128)
    seed: int = Field(default=0, ge=0)
    start: datetime | None = Field(
        default=None,
        description="UTC time of t_min = 0; default: the patient's first stored CGM reading "
        "(so its whole stored history is assimilated), or now when there is none.",
    )
    sensor_sd_mg_dl: float = Field(default=8.0, gt=0, le=100)


class ObservationIn(BaseModel):
    """One CGM reading: ``t_min`` (minutes after the twin's start) or ``time`` (ISO 8601)."""

    model_config = _STRICT
    t_min: float | None = Field(default=None, ge=0)
    time: datetime | None = None
    glucose_mg_dl: float = Field(ge=10, le=1000)


class ObservationBatch(BaseModel):
    """Several readings at once (applied in time order)."""

    model_config = _STRICT
    observations: list[ObservationIn] = Field(min_length=1, max_length=2000)


def _measured(name: str, description: str) -> Any:
    """A measured vital sign: its range documented here, checked in the scenarios layer.

    The check is not pydantic's, so that a value out of range is answered with the field,
    the value and the range together (one ``400`` error per bad field).
    """
    low, high, inclusive, unit = MEASURED_RANGES[name]
    bound: dict[str, Any] = {"minimum" if inclusive else "exclusiveMinimum": low, "maximum": high}
    interval = f"{'[' if inclusive else '('}{low:g}, {high:g}] {unit}"
    return Field(description=f"{description}; allowed {interval}.", json_schema_extra=bound)


class VitalsIn(BaseModel):
    """One vital-signs set (NEWS2 chart): ``t_min`` or ``time``, and every measurement."""

    model_config = _STRICT
    t_min: float | None = Field(default=None, ge=0)
    time: datetime | None = None
    respiratory_rate_per_min: float = _measured("respiratory_rate_per_min", "Breaths per min")
    spo2_percent: float = _measured("spo2_percent", "SpO2 by pulse oximetry (%)")
    spo2_scale: int = Field(
        default=1,
        description="NEWS2 SpO2 scale: 1, or 2 for hypercapnic respiratory failure "
        "(prescribed target 88-92 %).",
        json_schema_extra={"enum": [1, 2]},
    )
    on_oxygen: bool = Field(default=False, description="Supplemental oxygen (else air).")
    temperature_c: float = _measured("temperature_c", "Body temperature (degrees C)")
    systolic_bp_mm_hg: float = _measured("systolic_bp_mm_hg", "Systolic blood pressure (mmHg)")
    heart_rate_per_min: float = _measured("heart_rate_per_min", "Heart rate (beats per min)")
    consciousness: str = Field(
        max_length=20,
        description="ACVPU: A (alert), C (new confusion), V (voice), P (pain), "
        "U (unresponsive); a word is accepted too.",
    )


class VitalsBatch(BaseModel):
    """Several vital-signs sets at once."""

    model_config = _STRICT
    observations: list[VitalsIn] = Field(min_length=1, max_length=2000)


class PlanIn(BaseModel):
    """A plan given now: carbohydrates eaten and insulin bolus."""

    model_config = _STRICT
    meal_g: float = Field(default=0.0, ge=0, le=300)
    bolus_u: float = Field(default=0.0, ge=0, le=30)


class EventIn(PlanIn):
    """A meal and/or bolus that happened (minutes after the twin's start)."""

    t_min: float = Field(ge=0)


class WhatIfIn(BaseModel):
    """Plans to compare (common random numbers)."""

    model_config = _STRICT
    plans: dict[str, PlanIn] = Field(min_length=1, max_length=6)
    horizon_min: float = Field(default=240.0, gt=0, le=720)
    dt_min: float = Field(default=5.0, ge=1, le=60)


class RecommendIn(BaseModel):
    """Ask for a meal bolus."""

    model_config = _STRICT
    meal_g: float = Field(default=60.0, ge=0, le=300)
    boluses: list[Annotated[float, Field(ge=0, le=30)]] | None = Field(default=None, max_length=6)
    horizon_min: float = Field(default=360.0, gt=0, le=720)
    max_tbr_percent: float = Field(default=4.0, ge=0, le=100)


class OverrideValue(PlanIn):
    """What a clinician gives instead: the bounds of :class:`PlanIn`, and when (optional)."""

    t_min: float | None = Field(default=None, ge=0, description="Minutes after the start.")


class DecisionIn(BaseModel):
    """A clinician's decision on a recommendation (an override needs reason and value).

    ``value`` is checked against the bounds of :class:`PlanIn` (``meal_g`` 0-300 g,
    ``bolus_u`` 0-30 U) before anything is recorded: a value out of bounds is a ``400``
    problem naming the field, and the recommendation stays as it was.
    """

    model_config = _STRICT
    reason: str | None = Field(default=None, max_length=2000)
    value: OverrideValue | None = None


def _registry(request: Request) -> TwinRegistry:
    registry: TwinRegistry = request.app.state.twins
    return registry


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _actor(request: Request) -> str:
    return (request.headers.get("x-actor") or "anonymous").strip()[:255] or "anonymous"


def ingest(store: Store, session: PatientTwinSession, readings: list[GlucoseReading]) -> int:
    """Assimilate ``readings`` and store them (with a state snapshot) under the twin's lock.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("d1", members=8)
    ...     ingest(store, s, [GlucoseReading(5.0, 150.0)]), len(store.observations("d1"))
    (1, 1)
    """
    with session.lock:
        records = session.assimilate(readings)
        store.add_observations(records)
        snapshot(store, session)
    return len(records)


def snapshot(store: Store, session: PatientTwinSession) -> None:
    """Save the twin's state with what re-creates it after a restart (:func:`restore`).

    The metadata hold the twin's definition (:meth:`PatientTwinSession.definition`) and
    its events (meals and boluses given); readings and vital signs are on file already.
    """
    with session.lock:
        state = session.twin.state
        definition = session.definition()
        store.save_twin_state(
            session.twin_id,
            model=MODEL,
            model_version=MODEL_VERSION,
            valid_time=session.when(session.twin.t),
            arrays={"x": state.x, "theta": state.theta},
            metadata={
                "patient_id": session.patient_id,
                "n_readings": len(session.readings),
                "definition": {**definition, "start": session.start.isoformat()},
                "events": [dict(e) for e in session.events],
            },
        )


def restore(store: Store, twin_id: str) -> PatientTwinSession | None:
    """Re-create twin ``twin_id`` from the store (after a restart); ``None`` if not on file.

    The twin is made again from its saved definition, given its logged meals and boluses,
    and corrected with its patient's CGM readings since its start, then given the
    vital-signs sets on file: the state it had, up to the ensemble's random draws, which
    are seeded. (A patient with several twins gives each all its readings since its start.)

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("d4", members=8)
    ...     _ = ingest(store, s, [GlucoseReading(5.0, 150.0), GlucoseReading(10.0, 160.0)])
    ...     again = restore(store, "d4")
    ...     missing = restore(store, "nobody")
    >>> again.twin.t, len(again.readings), bool(again.twin.state.x.sum() == s.twin.state.x.sum())
    (10.0, 2, True)
    >>> missing is None
    True
    """
    kept = _definitions(store, twin_id)
    if not kept:
        return None
    latest = kept[-1]
    definition = dict(latest["definition"])
    definition["start"] = datetime.fromisoformat(definition["start"])
    session = PatientTwinSession.create(**definition)
    for event in latest.get("events", []):
        session.apply_plan(
            float(event["t_min"]),
            float(event["meal_g"]),
            float(event["bolus_u"]),
            str(event.get("source", "")),
        )
    found = store.observations(session.patient_id, CGM_GLUCOSE, start=session.start)
    readings = [
        GlucoseReading(session.minutes(o.effective), o.value) for o in found if o.value is not None
    ]
    if readings:
        session.assimilate(readings)
    load_stored_vitals(store, session)
    return session


def _definitions(store: Store, twin_id: str) -> list[dict[str, Any]]:
    """The metadata of the twin's snapshots that define it, oldest recorded first."""
    try:
        history = store.twin_state_history(twin_id)
    except NotFoundError:
        return []
    kept = sorted((h for h in history if "definition" in h.metadata), key=lambda h: h.recorded_time)
    return [dict(h.metadata) for h in kept]


def restorer(store: Store) -> Callable[[str], PatientTwinSession | None]:
    """:func:`restore` over ``store``, for :class:`~healthtwin.api.twin_sessions.TwinRegistry`."""

    def restore_from_store(twin_id: str) -> PatientTwinSession | None:
        return restore(store, twin_id)

    return restore_from_store


def load_stored_vitals(store: Store, session: PatientTwinSession) -> int:
    """Give ``session`` its patient's complete vital-signs sets on file since its start.

    They are scored (NEWS2) and kept like posted sets, but not stored again; a set more
    than :data:`MAX_GAP_MIN` ahead of the twin is left out. Answers how many were taken.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> v = VitalSigns(5.0, respiratory_rate_per_min=22, spo2_percent=95, systolic_bp_mm_hg=105,
    ...                heart_rate_per_min=96, temperature_c=38.3, consciousness="A")
    >>> with open_store("sqlite://") as store:
    ...     first = PatientTwinSession.create("d3", members=8)
    ...     _ = record_vitals(store, first, [v])
    ...     again = PatientTwinSession.create("d3", members=8, start=first.start)
    ...     taken, stored = load_stored_vitals(store, again), len(store.observations("d3"))
    >>> taken, again.news2[-1]["total"], stored
    (1, 6, 8)
    """
    with session.lock:
        limit = session.twin.t + MAX_GAP_MIN
        found = stored_vital_signs(store, session.patient_id, session.minutes, since=session.start)
        sets = [v for v in found if v.t_min <= limit]
        if sets:
            session.record_vitals(sets)  # the records are on file already
    return len(sets)


@twins_router.post(
    "/twins",
    status_code=201,
    responses={**success(201, TwinState, "The twin created, as it stands."), **problems(404, 409)},
)
def create_twin(request: Request, body: TwinCreate, response: Response) -> dict[str, Any]:
    """Create a patient twin (from a stored FHIR Patient, or from parameters)."""
    store = _store(request)
    reserved = {
        RESULT_PREFIX: "job results",
        EDUCATION_PREFIX: "training sessions",
        HOSPITAL_PREFIX: "hospital twins",
        HOSPITAL_INDEX: "the hospital twins' index",
        ALARM_BOARD_KEY: "the alarm board",
    }
    for prefix, kept_for in reserved.items():
        if body.twin_id is not None and body.twin_id.startswith(prefix):
            raise InvalidInputError(
                f"twin ids may not start with {prefix!r} (kept for {kept_for}); "
                f"got {body.twin_id!r}"
            )
    start = body.start
    if body.patient_id is not None:
        store.read("Patient", body.patient_id)  # NotFoundError -> 404
        if start is None:
            first = store.observations(body.patient_id, CGM_GLUCOSE, limit=1)
            start = first[0].effective if first else None
    twin_id = body.twin_id or f"twin-{uuid.uuid4().hex[:12]}"
    if _definitions(store, twin_id):
        # A twin of an earlier run of the service (it is re-created on first use).
        raise ConflictError(f"twin {twin_id!r} already exists; choose another id or omit it")
    session = PatientTwinSession.create(
        twin_id,
        patient_id=body.patient_id,
        profile=body.profile,
        members=body.members,
        seed=body.seed,
        start=start,
        sensor_sd_mg_dl=body.sensor_sd_mg_dl,
    )
    if body.patient_id is not None:
        found = store.observations(body.patient_id, CGM_GLUCOSE, start=session.start)
        stored = [
            GlucoseReading(session.minutes(o.effective), o.value)
            for o in found
            if o.value is not None
        ]
        if stored:
            session.assimilate(stored)
        load_stored_vitals(store, session)
    _registry(request).add(session)
    snapshot(store, session)
    response.headers["Location"] = f"/api/v1/twins/{twin_id}"
    return session.state()


@twins_router.get(
    "/twins",
    responses={**success(200, TwinList, "The live twins the caller may read.")},
)
def list_twins(request: Request) -> dict[str, Any]:
    """The twins the caller may read (id, patient, readings, time), by id.

    The twins in memory and those kept in the store by an earlier run of the service (not
    re-created until used: their row is their latest snapshot's). Under governance a twin
    is listed only if reading it would be allowed (the same decision as
    ``GET /twins/{id}``: purpose, policy, the patient's consents).
    """
    may_read: Callable[[str], bool] = getattr(request.state, "may_read_patient", _anyone)
    live = {s.twin_id: _twin_row(s) for s in _registry(request).sessions()}
    rows = live | {r["twin_id"]: r for r in kept_twin_rows(_store(request), skip=live)}
    return {"twins": [rows[k] for k in sorted(rows) if may_read(rows[k]["patient_id"])]}


def _twin_row(session: PatientTwinSession) -> dict[str, Any]:
    return {
        "twin_id": session.twin_id,
        "patient_id": session.patient_id,
        "profile": session.profile,
        "n_readings": len(session.readings),
        "t_min": session.twin.t,
    }


#: Twin-state ids that are not patient twins (jobs, training sessions, hospitals, alarms).
_NOT_PATIENT_TWINS = (
    RESULT_PREFIX,
    EDUCATION_PREFIX,
    HOSPITAL_PREFIX,
    HOSPITAL_INDEX,
    ALARM_BOARD_KEY,
)
#: A time after every valid time: a twin's latest snapshot is the one valid "as of" it.
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def kept_twin_rows(store: Store, *, skip: Container[str] = ()) -> list[dict[str, Any]]:
    """The list rows of the patient twins kept in ``store`` (ids in ``skip`` left out), by id.

    Each row is read from the twin's latest snapshot (:func:`snapshot`), without
    re-creating the twin.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("k1", members=8)
    ...     _ = ingest(store, s, [GlucoseReading(5.0, 150.0), GlucoseReading(10.0, 155.0)])
    ...     rows, skipped = kept_twin_rows(store), kept_twin_rows(store, skip={"k1"})
    >>> rows == [_twin_row(s)], skipped
    (True, [])
    """
    rows = []
    for twin_id in store.twin_state_ids():
        if twin_id in skip or twin_id.startswith(_NOT_PATIENT_TWINS):
            continue
        latest = store.twin_state_as_of(twin_id, _END_OF_TIME)
        meta = latest.metadata
        definition = meta.get("definition")
        if latest.model != MODEL or not isinstance(definition, dict):
            continue
        start = datetime.fromisoformat(definition["start"])
        rows.append(
            {
                "twin_id": twin_id,
                "patient_id": str(meta["patient_id"]),
                "profile": str(definition["profile"]),
                "n_readings": int(meta["n_readings"]),
                "t_min": (latest.valid_time - start).total_seconds() / 60.0,
            }
        )
    return rows


def _anyone(patient_id: str) -> bool:
    return True


@twins_router.post(
    "/twins/{twin_id}/observations",
    status_code=201,
    responses={**success(201, ObservationsAdded, "Readings assimilated and stored.")},
)
def post_observations(
    request: Request,
    twin_id: str,
    body: Annotated[
        Annotated[ObservationBatch, Tag(BATCH)] | Annotated[ObservationIn, Tag(SINGLE)],
        single_or_batch("observations"),
    ],
) -> dict[str, Any]:
    """Assimilate one reading or a batch, store them, and answer the new state summary."""
    session = _registry(request).get(twin_id)
    items = body.observations if isinstance(body, ObservationBatch) else [body]
    readings = [_reading(session, item) for item in items]
    added = ingest(_store(request), session, readings)
    with session.lock:
        return {
            "twin_id": twin_id,
            "added": added,
            "n_readings": len(session.readings),
            "t_min": session.twin.t,
            "version": session.version,
        }


def _reading(session: PatientTwinSession, item: ObservationIn) -> GlucoseReading:
    return GlucoseReading(_t_min(session, item.t_min, item.time, "reading"), item.glucose_mg_dl)


def _t_min(
    session: PatientTwinSession, t_min: float | None, when: datetime | None, what: str
) -> float:
    if t_min is not None and when is None:
        return t_min
    if when is not None and t_min is None:
        return session.minutes(when)
    raise InvalidInputError(
        f"give each {what} exactly one of t_min (minutes after the twin's start) or "
        "time (ISO 8601 with timezone)"
    )


@twins_router.post(
    "/twins/{twin_id}/events",
    status_code=201,
    responses={**success(201, TwinEventAdded, "The meal or bolus logged.")},
)
def post_event(request: Request, twin_id: str, body: EventIn) -> dict[str, Any]:
    """Log a meal and/or bolus that was given; later forecasts and readings account for it."""
    session = _registry(request).get(twin_id)
    session.apply_plan(body.t_min, body.meal_g, body.bolus_u, f"logged by {_actor(request)}")
    snapshot(_store(request), session)
    return {"twin_id": twin_id, "events": len(session.events), "version": session.version}


@twins_router.get(
    "/twins/{twin_id}",
    responses={**success(200, TwinState, "The twin now.")},
)
@twins_router.get(
    "/twins/{twin_id}/state",
    responses={**success(200, TwinState, "The twin now.")},
)
def get_state(request: Request, twin_id: str) -> dict[str, Any]:
    """The twin now: glucose quantiles, parameter estimates, readings and events."""
    return _registry(request).get(twin_id).state()


@twins_router.get(
    "/twins/{twin_id}/forecast",
    responses={**success(200, ForecastBody, "The glucose forecast.")},
)
def get_forecast(
    request: Request,
    twin_id: str,
    horizon_min: Annotated[float, Query(gt=0, le=720)] = 120.0,
    dt_min: Annotated[float, Query(ge=1, le=60)] = 5.0,
    quantiles: Annotated[str, Query(max_length=200)] = "0.05,0.25,0.5,0.75,0.95",
) -> dict[str, Any]:
    """Glucose forecast with quantile bands (standing inputs: basal and accepted plans)."""
    try:
        levels = [float(q) for q in quantiles.split(",") if q.strip()]
    except ValueError as err:
        raise InvalidInputError(
            f"quantiles must be numbers in (0, 1) separated by commas, got {quantiles!r}"
        ) from err
    key = getattr(request.app.state, "provenance_key", None)
    return _registry(request).get(twin_id).forecast(horizon_min, dt_min, levels, key=key)


@twins_router.post(
    "/twins/{twin_id}/what-if",
    responses={**success(200, WhatIfBody, "Forecasts under each plan.")},
)
def what_if(request: Request, twin_id: str, body: WhatIfIn) -> dict[str, Any]:
    """Forecasts under each plan with common random numbers and their time in range."""
    plans = {name: (p.meal_g, p.bolus_u) for name, p in body.plans.items()}
    return _registry(request).get(twin_id).what_if(plans, body.horizon_min, body.dt_min)


@twins_router.post(
    "/twins/{twin_id}/recommendations",
    status_code=201,
    responses={**success(201, RecommendationBody, "The recommendation proposed.")},
)
def propose_recommendation(request: Request, twin_id: str, body: RecommendIn) -> dict[str, Any]:
    """Recommend a meal bolus and record it as a proposal awaiting a clinician."""
    session = _registry(request).get(twin_id)
    advice, named = session.recommend_bolus(
        body.meal_g,
        body.boluses,
        horizon_min=body.horizon_min,
        max_tbr_percent=body.max_tbr_percent,
    )
    if advice.chosen is None:
        value: dict[str, Any] = {"plan": None, "status": advice.status}
    else:
        meal, bolus = named[advice.chosen]
        value = {"plan": advice.chosen, "meal_g": meal, "bolus_u": bolus, "t_min": session.twin.t}
    # The proposing twin (a patient may have several): decisions are applied to it.
    value["twin"] = f"Device/{twin_id}"
    value["explanation"] = advice.explain()
    value["assessments"] = [
        {
            "plan": a.plan,
            "time_in_range_percent": a.objective.mean,
            "feasible": a.feasible,
            "constraints": a.constraint_probability,
        }
        for a in advice.assessments
    ]
    made = (
        _store(request)
        .oversight()
        .propose(
            f"rec-{uuid.uuid4().hex[:16]}",
            model=MODEL,
            model_version=MODEL_VERSION,
            value=json.loads(json.dumps(value, default=float)),
            proposed_by=RECOMMENDER,
            patient=f"Patient/{session.patient_id}",
        )
    )
    return _recommendation(made)


@twins_router.get(
    "/twins/{twin_id}/recommendations",
    responses={**success(200, RecommendationList, "The twin's recommendations.")},
)
def list_recommendations(request: Request, twin_id: str) -> dict[str, Any]:
    """The twin's recommendations, oldest first, with their status.

    Only those the twin proposed (its patient's other twins have their own).
    """
    session = _registry(request).get(twin_id)
    board = _store(request).oversight()
    found = board.recommendations(patient=f"Patient/{session.patient_id}")
    return {
        "recommendations": [_recommendation(r) for r in found if _proposer(r) in (twin_id, None)]
    }


@twins_router.get(
    "/recommendations/{recommendation_id}",
    responses={**success(200, RecommendationBody, "The recommendation.")},
)
def get_recommendation(request: Request, recommendation_id: str) -> dict[str, Any]:
    """One recommendation as it stands."""
    return _recommendation(_store(request).oversight().recommendation(recommendation_id))


@twins_router.post(
    "/recommendations/{recommendation_id}/accept",
    responses={
        **success(200, RecommendationBody, "The recommendation, accepted."),
        **problems(409),
    },
)
def accept_recommendation(
    request: Request, recommendation_id: str, body: DecisionIn | None = None
) -> dict[str, Any]:
    """Accept as proposed; the plan is applied to the twin that proposed it.

    A proposal without a plan (no feasible bolus) is a ``409``: override it instead.
    """
    board = _store(request).oversight()
    proposed = board.recommendation(recommendation_id)
    if proposed.status == "proposed" and proposed.value.get("plan") is None:
        raise ConflictError(
            f"recommendation {recommendation_id!r} proposes no plan "
            f"(status {proposed.value.get('status')!r}): there is nothing to accept; "
            "override it with a value ({'bolus_u': ...}) and a reason instead"
        )
    decided = board.accept(
        recommendation_id, actor=_actor(request), reason=body.reason if body else None
    )
    _apply(request, decided, decided.value)
    return _recommendation(decided)


@twins_router.post(
    "/recommendations/{recommendation_id}/override",
    responses={
        **success(200, RecommendationBody, "The recommendation, overridden."),
        **problems(409),
    },
)
def override_recommendation(
    request: Request, recommendation_id: str, body: DecisionIn
) -> dict[str, Any]:
    """Replace the proposal with ``value`` (``meal_g``, ``bolus_u``), saying why."""
    if not body.reason or body.value is None:
        raise InvalidInputError("an override needs a reason and a value ({'bolus_u': ...})")
    # Only the fields the clinician gave are recorded (the bounds were checked on parsing).
    value = body.value.model_dump(exclude_unset=True)
    if not value:
        raise InvalidInputError(
            "an override value needs meal_g (0-300 g) and/or bolus_u (0-30 U), got {}"
        )
    decided = (
        _store(request)
        .oversight()
        .override(recommendation_id, actor=_actor(request), reason=body.reason, value=value)
    )
    _apply(request, decided, {**decided.value, **value})
    return _recommendation(decided)


def _proposer(r: Recommendation) -> str | None:
    """The id of the twin that proposed ``r`` (``None`` for a record without one)."""
    twin = r.value.get("twin")
    return twin.removeprefix("Device/") if isinstance(twin, str) else None


def _apply(request: Request, decided: Recommendation, value: dict[str, Any]) -> None:
    """Apply the decided plan to the twin that proposed it (if it is live).

    A record without its twin (made before twins were recorded) is applied only when its
    patient has exactly one twin: with several, which one proposed it is unknown.
    """
    if value.get("bolus_u") is None:
        return
    registry = _registry(request)
    twin_id = _proposer(decided)
    if twin_id is None:
        patient = (decided.patient or "").removeprefix("Patient/")
        owned = [s for s in registry.sessions() if s.patient_id == patient]
        if len(owned) != 1:
            return
        session = owned[0]
    else:
        try:
            session = registry.get(twin_id)
        except NotFoundError:
            return
    t_min = float(value.get("t_min", session.twin.t))
    session.apply_plan(
        max(t_min, 0.0),
        float(value.get("meal_g", 0.0)),
        float(value["bolus_u"]),
        f"GuidanceResponse/{decided.id} ({decided.status})",
    )
    snapshot(_store(request), session)


def _recommendation(r: Recommendation) -> dict[str, Any]:
    return {
        "id": r.id,
        "twin_id": _proposer(r),
        "patient": r.patient,
        "model": r.model,
        "model_version": r.model_version,
        "status": r.status,
        "value": r.value,
        "proposed_by": r.proposed_by,
        "proposed_time": r.proposed_time.isoformat(),
        "decided_by": r.decided_by,
        "decided_time": r.decided_time.isoformat() if r.decided_time else None,
        "reason": r.reason,
        "override_value": r.override_value,
    }


def record_vitals(store: Store, session: PatientTwinSession, sets: list[VitalSigns]) -> int:
    """Score and keep ``sets`` and store them as Observations, under the twin's lock.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> v = VitalSigns(5.0, respiratory_rate_per_min=18, spo2_percent=97, systolic_bp_mm_hg=120,
    ...                heart_rate_per_min=80, temperature_c=37.0, consciousness="A")
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("d2", members=8)
    ...     record_vitals(store, s, [v]), len(store.observations("d2"))
    (1, 8)
    """
    with session.lock:
        store.add_observations(session.record_vitals(sets))
    return len(sets)


@twins_router.post(
    "/twins/{twin_id}/vitals",
    status_code=201,
    responses={**success(201, VitalsAdded, "Sets scored and stored; the latest NEWS2.")},
)
def post_vitals(
    request: Request,
    twin_id: str,
    body: Annotated[
        Annotated[VitalsBatch, Tag(BATCH)] | Annotated[VitalsIn, Tag(SINGLE)],
        single_or_batch("observations"),
    ],
) -> dict[str, Any]:
    """Score and store one vital-signs set or a batch; answer the latest NEWS2."""
    session = _registry(request).get(twin_id)
    items = body.observations if isinstance(body, VitalsBatch) else [body]
    paths = (
        [f"body.observations.{i}" for i in range(len(items))]
        if isinstance(body, VitalsBatch)
        else ["body"]
    )
    rows = [_vitals_row(session, item) for item in items]
    added = record_vitals(_store(request), session, vital_signs_from_rows(rows, paths=paths))
    with session.lock:
        latest = session.vitals_state()
        return {
            "twin_id": twin_id,
            "added": added,
            "n_sets": len(session.vitals),
            "version": session.version,
            "news2": None if latest is None else latest["news2"],
        }


def _vitals_row(session: PatientTwinSession, item: VitalsIn) -> dict[str, Any]:
    row = item.model_dump(exclude={"time"})
    row["t_min"] = _t_min(session, item.t_min, item.time, "vital-signs set")
    return row


@twins_router.get(
    "/twins/{twin_id}/vitals",
    responses={**success(200, VitalsList, "Every vital-signs set with its NEWS2.")},
)
def get_vitals(request: Request, twin_id: str) -> dict[str, Any]:
    """Every vital-signs set posted to the twin, in time order, each with its NEWS2."""
    session = _registry(request).get(twin_id)
    with session.lock:
        pairs = sorted(zip(session.vitals, session.news2, strict=True), key=lambda p: p[0].t_min)
        return {
            "twin_id": twin_id,
            "vitals": [
                {**v.as_dict(), "time": session.when(v.t_min).isoformat(), "news2": n}
                for v, n in pairs
            ],
        }


@twins_router.get(
    "/twins/{twin_id}/news2",
    responses={**success(200, News2Body, "NEWS2 of the latest stored vital signs.")},
)
def get_news2(request: Request, twin_id: str) -> dict[str, Any]:
    """NEWS2 from the patient's latest vital signs, when they are on file."""
    session = _registry(request).get(twin_id)
    return latest_news2(_store(request), session.patient_id)


_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["hello", "reading", "vitals"]},
        "data": {
            "type": "string",
            "description": "JSON: the twin and its new readings and forecast (reading), or "
            "one new vital-signs set with its NEWS2 (vitals).",
        },
    },
    "required": ["event", "data"],
}


class EventStreamResponse(StreamingResponse):
    """A server-sent events stream (declared ``text/event-stream`` in the OpenAPI document)."""

    media_type = "text/event-stream"


@twins_router.get(
    "/twins/{twin_id}/stream",
    response_class=EventStreamResponse,
    responses={
        200: {
            "description": "Server-sent events: ``hello``, then ``reading`` per new reading "
            "and ``vitals`` per new vital-signs set.",
            # Each event's fields, as OpenAPI 3.2 describes event streams.
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        }
    },
)
async def stream(
    request: Request,
    twin_id: str,
    max_s: Annotated[float, Query(gt=0, le=3600)] = 600.0,
    poll_s: Annotated[float, Query(ge=0.05, le=10)] = 0.25,
) -> EventStreamResponse:
    """Server-sent events: ``reading`` per new reading (with the forecast median) and
    ``vitals`` per new vital-signs set (with its NEWS2)."""
    # The twin's lock (held while a reading is assimilated and saved) and its re-creation
    # after a restart are waited for in worker threads, never on the event loop, so one
    # stream cannot hold up the server's other requests.
    session = await asyncio.to_thread(_registry(request).get, twin_id)
    stopping: threading.Event = request.app.state.stopping

    async def events() -> AsyncIterator[str]:
        cursor = await asyncio.to_thread(_StreamCursor.at, session)
        deadline = time.monotonic() + max_s
        hello = {"twin_id": twin_id, "n_readings": cursor.seen, "n_vitals": cursor.seen_sets}
        yield f"event: hello\ndata: {json.dumps(hello)}\n\n"
        while time.monotonic() < deadline and not stopping.is_set():
            if await request.is_disconnected():
                return
            if session.version != cursor.version:
                news = await asyncio.to_thread(_stream_news, session, twin_id, cursor)
                cursor = news.cursor
                for payload in news.sets:
                    yield f"event: vitals\ndata: {json.dumps(payload)}\n\n"
                if news.glucose_changed:
                    yield await _reading_event(session, twin_id, news.readings)
            await asyncio.sleep(poll_s)

    return EventStreamResponse(
        events(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


@dataclass(frozen=True)
class _StreamCursor:
    """How much of a twin a stream has sent: readings, vital-signs sets, events, version."""

    seen: int
    seen_sets: int
    n_events: int
    version: int

    @classmethod
    def at(cls, session: PatientTwinSession) -> _StreamCursor:
        """Where the twin is now (takes its lock: call it in a worker thread)."""
        with session.lock:
            return cls(
                len(session.readings), len(session.vitals), len(session.events), session.version
            )


@dataclass(frozen=True)
class _StreamNews:
    """What changed since a cursor: new readings, vital-signs payloads, the next cursor."""

    readings: list[GlucoseReading]
    sets: list[dict[str, Any]]
    glucose_changed: bool
    cursor: _StreamCursor


def _stream_news(session: PatientTwinSession, twin_id: str, cursor: _StreamCursor) -> _StreamNews:
    """The twin's changes since ``cursor`` (takes its lock: call it in a worker thread)."""
    with session.lock:
        new = session.readings[cursor.seen :]
        sets = [
            {
                "twin_id": twin_id,
                "vitals": {**v.as_dict(), "time": session.when(v.t_min).isoformat()},
                "news2": n,
            }
            for v, n in zip(
                session.vitals[cursor.seen_sets :], session.news2[cursor.seen_sets :], strict=True
            )
        ]
        glucose_changed = bool(new) or len(session.events) != cursor.n_events or not sets
        return _StreamNews(new, sets, glucose_changed, _StreamCursor.at(session))


async def _reading_event(
    session: PatientTwinSession, twin_id: str, new: list[GlucoseReading]
) -> str:
    forecast = await asyncio.to_thread(session.forecast, 120.0, 5.0)
    payload = {
        "twin_id": twin_id,
        "readings": [{"t_min": r.t_min, "glucose_mg_dl": r.glucose_mg_dl} for r in new],
        "forecast": forecast,
    }
    return f"event: reading\ndata: {json.dumps(payload)}\n\n"
