"""Training cases over HTTP: play a virtual patient in the learner's language and units.

Routes under ``/api/v1/education`` (JSON; errors are RFC 9457 problem details):
``GET /cases?locale=de``; ``POST /sessions`` (``case_id``, ``seed``, ``locale``,
``keep_foreign``, ``units``: the state and its ``Location``); ``POST /sessions/{id}/actions``
(``dose`` as the learner typed it, in their units and number format: ``"1,5"`` in German);
``POST /sessions/{id}/requests`` (history, examination, labs, monitors: results arrive after
their turnaround); ``POST /sessions/{id}/advance`` (twin minutes at once);
``GET /sessions/{id}[?locale=]`` (vitals, series, results, messages, actions and information,
rendered in the session's locale or another: sessions are locale-free underneath);
``POST /sessions/{id}/end`` (the twin plays on to the case's end: score, xAPI and, on request,
the debrief; the record is kept in the store as twin state ``edu.<id>``, so that
``GET /sessions/{id}/report`` grades it again later, after a restart too). A debrief within
:data:`SYNC_DEBRIEF_TWIN_MIN` twin minutes comes in the answer; a larger one runs as a job of
:mod:`healthtwin.api.jobs` (``202``, ``debrief_job`` and its ``Location``), as does
``POST /sessions/{id}/debrief``; ``GET /debriefs/{job}`` answers its status, progress
(patient replays done) and the debrief (from the store after a restart);
``POST /debriefs/{job}/cancel`` stops it at its next variant. One beyond
:data:`MAX_DEBRIEF_TWIN_MIN` is refused (``400``) saying how to shrink it.

A move the learner cannot make (a dose out of range, a number typed the wrong way, an
action not available yet, a session that has ended) is answered as problem details whose
``detail`` is in the learner's language, units and number format, with the extension
members ``msgid``, ``params`` (canonical values) and ``locale``
(:mod:`healthtwin.education.learner_errors`).

This module is the HTTP face only: request bodies, status codes, problems and job
submission. Sessions, their registry and their persistence are
:mod:`healthtwin.education.live_sessions`; what a learner reads is
:mod:`healthtwin.education.session_views`; doses as typed,
:mod:`healthtwin.education.learner_doses`; the debrief's cost and background run,
:mod:`healthtwin.education.debrief_runs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.actors import request_actor
from healthtwin.api.jobs import Job, JobContext, JobOutput, JobRunner, Work
from healthtwin.api.openapi_doc import PROBLEM_JSON, problems
from healthtwin.api.outcome import http_status
from healthtwin.api.schemas import success
from healthtwin.api.schemas.education import (
    CaseList,
    DebriefJob,
    DebriefStatus,
    SessionEnded,
    SessionMoved,
    SessionReport,
    SessionState,
)
from healthtwin.education.case import Case, case_ids
from healthtwin.education.culture import CultureProfile
from healthtwin.education.debrief_runs import (
    DEBRIEF_JOB_KIND,
    MAX_DEBRIEF_TWIN_MIN,
    SYNC_DEBRIEF_TWIN_MIN,
    debrief_replays,
    run_debrief,
)
from healthtwin.education.engine import Session
from healthtwin.education.i18n import Localizer
from healthtwin.education.learner_doses import canonical_dose
from healthtwin.education.learner_errors import LearnerMessageError
from healthtwin.education.live_sessions import (
    MAX_SESSIONS,
    RECORD_PREFIX,
    EducationRegistry,
    EducationSession,
    FinishedSession,
    finish_session,
    finished_session,
    graded_again,
    record_key,
)
from healthtwin.education.record import Message, SessionRecord
from healthtwin.education.session_views import (
    SessionView,
    case_list,
    message_doc,
    session_state,
)
from healthtwin.errors import InvalidInputError, NotFoundError
from healthtwin.store import Store

__all__ = [
    "DEBRIEF_JOB_KIND",
    "MAX_DEBRIEF_TWIN_MIN",
    "MAX_SESSIONS",
    "RECORD_PREFIX",
    "SYNC_DEBRIEF_TWIN_MIN",
    "EducationRegistry",
    "EducationSession",
    "debrief_replays",
    "debrief_work",
    "education_router",
    "learner_problem",
    "record_key",
]

education_router = APIRouter(prefix="/api/v1/education", tags=["education"])
_CASE_ID = r"^[a-z0-9_]{1,64}$"
_STRICT = ConfigDict(extra="forbid")
_DEBRIEFS = "/api/v1/education/debriefs/{}"


# --- request bodies ----------------------------------------------------------------------


class SessionCreate(BaseModel):
    """Start a case."""

    model_config = _STRICT
    case_id: str = Field(pattern=_CASE_ID, description="A shipped case (GET /cases).")
    seed: int = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="Seed of the patient: 0 is the case's own, another seed another like it.",
    )
    locale: str = Field(default="en", min_length=2, max_length=20)
    keep_foreign: bool = Field(
        default=False, description="Meet the case's original patient, not a local one."
    )
    units: Literal["si", "conventional"] | None = Field(
        default=None, description="Override the locale's units."
    )


class ActionIn(BaseModel):
    """An action; ``dose`` in the learner's units (a number, or text in their format)."""

    model_config = _STRICT
    action_id: str = Field(min_length=1, max_length=64)
    dose: float | Annotated[str, Field(max_length=32)] | None = None


