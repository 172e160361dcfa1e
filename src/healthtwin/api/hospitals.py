"""Hospital twins over HTTP: a hospital and its census, simulated forward as a background job.

A hospital twin (:mod:`healthtwin.scenarios.hospital_twins`) is a hospital configuration
and today's census (patients in beds by unit). Simulating it forward
(:mod:`healthtwin.scenarios.hospital_forecast`: occupancy and queue bands per unit and day,
alerts) runs as a job of :mod:`healthtwin.api.jobs`; this module parses the requests, keeps
the twins in the application's :class:`HospitalRegistry` (kept in the application's store,
so that twins, their runs and the runs' results are found again after a restart) and
renders the answers.

Routes under ``/api/v1``: ``POST /hospitals`` (from a config or the ``demo`` preset),
``GET /hospitals``, ``GET /hospitals/{id}`` (state: units, beds, census, runs),
``POST /hospitals/{id}/simulate`` (``202`` with the job), ``GET /hospitals/{id}/results``
(the latest or a named run's result; ``409`` until it has succeeded).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.actors import request_actor
from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.api.openapi_doc import problems
from healthtwin.api.schemas import success
from healthtwin.api.schemas.hospitals import (
    HospitalList,
    HospitalResults,
    HospitalRun,
    HospitalState,
)
from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.scenarios.hospital_forecast import (
    MAX_REPLICATION_DAYS,
    ForecastSettings,
    check_forecast_cost,
    run_forecast,
)
from healthtwin.scenarios.hospital_forecast import forecast_hospital as _forecast
from healthtwin.scenarios.hospital_twins import (
    DEMO_HOSPITAL,
    HospitalRegistry,
    HospitalTwin,
    make_hospital_twin,
)

__all__ = [
    "DEMO_HOSPITAL",
    "MAX_REPLICATION_DAYS",
    "HospitalIn",
    "HospitalRegistry",
    "HospitalTwin",
    "SimulateIn",
    "forecast_hospital",
    "hospitals_router",
    "make_twin",
    "simulation_work",
]

hospitals_router = APIRouter(prefix="/api/v1", tags=["hospitals"])
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
_STRICT = ConfigDict(extra="forbid")
_ID = re.compile(ID_PATTERN)


class HospitalIn(BaseModel):
    """A hospital twin to create: a config (or the ``demo`` preset) and today's census.

    ``census`` maps a unit to a count of patients in beds (just admitted) or to the hours
    each has already spent there (their remaining stays are drawn given those hours).
    """

    model_config = _STRICT
    hospital_id: str | None = Field(default=None, pattern=ID_PATTERN)
    name: str = Field(default="", max_length=200)
    preset: Literal["demo"] | None = None
    config: dict[str, Any] | None = Field(
        default=None, description="A HospitalConfig (units, arrivals, pathways) as JSON."
    )
    census: dict[str, int | list[float]] | None = Field(default=None, max_length=100)


class SimulateIn(BaseModel):
    """How far and how often to simulate a hospital twin forward."""

    model_config = _STRICT
    days: int = Field(default=14, ge=1, le=60)
    replications: int = Field(default=20, ge=2, le=500)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    occupancy_alert: float = Field(
        default=0.85, gt=0, le=1.0, description="Occupancy line (fraction of beds) for alerts."
    )

    def settings(self) -> ForecastSettings:
        """The forecast settings this request asks for."""
        return ForecastSettings(
            days=self.days,
            replications=self.replications,
            seed=self.seed,
            occupancy_alert=self.occupancy_alert,
        )


def make_twin(body: HospitalIn, *, now: datetime | None = None) -> HospitalTwin:
    """A hospital twin from a request body (:func:`make_hospital_twin`, validated).

    Raises
    ------
    InvalidInputError
        If both or neither of ``preset`` and ``config`` are given, the config is invalid,
        or the census names an unknown unit, holds a negative time or more patients than
        the unit has beds.

    Examples
    --------
    >>> twin = make_twin(HospitalIn(preset="demo", census={"icu": [2.0, 30.0]}))
    >>> twin.census["icu"], twin.census["ward"]
    ((2.0, 30.0), ())
    """
    return make_hospital_twin(
        hospital_id=body.hospital_id,
        name=body.name,
        preset=body.preset,
        config=body.config,
        census=body.census,
        now=now,
    )


def forecast_hospital(
    twin: HospitalTwin,
    settings: SimulateIn,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The forecast a request asks for (see :mod:`healthtwin.scenarios.hospital_forecast`).

    Examples
    --------
    >>> twin = make_twin(HospitalIn(preset="demo"))
    >>> out, arrays = forecast_hospital(twin, SimulateIn(days=2, replications=4))
    >>> len(out["units"]["ward"]["occupancy_beds"]["0.5"]), arrays["occupancy.ward"].shape
    (2, (2, 4))
    """
    return _forecast(twin, settings.settings(), progress)


