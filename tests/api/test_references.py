"""Patient references are checked inside the write transaction, not before it.

A deletion committed between the facade's validation of a request and its write used to
pass the check (it ran first, in a transaction of its own) and leave an Observation
pointing at a deleted Patient. ``RacingStore`` commits such a deletion just before each
write transaction: the write must fail with the reference's path and write nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from tests.api.conftest import unique
from tests.api.fixtures import heart_rate, patient

from healthtwin.api.service import create_resource, update_resource
from healthtwin.api.transactions import process_bundle
from healthtwin.errors import ResourceValidationError
from healthtwin.store import Operation, Store, open_store


class RacingStore(Store):
    """A store on which another client deletes ``victim`` just before each transaction."""

    victim: str | None = None

    def write_transaction(self, operations: Sequence[Operation]) -> list[object]:
        if self.victim is not None:
            self.delete("Patient", self.victim)
            self.victim = None
        return super().write_transaction(operations)


@pytest.fixture
def racing(database_url: str) -> Iterator[RacingStore]:
    opened = open_store(database_url)
    store = RacingStore(opened.engine)
    try:
        yield store
    finally:
        store.close()


def _stored_patient(store: Store) -> str:
    return str(store.create({**patient("Racer"), "id": unique("p")})["id"])


def test_create_fails_when_the_patient_is_deleted_before_the_write(racing: RacingStore) -> None:
    pid = _stored_patient(racing)
    racing.victim = pid
    with pytest.raises(ResourceValidationError) as caught:
        create_resource(
            racing, "Observation", heart_rate(pid, "2024-05-01T08:00:00Z", 70), actor="t"
        )
    assert [(i.path, i.code) for i in caught.value.issues] == [
        ("Observation.subject.reference", "not-found")
    ]
    assert racing.observations(pid) == []
    assert list(racing.iter_resources("Observation")) == []
    failures = racing.audit_events(action="create")
    assert [e.outcome for e in failures] == ["minor-failure"]


def test_update_fails_when_the_patient_is_deleted_before_the_write(racing: RacingStore) -> None:
    pid = _stored_patient(racing)
    racing.victim = pid
    body = {**heart_rate(pid, "2024-05-01T08:00:00Z", 70), "id": "obs-1"}
    with pytest.raises(ResourceValidationError) as caught:
        update_resource(racing, "Observation", "obs-1", body, actor="t")
    assert caught.value.issues[0].path == "Observation.subject.reference"
    assert racing.read_many("Observation", ["obs-1"]) == []


def test_transaction_fails_when_a_patient_is_deleted_before_the_write(
    racing: RacingStore,
) -> None:
    kept, doomed = _stored_patient(racing), _stored_patient(racing)
    racing.victim = doomed
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": heart_rate(kept, "2024-05-01T08:00:00Z", 70),
            },
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": heart_rate(doomed, "2024-05-01T08:05:00Z", 71),
            },
        ],
    }
    with pytest.raises(ResourceValidationError) as caught:
        process_bundle(racing, bundle, actor="t")
    assert [i.path for i in caught.value.issues] == ["Bundle.entry[1].resource.subject.reference"]
    assert str(caught.value).startswith("the transaction writes nothing")
    assert racing.observations(kept) == []


def _expressions(response: httpx.Response) -> list[str]:
    return [e for i in response.json()["issue"] for e in i.get("expression", [])]


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_transaction_may_point_at_patients_it_creates_but_not_at_those_it_deletes(
    http: httpx.Client,
) -> None:
    urn = "urn:uuid:6c1d3a4e-2b7f-4f0e-9a51-7d2c3b4a5e6f"
    obs = {**heart_rate("x", "2024-05-01T08:00:00Z", 70), "subject": {"reference": urn}}
    created = http.post(
        "",
        json=_transaction(
            {
                "fullUrl": urn,
                "request": {"method": "POST", "url": "Patient"},
                "resource": patient("New"),
            },
            {"request": {"method": "POST", "url": "Observation"}, "resource": obs},
        ),
    )
    assert created.status_code == 200, created.text
    pid = created.json()["entry"][0]["resource"]["id"]

    response = http.post(
        "",
        json=_transaction(
            {"request": {"method": "DELETE", "url": f"Patient/{pid}"}},
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": heart_rate(pid, "2024-05-01T08:05:00Z", 71),
            },
        ),
    )
    assert response.status_code == 422
    assert _expressions(response) == ["Bundle.entry[1].resource.subject.reference"]
    assert http.get(f"/Patient/{pid}").status_code == 200
    assert http.get("/Observation", params={"patient": pid}).json()["total"] == 1


def test_batch_entry_to_a_missing_patient_fails_alone(http: httpx.Client) -> None:
    owner = http.post("/Patient", json=patient("Batch")).json()["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": heart_rate(owner, "2024-05-01T08:00:00Z", 70),
            },
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": heart_rate(unique("nobody"), "2024-05-01T08:00:00Z", 70),
            },
        ],
    }
    result = http.post("", json=bundle).json()
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created", "422"]
    outcome = result["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Observation.subject.reference"]
    assert outcome["issue"][0]["code"] == "not-found"
