"""Region scenarios over HTTP: submit an ensemble, follow it, read its summary.

- ``POST /api/v1/scenarios``: a population scenario (the YAML schema of
  :mod:`healthtwin.population.scenario`, as JSON) runs in the background as a job of
  one task per variant and replicate (progress = tasks done; cancellation between
  tasks); answered ``202`` with the job.
- ``GET /api/v1/scenarios`` and ``GET /api/v1/scenarios/{job_id}``: status.
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

from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import merge_results, plan_tasks, run_task
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.population.rt import Incidence, estimate_rt
from healthtwin.population.scenario import PopulationScenario, parse_scenario, regional_values
from healthtwin.population.scenario_build import build_inputs, parameters_for

__all__ = ["ScenarioIn", "regions_router", "scenario_work", "summarise_variant"]

regions_router = APIRouter(prefix="/api/v1", tags=["regions"])
LEVELS = (0.05, 0.5, 0.95)
_FILE_KEYS = ("_csv", "_file", "_path")
#: Most variant x replicate tasks one submitted scenario may ask for.
MAX_TASKS = 2000
#: Most simulated run-days (runs x days) one submitted scenario may ask for.
MAX_RUN_DAYS = 100_000


class ScenarioIn(BaseModel):
    """A population scenario to run (``scenario`` follows the scenario file schema)."""

    model_config = ConfigDict(extra="forbid")
    scenario: dict[str, Any]
    variants: list[str] | None = Field(default=None, max_length=20)


def _refuse_files(data: Any, path: str = "scenario") -> None:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and (key.endswith(_FILE_KEYS) or key == "base_dir"):
                raise InvalidInputError(
                    f"{path}.{key}: files cannot be named over the API; send the values inline"
                )
            _refuse_files(value, f"{path}.{key}")
    elif isinstance(data, list):
        for number, item in enumerate(data):
            _refuse_files(item, f"{path}[{number}]")


def scenario_work(spec: PopulationScenario, variants: list[str] | None) -> Any:
    """The job's work: every (variant, replicate) task, then the summary.

    Raises
    ------
    InvalidInputError
        If a variant is unknown or the ensemble has more than :data:`MAX_TASKS` tasks.
    """
    tasks = plan_tasks(spec, variants=variants, replicates_per_task=1)
    if len(tasks) > MAX_TASKS or len(tasks) * spec.days > MAX_RUN_DAYS:
        raise InvalidInputError(
            f"the scenario asks for {len(tasks)} runs (variants x replicates) of {spec.days} "
            f"days; at most {MAX_TASKS} runs and {MAX_RUN_DAYS} run-days per job: lower "
            "replicates, variants or days"
        )

    def work(context: JobContext) -> JobOutput:
        parts: dict[str, list[EpidemicResult]] = {}
        for number, task in enumerate(tasks):
            context.check()
            parts.setdefault(task.variant, []).append(run_task(spec, task))
            context.progress(
                (number + 1) / len(tasks), f"{task.variant}: replicate {task.replicate_ids[0]}"
            )
        summaries, arrays = {}, {}
        for name, results in parts.items():
            merged = merge_results(results)
            summaries[name] = summarise_variant(spec, name, merged)
            for quantity in ("incidence", "icu_occupancy"):
                arrays[f"{_slug(name)}.{quantity}"] = merged.get(quantity).sum(axis=2)
        return JobOutput(
            {
                "kind": "population-scenario",
                "scenario": spec.name,
                "days": spec.days,
                "replicates": spec.replicates,
                "regions": list(next(iter(parts.values()))[0].regions) if parts else [],
                "variants": summaries,
            },
            arrays,
        )

    return work


def summarise_variant(
    spec: PopulationScenario, variant: str, result: EpidemicResult
) -> dict[str, Any]:
    """Daily quantile bands, totals, ICU capacity and Rt of one variant's ensemble.

    Examples
    --------
    >>> spec = parse_scenario({"days": 40, "replicates": 3, "disease": {"r0": 2.5},
    ...     "geography": {"regions": [{"name": "a", "population": 2e4}]},
    ...     "initial_infected": {"a": 20}, "capacity": {"icu_beds": 5}})
    >>> task = plan_tasks(spec)[0]
    >>> out = summarise_variant(spec, task.variant, run_task(spec, task))
    >>> len(out["incidence"]["0.5"]), out["icu_beds"], len(out["rt"]["mean"]) > 0
    (40, 5.0, True)
    """
    series = {q: result.get(q).sum(axis=2) for q in ("incidence", "admissions", "icu_occupancy")}
    bands = {
        q: {
            f"{level:g}": _floats(row)
            for level, row in zip(LEVELS, np.quantile(v, LEVELS, axis=0), strict=True)
        }
        for q, v in series.items()
    }
    totals = series["incidence"].sum(axis=1)
    peak_icu = series["icu_occupancy"].max(axis=1)
    inputs = build_inputs(spec)
    beds = regional_values(spec.capacity.icu_beds, inputs.geography, "icu_beds")
    parameters = parameters_for(spec, spec.variant(variant))
    latent = float(np.mean(parameters.latent_period_days))
    infectious = float(np.mean(parameters.infectious_period_days))
    rt = _rt_of_median(series["incidence"], latent, infectious)
    return {
        "day": list(range(1, spec.days + 1)),
        **bands,
        "icu_beds": None if beds is None else float(beds.sum()),
        "total_infections": _interval(totals),
        "peak_icu_occupancy": _interval(peak_icu),
        "rt": rt,
        "serial_interval_days": {
            "mean": latent + infectious,
            "sd": float(np.hypot(latent, infectious)),
        },
        "by_region": _by_region(
            result, inputs.geography.population.sum(axis=1), beds, latent, infectious
        ),
    }


# I14d (dashboard small multiples): per-region bands, beds and Rt, added beside the
# national sums so that earlier readers of the result are unaffected.
def _by_region(
    result: EpidemicResult, population: Any, beds: Any, latent: float, infectious: float
) -> dict[str, dict[str, Any]]:
    """Per region: population, incidence and ICU bands, ICU beds and Rt."""
    incidence, icu = result.get("incidence"), result.get("icu_occupancy")
    out: dict[str, dict[str, Any]] = {}
    for number, region in enumerate(result.regions):
        out[str(region)] = {
            "population": float(population[number]),
            "incidence": _bands(incidence[:, :, number]),
            "icu_occupancy": _bands(icu[:, :, number]),
            "icu_beds": None if beds is None else float(beds[number]),
            "total_infections": _interval(incidence[:, :, number].sum(axis=1)),
            "rt": _rt_of_median(incidence[:, :, number], latent, infectious),
        }
    return out


def _bands(values: Any) -> dict[str, list[float]]:
    """Daily quantiles (:data:`LEVELS`) over replicates of a ``(reps, days)`` array."""
    quantiles = np.quantile(np.asarray(values, dtype=np.float64), LEVELS, axis=0)
    return {f"{level:g}": _floats(row) for level, row in zip(LEVELS, quantiles, strict=True)}


def _rt_of_median(series: Any, latent: float, infectious: float) -> dict[str, list[Any]]:
    """Rt (Cori et al. 2013, 7-day window) of the median over replicates of ``(reps, days)``."""
    median = np.round(np.quantile(series, 0.5, axis=0)).astype(np.int64)
    rt: dict[str, list[Any]] = {"t_end": [], "mean": [], "low": [], "high": []}
    if median.size > 8 and median.sum() > 0:
        estimate = estimate_rt(
            Incidence.from_counts(median),
            si_mean=max(latent + infectious, 1.01),
            si_sd=float(np.hypot(latent, infectious)),
            window=7,
        )
        bounds = estimate.quantiles((0.025, 0.975))
        rt = {
            "t_end": [float(t) for t in estimate.t_end],
            "mean": _finite(estimate.mean_r),
            "low": _finite(bounds[:, 0]),
            "high": _finite(bounds[:, 1]),
        }
    return rt


def _interval(values: Any) -> dict[str, float]:
    low, mid, high = np.quantile(np.asarray(values, dtype=np.float64), LEVELS)
    return {"0.05": float(low), "0.5": float(mid), "0.95": float(high)}


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64)]


def _finite(values: Any) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)[:100] or "variant"


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


@regions_router.post("/scenarios", status_code=202)
def submit_scenario(request: Request, body: ScenarioIn) -> dict[str, Any]:
    """Validate a population scenario and run its ensemble in the background."""
    _refuse_files(body.scenario)
    spec = parse_scenario(body.scenario, source="request body")
    work = scenario_work(spec, body.variants)
    actor = (request.headers.get("x-actor") or "anonymous").strip()[:255] or "anonymous"
    job = _runner(request).submit(
        "population-scenario",
        work,
        actor=actor,
        description=f"scenario {spec.name}: {spec.days} days x {spec.replicates} replicates",
    )
    return job.to_dict()


@regions_router.get("/scenarios")
def list_scenarios(request: Request) -> dict[str, Any]:
    """Scenario jobs, newest first."""
    jobs = [j.to_dict() for j in _runner(request).jobs() if j.kind == "population-scenario"]
    return {"scenarios": jobs}


@regions_router.get("/scenarios/{job_id}")
def scenario_status(request: Request, job_id: str) -> dict[str, Any]:
    """A scenario job's status and progress."""
    return _runner(request).get(job_id).to_dict()


@regions_router.get("/scenarios/{job_id}/results")
@regions_router.get("/regions/{job_id}")
def scenario_results(request: Request, job_id: str) -> dict[str, Any]:
    """The scenario's summary by variant (``409`` until the job has succeeded)."""
    return _runner(request).result(job_id)
