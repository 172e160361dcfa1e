"""Hospital twins over HTTP: a hospital and its census, simulated forward as a background job.

A hospital twin is a :class:`~healthtwin.hospital.config.HospitalConfig` (units, arrivals,
pathways) and today's census (patients in beds by unit). Simulating it forward runs the
discrete-event engine (:func:`healthtwin.hospital.simulate.simulate`) from that census as
a job of :mod:`healthtwin.api.jobs` and answers, per unit and day:

- **predicted occupancy** (beds in use, the day's time average) as the 5, 50 and 95 %
  quantiles over replications: day ``d`` is simulated as ``d - 1`` warm-up days from the
  census and one measured day, with the same seed for every day (one job costs
  ``replications x days (days + 1) / 2`` simulated days, bounded by
  :data:`MAX_REPLICATION_DAYS`);
- **queue length** (patients waiting for a bed in the unit) by Little's law,
  ``L_q = lambda_u x W_q``, from the unit's mean arrival rate (traffic equations,
  :func:`~healthtwin.hospital.plan.unit_arrival_rates`) and the day's mean wait;
- **alerts**: a unit whose occupancy may pass the ``occupancy_alert`` line (``watch``: in
  at least 5 % of replications on some day; ``high``: in at least half), and an
  early-warning alert when deteriorations missed by the early-warning score are expected.
  The engine's default clinical course records deteriorations and how many were caught
  late (no NEWS2 scores: ``early_warning.news2_scores`` is false).

Routes under ``/api/v1``: ``POST /hospitals`` (from a config or the ``demo`` preset),
``GET /hospitals``, ``GET /hospitals/{id}`` (state: units, beds, census, runs),
``POST /hospitals/{id}/simulate`` (``202`` with the job), ``GET /hospitals/{id}/results``
(the latest or a named run's result; ``409`` until it has succeeded).
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.hospital.census import Census, CensusEntry
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.plan import unit_arrival_rates
from healthtwin.hospital.simulate import simulate

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
LEVELS = (0.05, 0.5, 0.95)
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
#: Most simulated replication-days (replications x days (days + 1) / 2) one run may cost.
MAX_REPLICATION_DAYS = 20_000
#: A small general hospital: ED, ward and ICU, with a ward that runs close to full.
DEMO_HOSPITAL: dict[str, Any] = {
    "units": {
        "ed": {
            "kind": "ed",
            "beds": 14,
            "los_hours": {"dist": "lognormal", "mean": 3.0, "cv": 0.6},
        },
        "ward": {
            "kind": "ward",
            "beds": 64,
            "los_hours": {"dist": "lognormal", "mean": 76.0, "cv": 0.8},
            "deterioration_per_day": 0.03,
        },
        "icu": {
            "kind": "icu",
            "beds": 10,
            "los_hours": {"dist": "lognormal", "mean": 72.0, "cv": 0.7},
            "deterioration_per_day": 0.05,
        },
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 2.5}],
    "pathways": {
        "ed": {"ward": 0.25, "icu": 0.03, "discharge": 0.72},
        "ward": {"icu": 0.02, "discharge": 0.95, "death": 0.03},
        "icu": {"ward": 0.8, "discharge": 0.1, "death": 0.1},
    },
}
#: Today's census of the demo hospital (patients in beds by unit).
DEMO_CENSUS = {"ed": 6, "ward": 58, "icu": 8}
_STRICT = ConfigDict(extra="forbid")
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class HospitalTwin:
    """A hospital and today's census (``census[unit]``: hours each patient has spent there)."""

    hospital_id: str
    name: str
    config: HospitalConfig
    census: Mapping[str, tuple[float, ...]]
    created: datetime

    def census_model(self) -> Census:
        """The census as the engine takes it."""
        return Census(tuple(CensusEntry(u, h) for u, hours in self.census.items() for h in hours))

    def to_dict(self, runs: list[str]) -> dict[str, Any]:
        """The twin's state as JSON."""
        return {
            "hospital_id": self.hospital_id,
            "name": self.name,
            "created": self.created.isoformat(),
            "units": [
                {
                    "name": name,
                    "kind": unit.kind,
                    "beds": unit.beds,
                    "census": len(self.census.get(name, ())),
                    "mean_los_hours": unit.los_hours.mean_hours(),
                }
                for name, unit in self.config.units.items()
            ],
            "census": {name: len(self.census.get(name, ())) for name in self.config.units},
            "runs": runs,
            "latest_run": runs[-1] if runs else None,
        }


