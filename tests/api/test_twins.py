"""Patient twins over a real uvicorn server: create, readings, forecast, what-if, advice, stream.

One unsecured server for the module (fresh twin ids per test), and a secured one for the
governance checks (tokens, purpose, policy, consent, audit on ``/api/v1``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.api.security_fixtures import Keys, claims, config, secure_server
from tests.api.v1_server import running

from healthtwin.api.twin_sessions import CGM_GLUCOSE
from healthtwin.interop.records import ObservationRecord
from healthtwin.store import Store

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with (
        running(tmp_path_factory.mktemp("twins")) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        yield client, store


def _twin(client: httpx.Client, **extra: Any) -> str:
    twin_id = f"t-{uuid.uuid4().hex[:10]}"
    response = client.post("/twins", json={"twin_id": twin_id, "members": 16, **extra})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/v1/twins/{twin_id}"
    return twin_id


def test_a_twin_from_parameters_has_an_ensemble_state(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client, profile="adult#001")
    state = client.get(f"/twins/{twin_id}").json()
    assert state["profile"] == "adult#001"
    assert state["members"] == 16
    assert state["n_readings"] == 0
    g = state["glucose_mg_dl"]
    assert g["0.05"] < g["0.5"] < g["0.95"]
    [sensitivity] = state["parameters"]
    assert sensitivity["low"] < sensitivity["mean"] < sensitivity["high"]


def test_a_twin_from_a_fhir_patient_assimilates_its_stored_readings(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    pid = f"p-{uuid.uuid4().hex[:10]}"
    store.create({"resourceType": "Patient", "id": pid, "gender": "female"})
    start = datetime(2025, 1, 1, 8, tzinfo=UTC)
    store.add_observations(
        ObservationRecord(
            id=f"{pid}-{i}",
            patient_id=pid,
            code=CGM_GLUCOSE,
            effective=start + timedelta(minutes=5 * (i + 1)),
            value=180.0 + i,
            unit="mg/dL",
        )
        for i in range(6)
    )
    twin_id = _twin(client, patient_id=pid, start=start.isoformat())
    state = client.get(f"/twins/{twin_id}/state").json()
    assert state["patient_id"] == pid
    assert [r["t_min"] for r in state["readings"]] == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    assert state["t_min"] == 30.0


def test_an_unknown_patient_is_a_404_problem(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    response = client.post("/twins", json={"patient_id": "nobody-here"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 404
    assert "nobody-here" in problem["detail"]


def test_readings_move_the_forecast_and_are_stored(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    twin_id = _twin(client)
    before = client.get(f"/twins/{twin_id}/forecast", params={"horizon_min": 60}).json()
    one = client.post(f"/twins/{twin_id}/observations", json={"t_min": 5, "glucose_mg_dl": 250})
    assert one.status_code == 201
    assert one.json()["added"] == 1
    batch = [{"t_min": 5.0 * k, "glucose_mg_dl": 250.0} for k in range(2, 9)]
    many = client.post(f"/twins/{twin_id}/observations", json={"observations": batch})
    assert many.json() == {
        "twin_id": twin_id,
        "added": 7,
        "n_readings": 8,
        "t_min": 40.0,
        "version": 2,
    }
    after = client.get(f"/twins/{twin_id}/forecast", params={"horizon_min": 60}).json()
    assert len(after["t_min"]) == 13
    assert after["t_min"][0] == 40.0
    q = after["quantiles"]
    for lower, upper in (("0.05", "0.25"), ("0.25", "0.5"), ("0.5", "0.75"), ("0.75", "0.95")):
        assert all(a <= b + 1e-9 for a, b in zip(q[lower], q[upper], strict=True))
    # Readings of 250 mg/dL pull the twin's glucose far above its basal start (~140).
    assert q["0.5"][0] > before["quantiles"]["0.5"][0] + 40
    stored = store.observations(twin_id, "99504-3")
    assert sorted(o.value for o in stored) == [250.0] * 8
    # One snapshot at creation (the twin's definition, for a restart), one per post.
    history = store.twin_state_history(twin_id)
    assert [h.metadata["n_readings"] for h in history] == [0, 1, 8]
    # Every forecast says what it came from: the readings and the forecast itself, hashed.
    from fhir.resources.R4B.provenance import Provenance

    from healthtwin.governance.provenance import content_hash

    provenance = after["provenance"]
    Provenance.model_validate(provenance)
    assert provenance["target"][0]["display"] == f"urn:healthtwin:forecast:{twin_id}:2"
    assert provenance["target"][0]["extension"][0]["valueString"] == content_hash(q)
    assert before["provenance"]["entity"][0] != provenance["entity"][0]  # new readings


def test_forecast_provenance_is_signed_with_the_services_key() -> None:
    from healthtwin.api.app import create_app
    from healthtwin.api.twin_sessions import PatientTwinSession
    from healthtwin.governance.signing import generate_signing_key
    from healthtwin.store import open_store

    key = generate_signing_key()
    forecast = PatientTwinSession.create("signed", members=8).forecast(30.0, 10.0, key=key)
    signature = forecast["provenance"]["signature"][0]
    assert signature["data"]
    assert key.key_id in json.dumps(signature)
    with open_store("sqlite://") as store:
        assert create_app(store, provenance_key=key).state.provenance_key is key


def test_concurrent_clients_lose_no_reading(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    twin_id = _twin(client, members=8)
    base = str(client.base_url)

    def post_many(worker: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=base, timeout=60) as own:
            for k in range(8):
                t = 5.0 * (k * 4 + worker + 1)  # interleaved, so some arrive late
                reply = own.post(
                    f"/twins/{twin_id}/observations", json={"t_min": t, "glucose_mg_dl": 120 + k}
                )
                codes.append(reply.status_code)
        return codes

    with ThreadPoolExecutor(4) as pool:
        codes = [c for result in pool.map(post_many, range(4)) for c in result]
    assert codes == [201] * 32
    state = client.get(f"/twins/{twin_id}").json()
    assert state["n_readings"] == 32
    assert [r["t_min"] for r in state["readings"]] == [5.0 * (i + 1) for i in range(32)]
    assert state["t_min"] == 160.0
    assert len(store.observations(twin_id, "99504-3")) == 32


def test_what_if_compares_plans_with_common_random_numbers(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    twin_id = _twin(client)
    body = {
        "plans": {"fast": {}, "meal": {"meal_g": 80}, "covered": {"meal_g": 80, "bolus_u": 6}},
        "horizon_min": 240,
    }
    plans = client.post(f"/twins/{twin_id}/what-if", json=body).json()["plans"]
    peak = {name: max(p["quantiles"]["0.5"]) for name, p in plans.items()}
    assert peak["meal"] > peak["covered"] > peak["fast"] - 1
    assert peak["meal"] > 180
    assert (
        plans["meal"]["time_in_range_percent"]["mean"]
        < plans["fast"]["time_in_range_percent"]["mean"]
    )
    again = client.post(f"/twins/{twin_id}/what-if", json=body).json()["plans"]
    assert again == plans


def test_a_recommendation_is_proposed_accepted_applied_and_audited(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    twin_id = _twin(client)
    made = client.post(f"/twins/{twin_id}/recommendations", json={"meal_g": 60})
    assert made.status_code == 201, made.text
    rec = made.json()
    assert rec["status"] == "proposed"
    assert rec["value"]["plan"].startswith("bolus ")
    assert rec["value"]["bolus_u"] > 0
    listed = client.get(f"/twins/{twin_id}/recommendations").json()["recommendations"]
    assert [r["id"] for r in listed] == [rec["id"]]
    accepted = client.post(
        f"/recommendations/{rec['id']}/accept",
        json={"reason": "agreed"},
        headers={"X-Actor": "Practitioner/dr-who"},
    ).json()
    assert (accepted["status"], accepted["decided_by"]) == ("accepted", "Practitioner/dr-who")
    events = client.get(f"/twins/{twin_id}").json()["events"]
    assert [(e["meal_g"], e["bolus_u"]) for e in events] == [(60.0, rec["value"]["bolus_u"])]
    again = client.post(f"/recommendations/{rec['id']}/accept", json={})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)
    audit = store.audit_events(resource_ref=f"GuidanceResponse/{rec['id']}")
    assert [(e.action, e.actor) for e in audit] == [
        ("propose", "Device/healthtwin-bolus-advisor"),
        ("accept", "Practitioner/dr-who"),
    ]


def test_an_override_needs_a_reason_and_a_value(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    rec = client.post(f"/twins/{twin_id}/recommendations", json={"meal_g": 40}).json()
    refused = client.post(f"/recommendations/{rec['id']}/override", json={"reason": "no"})
    assert refused.status_code == 400
    done = client.post(
        f"/recommendations/{rec['id']}/override",
        json={"reason": "patient will exercise", "value": {"bolus_u": 1.0, "meal_g": 40}},
    ).json()
    assert done["status"] == "overridden"
    assert done["override_value"] == {
        "bolus_u": 1.0,
        "meal_g": 40,
    }
    events = client.get(f"/twins/{twin_id}").json()["events"]
    assert [e["bolus_u"] for e in events] == [1.0]


@pytest.mark.parametrize(
    "body",
    [
        {"t_min": 5, "glucose_mg_dl": 5},
        {"glucose_mg_dl": 120},
        {"t_min": 5, "time": "2025-01-01T08:00:00Z", "glucose_mg_dl": 120},
        {"t_min": 5, "glucose_mg_dl": 120, "unit": "mmol/L"},
        {"observations": []},
    ],
)
def test_bad_readings_are_400_problems(api: tuple[httpx.Client, Store], body: Any) -> None:
    client, _ = api
    twin_id = _twin(client, members=8)
    response = client.post(f"/twins/{twin_id}/observations", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == 400
    assert client.get(f"/twins/{twin_id}").json()["n_readings"] == 0


def test_the_stream_sends_each_new_reading_with_its_forecast(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    twin_id = _twin(client, members=8)
    seen: list[dict[str, Any]] = []
    hello = threading.Event()

    def listen() -> None:
        url = f"/twins/{twin_id}/stream"
        with client.stream("GET", url, params={"max_s": 20, "poll_s": 0.05}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    if kind == "hello":
                        hello.set()
                    elif kind == "reading":
                        seen.append(json.loads(line.split(":", 1)[1]))
                        return

    listener = threading.Thread(target=listen)
    listener.start()
    assert hello.wait(20)
    client.post(f"/twins/{twin_id}/observations", json={"t_min": 5, "glucose_mg_dl": 190})
    listener.join(30)
    assert not listener.is_alive()
    [event] = seen
    assert event["readings"] == [{"t_min": 5.0, "glucose_mg_dl": 190.0}]
    assert event["forecast"]["t_min"][0] == 5.0
    assert event["forecast"]["n_readings"] == 1


def test_openapi_lists_the_twin_routes(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    spec = httpx.get(str(client.base_url.copy_with(path="/openapi.json"))).json()
    for path in ("/api/v1/twins", "/api/v1/twins/{twin_id}/observations", "/api/v1/scenarios"):
        assert path in spec["paths"]


# -- governance on /api/v1 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, Keys]]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("secure-twins"), keys, config(keys)) as server:
        yield server.base.removesuffix("/fhir") + "/api/v1", server.store, keys


def _client(root: str, token: str | None, purpose: str | None = "TREAT") -> httpx.Client:
    headers = {"X-Purpose-Of-Use": purpose} if purpose else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=root, headers=headers, timeout=60)


def test_no_token_is_401_and_audited(secured: tuple[str, Store, Keys]) -> None:
    root, store, _ = secured
    with _client(root, None) as anonymous:
        response = anonymous.get("/twins")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert store.audit_events(action="authenticate")[-1].details["api"] == "v1"


def test_a_clinician_treating_is_allowed_and_each_call_audited(
    secured: tuple[str, Store, Keys],
) -> None:
    root, store, keys = secured
    pid = f"p-{uuid.uuid4().hex[:8]}"
    store.create({"resourceType": "Patient", "id": pid, "gender": "male"})
    token = keys.sign(claims("clinician", sub="dr-a"))
    with _client(root, token) as clinician:
        made = clinician.post("/twins", json={"patient_id": pid, "members": 8})
        assert made.status_code == 201, made.text
        twin_id = made.json()["twin_id"]
        posted = clinician.post(
            f"/twins/{twin_id}/observations", json={"t_min": 5, "glucose_mg_dl": 150}
        )
        assert posted.status_code == 201
    events = store.audit_events(patient=f"Patient/{pid}")
    assert [(e.action, e.actor, e.purpose, e.outcome) for e in events] == [
        ("create-twin", "Practitioner/dr-a", "TREAT", "success"),
        ("observe", "Practitioner/dr-a", "TREAT", "success"),
    ]
    assert events[1].resource_refs == (f"Device/{twin_id}",)


def test_a_researcher_without_permit_is_refused(secured: tuple[str, Store, Keys]) -> None:
    root, store, keys = secured
    clinician = _client(root, keys.sign(claims("clinician", sub="dr-b")))
    with clinician:
        twin_id = clinician.post("/twins", json={"members": 8}).json()["twin_id"]
    with _client(root, keys.sign(claims("researcher", sub="res-1")), "HRESCH") as researcher:
        response = researcher.get(f"/twins/{twin_id}/forecast")
    assert response.status_code == 403
    assert response.json()["title"] == "forbidden"
    [event] = store.audit_events(actor="Practitioner/res-1")
    assert (event.outcome, event.details["status"]) == ("minor-failure", 403)


def test_a_purpose_outside_the_token_is_refused(secured: tuple[str, Store, Keys]) -> None:
    root, _, keys = secured
    token = keys.sign(claims("clinician", sub="dr-c", purpose_of_use=["TREAT"]))
    with _client(root, token, "HRESCH") as client:
        response = client.get("/twins")
    assert response.status_code == 403
    assert "purpose" in response.json()["detail"]


def test_an_opted_out_patient_is_refused(secured: tuple[str, Store, Keys]) -> None:
    root, store, keys = secured
    pid = f"p-{uuid.uuid4().hex[:8]}"
    store.create({"resourceType": "Patient", "id": pid, "gender": "female"})
    token = keys.sign(claims("clinician", sub="dr-d"))
    with _client(root, token) as client:
        made = client.post("/twins", json={"patient_id": pid, "members": 8})
        assert made.status_code == 201
        assert pid in {t["patient_id"] for t in client.get("/twins").json()["twins"]}
        store.create(
            {
                "resourceType": "Consent",
                "id": f"c-{pid}",
                "status": "active",
                "scope": {"coding": [{"code": "patient-privacy"}]},
                "patient": {"reference": f"Patient/{pid}"},
                "policyRule": {"coding": [{"code": "OPTOUT"}]},
            }
        )
        # Written straight to the store after startup: enforced on the very next request.
        listed = client.get("/twins").json()["twins"]
        response = client.get(f"/twins/{made.json()['twin_id']}/state")
    assert pid not in {t["patient_id"] for t in listed}  # the list hides what a read refuses
    assert response.status_code == 403
    assert "consent" in response.json()["detail"] or "opt-out" in response.json()["detail"]


def test_a_logged_meal_raises_the_forecast(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    flat = client.get(f"/twins/{twin_id}/forecast", params={"horizon_min": 180}).json()
    logged = client.post(f"/twins/{twin_id}/events", json={"t_min": 0, "meal_g": 70})
    assert logged.status_code == 201
    assert logged.json()["events"] == 1
    fed = client.get(f"/twins/{twin_id}/forecast", params={"horizon_min": 180}).json()
    assert max(fed["quantiles"]["0.5"]) > max(flat["quantiles"]["0.5"]) + 40
    events = client.get(f"/twins/{twin_id}").json()["events"]
    assert events == [
        {"t_min": 0.0, "meal_g": 70.0, "bolus_u": 0.0, "source": "logged by anonymous"}
    ]


@pytest.mark.parametrize(
    ("twin_id", "prefix"),
    [
        ("job.job-123", "job."),
        ("hospital.h1", "hospital."),
        ("hospital-registry", "hospital-registry"),
        ("alarms.board", "alarms.board"),
    ],
)
def test_twin_ids_cannot_take_the_prefixes_other_records_are_kept_under(
    api: tuple[httpx.Client, Store], twin_id: str, prefix: str
) -> None:
    client, _ = api
    response = client.post("/twins", json={"twin_id": twin_id, "members": 8})
    assert response.status_code == 400
    assert prefix in response.json()["detail"]
