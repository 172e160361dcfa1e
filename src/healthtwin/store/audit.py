"""The audit log: append-only events saying who did what, to what, why, and how it went.

Events follow the shape of a FHIR AuditEvent (agent, action, purpose of use, entities,
outcome) without the FHIR library. There is no update or delete here, and triggers in the
database refuse both, so the log can only grow. Look-ups by resource go through the
``audit_event_resources`` index table, by actor and time through their indexes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from healthtwin.errors import InvalidInputError
from healthtwin.interop.records import require_utc
from healthtwin.store.resources import now_utc
from healthtwin.store.schema import AuditEventResourceRow, AuditEventRow

__all__ = ["OUTCOMES", "AuditEntry", "query_audit", "record_audit"]

#: Outcomes, after FHIR AuditEvent.outcome (0 success, 4 minor, 8 serious, 12 major failure).
OUTCOMES = ("success", "minor-failure", "serious-failure", "major-failure")


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One audit event as stored (``sequence`` orders events recorded at the same time)."""

    sequence: int
    time: datetime
    actor: str
    action: str
    purpose: str | None
    outcome: str
    resource_refs: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def _text(value: str | None, what: str, max_length: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInputError(
            f"audit {what} must be a non-empty string of at most {max_length} characters, "
            f"got {value!r}"
        )


def _checked_refs(resource_refs: Sequence[str]) -> tuple[str, ...]:
    if isinstance(resource_refs, str):
        resource_refs = (resource_refs,)
    refs = tuple(dict.fromkeys(resource_refs))
    for ref in refs:
        _text(ref, "resource reference", 160)
        if "/" not in ref:
            raise InvalidInputError(
                f"audit resource reference {ref!r} is not of the form 'Type/id' "
                "(for example 'Patient/p1')"
            )
    return refs


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str = "success",
    purpose: str | None = None,
    resource_refs: Sequence[str] = (),
    details: Mapping[str, Any] | None = None,
    time: datetime | None = None,
) -> AuditEntry:
    """Append one event (``time`` defaults to now); return it as stored.

    Raises
    ------
    InvalidInputError
        If a text is empty or too long, the outcome is not one of :data:`OUTCOMES`, a
        reference is not ``Type/id``, or ``details`` is not JSON.
    """
    _text(actor, "actor", 255)
    _text(action, "action", 64)
    _text(purpose, "purpose", 255, optional=True)
    if outcome not in OUTCOMES:
        raise InvalidInputError(f"audit outcome {outcome!r} is not one of {list(OUTCOMES)}")
    refs = _checked_refs(resource_refs)
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(details or {}), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"audit details cannot be stored as JSON ({err})") from err
    when = require_utc(time, "audit time") if time is not None else now_utc()
    row = AuditEventRow(
        time=when,
        actor=actor,
        action=action,
        purpose=purpose,
        outcome=outcome,
        resource_refs=list(refs),
        details=plain,
    )
    session.add(row)
    session.flush()
    if refs:
        session.execute(
            insert(AuditEventResourceRow),
            [{"event_id": row.row_id, "reference": ref} for ref in refs],
        )
    return _entry(row)


def query_audit(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource_ref: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Events matching every filter given, oldest first (``start <= time < end``)."""
    query = select(AuditEventRow)
    if actor is not None:
        query = query.where(AuditEventRow.actor == actor)
    if action is not None:
        query = query.where(AuditEventRow.action == action)
    if resource_ref is not None:
        query = query.where(
            AuditEventRow.row_id.in_(
                select(AuditEventResourceRow.event_id).where(
                    AuditEventResourceRow.reference == resource_ref
                )
            )
        )
    if start is not None:
        query = query.where(AuditEventRow.time >= require_utc(start, "start"))
    if end is not None:
        query = query.where(AuditEventRow.time < require_utc(end, "end"))
    query = query.order_by(AuditEventRow.time, AuditEventRow.row_id)
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in session.scalars(query)]


def _entry(row: AuditEventRow) -> AuditEntry:
    return AuditEntry(
        sequence=row.row_id,
        time=row.time,
        actor=row.actor,
        action=row.action,
        purpose=row.purpose,
        outcome=row.outcome,
        resource_refs=tuple(row.resource_refs),
        details=dict(row.details),
    )
