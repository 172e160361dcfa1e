"""Long runs in the background: scenario ensembles and hospital simulations, as jobs.

A :class:`JobRunner` (one per application, in ``app.state.jobs``) runs submitted work on a
small thread pool. Work is a function of a :class:`JobContext`: it reports progress
(``context.progress(fraction, message)``) and checks for cancellation between units of
work (``context.check()`` raises :class:`JobCancelledError`), so a cancelled job stops at
the next unit and no half result is kept. A finished job's result (JSON summary and named
arrays) is persisted in the store as a twin-state snapshot of id ``job.<job id>``, so results
outlive the process: ``GET /api/v1/jobs/{id}/result`` reads the store when the job is not
in memory.

Routes: ``GET /api/v1/jobs``, ``GET /api/v1/jobs/{id}``, ``POST /api/v1/jobs/{id}/cancel``,
``GET /api/v1/jobs/{id}/result``, ``POST /api/v1/jobs/hospital`` (a hospital simulation).
"""

from __future__ import annotations

import math
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError, TwinError
from healthtwin.scenarios.cohort_evaluation import MAX_COHORT_PATIENT_DAYS, plan_cohort_evaluation
from healthtwin.scenarios.hospital_simulation import MAX_REPLICATION_DAYS, plan_hospital_simulation
from healthtwin.scenarios.reporting import Reporter, RunOutput
from healthtwin.store import Store

__all__ = [
    "MAX_COHORT_PATIENT_DAYS",
    "MAX_REPLICATION_DAYS",
    "RESULT_PREFIX",
    "Job",
    "JobCancelledError",
    "JobContext",
    "JobOutput",
    "JobRunner",
    "jobs_router",
    "result_key",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
jobs_router = APIRouter(prefix="/api/v1", tags=["jobs"])
_FINAL = ("succeeded", "failed", "cancelled")
#: Prefix of the twin-state ids that hold job results (twin ids may not start with it).
RESULT_PREFIX = "job."


def result_key(job_id: str) -> str:
    """Where a job's result is kept in the store's twin states (apart from twins' ids).

    Examples
    --------
    >>> result_key("job-1")
    'job.job-1'
    """
    return f"{RESULT_PREFIX}{job_id}"


class JobCancelledError(TwinError):
    """Raised inside a job's work when its cancellation was asked for."""


@dataclass(frozen=True)
class JobOutput:
    """What a job leaves: a JSON summary and named numeric arrays."""

    summary: dict[str, Any]
    arrays: Mapping[str, npt.ArrayLike] = field(default_factory=dict)


@dataclass
class Job:
    """One job's record (mutated only under its runner's lock)."""

    id: str
    kind: str
    description: str
    actor: str
    created: datetime
    status: JobStatus = "queued"
    progress: float = 0.0
    message: str = "queued"
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The job's status as JSON."""
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "actor": self.actor,
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "created": self.created.isoformat(),
            "started": self.started.isoformat() if self.started else None,
            "finished": self.finished.isoformat() if self.finished else None,
            "error": self.error,
            "result": f"/api/v1/jobs/{self.id}/result" if self.status == "succeeded" else None,
        }


class JobContext:
    """What running work sees of its job: progress reports and cancellation checks."""

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self._job = job
        self._lock = lock

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was asked for."""
        return self._job.cancel_requested.is_set()

    def check(self) -> None:
        """Raise :class:`JobCancelledError` if cancellation was asked for."""
        if self.cancelled:
            raise JobCancelledError(f"job {self._job.id} was cancelled")

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in ``[0, 1]`` (clipped) and what is being done."""
        with self._lock:
            self._job.progress = float(min(max(fraction, 0.0), 1.0))
            if message:
                self._job.message = message[:300]


Work = Callable[[JobContext], JobOutput]


