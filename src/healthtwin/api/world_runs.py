"""World scenarios over HTTP: submit a local-to-global run, follow it, read its results.

- ``POST /api/v1/worlds``: a world scenario (the YAML schema of
  :mod:`healthtwin.scenarios.world`, as JSON; ``seed``, ``replicates`` and ``days``
  override the scenario's, as ``healthtwin run`` does) runs in the background as a job
  (:mod:`healthtwin.scenarios.world_jobs`: progress after each country and the
  federation, cancellation between them); answered ``202`` with the job.
- ``GET /api/v1/worlds`` and ``GET /api/v1/worlds/{job_id}``: status.
- ``GET /api/v1/worlds/{job_id}/results``: the world's summary (key numbers with their
  median and band per country and hospital: the range of fewer than 20 replicates, else
  the 5-95 % interval; ``summary["interval"]`` says which), the cross-border monitor's
  report and each country's national daily series as bands; ``409`` until the job has
  succeeded. The result is kept in the store with the job.

Fields that name files are refused, and a run larger than
:data:`~healthtwin.scenarios.world_jobs.MAX_WORLD_WORK` replicate-day-regions is refused
with a pointer to the CLI.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.actors import request_actor
from healthtwin.api.jobs import JobContext, JobOutput, JobRunner, Work
from healthtwin.api.openapi_doc import problems
from healthtwin.api.schemas import success
from healthtwin.api.schemas.jobs import JobRecord
from healthtwin.api.schemas.scenarios import WorldList, WorldResults
from healthtwin.scenarios.world_jobs import WorldRun, plan_world_run

__all__ = ["WORLD_JOB_KIND", "WorldIn", "world_runs_router", "world_work"]

WORLD_JOB_KIND = "world-run"
world_runs_router = APIRouter(prefix="/api/v1", tags=["worlds"])


class WorldIn(BaseModel):
    """A world scenario to run (``world`` follows the world scenario file's schema)."""

    model_config = ConfigDict(extra="forbid")
    world: dict[str, Any]
    seed: int | None = Field(default=None, ge=0)
    replicates: int | None = Field(default=None, ge=1, le=200)
    days: int | None = Field(default=None, ge=1, le=3650)


def world_work(plan: WorldRun) -> Work:
    """The job's work: the world run, reported per country."""

    def work(context: JobContext) -> JobOutput:
        return JobOutput(plan.run(context).summary)

    return work


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


@world_runs_router.post(
    "/worlds",
    status_code=202,
    responses={**success(202, JobRecord, "The world run's job, queued.")},
)
def submit_world(request: Request, body: WorldIn) -> dict[str, Any]:
    """Validate a world scenario and run it end to end in the background."""
    plan = plan_world_run(body.world, seed=body.seed, replicates=body.replicates, days=body.days)
    w = plan.world
    job = _runner(request).submit(
        WORLD_JOB_KIND,
        world_work(plan),
        actor=request_actor(request),
        description=(
            f"world {w.name}: {len(w.countries)} countries, {w.days} days x "
            f"{w.replicates} replicates"
        ),
    )
    return job.to_dict()


@world_runs_router.get(
    "/worlds",
    responses={**success(200, WorldList, "World runs, newest first.")},
)
def list_worlds(request: Request) -> dict[str, Any]:
    """World runs, newest first."""
    jobs = [j.to_dict() for j in _runner(request).jobs() if j.kind == WORLD_JOB_KIND]
    return {"worlds": jobs}


@world_runs_router.get(
    "/worlds/{job_id}",
    responses={**success(200, JobRecord, "The world run's status.")},
)
def world_status(request: Request, job_id: str) -> dict[str, Any]:
    """A world run's status and progress (also after a restart, from the store)."""
    return _runner(request).status(job_id)


@world_runs_router.get(
    "/worlds/{job_id}/results",
    responses={**success(200, WorldResults, "The world's results."), **problems(409)},
)
def world_results(request: Request, job_id: str) -> dict[str, Any]:
    """The world's summary, monitor report and national bands (``409`` until done)."""
    return _runner(request).result(job_id)
