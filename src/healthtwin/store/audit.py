"""The audit log: append-only events saying who did what, to what, why, and how it went.

Events follow the shape of a FHIR AuditEvent (agent, action, purpose of use, entities,
patient, query, outcome) without the FHIR library. There is no update or delete here, and
triggers in the database refuse both, so the log can only grow. Look-ups by resource go
through the ``audit_event_resources`` index table (the patient is indexed there too), by
actor, patient and time through their indexes.

Every event is sealed into a hash chain (:mod:`healthtwin.governance.audit_chain`): an
append reads the chain head and writes the next sequence number with
``prev_hash`` = the head's hash, so appends must be serialised. SQLite write transactions
already hold the database's write lock (``BEGIN IMMEDIATE``); on PostgreSQL an append
takes a transaction-level advisory lock first. Signed checkpoints go into
``audit_checkpoints`` (:func:`record_checkpoint`), and :func:`verify_audit` streams the
whole chain through :func:`healthtwin.governance.audit_chain.verify`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from healthtwin.errors import InvalidInputError
from healthtwin.governance.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    Checkpoint,
    VerifyReport,
    seal,
    sign_checkpoint,
    verify,
)
from healthtwin.governance.signing import PublicKey, SigningKey
from healthtwin.interop.records import require_utc
from healthtwin.store.resources import now_utc
from healthtwin.store.schema import AuditCheckpointRow, AuditEventResourceRow, AuditEventRow

__all__ = [
    "OUTCOMES",
    "AuditEntry",
    "audit_checkpoints",
    "chain_head",
    "iter_audit",
    "last_checkpoint_sequence",
    "query_audit",
    "record_audit",
    "record_checkpoint",
    "verify_audit",
]

#: Outcomes, after FHIR AuditEvent.outcome (0 success, 4 minor, 8 serious, 12 major failure).
OUTCOMES = ("success", "minor-failure", "serious-failure", "major-failure")
# Any fixed 64-bit number (not the migrations' one): serialises audit appends on PostgreSQL.
_CHAIN_LOCK = 7_357_102_025
_EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
_EVENT_RESOURCES: Table = AuditEventResourceRow.__table__  # type: ignore[assignment]


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


def chain_head(session: Session) -> tuple[int, str]:
    """The last event's sequence and hash (``(0, GENESIS_HASH)`` for an empty log).

    Call it inside a write transaction after :func:`_lock_chain` to append safely.
    """
    row = (
        session.connection()
        .execute(
            select(AuditEventRow.row_id, AuditEventRow.hash)
            .order_by(AuditEventRow.row_id.desc())
            .limit(1)
        )
        .first()
    )
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), row[1] or ""


def _lock_chain(session: Session) -> None:
    # SQLite: a write session's first use sends BEGIN IMMEDIATE, which takes the lock.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK})"))


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
    patient: str | None = None,
    query: str | None = None,
) -> AuditEntry:
    """Append one event to the chain (``time`` defaults to now); return it as stored.

    ``patient`` is the patient the event is about (``"Patient/p1"``), ``query`` the query
    text as received (search parameters, a SQL-like description); both are hashed with
    the rest. Run it in a write transaction: the append reads the chain head.

    Raises
    ------
    InvalidInputError
        If a text is empty or too long, the outcome is not one of :data:`OUTCOMES`, a
        reference is not ``Type/id``, or ``details`` is not JSON.
    """
    _text(actor, "actor", 255)
    _text(action, "action", 64)
    _text(purpose, "purpose", 255, optional=True)
    _text(query, "query", 8000, optional=True)
    if outcome not in OUTCOMES:
        raise InvalidInputError(f"audit outcome {outcome!r} is not one of {list(OUTCOMES)}")
    refs = _checked_refs(resource_refs)
    patient_ref = _checked_refs((patient,))[0] if patient is not None else None
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(details or {}), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"audit details cannot be stored as JSON ({err})") from err
    if time is not None:
        require_utc(time, "audit time")
    _lock_chain(session)
    # Taken under the lock, so that default times never decrease along the chain.
    when = require_utc(time, "audit time") if time is not None else now_utc()
    head_sequence, head_hash = chain_head(session)
    entry = seal(
        AuditEntry(
            sequence=head_sequence + 1,
            time=when,
            actor=actor,
            action=action,
            purpose=purpose,
            outcome=outcome,
            resource_refs=refs,
            details=plain,
            patient=patient_ref,
            query=query,
        ),
        head_hash,
    )
    # Core statements on the session's connection: the ORM's bulk path costs 3x as much.
    connection = session.connection()
    connection.execute(
        _EVENTS.insert(),
        [
            {
                "row_id": entry.sequence,
                "time": when,
                "actor": actor,
                "action": action,
                "purpose": purpose,
                "outcome": outcome,
                "resource_refs": list(refs),
                "details": plain,
                "patient": patient_ref,
                "query_text": query,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            }
        ],
    )
    indexed = tuple(dict.fromkeys((*refs, *((patient_ref,) if patient_ref else ()))))
    if indexed:
        connection.execute(
            _EVENT_RESOURCES.insert(),
            [{"event_id": entry.sequence, "reference": ref} for ref in indexed],
        )
    return entry


def query_audit(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource_ref: str | None = None,
    patient: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Events matching every filter given, oldest first (``start <= time < end``).

    ``resource_ref`` matches an event's resources and its patient.
    """
    query = select(AuditEventRow)
    if actor is not None:
        query = query.where(AuditEventRow.actor == actor)
    if action is not None:
        query = query.where(AuditEventRow.action == action)
    if patient is not None:
        query = query.where(AuditEventRow.patient == patient)
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


