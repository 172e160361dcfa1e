"""The hash-chained audit log: canonical events, chain hashes, signed checkpoints, checks.

Each event (who, what, which patient, why, with what result, which query, when) is turned
into canonical bytes, ``c_i`` = sorted-key compact UTF-8 JSON with UTC ISO times and its own
sequence number, and chained::

    hash_0 = "0" * 64                                  (the genesis hash)
    hash_i = SHA-256(hash_{i-1} || c_i)                (hex; || joins the ASCII hex and c_i)

so changing, deleting, reordering or inserting an event breaks every later link. An
attacker who rewrites the whole tail consistently is caught by *checkpoints*: every N
events (or on demand) an Ed25519 signature over ``(sequence, hash, time)`` is stored; the
chain must pass through each checkpoint's hash, and a checkpoint past the end of the chain
shows that events were cut off. :func:`verify` streams events in sequence order and returns
the first bad sequence with the reason.

Events export as FHIR R4 AuditEvent in the shape of IHE Basic Audit Log Patterns (BALP):
``type``/``subtype`` (RESTful interaction or twin activity), ``action`` C/R/U/D/E,
``recorded``, ``outcome``, ``purposeOfEvent``, ``agent`` (who, requestor), ``source``,
``entity`` (what, the patient with role 1, the query in base64).

Numbers in ``details`` are canonicalised so that a JSON column that drops the
integer/float distinction (PostgreSQL JSONB) keeps hashes stable: an integral number up to
2**53 in magnitude is written as an integer, any other as the shortest float repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from healthtwin.errors import InvalidInputError
from healthtwin.governance.signing import PublicKey, SigningKey, verify_signature

__all__ = [
    "ACTION_CODES",
    "GENESIS_HASH",
    "OUTCOME_CODES",
    "AuditEntry",
    "Checkpoint",
    "VerifyReport",
    "canonical_event",
    "canonical_json",
    "chain_hash",
    "checkpoint_payload",
    "seal",
    "sign_checkpoint",
    "to_fhir_audit_event",
    "utc_iso",
    "verify",
]

#: The ``prev_hash`` of the first event.
GENESIS_HASH = "0" * 64
#: FHIR R4 AuditEvent.outcome codes of our outcome names.
OUTCOME_CODES = {
    "success": "0",
    "minor-failure": "4",
    "serious-failure": "8",
    "major-failure": "12",
}
#: FHIR AuditEvent.action of an action name (C create, R read, U update, D delete, E execute).
ACTION_CODES = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history": "R",
    "export": "R",
    "update": "U",
    "patch": "U",
    "accept": "U",
    "override": "U",
    "disable": "U",
    "enable": "U",
    "delete": "D",
}
# RESTful interactions (FHIR R4 restful-interaction) get type "rest"; others "twin".
_REST = frozenset(
    [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history",
        "create",
        "search",
        "search-type",
        "search-system",
        "capabilities",
        "transaction",
        "batch",
        "operation",
    ]
)
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
_OWN_SYSTEM = "https://healthtwin.example/fhir/CodeSystem"
_CHAIN_EXTENSION = "https://healthtwin.example/fhir/StructureDefinition/audit-chain"
_MAX_EXACT = 2**53


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One audit event as stored: ``sequence`` increases along the chain (from 1).

    ``prev_hash`` and ``hash`` are ``None`` until :func:`seal` links the event to the chain.
    ``patient`` is a reference (``"Patient/p1"``); ``query`` the query text as received.
    """

    sequence: int
    time: datetime
    actor: str
    action: str
    purpose: str | None
    outcome: str
    resource_refs: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    patient: str | None = None
    query: str | None = None
    prev_hash: str | None = None
    hash: str | None = None


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A signed statement that the chain's hash at ``sequence`` was ``hash`` at ``time``."""

    sequence: int
    hash: str
    time: datetime
    key_id: str
    signature: bytes


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """What :func:`verify` found.

    ``first_bad_sequence`` is the first event (or checkpoint) sequence at which the log
    stops being trustworthy, ``None`` when ``ok``; ``reason`` says why in words.
    ``head_sequence``/``head_hash`` are the last event checked.
    """

    ok: bool
    first_bad_sequence: int | None
    reason: str
    n_events: int
    n_checkpoints: int
    head_sequence: int
    head_hash: str


