"""Training cases over HTTP: play a virtual patient in the learner's language and units.

Routes under ``/api/v1/education`` (JSON in and out; errors are RFC 9457 problem details):

- ``GET /cases?locale=de``: the shipped cases with their titles in the learner's language.
- ``POST /sessions``: start a case (``case_id``, ``seed``, ``locale``, ``keep_foreign``,
  ``units``); answers the session's state and its ``Location``.
- ``POST /sessions/{id}/actions``: take an action; ``dose`` is what the learner typed in
  their own units and number format (``"1,5"`` in German), converted to the case's
  canonical unit; a dose outside the allowed range is refused with the range in the
  learner's units.
- ``POST /sessions/{id}/requests``: ask for history, examination, a lab or a monitor
  (results arrive after their turnaround as the twin advances).
- ``POST /sessions/{id}/advance``: let twin minutes pass (at once: faster than real time).
- ``GET /sessions/{id}[?locale=]``: the state: vitals in local units and canonical, the
  monitor's series and the results shown so far (for charts), every message so far and
  the actions and information available, all rendered in the locale (the session's own,
  or another one asked for: sessions are locale-free underneath).
- ``POST /sessions/{id}/end``: the twin plays on to the case's end; the score report,
  xAPI statements and, on request, the counterfactual debrief. The locale-free session
  record is persisted in the store (as twin state ``edu.<id>``), so that
  ``GET /sessions/{id}/report`` grades it again later, after a restart too. A debrief
  within a small synchronous budget (:data:`SYNC_DEBRIEF_TWIN_MIN` twin minutes) comes in
  the answer; a larger one runs as a background job (:mod:`healthtwin.api.jobs`): the
  answer is ``202`` with the report, ``debrief_job`` and a ``Location`` of the job.
- ``POST /sessions/{id}/debrief``: debrief a finished session as a background job
  (``202``, ``Location: /api/v1/education/debriefs/{job}``); ``GET /debriefs/{job}``
  answers its status, progress (patient replays done over their total) and, once it has
  succeeded, the debrief (also at ``GET /api/v1/jobs/{job}/result``, from the store after a
  restart); ``POST /debriefs/{job}/cancel`` stops it at its next variant. A debrief larger
  than :data:`MAX_DEBRIEF_TWIN_MIN` twin minutes is refused (``400``) saying how to shrink it.

A move the learner cannot make (a dose out of range, a number typed the wrong way, an
action not available yet, a session that has ended) is answered as problem details whose
``detail`` is in the learner's language, units and number format, with the extension
members ``msgid`` (of the ``errors`` catalogs), ``params`` (canonical values) and
``locale`` (see :mod:`healthtwin.education.learner_errors`).

The engine (:class:`healthtwin.education.engine.Session`) holds no locale; everything a
learner reads is rendered here by a :class:`~healthtwin.education.i18n.Localizer` and the
case's :func:`~healthtwin.education.culture.culture_for` profile, so the same actions give
the same record, and so the same score, in every locale. Each live session has a lock:
concurrent requests on one session are applied one after the other.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.jobs import Job, JobContext, JobOutput, JobRunner, Work
from healthtwin.api.openapi_doc import PROBLEM_JSON
from healthtwin.api.outcome import http_status
from healthtwin.education.case import Case, case_ids, load_case, measure_unit
from healthtwin.education.culture import CultureProfile, culture_for
from healthtwin.education.debrief import Debrief, debrief
from healthtwin.education.engine import Session
from healthtwin.education.i18n import Localizer, resolve_locale
from healthtwin.education.learner_errors import (
    ERR_DOSE_OUT_OF_RANGE,
    ERR_NO_DOSE,
    ERR_SESSION_CLOSED,
    LearnerConflictError,
    LearnerError,
    LearnerMessageError,
)
from healthtwin.education.record import Message, Quantity, SessionRecord
from healthtwin.education.scoring import ScoreReport, measure_name, score
from healthtwin.education.verify import verified_record
from healthtwin.education.xapi import xapi_statements
from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
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
#: Prefix of the twin-state ids that hold finished sessions' records.
RECORD_PREFIX = "edu."
#: Most sessions one server holds in memory (finished ones are dropped first).
MAX_SESSIONS = 500
#: Most twin minutes one debrief may replay: patient replays (draws x variants, the
#: variants being the played session, the expert pathway and, per action, each shift and
#: its removal) x the case's duration. Beyond it the request is refused with a 400 saying
#: how to shrink it. A twin minute costs about 0.75 ms on one core, so the 2 million
#: allowed take about half an hour in the background (33 333 replays of the 60-minute
#: hypoglycaemia case; at the most, 50 draws and 4 shifts, a 22-action 6-hour DKA session).
MAX_DEBRIEF_TWIN_MIN = 2_000_000.0
#: Most twin minutes a debrief may replay inside a request (about 2 s); beyond it the
#: debrief runs as a background job.
SYNC_DEBRIEF_TWIN_MIN = 2_500.0
#: The kind of the background jobs that debrief a session.
DEBRIEF_JOB_KIND = "education-debrief"
_MODEL = "education-session"
_CASE_ID = r"^[a-z0-9_]{1,64}$"
_STRICT = ConfigDict(extra="forbid")


def record_key(session_id: str) -> str:
    """Where a finished session's record is kept among the store's twin states.

    Examples
    --------
    >>> record_key("es-0123")
    'edu.es-0123'
    """
    return f"{RECORD_PREFIX}{session_id}"


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


# --- sessions held by the server ---------------------------------------------------------


@dataclass
class EducationSession:
    """One learner's live session, with what was shown so far (locale-free).

    ``messages`` are every message the engine returned, in order; ``results`` are the
    measured values shown in results, as ``(t_min, measure, canonical value)``.
    """

    session_id: str
    case: Case
    engine: Session
    locale: str
    units: str | None
    keep_foreign: bool
    started_at: datetime
    messages: list[Message] = field(default_factory=list)
    results: list[tuple[float, str, float]] = field(default_factory=list)
    ended: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def take(self, messages: Iterable[Message]) -> list[Message]:
        """Log messages the engine returned (and the values their results show)."""
        new = list(messages)
        for m in new:
            if m.kind == "result":
                self.results += [
                    (m.t_min, key, q.value)
                    for key, q in m.params.items()
                    if isinstance(q, Quantity)
                ]
        self.messages += new
        return new


class EducationRegistry:
    """The server's education sessions, cases and localizers (thread-safe; in ``app.state``).

    Examples
    --------
    >>> registry = EducationRegistry()
    >>> registry.localizer("de_DE", None).language
    'de'
    >>> registry.sync_debrief_twin_min, registry.max_debrief_twin_min
    (2500.0, 2000000.0)
    """

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        *,
        sync_debrief_twin_min: float = SYNC_DEBRIEF_TWIN_MIN,
        max_debrief_twin_min: float = MAX_DEBRIEF_TWIN_MIN,
    ) -> None:
        self._sessions: dict[str, EducationSession] = {}
        self._cases: dict[str, Case] = {}
        self._localizers: dict[tuple[str, str | None], Localizer] = {}
        self._max = max_sessions
        self._lock = threading.Lock()
        self.sync_debrief_twin_min = float(sync_debrief_twin_min)
        self.max_debrief_twin_min = float(max_debrief_twin_min)

    def case(self, case_id: str) -> Case:
        """A shipped case (loaded once); ``NotFoundError`` listing the cases otherwise."""
        with self._lock:
            found = self._cases.get(case_id)
        if found is not None:
            return found
        if case_id not in case_ids():
            raise NotFoundError(f"no training case {case_id!r}; cases are {case_ids()}")
        loaded = load_case(case_id)
        with self._lock:
            return self._cases.setdefault(case_id, loaded)

    def localizer(self, locale: str, units: str | None) -> Localizer:
        """A localizer for ``locale`` (``InvalidInputError`` naming the supported ones)."""
        key = (resolve_locale(locale).tag, units)
        with self._lock:
            found = self._localizers.get(key)
        if found is not None:
            return found
        made = Localizer(locale, units=units)
        with self._lock:
            return self._localizers.setdefault(key, made)

    def add(self, session: EducationSession) -> EducationSession:
        """Hold ``session``; drop the oldest finished one when full (``ConflictError`` if
        every held session is still being played)."""
        with self._lock:
            if len(self._sessions) >= self._max:
                done = [k for k, s in self._sessions.items() if s.ended]
                if not done:
                    raise ConflictError(
                        f"{self._max} training sessions are being played; end one "
                        "(POST /education/sessions/{id}/end) before starting another"
                    )
                del self._sessions[done[0]]
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str) -> EducationSession:
        """A held session; ``NotFoundError`` otherwise."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFoundError(
                f"no live training session {session_id!r}; start one with POST "
                "/api/v1/education/sessions (finished ones: GET .../sessions/{id}/report)"
            )
        return session

    def find(self, session_id: str) -> EducationSession | None:
        """A held session or ``None``."""
        with self._lock:
            return self._sessions.get(session_id)


