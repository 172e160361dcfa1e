"""Long runs in the background: scenario ensembles and hospital simulations, as jobs.

A :class:`JobRunner` (one per application, in ``app.state.jobs``) runs submitted work on a
small thread pool. Work is a function of a :class:`JobContext`: it reports progress
(``context.progress(fraction, message)``) and checks for cancellation between units of
work (``context.check()`` raises :class:`JobCancelledError`), so a cancelled job stops at
the next unit and no half result is kept.

Every job's record is kept in the store as twin-state snapshots of id ``job.<job id>``
(``metadata["job"]``): once when it is queued and once when it is final, with the result
(JSON summary and named arrays) of a succeeded job, so jobs outlive the process. A runner
started on a store lists the jobs kept there with its own; a job that was still queued or
running when the previous process stopped is marked ``interrupted`` then (and so is a job
that a shutdown stops). ``GET /api/v1/jobs/{id}/result`` reads the store when the result is
not in memory.

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

from healthtwin.api.actors import request_actor
from healthtwin.api.openapi_doc import problems
from healthtwin.api.schemas import success
from healthtwin.api.schemas.jobs import JobList, JobRecord, JobResult
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

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
jobs_router = APIRouter(prefix="/api/v1", tags=["jobs"])
_FINAL = ("succeeded", "failed", "cancelled", "interrupted")
_STATUSES = ("queued", "running", *_FINAL)
_INTERRUPTED = "interrupted: the service stopped before the job finished; submit it again"
#: A time after every valid time: the latest snapshot is the one valid "as of" it.
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)
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
    #: Set when the runner's shutdown (not a caller) stopped the job.
    interrupted: bool = field(default=False, repr=False)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Job:
        """The job of a record made by :meth:`to_dict` (its summary is not part of it).

        Raises
        ------
        InvalidInputError
            If the record lacks a field or holds an unknown status or a bad time.

        Examples
        --------
        >>> job = Job("job-1", "demo", "a demo", "me", datetime(2024, 1, 1, tzinfo=UTC))
        >>> Job.from_dict(job.to_dict()).to_dict() == job.to_dict()
        True
        >>> Job.from_dict({"id": "job-2"})
        Traceback (most recent call last):
        ...
        healthtwin.errors.InvalidInputError: job record 'job-2' is not valid (missing 'status'); ...
        """
        try:
            status = str(record["status"])
            if status not in _STATUSES:
                raise ValueError(f"unknown status {status!r}")
            return cls(
                id=str(record["id"]),
                kind=str(record["kind"]),
                description=str(record["description"]),
                actor=str(record["actor"]),
                created=datetime.fromisoformat(record["created"]),
                status=status,  # type: ignore[arg-type]
                progress=float(record["progress"]),
                message=str(record["message"]),
                started=_time(record["started"]),
                finished=_time(record["finished"]),
                error=None if record["error"] is None else str(record["error"]),
            )
        except KeyError as err:
            raise InvalidInputError(
                f"job record {record.get('id')!r} is not valid (missing {err}); "
                "records are made by Job.to_dict"
            ) from err
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"job record {record.get('id')!r} is not valid ({err}); "
                "records are made by Job.to_dict"
            ) from err

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
    """Runs jobs on ``workers`` threads and keeps their records and results in ``store``.

    The jobs kept in ``store`` by an earlier runner (the service restarted) are listed
    with this runner's; those that were still queued or running are marked
    ``interrupted`` (and kept so).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> store = open_store("sqlite://")
    >>> runner = JobRunner(store, workers=1)
    >>> job = runner.submit("demo", lambda ctx: JobOutput({"answer": 42}), actor="me")
    >>> runner.wait(job.id, timeout_s=10).status, runner.result(job.id)["answer"]
    ('succeeded', 42)
    >>> runner.shutdown()
    >>> [j.id for j in JobRunner(store).jobs()] == [job.id]  # a restarted service
    True
    >>> store.close()
    """

    def __init__(self, store: Store, *, workers: int = 1) -> None:
        if workers < 1:
            raise InvalidInputError(f"workers must be >= 1, got {workers}")
        self._store = store
        self._queue: queue.Queue[tuple[Job, Work] | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._done: dict[str, threading.Event] = {}
        # Jobs of earlier runs (read-only): listed and answered, but not this runner's own,
        # so get() still tells which jobs ran here.
        self._kept = {job.id: job for job in self._kept_jobs()}
        # Daemon threads: a process that exits without shutdown() is not held by a job.
        self._threads = [
            threading.Thread(target=self._serve, name=f"healthtwin-job-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _kept_jobs(self) -> list[Job]:
        """The jobs kept in the store; those left unfinished are marked interrupted now."""
        kept = []
        for key in self._store.twin_state_ids(RESULT_PREFIX):
            record = self._record(key.removeprefix(RESULT_PREFIX))
            if record is None:
                continue
            try:
                job = Job.from_dict(record)
            except InvalidInputError:
                # A record this version cannot read must not keep the service from
                # starting; it stays in the store, answered by GET /jobs/{id}.
                continue
            if job.status not in _FINAL:
                job.status, job.message = "interrupted", _INTERRUPTED
                job.finished = datetime.now(UTC)
                self._save(job, job.to_dict())
            kept.append(job)
        return kept

    def _record(self, job_id: str) -> dict[str, Any] | None:
        """The latest record of ``job_id`` in the store (``None`` if none is kept)."""
        try:
            latest = self._store.twin_state_as_of(result_key(job_id), _END_OF_TIME)
        except NotFoundError:
            return None
        record = latest.metadata.get("job")
        return dict(record) if isinstance(record, dict) else None

    def _save(self, job: Job, record: dict[str, Any], output: JobOutput | None = None) -> None:
        """Keep ``record`` (and a succeeded job's output) as the job's latest snapshot."""
        metadata: dict[str, Any] = {"job": record}
        arrays: dict[str, npt.NDArray[Any]] = {}
        if output is not None:
            metadata["summary"] = output.summary
            arrays = {k: np.asarray(v) for k, v in output.arrays.items()}
        self._store.save_twin_state(
            result_key(job.id),
            model=job.kind,
            model_version="1",
            valid_time=datetime.now(UTC),
            arrays=arrays,
            metadata=metadata,
        )

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            self._run(*item)

    def submit(self, kind: str, work: Work, *, actor: str, description: str = "") -> Job:
        """Queue ``work`` (its record is kept in the store at once); return its record."""
        job = Job(
            id=f"job-{uuid.uuid4().hex[:12]}",
            kind=kind,
            description=description[:300],
            actor=actor[:255],
            created=datetime.now(UTC),
        )
        self._save(job, job.to_dict())
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
            self._finish(job, "succeeded", "done", output=output)
        except JobCancelledError as err:
            if job.interrupted:
                self._finish(job, "interrupted", _INTERRUPTED)
            else:
                self._finish(job, "cancelled", str(err))
        except TwinError as err:
            self._finish(job, "failed", "failed", error=str(err)[:2000])
        except Exception as err:
            self._finish(job, "failed", "failed", error=f"internal error: {type(err).__name__}")

    def _finish(
        self,
        job: Job,
        status: JobStatus,
        message: str,
        *,
        output: JobOutput | None = None,
        error: str | None = None,
    ) -> None:
        """Keep the job's final record (with a succeeded job's output), then publish it.

        A succeeded job whose output cannot be kept raises (its caller fails the job); any
        other final record that cannot be kept says so in the job's message.
        """
        finished = datetime.now(UTC)
        if output is not None:
            output = JobOutput(_json_safe(output.summary), output.arrays)
        with self._lock:
            progress = 1.0 if status == "succeeded" else job.progress
            record = job.to_dict() | {
                "status": status,
                "progress": round(progress, 4),
                "message": message,
                "finished": finished.isoformat(),
                "error": error,
                "result": f"/api/v1/jobs/{job.id}/result" if status == "succeeded" else None,
            }
        try:
            self._save(job, record, output)
        except TwinError as err:
            if output is not None:
                raise
            message = f"{message} (not kept in the store: {err})"[:300]
        with self._lock:
            job.status, job.message, job.error = status, message, error
            job.progress, job.finished = progress, finished
            job.summary = None if output is None else output.summary
            done = self._done[job.id]
        done.set()

    def get(self, job_id: str) -> Job:
        """The job record; ``NotFoundError`` if this runner never had it (see :meth:`status`)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r} is known to this server; list them at /jobs")
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        """The job record as JSON: from memory, else as kept in the store.

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
            job = self._jobs.get(job_id) or self._kept.get(job_id)
        if job is not None:
            return job.to_dict()
        record = self._record(job_id)
        if record is None:
            raise NotFoundError(f"no job {job_id!r} is known to this server; list them at /jobs")
        return record

    def jobs(self) -> list[Job]:
        """Every job (with those kept in the store when this runner started), newest first."""
        with self._lock:
            every = self._kept | self._jobs
        return sorted(every.values(), key=lambda j: j.created, reverse=True)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop (it stops at its next check); ``ConflictError`` if finished."""
        with self._lock:
            kept = self._kept.get(job_id)
        if kept is not None:
            raise ConflictError(f"job {job_id} has already {kept.status}; nothing to cancel")
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
            job = self._jobs.get(job_id) or self._kept.get(job_id)
        if job is not None and job.status != "succeeded":
            raise ConflictError(
                f"job {job_id} is {job.status} ({job.message}); results exist only after success"
            )
        if job is not None and job.summary is not None:
            return job.summary
        try:
            latest = self._store.twin_state_as_of(result_key(job_id), _END_OF_TIME)
        except NotFoundError as err:
            raise NotFoundError(f"no result of job {job_id!r} is stored") from err
        if "summary" in latest.metadata:
            summary: dict[str, Any] = latest.metadata["summary"]
            return summary
        record = latest.metadata.get("job")
        if isinstance(record, dict) and record.get("status") in _STATUSES:
            raise ConflictError(
                f"job {job_id} is {record['status']} ({record.get('message')}); results exist "
                "only after success"
            )
        raise NotFoundError(f"no result of job {job_id!r} is stored")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop every unfinished job (it ends ``interrupted``) and wait for the threads.

        Waits up to ``timeout_s`` per thread; a job still running then stays unfinished in
        the store, and the next runner on the store marks it ``interrupted``.
        """
        with self._lock:
            for job in self._jobs.values():
                if job.status not in _FINAL and not job.cancel_requested.is_set():
                    job.interrupted = True
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


def _time(value: Any) -> datetime | None:
    """A record's optional ISO 8601 time."""
    return None if value is None else datetime.fromisoformat(value)


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