def utc_iso(time: datetime) -> str:
    """A time as UTC ISO 8601 with microseconds and ``Z`` (naive times are refused).

    Examples
    --------
    >>> from datetime import timedelta, timezone
    >>> utc_iso(datetime(2024, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))
    '2024-06-01T00:00:00.000000Z'
    """
    if not isinstance(time, datetime) or time.tzinfo is None or time.utcoffset() is None:
        raise InvalidInputError(f"audit time {time!r} has no time zone; give an aware UTC time")
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInputError(f"cannot canonicalise the non-finite number {value!r}")
        if number.is_integer() and abs(number) <= _MAX_EXACT:
            return int(number)
        return number
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise InvalidInputError(f"JSON object keys must be strings, got {list(value)!r:.80}")
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise InvalidInputError(
        f"cannot canonicalise a {type(value).__name__} ({value!r:.60}); use JSON values "
        "(str, number, bool, None, lists, dicts with string keys) or aware datetimes"
    )


def canonical_json(value: Any) -> bytes:
    """Sorted-key compact UTF-8 JSON of ``value`` (datetimes as UTC ISO, numbers normalised).

    Examples
    --------
    >>> canonical_json({"b": 1.0, "a": [2.5, "é"], "t": datetime(2024, 1, 1, tzinfo=UTC)})
    b'{"a":[2.5,"\\xc3\\xa9"],"b":1,"t":"2024-01-01T00:00:00.000000Z"}'
    """
    return json.dumps(
        _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_event(entry: AuditEntry) -> bytes:
    """The canonical bytes of an event's content (everything but ``prev_hash``/``hash``)."""
    return canonical_json(
        {
            "sequence": entry.sequence,
            "time": utc_iso(entry.time),
            "actor": entry.actor,
            "action": entry.action,
            "purpose": entry.purpose,
            "outcome": entry.outcome,
            "resource_refs": list(entry.resource_refs),
            "details": entry.details,
            "patient": entry.patient,
            "query": entry.query,
        }
    )


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """``SHA-256(prev_hash || canonical)`` in hex (``prev_hash`` as its ASCII hex).

    Examples
    --------
    >>> chain_hash(GENESIS_HASH, b"{}")[:12]
    '5508d2b710e6'
    """
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical)
    return digest.hexdigest()


def seal(entry: AuditEntry, prev_hash: str) -> AuditEntry:
    """``entry`` linked after the event whose hash is ``prev_hash``.

    Examples
    --------
    >>> first = seal(AuditEntry(sequence=1, time=datetime(2024, 1, 1, tzinfo=UTC),
    ...                         actor="Practitioner/dr1", action="read", purpose="TREAT",
    ...                         outcome="success"), GENESIS_HASH)
    >>> first.prev_hash == GENESIS_HASH, len(first.hash)
    (True, 64)
    >>> verify([first]).ok
    True
    """
    return replace(entry, prev_hash=prev_hash, hash=chain_hash(prev_hash, canonical_event(entry)))


def checkpoint_payload(sequence: int, hash_hex: str, time: datetime) -> bytes:
    """The bytes a checkpoint signs: canonical JSON of ``sequence``, ``hash``, ``time``."""
    return canonical_json({"sequence": sequence, "hash": hash_hex, "time": utc_iso(time)})


def sign_checkpoint(entry: AuditEntry, key: SigningKey, time: datetime) -> Checkpoint:
    """A checkpoint at a sealed event, signed with ``key``.

    Raises
    ------
    InvalidInputError
        If the event is not sealed.
    """
    if entry.hash is None:
        raise InvalidInputError(f"audit event {entry.sequence} is not sealed: no hash to sign")
    payload = checkpoint_payload(entry.sequence, entry.hash, time)
    return Checkpoint(
        sequence=entry.sequence,
        hash=entry.hash,
        time=time,
        key_id=key.key_id,
        signature=key.sign(payload),
    )


def _link_problem(entry: AuditEntry, expected_sequence: int, prev_hash: str) -> str | None:
    if entry.sequence < expected_sequence:
        return (
            f"event {entry.sequence} comes after event {expected_sequence - 1} "
            "(reordered or duplicated)"
        )
    if entry.prev_hash != prev_hash:
        if entry.sequence > expected_sequence:
            return (
                f"events {expected_sequence}..{entry.sequence - 1} before event "
                f"{entry.sequence} are missing (deleted): its prev_hash does not match"
            )
        return (
            f"event {entry.sequence}'s prev_hash does not match the hash of the event before "
            "it (an event was inserted, deleted or reordered, or the chain was rewritten)"
        )
    if entry.hash != chain_hash(prev_hash, canonical_event(entry)):
        return f"event {entry.sequence}'s content does not match its hash (it was changed)"
    return None


