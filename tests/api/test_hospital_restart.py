"""Hospital twins and region scenarios survive a restart of the service on one SQLite file.

A real uvicorn server creates a hospital twin (a config with a census), simulates it
forward as a job and is stopped; a new server on the same store answers the twin's state,
its list entry and its results as before, keeps its id taken, and simulates it again (the
new run joins the old one). A region scenario job's status and results are found the same
way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from tests.api.v1_server import running

from healthtwin.scenarios.hospital_twins import hospital_key
from healthtwin.store import open_store

SMALL = {
    "units": {
        "ed": {"kind": "ed", "beds": 4, "los_hours": {"dist": "exponential", "mean": 2.0}},
        "ward": {"kind": "ward", "beds": 6, "los_hours": {"dist": "exponential", "mean": 24.0}},
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 1.0}],
    "pathways": {"ed": {"ward": 0.2, "discharge": 0.8}, "ward": {"discharge": 1.0}},
}
SCENARIO: dict[str, Any] = {
    "name": "one-town",
    "days": 20,
    "replicates": 2,
    "seed": 5,
    "geography": {"regions": [{"name": "north", "population": 20_000}]},
    "disease": {"r0": 2.0},
    "initial_infected": {"north": 20},
    "capacity": {"icu_beds": {"north": 3}},
}


def _wait(client: httpx.Client, path: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(path).json()
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish within {timeout_s} s")


def _client(root: str) -> httpx.Client:
    return httpx.Client(base_url=f"{root}/api/v1", timeout=60)


def test_a_hospital_twin_its_runs_and_results_answer_after_a_restart(tmp_path: Path) -> None:
    body = {"hospital_id": "h-restart", "name": "Restart General", "config": SMALL}
    body["census"] = {"ed": 2, "ward": [3.0, 40.0, 12.5]}
    with running(tmp_path) as (root, _, _), _client(root) as client:
        created = client.post("/hospitals", json=body)
        assert created.status_code == 201, created.text
        job = client.post(
            "/hospitals/h-restart/simulate", json={"days": 2, "replications": 3, "seed": 9}
        ).json()
        assert _wait(client, f"/jobs/{job['id']}")["status"] == "succeeded"
        before = client.get("/hospitals/h-restart").json()
        results_before = client.get("/hospitals/h-restart/results").json()
        listed_before = client.get("/hospitals").json()
    assert before["runs"] == [job["id"]]

    with running(tmp_path) as (root, _, _), _client(root) as client:
        state = client.get("/hospitals/h-restart")
        assert state.status_code == 200, state.text
        assert state.json() == before
        assert client.get("/hospitals").json() == listed_before
        results = client.get("/hospitals/h-restart/results")
        assert results.status_code == 200, results.text
        assert results.json() == results_before
        assert client.get(f"/hospitals/h-restart/results?job={job['id']}").json() == results_before
        # The id stays taken; an unknown one is still unknown.
        assert client.post("/hospitals", json=body).status_code == 409
        assert client.get("/hospitals/h-nowhere").status_code == 404
        # The restored twin keeps working: a new run joins the old one.
        again = client.post("/hospitals/h-restart/simulate", json={"days": 1, "replications": 2})
        assert again.status_code == 202, again.text
        assert _wait(client, f"/jobs/{again.json()['id']}")["status"] == "succeeded"
        assert client.get("/hospitals/h-restart").json()["runs"] == [job["id"], again.json()["id"]]
        latest = client.get("/hospitals/h-restart/results").json()
        assert latest["job_id"] == again.json()["id"]

    # A third start lists the twin once, with both runs, without touching it first.
    with running(tmp_path) as (root, _, _), _client(root) as client:
        [listed] = client.get("/hospitals").json()["hospitals"]
        assert (listed["hospital_id"], len(listed["runs"])) == ("h-restart", 2)
        assert listed["census"] == {"ed": 2, "ward": 3}


def test_a_long_hospital_id_is_kept_under_a_digest(tmp_path: Path) -> None:
    long_id = "h" + "-x" * 31 + "y"  # 64 characters: too long for a plain key
    assert len(long_id) == 64
    with running(tmp_path) as (root, _, _), _client(root) as client:
        body = {"hospital_id": long_id, "preset": "demo"}
        assert client.post("/hospitals", json=body).status_code == 201
    with running(tmp_path) as (root, _, _), _client(root) as client:
        state = client.get(f"/hospitals/{long_id}")
        assert state.status_code == 200, state.text
        assert state.json()["hospital_id"] == long_id
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        [snapshot] = store.twin_state_history(hospital_key(long_id))
        assert snapshot.metadata["hospital_id"] == long_id


def test_a_region_scenario_job_answers_after_a_restart(tmp_path: Path) -> None:
    with running(tmp_path) as (root, _, _), _client(root) as client:
        job = client.post("/scenarios", json={"scenario": SCENARIO}).json()
        done = _wait(client, f"/scenarios/{job['id']}")
        assert done["status"] == "succeeded"
        results = client.get(f"/scenarios/{job['id']}/results").json()
    with running(tmp_path) as (root, _, _), _client(root) as client:
        status = client.get(f"/scenarios/{job['id']}")
        assert status.status_code == 200, status.text
        assert {k: status.json()[k] for k in ("id", "kind", "status")} == {
            "id": job["id"],
            "kind": "population-scenario",
            "status": "succeeded",
        }
        # The whole record as it was when finished: progress, finish time and result link.
        assert status.json() == done
        assert status.json()["result"] is not None
        for path in (f"/scenarios/{job['id']}/results", f"/regions/{job['id']}"):
            after = client.get(path)
            assert after.status_code == 200, after.text
            assert after.json() == results
        assert client.get("/scenarios/job-000000000000").status_code == 404
