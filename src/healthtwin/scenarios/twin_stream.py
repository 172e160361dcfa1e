"""What a live view of a patient twin is sent: its vital-signs sets and what changed.

A stream keeps a :class:`StreamCursor` (how much of the twin it has sent);
:func:`stream_news` answers what changed since (new readings, new vital-signs sets with
their NEWS2, whether the glucose forecast moved) and the next cursor.
:func:`vitals_listing` is every set with its NEWS2, in time order. Each takes the twin's
lock: call them from a worker thread, not an event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from healthtwin.scenarios.patient_session import GlucoseReading, PatientTwinSession

__all__ = ["StreamCursor", "StreamNews", "reading_payload", "stream_news", "vitals_listing"]


@dataclass(frozen=True)
class StreamCursor:
    """How much of a twin a stream has sent: readings, vital-signs sets, events, version."""

    seen: int
    seen_sets: int
    n_events: int
    version: int

    @classmethod
    def at(cls, session: PatientTwinSession) -> StreamCursor:
        """Where the twin is now (takes its lock).

        Examples
        --------
        >>> StreamCursor.at(PatientTwinSession.create("c1", members=8)).seen
        0
        """
        with session.lock:
            return cls(
                len(session.readings), len(session.vitals), len(session.events), session.version
            )


@dataclass(frozen=True)
class StreamNews:
    """What changed since a cursor: new readings, vital-signs payloads, the next cursor."""

    readings: list[GlucoseReading]
    sets: list[dict[str, Any]]
    glucose_changed: bool
    cursor: StreamCursor


def stream_news(session: PatientTwinSession, cursor: StreamCursor) -> StreamNews:
    """The twin's changes since ``cursor`` (takes its lock).

    Examples
    --------
    >>> s = PatientTwinSession.create("c2", members=8)
    >>> start = StreamCursor.at(s)
    >>> _ = s.assimilate([GlucoseReading(5.0, 140.0)])
    >>> news = stream_news(s, start)
    >>> len(news.readings), news.sets, news.glucose_changed, news.cursor.seen
    (1, [], True, 1)
    """
    with session.lock:
        new = session.readings[cursor.seen :]
        sets = [
            {
                "twin_id": session.twin_id,
                "vitals": {**v.as_dict(), "time": session.when(v.t_min).isoformat()},
                "news2": n,
            }
            for v, n in zip(
                session.vitals[cursor.seen_sets :], session.news2[cursor.seen_sets :], strict=True
            )
        ]
        glucose_changed = bool(new) or len(session.events) != cursor.n_events or not sets
        return StreamNews(new, sets, glucose_changed, StreamCursor.at(session))


def reading_payload(session: PatientTwinSession, new: list[GlucoseReading]) -> dict[str, Any]:
    """New readings with the twin's 2-hour forecast (quantiles every 5 minutes)."""
    return {
        "twin_id": session.twin_id,
        "readings": [{"t_min": r.t_min, "glucose_mg_dl": r.glucose_mg_dl} for r in new],
        "forecast": session.forecast(120.0, 5.0),
    }


def vitals_listing(session: PatientTwinSession) -> dict[str, Any]:
    """Every vital-signs set of the twin in time order, each with its time and NEWS2."""
    with session.lock:
        pairs = sorted(zip(session.vitals, session.news2, strict=True), key=lambda p: p[0].t_min)
        return {
            "twin_id": session.twin_id,
            "vitals": [
                {**v.as_dict(), "time": session.when(v.t_min).isoformat(), "news2": n}
                for v, n in pairs
            ],
        }
