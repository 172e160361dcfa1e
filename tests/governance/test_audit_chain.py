"""The audit hash chain in memory: sealing, every kind of tampering, checkpoints, FHIR."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError
from healthtwin.governance.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    Checkpoint,
    canonical_event,
    canonical_json,
    chain_hash,
    seal,
    sign_checkpoint,
    to_fhir_audit_event,
    verify,
)
from healthtwin.governance.signing import signing_key_from_seed

T0 = datetime(2024, 6, 1, tzinfo=UTC)
KEY = signing_key_from_seed(bytes(range(32)))
TRUSTED = {KEY.key_id: KEY.public_key}


def event(sequence: int, **changes: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "sequence": sequence,
        "time": T0 + timedelta(seconds=sequence),
        "actor": "Practitioner/dr1",
        "action": "read",
        "purpose": "TREAT",
        "outcome": "success",
        "resource_refs": (f"Observation/o{sequence}",),
        "details": {"n": sequence, "ratio": 0.5},
        "patient": "Patient/p1",
        "query": None,
    }
    return AuditEntry(**{**fields, **changes})


def chain(n: int) -> list[AuditEntry]:
    sealed, prev = [], GENESIS_HASH
    for sequence in range(1, n + 1):
        sealed.append(seal(event(sequence), prev))
        prev = str(sealed[-1].hash)
    return sealed


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_bytes() -> None:
    first, second = chain(2)
    canonical = canonical_event(first)
    assert first.hash == hashlib.sha256(GENESIS_HASH.encode() + canonical).hexdigest()
    assert second.prev_hash == first.hash
    assert json.loads(canonical)["time"] == "2024-06-01T00:00:01.000000Z"
    assert canonical == canonical_json(json.loads(canonical))  # sorted, compact, stable


def test_canonical_json_is_independent_of_key_order_time_zone_and_number_form() -> None:
    berlin = T0.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert canonical_json({"a": 1, "t": T0}) == canonical_json({"t": berlin, "a": 1.0})
    assert canonical_json({"x": 2**53 + 0.0}) == canonical_json({"x": 2**53})
    assert canonical_json({"x": 1e300}) == canonical_json({"x": int(1e300)})
    with pytest.raises(InvalidInputError, match="non-finite"):
        canonical_json({"x": float("nan")})
    with pytest.raises(InvalidInputError, match="cannot canonicalise a set"):
        canonical_json({"x": {1}})
    with pytest.raises(InvalidInputError, match="no time zone"):
        canonical_json({"t": datetime(2024, 1, 1)})


def test_an_intact_chain_verifies() -> None:
    events = chain(20)
    report = verify(events)
    assert report.ok
    assert report.first_bad_sequence is None
    assert (report.n_events, report.head_sequence, report.head_hash) == (20, 20, events[-1].hash)
    assert verify([]).ok


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "Practitioner/dr2"},
        {"action": "update"},
        {"purpose": "HRESCH"},
        {"outcome": "minor-failure"},
        {"resource_refs": ("Observation/o99",)},
        {"details": {"n": 7, "ratio": 0.25}},
        {"patient": "Patient/p2"},
        {"query": "Observation?patient=p2"},
        {"time": T0},
    ],
)
def test_any_changed_field_is_found_at_its_event(change: dict[str, Any]) -> None:
    events = chain(10)
    events[6] = replace(events[6], **change)
    report = verify(events)
    assert not report.ok
    assert report.first_bad_sequence == 7
    assert "content does not match its hash" in report.reason


def test_a_changed_event_whose_hash_was_recomputed_breaks_the_next_link() -> None:
    events = chain(10)
    events[3] = seal(replace(events[3], actor="Device/intruder"), str(events[2].hash))
    report = verify(events)
    assert report.first_bad_sequence == 5
    assert "prev_hash does not match" in report.reason


def test_a_deleted_event_is_found() -> None:
    events = chain(10)
    del events[4]
    report = verify(events)
    assert report.first_bad_sequence == 6
    assert "events 5..5 before event 6 are missing (deleted)" in report.reason


def test_reordered_events_are_found() -> None:
    events = chain(10)
    events[3], events[4] = events[4], events[3]
    report = verify(events)
    assert report.first_bad_sequence == 5
    # Swapping the contents but keeping the sequence numbers in place:
    events = chain(10)
    events[3], events[4] = (
        replace(events[4], sequence=4),
        replace(events[3], sequence=5),
    )
    assert verify(events).first_bad_sequence == 4


def test_an_inserted_event_is_found() -> None:
    events = chain(10)
    forged = seal(event(5, actor="Device/intruder"), str(events[3].hash))
    shifted = [replace(e, sequence=e.sequence + 1) for e in events[4:]]
    report = verify([*events[:4], forged, *shifted])
    assert report.first_bad_sequence == 6
    assert not report.ok


def test_a_duplicated_event_is_found() -> None:
    events = chain(5)
    report = verify([*events[:3], events[2], *events[3:]])
    assert report.first_bad_sequence == 3
    assert "reordered or duplicated" in report.reason


def test_gaps_in_sequence_numbers_are_allowed_when_the_links_hold() -> None:
    first = seal(event(1), GENESIS_HASH)
    third = seal(event(3), str(first.hash))
    assert verify([first, third]).ok


def test_checkpoints_sign_sequence_hash_and_time() -> None:
    events = chain(10)
    checkpoint = sign_checkpoint(events[4], KEY, T0)
    assert (checkpoint.sequence, checkpoint.hash, checkpoint.key_id) == (
        5,
        events[4].hash,
        KEY.key_id,
    )
    assert verify(events, [checkpoint], TRUSTED).ok
    assert verify(events, [checkpoint], TRUSTED).n_checkpoints == 1
    with pytest.raises(InvalidInputError, match="not sealed"):
        sign_checkpoint(event(1), KEY, T0)


def test_a_consistently_rewritten_chain_is_caught_by_a_checkpoint() -> None:
    events = chain(10)
    checkpoint = sign_checkpoint(events[7], KEY, T0)
    rewritten, prev = list(events[:2]), str(events[1].hash)
    for original in events[2:]:
        rewritten.append(seal(replace(original, actor="Device/intruder"), prev))
        prev = str(rewritten[-1].hash)
    assert verify(rewritten).ok  # without the checkpoint the forgery is undetectable
    report = verify(rewritten, [checkpoint], TRUSTED)
    assert report.first_bad_sequence == 8
    assert "does not pass through the signed checkpoint at 8" in report.reason


def test_a_truncated_chain_is_caught_by_a_checkpoint() -> None:
    events = chain(10)
    checkpoint = sign_checkpoint(events[9], KEY, T0)
    report = verify(events[:7], [checkpoint], TRUSTED)
    assert report.first_bad_sequence == 8
    assert "deleted from the end" in report.reason


def test_a_deleted_checkpointed_event_with_relinked_successors_is_found() -> None:
    events = chain(10)
    checkpoint = sign_checkpoint(events[4], KEY, T0)
    relinked, prev = list(events[:4]), str(events[3].hash)
    for original in events[5:]:
        relinked.append(seal(original, prev))
        prev = str(relinked[-1].hash)
    report = verify(relinked, [checkpoint], TRUSTED)
    assert report.first_bad_sequence == 5
    assert "missing from the chain" in report.reason


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (lambda c: replace(c, time=c.time + timedelta(seconds=1)), "does not verify"),
        (lambda c: replace(c, signature=c.signature[:-1]), "64 bytes"),
        (lambda c: replace(c, key_id="ab" * 32), "not among the 1 trusted keys"),
    ],
)
def test_forged_checkpoints_are_found(forge: Any, message: str) -> None:
    events = chain(6)
    forged: Checkpoint = forge(sign_checkpoint(events[2], KEY, T0))
    report = verify(events, [forged], TRUSTED)
    assert report.first_bad_sequence == 3
    assert message in report.reason


def test_checkpoints_need_trusted_keys() -> None:
    events = chain(3)
    report = verify(events, [sign_checkpoint(events[2], KEY, T0)])
    assert not report.ok
    assert "not among the 0 trusted keys" in report.reason


def test_the_first_problem_wins() -> None:
    events = chain(10)
    events[8] = replace(events[8], actor="x")
    late = sign_checkpoint(events[9], KEY, T0)
    early = replace(sign_checkpoint(events[1], KEY, T0), signature=bytes(64))
    assert verify(events, [late, early], TRUSTED).first_bad_sequence == 2


def test_a_suffix_verifies_from_a_trusted_head() -> None:
    events = chain(10)
    report = verify(events[5:], start_sequence=6, start_hash=str(events[4].hash))
    assert report.ok
    assert report.n_events == 5


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, 7),
    actor=st.text(min_size=1, max_size=20),
    details=st.dictionaries(
        st.text(max_size=5),
        st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
        max_size=3,
    ),
)
def test_property_every_content_change_is_found(
    index: int, actor: str, details: dict[str, Any]
) -> None:
    events = chain(8)
    changed = replace(events[index], actor=actor, details=details)
    same = canonical_event(changed) == canonical_event(events[index])
    events[index] = changed
    report = verify(events)
    assert report.ok == same
    if not same:
        assert report.first_bad_sequence == index + 1


def _validated(resource: dict[str, Any]) -> AuditEvent:
    return AuditEvent.model_validate(resource)


def test_fhir_export_is_a_valid_balp_like_audit_event() -> None:
    entry = seal(
        event(3, action="search", query="Observation?patient=p1&code=8867-4",
              resource_refs=("Patient/p1", "Observation/o3")),
        GENESIS_HASH,
    )  # fmt: skip
    resource = to_fhir_audit_event(entry)
    parsed = _validated(resource)
    assert parsed.action == "E"
    assert parsed.type.code == "rest"
    assert parsed.subtype[0].code == "search"
    assert parsed.outcome == "0"
    assert parsed.purposeOfEvent[0].coding[0].code == "TREAT"
    requestor = parsed.agent[0]
    assert requestor.requestor is True
    assert requestor.who.reference == "Practitioner/dr1"
    assert parsed.agent[1].requestor is False
    assert parsed.source.observer.reference == "Device/healthtwin"
    roles = [(e.what.reference if e.what else None, e.role.code) for e in parsed.entity]
    assert roles == [("Patient/p1", "1"), ("Observation/o3", "4"), (None, "24")]
    assert parsed.entity[2].query == b"Observation?patient=p1&code=8867-4"  # decoded by the model
    encoded = resource["entity"][2]["query"]
    assert base64.b64decode(encoded).decode() == "Observation?patient=p1&code=8867-4"
    chain_parts = {e["url"]: e for e in resource["extension"][0]["extension"]}
    assert chain_parts["hash"]["valueString"] == entry.hash
    assert chain_parts["sequence"]["valueInteger"] == 3


@pytest.mark.parametrize(
    ("action", "code", "kind"),
    [
        ("create", "C", "rest"),
        ("read", "R", "rest"),
        ("update", "U", "rest"),
        ("delete", "D", "rest"),
        ("predict", "E", "twin"),
        ("accept", "U", "twin"),
        ("override", "U", "twin"),
    ],
)
def test_fhir_actions(action: str, code: str, kind: str) -> None:
    parsed = _validated(to_fhir_audit_event(event(1, action=action, purpose=None)))
    assert parsed.action == code
    assert parsed.type.code == kind
    assert parsed.purposeOfEvent is None


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("success", "0"), ("minor-failure", "4"), ("serious-failure", "8"), ("major-failure", "12")],
)
def test_fhir_outcomes(outcome: str, code: str) -> None:
    entry = event(1, outcome=outcome, details={"error": "not found"}, actor="Device/importer")
    parsed = _validated(to_fhir_audit_event(entry, observer="Device/api"))
    assert parsed.outcome == code
    assert parsed.agent[0].type.coding[0].code == "dataprocessor"
    assert parsed.source.observer.reference == "Device/api"
    assert (parsed.outcomeDesc == "not found") == (outcome != "success")


def test_chain_hash_depends_on_the_previous_hash() -> None:
    assert chain_hash(GENESIS_HASH, b"x") != chain_hash("1" * 64, b"x")