@jobs_router.get(
    "/jobs",
    responses={**success(200, JobList, "Every job, newest first.")},
)
def list_jobs(request: Request) -> dict[str, Any]:
    """Every job of this server, newest first."""
    return {"jobs": [j.to_dict() for j in _runner(request).jobs()]}


@jobs_router.get(
    "/jobs/{job_id}",
    responses={**success(200, JobRecord, "The job's status.")},
)
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """A job's status and progress (also of a job of an earlier run of the service)."""
    return _runner(request).status(job_id)


@jobs_router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    responses={**success(202, JobRecord, "Cancellation asked for."), **problems(409)},
)
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    """Ask a job to stop at its next check."""
    return _runner(request).cancel(job_id).to_dict()


@jobs_router.get(
    "/jobs/{job_id}/result",
    responses={**success(200, JobResult, "The result of a succeeded job."), **problems(409)},
)
def job_result(request: Request, job_id: str) -> dict[str, Any]:
    """A succeeded job's result (persisted in the store)."""
    return _runner(request).result(job_id)


@jobs_router.post(
    "/jobs/cohort-evaluation",
    status_code=202,
    responses={**success(202, JobRecord, "The job, queued.")},
)
def submit_cohort_evaluation(request: Request, body: CohortEvaluationJobIn) -> dict[str, Any]:
    """Evaluate glucose controllers in closed loop on a virtual cohort, in the background."""
    work = cohort_evaluation_work(body)
    job = _runner(request).submit(
        "cohort-evaluation",
        work,
        actor=request_actor(request),
        description=(
            f"cohort evaluation: {', '.join(body.controllers)} on {len(body.patients)} patients"
        ),
    )
    return job.to_dict()


@jobs_router.post(
    "/jobs/hospital",
    status_code=202,
    responses={**success(202, JobRecord, "The job, queued.")},
)
def submit_hospital(request: Request, body: HospitalJobIn) -> dict[str, Any]:
    """Run a hospital simulation in the background."""
    work = hospital_work(body)
    job = _runner(request).submit(
        "hospital",
        work,
        actor=request_actor(request),
        description=f"hospital: {body.replications} replications of {body.days:g} days",
    )
    return job.to_dict()
