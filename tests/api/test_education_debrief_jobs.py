"""The counterfactual debrief as a background job: progress, cancellation, the same result.

The work of a job (:func:`healthtwin.api.education.debrief_work`) is run under a real
:class:`~healthtwin.api.jobs.JobContext` that records what it reports, so its progress
and its stop on cancellation are checked exactly; over a real uvicorn server the job is
queued, followed at its ``Location``, cancelled, refused beyond the job limit and read
back from the store by a second application. Its result must equal the synchronous
:func:`~healthtwin.education.debrief.debrief` of the same record.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from tests.api.v1_server import free_port, running, serving

from healthtwin.api.app import create_app
from healthtwin.api.education import EducationRegistry, debrief_replays, debrief_work
from healthtwin.api.jobs import Job, JobCancelledError, JobContext
from healthtwin.education.case import load_case
from healthtwin.education.culture import culture_for
from healthtwin.education.debrief import debrief
from healthtwin.education.engine import replay
from healthtwin.education.i18n import Localizer
from healthtwin.education.record import ActionTaken, SessionRecord

CASE = load_case("hypoglycaemia")
ACTIONS = [ActionTaken(6.0, "give_dextrose_iv", 15.0), ActionTaken(20.0, "give_oral_glucose", 15.0)]
SHIFTS = (-10.0, 5.0)


class RecordingContext(JobContext):
    """A job's real context that also keeps every progress report."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.job = Job("job-test", "education-debrief", "", "tester", datetime.now(UTC))
        super().__init__(self.job, threading.Lock())
        self.reports: list[tuple[float, str]] = []
        self._cancel_after = cancel_after

    def progress(self, fraction: float, message: str = "") -> None:
        super().progress(fraction, message)
        self.reports.append((fraction, message))
        if len(self.reports) == self._cancel_after:
            self.job.cancel_requested.set()


def _work(n_draws: int) -> Any:
    return debrief_work(
        CASE,
        replay(CASE, ACTIONS, seed=3),
        Localizer("fr"),
        culture_for(CASE, "fr"),
        session_id="es-test",
        shifts=SHIFTS,
        n_draws=n_draws,
    )


