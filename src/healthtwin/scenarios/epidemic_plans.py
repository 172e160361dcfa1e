"""Allocating a national stock across regions over a population scenario's simulated demand.

:func:`plan_resource` places beds, ventilators or nurses across regions to minimise the
expected (or CVaR) unmet people-days over every simulated path of every variant
(:func:`healthtwin.population.allocation.allocate`), sets the optimised allocation beside
one pro rata to population, and reports each variant's stress under both.
:func:`plan_vaccine` chooses region shares of the daily vaccine doses by simulation
(:func:`healthtwin.population.vaccine_allocation.allocate_vaccine`). Both write
``allocation.csv`` and ``plan.json`` and return the plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.population.allocation import allocate, pro_rata
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.population.scenario import regional_values
from healthtwin.population.scenario_build import RESOURCES, resource_demand, stress_report
from healthtwin.population.vaccine_allocation import allocate_vaccine, rule_shares
from healthtwin.scenarios.epidemic_runs import PreparedScenario

__all__ = ["PLAN_RESOURCES", "default_total", "plan_resource", "plan_vaccine"]

#: What a plan can allocate: the capacity resources and daily vaccine doses.
PLAN_RESOURCES: tuple[str, ...] = (*RESOURCES, "vaccine_doses")


def default_total(scenario: PreparedScenario, resource: str) -> int:
    """The units of ``resource`` the scenario's capacity holds nationally.

    Raises
    ------
    InvalidInputError
        If the scenario gives no capacity for the resource.

    Examples
    --------
    >>> from healthtwin.population.scenario import parse_scenario
    >>> from healthtwin.population.scenario_build import build_inputs
    >>> spec = parse_scenario({"days": 5, "geography": {"regions": [{"name": "a",
    ...     "population": 1e4}, {"name": "b", "population": 1e4}]}, "disease": {"r0": 2.0},
    ...     "initial_infected": {"a": 5}, "capacity": {"icu_beds": 10}})
    >>> default_total(PreparedScenario(spec, build_inputs(spec)), "icu_beds")
    10
    """
    spec, geography = scenario.spec, scenario.inputs.geography
    current = regional_values(getattr(spec.capacity, resource), geography, resource)
    if current is None:
        raise InvalidInputError(
            f"give --total or capacity.{resource} in the scenario: how many units to place"
        )
    return round(float(current.sum()))


def plan_resource(
    scenario: PreparedScenario,
    results: Mapping[str, EpidemicResult],
    out: Path,
    *,
    resource: str,
    total: int,
    objective: Literal["expected", "cvar"] = "expected",
    alpha: float = 0.9,
) -> dict[str, Any]:
    """Allocate ``total`` units over the variants' demand paths; write the plan into ``out``.

    Parameters
    ----------
    scenario
        The scenario and its inputs.
    results
        Every variant's simulation (:func:`healthtwin.scenarios.epidemic_runs.run_variants`).
    out
        Folder (created) for ``allocation.csv`` (by region: population, pro rata and
        optimised units, and their unmet people-days) and ``plan.json``.
    resource, total
        What is allocated (one of ``RESOURCES``) and how many units.
    objective, alpha
        Minimise the expected unmet people-days, or their CVaR at level ``alpha``.

    Returns
    -------
    dict
        The plan written to ``plan.json``: expected and CVaR unmet people-days under both
        allocations, the number of paths, and each variant's stress under both.

    Examples
    --------
    >>> import tempfile
    >>> from healthtwin.population.scenario import parse_scenario
    >>> from healthtwin.population.scenario_build import build_inputs
    >>> from healthtwin.scenarios.epidemic_runs import run_variants
    >>> spec = parse_scenario({"days": 20, "replicates": 2, "geography": {"regions": [
    ...     {"name": "a", "population": 1e5}, {"name": "b", "population": 1e5}]},
    ...     "disease": {"r0": 3.0}, "initial_infected": {"a": 50}})
    >>> results = run_variants(spec, ["baseline"])
    >>> plan = plan_resource(PreparedScenario(spec, build_inputs(spec)), results,
    ...                      Path(tempfile.mkdtemp()), resource="icu_beds", total=10)
    >>> plan["paths"], plan["total_units"]
    (2, 10)
    """
    spec, geography = scenario.spec, scenario.inputs.geography
    demand = np.concatenate([resource_demand(spec, r, resource) for r in results.values()], axis=0)
    best = allocate(demand, total, objective=objective, alpha=alpha)
    fair = pro_rata(demand, total, geography.population.sum(axis=1))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "allocation.csv").open("w", encoding="utf-8") as handle:
        handle.write("region,population,pro_rata,optimized,unmet_pro_rata,unmet_optimized\n")
        for r, region in enumerate(geography.regions):
            handle.write(
                f"{region},{geography.population[r].sum():.0f},{fair.capacity[r]},"
                f"{best.capacity[r]},{fair.unmet_by_region[r]:.6g},{best.unmet_by_region[r]:.6g}\n"
            )
    variants: dict[str, Any] = {}
    report: dict[str, Any] = {
        "scenario": spec.name,
        "resource": resource,
        "total_units": total,
        "objective": objective,
        "paths": int(demand.shape[0]),
        "expected_unmet_people_days": {
            "pro_rata": fair.expected_unmet,
            "optimized": best.expected_unmet,
        },
        "cvar_unmet_people_days": {
            "alpha": alpha,
            "pro_rata": fair.cvar(alpha),
            "optimized": best.cvar(alpha),
        },
        "variants": variants,
    }
    for name, result in results.items():
        variants[name] = {
            label: stress_report(
                spec, spec.variant(name), result, scenario.inputs, resource=resource,
                beds=allocation.capacity.astype(float),
            ).summary()
            for label, allocation in (("pro_rata", fair), ("optimized", best))
        }  # fmt: skip
    (out / "plan.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def plan_vaccine(
    scenario: PreparedScenario,
    daily_doses: int,
    out: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Choose region shares of ``daily_doses`` by simulation; write the plan into ``out``.

    ``on_progress`` receives ``(ensembles run, ensembles planned)`` (see
    :func:`~healthtwin.population.vaccine_allocation.allocate_vaccine`).

    Writes ``allocation.csv`` (by region: population, pro rata and optimised shares) and
    ``plan.json`` (the objective under both and every candidate's mean and standard error
    against pro rata).

    Returns
    -------
    dict
        The plan written to ``plan.json``.

    Raises
    ------
    InvalidInputError
        If ``daily_doses`` is not positive.

    Examples
    --------
    >>> import tempfile
    >>> from healthtwin.population.scenario import parse_scenario
    >>> from healthtwin.population.scenario_build import build_inputs
    >>> spec = parse_scenario({"days": 20, "replicates": 2, "geography": {"synthetic": {
    ...     "n_regions": 2, "total_population": 200000, "seed": 2}}, "disease": {"r0": 3.0},
    ...     "initial_infected": {"region_1": 50}})
    >>> plan = plan_vaccine(PreparedScenario(spec, build_inputs(spec)), 500,
    ...                     Path(tempfile.mkdtemp()))
    >>> plan["optimized"] <= plan["pro_rata"]
    True
    """
    spec, geography = scenario.spec, scenario.inputs.geography
    best = allocate_vaccine(spec, daily_doses=float(daily_doses), on_progress=on_progress)
    fair = rule_shares("population", geography)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "allocation.csv").open("w", encoding="utf-8") as handle:
        handle.write("region,population,pro_rata_share,optimized_share\n")
        for r, region in enumerate(geography.regions):
            handle.write(
                f"{region},{geography.population[r].sum():.0f},{fair[r]:.6f},"
                f"{best.shares[region]:.6f}\n"
            )
    report = {
        "scenario": spec.name,
        "resource": "vaccine_doses",
        "daily_doses": daily_doses,
        "objective": best.objective,
        "optimized": best.value,
        "pro_rata": best.pro_rata,
        "candidates": {
            k: {"mean": v[0], "se_vs_pro_rata": v[1]} for k, v in best.candidates.items()
        },
    }
    (out / "plan.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
