"""World scenarios over a real uvicorn server: submitted, followed and read as jobs.

The result over HTTP equals the in-process run of the same world (same seed), the job
reports progress per country, fields naming files and oversized runs are refused with
problem details, and the routes are governed as tasks.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.v1_server import v1_client

from healthtwin.api.v1_governance import classify_v1
from healthtwin.scenarios.world_jobs import MAX_WORLD_WORK, plan_world_run
from healthtwin.store import Store

UNIT = {"los_hours": {"dist": "exponential", "mean": 80}}
WORLD: dict[str, Any] = {
    "name": "two-towns",
    "seed": 5,
    "days": 21,
    "replicates": 2,
    "countries": [
        {
            "name": name,
            "geography": {"regions": [{"name": f"{name}-a", "population": 20000},
                                      {"name": f"{name}-b", "population": 10000}]},
            "disease": {"r0": 2.4, "hospitalised_fraction": 0.05},
            "initial_infected": {f"{name}-a": 40},
            "hospitals": [
                {"name": f"{name}-h{r}", "region": f"{name}-{r}", "catchment_share": 1.0,
                 "config": {"units": {"ward": {"kind": "ward", "beds": 30, **UNIT},
                                      "icu": {"kind": "icu", "beds": 3, **UNIT}},
                            "pathways": {"ward": {"icu": 0.1, "discharge": 0.9},
                                         "icu": {"discharge": 1.0}}}}
                for r in "ab"
            ],
        }
        for name in ("East", "West")
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with v1_client(tmp_path_factory.mktemp("worlds")) as opened:
        yield opened


def _finish(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/worlds/{job_id}").json()
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"world run {job_id} did not finish: {status}")


def test_a_world_run_over_http_equals_the_run_in_process(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    response = client.post("/worlds", json={"world": WORLD, "days": 14})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "world-run"
    assert "2 countries, 14 days x 2 replicates" in job["description"]
    status = _finish(client, job["id"])
    assert status["status"] == "succeeded", status
    assert status["progress"] == 1.0
    results = client.get(f"/worlds/{job['id']}/results").json()
    expected = plan_world_run(WORLD, days=14).run(_Silent())
    assert results["summary"] == expected.summary["summary"]
    assert results["monitor"] == expected.summary["monitor"]
    east = results["series"]["East"]["admissions"]
    assert len(east["q50"]) == 14
    assert all(a <= b <= c for a, b, c in zip(east["q05"], east["q50"], east["q95"], strict=True))
    listed = client.get("/worlds").json()["worlds"]
    assert [w["id"] for w in listed] == [job["id"]]


def test_bad_worlds_are_refused_with_problems(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    with_file = copy.deepcopy(WORLD)
    with_file["countries"][0]["geography"]["regions_csv"] = "/etc/passwd"
    refused = client.post("/worlds", json={"world": with_file})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "world.countries[0].geography.regions_csv" in refused.json()["detail"]
    huge = client.post("/worlds", json={"world": WORLD, "replicates": 200, "days": 3650})
    assert huge.status_code == 400
    assert f"{MAX_WORLD_WORK:,}" in huge.json()["detail"]
    broken = copy.deepcopy(WORLD)
    broken["countries"][0]["hospitals"][0]["catchment_share"] = 0.4
    invalid = client.post("/worlds", json={"world": broken})
    assert invalid.status_code in (400, 422)
    assert "catchment" in invalid.text
    assert client.get("/worlds/nope").status_code == 404


def test_world_routes_are_governed_as_tasks() -> None:
    assert classify_v1("POST", "/api/v1/worlds").resource_type == "Task"
    assert classify_v1("POST", "/api/v1/worlds").action == "c"
    assert classify_v1("GET", "/api/v1/worlds/j1/results").action == "r"


class _Silent:
    def check(self) -> None:
        """Never stop."""

    def progress(self, fraction: float, message: str = "") -> None:
        """Ignore."""


def test_a_finished_world_run_is_found_after_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("worlds-restart")
    with v1_client(folder) as (client, _):
        job = client.post("/worlds", json={"world": WORLD, "days": 14}).json()
        assert _finish(client, job["id"])["status"] == "succeeded"
        summary = client.get(f"/worlds/{job['id']}/results").json()["summary"]
    with v1_client(folder) as (client, _):
        status = client.get(f"/worlds/{job['id']}")
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "succeeded"
        assert client.get(f"/worlds/{job['id']}/results").json()["summary"] == summary