def _signature_problems(
    checkpoints: Sequence[Checkpoint], trusted: Mapping[str, PublicKey]
) -> list[tuple[int, str]]:
    problems = []
    for checkpoint in checkpoints:
        payload = checkpoint_payload(checkpoint.sequence, checkpoint.hash, checkpoint.time)
        try:
            verify_signature(payload, checkpoint.signature, checkpoint.key_id, trusted)
        except InvalidInputError as err:
            problems.append((checkpoint.sequence, f"checkpoint at {checkpoint.sequence}: {err}"))
    return problems


def verify(
    events: Iterable[AuditEntry],
    checkpoints: Sequence[Checkpoint] = (),
    trusted_keys: Mapping[str, PublicKey] | None = None,
    *,
    start_sequence: int = 1,
    start_hash: str = GENESIS_HASH,
) -> VerifyReport:
    """Check the chain and its checkpoints; report the first bad sequence.

    Parameters
    ----------
    events : iterable of AuditEntry
        Events in sequence order (streamed: any iterable, read once).
    checkpoints : sequence of Checkpoint
        Signed checkpoints; each signature must verify with a trusted key, the chain must
        have ``hash`` at each checkpoint's sequence, and no checkpoint may lie past the end.
    trusted_keys : mapping of key id to PublicKey, optional
        Keys allowed to sign checkpoints.
    start_sequence, start_hash : int, str
        Where the events start (to check a suffix from a trusted checkpoint).

    Returns
    -------
    VerifyReport
        ``ok`` with ``first_bad_sequence=None``, or the smallest bad sequence and why.

    Examples
    --------
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> chain, prev = [], GENESIS_HASH
    >>> for i in range(1, 4):
    ...     chain.append(seal(AuditEntry(sequence=i, time=t, actor="Device/a", action="read",
    ...                                  purpose=None, outcome="success"), prev))
    ...     prev = chain[-1].hash
    >>> verify(chain).ok
    True
    >>> chain[1] = replace(chain[1], actor="Device/b")
    >>> report = verify(chain)
    >>> report.ok, report.first_bad_sequence, report.reason
    (False, 2, "event 2's content does not match its hash (it was changed)")
    """
    trusted = trusted_keys or {}
    ordered = sorted(checkpoints, key=lambda c: c.sequence)
    problems = _signature_problems(ordered, trusted)
    at_sequence: dict[int, list[Checkpoint]] = {}
    for checkpoint in ordered:
        at_sequence.setdefault(checkpoint.sequence, []).append(checkpoint)
    expected, prev_hash, count = start_sequence, start_hash, 0
    seen: set[int] = set()
    for entry in events:
        problem = _link_problem(entry, expected, prev_hash)
        if problem is not None:
            problems.append((entry.sequence, problem))
            break
        assert entry.hash is not None
        count += 1
        expected, prev_hash = entry.sequence + 1, entry.hash
        if entry.sequence in at_sequence:
            seen.add(entry.sequence)
        if any(c.hash != entry.hash for c in at_sequence.get(entry.sequence, ())):
            problems.append(
                (
                    entry.sequence,
                    f"the chain does not pass through the signed checkpoint at "
                    f"{entry.sequence}: events at or before it were rewritten",
                )
            )
            break
    else:
        beyond = [c.sequence for c in ordered if c.sequence >= expected]
        if beyond:
            problems.append(
                (
                    expected,
                    f"the chain ends at event {expected - 1} but a signed checkpoint names "
                    f"event {beyond[0]}: events were deleted from the end",
                )
            )
    problems += [
        (c.sequence, f"the signed checkpoint names event {c.sequence}, which is missing from "
         "the chain (deleted)")
        for c in ordered
        if start_sequence <= c.sequence < expected and c.sequence not in seen
    ]  # fmt: skip
    first = min(problems, key=lambda p: p[0]) if problems else None
    return VerifyReport(
        ok=first is None,
        first_bad_sequence=None if first is None else first[0],
        reason="the chain and its checkpoints are intact" if first is None else first[1],
        n_events=count,
        n_checkpoints=len(ordered),
        head_sequence=expected - 1,
        head_hash=prev_hash,
    )


def _reference(value: str) -> dict[str, str]:
    return {"reference": value} if "/" in value else {"display": value}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return coding


