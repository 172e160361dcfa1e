"""Read, create, update, delete, history and vread through a real server with fhirpy."""

from __future__ import annotations

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound
from tests.api.conftest import Server, unique
from tests.api.fixtures import heart_rate, patient


def test_create_assigns_id_and_read_returns_it(fhir: SyncFHIRClient) -> None:
    created = fhir.resource("Patient", **patient("Curie", gender="female"))
    created.save()
    assert created.id
    assert created["meta"]["versionId"] == "1"
    read = fhir.reference("Patient", created.id).to_resource()
    assert read["name"][0]["family"] == "Curie"
    assert read["gender"] == "female"


def test_create_answers_201_with_location_and_etag(http: httpx.Client) -> None:
    response = http.post("/Patient", json=patient("Noether"))
    assert response.status_code == 201
    body = response.json()
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"].endswith(f"/Patient/{body['id']}/_history/1")
    assert response.headers["content-type"].startswith("application/fhir+json")


def test_update_versions_and_if_match_conflict(http: httpx.Client) -> None:
    pid = unique("p")
    first = http.put(f"/Patient/{pid}", json={**patient("Ada"), "id": pid})
    assert first.status_code == 201  # update as create
    second = http.put(
        f"/Patient/{pid}", json={**patient("Lovelace"), "id": pid}, headers={"If-Match": 'W/"1"'}
    )
    assert second.status_code == 200
    assert second.json()["meta"]["versionId"] == "2"
    stale = http.put(
        f"/Patient/{pid}", json={**patient("Byron"), "id": pid}, headers={"If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert http.get(f"/Patient/{pid}").json()["name"][0]["family"] == "Lovelace"
    old = http.get(f"/Patient/{pid}/_history/1")
    assert old.status_code == 200
    assert old.json()["name"][0]["family"] == "Ada"
    history = http.get(f"/Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert [e["response"]["etag"] for e in history["entry"]] == [
        'W/"2"',
        'W/"1"',
    ]


def test_delete_then_read_is_not_found(fhir: SyncFHIRClient, http: httpx.Client) -> None:
    created = fhir.resource("Patient", **patient("Gone"))
    created.save()
    created.delete()
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", created.id).to_resource()
    assert http.get(f"/Patient/{created.id}/_history").json()["total"] == 2


def test_observation_writes_keep_the_time_series_in_sync(
    fhir: SyncFHIRClient, server: Server
) -> None:
    owner = fhir.resource("Patient", **patient("Series"))
    owner.save()
    obs = fhir.resource("Observation", **heart_rate(owner.id, "2024-05-01T08:00:00Z", 61))
    obs.save()
    assert [r.value for r in server.store.observations(owner.id)] == [61.0]
    obs["valueQuantity"]["value"] = 64
    obs.save()
    assert [r.value for r in server.store.observations(owner.id)] == [64.0]
    obs.delete()
    assert server.store.observations(owner.id) == []


def test_writes_are_audited_with_the_actor(fhir: SyncFHIRClient, server: Server) -> None:
    created = fhir.resource("Patient", **patient("Audited"))
    created.save()
    events = server.store.audit_events(resource_ref=f"Patient/{created.id}")
    assert [(e.actor, e.action, e.outcome) for e in events] == [
        ("Practitioner/tester", "create", "success")
    ]


def test_metadata_is_a_capability_statement(http: httpx.Client) -> None:
    statement = http.get("/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Consent"} <= types
