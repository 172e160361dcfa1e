"""Epidemic projections and Rt estimates run from files, for the command line.

:func:`estimate_rt_file` estimates the reproduction number over sliding windows
(Cori et al. 2013, :func:`healthtwin.population.rt.estimate_rt`) from an incidence CSV and
writes EpiEstim's columns. A projection reads a population scenario
(:func:`load_population_scenario`), runs the chosen variants in one ensemble on common
random numbers (:func:`run_variants`, in this process or on Dask) and writes the daily
quantiles by region, the Forecast Hub table, each variant's medians with the ICU stress
report and the national fan charts (:func:`write_projection`). Allocating a national stock
over the same runs is :mod:`healthtwin.scenarios.epidemic_plans`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import (
    EnsembleTask,
    dask_client,
    merge_results,
    plan_tasks,
    run_ensemble,
    run_task,
)
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.population.projection_files import plot_projection, write_daily_csv, write_hub_csv
from healthtwin.population.rt import estimate_rt, read_incidence
from healthtwin.population.scenario import PopulationScenario, load_scenario, regional_values
from healthtwin.population.scenario_build import ScenarioInputs, build_inputs, stress_report

__all__ = [
    "COUNTED_STEPS",
    "MIN_COUNTED_BATCH",
    "EpidemicResult",
    "PopulationScenario",
    "PreparedScenario",
    "estimate_rt_file",
    "prepare_population_scenario",
    "run_variants",
    "variant_names",
    "write_projection",
]


def estimate_rt_file(
    incidence: Path,
    out: Path,
    *,
    si_mean: float | None = None,
    si_sd: float | None = None,
    si_distr: Sequence[float] | None = None,
    window: int = 7,
    prior_mean: float = 5.0,
    prior_sd: float = 5.0,
) -> int:
    """Estimate Rt from an incidence CSV and write the estimates as CSV.

    Parameters
    ----------
    incidence
        CSV with a column ``I`` (or ``local`` and ``imported``), optional dates.
    out
        The CSV written (EpiEstim's columns, :data:`healthtwin.population.RT_COLUMNS`).
    si_mean, si_sd
        Parametric serial interval (days; mean > 1, sd > 0), or
    si_distr
        the serial interval's weights ``w_0 = 0, w_1, ...``.
    window, prior_mean, prior_sd
        Days per sliding window and the gamma prior on R.

    Returns
    -------
    int
        The number of windows written.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> counts = [10, 12, 15, 18, 22, 27, 33, 40, 48, 58, 70, 84, 100, 120, 145]
    >>> _ = (folder / "cases.csv").write_text("I\\n" + "\\n".join(map(str, counts)) + "\\n")
    >>> estimate_rt_file(folder / "cases.csv", folder / "rt.csv", si_mean=2.6, si_sd=1.5)
    8
    """
    estimate = estimate_rt(
        read_incidence(incidence),
        si_mean=si_mean,
        si_sd=si_sd,
        si_distr=None if si_distr is None else list(si_distr),
        window=window,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )
    estimate.write_csv(out)
    return int(estimate.t_start.size)


@dataclass(frozen=True)
class PreparedScenario:
    """A validated population scenario and the inputs built from it.

    Attributes
    ----------
    spec
        The scenario.
    inputs
        Its geography, contacts, mobility and parameters (built once, so that a bad
        region, setting or age group fails before any run).
    """

    spec: PopulationScenario
    inputs: ScenarioInputs


def prepare_population_scenario(path: Path, *, replicates: int | None = None) -> PreparedScenario:
    """Read, validate and build a population scenario YAML (optionally other ``replicates``).

    Raises
    ------
    InvalidInputError
        If the file is not a valid scenario (the message names the field path).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "s.yaml"
    >>> _ = path.write_text("days: 10\\nreplicates: 2\\ngeography: {regions: "
    ...     "[{name: a, population: 10000}]}\\ndisease: {r0: 2.0}\\n"
    ...     "initial_infected: {a: 5}\\n")
    >>> prepare_population_scenario(path, replicates=3).spec.replicates
    3
    """
    spec = load_scenario(path)
    if replicates is not None:
        spec = spec.model_copy(update={"replicates": replicates})
    return PreparedScenario(spec, build_inputs(spec))


def variant_names(spec: PopulationScenario, chosen: Sequence[str] | None = None) -> list[str]:
    """The names of the ``chosen`` variants (checked against the scenario), or of all.

    Examples
    --------
    >>> from healthtwin.population.scenario import parse_scenario
    >>> spec = parse_scenario({"days": 5, "geography": {"regions": [{"name": "a",
    ...     "population": 1e4}]}, "disease": {"r0": 2.0}, "initial_infected": {"a": 5}})
    >>> variant_names(spec)
    ['baseline']
    """
    variants = [spec.variant(v) for v in chosen] if chosen else spec.variant_list()
    return [v.name for v in variants]


def run_variants(
    spec: PopulationScenario,
    names: Sequence[str],
    *,
    scheduler: str = "local",
    address: str | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, EpidemicResult]:
    """Run the named variants in one ensemble, on common random numbers.

    Parameters
    ----------
    spec
        The scenario.
    names
        Variants to run.
    scheduler
        ``"local"`` (this process) or ``"dask"`` (a LocalCluster, or the scheduler at
        ``address``, with ``workers`` workers; tasks of a quarter of the replicates).
    on_progress
        Called with ``(replicate runs done, variants x replicates)``. In this process the
        ensemble then runs as up to :data:`COUNTED_STEPS` tasks per variant of at least
        :data:`MIN_COUNTED_BATCH` replicates (:meth:`RegionEnsemble.results`; smaller
        batches would cost the vectorised speed); on Dask each finished future counts its
        replicates. Replicates are seeded by id, so the results are the same with or
        without it.

    Returns
    -------
    dict
        Each variant's result, replicates on the leading axis.

    Raises
    ------
    InvalidInputError
        If the scheduler is neither ``"local"`` nor ``"dask"``.

    Examples
    --------
    >>> from healthtwin.population.scenario import parse_scenario
    >>> spec = parse_scenario({"days": 5, "replicates": 2, "geography": {"regions": [{
    ...     "name": "a", "population": 1e4}]}, "disease": {"r0": 2.0},
    ...     "initial_infected": {"a": 5}})
    >>> run_variants(spec, ["baseline"])["baseline"].national("incidence").shape
    (2, 5)
    >>> seen = []
    >>> counted = run_variants(spec, ["baseline"], on_progress=lambda d, t: seen.append((d, t)))
    >>> seen
    [(2, 2)]
    """
    if scheduler not in ("local", "dask"):
        raise InvalidInputError(f"--scheduler {scheduler!r}: choose local or dask")
    chosen: Literal["local", "dask"] = "dask" if scheduler == "dask" else "local"
    per_task = None if chosen == "local" else max(1, spec.replicates // 4)
    if on_progress is not None:
        if chosen == "local":
            from healthtwin.scenarios.region_forecast import RegionEnsemble

            size = max(MIN_COUNTED_BATCH, -(-spec.replicates // COUNTED_STEPS))
            tasks = plan_tasks(spec, variants=list(names), replicates_per_task=size)
            ensemble = RegionEnsemble(spec, tuple(tasks))
            return ensemble.results(_CountingReporter(on_progress, tasks))
        return _run_counted_on_dask(spec, names, per_task, address, workers, on_progress)
    ensemble_run = run_ensemble(
        spec,
        variants=list(names),
        scheduler=chosen,
        address=address,
        n_workers=workers,
        replicates_per_task=per_task,
    )
    return {name: ensemble_run.variant(name) for name in names}


#: Tasks per variant of a counted in-process ensemble (the steps of its progress bar).
COUNTED_STEPS = 8
#: The fewest replicates in one of those tasks: smaller batches lose the vectorised speed
#: (8 batches of 3 replicates ran 1.9 times slower than one of 20).
MIN_COUNTED_BATCH = 25


@dataclass
class _CountingReporter:
    """A :class:`~healthtwin.scenarios.reporting.Reporter` counting the replicates run.

    :meth:`RegionEnsemble.results` reports once after each task, in task order.
    """

    on_progress: Callable[[int, int], None]
    tasks: Sequence[EnsembleTask]
    finished: int = 0
    done: int = 0

    def check(self) -> None:
        """A command line run is stopped by Ctrl-C, not between tasks."""

    def progress(self, fraction: float, message: str = "") -> None:
        self.done += len(self.tasks[self.finished].replicate_ids)
        self.finished += 1
        self.on_progress(self.done, sum(len(t.replicate_ids) for t in self.tasks))


def _run_counted_on_dask(
    spec: PopulationScenario,
    names: Sequence[str],
    per_task: int | None,
    address: str | None,
    workers: int | None,
    on_progress: Callable[[int, int], None],
) -> dict[str, EpidemicResult]:
    """The Dask ensemble, counting replicates as futures finish (results in task order)."""
    tasks: list[EnsembleTask] = plan_tasks(spec, variants=list(names), replicates_per_task=per_task)
    with dask_client(address, workers) as client:
        import importlib

        as_completed = importlib.import_module("distributed").as_completed
        futures = client.map(run_task, [spec] * len(tasks), tasks, pure=False)
        outputs: dict[Any, EpidemicResult] = {}
        total, done = sum(len(t.replicate_ids) for t in tasks), 0
        on_progress(0, total)
        for future in as_completed(futures):
            result = outputs[future.key] = future.result()
            done += len(result.replicate_ids)
            on_progress(done, total)
        ordered = [outputs[f.key] for f in futures]
    grouped: dict[str, list[EpidemicResult]] = {}
    for task, result in zip(tasks, ordered, strict=True):
        grouped.setdefault(task.variant, []).append(result)
    return {name: merge_results(grouped[name]) for name in names}


def write_projection(
    scenario: PreparedScenario,
    results: Mapping[str, EpidemicResult],
    out: Path,
    *,
    plot: bool = True,
) -> tuple[int, dict[str, Any]]:
    """Write a projection's tables, summary and charts into the existing folder ``out``.

    Writes ``daily.csv`` (quantiles by variant, day, region and quantity), ``hub.csv``
    (Forecast Hub format, with a start date and at least a week), ``summary.json`` (each
    variant's median infections, deaths and peak ICU occupancy, and with ICU beds the
    stress report) and with ``plot`` ``national.png`` (fan charts).

    Returns
    -------
    tuple
        The rows of ``daily.csv`` and the summary written to ``summary.json``.

    Examples
    --------
    >>> import tempfile
    >>> from healthtwin.population.scenario import parse_scenario
    >>> from healthtwin.population.scenario_build import build_inputs
    >>> spec = parse_scenario({"days": 5, "replicates": 2, "geography": {"regions": [{
    ...     "name": "a", "population": 1e4}]}, "disease": {"r0": 2.0},
    ...     "initial_infected": {"a": 5}})
    >>> results = run_variants(spec, ["baseline"])
    >>> prepared = PreparedScenario(spec, build_inputs(spec))
    >>> rows, summary = write_projection(prepared, results, Path(tempfile.mkdtemp()), plot=False)
    >>> rows, sorted(summary["baseline"])
    (70, ['deaths_median', 'infections_median', 'peak_icu_median'])
    """
    spec, inputs = scenario.spec, scenario.inputs
    rows = write_daily_csv(results, out / "daily.csv", start_date=spec.start_date)
    if spec.start_date is not None and spec.days >= 7:
        write_hub_csv(results, out / "hub.csv", start_date=spec.start_date)
    summary: dict[str, Any] = {
        "scenario": spec.name,
        "replicates": spec.replicates,
        "days": spec.days,
    }
    for name, result in results.items():
        entry: dict[str, object] = {
            "infections_median": float(np.median(result.national("incidence").sum(axis=1))),
            "deaths_median": float(np.median(result.national("deaths").sum(axis=1))),
            "peak_icu_median": float(np.median(result.national("icu_occupancy").max(axis=1))),
        }
        if spec.capacity.icu_beds is not None:
            variant = spec.variant(name)
            entry["icu_stress"] = stress_report(spec, variant, result, inputs).summary()
        summary[name] = entry
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if plot:
        beds = regional_values(spec.capacity.icu_beds, inputs.geography, "icu_beds")
        plot_projection(results, out / "national.png", title=spec.name, capacity=beds)
    return rows, summary
