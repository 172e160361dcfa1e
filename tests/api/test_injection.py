"""Injection attempts in search parameters and ids: refused or harmless, never a 500.

SQL meta-characters, huge values, unicode (control characters, right-to-left marks,
astral-plane text), NUL bytes and path traversal are sent to a production-mode server with
a valid token. Every answer must be a FHIR answer below 500; what a search returns must be
within the caller's compartment; the stored data must be intact afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.api.security_fixtures import (
    Keys,
    SecureServer,
    claims,
    config,
    observation,
    patient,
    secure_server,
)

MINE, OTHER = "inj-mine", "inj-other"
NASTY = [
    "' OR '1'='1",
    "1; DROP TABLE resources; --",
    '" OR ""="',
    "%' UNION SELECT body FROM resources --",
    "\\x00",
    "\x00",
    "Patient/../../etc/passwd",
    "../../../../etc/passwd",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "\u202eevil\u202c",
    "\U0001f600" * 50,
    "é" * 500,
    "x" * 6000,
    "le2025-13-45",
    "gt" + "9" * 400,
    "http://loinc.org|" + "'" * 100,
    ",,,,",
    "",
]
PARAMETERS = [
    ("Patient", "name"),
    ("Patient", "_id"),
    ("Patient", "birthdate"),
    ("Observation", "code"),
    ("Observation", "date"),
    ("Observation", "patient"),
    ("Observation", "value-quantity"),
    ("Observation", "_sort"),
    ("Observation", "_count"),
    ("Observation", "_offset"),
    ("Observation", "name:contains"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("inject"), keys, config(keys)) as running:
        with running.client(keys.sign(claims(sub="loader"))) as client:
            for pid in (MINE, OTHER):
                assert client.put(f"/Patient/{pid}", json=patient(pid)).status_code == 201
                body = observation(f"o-{pid}", pid)
                assert client.put(f"/Observation/o-{pid}", json=body).status_code == 201
        yield running


@pytest.fixture(scope="module")
def client(server: SecureServer) -> Iterator[httpx.Client]:
    token = server.keys.sign(claims("clinician", "patient/*.rs", sub="inj", patient=MINE))
    with server.client(token) as http:
        yield http


def _owners(response: httpx.Response) -> set[str]:
    owners = set()
    for entry in response.json().get("entry", []):
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            owners.add(resource["id"])
        else:
            owners.add(resource["subject"]["reference"].removeprefix("Patient/"))
    return owners


@pytest.mark.parametrize(("resource_type", "name"), PARAMETERS)
def test_search_parameters_never_break_the_server(
    client: httpx.Client, resource_type: str, name: str
) -> None:
    for value in NASTY:
        response = client.get(f"/{resource_type}", params={name: value})
        assert response.status_code < 500, (name, value, response.text[:300])
        assert response.headers["content-type"].startswith("application/fhir+json")
        if response.status_code == 200:
            assert _owners(response) <= {MINE}, (name, value)


def test_form_search_and_repeated_parameters_are_contained(client: httpx.Client) -> None:
    response = client.post(
        "/Observation/_search",
        content=f"patient={MINE}&patient={OTHER}&code=%27%20OR%201%3D1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (200, 400, 403)
    for value in (f"{MINE},{OTHER}", f"Patient/{OTHER}", f"{MINE}' OR '1'='1"):
        found = client.get("/Observation", params={"patient": value})
        assert found.status_code < 500
        if found.status_code == 200:
            assert _owners(found) <= {MINE}


@pytest.mark.parametrize(
    "path",
    [
        "/Patient/..%2F..%2Fmetadata",
        "/Patient/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/Patient/inj-mine%00",
        "/Patient/inj-mine'%20OR%20'1'='1",
        "/Patient/" + "a" * 3000,
        "/Patient/%F0%9F%98%80",
        "/Observation/o-inj-other%23",
        "/Observation/o-inj-mine/_history/1%3B%20DROP%20TABLE%20resources",
        "/..%2F..%2Fetc%2Fpasswd",
        "/Patient%00/inj-mine",
        "/Observation/o-inj-other/..",
    ],
)
def test_ids_with_traversal_or_injection_are_harmless(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code < 500, response.text[:300]
    assert response.status_code in (200, 400, 403, 404, 405)
    if response.status_code == 200 and response.json().get("resourceType") == "Observation":
        assert response.json()["subject"]["reference"] == f"Patient/{MINE}"


def test_bad_purpose_and_headers_are_client_errors(server: SecureServer) -> None:
    token = server.keys.sign(claims(sub="inj-headers"))
    with server.client(token, purpose=None) as client:
        for purpose in ("' OR 1=1", "\u202eTREAT", "x" * 5000, "TREAT\tHRESCH", "TREAT;DROP"):
            response = client.get("/Patient", headers={"X-Purpose-Of-Use": purpose.encode()})
            assert response.status_code == 400


def test_store_intact_after_the_attempts(server: SecureServer) -> None:
    assert server.store.read("Patient", OTHER)["id"] == OTHER
    assert server.store.read("Observation", f"o-{MINE}")["subject"]["reference"].endswith(MINE)
