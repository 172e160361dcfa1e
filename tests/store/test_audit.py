"""The audit log: recording, filtering, and refusal of any change by the database itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from healthtwin.errors import InvalidInputError
from healthtwin.store import OUTCOMES, Store

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def fill(store: Store) -> None:
    store.record_audit(
        actor="Practitioner/dr1",
        action="read",
        purpose="TREAT",
        resource_refs=["Patient/p1", "Observation/o1"],
        time=T0,
    )
    store.record_audit(
        actor="Device/importer",
        action="create",
        resource_refs=["Patient/p2"],
        details={"bundle": "b1", "entries": 3},
        time=T0 + timedelta(minutes=1),
    )
    store.record_audit(
        actor="Practitioner/dr1",
        action="update",
        outcome="minor-failure",
        resource_refs=["Patient/p1", "Patient/p1"],
        time=T0 + timedelta(minutes=2),
    )


def test_events_are_stored_in_order_with_every_field(store: Store) -> None:
    fill(store)
    events = store.audit_events()
    assert [e.action for e in events] == ["read", "create", "update"]
    first, second, third = events
    assert first.resource_refs == ("Patient/p1", "Observation/o1")
    assert (first.purpose, first.outcome, first.time) == ("TREAT", "success", T0)
    assert second.details == {"bundle": "b1", "entries": 3}
    assert third.resource_refs == ("Patient/p1",)  # duplicates collapse
    assert first.sequence < second.sequence < third.sequence


def test_events_filter_by_actor_action_resource_and_time(store: Store) -> None:
    fill(store)
    assert [e.action for e in store.audit_events(actor="Practitioner/dr1")] == ["read", "update"]
    assert [e.action for e in store.audit_events(resource_ref="Patient/p1")] == ["read", "update"]
    assert [e.actor for e in store.audit_events(resource_ref="Observation/o1")] == [
        "Practitioner/dr1"
    ]
    assert [e.action for e in store.audit_events(action="create")] == ["create"]
    window = store.audit_events(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=2))
    assert [e.action for e in window] == ["create"]
    assert len(store.audit_events(limit=2)) == 2
    assert store.audit_events(actor="Practitioner/dr1", action="create") == []


def test_the_default_time_is_now(store: Store) -> None:
    event = store.record_audit(actor="Device/x", action="read")
    assert abs(event.time - datetime.now(UTC)) < timedelta(minutes=1)
    assert event.resource_refs == ()
    assert event.details == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actor": " "}, "audit actor must be a non-empty string"),
        ({"action": "x" * 65}, "audit action must be a non-empty string of at most 64"),
        ({"outcome": "fine"}, "audit outcome 'fine' is not one of"),
        ({"resource_refs": ["p1"]}, "'p1' is not of the form 'Type/id'"),
        ({"details": {"x": float("nan")}}, "audit details cannot be stored as JSON"),
        ({"time": datetime(2024, 1, 1)}, "audit time 2024-01-01T00:00:00 has no time zone"),
        ({"purpose": ""}, "audit purpose must be a non-empty string"),
    ],
)
def test_bad_events_are_refused(store: Store, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"actor": "Device/x", "action": "read", **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        store.record_audit(**arguments)  # type: ignore[arg-type]
    assert store.audit_events() == []


def test_a_single_reference_string_is_one_reference(store: Store) -> None:
    event = store.record_audit(actor="Device/x", action="read", resource_refs="Patient/p1")
    assert event.resource_refs == ("Patient/p1",)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "UPDATE audit_event_resources SET reference = 'Patient/p9'",
        "DELETE FROM audit_event_resources",
    ],
)
def test_the_database_refuses_to_change_the_log(store: Store, statement: str) -> None:
    fill(store)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text(statement))
    assert len(store.audit_events()) == 3
    assert len(store.audit_events(resource_ref="Patient/p1")) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_refuses_truncate_too(store: Store) -> None:
    fill(store)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_events CASCADE"))
    assert len(store.audit_events()) == 3


def test_outcomes_follow_fhir_audit_event() -> None:
    assert OUTCOMES == ("success", "minor-failure", "serious-failure", "major-failure")
