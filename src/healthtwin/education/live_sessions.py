"""Training sessions a service holds: started, played under a lock, ended and kept in the store.

An :class:`EducationSession` is one learner's live :class:`~healthtwin.education.engine.Session`
with what was shown so far (locale-free: every message, the measured values of results).
An :class:`EducationRegistry` (one per application, never a module global) holds the live
sessions (the oldest finished one is dropped when full), loads the shipped cases once and
keeps one :class:`~healthtwin.education.i18n.Localizer` per locale and units.

Ending a session (:func:`finish_session`) plays the twin on to the case's end and keeps its
locale-free record in the store as twin state ``edu.<session id>`` (:func:`record_key`),
so that :func:`graded_again` grades it later, in any locale and after a restart too:
the stored measures are not trusted, the record is replayed from its actions
(:func:`~healthtwin.education.verify.verified_record`).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from healthtwin.education.case import Case, case_ids, load_case
from healthtwin.education.culture import culture_for
from healthtwin.education.debrief import debrief
from healthtwin.education.debrief_runs import (
    MAX_DEBRIEF_TWIN_MIN,
    SYNC_DEBRIEF_TWIN_MIN,
    debrief_twin_min,
)
from healthtwin.education.engine import Session
from healthtwin.education.i18n import Localizer, resolve_locale
from healthtwin.education.learner_errors import ERR_SESSION_CLOSED, LearnerConflictError
from healthtwin.education.record import Message, Quantity, SessionRecord
from healthtwin.education.session_views import SessionView, debrief_doc, report_doc
from healthtwin.education.verify import verified_record
from healthtwin.errors import ConflictError, NotFoundError
from healthtwin.store import Store, TwinStateSnapshot

__all__ = [
    "MAX_SESSIONS",
    "RECORD_PREFIX",
    "EducationRegistry",
    "EducationSession",
    "FinishedSession",
    "finish_session",
    "finished_session",
    "graded_again",
    "persist_session",
    "record_key",
    "stored_session",
]

#: Prefix of the twin-state ids that hold finished sessions' records.
RECORD_PREFIX = "edu."
#: Most sessions one registry holds in memory (finished ones are dropped first).
MAX_SESSIONS = 500
#: The ``model`` of the twin states that hold finished sessions.
SESSION_MODEL = "education-session"
_REPORT_ROUTE = "/api/v1/education/sessions/{}/report"
_END_ROUTE = "POST /api/v1/education/sessions/{}/end"


def record_key(session_id: str) -> str:
    """Where a finished session's record is kept among the store's twin states.

    Examples
    --------
    >>> record_key("es-0123")
    'edu.es-0123'
    """
    return f"{RECORD_PREFIX}{session_id}"


@dataclass
class EducationSession:
    """One learner's live session, with what was shown so far (locale-free).

    ``messages`` are every message the engine returned, in order; ``results`` are the
    measured values shown in results, as ``(t_min, measure, canonical value)``. Moves are
    applied under ``lock`` (:meth:`play`), one after the other.
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

    def play(self, move: Callable[[Session], Iterable[Message]]) -> list[Message]:
        """Apply ``move(engine)`` and log what it shows; refused once the session has ended.

        Raises
        ------
        LearnerConflictError
            If the session has ended (its message names where its report is).
        """
        with self.lock:
            if self.ended:
                report = _REPORT_ROUTE.format(self.session_id)
                raise LearnerConflictError(
                    ERR_SESSION_CLOSED,
                    {"report": report, "session_id": self.session_id},
                    english=f"training session {self.session_id} has ended; read its report "
                    f"at {report}",
                )
            return self.take(move(self.engine))


@dataclass(frozen=True)
class FinishedSession:
    """A finished session to grade: its case, record, the learner's view and its start."""

    case: Case
    record: SessionRecord
    view: SessionView
    started_at: datetime

    def report(self, actor_mbox: str) -> dict[str, Any]:
        """The score report (:func:`~healthtwin.education.session_views.report_doc`)."""
        return report_doc(self.case, self.record, self.view, self.started_at, actor_mbox)

    def debrief_twin_min(
        self, n_shifts: int, n_draws: int, *, limit_twin_min: float = MAX_DEBRIEF_TWIN_MIN
    ) -> float:
        """Twin minutes its debrief replays (:func:`~.debrief_runs.debrief_twin_min`)."""
        n_actions, duration_min = len(self.record.actions), self.case.duration_min
        return debrief_twin_min(
            n_actions, n_shifts, n_draws, duration_min, limit_twin_min=limit_twin_min
        )

    def debrief(self, shifts: Sequence[float], n_draws: int) -> dict[str, Any]:
        """Its counterfactual debrief, now, rendered for the learner."""
        found = debrief(self.case, self.record, shifts=tuple(shifts), n_draws=n_draws)
        return debrief_doc(found, self.view)


