"""Federated runs over HTTP: train a model across synthetic sites, in process, as a job.

``POST /api/v1/federated-runs`` starts a background job (:mod:`healthtwin.api.jobs`) that
runs a federated training over synthetic sites
(:mod:`healthtwin.scenarios.federated_jobs`: the real Flower apps over an in-process grid;
each site draws its own cohort from a known model, true coefficients
:data:`TRUE_COEFFICIENTS`, with its own case mix).

- ``GET /api/v1/federated-runs`` and ``GET /api/v1/federated-runs/{id}``: status with the
  rounds finished so far (round, federated evaluation metrics, epsilon spent so far);
  progress is rounds done over rounds; cancellation (``POST /api/v1/jobs/{id}/cancel``)
  stops the run at the next message exchange.
- ``GET /api/v1/federated-runs/{id}/results``: every round's record, the final parameters,
  the central fit of the same objective (what federated training is judged by) and the
  privacy spent: exact epsilon of DP-FedAvg (analytic Gaussian mechanism) and its
  Renyi-DP bound, with delta, noise multiplier and clip norm (``dp_epsilon = 0``: no DP).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.actors import request_actor
from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.api.openapi_doc import problems
from healthtwin.api.schemas import success
from healthtwin.api.schemas.federated import (
    FederatedRunList,
    FederatedRunResults,
    FederatedRunStatus,
)
from healthtwin.errors import NotFoundError
from healthtwin.scenarios.federated_jobs import (
    MAX_PATIENT_ROUNDS,
    RUN_KIND,
    TRUE_COEFFICIENTS,
    FederatedRunSettings,
    RoundLog,
    plan_federated_run,
    synthetic_site,
)

__all__ = [
    "MAX_PATIENT_ROUNDS",
    "TRUE_COEFFICIENTS",
    "FederatedRunIn",
    "LiveRounds",
    "RoundLog",
    "federated_runs_router",
    "federated_work",
    "synthetic_site",
]

federated_runs_router = APIRouter(prefix="/api/v1", tags=["federated-runs"])
KIND = RUN_KIND


class FederatedRunIn(BaseModel):
    """A federated training run over synthetic sites."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["logistic", "cox"] = "logistic"
    sites: int = Field(default=4, ge=2, le=16)
    patients_per_site: int = Field(default=200, ge=20, le=2000)
    rounds: int = Field(default=10, ge=1, le=100)
    strategy: Literal["fedavg", "fedprox"] = "fedavg"
    dp_epsilon: float = Field(default=0.0, ge=0, le=100, description="0: no DP.")
    delta: float = Field(default=1e-5, gt=0, le=1e-2)
    clip_norm: float = Field(default=1.0, gt=0, le=100)
    local_steps: int = Field(default=10, ge=1, le=200)
    learning_rate: float = Field(default=0.5, gt=0, le=10)
    case_mix_shift: float = Field(default=0.5, ge=0, le=3)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)

    def settings(self) -> FederatedRunSettings:
        """The run this request asks for."""
        return FederatedRunSettings(**self.model_dump())


@dataclass
class LiveRounds:
    """The round logs of an application's federated jobs, by job id (thread-safe).

    A log is made before its job is submitted and attached to the job's id right after,
    so the run never needs its own id.

    Examples
    --------
    >>> live, log = LiveRounds(), RoundLog()
    >>> live.attach("job-1", log)
    >>> log.record({"round": 1, "metrics": {"auc": 0.7}})
    >>> live.rounds("job-1")[0]["metrics"], live.rounds("job-2")
    ({'auc': 0.7}, [])
    """

    _logs: dict[str, RoundLog] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, job_id: str, log: RoundLog) -> None:
        """Follow ``log`` as the rounds of ``job_id``."""
        with self._lock:
            self._logs[job_id] = log

    def rounds(self, job_id: str) -> list[dict[str, Any]]:
        """The finished rounds of ``job_id`` (none if unknown)."""
        with self._lock:
            log = self._logs.get(job_id)
        return log.entries() if log is not None else []


def federated_work(body: FederatedRunIn, log: RoundLog) -> Callable[[JobContext], JobOutput]:
    """The job's work: write the sites, run the rounds, summarise (checked now).

    Each finished round is added to ``log`` (round, federated metrics, epsilon so far).

    Raises
    ------
    InvalidInputError
        If the run is larger than :data:`MAX_PATIENT_ROUNDS`.
    MissingDependencyError
        If Flower (the ``fed`` extra) is not installed.
    """
    run = plan_federated_run(body.settings(), log)

    def work(context: JobContext) -> JobOutput:
        output = run.run(context)
        return JobOutput(output.summary, output.arrays)

    return work


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _live(request: Request) -> LiveRounds:
    live: LiveRounds = request.app.state.federated_rounds
    return live


def _status(request: Request, job_id: str) -> dict[str, Any]:
    # From memory, else (after a restart) as kept in the store.
    record = _runner(request).status(job_id)
    if record.get("kind") != KIND:
        raise NotFoundError(f"job {job_id[:80]!r} is not a federated run; see /api/v1/jobs")
    return record | {"rounds": _live(request).rounds(job_id)}


@federated_runs_router.post(
    "/federated-runs",
    status_code=202,
    responses={**success(202, FederatedRunStatus, "The run's job, queued.")},
)
def submit_federated_run(request: Request, body: FederatedRunIn) -> dict[str, Any]:
    """Start a federated training run over synthetic sites (``202`` with the job)."""
    log = RoundLog()
    work = federated_work(body, log)
    dp = f", DP epsilon {body.dp_epsilon:g}" if body.dp_epsilon > 0 else ""
    job = _runner(request).submit(
        KIND,
        work,
        actor=request_actor(request),
        description=f"{body.model}: {body.sites} sites x {body.rounds} rounds{dp}",
    )
    _live(request).attach(job.id, log)
    return job.to_dict() | {"rounds": []}


@federated_runs_router.get(
    "/federated-runs",
    responses={**success(200, FederatedRunList, "Federated runs, newest first.")},
)
def list_federated_runs(request: Request) -> dict[str, Any]:
    """Federated runs, newest first."""
    live = _live(request)
    runs = [
        j.to_dict() | {"rounds_done": len(live.rounds(j.id))}
        for j in _runner(request).jobs()
        if j.kind == KIND
    ]
    return {"federated_runs": runs}


@federated_runs_router.get(
    "/federated-runs/{job_id}",
    responses={**success(200, FederatedRunStatus, "The run's status and rounds.")},
)
def federated_run_status(request: Request, job_id: str) -> dict[str, Any]:
    """A federated run's status, progress and the rounds finished so far."""
    return _status(request, job_id)


@federated_runs_router.get(
    "/federated-runs/{job_id}/results",
    responses={**success(200, FederatedRunResults, "The run's results."), **problems(409)},
)
def federated_run_results(request: Request, job_id: str) -> dict[str, Any]:
    """The run's rounds, final model, central reference and privacy spent (``409`` before)."""
    _status(request, job_id)
    return _runner(request).result(job_id)
