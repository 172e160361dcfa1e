"""Bulk reads, bulk upserts and in-transaction reference checks, on SQLite and PostgreSQL.

``Store.read_many`` reads current versions by id (chunked ``IN`` queries);
``write_transaction`` writes runs of plain upserts in bulk with the results of writing
them one by one; ``RequireResources`` checks references inside the transaction that
writes, so a concurrent deletion cannot slip in between the check and the write.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from healthtwin.errors import (
    ConflictError,
    InvalidInputError,
    ResourceValidationError,
    TwinError,
)
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.store import CreateResource, DeleteResource, Store, UpdateResource
from healthtwin.store.engine import writer
from healthtwin.store.operations import RequireResources
from healthtwin.store.resources import delete_resource

STEP = timedelta(minutes=5)


def patient(pid: str, family: str = "Okafor", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}], **extra}


def condition(cid: str, patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{patient_id}"},
    }


# -- read_many ---------------------------------------------------------------------------


def test_read_many_keeps_the_order_of_ids_and_leaves_out_missing_and_deleted(
    store: Store,
) -> None:
    for pid in ("a", "b", "c"):
        store.create(patient(pid))
    store.update(patient("b", family="Second"))
    store.delete("Patient", "c")
    found = store.read_many("Patient", ["c", "b", "zz", "a", "b"])
    assert [p["id"] for p in found] == ["b", "a", "b"]
    assert found[0]["name"] == [{"family": "Second"}]
    assert found[0]["meta"]["versionId"] == "2"
    assert store.read_many("Patient", []) == []
    assert store.read_many("Observation", ["a"]) == []


def test_read_many_reads_more_ids_than_one_chunk(store: Store) -> None:
    ids = [f"p{i:04d}" for i in range(1_234)]
    store.write_transaction([UpdateResource(patient(pid), upsert=True) for pid in ids])
    wanted = [*ids[::-1], "missing"]
    assert [p["id"] for p in store.read_many("Patient", wanted)] == ids[::-1]


def test_read_many_returns_copies(store: Store) -> None:
    store.create(patient("a"))
    store.read_many("Patient", ["a"])[0]["name"].append({"family": "Changed"})
    assert store.read("Patient", "a")["name"] == [{"family": "Okafor"}]


def test_read_many_finds_nothing_for_ids_no_resource_can_have(store: Store) -> None:
    store.create(patient("ok"))
    assert [p["id"] for p in store.read_many("Patient", ["not an id!", "ok", "x" * 65])] == ["ok"]
    with pytest.raises(InvalidInputError, match="is not a FHIR resource type name"):
        store.read_many("patient", ["ok"])


def test_observation_bodies_join_the_series_range_to_stored_bodies(store: Store) -> None:
    glucose = Coding(system="http://loinc.org", code="105272-9")
    heart = Coding(system="http://loinc.org", code="8867-4")
    t0 = datetime(2024, 5, 1, 8, tzinfo=UTC)
    rows = [
        ObservationRecord(id=f"g{i}", patient_id="p1", code=glucose, effective=t0 + i * STEP)
        for i in (3, 1, 2, 0)
    ]
    rows += [ObservationRecord(id="h0", patient_id="p1", code=heart, effective=t0)]
    rows += [ObservationRecord(id="g9", patient_id="p2", code=glucose, effective=t0)]
    store.add_observations(rows)
    for oid in ("g0", "g1", "g2", "h0", "g9"):
        store.create({"resourceType": "Observation", "id": oid, "status": "final"})
    store.delete("Observation", "g2")  # g3 has no body at all
    found = store.observation_bodies("p1", glucose)
    assert [o["id"] for o in found] == ["g0", "g1"]
    assert found[0]["meta"]["versionId"] == "1"
    assert [o["id"] for o in store.observation_bodies("p1")] == ["g0", "h0", "g1"]
    later = store.observation_bodies("p1", "105272-9", start=t0 + STEP, end=t0 + 3 * STEP)
    assert [o["id"] for o in later] == ["g1"]
    assert store.observation_bodies("nobody") == []


# -- bulk upserts ------------------------------------------------------------------------


def test_a_run_of_upserts_gives_the_results_of_one_by_one_upserts(store: Store) -> None:
    store.create(patient("old"))
    store.create(patient("gone"))
    store.delete("Patient", "gone")
    results = store.write_transaction(
        [
            UpdateResource(patient("new"), upsert=True),
            UpdateResource(patient("old", family="Two"), upsert=True),
            UpdateResource(patient("new", family="Again"), upsert=True),
            UpdateResource(patient("gone", family="Back"), upsert=True),
        ]
    )
    assert [(r["id"], r["meta"]["versionId"]) for r in results] == [  # type: ignore[index]
        ("new", "1"),
        ("old", "2"),
        ("new", "2"),
        ("gone", "3"),
    ]
    assert store.read("Patient", "new")["name"] == [{"family": "Again"}]
    assert store.read("Patient", "gone")["name"] == [{"family": "Back"}]
    assert [v.version_id for v in store.history("Patient", "new")] == [2, 1]
    assert [(v.version_id, v.deleted) for v in store.history("Patient", "gone")] == [
        (3, False),
        (2, True),
        (1, False),
    ]
    assert store.read("Patient", "old") == results[1]


def test_bulk_written_rows_read_back_like_single_writes(store: Store) -> None:
    store.create(patient("one"))
    time.sleep(0.005)
    bulk, _ = store.write_transaction(
        [UpdateResource(patient("two"), upsert=True), UpdateResource(patient("three"), upsert=True)]
    )
    assert isinstance(bulk, dict)
    since = datetime.fromisoformat(bulk["meta"]["lastUpdated"].replace("Z", "+00:00"))
    recent = store.iter_resources("Patient", updated_since=since)
    assert [p["id"] for p in recent] == ["three", "two"]
    [version] = store.history("Patient", "two")
    assert (version.last_updated, version.deleted, version.body) == (since, False, bulk)
    assert store.read("Patient", "two") == store.vread("Patient", "two", 1) == bulk


def test_writes_after_a_bulk_run_see_its_versions(store: Store) -> None:
    results = store.write_transaction(
        [
            CreateResource(patient("p1")),
            UpdateResource(patient("p1", family="Bulk"), upsert=True),
            UpdateResource(patient("p2"), upsert=True),
            UpdateResource(patient("p1", family="Checked"), expected_version=2),
            DeleteResource("Patient", "p2", expected_version=1),
        ]
    )
    assert results[3]["meta"]["versionId"] == "3"  # type: ignore[index]
    assert store.read("Patient", "p1")["name"] == [{"family": "Checked"}]
    assert store.read_many("Patient", ["p2"]) == []


def test_a_bad_body_in_a_run_names_its_entry_and_writes_nothing(store: Store) -> None:
    operations = [
        UpdateResource(patient("p1"), upsert=True),
        UpdateResource(patient("p2"), upsert=True),
        UpdateResource(patient("p3", family="nul\x00"), upsert=True),
    ]
    with pytest.raises(InvalidInputError, match=r"^transaction entry 2 \(update Patient/p3\)"):
        store.write_transaction(operations)
    with pytest.raises(InvalidInputError, match=r"^transaction entry 1 \(update Patient/\(new\)"):
        store.write_transaction(
            [
                UpdateResource(patient("p1"), upsert=True),
                UpdateResource({"resourceType": "Patient"}, upsert=True),
            ]
        )
    assert store.read_many("Patient", ["p1", "p2", "p3"]) == []


def test_a_conflict_after_a_run_rolls_the_run_back(store: Store) -> None:
    store.create(patient("p9"))
    with pytest.raises(ConflictError, match=r"^transaction entry 2 \(create Patient/p9\)"):
        store.write_transaction(
            [
                UpdateResource(patient("p1"), upsert=True),
                UpdateResource(patient("p2"), upsert=True),
                CreateResource(patient("p9")),
            ]
        )
    assert store.read_many("Patient", ["p1", "p2"]) == []
    assert len(store.history("Patient", "p9")) == 1


# -- references required inside the transaction -------------------------------------------


def test_required_reference_to_nothing_fails_with_its_path_and_writes_nothing(
    store: Store,
) -> None:
    required = RequireResources(
        {
            "Bundle.entry[0].resource.subject.reference": "Patient/nobody",
            "Bundle.entry[1].resource.subject.reference": "Patient/p1",
        }
    )
    with pytest.raises(ResourceValidationError) as caught:
        store.write_transaction([CreateResource(condition("c1", "nobody")), required])
    assert str(caught.value).startswith("transaction entry 1 (require 2 referenced resource(s))")
    issues = caught.value.issues
    assert [(i.path, i.code) for i in issues] == [
        ("Bundle.entry[0].resource.subject.reference", "not-found"),
        ("Bundle.entry[1].resource.subject.reference", "not-found"),
    ]
    assert "'Patient/nobody' points at no stored Patient" in issues[0].message
    assert store.read_many("Condition", ["c1"]) == []


def test_required_reference_sees_the_writes_before_it(store: Store) -> None:
    store.create(patient("gone"))
    required = RequireResources({"Condition.subject.reference": "Patient/p1"})
    store.write_transaction(
        [CreateResource(condition("c1", "p1")), CreateResource(patient("p1")), required]
    )
    assert store.read("Condition", "c1")["subject"] == {"reference": "Patient/p1"}
    with pytest.raises(ResourceValidationError, match="'Patient/gone' points at no stored"):
        store.write_transaction(
            [
                DeleteResource("Patient", "gone"),
                CreateResource(condition("c2", "gone")),
                RequireResources({"Condition.subject.reference": "Patient/gone"}),
            ]
        )
    assert store.read("Patient", "gone")["id"] == "gone"
    assert store.read_many("Condition", ["c2"]) == []


def test_a_deletion_in_flight_cannot_slip_past_the_reference_check(store: Store) -> None:
    """A writer checking a reference waits for a concurrent deletion, then sees it."""
    store.create(patient("p1"))
    outcome: list[BaseException | None] = []

    def write_condition() -> None:
        try:
            store.write_transaction(
                [
                    CreateResource(condition("c1", "p1")),
                    RequireResources({"Condition.subject.reference": "Patient/p1"}),
                ]
            )
            outcome.append(None)
        except TwinError as err:
            outcome.append(err)

    with Session(writer(store.engine)) as session, session.begin():
        delete_resource(session, "Patient", "p1")
        thread = threading.Thread(target=write_condition)
        thread.start()
        time.sleep(0.3)  # the writer is now blocked on the deleted row (or the write lock)
        assert thread.is_alive()
    thread.join(30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ResourceValidationError)
    assert outcome[0].issues[0].path == "Condition.subject.reference"
    assert store.read_many("Condition", ["c1"]) == []