def simulation_work(twin: HospitalTwin, settings: SimulateIn) -> Callable[[JobContext], JobOutput]:
    """The job's work: :func:`~healthtwin.scenarios.hospital_forecast.run_forecast`."""
    forecast = settings.settings()
    check_forecast_cost(forecast)  # refuse now, not in the job

    def work(context: JobContext) -> JobOutput:
        output = run_forecast(twin, forecast, context)
        return JobOutput(output.summary, output.arrays)

    return work


def _registry(request: Request) -> HospitalRegistry:
    """The application's hospital twins, kept in its store (so that they outlive a restart)."""
    registry: HospitalRegistry = request.app.state.hospitals
    return registry


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _checked(hospital_id: str) -> str:
    if not _ID.match(hospital_id):
        raise InvalidInputError(
            f"hospital id {hospital_id[:80]!r} is not an id (1-64 letters, digits, '-' or '.')"
        )
    return hospital_id


@hospitals_router.post(
    "/hospitals",
    status_code=201,
    responses={**success(201, HospitalState, "The hospital twin created."), **problems(409)},
)
def create_hospital(request: Request, body: HospitalIn) -> dict[str, Any]:
    """Create a hospital twin from a config or the ``demo`` preset, with today's census."""
    twin = _registry(request).add(make_twin(body))
    return twin.to_dict([])


@hospitals_router.get(
    "/hospitals",
    responses={**success(200, HospitalList, "Every hospital twin.")},
)
def list_hospitals(request: Request) -> dict[str, Any]:
    """Every hospital twin with its units and census."""
    registry = _registry(request)
    return {"hospitals": [t.to_dict(registry.runs(t.hospital_id)) for t in registry.all()]}


@hospitals_router.get(
    "/hospitals/{hospital_id}",
    responses={**success(200, HospitalState, "The hospital twin's state.")},
)
def hospital_state(request: Request, hospital_id: str) -> dict[str, Any]:
    """A hospital twin's state: units, beds, census by unit and its simulation runs."""
    registry = _registry(request)
    twin = registry.get(_checked(hospital_id))
    return twin.to_dict(registry.runs(twin.hospital_id))


@hospitals_router.post(
    "/hospitals/{hospital_id}/simulate",
    status_code=202,
    responses={**success(202, HospitalRun, "The forecast job, queued.")},
)
def simulate_hospital(request: Request, hospital_id: str, body: SimulateIn) -> dict[str, Any]:
    """Simulate the hospital forward in the background (``202`` with the job)."""
    registry = _registry(request)
    twin = registry.get(_checked(hospital_id))
    work = simulation_work(twin, body)
    job = _runner(request).submit(
        "hospital-forecast",
        work,
        actor=request_actor(request),
        description=(
            f"hospital {twin.hospital_id}: {body.days} days x {body.replications} replications"
        ),
    )
    registry.add_run(twin.hospital_id, job.id)
    return job.to_dict() | {"hospital_id": twin.hospital_id}


@hospitals_router.get(
    "/hospitals/{hospital_id}/results",
    responses={**success(200, HospitalResults, "The run's forecast."), **problems(409)},
)
def hospital_results(request: Request, hospital_id: str, job: str | None = None) -> dict[str, Any]:
    """The latest (or the named) run's forecast; ``409`` until it has succeeded."""
    registry = _registry(request)
    twin = registry.get(_checked(hospital_id))
    runs = registry.runs(twin.hospital_id)
    if job is None:
        if not runs:
            raise ConflictError(
                f"hospital {twin.hospital_id} has no run yet; POST "
                f"/api/v1/hospitals/{twin.hospital_id}/simulate first"
            )
        job = runs[-1]
    elif job not in runs:
        raise NotFoundError(f"job {job[:80]!r} is not a run of hospital {twin.hospital_id}")
    return _runner(request).result(job) | {"job_id": job}