@dataclass
class HospitalRegistry:
    """The hospital twins of one application and their simulation jobs (thread-safe).

    Examples
    --------
    >>> registry = HospitalRegistry()
    >>> twin = make_twin(HospitalIn(hospital_id="h1", preset="demo"))
    >>> registry.add(twin).hospital_id, registry.get("h1").config.units["icu"].beds
    ('h1', 10)
    """

    _twins: dict[str, HospitalTwin] = field(default_factory=dict)
    _runs: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, twin: HospitalTwin) -> HospitalTwin:
        """Register ``twin``; ``ConflictError`` if its id is taken."""
        with self._lock:
            if twin.hospital_id in self._twins:
                raise ConflictError(
                    f"hospital {twin.hospital_id!r} exists; choose another hospital_id"
                )
            self._twins[twin.hospital_id] = twin
            self._runs[twin.hospital_id] = []
        return twin

    def get(self, hospital_id: str) -> HospitalTwin:
        """The twin; ``NotFoundError`` naming the list route if unknown."""
        with self._lock:
            twin = self._twins.get(hospital_id)
        if twin is None:
            raise NotFoundError(f"no hospital {hospital_id[:80]!r}; list them at /api/v1/hospitals")
        return twin

    def all(self) -> list[HospitalTwin]:
        """Every twin, oldest first."""
        with self._lock:
            return sorted(self._twins.values(), key=lambda t: t.created)

    def add_run(self, hospital_id: str, job_id: str) -> None:
        """Remember that job ``job_id`` simulates ``hospital_id``."""
        with self._lock:
            self._runs[hospital_id].append(job_id)

    def runs(self, hospital_id: str) -> list[str]:
        """The twin's simulation jobs, oldest first."""
        with self._lock:
            return list(self._runs.get(hospital_id, ()))


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


