"""Region epidemic ensembles: from an untrusted scenario to daily bands and Rt per variant.

A population scenario (the YAML schema of :mod:`healthtwin.population.scenario`) is
parsed by :func:`parse_region_scenario`, which refuses fields that name files when the
scenario comes from outside (a client cannot make a server read its files).
:func:`plan_region_ensemble` splits it into one task per variant and replicate and checks
its size now; :meth:`RegionEnsemble.run` runs the tasks later (progress = tasks done; a
stop check between tasks) and :func:`summarise_variant` reduces each variant's ensemble to
daily quantiles (5, 50, 95 %) of incidence, admissions and ICU occupancy summed over
regions, ICU capacity, totals, and Rt estimated (Cori et al. 2013) from the median
incidence with a serial interval of mean latent + infectious period; ``by_region`` holds
the same bands, ICU beds and Rt for each region (the top-level bands are those of the
national sum, taken over replicates of sums).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import EnsembleTask, merge_results, plan_tasks, run_task
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.population.rt import Incidence, estimate_rt
from healthtwin.population.scenario import PopulationScenario, parse_scenario, regional_values
from healthtwin.population.scenario_build import build_inputs, parameters_for
from healthtwin.scenarios.reporting import Reporter, RunOutput

__all__ = [
    "LEVELS",
    "MAX_RUN_DAYS",
    "MAX_TASKS",
    "PopulationScenario",
    "RegionEnsemble",
    "parse_region_scenario",
    "plan_region_ensemble",
    "refuse_files",
    "summarise_variant",
]

#: Quantile levels of every band.
LEVELS = (0.05, 0.5, 0.95)
#: Most variant x replicate tasks one ensemble may ask for.
MAX_TASKS = 2000
#: Most simulated run-days (runs x days) one ensemble may ask for.
MAX_RUN_DAYS = 100_000
_FILE_KEYS = ("_csv", "_file", "_path")


def parse_region_scenario(
    data: Mapping[str, Any], *, source: str = "scenario", allow_files: bool = False
) -> PopulationScenario:
    """Validate a population scenario; without ``allow_files``, refuse fields naming files.

    Fields ending in ``_csv``, ``_file`` or ``_path`` and ``base_dir`` name files.

    Raises
    ------
    InvalidInputError
        For a field naming a file (its path is given) or an invalid scenario.

    Examples
    --------
    >>> parse_region_scenario({"geography": {"regions_csv": "/etc/passwd"}})
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: scenario.geography.regions_csv: files cannot be ...
    """
    if not allow_files:
        refuse_files(data)
    return parse_scenario(data, source=source)


def refuse_files(data: Any, path: str = "scenario") -> None:
    """Refuse any field naming a file (``*_csv``, ``*_file``, ``*_path``, ``base_dir``).

    A client of the service cannot make the server read its files.

    Examples
    --------
    >>> refuse_files({"countries": [{"geography": {"regions_csv": "x.csv"}}]}, "world")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: world.countries[0].geography.regions_csv: files ...
    """
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and (key.endswith(_FILE_KEYS) or key == "base_dir"):
                raise InvalidInputError(
                    f"{path}.{key}: files cannot be named over the API; send the values inline"
                )
            refuse_files(value, f"{path}.{key}")
    elif isinstance(data, list):
        for number, item in enumerate(data):
            refuse_files(item, f"{path}[{number}]")


@dataclass(frozen=True)
class RegionEnsemble:
    """A scenario's ensemble, split into tasks of one variant and replicate each."""

    spec: PopulationScenario
    tasks: tuple[EnsembleTask, ...]

    def run(self, reporter: Reporter) -> RunOutput:
        """Run every task, then summarise each variant (:func:`summarise_variant`).

        The arrays hold, per variant (named ``<variant slug>.<quantity>``), the daily
        ``incidence`` and ``icu_occupancy`` summed over regions, shape ``(replicates, days)``.

        Examples
        --------
        >>> from healthtwin.scenarios.reporting import SilentReporter
        >>> spec = parse_region_scenario({"days": 20, "replicates": 2, "disease": {"r0": 2},
        ...     "geography": {"regions": [{"name": "a", "population": 1e4}]},
        ...     "initial_infected": {"a": 10}})
        >>> out = plan_region_ensemble(spec).run(SilentReporter())
        >>> out.summary["regions"], out.arrays["baseline.incidence"].shape
        (['a'], (2, 20))
        """
        parts = self.results(reporter)
        summaries, arrays = {}, {}
        for name, merged in parts.items():
            summaries[name] = summarise_variant(self.spec, name, merged)
            for quantity in ("incidence", "icu_occupancy"):
                arrays[f"{_slug(name)}.{quantity}"] = merged.get(quantity).sum(axis=2)
        summary = {
            "kind": "population-scenario",
            "scenario": self.spec.name,
            "days": self.spec.days,
            "replicates": self.spec.replicates,
            "regions": list(next(iter(parts.values())).regions) if parts else [],
            "variants": summaries,
        }
        return RunOutput(summary, arrays)

    def results(self, reporter: Reporter) -> dict[str, EpidemicResult]:
        """Run every task in order and merge each variant's replicates (no summary).

        ``reporter.progress`` is told after each task (the share of tasks done) and
        ``reporter.check`` before each. Replicates are seeded by their id, never by the
        task that runs them, so the results equal those of one call per variant.

        Examples
        --------
        >>> from healthtwin.scenarios.reporting import SilentReporter
        >>> spec = parse_region_scenario({"days": 5, "replicates": 2, "disease": {"r0": 2},
        ...     "geography": {"regions": [{"name": "a", "population": 1e4}]},
        ...     "initial_infected": {"a": 10}})
        >>> plan_region_ensemble(spec).results(SilentReporter())["baseline"].replicate_ids
        (0, 1)
        """
        parts: dict[str, list[EpidemicResult]] = {}
        for number, task in enumerate(self.tasks):
            reporter.check()
            parts.setdefault(task.variant, []).append(run_task(self.spec, task))
            reporter.progress(
                (number + 1) / len(self.tasks),
                f"{task.variant}: replicate {task.replicate_ids[0]}",
            )
        return {name: merge_results(results) for name, results in parts.items()}


def plan_region_ensemble(
    spec: PopulationScenario, variants: Sequence[str] | None = None
) -> RegionEnsemble:
    """One task per variant (all, or those named) and replicate, its size checked now.

    Raises
    ------
    InvalidInputError
        If a variant is unknown or the ensemble has more than :data:`MAX_TASKS` tasks or
        :data:`MAX_RUN_DAYS` run-days.

    Examples
    --------
    >>> spec = parse_region_scenario({"days": 10, "replicates": 3,
    ...     "geography": {"regions": [{"name": "a", "population": 1e4}]}})
    >>> len(plan_region_ensemble(spec).tasks)
    3
    """
    chosen = list(variants) if variants is not None else None
    tasks = plan_tasks(spec, variants=chosen, replicates_per_task=1)
    if len(tasks) > MAX_TASKS or len(tasks) * spec.days > MAX_RUN_DAYS:
        raise InvalidInputError(
            f"the scenario asks for {len(tasks)} runs (variants x replicates) of {spec.days} "
            f"days; at most {MAX_TASKS} runs and {MAX_RUN_DAYS} run-days per job: lower "
            "replicates, variants or days"
        )
    return RegionEnsemble(spec, tuple(tasks))


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
    bands = {q: _bands(v) for q, v in series.items()}
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
