"""Region scenarios over HTTP: submit an ensemble, follow it, read its summary.

- ``POST /api/v1/scenarios``: a population scenario (the YAML schema of
  :mod:`healthtwin.population.scenario`, as JSON) runs in the background as a job of
  one task per variant and replicate (:mod:`healthtwin.scenarios.region_forecast`;
  progress = tasks done; cancellation between tasks); answered ``202`` with the job.
- ``GET /api/v1/scenarios`` (the jobs of this run of the service) and
  ``GET /api/v1/scenarios/{job_id}``: status (of an earlier run's job too: its result is
  kept in the store).
- ``GET /api/v1/scenarios/{job_id}/results`` (also ``/api/v1/regions/{job_id}``): per
  variant, daily quantiles (5, 50, 95 %) of incidence, admissions and ICU occupancy summed
  over regions, ICU capacity, totals, and Rt estimated (Cori et al. 2013) from the median
  incidence of each variant with a serial interval of mean latent + infectious period;
  ``by_region`` holds the same bands, ICU beds and Rt for each region (the top-level
  bands are those of the national sum, taken over replicates of sums).

Scenario fields that name files (``*_csv``, ``*_file``, ``*_path``) are refused: a client
cannot make the server read its files; send values inline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.actors import request_actor
from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.api.openapi_doc import problems
from healthtwin.api.schemas import success
from healthtwin.api.schemas.jobs import JobRecord
from healthtwin.api.schemas.scenarios import ScenarioList, ScenarioResults
from healthtwin.scenarios.region_forecast import (
    MAX_RUN_DAYS,
    MAX_TASKS,
    PopulationScenario,
    parse_region_scenario,
    plan_region_ensemble,
    summarise_variant,
)

__all__ = [
    "MAX_RUN_DAYS",
    "MAX_TASKS",
    "ScenarioIn",
    "regions_router",
    "scenario_work",
    "summarise_variant",
]

regions_router = APIRouter(prefix="/api/v1", tags=["regions"])


class ScenarioIn(BaseModel):
    """A population scenario to run (``scenario`` follows the scenario file schema)."""

    model_config = ConfigDict(extra="forbid")
    scenario: dict[str, Any]
    variants: list[str] | None = Field(default=None, max_length=20)


def scenario_work(
    spec: PopulationScenario, variants: list[str] | None
) -> Callable[[JobContext], JobOutput]:
    """The job's work: every (variant, replicate) task, then the summary.

    See :mod:`healthtwin.scenarios.region_forecast`.

    Raises
    ------
    InvalidInputError
        If a variant is unknown or the ensemble has more than ``MAX_TASKS`` tasks.
    """
    ensemble = plan_region_ensemble(spec, variants)

    def work(context: JobContext) -> JobOutput:
        output = ensemble.run(context)
        return JobOutput(output.summary, output.arrays)

    return work


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


@regions_router.post(
    "/scenarios",
    status_code=202,
    responses={**success(202, JobRecord, "The scenario's job, queued.")},
)
def submit_scenario(request: Request, body: ScenarioIn) -> dict[str, Any]:
    """Validate a population scenario and run its ensemble in the background."""
    spec = parse_region_scenario(body.scenario, source="request body")
    work = scenario_work(spec, body.variants)
    job = _runner(request).submit(
        "population-scenario",
        work,
        actor=request_actor(request),
        description=f"scenario {spec.name}: {spec.days} days x {spec.replicates} replicates",
    )
    return job.to_dict()


@regions_router.get(
    "/scenarios",
    responses={**success(200, ScenarioList, "Scenario jobs, newest first.")},
)
def list_scenarios(request: Request) -> dict[str, Any]:
    """Scenario jobs, newest first."""
    jobs = [j.to_dict() for j in _runner(request).jobs() if j.kind == "population-scenario"]
    return {"scenarios": jobs}


@regions_router.get(
    "/scenarios/{job_id}",
    responses={**success(200, JobRecord, "The scenario job's status.")},
)
def scenario_status(request: Request, job_id: str) -> dict[str, Any]:
    """A scenario job's status and progress (after a restart, as kept in the store)."""
    return _runner(request).status(job_id)


@regions_router.get(
    "/scenarios/{job_id}/results",
    responses={**success(200, ScenarioResults, "The summary by variant."), **problems(409)},
)
@regions_router.get(
    "/regions/{job_id}",
    responses={**success(200, ScenarioResults, "The summary by variant."), **problems(409)},
)
def scenario_results(request: Request, job_id: str) -> dict[str, Any]:
    """The scenario's summary by variant (``409`` until the job has succeeded)."""
    return _runner(request).result(job_id)