def make_twin(body: HospitalIn, *, now: datetime | None = None) -> HospitalTwin:
    """A hospital twin from a request body (validated).

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
    if (body.preset is None) == (body.config is None):
        raise InvalidInputError(
            "give either a hospital 'config' or 'preset': 'demo', not "
            + ("both" if body.preset else "neither")
        )
    data = DEMO_HOSPITAL if body.preset == "demo" else body.config
    try:
        config = HospitalConfig.model_validate(data)
    except ValidationError as err:
        raise InvalidInputError(f"hospital config is invalid: {err}") from err
    raw = body.census if body.census is not None else (DEMO_CENSUS if body.preset else {})
    census: dict[str, tuple[float, ...]] = dict.fromkeys(config.units, ())
    for unit, value in raw.items():
        if unit not in config.units:
            raise InvalidInputError(
                f"census.{unit[:64]}: unknown unit; units are {sorted(config.units)}"
            )
        hours = (0.0,) * value if isinstance(value, int) else tuple(float(h) for h in value)
        if isinstance(value, int) and value < 0:
            raise InvalidInputError(f"census.{unit}: {value} patients; give a count >= 0")
        if not all(math.isfinite(h) and h >= 0 for h in hours):
            raise InvalidInputError(
                f"census.{unit}: hours spent must be finite and >= 0, got {list(hours)[:10]}"
            )
        if len(hours) > config.units[unit].beds:
            raise InvalidInputError(
                f"census.{unit}: {len(hours)} patients in {config.units[unit].beds} beds; "
                "a census holds at most one patient per bed"
            )
        census[unit] = hours
    return HospitalTwin(
        hospital_id=body.hospital_id or f"hospital-{uuid.uuid4().hex[:10]}",
        name=body.name or ("Demo general hospital" if body.preset else "hospital"),
        config=config,
        census=census,
        created=now or datetime.now(UTC),
    )


def forecast_hospital(
    twin: HospitalTwin,
    settings: SimulateIn,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Simulate ``twin`` forward day by day: occupancy and queue bands, alerts (module doc).

    Parameters
    ----------
    twin
        The hospital and its census.
    settings
        Days, replications, seed and the occupancy alert line.
    progress
        Called with the number of days done after each day (checks for cancellation).

    Returns
    -------
    summary : dict
        JSON-ready result (``units[name]["occupancy_beds"]["0.5"]`` has one value a day).
    arrays : dict of str to ndarray
        ``occupancy.<unit>`` (beds in use) and ``queue.<unit>`` (patients waiting), each
        of shape ``(days, replications)``.

    Raises
    ------
    InvalidInputError
        If the run would cost more than :data:`MAX_REPLICATION_DAYS`.

    Examples
    --------
    >>> twin = make_twin(HospitalIn(preset="demo"))
    >>> out, arrays = forecast_hospital(twin, SimulateIn(days=2, replications=4))
    >>> len(out["units"]["ward"]["occupancy_beds"]["0.5"]), arrays["occupancy.ward"].shape
    (2, (2, 4))
    """
    _check_cost(settings)
    config, census = twin.config, twin.census_model()
    names = list(config.units)
    rates = unit_arrival_rates(config)
    occupancy = np.zeros((len(names), settings.days, settings.replications))
    waits = np.full_like(occupancy, np.nan)
    daily: dict[str, np.ndarray] = {
        key: np.zeros((settings.days, settings.replications))
        for key in ("deteriorations", "deteriorations_caught_late", "arrivals", "refusals")
    }
    for day in range(settings.days):
        result = simulate(
            config,
            days=1.0,
            warmup_days=float(day),
            replications=settings.replications,
            seed=settings.seed,
            census=census,
        )
        for u, name in enumerate(names):
            occupancy[u, day] = result.values(f"occupancy.{name}") * config.units[name].beds
            waits[u, day] = result.values(f"wait_hours.{name}")
        for key, values in daily.items():
            values[day] = result.values(key)
        if progress is not None:
            progress(day + 1)
    units, queues = {}, {}
    for u, name in enumerate(names):
        beds = config.units[name].beds
        fraction = occupancy[u] / beds if beds else np.zeros_like(occupancy[u])
        # A day with no admission to the unit has no mean wait: nobody queued for it.
        queue = rates[name] * np.nan_to_num(waits[u], nan=0.0)
        queues[f"queue.{name}"] = queue
        units[name] = {
            "kind": config.units[name].kind,
            "beds": beds,
            "census_now": len(twin.census.get(name, ())),
            "arrivals_per_hour": rates[name],
            "occupancy_beds": _bands(occupancy[u]),
            "occupancy_fraction": _bands(fraction),
            "queue_length": _bands(queue),
            "p_above_line": [float(v) for v in (fraction > settings.occupancy_alert).mean(axis=1)],
        }
    early = {key: _bands(values) for key, values in daily.items()}
    summary = {
        "kind": "hospital-forecast",
        "hospital_id": twin.hospital_id,
        "days": settings.days,
        "replications": settings.replications,
        "seed": settings.seed,
        "day": list(range(1, settings.days + 1)),
        "occupancy_alert": settings.occupancy_alert,
        "units": units,
        "early_warning": {"news2_scores": False, **early},
        "alerts": _alerts(units, early, settings.occupancy_alert),
    }
    arrays = {f"occupancy.{name}": occupancy[u] for u, name in enumerate(names)}
    return summary, arrays | queues


def _check_cost(settings: SimulateIn) -> None:
    cost = settings.replications * settings.days * (settings.days + 1) // 2
    if cost > MAX_REPLICATION_DAYS:
        raise InvalidInputError(
            f"{settings.replications} replications over {settings.days} days cost {cost} "
            f"simulated days; at most {MAX_REPLICATION_DAYS}: ask for fewer days or replications"
        )


def _bands(values: np.ndarray) -> dict[str, list[float]]:
    """Quantiles over replications (axis 1) of a ``(days, replications)`` array."""
    q = np.quantile(values, LEVELS, axis=1)
    return {f"{level:g}": [float(v) for v in row] for level, row in zip(LEVELS, q, strict=True)}


