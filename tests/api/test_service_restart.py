"""The service remembers its lists after a restart on one SQLite file, and streams never stall it.

A real uvicorn server makes twins, jobs of every kind and status (succeeded, failed,
cancelled, interrupted by the shutdown) and an alarm board, and is stopped; a new server on
the same store lists the same twins, jobs, scenarios, worlds and federated runs (same ids,
same statuses) and answers the same alarms. The demo's hospital and board are there after a
restart, and loading the demo again keeps them. A stream waiting for a twin's lock (held
while a reading is saved) does not hold up the server's other requests.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from tests.api.v1_server import new_twin, running

from healthtwin.api.demo import load_demo
from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.api.world_runs import WORLD_JOB_KIND
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.demo_world import DEMO_HOSPITAL_ID
from healthtwin.scenarios.federated_jobs import RUN_KIND
from healthtwin.store import open_store

LISTS = ("/jobs", "/scenarios", "/worlds", "/federated-runs", "/twins", "/hospitals", "/alarms")
FINAL = ("succeeded", "failed", "cancelled", "interrupted")
STEADY = [10, 12, 9, 11, 10, 13, 9, 10, 11, 12, 10]


def _client(root: str) -> httpx.Client:
    return httpx.Client(base_url=f"{root}/api/v1", timeout=60)


def _wait(client: httpx.Client, job_id: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: str = client.get(f"/jobs/{job_id}").json()["status"]
        if status in FINAL:
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish within {timeout_s} s")


def _answer(summary: dict[str, Any]) -> Any:
    def work(context: JobContext) -> JobOutput:
        context.progress(0.5, "halfway")
        return JobOutput(summary)

    return work


def _fail(context: JobContext) -> JobOutput:
    raise InvalidInputError("no such region 'atlantis'")


def _until_stopped(started: threading.Event) -> Any:
    def work(context: JobContext) -> JobOutput:
        started.set()
        while True:  # stops only when cancelled (or interrupted by a shutdown)
            context.check()
            time.sleep(0.01)

    return work


def _snapshot(client: httpx.Client) -> dict[str, Any]:
    answers = {path: client.get(path) for path in LISTS}
    for path, answer in answers.items():
        assert answer.status_code == 200, (path, answer.text)
    return {path: answer.json() for path, answer in answers.items()}


def _make_everything(app: FastAPI, client: httpx.Client) -> dict[str, str]:
    """Twins, jobs of each kind and status, and an alarm board; the jobs' statuses by id."""
    twin = new_twin(client, "restart")
    reading = {"t_min": 5, "glucose_mg_dl": 150}
    assert client.post(f"/twins/{twin}/observations", json=reading).status_code == 201
    new_twin(client, "restart", profile="adult#001")
    runner: JobRunner = app.state.jobs
    submitted = [
        runner.submit("population-scenario", _answer({"regions": ["north"]}), actor="t"),
        runner.submit(WORLD_JOB_KIND, _answer({"world": "w"}), actor="t"),
        runner.submit(RUN_KIND, _answer({"model": "logistic"}), actor="t"),
        runner.submit("hospital", _fail, actor="t", description="fails"),
    ]
    statuses = {job.id: _wait(client, job.id) for job in submitted}
    started = threading.Event()
    cancelled = runner.submit("hospital", _until_stopped(started), actor="t")
    assert started.wait(30)
    assert client.post(f"/jobs/{cancelled.id}/cancel").status_code == 202
    statuses[cancelled.id] = _wait(client, cancelled.id)
    for country in ("FR", "BE"):
        body = {"country": country, "disease": "measles", "start": "2024-01-01", "counts": STEADY}
        assert client.post("/alarms/series", json=body).status_code == 201
    week = {
        "week": "2024-03-18",
        "counts": [
            {"country": "FR", "disease": "measles", "count": 80},
            {"country": "BE", "disease": "measles", "count": 11},
        ],
    }
    assert client.post("/alarms/weeks", json=week).status_code == 201
    return statuses


def test_every_list_and_the_alarm_board_answer_the_same_after_a_restart(tmp_path: Path) -> None:
    with running(tmp_path) as (root, _, app), _client(root) as client:
        statuses = _make_everything(app, client)
        before = _snapshot(client)
    assert sorted(statuses.values()) == [
        "cancelled",
        "failed",
        "succeeded",
        "succeeded",
        "succeeded",
    ]
    assert len(before["/twins"]["twins"]) == 2
    assert before["/alarms"]["alarms"][0]["country"] == "FR"

    with running(tmp_path) as (root, _, _), _client(root) as client:
        after = _snapshot(client)
        assert after == before
        listed = {j["id"]: j["status"] for j in after["/jobs"]["jobs"]}
        assert listed == statuses
        failed = next(j for j in after["/jobs"]["jobs"] if j["status"] == "failed")
        assert "atlantis" in failed["error"]
        assert client.get(f"/jobs/{failed['id']}/result").status_code == 409
        assert client.post(f"/jobs/{failed['id']}/cancel").status_code == 409
        kinds = {path: len(after[path][path.strip("/").replace("-", "_")]) for path in LISTS[1:4]}
        assert kinds == {"/scenarios": 1, "/worlds": 1, "/federated-runs": 1}
        succeeded = next(j for j in after["/scenarios"]["scenarios"])
        assert client.get(f"/jobs/{succeeded['id']}/result").json() == {"regions": ["north"]}
        # The twins kept are re-created on use, and still answer as listed.
        for row in after["/twins"]["twins"]:
            state = client.get(f"/twins/{row['twin_id']}")
            assert state.status_code == 200, state.text
        assert client.get("/twins").json() == before["/twins"]
        # The board goes on from where it was.
        week = {
            "week": "2024-03-25",
            "counts": [{"country": "FR", "disease": "measles", "count": 9}],
        }
        assert client.post("/alarms/weeks", json=week).status_code == 201
        moved = client.get("/alarms").json()
        assert (moved["week"], moved["n_series"]) == ("2024-03-25", 2)

    with running(tmp_path) as (root, _, _), _client(root) as client:
        assert client.get("/alarms").json() == moved