class EducationRegistry:
    """The live education sessions, cases and localizers of one application (thread-safe).

    Examples
    --------
    >>> registry = EducationRegistry()
    >>> registry.localizer("de_DE", None).language
    'de'
    >>> registry.sync_debrief_twin_min, registry.max_debrief_twin_min
    (2500.0, 2000000.0)
    >>> session = registry.start("hypoglycaemia", seed=0, locale="fr")
    >>> registry.get(session.session_id) is session, session.messages[0].kind
    (True, 'narrative')
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

    def view(self, case: Case, locale: str, units: str | None, keep_foreign: bool) -> SessionView:
        """How a learner in ``locale`` (with ``units``) reads ``case``."""
        return SessionView(self.localizer(locale, units), culture_for(case, locale, keep_foreign))

    def view_of(self, session: EducationSession, locale: str | None = None) -> SessionView:
        """How ``session`` reads in its own locale, or in ``locale``."""
        return self.view(
            session.case, locale or session.locale, session.units, session.keep_foreign
        )

    def start(
        self,
        case_id: str,
        *,
        seed: int = 0,
        locale: str = "en",
        units: str | None = None,
        keep_foreign: bool = False,
        session_id: str | None = None,
    ) -> EducationSession:
        """Start ``case_id`` for one learner (its opening messages taken) and hold it.

        An unknown case, locale or units is refused before anything is held.
        """
        case = self.case(case_id)
        self.view(case, locale, units, keep_foreign)
        now = datetime.now(UTC)
        session = EducationSession(
            session_id=session_id or f"es-{uuid.uuid4().hex[:16]}",
            case=case,
            engine=Session(case, seed, started_at=now.isoformat(timespec="seconds")),
            locale=locale,
            units=units,
            keep_foreign=keep_foreign,
            started_at=now,
        )
        with session.lock:
            session.take(session.engine.start())
            return self.add(session)

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


def persist_session(store: Store, session: EducationSession) -> TwinStateSnapshot:
    """Keep ``session``'s locale-free record in ``store`` (twin state :func:`record_key`).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> session = EducationRegistry().start("hypoglycaemia", session_id="es-p1")
    >>> with open_store("sqlite://") as store:
    ...     snapshot = persist_session(store, session)
    >>> snapshot.twin_id, snapshot.model, snapshot.metadata["locale"]
    ('edu.es-p1', 'education-session', 'en')
    """
    record = session.engine.record()
    return store.save_twin_state(
        record_key(session.session_id),
        model=SESSION_MODEL,
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


def finish_session(store: Store, session: EducationSession) -> bool:
    """End ``session``: the twin plays on to the case's end and its record is stored.

    Answers whether it ended now (``False`` if it had ended before: nothing is done).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> registry = EducationRegistry()
    >>> with open_store("sqlite://") as store:
    ...     session = registry.start("hypoglycaemia", locale="de")
    ...     ended = finish_session(store, session), finish_session(store, session)
    ...     again = graded_again(EducationRegistry(), store, session.session_id, "fr")
    >>> ended, session.engine.finished, again.view.loc.choice.tag
    ((True, False), True, 'fr')
    >>> again.record.to_json() == session.engine.record().to_json()
    True
    """
    with session.lock:
        if session.ended:
            return False
        engine = session.engine
        if not engine.finished:
            session.take(engine.advance(session.case.duration_min - engine.now_min))
        persist_session(store, session)
        session.ended = True
        return True


def stored_session(store: Store, session_id: str) -> TwinStateSnapshot:
    """The latest stored snapshot of a finished session.

    Raises
    ------
    NotFoundError
        If ``session_id`` is not an id, or no finished session of that id is stored.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     stored_session(store, "es-none")
    Traceback (most recent call last):
    ...
    healthtwin.errors.NotFoundError: no finished training session 'es-none' is stored; ...
    """
    if not session_id.replace("-", "").isalnum() or len(session_id) > 60:
        raise NotFoundError(f"no finished training session {session_id[:80]!r}")
    try:
        history = store.twin_state_history(record_key(session_id))
    except NotFoundError as err:
        raise NotFoundError(
            f"no finished training session {session_id!r} is stored; end it first with "
            + _END_ROUTE.format(session_id)
        ) from err
    return history[-1]


def graded_again(
    registry: EducationRegistry, store: Store, session_id: str, locale: str | None = None
) -> FinishedSession:
    """A stored session, its record replayed from its actions, read in ``locale``.

    Raises
    ------
    NotFoundError
        If no such finished session is stored.
    ConflictError
        If the session was played on another version of its case.
    """
    meta = stored_session(store, session_id).metadata
    stored = SessionRecord.from_json(json.dumps(meta["record"]))
    case = registry.case(stored.case_id)
    if case.version != stored.case_version:
        raise ConflictError(
            f"session {session_id} was played on version {stored.case_version} of case "
            f"{case.id!r}, which is now version {case.version}; it cannot be graded again"
        )
    # The stored measures are not trusted: grade what a replay of the actions gives.
    record = verified_record(case, stored)
    chosen = locale or str(meta["locale"])
    view = registry.view(case, chosen, meta.get("units"), bool(meta.get("keep_foreign")))
    return FinishedSession(case, record, view, datetime.fromisoformat(str(meta["started_at"])))


def finished_session(
    registry: EducationRegistry, store: Store, session_id: str, locale: str | None = None
) -> FinishedSession:
    """A finished session: the live one if held, else as stored (:func:`graded_again`).

    Raises
    ------
    ConflictError
        If the session is held and still being played.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> registry = EducationRegistry()
    >>> session = registry.start("hypoglycaemia", session_id="es-f1")
    >>> with open_store("sqlite://") as store:
    ...     finished_session(registry, store, "es-f1")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConflictError: training session es-f1 is still being played; ...
    """
    session = registry.find(session_id)
    if session is None:
        return graded_again(registry, store, session_id, locale)
    with session.lock:
        if not session.ended:
            raise ConflictError(
                f"training session {session_id} is still being played; end it first with "
                + _END_ROUTE.format(session_id)
            )
        view = registry.view_of(session, locale)
        return FinishedSession(session.case, session.engine.record(), view, session.started_at)
