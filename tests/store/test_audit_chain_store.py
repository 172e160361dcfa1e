"""The stored audit chain: tampering in the database is found; checkpoints; concurrency.

Every test runs on SQLite and PostgreSQL (the ``store`` fixture). Tampering goes straight
to the tables, with the append-only triggers lifted first, as an attacker with database
rights would do.
"""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import Connection, text

from healthtwin.errors import InvalidParameterError
from healthtwin.governance.audit_chain import (
    GENESIS_HASH,
    canonical_event,
    chain_hash,
    to_fhir_audit_event,
)
from healthtwin.governance.signing import signing_key_from_seed
from healthtwin.store import RecordAudit, Store
from healthtwin.store.engine import create_store_engine
from healthtwin.store.migrate import upgrade_schema

T0 = datetime(2024, 6, 1, tzinfo=UTC)
KEY = signing_key_from_seed(bytes(range(32)))
TRUSTED = {KEY.key_id: KEY.public_key}
TABLES = ("audit_events", "audit_event_resources")


def fill(store: Store, n: int) -> None:
    for i in range(1, n + 1):
        store.record_audit(
            actor=f"Practitioner/dr{i % 3}",
            action="search" if i % 2 else "read",
            purpose="TREAT",
            resource_refs=[f"Observation/o{i}"],
            patient=f"Patient/p{i % 2}",
            query=f"Observation?patient=p{i % 2}" if i % 2 else None,
            details={"i": i, "score": i / 4},
            time=T0 + timedelta(seconds=i),
        )


def lift_triggers(connection: Connection) -> None:
    """Remove the append-only protection (what an attacker with database rights can do)."""
    if connection.dialect.name == "postgresql":
        for table in TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_refuse_change"))
        return
    for table in TABLES:
        for change in ("update", "delete"):
            connection.execute(text(f"DROP TRIGGER {table}_refuse_{change}"))


def tamper(store: Store, *statements: str) -> None:
    with store.engine.begin() as connection:
        lift_triggers(connection)
        for statement in statements:
            connection.execute(text(statement))


def test_events_are_chained_as_they_are_stored(store: Store) -> None:
    fill(store, 5)
    events = store.audit_events()
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
        assert after.hash == chain_hash(str(before.hash), canonical_event(after))
    assert (events[0].patient, events[0].query) == ("Patient/p1", "Observation?patient=p1")
    assert events[1].query is None
    assert events[3].details == {"i": 4, "score": 1.0}
    report = store.verify_audit()
    assert (report.ok, report.n_events, report.head_hash) == (True, 5, events[-1].hash)


def test_the_patient_is_searchable(store: Store) -> None:
    fill(store, 6)
    assert [e.sequence for e in store.audit_events(patient="Patient/p0")] == [2, 4, 6]
    assert [e.sequence for e in store.audit_events(resource_ref="Patient/p1")] == [1, 3, 5]


def test_writes_through_transactions_join_the_chain(store: Store) -> None:
    fill(store, 2)
    store.write_transaction(
        [
            RecordAudit(actor="Device/importer", action="create", resource_refs=("Patient/p9",)),
            RecordAudit(actor="Device/importer", action="create", resource_refs=("Patient/p8",)),
        ]
    )
    fill(store, 1)
    assert sorted(e.sequence for e in store.audit_events()) == [1, 2, 3, 4, 5]
    assert store.verify_audit().ok


def test_a_changed_row_is_found(store: Store) -> None:
    fill(store, 8)
    tamper(store, "UPDATE audit_events SET actor = 'Practitioner/evil' WHERE row_id = 4")
    report = store.verify_audit()
    assert (report.ok, report.first_bad_sequence) == (False, 4)
    assert "content does not match its hash" in report.reason


def test_changed_details_are_found(store: Store) -> None:
    fill(store, 8)
    details = json.dumps({"i": 6, "score": 99})
    tamper(store, f"UPDATE audit_events SET details = '{details}' WHERE row_id = 6")
    assert store.verify_audit().first_bad_sequence == 6