def test_the_work_reports_replays_done_and_equals_the_synchronous_debrief() -> None:
    context = RecordingContext()
    output = _work(n_draws=2)(context)
    variants = 2 + len(ACTIONS) * (len(SHIFTS) + 1)
    total = debrief_replays(len(ACTIONS), len(SHIFTS), 2)
    assert [m for _, m in context.reports] == [
        f"{2 * k} of {total} patient replays" for k in range(1, variants + 1)
    ]
    fractions = [f for f, _ in context.reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    expected = debrief(CASE, replay(CASE, ACTIONS, seed=3), shifts=SHIFTS, n_draws=2)
    found = output.summary["debrief"]
    rendered = found.pop("rendered")
    local = [v.pop("outcomes_local") for v in found["variants"]]
    assert found == expected.to_dict()
    fr = Localizer("fr")
    assert rendered == [fr.render(m, culture_for(CASE, "fr")) for m in expected.messages]
    assert local[0]["glucose_mmol_per_l"]["unit_local"] == "g/L"


def test_the_work_stops_at_the_next_variant_once_cancelled() -> None:
    context = RecordingContext(cancel_after=2)
    with pytest.raises(JobCancelledError):
        _work(n_draws=1)(context)
    assert len(context.reports) == 2  # no variant ran after the cancellation


# --- over HTTP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Any]]:
    with (
        running(tmp_path_factory.mktemp("debrief-jobs")) as (root, _, app),
        httpx.Client(base_url=root, timeout=60) as client,
    ):
        yield client, app


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def _played(client: httpx.Client, locale: str = "en", end: bool = True) -> str:
    base = "/api/v1/education/sessions"
    body = {"case_id": "hypoglycaemia", "seed": 3, "locale": locale}
    sid: str = _ok(client.post(base, json=body), 201)["session_id"]
    for action in ACTIONS:
        now = _ok(client.get(f"{base}/{sid}"))["now_min"]
        _ok(client.post(f"{base}/{sid}/advance", json={"minutes": action.t_min - now}))
        _ok(client.post(f"{base}/{sid}/actions", json={"action_id": action.action_id}))
    if end:
        _ok(client.post(f"{base}/{sid}/end"))
    return sid


def _until(client: httpx.Client, location: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 120  # a bound on a hung job, not a speed assertion
    while True:
        doc = _ok(client.get(location))
        if done(doc) or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


def test_a_debrief_job_runs_to_completion_and_is_kept(served: tuple[httpx.Client, Any]) -> None:
    client, app = served
    sid = _played(client, "de")
    body = {"n_draws": 3, "shifts": list(SHIFTS)}
    response = client.post(f"/api/v1/education/sessions/{sid}/debrief", json=body)
    queued = _ok(response, 202)
    location = response.headers["location"]
    assert location == queued["location"] == f"/api/v1/education/debriefs/{queued['id']}"
    done = _until(client, location, lambda d: d["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0
    assert done["message"] == "done"
    [snapshot] = app.state.store.twin_state_history(f"edu.{sid}")
    record = SessionRecord.from_json(json.dumps(snapshot.metadata["record"]))
    assert [(a.t_min, a.action_id) for a in record.actions] == [
        (a.t_min, a.action_id) for a in ACTIONS
    ]
    expected = debrief(CASE, record, shifts=SHIFTS, n_draws=3).to_dict()
    found = copy.deepcopy(done["debrief"])
    assert found.pop("rendered")
    for variant in found["variants"]:
        assert variant.pop("outcomes_local")["glucose_mmol_per_l"]["unit_local"] == "mg/dl"
    assert found == expected
    # the generic job routes know it, and its result outlives this application
    assert _ok(client.get(f"/api/v1/jobs/{queued['id']}/result"))["debrief"] == done["debrief"]
    later = create_app(app.state.store)
    with serving(later, free_port()) as root:
        again = _ok(httpx.get(f"{root}{location}", timeout=30))
    assert again["status"] == "succeeded"
    assert again["debrief"] == done["debrief"]
    assert again["session_id"] == sid


def test_a_debrief_job_can_be_cancelled(served: tuple[httpx.Client, Any]) -> None:
    client, _ = served
    sid = _played(client)
    body = {"n_draws": 20, "shifts": [-10, -5, 5, 10]}  # 12 variants of 20 replays
    response = client.post(f"/api/v1/education/sessions/{sid}/debrief", json=body)
    location = _ok(response, 202)["location"]
    running_doc = _until(
        client, location, lambda d: d["progress"] > 0 or d["status"] not in ("queued", "running")
    )
    assert running_doc["status"] == "running", running_doc
    assert 0 < running_doc["progress"] < 1
    assert "patient replays" in running_doc["message"]
    _ok(client.post(f"{location}/cancel"), 202)
    final = _until(client, location, lambda d: d["status"] not in ("queued", "running"))
    assert final["status"] == "cancelled"
    assert "debrief" not in final
    refused = client.get(f"/api/v1/jobs/{final['id']}/result")
    assert refused.status_code == 409


def test_limits_of_the_synchronous_debrief_and_of_a_job(
    served: tuple[httpx.Client, Any],
) -> None:
    client, app = served
    app.state.education = EducationRegistry(sync_debrief_twin_min=100, max_debrief_twin_min=1000)
    try:
        _limits(client)
    finally:
        app.state.education = EducationRegistry()


def _limits(client: httpx.Client) -> None:
    sid = _played(client, end=False)
    base = f"/api/v1/education/sessions/{sid}"
    early = client.post(f"{base}/debrief", json={"n_draws": 1})
    assert early.status_code == 409  # not finished yet
    assert "end it first" in early.json()["detail"]
    # (2 + 2 actions x (1 shift + removal)) x 10 draws x 60 minutes = 3600 > 1000
    too_big = client.post(f"{base}/end", json={"debrief": True, "n_draws": 10})
    assert too_big.status_code == 400
    detail = too_big.json()["detail"]
    assert "60 patient replays" in detail
    assert "1000 twin minutes one debrief job may run" in detail
    assert "n_draws <= 2" in detail  # 6 replays x 60 min per draw
    # the session has ended all the same; a debrief over the synchronous budget is a job
    ended = client.post(f"{base}/end", json={"debrief": True, "n_draws": 1})
    assert ended.status_code == 202
    assert ended.headers["location"] == ended.json()["debrief_job"]["location"]
    report = client.get(f"{base}/report", params={"debrief": "true", "n_draws": 1})
    assert report.status_code == 400
    assert f"POST /api/v1/education/sessions/{sid}/debrief" in report.json()["detail"]
    job = ended.json()["debrief_job"]["location"]
    _until(client, job, lambda d: d["status"] not in ("queued", "running"))
    assert client.get("/api/v1/education/debriefs/job-nothere").status_code == 404
