"""Federated runs over a real uvicorn server: the Flower apps over synthetic sites, as jobs.

Checks per-round status, that FedAvg on IID-like sites reaches the central fit of the same
objective, that with DP the privacy spent is the budget asked for (exact epsilon after all
rounds, below the Renyi bound, growing round by round), refusals, cancellation, and the
governance classification of the routes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from tests.api.v1_server import running
from tests.conftest import require

from healthtwin.api.federated_runs import TRUE_COEFFICIENTS, synthetic_site
from healthtwin.api.v1_governance import classify_v1
from healthtwin.store import Store


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    require("flwr", "fed")
    with (
        running(tmp_path_factory.mktemp("federated")) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        yield client, store


def _finish(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/federated-runs/{job_id}").json()
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    pytest.fail(f"federated run {job_id} did not finish within 90 s")


def test_a_run_reports_each_round_and_reaches_the_central_fit(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    body = {"model": "logistic", "sites": 3, "patients_per_site": 150, "rounds": 8, "seed": 2}
    submitted = client.post("/federated-runs", json=body)
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    status = _finish(client, job_id)
    assert status["status"] == "succeeded"
    assert status["progress"] == 1.0
    assert [r["round"] for r in status["rounds"]] == list(range(1, 9))
    assert all(0.5 < r["metrics"]["auc"] <= 1.0 for r in status["rounds"])
    assert all(r["epsilon"] == 0.0 for r in status["rounds"])
    result = client.get(f"/federated-runs/{job_id}/results").json()
    assert [r["round"] for r in result["rounds"]] == list(range(1, 9))
    assert result["rounds"][-1]["metrics"] == status["rounds"][-1]["metrics"]
    assert [s["n_patients"] for s in result["sites"]] == [150, 150, 150]
    assert result["privacy"] == {
        "differential_privacy": False,
        "epsilon_spent": 0.0,
        "epsilon_budget": None,
    }
    # FedAvg of the site models approaches the optimum of the federation's objective.
    assert result["distance_to_central"] < 0.1
    assert abs(result["final_metrics"]["auc"] - result["central"]["metrics"]["auc"]) < 0.01
    listed = client.get("/federated-runs").json()["federated_runs"]
    assert {"id": job_id, "rounds_done": 8}.items() <= next(
        r for r in listed if r["id"] == job_id
    ).items()
    assert store.twin_state_history(f"job.{job_id}")[-1].metadata["summary"]["model"] == "logistic"


def test_with_dp_the_privacy_spent_is_the_budget(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    body = {"model": "cox", "sites": 3, "patients_per_site": 80, "rounds": 4, "dp_epsilon": 1.5}
    job_id = client.post("/federated-runs", json=body).json()["id"]
    status = _finish(client, job_id)
    assert status["status"] == "succeeded"
    spent = [r["epsilon"] for r in status["rounds"]]
    assert np.all(np.diff(spent) > 0)
    assert spent[-1] == pytest.approx(1.5, abs=1e-6)
    privacy = client.get(f"/federated-runs/{job_id}/results").json()["privacy"]
    assert privacy["differential_privacy"] is True
    assert privacy["epsilon_spent"] == pytest.approx(1.5, abs=1e-6)
    assert privacy["rdp_epsilon_bound"] >= privacy["epsilon_spent"]
    assert privacy["noise_multiplier"] > 0
    assert privacy["clip_norm"] == 1.0


@pytest.mark.parametrize(
    "body",
    [
        {"model": "glucose-ridge"},
        {"sites": 1},
        {"rounds": 0},
        {"dp_epsilon": -1},
        {"unknown": 1},
        {"sites": 16, "patients_per_site": 2000, "rounds": 100},
    ],
)
def test_bad_runs_are_refused(api: tuple[httpx.Client, Store], body: dict[str, Any]) -> None:
    client, _ = api
    reply = client.post("/federated-runs", json=body)
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/problem+json")


def test_a_cancelled_run_leaves_no_result(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    body = {"sites": 16, "patients_per_site": 125, "rounds": 100}
    job_id = client.post("/federated-runs", json=body).json()["id"]
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 202
    assert _finish(client, job_id)["status"] == "cancelled"
    assert client.get(f"/federated-runs/{job_id}/results").status_code == 409


def test_other_jobs_are_not_federated_runs(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    client.post("/hospitals", json={"hospital_id": "fed-h", "preset": "demo"})
    job = client.post("/hospitals/fed-h/simulate", json={"days": 1, "replications": 2}).json()
    assert client.get(f"/federated-runs/{job['id']}").status_code == 404
    assert client.get("/federated-runs/job-none").status_code == 404


def test_synthetic_sites_follow_the_true_model() -> None:
    data = synthetic_site("logistic", 1, 3, 4000, 0.0, seed=0)
    x, label = data["features"], data["event"]
    # Label rate rises with the first feature (coefficient 0.8) and falls with the second.
    assert TRUE_COEFFICIENTS[0] > 0 > TRUE_COEFFICIENTS[1]
    assert label[x[:, 0] > 1].mean() > label[x[:, 0] < -1].mean() + 0.3
    assert label[x[:, 1] > 1].mean() < label[x[:, 1] < -1].mean() - 0.2
    shifted = synthetic_site("cox", 2, 3, 2000, 2.0, seed=0)["features"]
    assert shifted.mean() == pytest.approx(1.0, abs=0.05)


def test_federated_paths_are_classified_for_governance() -> None:
    submitted = classify_v1("POST", "/api/v1/federated-runs")
    assert (submitted.action, submitted.resource_type) == ("c", "Task")
    assert classify_v1("GET", "/api/v1/federated-runs/j1/results").resource_type == "Task"
