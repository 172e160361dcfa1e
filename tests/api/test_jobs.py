"""Background jobs over a real uvicorn server: scenario ensembles and hospital simulations.

Checks progress, results persisted in the store (readable by a new runner after a
restart), cancellation that leaves no result, failures reported as data, and refusal of
scenario fields that would make the server read files.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.v1_server import running

from healthtwin.api.jobs import JobContext, JobOutput, JobRunner, result_key
from healthtwin.errors import ConflictError, InvalidInputError
from healthtwin.store import Store, open_store

SCENARIO: dict[str, Any] = {
    "name": "two-towns",
    "days": 40,
    "replicates": 4,
    "seed": 3,
    "geography": {
        "regions": [
            {"name": "north", "population": 50_000},
            {"name": "south", "population": 30_000},
        ]
    },
    "disease": {"r0": 2.2},
    "initial_infected": {"north": 30},
    "capacity": {"icu_beds": {"north": 4, "south": 2}},
    "variants": [
        {"name": "baseline"},
        {
            "name": "distancing",
            "interventions": [{"type": "contact_reduction", "settings": {"community": 0.6}}],
        },
    ],
}
HOSPITAL = {
    "units": {"ed": {"kind": "ed", "beds": 2, "los_hours": {"dist": "exponential", "mean": 1.0}}},
    "arrivals": [{"unit": "ed", "rate_per_hour": 1.0}],
    "pathways": {"ed": {"discharge": 1.0}},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with (
        running(tmp_path_factory.mktemp("jobs")) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        yield client, store


def _wait(client: httpx.Client, path: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(path).json()
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish within {timeout_s} s")


def test_a_scenario_runs_in_the_background_and_its_result_is_kept(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    submitted = client.post("/scenarios", json={"scenario": SCENARIO})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["status"] in ("queued", "running")
    done = _wait(client, f"/scenarios/{job['id']}")
    assert (done["status"], done["progress"]) == ("succeeded", 1.0)
    result = client.get(f"/scenarios/{job['id']}/results").json()
    assert result["regions"] == ["north", "south"]
    assert set(result["variants"]) == {"baseline", "distancing"}
    base, dist = result["variants"]["baseline"], result["variants"]["distancing"]
    assert base["icu_beds"] == 6.0
    assert len(base["incidence"]["0.5"]) == 40
    for name in ("incidence", "icu_occupancy"):
        low, mid, high = (base[name][q] for q in ("0.05", "0.5", "0.95"))
        assert all(a <= b <= c for a, b, c in zip(low, mid, high, strict=True))
    assert dist["total_infections"]["0.5"] < base["total_infections"]["0.5"]
    assert any(r is not None and r > 1 for r in base["rt"]["mean"])
    assert client.get(f"/regions/{job['id']}").json() == result
    # Persisted: a new runner over the same store (a restarted server) reads it back.
    restarted = JobRunner(store)
    try:
        assert restarted.result(job["id"])["variants"]["baseline"] == base
    finally:
        restarted.shutdown()
    # The queued record first, then the finished one with the result's arrays.
    snapshot = store.twin_state_history(result_key(job["id"]))[-1]
    assert snapshot.metadata["job"]["status"] == "succeeded"
    assert snapshot.arrays["baseline.incidence"].shape == (4, 40)


def test_a_cancelled_scenario_stops_and_leaves_no_result(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    big = {**SCENARIO, "days": 200, "replicates": 200}
    job = client.post("/scenarios", json={"scenario": big}).json()
    cancelled = client.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 202
    final = _wait(client, f"/jobs/{job['id']}")
    assert final["status"] == "cancelled"
    assert final["progress"] < 1
    refused = client.get(f"/jobs/{job['id']}/result")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    # Its final record is kept (it is listed after a restart), without a result.
    kept = store.twin_state_history(result_key(job["id"]))[-1]
    assert kept.metadata["job"]["status"] == "cancelled"
    assert "summary" not in kept.metadata
    assert not kept.arrays
    assert client.post(f"/jobs/{job['id']}/cancel").status_code == 409


def test_a_hospital_simulation_runs_as_a_job(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    body = {"config": HOSPITAL, "days": 50, "replications": 4, "seed": 1}
    job = client.post("/jobs/hospital", json=body).json()
    assert _wait(client, f"/jobs/{job['id']}")["status"] == "succeeded"
    metrics = client.get(f"/jobs/{job['id']}/result").json()["metrics"]
    occupancy = metrics["occupancy.ed"]
    # M/M/2 with load 1/2 per server: mean utilisation 0.5 (the same bounds as simulate's doctest).
    assert 0.4 < occupancy["mean"] < 0.6
    assert occupancy["low"] <= occupancy["mean"] <= occupancy["high"]
    listed = [j["id"] for j in client.get("/jobs").json()["jobs"]]
    assert job["id"] in listed


@pytest.mark.parametrize(
    ("scenario", "needle"),
    [
        ({**SCENARIO, "days": 0}, "days"),
        ({**SCENARIO, "mobility": {"model": "flows", "flows_csv": "/etc/passwd"}}, "flows_csv"),
        ({**SCENARIO, "base_dir": "/"}, "base_dir"),
    ],
)
def test_bad_scenarios_are_refused_before_they_run(
    api: tuple[httpx.Client, Store], scenario: dict[str, Any], needle: str
) -> None:
    client, _ = api
    response = client.post("/scenarios", json={"scenario": scenario})
    assert response.status_code in (400, 422)
    assert needle in response.json()["detail"]


def test_a_bad_hospital_config_is_refused(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    response = client.post("/jobs/hospital", json={"config": {"units": {}}, "days": 5})
    assert response.status_code == 400


def test_an_unknown_job_is_404(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    assert client.get("/jobs/job-nope").status_code == 404


def test_a_failing_job_is_reported_as_failed() -> None:
    store = open_store("sqlite://")
    runner = JobRunner(store)
    started = threading.Event()

    def broken(context: JobContext) -> JobOutput:
        started.set()
        context.progress(0.5, "half way")
        raise InvalidInputError("the inputs were wrong")

    try:
        job = runner.submit("demo", broken, actor="tester")
        final = runner.wait(job.id, 10)
        assert (final.status, final.error, final.progress) == (
            "failed",
            "the inputs were wrong",
            0.5,
        )
        with pytest.raises(ConflictError):
            runner.result(job.id)
    finally:
        runner.shutdown()
        store.close()


def test_a_cohort_evaluation_runs_as_a_job_and_equals_the_in_process_one(
    api: tuple[httpx.Client, Store],
) -> None:
    from healthtwin.coupling.evaluation import evaluate_controllers
    from healthtwin.coupling.glucose_scenarios import scenario
    from healthtwin.physiology.patients import load_patients

    client, _ = api
    body = {"controllers": ["basal-bolus", "pid"], "days": 1, "replicates": 2}
    job = client.post("/jobs/cohort-evaluation", json=body).json()
    final = _wait(client, f"/jobs/{job['id']}")
    assert final["status"] == "succeeded"
    assert final["progress"] == 1
    result = client.get(f"/jobs/{job['id']}/result").json()
    snacks = result["scenarios"]["snacks"]
    direct = evaluate_controllers(
        ["basal-bolus", "pid"], load_patients(["nominal-adult"]), [scenario("snacks")],
        days=1, seeds=(0, 1),
    )  # fmt: skip
    for controller, metrics in direct.table("snacks").items():
        for name, (mean, sd) in metrics.items():
            assert snacks["metrics"][controller][name] == pytest.approx([mean, sd], abs=1e-9)
    tir = snacks["versus_baseline"]["pid"]["tir_70_180"]
    expected = direct.versus("snacks", "basal-bolus", "pid", "tir_70_180")
    assert tir["mean"] == pytest.approx(expected.mean, abs=1e-9)
    # Intervals are over patients: one patient has none (null in JSON, not a number).
    assert (tir["n_patients"], tir["low"], tir["high"]) == (1, None, None)


def test_a_cohort_evaluation_with_unknown_names_is_refused(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    response = client.post("/jobs/cohort-evaluation", json={"controllers": ["magic"]})
    assert response.status_code == 400
    assert "basal-bolus" in response.json()["detail"]
    huge = {"controllers": ["basal-bolus", "pid"], "days": 14, "replicates": 20}
    refused = client.post("/jobs/cohort-evaluation", json=huge)
    assert refused.status_code == 400
    assert "patient-days" in refused.json()["detail"]
