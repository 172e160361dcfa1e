"""Vital signs on the v1 patient twin: posted single or in batches, scored, stored, streamed.

A real uvicorn server (fresh twin ids per test); the secured server checks that the new
route goes through the governance layer (token, purpose, consent, audit) like the readings.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.api.security_fixtures import Keys, claims, config, secure_server
from tests.api.v1_server import running

from healthtwin.physiology.scores import news2
from healthtwin.physiology.vitals import Vitals
from healthtwin.store import Store

PROBLEM = "application/problem+json"
#: RR 22, SpO2 95, SBP 105, pulse 96, 38.3 C, alert, on air: NEWS2 2+1+0+1+1+0+1 = 6.
RAISED = {
    "respiratory_rate_per_min": 22,
    "spo2_percent": 95,
    "systolic_bp_mm_hg": 105,
    "heart_rate_per_min": 96,
    "temperature_c": 38.3,
    "consciousness": "A",
}
CALM = {
    "respiratory_rate_per_min": 16,
    "spo2_percent": 98,
    "systolic_bp_mm_hg": 125,
    "heart_rate_per_min": 72,
    "temperature_c": 36.8,
    "consciousness": "A",
}
LOINC = {"9279-1", "59408-5", "8480-6", "8867-4", "8310-5", "67775-7"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with (
        running(tmp_path_factory.mktemp("vitals")) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        yield client, store


def _twin(client: httpx.Client) -> str:
    twin_id = f"v-{uuid.uuid4().hex[:10]}"
    response = client.post("/twins", json={"twin_id": twin_id, "members": 8})
    assert response.status_code == 201, response.text
    return twin_id


def test_a_vitals_set_is_scored_stored_and_in_the_state(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    twin_id = _twin(client)
    posted = client.post(f"/twins/{twin_id}/vitals", json={"t_min": 10, **RAISED})
    assert posted.status_code == 201, posted.text
    assert posted.json()["added"] == 1
    assert posted.json()["news2"]["total"] == 6

    vitals = client.get(f"/twins/{twin_id}").json()["vitals"]
    assert vitals["latest"]["t_min"] == 10.0
    assert vitals["latest"]["spo2_percent"] == 95.0
    score = vitals["news2"]
    assert (score["total"], score["band"], score["any_single_3"]) == (6, "medium", False)
    assert score["subscores"] == {
        "respiration_rate": 2,
        "spo2": 1,
        "air_or_oxygen": 0,
        "systolic_bp": 1,
        "pulse": 1,
        "consciousness": 0,
        "temperature": 1,
    }
    assert score["monitoring_frequency"] == "minimum 1-hourly"
    assert score["actions"][0].startswith("the registered nurse immediately informs")

    stored = {o.code.code: o for o in store.observations(twin_id)}
    assert set(stored) >= LOINC
    assert stored["9279-1"].value == 22.0
    assert stored["8310-5"].unit == "Cel"
    assert stored["9279-1"].category == "vital-signs"
    assert stored["67775-7"].value == 0.0  # Alert
    # The store-backed NEWS2 route sees the posted set, consciousness recorded this time.
    on_file = client.get(f"/twins/{twin_id}/news2").json()
    assert (on_file["total"], on_file["consciousness"]) == (6, "A")


def test_oxygen_scale_2_and_consciousness_are_scored_as_the_chart_says(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    twin_id = _twin(client)
    body = {**RAISED, "t_min": 0, "spo2_percent": 97, "spo2_scale": 2, "on_oxygen": True,
            "consciousness": "voice"}  # fmt: skip
    score = client.post(f"/twins/{twin_id}/vitals", json=body).json()["news2"]
    expected = news2(
        Vitals.from_arrays(
            respiratory_rate_per_min=22, spo2_percent=97, systolic_bp_mm_hg=105,
            heart_rate_per_min=96, temperature_c=38.3, consciousness="V", spo2_scale=2,
            on_oxygen=True,
        )
    )  # fmt: skip
    assert score["total"] == int(expected.total[0]) == 2 + 3 + 2 + 1 + 1 + 3 + 1
    assert score["subscores"]["spo2"] == 3
    assert score["subscores"]["consciousness"] == 3
    assert score["band"] == "high"
    on_file = client.get(f"/twins/{twin_id}/news2").json()
    assert (on_file["total"], on_file["on_oxygen"], on_file["spo2_scale"]) == (13, True, 2)


def test_a_batch_builds_the_news2_trend_in_time_order(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    twin_id = _twin(client)
    start = datetime.fromisoformat(client.get(f"/twins/{twin_id}").json()["start"])
    batch = [
        {"t_min": 60, **RAISED},
        {"time": (start + timedelta(minutes=30)).isoformat(), **CALM},
        {"t_min": 0, **CALM},
    ]
    posted = client.post(f"/twins/{twin_id}/vitals", json={"observations": batch})
    assert posted.status_code == 201, posted.text
    assert posted.json()["n_sets"] == 3
    state = client.get(f"/twins/{twin_id}/state").json()["vitals"]
    assert [(p["t_min"], p["total"]) for p in state["news2_trend"]] == [
        (0.0, 0), (30.0, 0), (60.0, 6)
    ]  # fmt: skip
    assert state["latest"]["t_min"] == 60.0
    assert state["news2"]["total"] == 6
    listed = client.get(f"/twins/{twin_id}/vitals").json()["vitals"]
    assert [v["t_min"] for v in listed] == [0.0, 30.0, 60.0]
    assert listed[1]["time"] == (start + timedelta(minutes=30)).isoformat()
    assert len(store.observations(twin_id, "8867-4")) == 3


@pytest.mark.parametrize(
    ("body", "pointer", "words"),
    [
        ({"t_min": 0, **RAISED, "spo2_percent": 120}, "#/body/spo2_percent",
         ("spo2_percent", "120", "(0, 100] %")),
        ({"t_min": 0, **RAISED, "temperature_c": 98.6}, "#/body/temperature_c",
         ("temperature_c", "98.6", "[25, 45] C")),
        ({"t_min": 0, **RAISED, "respiratory_rate_per_min": 0}, "#/body/respiratory_rate_per_min",
         ("respiratory_rate_per_min", "0", "(0, 80] breaths/min")),
        ({"t_min": 0, **RAISED, "spo2_scale": 3}, "#/body/spo2_scale", ("spo2_scale", "3")),
        ({"t_min": 0, **RAISED, "consciousness": "X"}, "#/body/consciousness",
         ("consciousness", "'X'", "A, C, V, P, U")),
        ({"observations": [{"t_min": 0, **CALM}, {"t_min": 5, **CALM, "heart_rate_per_min": 400}]},
         "#/body/observations/1/heart_rate_per_min",
         ("heart_rate_per_min", "400", "(0, 300] beats/min")),
    ],
)  # fmt: skip
def test_a_value_out_of_range_is_a_400_naming_field_value_and_range(
    api: tuple[httpx.Client, Store], body: dict[str, Any], pointer: str, words: tuple[str, ...]
) -> None:
    client, store = api
    twin_id = _twin(client)
    response = client.post(f"/twins/{twin_id}/vitals", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    [error] = response.json()["errors"]
    assert error["pointer"] == pointer
    for word in words:
        assert word in error["detail"], (word, error["detail"])
    # Nothing of a refused batch is kept.
    assert client.get(f"/twins/{twin_id}").json()["vitals"] is None
    assert store.observations(twin_id) == []


def test_every_bad_field_is_listed(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    body = {"t_min": 0, **RAISED, "spo2_percent": -1, "heart_rate_per_min": 0}
    errors = client.post(f"/twins/{twin_id}/vitals", json=body).json()["errors"]
    assert [e["pointer"] for e in errors] == ["#/body/spo2_percent", "#/body/heart_rate_per_min"]


@pytest.mark.parametrize(
    "body",
    [
        {**RAISED},  # no time
        {"t_min": 0, "time": "2026-01-01T00:00:00Z", **RAISED},  # both
        {"time": "2026-01-01T00:00:00", **RAISED},  # no timezone
        {"t_min": 999_999, **RAISED},  # far ahead of the twin
    ],
)
def test_a_set_without_one_clear_time_is_a_400(
    api: tuple[httpx.Client, Store], body: dict[str, Any]
) -> None:
    client, _ = api
    twin_id = _twin(client)
    response = client.post(f"/twins/{twin_id}/vitals", json=body)
    assert response.status_code == 400, response.text
    assert client.get(f"/twins/{twin_id}").json()["vitals"] is None


def test_concurrent_posts_to_one_twin_lose_no_set(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    twin_id = _twin(client)
    base = str(client.base_url)

    def post_many(worker: int) -> list[int]:
        with httpx.Client(base_url=base, timeout=60) as own:
            return [
                own.post(
                    f"/twins/{twin_id}/vitals",
                    json={"t_min": 5.0 * (k * 4 + worker), **RAISED},
                ).status_code
                for k in range(6)
            ]

    with ThreadPoolExecutor(4) as pool:
        codes = [c for result in pool.map(post_many, range(4)) for c in result]
    assert codes == [201] * 24
    vitals = client.get(f"/twins/{twin_id}").json()["vitals"]
    assert vitals["n_sets"] == 24
    assert [p["t_min"] for p in vitals["news2_trend"]] == [5.0 * i for i in range(24)]
    assert len(store.observations(twin_id, "9279-1")) == 24
    assert len(store.observations(twin_id)) == 24 * 8


def test_the_stream_sends_a_vitals_event_per_set_and_keeps_its_readings(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    twin_id = _twin(client)
    seen: list[tuple[str, dict[str, Any]]] = []
    hello = threading.Event()

    def listen() -> None:
        url = f"/twins/{twin_id}/stream"
        with client.stream("GET", url, params={"max_s": 30, "poll_s": 0.05}) as response:
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    if kind == "hello":
                        hello.set()
                        continue
                    seen.append((kind, data))
                    if kind == "reading":
                        return

    listener = threading.Thread(target=listen)
    listener.start()
    assert hello.wait(20)
    batch = {"observations": [{"t_min": 0, **CALM}, {"t_min": 5, **RAISED}]}
    assert client.post(f"/twins/{twin_id}/vitals", json=batch).status_code == 201
    # The reading is posted once both vitals events are out, so it cannot share their poll.
    for _ in range(400):
        if len(seen) >= 2:
            break
        threading.Event().wait(0.05)
    client.post(f"/twins/{twin_id}/observations", json={"t_min": 10, "glucose_mg_dl": 150})
    listener.join(30)
    assert not listener.is_alive()
    assert [kind for kind, _ in seen] == ["vitals", "vitals", "reading"]
    first, second = seen[0][1], seen[1][1]
    assert (first["vitals"]["t_min"], first["news2"]["total"]) == (0.0, 0)
    assert (second["vitals"]["t_min"], second["news2"]["total"]) == (5.0, 6)
    assert second["news2"]["subscores"]["respiration_rate"] == 2
    assert seen[2][1]["readings"] == [{"t_min": 10.0, "glucose_mg_dl": 150.0}]


def test_openapi_documents_the_vitals_routes_with_their_ranges(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    spec = httpx.get(str(client.base_url.copy_with(path="/openapi.json"))).json()
    route = spec["paths"]["/api/v1/twins/{twin_id}/vitals"]
    assert {"get", "post"} <= set(route)
    fields = spec["components"]["schemas"]["VitalsIn"]["properties"]
    assert fields["spo2_percent"]["maximum"] == 100
    assert fields["spo2_percent"]["exclusiveMinimum"] == 0
    assert fields["temperature_c"]["minimum"] == 25
    assert "(0, 80]" in fields["respiratory_rate_per_min"]["description"]
    stream = spec["paths"]["/api/v1/twins/{twin_id}/stream"]["get"]["responses"]["200"]
    schema = stream["content"]["text/event-stream"]["schema"]
    assert "vitals" in schema["properties"]["event"]["enum"]


# -- governance -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, Keys]]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("secure-vitals"), keys, config(keys)) as server:
        yield server.base.removesuffix("/fhir") + "/api/v1", server.store, keys


def test_posting_vitals_is_governed_and_audited(secured: tuple[str, Store, Keys]) -> None:
    root, store, keys = secured
    pid = f"p-{uuid.uuid4().hex[:8]}"
    store.create({"resourceType": "Patient", "id": pid, "gender": "female"})
    headers = {"X-Purpose-Of-Use": "TREAT"}
    with httpx.Client(base_url=root, headers=headers, timeout=60) as anonymous:
        assert anonymous.post("/twins/x/vitals", json={"t_min": 0, **CALM}).status_code == 401
    token = keys.sign(claims("clinician", sub="dr-v"))
    headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=root, headers=headers, timeout=60) as clinician:
        twin_id = clinician.post("/twins", json={"patient_id": pid, "members": 8}).json()["twin_id"]
        posted = clinician.post(f"/twins/{twin_id}/vitals", json={"t_min": 0, **CALM})
        assert posted.status_code == 201, posted.text
        assert clinician.get(f"/twins/{twin_id}/vitals").status_code == 200
    events = store.audit_events(patient=f"Patient/{pid}")
    assert [(e.action, e.actor, e.outcome) for e in events] == [
        ("create-twin", "Practitioner/dr-v", "success"),
        ("observe-vitals", "Practitioner/dr-v", "success"),
        ("vitals", "Practitioner/dr-v", "success"),
    ]
    assert len(store.observations(pid, "8310-5")) == 1