def _alerts(
    units: Mapping[str, Mapping[str, Any]],
    early: Mapping[str, Mapping[str, list[float]]],
    line: float,
) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for name, unit in units.items():
        p = unit["p_above_line"]
        days = [d + 1 for d, value in enumerate(p) if value >= 0.05]
        if not days:
            continue
        peak = max(p)
        alerts.append(
            {
                "kind": "occupancy",
                "unit": name,
                "severity": "high" if peak >= 0.5 else "watch",
                "first_day": days[0],
                "days": days,
                "peak_probability": peak,
                "message": (
                    f"{name}: occupancy above {line:.0%} of {unit['beds']} beds from day "
                    f"{days[0]} (up to {peak:.0%} of replications)"
                ),
            }
        )
    late = early["deteriorations_caught_late"]["0.95"]
    if late and max(late) >= 1.0:
        day = int(np.argmax(late)) + 1
        alerts.append(
            {
                "kind": "early-warning",
                "unit": None,
                "severity": "watch",
                "first_day": next(d + 1 for d, v in enumerate(late) if v >= 1.0),
                "days": [d + 1 for d, v in enumerate(late) if v >= 1.0],
                "peak_probability": None,
                "message": (
                    f"deteriorations missed by the early-warning score: up to "
                    f"{max(late):.0f} a day (95 % band, day {day})"
                ),
            }
        )
    return alerts


def simulation_work(twin: HospitalTwin, settings: SimulateIn) -> Callable[[JobContext], JobOutput]:
    """The job's work: :func:`forecast_hospital` with progress and cancellation per day."""
    _check_cost(settings)  # refuse now, not in the job

    def work(context: JobContext) -> JobOutput:
        def step(done: int) -> None:
            context.check()
            # Day d costs d simulated days: report the share of the cost done.
            context.progress(
                done * (done + 1) / (settings.days * (settings.days + 1)),
                f"day {done} of {settings.days}",
            )

        context.check()
        summary, arrays = forecast_hospital(twin, settings, step)
        return JobOutput(summary, arrays)

    return work


def _registry(request: Request) -> HospitalRegistry:
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


@hospitals_router.post("/hospitals", status_code=201)
def create_hospital(request: Request, body: HospitalIn) -> dict[str, Any]:
    """Create a hospital twin from a config or the ``demo`` preset, with today's census."""
    twin = _registry(request).add(make_twin(body))
    return twin.to_dict([])


@hospitals_router.get("/hospitals")
def list_hospitals(request: Request) -> dict[str, Any]:
    """Every hospital twin with its units and census."""
    registry = _registry(request)
    return {"hospitals": [t.to_dict(registry.runs(t.hospital_id)) for t in registry.all()]}


@hospitals_router.get("/hospitals/{hospital_id}")
def hospital_state(request: Request, hospital_id: str) -> dict[str, Any]:
    """A hospital twin's state: units, beds, census by unit and its simulation runs."""
    registry = _registry(request)
    twin = registry.get(_checked(hospital_id))
    return twin.to_dict(registry.runs(twin.hospital_id))


@hospitals_router.post("/hospitals/{hospital_id}/simulate", status_code=202)
def simulate_hospital(request: Request, hospital_id: str, body: SimulateIn) -> dict[str, Any]:
    """Simulate the hospital forward in the background (``202`` with the job)."""
    registry = _registry(request)
    twin = registry.get(_checked(hospital_id))
    work = simulation_work(twin, body)
    actor = (request.headers.get("x-actor") or "anonymous").strip()[:255] or "anonymous"
    job = _runner(request).submit(
        "hospital-forecast",
        work,
        actor=actor,
        description=(
            f"hospital {twin.hospital_id}: {body.days} days x {body.replications} replications"
        ),
    )
    registry.add_run(twin.hospital_id, job.id)
    return job.to_dict() | {"hospital_id": twin.hospital_id}


@hospitals_router.get("/hospitals/{hospital_id}/results")
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
