"""Resources: versions, optimistic concurrency, deletion, history and keyset paging."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.store import Store
from healthtwin.store.resources import now_utc


def patient(pid: str = "p1", family: str = "Chalmers", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}], **extra}


def test_create_stamps_version_and_time_and_read_returns_it(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    stored = store.create(patient(meta={"source": "#site-a"}))
    assert stored["meta"]["versionId"] == "1"
    assert stored["meta"]["source"] == "#site-a"
    updated = datetime.fromisoformat(stored["meta"]["lastUpdated"].replace("Z", "+00:00"))
    assert before <= updated <= datetime.now(UTC)
    assert stored["meta"]["lastUpdated"].endswith("Z")
    assert store.read("Patient", "p1") == stored
    assert stored["name"] == [{"family": "Chalmers"}]


def test_create_without_id_assigns_a_new_one(store: Store) -> None:
    first = store.create({"resourceType": "Observation", "status": "final"})
    second = store.create({"resourceType": "Observation", "status": "final"})
    assert first["id"] != second["id"]
    assert store.read("Observation", first["id"])["status"] == "final"


def test_creating_an_existing_id_conflicts_and_changes_nothing(store: Store) -> None:
    store.create(patient())
    with pytest.raises(ConflictError, match=r"Patient/p1 already exists \(version 1\)"):
        store.create(patient(family="Other"))
    assert store.read("Patient", "p1")["name"] == [{"family": "Chalmers"}]
    assert len(store.history("Patient", "p1")) == 1


def test_update_makes_new_versions_and_keeps_all_of_them(store: Store) -> None:
    store.create(patient())
    second = store.update(patient(family="Windsor"))
    third = store.update(patient(family="Tudor"), expected_version=2)
    assert (second["meta"]["versionId"], third["meta"]["versionId"]) == ("2", "3")
    assert store.read("Patient", "p1")["name"] == [{"family": "Tudor"}]
    versions = store.history("Patient", "p1")
    assert [v.version_id for v in versions] == [3, 2, 1]
    assert [v.body["name"][0]["family"] for v in versions if v.body] == [
        "Tudor",
        "Windsor",
        "Chalmers",
    ]
    assert store.vread("Patient", "p1", 1)["name"] == [{"family": "Chalmers"}]
    assert store.vread("Patient", "p1", "2")["meta"]["versionId"] == "2"


def test_update_with_a_stale_version_conflicts(store: Store) -> None:
    store.create(patient())
    store.update(patient(family="Windsor"), expected_version="1")
    with pytest.raises(ConflictError, match="is at version 2, not the expected version 1"):
        store.update(patient(family="Tudor"), expected_version=1)
    assert store.read("Patient", "p1")["name"] == [{"family": "Windsor"}]


def test_update_of_a_missing_resource_needs_upsert(store: Store) -> None:
    with pytest.raises(NotFoundError, match="there is no Patient/p9; create it, or update"):
        store.update(patient("p9"))
    created = store.update(patient("p9"), upsert=True)
    assert created["meta"]["versionId"] == "1"
    with pytest.raises(NotFoundError, match="cannot be at the expected version 4"):
        store.update(patient("p8"), expected_version=4, upsert=True)


def test_delete_hides_the_resource_but_keeps_its_history(store: Store) -> None:
    store.create(patient())
    assert store.delete("Patient", "p1", expected_version=1) == 2
    with pytest.raises(NotFoundError, match=r"Patient/p1 was deleted \(version 2\)"):
        store.read("Patient", "p1")
    assert store.delete("Patient", "p1") == 2  # deleting again changes nothing
    versions = store.history("Patient", "p1")
    assert [(v.version_id, v.deleted, v.body is None) for v in versions] == [
        (2, True, True),
        (1, False, False),
    ]
    with pytest.raises(NotFoundError, match="version 2 of Patient/p1 is a deletion"):
        store.vread("Patient", "p1", 2)
    revived = store.create(patient(family="Back"))
    assert revived["meta"]["versionId"] == "3"
    assert store.update(patient(family="Again"), expected_version=3)["meta"]["versionId"] == "4"


def test_missing_resources_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="there is no Patient/nobody"):
        store.read("Patient", "nobody")
    with pytest.raises(NotFoundError):
        store.delete("Patient", "nobody")
    with pytest.raises(NotFoundError):
        store.history("Patient", "nobody")
    store.create(patient())
    with pytest.raises(NotFoundError, match="version 7 of Patient/p1 does not exist"):
        store.vread("Patient", "p1", 7)


def test_delete_with_a_stale_version_conflicts(store: Store) -> None:
    store.create(patient())
    store.update(patient(family="Windsor"))
    with pytest.raises(ConflictError, match="not the expected version 1"):
        store.delete("Patient", "p1", expected_version=1)
    assert store.read("Patient", "p1")["meta"]["versionId"] == "2"


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ({"id": "p1"}, "resource type None is not a FHIR resource type name"),
        ({"resourceType": "patient", "id": "p1"}, "'patient' is not a FHIR resource type"),
        ({"resourceType": "Patient", "id": "a b"}, "Patient id 'a b' is not a FHIR id"),
        ({"resourceType": "Patient", "id": "x" * 65}, "ids are 1 to 64 letters"),
        ({"resourceType": "Patient", "id": "p1", "x": float("nan")}, "cannot be stored as JSON"),
        ({"resourceType": "Patient", "id": "p1", "x": {1, 2}}, "cannot be stored as JSON"),
    ],
)
def test_malformed_resources_are_refused_with_the_reason(
    store: Store, resource: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        store.create(resource)
    with pytest.raises(InvalidInputError, match=message):
        store.update(resource, upsert=True)


def test_non_dict_resources_and_bad_versions_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="must be a JSON object"):
        store.create(["Patient"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="has no 'id'"):
        store.update({"resourceType": "Patient"})
    for bad in ("W/x", 0, -1, True):
        with pytest.raises(InvalidInputError, match="is not a version id"):
            store.update(patient(), expected_version=bad, upsert=True)


def test_pages_follow_id_order_without_gaps_or_repeats(store: Store) -> None:
    ids = [f"p{i:03d}" for i in range(23)]
    for pid in reversed(ids):
        store.create(patient(pid))
    store.create({"resourceType": "Practitioner", "id": "dr1"})
    store.delete("Patient", "p005")
    page = store.resource_page("Patient", limit=10)
    assert [r["id"] for r in page.resources] == [i for i in ids[:11] if i != "p005"]
    assert page.next_after_id == "p010"
    expected = [i for i in ids if i != "p005"]
    assert [r["id"] for r in store.iter_resources("Patient", page_size=4)] == expected
    assert [r["id"] for r in store.iter_resources("Patient", after_id="p020")] == ["p021", "p022"]
    last = store.resource_page("Patient", after_id="p018", limit=4)
    assert [r["id"] for r in last.resources] == ["p019", "p020", "p021", "p022"]
    assert last.next_after_id is None


def test_pages_filter_by_last_updated(store: Store) -> None:
    store.create(patient("old"))
    # lastUpdated has millisecond precision: a whole-millisecond cutoff after "old" was written.
    cutoff = now_utc() + timedelta(milliseconds=2)
    time.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds()) + 0.002)
    store.create(patient("new"))
    assert [r["id"] for r in store.iter_resources("Patient", updated_since=cutoff)] == ["new"]
    store.update(patient("old"))  # touched again: counts as updated
    recent = store.iter_resources("Patient", updated_since=cutoff)
    assert [r["id"] for r in recent] == ["new", "old"]
    late = datetime.now(UTC) + timedelta(days=1)
    assert list(store.iter_resources("Patient", updated_since=late)) == []
    with pytest.raises(InvalidInputError, match="has no time zone"):
        store.resource_page("Patient", updated_since=datetime(2024, 1, 1))
    with pytest.raises(InvalidInputError, match="at least 1"):
        store.resource_page("Patient", limit=0)


def test_stored_bodies_are_independent_copies(store: Store) -> None:
    body = patient()
    stored = store.create(body)
    body["name"][0]["family"] = "Changed"
    stored["name"][0]["family"] = "Changed too"
    assert store.read("Patient", "p1")["name"] == [{"family": "Chalmers"}]
    assert "meta" not in body