def _entities(entry: AuditEntry) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if entry.patient is not None:
        entities.append(
            {
                "what": _reference(entry.patient),
                "type": _coding(f"{_TERMINOLOGY}/audit-entity-type", "1", "Person"),
                "role": _coding(f"{_TERMINOLOGY}/object-role", "1", "Patient"),
            }
        )
    for ref in entry.resource_refs:
        if ref != entry.patient:
            entities.append(
                {
                    "what": _reference(ref),
                    "type": _coding(f"{_TERMINOLOGY}/audit-entity-type", "2", "System Object"),
                    "role": _coding(f"{_TERMINOLOGY}/object-role", "4", "Domain Resource"),
                }
            )
    if entry.query is not None:
        entities.append(
            {
                "type": _coding(f"{_TERMINOLOGY}/audit-entity-type", "2", "System Object"),
                "role": _coding(f"{_TERMINOLOGY}/object-role", "24", "Query"),
                "query": base64.b64encode(entry.query.encode("utf-8")).decode("ascii"),
            }
        )
    return entities


def _chain_extension(entry: AuditEntry) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "sequence", "valueInteger": entry.sequence}]
    if entry.prev_hash is not None and entry.hash is not None:
        parts += [
            {"url": "prevHash", "valueString": entry.prev_hash},
            {"url": "hash", "valueString": entry.hash},
        ]
    if entry.details:
        parts.append({"url": "details", "valueString": canonical_json(entry.details).decode()})
    return {"url": _CHAIN_EXTENSION, "extension": parts}


def to_fhir_audit_event(
    entry: AuditEntry, *, observer: str = "Device/healthtwin"
) -> dict[str, Any]:
    """The event as a FHIR R4 AuditEvent (a plain dict, BALP-like).

    Parameters
    ----------
    entry : AuditEntry
        The event.
    observer : str
        The system that recorded it (``AuditEvent.source.observer``).

    Returns
    -------
    dict
        ``resourceType`` ``"AuditEvent"`` with ``id`` ``"audit-<sequence>"``; the chain
        link (sequence, prev_hash, hash) and ``details`` are carried in an extension.

    Examples
    --------
    >>> entry = AuditEntry(sequence=7, time=datetime(2024, 1, 1, tzinfo=UTC),
    ...                    actor="Practitioner/dr1", action="search", purpose="TREAT",
    ...                    outcome="success", patient="Patient/p1",
    ...                    query="Observation?patient=p1")
    >>> event = to_fhir_audit_event(entry)
    >>> event["action"], event["subtype"][0]["code"], event["outcome"]
    ('E', 'search', '0')
    >>> [e["role"]["code"] for e in event["entity"]]
    ['1', '24']
    """
    purposes = (
        [{"coding": [_coding(f"{_TERMINOLOGY}/v3-ActReason", entry.purpose)]}]
        if entry.purpose
        else []
    )
    rest = entry.action in _REST
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.sequence}",
        "extension": [_chain_extension(entry)],
        "type": (
            _coding(f"{_TERMINOLOGY}/audit-event-type", "rest", "RESTful Operation")
            if rest
            else _coding(f"{_OWN_SYSTEM}/audit-event-type", "twin", "Digital twin activity")
        ),
        "subtype": [
            _coding("http://hl7.org/fhir/restful-interaction", entry.action)
            if rest
            else _coding(f"{_OWN_SYSTEM}/audit-action", entry.action)
        ],
        "action": ACTION_CODES.get(entry.action, "E"),
        "recorded": utc_iso(entry.time),
        "outcome": OUTCOME_CODES.get(entry.outcome, "8"),
        "agent": [
            {
                "type": {
                    "coding": [
                        _coding(
                            f"{_TERMINOLOGY}/extra-security-role-type",
                            "dataprocessor" if entry.actor.startswith("Device/") else "humanuser",
                        )
                    ]
                },
                "who": _reference(entry.actor),
                "requestor": True,
                **({"purposeOfUse": purposes} if purposes else {}),
            },
            {"who": _reference(observer), "requestor": False},
        ],
        "source": {
            "observer": _reference(observer),
            "type": [_coding(f"{_TERMINOLOGY}/security-source-type", "4", "Application Server")],
        },
    }
    if purposes:
        event["purposeOfEvent"] = purposes
    if entry.outcome != "success" and "error" in entry.details:
        event["outcomeDesc"] = str(entry.details["error"])
    entities = _entities(entry)
    if entities:
        event["entity"] = entities
    return event