class JobRunner:
    """Runs jobs on ``workers`` threads and persists their results in ``store``.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> store = open_store("sqlite://")
    >>> runner = JobRunner(store, workers=1)
    >>> job = runner.submit("demo", lambda ctx: JobOutput({"answer": 42}), actor="me")
    >>> runner.wait(job.id, timeout_s=10).status, runner.result(job.id)["answer"]
    ('succeeded', 42)
    >>> runner.shutdown(); store.close()
    """

    def __init__(self, store: Store, *, workers: int = 1) -> None:
        if workers < 1:
            raise InvalidInputError(f"workers must be >= 1, got {workers}")
        self._store = store
        self._queue: queue.Queue[tuple[Job, Work] | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._done: dict[str, threading.Event] = {}
        # Daemon threads: a process that exits without shutdown() is not held by a job.
        self._threads = [
            threading.Thread(target=self._serve, name=f"healthtwin-job-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            self._run(*item)

    def submit(self, kind: str, work: Work, *, actor: str, description: str = "") -> Job:
        """Queue ``work``; return its job record at once."""
        job = Job(
            id=f"job-{uuid.uuid4().hex[:12]}",
            kind=kind,
            description=description[:300],
            actor=actor[:255],
            created=datetime.now(UTC),
        )
        with self._lock:
            self._jobs[job.id] = job
            self._done[job.id] = threading.Event()
        self._queue.put((job, work))
        return job

    def _run(self, job: Job, work: Work) -> None:
        context = JobContext(job, self._lock)
        try:
            with self._lock:
                if job.cancel_requested.is_set():
                    raise JobCancelledError(f"job {job.id} was cancelled before it started")
                job.status, job.started, job.message = "running", datetime.now(UTC), "running"
            output = work(context)
            context.check()
            output = JobOutput(_json_safe(output.summary), output.arrays)
            finished = self._persist(job, output)
            self._finish(
                job, "succeeded", "done", summary=output.summary, progress=1.0, finished=finished
            )
        except JobCancelledError as err:
            self._finish(job, "cancelled", str(err))
        except TwinError as err:
            self._finish(job, "failed", "failed", error=str(err)[:2000])
        except Exception as err:
            self._finish(job, "failed", "failed", error=f"internal error: {type(err).__name__}")

    def _persist(self, job: Job, output: JobOutput) -> datetime:
        """Keep the result with the job's record as it is once finished; the finishing time."""
        finished = datetime.now(UTC)
        with self._lock:
            record = job.to_dict() | {
                "status": "succeeded",
                "progress": 1.0,
                "message": "done",
                "finished": finished.isoformat(),
                "result": f"/api/v1/jobs/{job.id}/result",
            }
        self._store.save_twin_state(
            result_key(job.id),
            model=job.kind,
            model_version="1",
            valid_time=datetime.now(UTC),
            arrays={k: np.asarray(v) for k, v in output.arrays.items()},
            metadata={"job": record, "summary": output.summary},
        )
        return finished

    def _finish(
        self,
        job: Job,
        status: JobStatus,
        message: str,
        *,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        progress: float | None = None,
        finished: datetime | None = None,
    ) -> None:
        with self._lock:
            job.status, job.message, job.error = status, message, error
            job.summary, job.finished = summary, finished or datetime.now(UTC)
            if progress is not None:
                job.progress = progress
            done = self._done[job.id]
        done.set()

    def get(self, job_id: str) -> Job:
        """The job record; ``NotFoundError`` if this runner never had it."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r} is known to this server; list them at /jobs")
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        """The job record as JSON: from memory, else (after a restart) as kept in the store
        with its result (only succeeded jobs leave one).

        Raises
        ------
        NotFoundError
            If this runner never had the job and the store holds no record of it.

        Examples
        --------
        >>> from healthtwin.store import open_store
        >>> store = open_store("sqlite://")
        >>> first = JobRunner(store)
        >>> job = first.submit("demo", lambda ctx: JobOutput({"answer": 42}), actor="me")
        >>> first.wait(job.id, timeout_s=10).status
        'succeeded'
        >>> first.shutdown()
        >>> later = JobRunner(store)  # the service started again on the same store
        >>> record = later.status(job.id)
        >>> record["status"], record["progress"], record["result"], later.result(job.id)["answer"]
        ('succeeded', 1.0, '/api/v1/jobs/...', 42)
        >>> record == first.get(job.id).to_dict()
        True
        >>> later.shutdown(); store.close()
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job.to_dict()
        try:
            history = self._store.twin_state_history(result_key(job_id))
        except NotFoundError:
            history = []
        kept = [s.metadata["job"] for s in history if isinstance(s.metadata.get("job"), dict)]
        if not kept:
            raise NotFoundError(f"no job {job_id!r} is known to this server; list them at /jobs")
        record: dict[str, Any] = kept[-1]
        return record

    def jobs(self) -> list[Job]:
        """Every job, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop (it stops at its next check); ``ConflictError`` if finished."""
        job = self.get(job_id)
        with self._lock:
            if job.status in _FINAL:
                raise ConflictError(f"job {job_id} has already {job.status}; nothing to cancel")
            job.cancel_requested.set()
            job.message = "cancellation requested"
        return job

    def wait(self, job_id: str, timeout_s: float) -> Job:
        """Block until the job is final or ``timeout_s`` passes; return its record."""
        self.get(job_id)
        self._done[job_id].wait(timeout_s)
        return self.get(job_id)

    def result(self, job_id: str) -> dict[str, Any]:
        """The summary of a succeeded job (from memory, else from the store).

        Raises
        ------
        ConflictError
            If the job has not succeeded (yet).
        NotFoundError
            If no such job ran here or left a result in the store.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.status != "succeeded":
            raise ConflictError(
                f"job {job_id} is {job.status} ({job.message}); results exist only after success"
            )
        if job is not None and job.summary is not None:
            return job.summary
        snapshots = self._store.twin_state_history(result_key(job_id))
        metadata = snapshots[-1].metadata
        if "summary" not in metadata:
            raise NotFoundError(f"no result of job {job_id!r} is stored")
        summary: dict[str, Any] = metadata["summary"]
        return summary

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel every unfinished job and wait (up to ``timeout_s``) for the threads."""
        with self._lock:
            for job in self._jobs.values():
                if job.status not in _FINAL:
                    job.cancel_requested.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)


class HospitalJobIn(BaseModel):
    """A hospital simulation to run in the background."""

    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] = Field(description="A HospitalConfig (units, arrivals, pathways).")
    days: float = Field(default=30.0, gt=0, le=3650)
    warmup_days: float = Field(default=0.0, ge=0, le=3650)
    replications: int = Field(default=10, ge=1, le=1000)
    seed: int = Field(default=0, ge=0)


def hospital_work(body: HospitalJobIn) -> Work:
    """The work of a hospital simulation job (validated now, run later).

    See :mod:`healthtwin.scenarios.hospital_simulation`.

    Raises
    ------
    InvalidInputError
        If the run is too large or ``body.config`` is not a valid hospital configuration.
    """
    plan = plan_hospital_simulation(
        body.config,
        days=body.days,
        warmup_days=body.warmup_days,
        replications=body.replications,
        seed=body.seed,
    )
    return _job_work(plan.run)


class CohortEvaluationJobIn(BaseModel):
    """Controllers in closed loop on a virtual cohort, evaluated in the background."""

    model_config = ConfigDict(extra="forbid")
    controllers: list[str] = Field(
        min_length=1,
        max_length=6,
        description="The first is the baseline of the paired differences.",
    )
    patients: list[str] = Field(
        default_factory=lambda: ["nominal-adult"],
        min_length=1,
        max_length=30,
        description="Virtual patients: nominal-adult, or simglucose's adult#001...",
    )
    scenarios: list[str] = Field(default_factory=lambda: ["snacks"], min_length=1, max_length=6)
    days: int = Field(default=1, ge=1, le=14)
    replicates: int = Field(default=2, ge=1, le=20)


def cohort_evaluation_work(body: CohortEvaluationJobIn) -> Work:
    """The work of a cohort evaluation (names checked now; one run per scenario and controller).

    See :mod:`healthtwin.scenarios.cohort_evaluation`: progress advances after each
    (scenario, controller) run and cancellation is checked between runs.

    Raises
    ------
    InvalidInputError
        For an unknown controller, patient or scenario (the valid names are listed).
    """
    plan = plan_cohort_evaluation(
        body.controllers,
        patients=body.patients,
        scenarios=body.scenarios,
        days=body.days,
        replicates=body.replicates,
    )
    return _job_work(plan.run)


def _job_work(run: Callable[[Reporter], RunOutput]) -> Work:
    """A scenario's run as a job's work (the job's context is its reporter)."""

    def work(context: JobContext) -> JobOutput:
        output = run(context)
        return JobOutput(output.summary, output.arrays)

    return work


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON).

    Examples
    --------
    >>> _json_safe({"a": [1.0, float("nan")], "b": {"c": float("inf")}})
    {'a': [1.0, None], 'b': {'c': None}}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _actor(request: Request) -> str:
    return (request.headers.get("x-actor") or "anonymous").strip()[:255] or "anonymous"