def _registry(request: Request) -> EducationRegistry:
    registry: EducationRegistry = request.app.state.education
    return registry


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# --- rendering -----------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """How one learner reads a case: language, units, number format and culture."""

    loc: Localizer
    culture: CultureProfile

    def text(self, message: Message) -> str:
        return self.loc.render(message, self.culture)

    def quantity(self, measure: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "measure": measure,
            "label": self.loc.gettext(measure_name(measure)),
            "text": self.loc.quantity(Quantity(value, unit), measure),
            "value_local": self.loc.to_local(value, measure),
            "unit_local": self.loc.unit(measure),
            "value": value,
            "unit": unit,
        }


def _view(request: Request, session: EducationSession, locale: str | None) -> _View:
    chosen = locale or session.locale
    loc = _registry(request).localizer(chosen, session.units)
    return _View(loc, culture_for(session.case, chosen, session.keep_foreign))


def _state(session: EducationSession, view: _View) -> dict[str, Any]:
    engine, case, loc = session.engine, session.case, view.loc
    record = engine.record()
    vitals = engine.vitals()
    shown = list(vitals)
    if session.ended:  # the debrief: the whole course of what the case is judged on
        judged = [g.measure for g in case.rubric.final_state] + [
            h.measure for h in case.rubric.harm
        ]
        shown += [m for m in dict.fromkeys(judged) if m not in shown]
    shown += [m for m in dict.fromkeys(r[1] for r in session.results) if m not in shown]
    return {
        "session_id": session.session_id,
        "case_id": case.id,
        "case_version": case.version,
        "seed": engine.seed,
        "locale": loc.choice.tag,
        "language": loc.language,
        "title": view.text(Message(case.title)),
        "now_min": engine.now_min,
        "duration_min": case.duration_min,
        "finished": engine.finished,
        "dead": engine.dead,
        "ended": session.ended,
        "vitals": [view.quantity(m, q.value, q.unit) for m, q in vitals.items()],
        "series": {
            "t_min": [float(t) for t in record.times_min],
            "measures": [_series(view, m, record) for m in shown],
        },
        "results": [
            {"t_min": t, **view.quantity(m, v, measure_unit(m))} for t, m, v in session.results
        ],
        "messages": [
            {"t_min": m.t_min, "kind": m.kind, "text": view.text(m)} for m in session.messages
        ],
        "actions": [_action(view, a) for a in engine.available_actions()],
        "information": [
            {
                "id": i.id,
                "label": loc.gettext(i.label),
                "kind": i.kind,
                "turnaround_min": i.turnaround_min,
            }
            for i in engine.available_information()
        ],
    }


