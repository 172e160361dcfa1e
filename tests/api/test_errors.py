"""Bad input gets an OperationOutcome with the failing paths, writes nothing, and the server
stays up (each test ends with a good request)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from tests.api.conftest import MAX_BODY_BYTES, MAX_ENTRIES, Server, unique
from tests.api.fixtures import heart_rate, patient


def _expressions(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return [e for issue in body["issue"] for e in issue.get("expression", [])]


@pytest.fixture(autouse=True)
def still_serving(http: httpx.Client) -> Iterator[None]:
    """After every bad request, a good one still works."""
    yield
    assert http.post("/Patient", json=patient(unique("Alive"))).status_code == 201


def test_malformed_json(http: httpx.Client) -> None:
    response = http.post(
        "/Patient",
        content=b'{"resourceType": "Patient",',
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["issue"][0]["diagnostics"]


def test_unknown_resource_type(http: httpx.Client) -> None:
    assert http.get("/Spaceship/1").status_code == 400
    response = http.post("/Patient", json={"resourceType": "Spaceship"})
    assert response.status_code == 400
    assert _expressions(response) == ["resourceType"]


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert http.get("/Patient/a/b/c/d").status_code == 404
    assert http.patch("/Patient/a", json={}).status_code == 405


def test_wrong_unit_on_a_vital_sign(http: httpx.Client) -> None:
    owner = http.post("/Patient", json=patient("Units")).json()["id"]
    response = http.post("/Observation", json=heart_rate(owner, "2024-05-01T08:00:00Z", 70, "kg"))
    assert response.status_code == 422
    assert "Observation.valueQuantity.code" in _expressions(response)
    assert http.get("/Observation", params={"patient": owner}).json()["total"] == 0


def test_library_accepted_bad_status_is_refused(http: httpx.Client) -> None:
    owner = http.post("/Patient", json=patient("Status")).json()["id"]
    obs = {**heart_rate(owner, "2024-05-01T08:00:00Z", 70), "status": "not-a-status"}
    response = http.post("/Observation", json=obs)
    assert response.status_code == 422
    assert _expressions(response) == ["Observation.status"]


def test_reference_to_missing_patient(http: httpx.Client) -> None:
    response = http.post("/Observation", json=heart_rate("nobody", "2024-05-01T08:00:00Z", 70))
    assert response.status_code == 422
    assert _expressions(response) == ["Observation.subject.reference"]


def test_id_in_body_differs_from_url(http: httpx.Client) -> None:
    response = http.put("/Patient/abc", json={**patient("Mismatch"), "id": "xyz"})
    assert response.status_code == 400
    assert _expressions(response) == ["Patient.id"]
    assert http.get("/Patient/abc").status_code == 404


def test_bundle_over_the_entry_cap(http: httpx.Client) -> None:
    family = unique("Many")
    entries = [
        {"request": {"method": "POST", "url": "Patient"}, "resource": patient(family)}
        for _ in range(MAX_ENTRIES + 1)
    ]
    response = http.post(
        "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    assert response.status_code == 400
    assert _expressions(response) == ["Bundle.entry"]
    assert http.get("/Patient", params={"family": family}).json()["total"] == 0


def test_declared_huge_body_is_refused_unread(server: Server) -> None:
    url = urlsplit(server.base)
    request = (
        f"POST {url.path}/Patient HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Content-Type: application/fhir+json\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n{{"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"OperationOutcome" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    answer_text = answer.decode()
    assert answer_text.startswith("HTTP/1.1 413")
    assert "OperationOutcome" in answer_text


def test_streamed_body_over_the_limit_is_cut_off(http: httpx.Client) -> None:
    chunk = b" " * (256 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    response = http.post("/Patient", content=body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-costly"


def test_deeply_nested_json(http: httpx.Client) -> None:
    depth = 100_000
    text = '{"resourceType": "Patient", "extension": ' + "[" * depth + "]" * depth + "}"
    response = http.post("/Patient", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "too-costly"


def test_non_json_content_type(http: httpx.Client) -> None:
    response = http.post(
        "/Patient", content=json.dumps(patient("X")), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
