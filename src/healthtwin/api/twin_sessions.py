"""The service's registry of live patient twins (the sessions themselves live below ``scenarios``).

:class:`TwinRegistry` is the explicit registry of sessions (one per application, kept in
``app.state``; never a module global). The twin's logic (ensemble, filter, forecasts,
what-if, recommendation, vital signs and NEWS2) is
:class:`healthtwin.scenarios.patient_session.PatientTwinSession`; its names are re-exported
here for the modules that import them from the API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from healthtwin.errors import ConflictError, NotFoundError
from healthtwin.scenarios.patient_session import (
    CGM_GLUCOSE,
    MAX_GAP_MIN,
    MAX_MEMBERS,
    MODEL,
    MODEL_VERSION,
    GlucoseReading,
    PatientTwinSession,
)

__all__ = [
    "CGM_GLUCOSE",
    "MAX_GAP_MIN",
    "MAX_MEMBERS",
    "MODEL",
    "MODEL_VERSION",
    "GlucoseReading",
    "PatientTwinSession",
    "Restore",
    "TwinRegistry",
]

#: Re-creates a twin that is not in memory (after a restart) from what is on file, or
#: answers ``None`` when nothing is.
Restore = Callable[[str], PatientTwinSession | None]


class TwinRegistry:
    """The service's live twins by id (thread-safe).

    With ``restore``, a twin that is not in memory (the service restarted) is re-created
    on demand by ``restore(twin_id)`` and kept; without it, or when nothing is on file,
    it is unknown.

    Examples
    --------
    >>> registry = TwinRegistry()
    >>> s = registry.add(PatientTwinSession.create("a", members=8))
    >>> registry.get("a") is s, registry.patient_of("a"), registry.patient_of("zz")
    (True, 'a', None)
    >>> again = TwinRegistry(restore=lambda i: PatientTwinSession.create(i, members=8))
    >>> again.get("b").twin_id, [s.twin_id for s in again.sessions()]
    ('b', ['b'])
    """

    def __init__(self, restore: Restore | None = None) -> None:
        self._sessions: dict[str, PatientTwinSession] = {}
        self._lock = threading.Lock()
        self._restore = restore

    def add(self, session: PatientTwinSession) -> PatientTwinSession:
        """Register ``session``; ``ConflictError`` if its id is taken."""
        with self._lock:
            if session.twin_id in self._sessions:
                raise ConflictError(
                    f"twin {session.twin_id!r} already exists; choose another id or omit it"
                )
            self._sessions[session.twin_id] = session
            return session

    def get(self, twin_id: str) -> PatientTwinSession:
        """The session ``twin_id``; ``NotFoundError`` otherwise (naming no other twin)."""
        session = self._find(twin_id)
        if session is None:
            # Other twins' ids are not listed: they would leak who has a twin.
            raise NotFoundError(
                f"no twin {twin_id!r}; GET /api/v1/twins lists the twins you may see"
            )
        return session

    def patient_of(self, twin_id: str) -> str | None:
        """The FHIR Patient id of a twin (``None`` if unknown)."""
        session = self._find(twin_id)
        return None if session is None else session.patient_id

    def _find(self, twin_id: str) -> PatientTwinSession | None:
        with self._lock:
            session = self._sessions.get(twin_id)
        if session is not None or self._restore is None:
            return session
        # Rebuilt outside the lock (it replays the twin's data); the first one kept wins.
        restored = self._restore(twin_id)
        if restored is None:
            return None
        with self._lock:
            return self._sessions.setdefault(twin_id, restored)

    def sessions(self) -> list[PatientTwinSession]:
        """Every session, by id."""
        with self._lock:
            return [self._sessions[k] for k in sorted(self._sessions)]