def _series(view: _View, measure: str, record: SessionRecord) -> dict[str, Any]:
    values = [float(v) for v in record.measures[measure]]
    return {
        "measure": measure,
        "label": view.loc.gettext(measure_name(measure)),
        "unit_local": view.loc.unit(measure),
        "values_local": [view.loc.to_local(v, measure) for v in values],
        "values": values,
    }


def _action(view: _View, action: Any) -> dict[str, Any]:
    loc = view.loc
    out: dict[str, Any] = {
        "id": action.id,
        "label": loc.gettext(action.label),
        "drug": loc.drug(action.drug) if action.drug is not None else None,
        "dose": None,
    }
    if action.dose is not None:
        d = action.dose
        out["dose"] = {
            "unit": d.unit,
            "unit_local": loc.unit(d.unit),
            **{
                f"{name}_local": loc.to_local(value, d.unit)
                for name, value in (("default", d.default), ("min", d.min), ("max", d.max))
            },
            **{
                f"{name}_text": loc.quantity(Quantity(value, d.unit))
                for name, value in (("default", d.default), ("min", d.min), ("max", d.max))
            },
            "default_input": _typed(loc, loc.to_local(d.default, d.unit)),
        }
    return out


def _typed(loc: Localizer, x: float) -> str:
    """``x`` as a learner would type it in their locale (no grouping, few decimals)."""
    digits = next((k for k in (0, 1, 2) if abs(round(x, k) - x) < 1e-9), 3)
    return loc.number(x, digits).replace("\u202f", "").replace("\u00a0", "")


