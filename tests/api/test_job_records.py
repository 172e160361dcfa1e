"""Every job leaves its record in the store, and a new runner on the store lists them.

The runner alone, on an SQLite file (the service's restart is
``tests/api/test_service_restart.py``): queued, succeeded, failed and cancelled records
are kept; a new runner lists them with its own jobs, newest first, answers their status
as before, refuses to cancel them and serves a succeeded one's result; records round trip
through :meth:`Job.from_dict`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthtwin.api.jobs import Job, JobContext, JobOutput, JobRunner, result_key
from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    try:
        yield opened
    finally:
        opened.close()


def _answer(context: JobContext) -> JobOutput:
    return JobOutput({"answer": 42, "bad": float("nan")}, {"x": np.arange(3.0)})


def _fail(context: JobContext) -> JobOutput:
    context.progress(0.25, "a quarter")
    raise InvalidInputError("region 'atlantis' is not in the scenario")


def _crash(context: JobContext) -> JobOutput:
    raise RuntimeError("secret detail")


def _blocked(release: threading.Event) -> Any:
    def work(context: JobContext) -> JobOutput:
        while not release.wait(0.01):
            context.check()
        return JobOutput({})

    return work


def test_every_final_record_is_kept_and_listed_by_a_new_runner(store: Store) -> None:
    runner = JobRunner(store)
    release = threading.Event()
    try:
        ok = runner.submit("demo", _answer, actor="me", description="answers")
        failed = runner.submit("demo", _fail, actor="me")
        crashed = runner.submit("demo", _crash, actor="me")
        cancelled = runner.submit("demo", _blocked(release), actor="me")
        runner.cancel(cancelled.id)
        records = {j.id: runner.wait(j.id, 30).to_dict() for j in (ok, failed, crashed, cancelled)}
    finally:
        release.set()
        runner.shutdown()
    assert [r["status"] for r in records.values()] == [
        "succeeded",
        "failed",
        "failed",
        "cancelled",
    ]
    assert records[failed.id]["progress"] == 0.25
    assert records[crashed.id]["error"] == "internal error: RuntimeError"
    # Each job's first snapshot is its queued record; its latest its final one.
    history = store.twin_state_history(result_key(failed.id))
    assert [h.metadata["job"]["status"] for h in history] == ["queued", "failed"]

    later = JobRunner(store)
    try:
        listed = [j.to_dict() for j in later.jobs()]
        assert listed == sorted(records.values(), key=lambda r: r["created"], reverse=True)
        assert all(later.status(i) == r for i, r in records.items())
        assert later.result(ok.id) == {"answer": 42, "bad": None}
        for job_id in (failed.id, cancelled.id):
            with pytest.raises(ConflictError, match="results exist only after success"):
                later.result(job_id)
            with pytest.raises(ConflictError, match="nothing to cancel"):
                later.cancel(job_id)
        # Jobs of an earlier run are answered, but get() names only this runner's own.
        with pytest.raises(NotFoundError):
            later.get(ok.id)
        mine = later.submit("demo", _answer, actor="me")
        later.wait(mine.id, 30)
        assert later.jobs()[0].id == mine.id
        assert len(later.jobs()) == 5
    finally:
        later.shutdown()


def test_a_result_the_store_refuses_fails_the_job_and_leaves_its_record(store: Store) -> None:
    def strings(context: JobContext) -> JobOutput:
        return JobOutput({"n": 1}, {"names": np.array(["a", "b"], dtype=object)})

    runner = JobRunner(store)
    try:
        job = runner.wait(runner.submit("demo", strings, actor="me").id, 30)
    finally:
        runner.shutdown()
    assert job.status == "failed"
    assert "dtype object" in (job.error or "")
    later = JobRunner(store)
    try:
        assert later.status(job.id) == job.to_dict()
        with pytest.raises(ConflictError):
            later.result(job.id)
    finally:
        later.shutdown()


def test_a_job_never_run_here_is_still_unknown(store: Store) -> None:
    runner = JobRunner(store)
    try:
        with pytest.raises(NotFoundError, match="list them at /jobs"):
            runner.status("job-nothere")
        with pytest.raises(NotFoundError, match="no result"):
            runner.result("job-nothere")
    finally:
        runner.shutdown()


def test_an_unreadable_record_does_not_stop_the_runner(store: Store) -> None:
    store.save_twin_state(
        result_key("job-old"),
        model="demo",
        model_version="1",
        valid_time=datetime(2024, 1, 1, tzinfo=UTC),
        arrays={},
        metadata={"job": {"id": "job-old", "status": "weird"}},
    )
    runner = JobRunner(store)
    try:
        assert runner.jobs() == []
        assert runner.status("job-old")["status"] == "weird"  # answered as kept
    finally:
        runner.shutdown()


_TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    status=st.sampled_from(
        ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    ),
    progress=st.floats(0.0, 1.0),
    created=_TIMES,
    finished=st.none() | _TIMES,
    text=st.text(max_size=40),
)
def test_records_round_trip(
    status: Any, progress: float, created: datetime, finished: datetime | None, text: str
) -> None:
    job = Job("job-1", "kind", text, text, created, status=status, progress=progress)
    job.message, job.error, job.finished = text, text or None, finished
    record = job.to_dict()
    assert Job.from_dict(record).to_dict() == record


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"id": "j", "status": "nope"}, "unknown status 'nope'"),
        ({"id": "j", "status": "failed"}, "missing 'kind'"),
    ],
)
def test_a_bad_record_is_refused_with_what_is_wrong(record: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        Job.from_dict(record)