def test_a_job_stopped_by_the_shutdown_is_listed_as_interrupted(tmp_path: Path) -> None:
    with running(tmp_path) as (root, _, app), _client(root) as client:
        started = threading.Event()
        job = app.state.jobs.submit("hospital", _until_stopped(started), actor="t")
        assert started.wait(30)
        assert client.get(f"/jobs/{job.id}").json()["status"] == "running"
    with running(tmp_path) as (root, _, _), _client(root) as client:
        [listed] = client.get("/jobs").json()["jobs"]
        assert (listed["id"], listed["status"]) == (job.id, "interrupted")
        assert client.get(f"/jobs/{job.id}").json() == listed
        assert client.get(f"/jobs/{job.id}/result").status_code == 409


def test_a_job_left_running_by_a_crash_is_marked_interrupted_on_the_next_start(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    release, started = threading.Event(), threading.Event()

    def stuck(context: JobContext) -> JobOutput:
        started.set()
        release.wait(30)  # ignores cancellation, like work stuck in a long step
        return JobOutput({})

    first = JobRunner(store)
    try:
        job = first.submit("hospital", stuck, actor="t")
        queued = first.submit("hospital", _answer({}), actor="t")
        assert started.wait(30)
        first.shutdown(timeout_s=0.01)  # the process "dies" with both jobs unfinished
        later = JobRunner(store)
        statuses = {j.id: (j.status, j.message) for j in later.jobs()}
        assert set(statuses) == {job.id, queued.id}
        assert {s for s, _ in statuses.values()} == {"interrupted"}
        assert all("submit it again" in m for _, m in statuses.values())
        assert JobRunner(store).status(job.id)["status"] == "interrupted"  # kept so
        later.shutdown()
    finally:
        release.set()
        first.shutdown()
        store.close()


def test_the_demo_hospital_and_board_are_kept_and_a_second_demo_load_keeps_them(
    tmp_path: Path,
) -> None:
    with running(tmp_path) as (root, store, app), _client(root) as client:
        load_demo(app.state, store)
        hospitals = client.get("/hospitals").json()
        board = client.get("/alarms").json()
        twins = client.get("/twins").json()
    assert [h["hospital_id"] for h in hospitals["hospitals"]] == [DEMO_HOSPITAL_ID]
    assert board["n_series"] == 20

    with running(tmp_path) as (root, _, _), _client(root) as client:
        assert [h["hospital_id"] for h in client.get("/hospitals").json()["hospitals"]] == [
            DEMO_HOSPITAL_ID
        ]
        assert client.get(f"/hospitals/{DEMO_HOSPITAL_ID}").status_code == 200
        assert client.get("/alarms").json() == board
        assert client.get("/twins").json() == twins
        kinds = {j["kind"] for j in client.get("/jobs").json()["jobs"]}
        assert {"population-scenario", WORLD_JOB_KIND, "hospital-forecast"} <= kinds

    with running(tmp_path) as (root, store, app), _client(root) as client:
        demo = load_demo(app.state, store)  # serve --demo again on the same store
        listed = client.get("/hospitals").json()["hospitals"]
        assert [h["hospital_id"] for h in listed] == [DEMO_HOSPITAL_ID]
        assert demo.hospital_job is not None
        assert demo.hospital_job.id in listed[0]["runs"]
        assert client.get("/alarms").json() == board


def test_a_stream_waiting_for_a_busy_twin_does_not_stall_other_requests(tmp_path: Path) -> None:
    with running(tmp_path) as (root, _, app), _client(root) as client, _client(root) as other:
        twin_id = new_twin(client, "stream")
        session = app.state.twins.get(twin_id)
        events: list[tuple[str, Any]] = []
        params = {"max_s": 60, "poll_s": 0.05}
        with client.stream("GET", f"/twins/{twin_id}/stream", params=params) as response:
            lines = response.iter_lines()
            kind = ""
            for line in lines:
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((kind, json.loads(line.split(":", 1)[1])))
                    break
            assert events[0][0] == "hello"
            # A reading being saved: the twin's lock is held and its version moves on, so
            # the stream wants the lock at its next poll.
            with session.lock:
                session.version += 1
                time.sleep(0.5)  # ten polls of the stream
                answered = other.get("/jobs", timeout=20)
                assert answered.status_code == 200
            for line in lines:
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((kind, json.loads(line.split(":", 1)[1])))
                    break
        assert events[1][0] == "reading"
        assert events[1][1]["twin_id"] == twin_id