def _canonical_dose(view: _View, case: Case, body: ActionIn) -> float | None:
    """The learner's dose in the action's canonical unit, checked against its range.

    An unknown action passes (``None``): the engine refuses it, listing the actions.
    """
    spec = next((a for a in case.actions if a.id == body.action_id), None)
    if spec is None or body.dose is None or spec.dose is None:
        if spec is not None and body.dose is not None:
            raise LearnerError(
                ERR_NO_DOSE,
                {"action": spec.label, "action_id": spec.id, "dose": str(body.dose)},
                english=f"action {spec.id!r} takes no dose; got {body.dose!r}",
            )
        return None
    d, loc = spec.dose, view.loc
    typed = loc.parse_number(body.dose) if isinstance(body.dose, str) else float(body.dose)
    canonical = loc.to_canonical(typed, d.unit)
    if not d.min - 1e-9 <= canonical <= d.max + 1e-9:
        raise LearnerError(
            ERR_DOSE_OUT_OF_RANGE,
            {
                "dose": Quantity(canonical, d.unit),
                "action": spec.label,
                "action_id": spec.id,
                "low": Quantity(d.min, d.unit),
                "high": Quantity(d.max, d.unit),
            },
            english=(
                f"dose {canonical:g} {d.unit} for {spec.id!r} is outside the allowed range "
                f"{d.min:g}-{d.max:g} {d.unit}; give a dose in that range"
            ),
        )
    return min(max(canonical, d.min), d.max)


