"""Authorization matrix over real HTTP: role x scope x purpose x resource -> status.

A production-mode server holds patients A (research opt-in), B (no consent) and C (a
privacy consent refusing everything but treatment), each with an Observation, and A a
Condition. Each row sends one request with a token for (role, scopes, purpose, claims) and
expects the status the policy in :mod:`tests.api.security_fixtures` and the consents imply;
every decision leaves an audit event naming the purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.api.security_fixtures import (
    Keys,
    SecureServer,
    claims,
    config,
    observation,
    patient,
    research_optin,
    secure_server,
)

A, B, C = "mx-a", "mx-b", "mx-c"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def _care_only(cid: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "provision": {
            "type": "deny",
            "provision": [{"type": "permit", "purpose": [{"system": V3, "code": "TREAT"}]}],
        },
    }


def _condition(cid: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("matrix"), keys, config(keys)) as running:
        with running.client(keys.sign(claims(sub="loader"))) as client:
            for pid in (A, B, C):
                assert client.put(f"/Patient/{pid}", json=patient(pid)).status_code == 201
                body = observation(f"o-{pid}", pid)
                assert client.put(f"/Observation/o-{pid}", json=body).status_code == 201
            assert client.put(f"/Condition/k-{A}", json=_condition(f"k-{A}", A)).status_code == 201
            assert client.put("/Consent/c-a", json=research_optin("c-a", A)).status_code == 201
            assert client.put("/Consent/c-c", json=_care_only("c-c", C)).status_code == 201
        yield running


STUDY = {"project": "cgm-study"}
# role, scope, purpose, extra claims, method, path, expected status
MATRIX: list[tuple[str, str, str, dict[str, Any], str, str, int]] = [
    ("clinician", "user/*.rs", "TREAT", {}, "GET", f"/Observation/o-{B}", 200),
    ("clinician", "user/*.rs", "ETREAT", {}, "GET", f"/Observation/o-{C}", 200),
    ("clinician", "user/*.rs", "TREAT", {}, "GET", f"/Patient/{C}", 200),
    ("clinician", "user/*.rs", "HRESCH", {}, "GET", f"/Observation/o-{A}", 403),
    ("clinician", "user/Observation.rs", "TREAT", {}, "GET", f"/Patient/{A}", 403),
    ("clinician", "user/Observation.s", "TREAT", {}, "GET", f"/Observation/o-{A}", 403),
    ("clinician", "user/*.rs", "TREAT", {}, "DELETE", f"/Observation/o-{A}", 403),
    ("clinician", "user/*.rs", "TREAT", {}, "GET", f"/Observation?patient={B}", 200),
    ("clinician", "patient/*.rs", "TREAT", {"patient": A}, "GET", f"/Observation/o-{A}", 200),
    ("clinician", "patient/*.rs", "TREAT", {"patient": A}, "GET", f"/Observation/o-{B}", 403),
    ("clinician", "patient/*.rs", "TREAT", {"patient": A}, "GET", f"/Patient/{B}", 403),
    (
        "clinician",
        "patient/*.rs",
        "TREAT",
        {"patient": A},
        "GET",
        f"/Observation?subject=Patient/{B}",
        403,
    ),
    ("clinician", "patient/*.rs", "TREAT", {"patient": A}, "GET", f"/Patient/{B}/$everything", 403),
    ("clinician", "patient/*.rs", "TREAT", {"patient": A}, "GET", f"/Patient/{A}/$everything", 200),
    (
        "clinician",
        "patient/*.rs",
        "TREAT",
        {"patient": A},
        "GET",
        f"/Observation/o-{B}/_history",
        403,
    ),
    ("researcher", "user/*.rs", "HRESCH", STUDY, "GET", f"/Observation/o-{A}", 200),
    ("researcher", "user/*.rs", "CLINTRCH", STUDY, "GET", f"/Observation/o-{A}", 200),
    ("researcher", "user/*.rs", "HRESCH", STUDY, "GET", f"/Observation/o-{B}", 403),
    ("researcher", "user/*.rs", "HRESCH", STUDY, "GET", f"/Observation/o-{C}", 403),
    ("researcher", "user/*.rs", "HRESCH", {}, "GET", f"/Observation/o-{A}", 403),
    ("researcher", "user/*.rs", "HRESCH", {"project": "other"}, "GET", f"/Observation/o-{A}", 403),
    ("researcher", "user/*.rs", "HRESCH", STUDY, "GET", f"/Condition/k-{A}", 403),
    ("researcher", "user/*.rs", "HRESCH", STUDY, "GET", "/Observation", 200),
    ("researcher", "user/*.rs", "TREAT", STUDY, "GET", f"/Observation/o-{A}", 403),
    ("epidemiologist", "user/Observation.s", "PUBHLTH", {}, "GET", "/Observation", 200),
    ("epidemiologist", "user/Observation.rs", "PUBHLTH", {}, "GET", f"/Observation/o-{B}", 403),
    ("epidemiologist", "user/*.s", "PUBHLTH", {}, "GET", "/Patient", 403),
    (
        "epidemiologist",
        "user/Observation.s",
        "PUBHLTH",
        {},
        "GET",
        f"/Observation?patient={C}",
        403,
    ),
    ("patient", "patient/*.rs", "PATRQT", {"patient": C}, "GET", f"/Observation/o-{C}", 403),
    ("patient", "patient/*.rs", "PATRQT", {"patient": B}, "GET", f"/Observation/o-{B}", 200),
    ("patient", "patient/*.rs", "PATRQT", {"patient": B}, "GET", f"/Observation/o-{A}", 403),
    (
        "clinician",
        "user/*.rs",
        "TREAT",
        {"purpose_of_use": ["HRESCH"]},
        "GET",
        f"/Patient/{B}",
        403,
    ),
    ("clinician", "user/*.rs", "BTG", {"purpose_of_use": ["TREAT"]}, "GET", f"/Patient/{B}", 200),
]


@pytest.mark.parametrize(
    ("role", "scope", "purpose", "extra", "method", "path", "expected"),
    MATRIX,
    ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[4]}{r[5]}" for r in MATRIX],
)
def test_matrix(
    server: SecureServer,
    role: str,
    scope: str,
    purpose: str,
    extra: dict[str, Any],
    method: str,
    path: str,
    expected: int,
) -> None:
    sub = f"{role}-{abs(hash((scope, purpose, path))) % 10**8}"
    token = server.keys.sign(claims(role, scope, sub=sub, **extra))
    with server.client(token, purpose) as client:
        response = client.request(method, path)
    assert response.status_code == expected, response.text
    events = server.store.audit_events(actor=f"Practitioner/{sub}")
    assert events, "every decision is audited"
    assert events[-1].purpose == purpose
    assert events[-1].outcome == ("success" if expected < 400 else "minor-failure")
    if expected == 403:
        assert events[-1].details["failed_check"] is not None
        assert response.json()["issue"][0]["code"] == "forbidden"


def _ids(response: Any) -> set[str]:
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


def test_research_search_returns_only_consenting_patients(server: SecureServer) -> None:
    token = server.keys.sign(
        claims("researcher", "user/*.rs", sub="rs-search", project="cgm-study")
    )
    with server.client(token, "HRESCH") as client:
        response = client.get("/Observation")
    assert response.status_code == 200
    assert _ids(response) == {f"o-{A}"}
    assert "total" not in response.json()
    event = server.store.audit_events(actor="Practitioner/rs-search")[-1]
    assert event.details["n_removed"] == 2


def test_patient_token_search_stays_in_its_compartment(server: SecureServer) -> None:
    token = server.keys.sign(claims("clinician", "patient/*.rs", sub="pt-search", patient=A))
    with server.client(token) as client:
        assert _ids(client.get("/Observation")) == {f"o-{A}"}
        assert _ids(client.get("/Patient")) == {A}
        everything = client.get(f"/Patient/{A}/$everything")
    assert _ids(everything) == {A, f"o-{A}", f"k-{A}", "c-a"}


def test_public_health_surveillance_skips_care_only_patient(server: SecureServer) -> None:
    token = server.keys.sign(claims("epidemiologist", "user/Observation.s", sub="epi"))
    with server.client(token, "PUBHLTH") as client:
        found = _ids(client.get("/Observation"))
    assert f"o-{C}" not in found
    assert {f"o-{A}", f"o-{B}"} <= found


def test_patient_token_cannot_write_into_another_compartment(server: SecureServer) -> None:
    token = server.keys.sign(claims("clinician", "patient/*.cruds", sub="pt-write", patient=A))
    with server.client(token) as client:
        moved = observation(f"o-{A}", B)
        assert client.put(f"/Observation/o-{A}", json=moved).status_code == 403
        stolen = observation(f"o-{B}", A)
        assert client.put(f"/Observation/o-{B}", json=stolen).status_code == 403
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": observation("tx-1", B),
                    "request": {"method": "POST", "url": "Observation"},
                }
            ],
        }
        assert client.post("", json=bundle).status_code == 403
        assert client.post("/Observation", json=observation("new", A)).status_code == 201
    assert server.store.read("Observation", f"o-{B}")["subject"]["reference"] == f"Patient/{B}"


def test_missing_purpose_is_refused_when_no_default(server: SecureServer) -> None:
    token = server.keys.sign(claims(sub="no-purpose"))
    with server.client(token, purpose=None) as client:
        response = client.get(f"/Patient/{A}")
    assert response.status_code == 400
    assert "X-Purpose-Of-Use" in response.text
