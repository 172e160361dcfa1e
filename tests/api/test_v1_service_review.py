"""Defects a review of the service found (issue 14), each checked on a real uvicorn server.

1. A decision on a recommendation is applied to the twin that proposed it, even when its
   patient has two twins, and a proposal without a plan cannot be accepted.
2. Vital signs out of range are ``400`` problems like every other ``/api/v1`` body error.
3. A bad reading is one error with a pointer into the body as sent (single or batch), and
   malformed JSON says so.
4. A twin made for a patient starts with the vital signs on file (the demo's NEWS2 6).
5. The demo runs a small world, so the Worlds view has a run to show.
6. After a restart on the same store, a twin is re-created from it and a job's status
   answers.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.v1_server import new_twin, running, v1_client

from healthtwin.api.demo import load_demo
from healthtwin.errors import ConflictError
from healthtwin.scenarios.demo_world import DEMO_WORLD
from healthtwin.store import Store

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with v1_client(tmp_path_factory.mktemp("review")) as opened:
        yield opened


def _twin(client: httpx.Client, **extra: Any) -> str:
    return new_twin(client, "r", **extra)


def _two_twins_of_one_patient(client: httpx.Client, store: Store) -> tuple[str, str]:
    patient = f"p-{uuid.uuid4().hex[:8]}"
    store.create({"resourceType": "Patient", "id": patient})
    first = _twin(client, patient_id=patient, members=16)
    return first, _twin(client, patient_id=patient, members=16)


def _events(client: httpx.Client, twin_id: str) -> list[tuple[float, float]]:
    events = client.get(f"/twins/{twin_id}").json()["events"]
    return [(e["meal_g"], e["bolus_u"]) for e in events]


# -- 1. the proposing twin -------------------------------------------------------------------


def test_an_accepted_plan_goes_to_the_twin_that_proposed_it(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    first, second = _two_twins_of_one_patient(client, store)
    proposer = max(first, second)  # the later id: the old code picked the first by id
    made = client.post(f"/twins/{proposer}/recommendations", json={"meal_g": 60})
    assert made.status_code == 201, made.text
    rec = made.json()
    assert rec["twin_id"] == proposer
    assert rec["value"]["twin"] == f"Device/{proposer}"
    assert client.get(f"/recommendations/{rec['id']}").json()["twin_id"] == proposer

    accepted = client.post(f"/recommendations/{rec['id']}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["twin_id"] == proposer
    assert _events(client, proposer) == [(60.0, rec["value"]["bolus_u"])]
    assert _events(client, min(first, second)) == []
    # Each twin lists only its own recommendations.
    other = client.get(f"/twins/{min(first, second)}/recommendations").json()
    assert other["recommendations"] == []


def test_an_override_goes_to_the_twin_that_proposed_it(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    first, second = _two_twins_of_one_patient(client, store)
    proposer = max(first, second)
    rec = client.post(f"/twins/{proposer}/recommendations", json={"meal_g": 40}).json()
    done = client.post(
        f"/recommendations/{rec['id']}/override",
        json={"reason": "exercise planned", "value": {"meal_g": 40, "bolus_u": 1.5}},
    )
    assert done.status_code == 200, done.text
    assert done.json()["twin_id"] == proposer
    assert _events(client, proposer) == [(40.0, 1.5)]
    assert _events(client, min(first, second)) == []


def test_a_proposal_without_a_plan_cannot_be_accepted(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    # Only large boluses without a meal: every plan breaks the hypoglycaemia constraint.
    rec = client.post(
        f"/twins/{twin_id}/recommendations",
        json={"meal_g": 0, "boluses": [20, 30], "horizon_min": 240},
    ).json()
    assert rec["value"]["plan"] is None
    refused = client.post(f"/recommendations/{rec['id']}/accept", json={})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert "no plan" in refused.json()["detail"]
    assert "override" in refused.json()["detail"]
    assert client.get(f"/recommendations/{rec['id']}").json()["status"] == "proposed"
    assert _events(client, twin_id) == []
    # An override with a value is still possible, and is applied.
    done = client.post(
        f"/recommendations/{rec['id']}/override",
        json={"reason": "small meal after all", "value": {"meal_g": 20, "bolus_u": 1}},
    )
    assert done.status_code == 200, done.text
    assert _events(client, twin_id) == [(20.0, 1.0)]


# -- 2a. vital signs out of range are 400 ----------------------------------------------------

CALM = {
    "respiratory_rate_per_min": 16,
    "spo2_percent": 98,
    "systolic_bp_mm_hg": 125,
    "heart_rate_per_min": 72,
    "temperature_c": 36.8,
    "consciousness": "A",
}


def test_vitals_out_of_range_are_a_400_problem(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    body = {"t_min": 0, **CALM, "spo2_percent": 150}
    response = client.post(f"/twins/{twin_id}/vitals", json=body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["status"] == 400
    assert [e["pointer"] for e in problem["errors"]] == ["#/body/spo2_percent"]


def test_a_vitals_type_error_points_into_the_batch_as_sent(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    twin_id = _twin(client)
    batch = {"observations": [{"t_min": 0, **CALM}, {"t_min": 5, **CALM, "on_oxygen": "maybe"}]}
    response = client.post(f"/twins/{twin_id}/vitals", json=batch)
    assert response.status_code == 400, response.text
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/body/observations/1/on_oxygen"]


# -- 3. observation errors: one per problem, pointers into the body as sent ------------------


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"t_min": 5, "glucose_mg_dl": 5}, ["#/body/glucose_mg_dl"]),
        (
            {"observations": [{"t_min": 0, "glucose_mg_dl": 120}] * 2
             + [{"t_min": 10, "glucose_mg_dl": 5000}]},
            ["#/body/observations/2/glucose_mg_dl"],
        ),
        ({"t_min": 5, "glucose_mg_dl": 120, "unit": "mmol/L"}, ["#/body/unit"]),
        ({"observations": []}, ["#/body/observations"]),
        ([1, 2], ["#/body"]),
    ],
)  # fmt: skip
def test_a_bad_reading_is_one_error_pointing_into_the_body(
    api: tuple[httpx.Client, Store], body: Any, pointers: list[str]
) -> None:
    client, _ = api
    twin_id = _twin(client)
    response = client.post(f"/twins/{twin_id}/observations", json=body)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert [e["pointer"] for e in errors] == pointers
    assert not any("Observation" in e["pointer"] for e in errors)
    assert client.get(f"/twins/{twin_id}").json()["n_readings"] == 0


def test_malformed_json_says_so(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    twin_id = _twin(client)
    response = client.post(
        f"/twins/{twin_id}/observations",
        content=b'{"t_min": 5, "glucose_mg_dl": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["pointer"] == "#/body"
    assert error["detail"].startswith("malformed JSON at character 30")


# -- 4, 5. the demo: vitals on file in the twin, and a world run for the Worlds view ---------


def test_the_demo_runs_a_world_and_its_twins_hold_the_vitals_on_file(tmp_path: Path) -> None:
    with running(tmp_path) as (root, store, app):
        demo = load_demo(app.state, store)
        runner = app.state.jobs
        for job in (demo.scenario_job, demo.hospital_job):  # not needed here: stop them early
            assert job is not None
            with contextlib.suppress(ConflictError):  # unless it has finished already
                runner.cancel(job.id)
        assert demo.world_job is not None
        assert runner.wait(demo.world_job.id, timeout_s=120).status == "succeeded"
        with httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client:
            [world] = client.get("/worlds").json()["worlds"]
            assert (world["id"], world["status"]) == (demo.world_job.id, "succeeded")
            assert "2 countries, 14 days x 2 replicates" in world["description"]
            results = client.get(f"/worlds/{world['id']}/results").json()
            assert set(results["series"]) == {"Eastland", "Westland"}
            # The stored vitals (NEWS2 6) are in the demo twin's state and vitals list.
            vitals = client.get("/twins/twin-demo-ada").json()["vitals"]
            assert (vitals["n_sets"], vitals["news2"]["total"]) == (1, 6)
            assert len(client.get("/twins/twin-demo-ada/vitals").json()["vitals"]) == 1
            assert client.get("/twins/twin-demo-ben").json()["vitals"] is None


# -- 6. twins and jobs survive a restart on the same store -----------------------------------


def test_a_twin_and_a_job_answer_after_a_restart(tmp_path: Path) -> None:
    before: dict[str, Any] = {}
    with (
        running(tmp_path) as (root, _, app),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        twin_id = _twin(client, profile="adult#001", seed=4)
        readings = [{"t_min": 5.0 * (i + 1), "glucose_mg_dl": 140.0 + 3 * i} for i in range(6)]
        assert (
            client.post(
                f"/twins/{twin_id}/observations", json={"observations": readings}
            ).status_code
            == 201
        )
        assert (
            client.post(f"/twins/{twin_id}/events", json={"t_min": 30, "meal_g": 40}).status_code
            == 201
        )
        assert (
            client.post(f"/twins/{twin_id}/vitals", json={"t_min": 20, **CALM}).status_code == 201
        )
        before = client.get(f"/twins/{twin_id}").json()
        world = client.post("/worlds", json={"world": DEMO_WORLD}).json()
        assert app.state.jobs.wait(world["id"], timeout_s=120).status == "succeeded"
    with (
        running(tmp_path) as (root, _, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        after = client.get(f"/twins/{twin_id}")
        assert after.status_code == 200, after.text
        state = after.json()
        for key in ("patient_id", "profile", "start", "t_min", "members", "readings", "events"):
            assert state[key] == before[key], key
        assert state["glucose_mg_dl"] == pytest.approx(before["glucose_mg_dl"])
        assert state["vitals"]["n_sets"] == 1
        assert state["vitals"]["news2"]["total"] == before["vitals"]["news2"]["total"]
        # The id stays taken, and the restored twin keeps working.
        assert client.post("/twins", json={"twin_id": twin_id}).status_code == 409
        more = {"t_min": 35, "glucose_mg_dl": 170}
        assert client.post(f"/twins/{twin_id}/observations", json=more).status_code == 201
        job = client.get(f"/jobs/{world['id']}")
        assert job.status_code == 200, job.text
        assert (job.json()["id"], job.json()["status"]) == (world["id"], "succeeded")
        assert client.get("/jobs/job-000000000000").status_code == 404