def learner_problem(error: LearnerMessageError, loc: Localizer) -> JSONResponse:
    """A refused move as RFC 9457 problem details in the learner's language.

    ``type``, ``title``, ``status`` and ``detail`` as every ``/api/v1`` problem (``detail``
    rendered by :meth:`~healthtwin.education.i18n.Localizer.render_error`), plus the
    extension members ``msgid``, ``params`` (canonical, as JSON) and ``locale``.

    Examples
    --------
    >>> from healthtwin.education.learner_errors import ERR_MINUTES_NOT_POSITIVE
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


def _moved(request: Request, session_id: str, locale: str | None, move: Any) -> Any:
    """Apply ``move(session, view)`` under the session's lock; answer its new messages and
    the state (or, for a move the learner cannot make, a problem in their language)."""
    session = _registry(request).get(session_id)
    view = _view(request, session, locale)
    try:
        with session.lock:
            if session.ended:
                report = f"/api/v1/education/sessions/{session_id}/report"
                raise LearnerConflictError(
                    ERR_SESSION_CLOSED,
                    {"report": report, "session_id": session_id},
                    english=f"training session {session_id} has ended; read its report at "
                    + report,
                )
            new = session.take(move(session, view))
            return {"new_messages": [_message(view, m) for m in new], **_state(session, view)}
    except LearnerMessageError as err:
        return learner_problem(err, view.loc)


def _message(view: _View, m: Message) -> dict[str, Any]:
    return {"t_min": m.t_min, "kind": m.kind, "text": view.text(m)}


# --- reports ---------------------------------------------------------------------------


def _report(
    case: Case,
    record: SessionRecord,
    view: _View,
    started_at: datetime,
    body: EndIn,
) -> dict[str, Any]:
    report = score(case, record)
    return {
        "case_id": case.id,
        "locale": view.loc.choice.tag,
        "record": json.loads(record.to_json()),
        "score": {**report.to_dict(), "items": _items(view, case, report)},
        "xapi": xapi_statements(
            case, record, report, actor_mbox=body.actor_mbox, started_at=started_at
        ),
    }


def _debrief_doc(found: Debrief, view: _View) -> dict[str, Any]:
    """The debrief as JSON, with outcome bands in local units and its messages rendered."""
    plain = found.to_dict()
    for variant in plain["variants"]:
        variant["outcomes_local"] = {
            m: {
                "label": view.loc.gettext(measure_name(m)),
                "unit_local": view.loc.unit(m),
                **{q: view.loc.to_local(v, m) for q, v in band.items()},
            }
            for m, band in variant["outcomes"].items()
        }
    plain["rendered"] = [view.text(m) for m in found.messages]
    return plain


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
    """The work of a debrief job: :func:`~healthtwin.education.debrief.debrief`, reported.

    Progress is the patient replays done over their total, after each variant (of
    ``n_draws`` replays), where cancellation is checked too. The result's ``debrief`` is
    the same document a synchronous debrief answers, rendered with ``loc`` and ``culture``.
    """
    view = _View(loc, culture)

    def work(context: JobContext) -> JobOutput:
        context.check()

        def progress(done: int, total: int) -> None:
            context.progress(done / total, f"{done * n_draws} of {total * n_draws} patient replays")
            context.check()

        found = debrief(case, record, shifts=tuple(shifts), n_draws=n_draws, progress=progress)
        doc = {
            "kind": DEBRIEF_JOB_KIND,
            "session_id": session_id,
            "locale": view.loc.choice.tag,
            "debrief": _debrief_doc(found, view),
        }
        return JobOutput(doc)

    return work


def debrief_replays(n_actions: int, n_shifts: int, n_draws: int) -> int:
    """Patient replays a debrief costs: ``n_draws * (2 + n_actions * (n_shifts + 1))``.

    Examples
    --------
    >>> debrief_replays(n_actions=3, n_shifts=1, n_draws=10)
    80
    """
    return n_draws * (2 + n_actions * (n_shifts + 1))


def _debrief_cost(
    registry: EducationRegistry, case: Case, record: SessionRecord, body: DebriefIn
) -> float:
    """Twin minutes the debrief replays (``InvalidInputError`` beyond the job limit)."""
    limit = registry.max_debrief_twin_min
    replays = debrief_replays(len(record.actions), len(body.shifts), body.n_draws)
    if replays * case.duration_min > limit:
        per_draw = debrief_replays(len(record.actions), len(body.shifts), 1)
        most = int(limit // (per_draw * case.duration_min))
        hint = f"ask for n_draws <= {most}" if most >= 1 else "ask for fewer shifts"
        raise InvalidInputError(
            f"a debrief of {len(record.actions)} actions with {len(body.shifts)} shifts and "
            f"n_draws={body.n_draws} costs {replays} patient replays of {case.duration_min:g} "
            f"minutes, more than the {limit:g} twin minutes one debrief job may run; "
            f"{hint}, or debrief offline with 'healthtwin educate grade --debrief'"
        )
    return replays * case.duration_min


def _submit_debrief(
    request: Request,
    session_id: str,
    case: Case,
    record: SessionRecord,
    view: _View,
    body: DebriefIn,
) -> tuple[Job, str]:
    """Queue a debrief job; its record and where to follow it."""
    twin_min = _debrief_cost(_registry(request), case, record, body)
    work = debrief_work(
        case,
        record,
        view.loc,
        view.culture,
        session_id=session_id,
        shifts=body.shifts,
        n_draws=body.n_draws,
    )
    actor = (request.headers.get("x-actor") or "anonymous").strip()[:255] or "anonymous"
    job = _jobs(request).submit(
        DEBRIEF_JOB_KIND,
        work,
        actor=actor,
        description=f"debrief of training session {session_id}: {twin_min:g} twin minutes",
    )
    return job, f"/api/v1/education/debriefs/{job.id}"


def _jobs(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _job_view(job: Job, location: str) -> dict[str, Any]:
    return {**job.to_dict(), "location": location}


def _items(view: _View, case: Case, report: ScoreReport) -> list[dict[str, Any]]:
    return [
        {
            "kind": i.kind,
            "ref": i.ref,
            "subject": _subject(view.loc, case, i.ref),
            "points": i.points,
            "max_points": i.max_points,
            "text": view.text(i.message()),
        }
        for i in report.items
    ]


def _subject(loc: Localizer, case: Case, ref: str) -> str:
    """What a rubric item is about, in the learner's language (action, information or
    measure)."""
    labels = {a.id: a.label for a in case.actions} | {i.id: i.label for i in case.information}
    return loc.gettext(labels.get(ref) or measure_name(ref))


def _persist(store: Store, session: EducationSession) -> None:
    record = session.engine.record()
    store.save_twin_state(
        record_key(session.session_id),
        model=_MODEL,
        model_version=f"{session.case.id}@{session.case.version}",
        valid_time=session.started_at,
        arrays={"times_min": record.times_min},
        metadata={
            "record": json.loads(record.to_json()),
            "locale": session.locale,
            "units": session.units,
            "keep_foreign": session.keep_foreign,
            "started_at": session.started_at.isoformat(),
        },
    )


# --- routes ------------------------------------------------------------------------------

LocaleQuery = Annotated[str | None, Query(min_length=2, max_length=20)]


@education_router.get("/cases")
def list_cases(request: Request, locale: Annotated[str, Query(max_length=20)] = "en") -> Any:
    """The shipped training cases, titles and summaries in the learner's language."""
    registry = _registry(request)
    loc = registry.localizer(locale, None)
    rows = []
    for case_id in case_ids():
        case = registry.case(case_id)
        rows.append(
            {
                "id": case.id,
                "version": case.version,
                "model": case.patient.model,
                "duration_min": case.duration_min,
                "title": loc.gettext(case.title),
            }
        )
    return {"locale": loc.choice.tag, "cases": rows}