def iter_audit(
    session: Session, *, after_sequence: int = 0, batch_size: int = 5000
) -> Iterator[AuditEntry]:
    """Every event after ``after_sequence`` in chain order, read ``batch_size`` at a time."""
    columns = AuditEventRow.__table__.columns
    while True:
        rows = session.execute(
            select(*columns)
            .where(AuditEventRow.row_id > after_sequence)
            .order_by(AuditEventRow.row_id)
            .limit(batch_size)
        ).all()
        for row in rows:
            yield _entry(row)
        if len(rows) < batch_size:
            return
        after_sequence = rows[-1].row_id


def record_checkpoint(
    session: Session, key: SigningKey, *, time: datetime | None = None
) -> Checkpoint | None:
    """Sign the chain head and store the checkpoint; ``None`` if the log is empty.

    Run it in a write transaction (it reads the head under the chain lock).
    """
    _lock_chain(session)
    head = session.execute(
        select(*AuditEventRow.__table__.columns).order_by(AuditEventRow.row_id.desc()).limit(1)
    ).first()
    if head is None:
        return None
    when = require_utc(time, "checkpoint time") if time is not None else now_utc()
    checkpoint = sign_checkpoint(_entry(head), key, when)
    session.add(
        AuditCheckpointRow(
            sequence=checkpoint.sequence,
            hash=checkpoint.hash,
            time=checkpoint.time,
            key_id=checkpoint.key_id,
            signature=checkpoint.signature,
        )
    )
    session.flush()
    return checkpoint


def last_checkpoint_sequence(session: Session) -> int:
    """The sequence of the newest checkpoint (0 if none)."""
    value = session.execute(
        select(AuditCheckpointRow.sequence).order_by(AuditCheckpointRow.sequence.desc()).limit(1)
    ).scalar()
    return int(value) if value is not None else 0


def audit_checkpoints(session: Session) -> list[Checkpoint]:
    """Every checkpoint, by sequence."""
    rows = session.scalars(
        select(AuditCheckpointRow).order_by(AuditCheckpointRow.sequence, AuditCheckpointRow.row_id)
    )
    return [
        Checkpoint(
            sequence=row.sequence,
            hash=row.hash,
            time=row.time,
            key_id=row.key_id,
            signature=bytes(row.signature),
        )
        for row in rows
    ]


def verify_audit(
    session: Session, trusted_keys: Mapping[str, PublicKey] | None = None, *, batch_size: int = 5000
) -> VerifyReport:
    """Verify the whole stored chain and its checkpoints (see ``audit_chain.verify``)."""
    return verify(
        iter_audit(session, batch_size=batch_size), audit_checkpoints(session), trusted_keys
    )


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        sequence=row.row_id,
        time=row.time,
        actor=row.actor,
        action=row.action,
        purpose=row.purpose,
        outcome=row.outcome,
        resource_refs=tuple(row.resource_refs),
        details=dict(row.details),
        patient=row.patient,
        query=row.query_text,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