def test_a_deleted_row_is_found(store: Store) -> None:
    fill(store, 8)
    tamper(
        store,
        "DELETE FROM audit_event_resources WHERE event_id = 3",
        "DELETE FROM audit_events WHERE row_id = 3",
    )
    report = store.verify_audit()
    assert report.first_bad_sequence == 4
    assert "missing (deleted)" in report.reason


def test_reordered_rows_are_found(store: Store) -> None:
    fill(store, 8)
    first, second = store.audit_events()[4:6]
    swap = []
    for target, source in ((first, second), (second, first)):
        swap.append(
            f"UPDATE audit_events SET actor = '{source.actor}', action = '{source.action}', "
            f"time = (SELECT time FROM audit_events WHERE row_id = {source.sequence}), "
            f"prev_hash = '{source.prev_hash}', hash = '{source.hash}' "
            f"WHERE row_id = {target.sequence}"
        )
    # Both rows are read before either is written: copy through a snapshot table.
    tamper(
        store,
        "CREATE TABLE snapshot AS SELECT * FROM audit_events",
        *[s.replace("FROM audit_events", "FROM snapshot") for s in swap],
    )
    report = store.verify_audit()
    assert report.first_bad_sequence == 5
    assert not report.ok


def test_an_inserted_row_is_found(store: Store) -> None:
    fill(store, 6)
    last = store.audit_events()[-1]
    tamper(
        store,
        "INSERT INTO audit_events (row_id, time, actor, action, purpose, outcome, "
        "resource_refs, details, prev_hash, hash) VALUES (7, '2024-06-01 00:01:00', "
        f"'Practitioner/evil', 'read', 'TREAT', 'success', '[]', '{{}}', '{last.hash}', "
        f"'{'ab' * 32}')",
    )
    report = store.verify_audit()
    assert report.first_bad_sequence == 7
    assert "content does not match" in report.reason


def test_a_replaced_row_is_found(store: Store) -> None:
    fill(store, 6)
    original = store.audit_events()[2]
    tamper(
        store,
        "DELETE FROM audit_event_resources WHERE event_id = 3",
        "DELETE FROM audit_events WHERE row_id = 3",
        "INSERT INTO audit_events (row_id, time, actor, action, purpose, outcome, "
        "resource_refs, details, prev_hash, hash) VALUES (3, '2024-06-01 00:00:03', "
        f"'Practitioner/evil', 'read', 'TREAT', 'success', '[]', '{{}}', "
        f"'{original.prev_hash}', '{original.hash}')",
    )
    assert store.verify_audit().first_bad_sequence == 3


def test_checkpoints_are_signed_every_n_events(store: Store) -> None:
    store.configure_audit_checkpoints(KEY, every=4)
    fill(store, 10)
    checkpoints = store.audit_checkpoints()
    events = store.audit_events()
    assert [c.sequence for c in checkpoints] == [4, 8]
    assert [c.hash for c in checkpoints] == [events[3].hash, events[7].hash]
    assert all(c.key_id == KEY.key_id for c in checkpoints)
    on_demand = store.audit_checkpoint()
    assert on_demand is not None
    assert on_demand.sequence == 10
    report = store.verify_audit()
    assert (report.ok, report.n_checkpoints) == (True, 3)


def test_checkpoints_catch_a_rewritten_chain_and_a_cut_tail(store: Store) -> None:
    fill(store, 10)
    store.audit_checkpoint(KEY)
    events = store.audit_events()
    assert store.verify_audit(TRUSTED).ok
    # Rewrite events 6..10 consistently: the chain alone still verifies.
    statements, prev = [], str(events[4].hash)
    for entry in events[5:]:
        forged = chain_hash(
            prev,
            canonical_event(entry.__class__(**{**entry.__dict__, "actor": "Practitioner/evil"})),
        )
        statements.append(
            f"UPDATE audit_events SET actor = 'Practitioner/evil', prev_hash = '{prev}', "
            f"hash = '{forged}' WHERE row_id = {entry.sequence}"
        )
        prev = forged
    tamper(store, *statements)
    assert store.verify_audit({}).ok is False  # the checkpoint cannot be trusted without keys
    report = store.verify_audit(TRUSTED)
    assert report.first_bad_sequence == 10
    assert "does not pass through the signed checkpoint" in report.reason