@education_router.post("/sessions", status_code=201)
def start_session(request: Request, body: SessionCreate, response: Response) -> Any:
    """Start a case for one learner; answer its state (opening narrative included)."""
    registry = _registry(request)
    case = registry.case(body.case_id)
    registry.localizer(body.locale, body.units)  # an unknown locale is refused up front
    culture_for(case, body.locale, body.keep_foreign)
    session_id = f"es-{uuid.uuid4().hex[:16]}"
    session = EducationSession(
        session_id=session_id,
        case=case,
        engine=Session(case, body.seed, started_at=datetime.now(UTC).isoformat(timespec="seconds")),
        locale=body.locale,
        units=body.units,
        keep_foreign=body.keep_foreign,
        started_at=datetime.now(UTC),
    )
    with session.lock:
        session.take(session.engine.start())
        registry.add(session)
        response.headers["Location"] = f"/api/v1/education/sessions/{session_id}"
        return _state(session, _view(request, session, None))


@education_router.get("/sessions/{session_id}")
def get_session(request: Request, session_id: str, locale: LocaleQuery = None) -> Any:
    """The session now, rendered in its locale (or ``?locale=``)."""
    session = _registry(request).get(session_id)
    with session.lock:
        return _state(session, _view(request, session, locale))


@education_router.post("/sessions/{session_id}/actions")
def take_action(
    request: Request, session_id: str, body: ActionIn, locale: LocaleQuery = None
) -> Any:
    """Take an action now (dose in the learner's units, converted to canonical)."""

    def act(session: EducationSession, view: _View) -> list[Message]:
        return session.engine.act(body.action_id, _canonical_dose(view, session.case, body))

    return _moved(request, session_id, locale, act)


@education_router.post("/sessions/{session_id}/requests")
def request_information(
    request: Request, session_id: str, body: RequestIn, locale: LocaleQuery = None
) -> Any:
    """Ask for information (results with a turnaround arrive as the twin advances)."""
    return _moved(request, session_id, locale, lambda s, _: s.engine.request(body.info_id))


@education_router.post("/sessions/{session_id}/advance")
def advance(request: Request, session_id: str, body: AdvanceIn, locale: LocaleQuery = None) -> Any:
    """Let ``minutes`` of twin time pass at once (capped at the case's end)."""
    return _moved(request, session_id, locale, lambda s, _: s.engine.advance(body.minutes))


@education_router.post("/sessions/{session_id}/end")
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
    session = _registry(request).get(session_id)
    with session.lock:
        if not session.ended:
            engine = session.engine
            if not engine.finished:
                session.take(engine.advance(session.case.duration_min - engine.now_min))
            _persist(_store(request), session)
            session.ended = True
        view = _view(request, session, locale)
        record = session.engine.record()
        state = _state(session, view)
    case = session.case
    doc = {"session_id": session_id, **_report(case, record, view, session.started_at, body)}
    if body.debrief:
        twin_min = _debrief_cost(_registry(request), case, record, body)
        if twin_min <= _registry(request).sync_debrief_twin_min:
            found = debrief(case, record, shifts=tuple(body.shifts), n_draws=body.n_draws)
            doc["debrief"] = _debrief_doc(found, view)
        else:
            job, location = _submit_debrief(request, session_id, case, record, view, body)
            response.status_code = 202
            response.headers["Location"] = location
            doc["debrief_job"] = _job_view(job, location)
    return {**doc, "state": state}


@education_router.post("/sessions/{session_id}/debrief", status_code=202)
def debrief_session(
    request: Request,
    session_id: str,
    response: Response,
    body: DebriefIn | None = None,
    locale: LocaleQuery = None,
) -> Any:
    """Debrief a finished session in the background; answer the job and its ``Location``."""
    body = body or DebriefIn()
    case, record, view, _ = _finished(request, session_id, locale)
    job, location = _submit_debrief(request, session_id, case, record, view, body)
    response.headers["Location"] = location
    return _job_view(job, location)


