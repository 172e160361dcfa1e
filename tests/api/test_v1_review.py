"""Fixes from the review of the twin API (issue 14), each checked through a real uvicorn server.

Overrides validated before anything is recorded; consents cached and updated as they are
written; an accurate OpenAPI document (problem details, bearer security, purpose header,
event stream); twin ids that do not leak; a twin that starts at its patient's stored
history; an idempotent demo load; RFC 9457 everywhere under ``/api/v1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs  # installed with schemathesis (the fuzz tests)
import pytest
from tests.api.security_fixtures import Keys, claims, config, secure_server
from tests.api.v1_server import new_twin, running, v1_client

from healthtwin.api.demo import DEMO_PATIENTS, load_demo
from healthtwin.api.devmode import development_config
from healthtwin.api.twin_sessions import CGM_GLUCOSE
from healthtwin.interop.records import ObservationRecord
from healthtwin.store import Store

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with v1_client(tmp_path_factory.mktemp("review")) as opened:
        yield opened


def _twin(client: httpx.Client, **extra: Any) -> str:
    return new_twin(client, "t", **extra)


# -- 1. overrides are validated before they are recorded -----------------------------------


@pytest.mark.parametrize(
    ("value", "field", "bound"),
    [
        ({"bolus_u": 500, "meal_g": 40}, "#/body/value/bolus_u", "30"),
        ({"bolus_u": 1, "meal_g": -50}, "#/body/value/meal_g", "0"),
        ({"bolus_u": "lots"}, "#/body/value/bolus_u", "number"),
        ({"bolus_u": 1, "insulin": 3}, "#/body/value/insulin", "not permitted"),
    ],
)
def test_a_bad_override_is_a_400_and_nothing_is_recorded(
    api: tuple[httpx.Client, Store], value: dict[str, Any], field: str, bound: str
) -> None:
    client, store = api
    twin_id = _twin(client)
    rec = client.post(f"/twins/{twin_id}/recommendations", json={"meal_g": 40}).json()
    response = client.post(
        f"/recommendations/{rec['id']}/override", json={"reason": "exercise", "value": value}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    [error] = response.json()["errors"]
    assert error["pointer"] == field
    assert bound in error["detail"]
    assert client.get(f"/recommendations/{rec['id']}").json()["status"] == "proposed"
    assert store.oversight().recommendation(rec["id"]).override_value is None
    assert client.get(f"/twins/{twin_id}").json()["events"] == []
    assert client.get(f"/twins/{twin_id}/forecast").status_code == 200


def test_an_empty_override_value_is_refused(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    rec = client.post(f"/twins/{twin_id}/recommendations", json={"meal_g": 40}).json()
    response = client.post(
        f"/recommendations/{rec['id']}/override", json={"reason": "why", "value": {}}
    )
    assert response.status_code == 400
    assert "bolus_u" in response.json()["detail"]
    assert client.get(f"/recommendations/{rec['id']}").json()["status"] == "proposed"


# -- 4. ids do not leak -------------------------------------------------------------------


def test_a_404_names_no_other_twin(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    other = _twin(client)
    response = client.get("/twins/no-such-twin")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "no-such-twin" in response.json()["detail"]
    assert other not in response.text


# -- 5. a twin from a stored Patient starts at its first stored reading --------------------


def test_a_twin_from_a_patient_assimilates_its_history_without_a_start(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    pid = f"p-{uuid.uuid4().hex[:10]}"
    store.create({"resourceType": "Patient", "id": pid})
    first = datetime(2025, 3, 1, 7, tzinfo=UTC)
    store.add_observations(
        ObservationRecord(
            id=f"{pid}-{i}",
            patient_id=pid,
            code=CGM_GLUCOSE,
            effective=first + timedelta(minutes=5 * i),
            value=150.0 + i,
            unit="mg/dL",
        )
        for i in range(4)
    )
    twin_id = _twin(client, patient_id=pid)
    state = client.get(f"/twins/{twin_id}").json()
    assert state["start"] == first.isoformat()
    assert [r["t_min"] for r in state["readings"]] == [0.0, 5.0, 10.0, 15.0]
    assert state["n_readings"] == 4


def test_a_patient_without_readings_starts_now(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    pid = f"p-{uuid.uuid4().hex[:10]}"
    store.create({"resourceType": "Patient", "id": pid})
    before = datetime.now(UTC)
    state = client.get(f"/twins/{_twin(client, patient_id=pid)}").json()
    assert state["n_readings"] == 0
    assert datetime.fromisoformat(state["start"]) >= before - timedelta(seconds=1)


# -- 7. RFC 9457 everywhere under /api/v1 ----------------------------------------------------


def test_an_oversized_body_is_a_413_problem(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    body = b'{"observations": []}' + b" " * (33 * 1024 * 1024)
    response = client.post(
        "/twins/anything/observations",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert (problem["status"], problem["title"]) == (413, "Content Too Large")
    assert "resourceType" not in problem


def test_error_pointers_are_json_pointers(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    response = client.get(f"/twins/{twin_id}/forecast", params={"horizon_min": -5})
    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/query/horizon_min"]
    plans = {"a/b": {"meal_g": 900}}
    response = client.post(f"/twins/{twin_id}/what-if", json={"plans": plans})
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/body/plans/a~1b/meal_g"]


# -- 3. the OpenAPI document says what the API does ----------------------------------------


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        if path.startswith("/api/v1"):
            for method, operation in operations.items():
                yield path, method, operation


def _problem_schema(spec: dict[str, Any], operation: dict[str, Any], status: str) -> Any:
    content = operation["responses"][status]["content"]
    assert list(content) == [PROBLEM]
    ref = content[PROBLEM]["schema"]["$ref"]
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_openapi_declares_problem_details_and_no_422(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    spec = httpx.get(str(client.base_url.copy_with(path="/openapi.json"))).json()
    operations = list(_operations(spec))
    assert len(operations) > 30
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "422" not in responses, (path, method)
        assert {"400", "429"} <= set(responses), (path, method)
        # 404 only where a path names something that may not exist.
        assert ("404" in responses) == ("{" in path or (path, method) in _MAY_404), (path, method)
        assert "401" not in responses  # security is off on this server
        _problem_schema(spec, operation, "400")
    assert "HTTPValidationError" not in str([op for _, _, op in operations]), (
        "an /api/v1 operation still refers to FastAPI's validation error"
    )
    stream = spec["paths"]["/api/v1/twins/{twin_id}/stream"]["get"]["responses"]["200"]
    assert list(stream["content"]) == ["text/event-stream"]


def test_a_malformed_body_matches_the_declared_problem(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    spec = httpx.get(str(client.base_url.copy_with(path="/openapi.json"))).json()
    operation = spec["paths"]["/api/v1/twins/{twin_id}/observations"]["post"]
    schema = _problem_schema(spec, operation, "400")
    twin_id = _twin(client)
    response = client.post(
        f"/twins/{twin_id}/observations",
        content=b'{"t_min": 5, "glucose_mg_dl": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    jsonschema_rs.validate(schema, response.json())


def test_secured_openapi_has_bearer_security_and_the_purpose_header(tmp_path: Path) -> None:
    security, _ = development_config(tmp_path / "keys")
    with running(tmp_path, security) as (root, _, _):
        spec = httpx.get(f"{root}/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, operation in _operations(spec):
        assert {"400", "401", "403"} <= set(operation["responses"]), (path, method)
        _problem_schema(spec, operation, "401")
        assert operation["security"] == [{"bearer": []}]
        names = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert names == ["X-Purpose-Of-Use"], (path, method)


# -- 2 and 4 under governance: cached consents, filtered lists ------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, Keys]]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("secure-review"), keys, config(keys)) as server:
        yield server.base.removesuffix("/fhir"), server.store, keys


def _client(root: str, token: str, purpose: str = "TREAT") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": purpose}
    return httpx.Client(base_url=root, headers=headers, timeout=60)


def _opt_out(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": f"c-{pid}",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "policyRule": {"coding": [{"code": "OPTOUT"}]},
    }


def test_the_list_shows_only_twins_the_caller_may_read(
    secured: tuple[str, Store, Keys],
) -> None:
    root, store, keys = secured
    kept, hidden = (f"p-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for pid in (kept, hidden):
        store.create({"resourceType": "Patient", "id": pid})
    with _client(root, keys.sign(claims("clinician", sub="dr-l"))) as client:
        twins = {
            pid: client.post("/api/v1/twins", json={"patient_id": pid, "members": 8}).json()
            for pid in (kept, hidden)
        }
        # Through /fhir: the layer that wrote it and the /api/v1 layer share one source.
        written = client.post("/fhir/Consent", json=_opt_out(hidden))
        assert written.status_code == 201, written.text
        listed = {t["patient_id"] for t in client.get("/api/v1/twins").json()["twins"]}
        refused = client.get(f"/api/v1/twins/{twins[hidden]['twin_id']}")
        allowed = client.get(f"/api/v1/twins/{twins[kept]['twin_id']}")
    assert kept in listed
    assert hidden not in listed
    assert (refused.status_code, allowed.status_code) == (403, 200)


def test_a_withdrawn_opt_out_counts_at_the_next_request(
    secured: tuple[str, Store, Keys],
) -> None:
    root, store, keys = secured
    pid = f"p-{uuid.uuid4().hex[:8]}"
    store.create({"resourceType": "Patient", "id": pid})
    with _client(root, keys.sign(claims("clinician", sub="dr-w"))) as client:
        twin = client.post("/api/v1/twins", json={"patient_id": pid, "members": 8}).json()
        url = f"/api/v1/twins/{twin['twin_id']}"
        store.create(_opt_out(pid))  # straight into the store, not through the API
        assert client.get(url).status_code == 403
        store.delete("Consent", f"c-{pid}")
        assert client.get(url).status_code == 200


# -- 6. the demo can be loaded again into the same store -------------------------------------


def test_loading_the_demo_twice_keeps_one_record_per_patient(tmp_path: Path) -> None:
    counts = []
    for _ in range(2):  # two starts of ``healthtwin serve --demo`` on one store file
        with running(tmp_path) as (root, store, app):
            load_demo(app.state, store)
            app.state.jobs.shutdown()
            state = httpx.get(f"{root}/api/v1/twins/twin-demo-ben", timeout=60).json()
            counts.append(
                (
                    state["n_readings"],
                    [len(store.observations(pid, CGM_GLUCOSE)) for pid, _ in DEMO_PATIENTS],
                )
            )
    assert counts == [(36, [36, 36, 36])] * 2


def test_consent_state_needs_a_scope_that_reads_consents(
    secured: tuple[str, Store, Keys],
) -> None:
    root, _, keys = secured
    no_consent_scope = keys.sign(claims("clinician", scope="user/Patient.rs", sub="dr-c"))
    with _client(root, no_consent_scope) as client:
        refused = client.get("/api/v1/governance/consents")
    with _client(root, keys.sign(claims("clinician", sub="dr-d"))) as client:
        allowed = client.get("/api/v1/governance/consents")
    assert refused.status_code == 403, refused.text
    assert allowed.status_code == 200, allowed.text


#: Operations without a path id that still answer 404 (they name a stored record).
_MAY_404 = {("/api/v1/twins", "post")}