def test_checkpoints_catch_a_cut_tail(store: Store) -> None:
    fill(store, 10)
    store.audit_checkpoint(KEY)
    tamper(
        store,
        "DELETE FROM audit_event_resources WHERE event_id > 7",
        "DELETE FROM audit_events WHERE row_id > 7",
    )
    report = store.verify_audit(TRUSTED)
    assert report.first_bad_sequence == 8
    assert "deleted from the end" in report.reason


def test_the_checkpoint_table_is_append_only(store: Store) -> None:
    fill(store, 2)
    store.audit_checkpoint(KEY)
    for statement in ("UPDATE audit_checkpoints SET sequence = 1", "DELETE FROM audit_checkpoints"):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
    assert len(store.audit_checkpoints()) == 1


def test_checkpoint_settings_are_checked(store: Store) -> None:
    with pytest.raises(InvalidParameterError, match="no signing key"):
        store.audit_checkpoint()
    with pytest.raises(InvalidParameterError, match="positive number of events"):
        store.configure_audit_checkpoints(KEY, every=0)
    assert store.audit_checkpoint(KEY) is None  # nothing to sign yet


def test_threads_appending_at_once_keep_one_chain(store: Store) -> None:
    threads, appends = 4, 15
    errors: list[BaseException] = []

    def body(worker: int) -> None:
        try:
            for i in range(appends):
                store.record_audit(actor=f"Device/w{worker}", action="read", details={"i": i})
        except BaseException as err:  # reported below
            errors.append(err)

    workers = [threading.Thread(target=body, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    events = store.audit_events()
    assert [e.sequence for e in events] == list(range(1, threads * appends + 1))
    assert sorted({e.actor for e in events}) == [f"Device/w{w}" for w in range(threads)]
    assert store.verify_audit().ok


def test_stored_events_export_as_valid_fhir(store: Store) -> None:
    fill(store, 3)
    for entry in store.audit_events():
        parsed = AuditEvent.model_validate(to_fhir_audit_event(entry))
        assert parsed.entity[0].what.reference == entry.patient


def test_a_0001_database_is_sealed_by_the_migration(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        upgrade_schema(engine, "0001")
        with engine.begin() as connection:
            for i in (1, 2, 3):
                connection.execute(
                    text(
                        "INSERT INTO audit_events (time, actor, action, purpose, outcome, "
                        "resource_refs, details) VALUES (:time, 'Device/old', 'read', NULL, "
                        "'success', :refs, :details)"
                    ),
                    {
                        "time": datetime(2023, 1, i, tzinfo=UTC)
                        if engine.dialect.name == "postgresql"
                        else f"2023-01-0{i} 00:00:00.000000",
                        "refs": json.dumps([f"Patient/p{i}"]),
                        "details": json.dumps({"n": i}),
                    },
                )
        upgrade_schema(engine)
    finally:
        engine.dispose()
    from healthtwin.store import open_store

    with open_store(database_url) as store:
        old = store.audit_events()
        assert [e.time.day for e in old] == [1, 2, 3]
        assert old[0].prev_hash == GENESIS_HASH
        assert old[2].details == {"n": 3}
        store.record_audit(actor="Device/new", action="read")
        assert store.verify_audit().ok
        assert store.audit_events()[-1].prev_hash == old[-1].hash
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as connection:
            connection.execute(text("UPDATE audit_events SET actor = 'x'"))
