"""Hospital twins over a real uvicorn server: create, state, simulate forward, results.

Checks the demo preset and a config with a census, refusals as problem details, a
simulation job whose bands are ordered and bounded by the beds and whose alerts follow the
occupancy line, the results persisted by the job runner, and governance (a token is
needed; the request is audited). Against queueing theory: from an M/M/c config the mean
predicted occupancy equals the offered load ``lambda / mu`` and the Little's-law queue
length the Erlang C ``L_q`` (99 % t-intervals over replications, fixed seed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from scipy import stats
from tests.api.security_fixtures import Keys, claims, config
from tests.api.v1_server import running

from healthtwin.api.hospitals import (
    HospitalIn,
    HospitalTwin,
    SimulateIn,
    forecast_hospital,
    make_twin,
)
from healthtwin.api.v1_governance import classify_v1
from healthtwin.errors import InvalidInputError
from healthtwin.hospital.simulate import simulate
from healthtwin.hospital.textbook import mmc_config
from healthtwin.store import Store

SMALL = {
    "units": {
        "ed": {"kind": "ed", "beds": 4, "los_hours": {"dist": "exponential", "mean": 2.0}},
        "ward": {"kind": "ward", "beds": 6, "los_hours": {"dist": "exponential", "mean": 24.0}},
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 1.0}],
    "pathways": {"ed": {"ward": 0.2, "discharge": 0.8}, "ward": {"discharge": 1.0}},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with (
        running(tmp_path_factory.mktemp("hospitals")) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        yield client, store


def _wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} did not finish within 60 s")


def test_the_demo_preset_makes_a_twin_with_its_census(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    created = client.post("/hospitals", json={"hospital_id": "demo-a", "preset": "demo"})
    assert created.status_code == 201
    state = client.get("/hospitals/demo-a").json()
    assert state["census"] == {"ed": 6, "ward": 58, "icu": 8}
    assert [u["beds"] for u in state["units"]] == [14, 64, 10]
    assert state["runs"] == []
    assert state["latest_run"] is None
    listed = client.get("/hospitals").json()["hospitals"]
    assert "demo-a" in [h["hospital_id"] for h in listed]
    again = client.post("/hospitals", json={"hospital_id": "demo-a", "preset": "demo"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"config": {"units": {}}}, "hospital config is invalid"),
        ({"preset": "demo", "config": SMALL}, "not both"),
        ({}, "neither"),
        ({"config": SMALL, "census": {"icu": 2}}, "unknown unit"),
        ({"config": SMALL, "census": {"ed": 5}}, "5 patients in 4 beds"),
        ({"config": SMALL, "census": {"ward": [1.0, -2.0]}}, "finite and >= 0"),
    ],
)
def test_bad_hospitals_are_refused_with_the_reason(
    api: tuple[httpx.Client, Store], body: dict[str, Any], words: str
) -> None:
    client, _ = api
    reply = client.post("/hospitals", json=body)
    assert reply.status_code == 400
    assert words in reply.json()["detail"]


def test_unknown_hospitals_and_runs_are_not_found(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    assert client.get("/hospitals/nowhere").status_code == 404
    client.post("/hospitals", json={"hospital_id": "idle", "config": SMALL})
    assert client.get("/hospitals/idle/results").status_code == 409
    assert client.get("/hospitals/idle/results", params={"job": "job-x"}).status_code == 404
    too_long = client.post("/hospitals/idle/simulate", json={"days": 60, "replications": 500})
    assert too_long.status_code == 400
    assert "simulated days" in too_long.json()["detail"]


def test_a_simulation_job_gives_ordered_bands_and_alerts(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    census = {"ed": [0.5, 1.0], "ward": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]}
    client.post("/hospitals", json={"hospital_id": "small", "config": SMALL, "census": census})
    submitted = client.post(
        "/hospitals/small/simulate",
        json={"days": 5, "replications": 12, "seed": 3, "occupancy_alert": 0.5},
    )
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    assert _wait(client, job_id)["status"] == "succeeded"
    assert client.get("/hospitals/small").json()["latest_run"] == job_id
    result = client.get("/hospitals/small/results").json()
    assert result["job_id"] == job_id
    assert result["day"] == [1, 2, 3, 4, 5]
    for name, beds in (("ed", 4), ("ward", 6)):
        unit = result["units"][name]
        low, mid, high = (np.array(unit["occupancy_beds"][q]) for q in ("0.05", "0.5", "0.95"))
        assert np.all(low <= mid)
        assert np.all(mid <= high)
        assert np.all(low >= 0)
        assert np.all(high <= beds + 1e-9)
        assert np.all(np.array(unit["queue_length"]["0.05"]) >= 0)
    # The ward starts full and is offered 0.2 x 24 = 4.8 beds: above half most days.
    [ward_alert] = [a for a in result["alerts"] if a["unit"] == "ward"]
    assert ward_alert["severity"] == "high"
    assert ward_alert["first_day"] == 1
    p = result["units"]["ward"]["p_above_line"]
    assert ward_alert["days"] == [d + 1 for d, v in enumerate(p) if v >= 0.05]
    assert result["early_warning"]["news2_scores"] is False
    # Persisted by the job runner: the store holds the summary.
    assert store.twin_state_history(f"job.{job_id}")[-1].metadata["summary"]["days"] == 5


def test_a_high_line_raises_no_occupancy_alert() -> None:
    twin = make_twin(HospitalIn(config=SMALL))
    summary, arrays = forecast_hospital(
        twin, SimulateIn(days=2, replications=6, occupancy_alert=1.0)
    )
    assert [a for a in summary["alerts"] if a["kind"] == "occupancy"] == []
    assert arrays["occupancy.ed"].shape == arrays["queue.ward"].shape == (2, 6)


def test_queue_length_is_littles_law_on_the_engines_waits() -> None:
    twin = make_twin(HospitalIn(config=SMALL, census={"ward": 6}))
    _, arrays = forecast_hospital(twin, SimulateIn(days=1, replications=8, seed=4))
    direct = simulate(twin.config, days=1.0, replications=8, seed=4, census=twin.census_model())
    wait = np.nan_to_num(direct.values("wait_hours.ward"), nan=0.0)
    np.testing.assert_allclose(arrays["queue.ward"][0], 0.2 * wait)  # ward: 0.2 arrivals/h
    np.testing.assert_allclose(arrays["occupancy.ward"][0], direct.values("occupancy.ward") * 6)


def test_an_mmc_hospital_matches_erlang_c() -> None:
    lam, mu, servers = 4.0, 1.0, 5
    load = lam / mu
    rho = load / servers
    head = sum(load**k / math.factorial(k) for k in range(servers))
    tail = load**servers / math.factorial(servers) / (1 - rho)
    erlang_lq = tail / (head + tail) * rho / (1 - rho)
    twin = HospitalTwin("mmc", "M/M/5", mmc_config(lam, mu, servers), {}, datetime.now(UTC))
    _, arrays = forecast_hospital(twin, SimulateIn(days=4, replications=40, seed=0))
    # Days 3 and 4 (after two days of warm-up from empty), one value per replication.
    for values, expected in (
        (arrays["occupancy.queue"][2:].mean(axis=0), load),
        (arrays["queue.queue"][2:].mean(axis=0), erlang_lq),
    ):
        half = stats.t.ppf(0.995, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
        assert abs(values.mean() - expected) < half


def test_make_twin_refuses_negative_counts() -> None:
    with pytest.raises(InvalidInputError, match="count >= 0"):
        make_twin(HospitalIn(config=SMALL, census={"ed": -1}))


def test_hospital_paths_are_classified_for_governance() -> None:
    created = classify_v1("POST", "/api/v1/hospitals")
    assert (created.action, created.resource_type) == ("c", "Location")
    assert classify_v1("GET", "/api/v1/hospitals").action == "s"
    assert classify_v1("GET", "/api/v1/hospitals/h1").action == "r"
    assert classify_v1("POST", "/api/v1/hospitals/h1/simulate").action == "u"


def test_hospitals_need_a_token_and_are_audited(tmp_path: Path) -> None:
    keys = Keys.make()
    with running(tmp_path, security=config(keys)) as (root, store, _):
        token = keys.sign(claims("clinician", sub="planner"))
        assert httpx.get(f"{root}/api/v1/hospitals", timeout=30).status_code == 401
        headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "TREAT"}
        reply = httpx.post(
            f"{root}/api/v1/hospitals",
            json={"hospital_id": "gov", "preset": "demo"},
            headers=headers,
            timeout=30,
        )
        assert reply.status_code == 201
        [event] = store.audit_events(action="hospitals", actor="Practitioner/planner")
        assert event.outcome == "success"
        assert event.purpose == "TREAT"
