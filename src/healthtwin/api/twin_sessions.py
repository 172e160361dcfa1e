"""The service's registry of live patient twins (the sessions themselves live below ``scenarios``).

:class:`TwinRegistry` is the explicit registry of sessions (one per application, kept in
``app.state``; never a module global). The twin's logic (ensemble, filter, forecasts,
what-if, recommendation, vital signs and NEWS2) is
:class:`healthtwin.scenarios.patient_session.PatientTwinSession`; its names are re-exported
here for the modules that import them from the API.
"""

from __future__ import annotations

import threading

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
    "TwinRegistry",
]


class TwinRegistry:
    """The service's live twins by id (thread-safe).

    Examples
    --------
    >>> registry = TwinRegistry()
    >>> s = registry.add(PatientTwinSession.create("a", members=8))
    >>> registry.get("a") is s, registry.patient_of("a"), registry.patient_of("zz")
    (True, 'a', None)
    """

    def __init__(self) -> None:
        self._sessions: dict[str, PatientTwinSession] = {}
        self._lock = threading.Lock()

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
        with self._lock:
            session = self._sessions.get(twin_id)
        if session is None:
            # Other twins' ids are not listed: they would leak who has a twin.
            raise NotFoundError(
                f"no twin {twin_id!r}; GET /api/v1/twins lists the twins you may see"
            )
        return session

    def patient_of(self, twin_id: str) -> str | None:
        """The FHIR Patient id of a twin (``None`` if unknown)."""
        with self._lock:
            session = self._sessions.get(twin_id)
        return None if session is None else session.patient_id

    def sessions(self) -> list[PatientTwinSession]:
        """Every session, by id."""
        with self._lock:
            return [self._sessions[k] for k in sorted(self._sessions)]