@jobs_router.get("/jobs")
def list_jobs(request: Request) -> dict[str, Any]:
    """Every job of this server, newest first."""
    return {"jobs": [j.to_dict() for j in _runner(request).jobs()]}


@jobs_router.get("/jobs/{job_id}")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """A job's status and progress (after a restart, a succeeded job's record on file)."""
    return _runner(request).status(job_id)


@jobs_router.post("/jobs/{job_id}/cancel", status_code=202)
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    """Ask a job to stop at its next check."""
    return _runner(request).cancel(job_id).to_dict()


@jobs_router.get("/jobs/{job_id}/result")
def job_result(request: Request, job_id: str) -> dict[str, Any]:
    """A succeeded job's result (persisted in the store)."""
    return _runner(request).result(job_id)


@jobs_router.post("/jobs/cohort-evaluation", status_code=202)
def submit_cohort_evaluation(request: Request, body: CohortEvaluationJobIn) -> dict[str, Any]:
    """Evaluate glucose controllers in closed loop on a virtual cohort, in the background."""
    work = cohort_evaluation_work(body)
    job = _runner(request).submit(
        "cohort-evaluation",
        work,
        actor=_actor(request),
        description=(
            f"cohort evaluation: {', '.join(body.controllers)} on {len(body.patients)} patients"
        ),
    )
    return job.to_dict()


@jobs_router.post("/jobs/hospital", status_code=202)
def submit_hospital(request: Request, body: HospitalJobIn) -> dict[str, Any]:
    """Run a hospital simulation in the background."""
    work = hospital_work(body)
    job = _runner(request).submit(
        "hospital",
        work,
        actor=_actor(request),
        description=f"hospital: {body.replications} replications of {body.days:g} days",
    )
    return job.to_dict()
