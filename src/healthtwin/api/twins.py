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

The twin's logic lives in :mod:`healthtwin.scenarios.patient_session`, its storage (ingest,
snapshots, restore after a restart, the kept twins' list) in
:mod:`healthtwin.scenarios.twin_store`, its advice's proposals and decisions in
:mod:`healthtwin.scenarios.twin_decisions` and what its live views are sent in
:mod:`healthtwin.scenarios.twin_stream`; this module only adapts HTTP requests to them
(and re-exports the store functions for the modules that import them from here).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Container
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Tag

from healthtwin.api.actors import request_actor
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
from healthtwin.api.twin_requests import (
    DecisionIn,
    EventIn,
    ObservationBatch,
    ObservationIn,
    OverrideValue,
    RecommendIn,
    TwinCreate,
    VitalsBatch,
    VitalsIn,
    WhatIfIn,
)
from healthtwin.api.twin_sessions import (
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
from healthtwin.scenarios.patient_vitals import latest_news2, vital_signs_from_rows
from healthtwin.scenarios.twin_decisions import (
    apply_decision,
    bolus_proposal,
    deciding_twin,
    proposer,
)
from healthtwin.scenarios.twin_store import (
    ingest,
    load_stored_vitals,
    open_patient_twin,
    record_vitals,
    restore,
    restorer,
    snapshot,
    twin_row,
)
from healthtwin.scenarios.twin_store import kept_twin_rows as store_kept_twin_rows
from healthtwin.scenarios.twin_stream import (
    StreamCursor,
    reading_payload,
    stream_news,
    vitals_listing,
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
    "kept_twin_rows",
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
#: Twin-state id prefixes the service keeps for other things (a patient twin may not use
#: them, and they are not listed as patient twins).
_RESERVED = {
    RESULT_PREFIX: "job results",
    EDUCATION_PREFIX: "training sessions",
    HOSPITAL_PREFIX: "hospital twins",
    HOSPITAL_INDEX: "the hospital twins' index",
    ALARM_BOARD_KEY: "the alarm board",
}


def _registry(request: Request) -> TwinRegistry:
    registry: TwinRegistry = request.app.state.twins
    return registry


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@twins_router.post(
    "/twins",
    status_code=201,
    responses={**success(201, TwinState, "The twin created, as it stands."), **problems(404, 409)},
)
def create_twin(request: Request, body: TwinCreate, response: Response) -> dict[str, Any]:
    """Create a patient twin (from a stored FHIR Patient, or from parameters)."""
    store = _store(request)
    for prefix, kept_for in _RESERVED.items():
        if body.twin_id is not None and body.twin_id.startswith(prefix):
            raise InvalidInputError(
                f"twin ids may not start with {prefix!r} (kept for {kept_for}); "
                f"got {body.twin_id!r}"
            )
    twin_id = body.twin_id or f"twin-{uuid.uuid4().hex[:12]}"
    session = open_patient_twin(
        store,
        twin_id,
        patient_id=body.patient_id,
        profile=body.profile,
        members=body.members,
        seed=body.seed,
        start=body.start,
        sensor_sd_mg_dl=body.sensor_sd_mg_dl,
    )
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
    live = {s.twin_id: twin_row(s) for s in _registry(request).sessions()}
    rows = live | {r["twin_id"]: r for r in kept_twin_rows(_store(request), skip=live)}
    return {"twins": [rows[k] for k in sorted(rows) if may_read(rows[k]["patient_id"])]}


def kept_twin_rows(store: Store, *, skip: Container[str] = ()) -> list[dict[str, Any]]:
    """The patient twins kept in ``store`` (ids in ``skip`` left out), by id.

    :func:`healthtwin.scenarios.twin_store.kept_twin_rows` without the states the service
    keeps for other things (jobs, training sessions, hospitals, the alarm board).
    """
    return store_kept_twin_rows(store, skip=skip, reserved=tuple(_RESERVED))


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
    session.apply_plan(body.t_min, body.meal_g, body.bolus_u, f"logged by {request_actor(request)}")
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
    made = (
        _store(request)
        .oversight()
        .propose(
            f"rec-{uuid.uuid4().hex[:16]}",
            model=MODEL,
            model_version=MODEL_VERSION,
            value=bolus_proposal(session, advice, named),
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
        "recommendations": [_recommendation(r) for r in found if proposer(r) in (twin_id, None)]
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
        recommendation_id, actor=request_actor(request), reason=body.reason if body else None
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
        .override(recommendation_id, actor=request_actor(request), reason=body.reason, value=value)
    )
    _apply(request, decided, {**decided.value, **value})
    return _recommendation(decided)


def _apply(request: Request, decided: Recommendation, value: dict[str, Any]) -> None:
    """Apply the decided plan to the twin that proposed it (if it is live)."""
    registry = _registry(request)
    session = deciding_twin(decided, _live(registry), registry.sessions())
    if session is not None:
        apply_decision(_store(request), session, decided, value)


def _live(registry: TwinRegistry) -> Callable[[str], PatientTwinSession | None]:
    def find(twin_id: str) -> PatientTwinSession | None:
        try:
            return registry.get(twin_id)
        except NotFoundError:
            return None

    return find


def _recommendation(r: Recommendation) -> dict[str, Any]:
    return {
        "id": r.id,
        "twin_id": proposer(r),
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
    return vitals_listing(_registry(request).get(twin_id))


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
        cursor = await asyncio.to_thread(StreamCursor.at, session)
        deadline = time.monotonic() + max_s
        hello = {"twin_id": twin_id, "n_readings": cursor.seen, "n_vitals": cursor.seen_sets}
        yield f"event: hello\ndata: {json.dumps(hello)}\n\n"
        while time.monotonic() < deadline and not stopping.is_set():
            if await request.is_disconnected():
                return
            if session.version != cursor.version:
                news = await asyncio.to_thread(stream_news, session, cursor)
                cursor = news.cursor
                for payload in news.sets:
                    yield f"event: vitals\ndata: {json.dumps(payload)}\n\n"
                if news.glucose_changed:
                    payload = await asyncio.to_thread(reading_payload, session, news.readings)
                    yield f"event: reading\ndata: {json.dumps(payload)}\n\n"
            await asyncio.sleep(poll_s)

    return EventStreamResponse(
        events(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