class RequestIn(BaseModel):
    """A request for information."""

    model_config = _STRICT
    info_id: str = Field(min_length=1, max_length=64)


class AdvanceIn(BaseModel):
    """Twin minutes to let pass (one that is not positive is refused in the learner's
    language)."""

    model_config = _STRICT
    minutes: float = Field(le=24 * 60)


class DebriefIn(BaseModel):
    """A counterfactual debrief: patients per variant and the shifts of each action."""

    model_config = _STRICT
    n_draws: int = Field(default=10, ge=1, le=50, description="Patients per debrief variant.")
    shifts: list[Annotated[float, Field(ge=-120, le=120)]] = Field(
        default_factory=lambda: [-10.0], min_length=1, max_length=4
    )


class EndIn(DebriefIn):
    """Finish the session: score, xAPI and (on request) the debrief."""

    debrief: bool = False
    actor_mbox: str = Field(default="mailto:learner@example.org", max_length=320)


# --- what the routes share ---------------------------------------------------------------


def _registry(request: Request) -> EducationRegistry:
    registry: EducationRegistry = request.app.state.education
    return registry


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _jobs(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _job_view(job: Job, location: str) -> dict[str, Any]:
    return {**job.to_dict(), "location": location}


def learner_problem(error: LearnerMessageError, loc: Localizer) -> JSONResponse:
    """A refused move as RFC 9457 problem details in the learner's language.

    ``type``, ``title``, ``status`` and ``detail`` as every ``/api/v1`` problem (``detail``
    rendered by :meth:`~healthtwin.education.i18n.Localizer.render_error`), plus the
    extension members ``msgid``, ``params`` (canonical, as JSON) and ``locale``.

    Examples
    --------
    >>> import json
    >>> from healthtwin.education.learner_errors import ERR_MINUTES_NOT_POSITIVE, LearnerError
    >>> problem = learner_problem(
    ...     LearnerError(ERR_MINUTES_NOT_POSITIVE, {"minutes": -1.5}), Localizer("de"))
    >>> problem.status_code, json.loads(problem.body)["detail"]
    (400, 'Die Wartezeit muss eine positive Zahl von Minuten sein, erhalten: -1,5.')
    """
    status, _ = http_status(error)
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": loc.render_error(error),
        "msgid": error.msgid,
        "params": error.plain_params(),
        "locale": loc.choice.tag,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


Move = Callable[[Session, SessionView], list[Message]]


def _moved(request: Request, session_id: str, locale: str | None, move: Move) -> Any:
    """Play ``move(engine, view)`` on the session; answer its new messages and the state
    (or, for a move the learner cannot make, a problem in their language)."""
    registry = _registry(request)
    session = registry.get(session_id)
    view = registry.view_of(session, locale)
    try:
        with session.lock:
            new = session.play(lambda engine: move(engine, view))
            return {"new_messages": [message_doc(view, m) for m in new]} | session_state(
                session, view
            )
    except LearnerMessageError as err:
        return learner_problem(err, view.loc)


def _debrief_cost(request: Request, found: FinishedSession, body: DebriefIn) -> float:
    """Twin minutes the debrief replays (``InvalidInputError`` beyond the job limit)."""
    limit = _registry(request).max_debrief_twin_min
    return found.debrief_twin_min(len(body.shifts), body.n_draws, limit_twin_min=limit)


def debrief_work(
    case: Case,
    record: SessionRecord,
    loc: Localizer,
    culture: CultureProfile,
    *,
    session_id: str,
    shifts: Sequence[float],
    n_draws: int,
) -> Work:
    """The work of a debrief job: :func:`~healthtwin.education.debrief_runs.run_debrief`
    under the job's context (progress: patient replays done; cancelled between variants)."""
    view = SessionView(loc, culture)

    def work(context: JobContext) -> JobOutput:
        output = run_debrief(
            case, record, view, context, session_id=session_id, shifts=shifts, n_draws=n_draws
        )
        return JobOutput(output.summary, output.arrays)

    return work


def _submit_debrief(
    request: Request, session_id: str, found: FinishedSession, body: DebriefIn
) -> tuple[Job, str]:
    """Queue a debrief job; its record and where to follow it."""
    twin_min = _debrief_cost(request, found, body)
    work = debrief_work(
        found.case,
        found.record,
        found.view.loc,
        found.view.culture,
        session_id=session_id,
        shifts=body.shifts,
        n_draws=body.n_draws,
    )
    job = _jobs(request).submit(
        DEBRIEF_JOB_KIND,
        work,
        actor=request_actor(request),
        description=f"debrief of training session {session_id}: {twin_min:g} twin minutes",
    )
    return job, _DEBRIEFS.format(job.id)


# --- routes ------------------------------------------------------------------------------

LocaleQuery = Annotated[str | None, Query(min_length=2, max_length=20)]


@education_router.get(
    "/cases",
    responses={**success(200, CaseList, "The training cases on offer.")},
)
def list_cases(request: Request, locale: Annotated[str, Query(max_length=20)] = "en") -> Any:
    """The shipped training cases, titles and summaries in the learner's language."""
    registry = _registry(request)
    return case_list([registry.case(c) for c in case_ids()], registry.localizer(locale, None))


@education_router.post(
    "/sessions",
    status_code=201,
    responses={**success(201, SessionState, "The session started."), **problems(409)},
)
def start_session(request: Request, body: SessionCreate, response: Response) -> Any:
    """Start a case for one learner; answer its state (opening narrative included)."""
    registry = _registry(request)
    session = registry.start(
        body.case_id,
        seed=body.seed,
        locale=body.locale,
        units=body.units,
        keep_foreign=body.keep_foreign,
    )
    response.headers["Location"] = f"/api/v1/education/sessions/{session.session_id}"
    with session.lock:
        return session_state(session, registry.view_of(session))


@education_router.get(
    "/sessions/{session_id}",
    responses={**success(200, SessionState, "The session now.")},
)
def get_session(request: Request, session_id: str, locale: LocaleQuery = None) -> Any:
    """The session now, rendered in its locale (or ``?locale=``)."""
    registry = _registry(request)
    session = registry.get(session_id)
    with session.lock:
        return session_state(session, registry.view_of(session, locale))


@education_router.post(
    "/sessions/{session_id}/actions",
    responses={**success(200, SessionMoved, "The session after the action."), **problems(409)},
)
def take_action(
    request: Request, session_id: str, body: ActionIn, locale: LocaleQuery = None
) -> Any:
    """Take an action now (dose in the learner's units, converted to canonical)."""

    def act(engine: Session, view: SessionView) -> list[Message]:
        dose = canonical_dose(view.loc, engine.case, body.action_id, body.dose)
        return engine.act(body.action_id, dose)

    return _moved(request, session_id, locale, act)


@education_router.post(
    "/sessions/{session_id}/requests",
    responses={**success(200, SessionMoved, "The session after the request."), **problems(409)},
)
def request_information(
    request: Request, session_id: str, body: RequestIn, locale: LocaleQuery = None
) -> Any:
    """Ask for information (results with a turnaround arrive as the twin advances)."""
    return _moved(request, session_id, locale, lambda e, _: e.request(body.info_id))


@education_router.post(
    "/sessions/{session_id}/advance",
    responses={**success(200, SessionMoved, "The session after the time passed."), **problems(409)},
)
def advance(request: Request, session_id: str, body: AdvanceIn, locale: LocaleQuery = None) -> Any:
    """Let ``minutes`` of twin time pass at once (capped at the case's end)."""
    return _moved(request, session_id, locale, lambda e, _: e.advance(body.minutes))


@education_router.post(
    "/sessions/{session_id}/end",
    responses={
        **success(200, SessionEnded, "The score report and final state."),
        **success(202, SessionEnded, "The report; the debrief runs as a job (debrief_job)."),
    },
)
def end_session(
    request: Request,
    session_id: str,
    response: Response,
    body: EndIn | None = None,
    locale: LocaleQuery = None,
) -> Any:
    """Finish: the twin plays on to the case's end; score, xAPI, debrief; record stored.

    A debrief beyond the synchronous budget is queued as a job: ``202``, ``Location`` of
    the job and ``debrief_job`` in the answer.
    """
    body = body or EndIn()
    registry = _registry(request)
    session = registry.get(session_id)
    with session.lock:
        finish_session(_store(request), session)
        view = registry.view_of(session, locale)
        found = FinishedSession(session.case, session.engine.record(), view, session.started_at)
        state = session_state(session, view)
    doc = {"session_id": session_id, **found.report(body.actor_mbox)}
    if body.debrief:
        twin_min = _debrief_cost(request, found, body)
        if twin_min <= registry.sync_debrief_twin_min:
            doc["debrief"] = found.debrief(body.shifts, body.n_draws)
        else:
            job, location = _submit_debrief(request, session_id, found, body)
            response.status_code = 202
            response.headers["Location"] = location
            doc["debrief_job"] = _job_view(job, location)
    return {**doc, "state": state}


@education_router.post(
    "/sessions/{session_id}/debrief",
    status_code=202,
    responses={**success(202, DebriefJob, "The debrief job, queued."), **problems(409)},
)
def debrief_session(
    request: Request,
    session_id: str,
    response: Response,
    body: DebriefIn | None = None,
    locale: LocaleQuery = None,
) -> Any:
    """Debrief a finished session in the background; answer the job and its ``Location``."""
    found = finished_session(_registry(request), _store(request), session_id, locale)
    job, location = _submit_debrief(request, session_id, found, body or DebriefIn())
    response.headers["Location"] = location
    return _job_view(job, location)


@education_router.get(
    "/debriefs/{job_id}",
    responses={**success(200, DebriefStatus, "The debrief job (and the debrief once done).")},
)
def get_debrief(request: Request, job_id: str) -> Any:
    """A debrief job: status and progress; with the debrief once it has succeeded."""
    runner = _jobs(request)
    location = _DEBRIEFS.format(job_id)
    try:
        job = runner.get(job_id)
    except NotFoundError:
        result = _stored_debrief(runner, job_id)  # a job of an earlier run of the server
        return {"id": job_id, "status": "succeeded", "location": location, **result}
    if job.kind != DEBRIEF_JOB_KIND:
        raise NotFoundError(f"job {job_id} is not a debrief; see /api/v1/jobs/{job_id}")
    doc = _job_view(job, location)
    if job.status == "succeeded":
        doc["debrief"] = runner.result(job_id)["debrief"]
    return doc


@education_router.post(
    "/debriefs/{job_id}/cancel",
    status_code=202,
    responses={**success(202, DebriefJob, "Cancellation asked for."), **problems(409)},
)
def cancel_debrief(request: Request, job_id: str) -> Any:
    """Ask a debrief job to stop at its next variant."""
    runner = _jobs(request)
    if runner.get(job_id).kind != DEBRIEF_JOB_KIND:
        raise NotFoundError(f"job {job_id} is not a debrief; see /api/v1/jobs/{job_id}")
    return _job_view(runner.cancel(job_id), _DEBRIEFS.format(job_id))


def _stored_debrief(runner: JobRunner, job_id: str) -> dict[str, Any]:
    if not job_id.replace("-", "").isalnum() or len(job_id) > 60:
        raise NotFoundError(f"no debrief job {job_id[:80]!r}")
    result = runner.result(job_id)
    if result.get("kind") != DEBRIEF_JOB_KIND:
        raise NotFoundError(f"job {job_id} is not a debrief; see /api/v1/jobs/{job_id}")
    return {k: result[k] for k in ("session_id", "locale", "debrief")}


@education_router.get(
    "/sessions/{session_id}/report",
    responses={**success(200, SessionReport, "The score report, graded again."), **problems(409)},
)
def get_report(
    request: Request,
    session_id: str,
    locale: LocaleQuery = None,
    with_debrief: Annotated[bool, Query(alias="debrief")] = False,
    n_draws: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Any:
    """Grade a finished session again (from the store), in any locale.

    ``?debrief=true`` answers the debrief only within the synchronous budget; a larger one
    is refused with a pointer to ``POST /sessions/{id}/debrief`` (a background job).
    """
    registry = _registry(request)
    found = graded_again(registry, _store(request), session_id, locale)
    body = EndIn(debrief=with_debrief, n_draws=n_draws)
    doc = {"session_id": session_id, **found.report(body.actor_mbox)}
    if with_debrief:
        twin_min = _debrief_cost(request, found, body)
        if twin_min > registry.sync_debrief_twin_min:
            raise InvalidInputError(
                f"a debrief of {twin_min:g} twin minutes is more than the "
                f"{registry.sync_debrief_twin_min:g} one request may run; ask for "
                f"it as a background job: POST /api/v1/education/sessions/{session_id}/debrief"
            )
        doc["debrief"] = found.debrief(body.shifts, body.n_draws)
    return doc