@education_router.get("/debriefs/{job_id}")
def get_debrief(request: Request, job_id: str) -> Any:
    """A debrief job: status and progress; with the debrief once it has succeeded."""
    runner = _jobs(request)
    location = f"/api/v1/education/debriefs/{job_id}"
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


@education_router.post("/debriefs/{job_id}/cancel", status_code=202)
def cancel_debrief(request: Request, job_id: str) -> Any:
    """Ask a debrief job to stop at its next variant."""
    runner = _jobs(request)
    if runner.get(job_id).kind != DEBRIEF_JOB_KIND:
        raise NotFoundError(f"job {job_id} is not a debrief; see /api/v1/jobs/{job_id}")
    return _job_view(runner.cancel(job_id), f"/api/v1/education/debriefs/{job_id}")


def _stored_debrief(runner: JobRunner, job_id: str) -> dict[str, Any]:
    if not job_id.replace("-", "").isalnum() or len(job_id) > 60:
        raise NotFoundError(f"no debrief job {job_id[:80]!r}")
    result = runner.result(job_id)
    if result.get("kind") != DEBRIEF_JOB_KIND:
        raise NotFoundError(f"job {job_id} is not a debrief; see /api/v1/jobs/{job_id}")
    return {k: result[k] for k in ("session_id", "locale", "debrief")}


@education_router.get("/sessions/{session_id}/report")
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
    case, record, view, started = _graded_again(request, session_id, locale)
    body = EndIn(debrief=with_debrief, n_draws=n_draws)
    doc = {"session_id": session_id, **_report(case, record, view, started, body)}
    if with_debrief:
        twin_min = _debrief_cost(_registry(request), case, record, body)
        if twin_min > _registry(request).sync_debrief_twin_min:
            raise InvalidInputError(
                f"a debrief of {twin_min:g} twin minutes is more than the "
                f"{_registry(request).sync_debrief_twin_min:g} one request may run; ask for "
                f"it as a background job: POST /api/v1/education/sessions/{session_id}/debrief"
            )
        found = debrief(case, record, shifts=tuple(body.shifts), n_draws=body.n_draws)
        doc["debrief"] = _debrief_doc(found, view)
    return doc


def _finished(
    request: Request, session_id: str, locale: str | None
) -> tuple[Case, SessionRecord, _View, datetime]:
    """A finished session's case, record, view and start: live, else from the store."""
    session = _registry(request).find(session_id)
    if session is None:
        return _graded_again(request, session_id, locale)
    with session.lock:
        if not session.ended:
            raise ConflictError(
                f"training session {session_id} is still being played; end it first with "
                f"POST /api/v1/education/sessions/{session_id}/end"
            )
        view = _view(request, session, locale)
        return session.case, session.engine.record(), view, session.started_at


def _graded_again(
    request: Request, session_id: str, locale: str | None
) -> tuple[Case, SessionRecord, _View, datetime]:
    """A stored session's case, verified record, view and start."""
    snapshot = _stored(_store(request), session_id)
    meta = snapshot.metadata
    stored = SessionRecord.from_json(json.dumps(meta["record"]))
    registry = _registry(request)
    case = registry.case(stored.case_id)
    if case.version != stored.case_version:
        raise ConflictError(
            f"session {session_id} was played on version {stored.case_version} of case "
            f"{case.id!r}, which is now version {case.version}; it cannot be graded again"
        )
    # The stored measures are not trusted: grade what a replay of the actions gives.
    record = verified_record(case, stored)
    chosen = locale or str(meta["locale"])
    units = meta.get("units")
    view = _View(
        registry.localizer(chosen, units),
        culture_for(case, chosen, bool(meta.get("keep_foreign"))),
    )
    return case, record, view, datetime.fromisoformat(str(meta["started_at"]))


def _stored(store: Store, session_id: str) -> Any:
    if not session_id.replace("-", "").isalnum() or len(session_id) > 60:
        raise NotFoundError(f"no finished training session {session_id[:80]!r}")
    try:
        history = store.twin_state_history(record_key(session_id))
    except NotFoundError as err:
        raise NotFoundError(
            f"no finished training session {session_id!r} is stored; end it first with "
            f"POST /api/v1/education/sessions/{session_id}/end"
        ) from err
    return history[-1]
