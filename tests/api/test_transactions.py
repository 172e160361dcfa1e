"""Transaction (all or nothing, urn:uuid rewriting) and batch Bundles."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.conftest import Server, unique
from tests.api.fixtures import heart_rate, patient


def _entry(
    method: str, url: str, resource: dict[str, Any] | None = None, full_url: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"request": {"method": method, "url": url}}
    if resource is not None:
        entry["resource"] = resource
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


def test_transaction_rewrites_urn_references(http: httpx.Client, server: Server) -> None:
    urn = "urn:uuid:0f4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f"
    obs = heart_rate("x", "2024-05-01T08:00:00Z", 70)
    obs["subject"] = {"reference": urn}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry("POST", "Patient", patient(unique("Tx")), urn),
            _entry("POST", "Observation", obs),
        ],
    }
    response = http.post("", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 2
    patient_id = result["entry"][0]["resource"]["id"]
    assert result["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert len(server.store.observations(patient_id)) == 1


def test_failed_transaction_writes_nothing(http: httpx.Client) -> None:
    family = unique("Atomic")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry("POST", "Patient", patient(family)),
            _entry("POST", "Observation", heart_rate("does-not-exist", "2024-05-01T08:00:00Z", 70)),
        ],
    }
    response = http.post("", json=bundle)
    assert response.status_code == 422
    expressions = [e for i in response.json()["issue"] for e in i.get("expression", [])]
    assert "Bundle.entry[1].resource.subject.reference" in expressions
    assert http.get("/Patient", params={"family": family}).json()["total"] == 0


def test_conflicting_transaction_rolls_back(http: httpx.Client) -> None:
    pid, family = unique("p"), unique("Roll")
    http.put(f"/Patient/{pid}", json={**patient("Old"), "id": pid})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry("POST", "Patient", patient(family)),
            _entry("PUT", f"Patient/{pid}", {**patient("New"), "id": pid}),
        ],
    }
    bundle["entry"][1]["request"]["ifMatch"] = 'W/"7"'
    response = http.post("", json=bundle)
    assert response.status_code in (409, 412)
    assert "Bundle.entry[1]" in response.json()["issue"][0]["diagnostics"]
    assert http.get("/Patient", params={"family": family}).json()["total"] == 0
    assert http.get(f"/Patient/{pid}").json()["name"][0]["family"] == "Old"


def test_batch_entries_are_independent(http: httpx.Client) -> None:
    family = unique("Batch")
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            _entry("POST", "Patient", patient(family)),
            _entry("GET", "Patient/does-not-exist"),
            _entry("POST", "Patient", {**patient(family), "gender": "F"}),
        ],
    }
    result = http.post("", json=bundle).json()
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses[0] == "201 Created"
    assert statuses[1] == "404"
    assert statuses[2] == "422"
    outcome = result["entry"][2]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Patient.gender"]
    assert http.get("/Patient", params={"family": family}).json()["total"] == 1
