"""The national ICU planner against the epidemic's own future: calibrated, and never worse.

Reference: the epidemic model itself. Replicates of an example country's epidemic are
simulated; the forecast made from each replicate's first weeks
(:func:`~healthtwin.population.icu_forecast.forecast_icu_demand`) is scored against that
replicate's actual ICU occupancy later, and the planner's beds are scored by the unmet
ICU bed-days of the same replicate (common random numbers) against keeping the beds where
they were and against an oracle that knows the replicate's future
(``forecast: ensemble``).

Measured (seed 11): 90 % band coverage 7 days ahead 0.88-0.95 from days 28, 35 and 42 of
the main job's Ruritania (about 0.8 at 14 days, 0.6-0.7 at 28: the damped trend does not
see the wave turn, so the planner looks two weeks ahead by default). On the 47-region
country with weekly plans the planner saved 89 % of what the oracle saved (unmet ICU
bed-days 342 -> 36 against 0 for the oracle, 12 replicates; 90 % on the test's 6) and was
never worse than no reallocation; the first version of the planner (each replicate's ICU
occupancy on its last week's log-linear trend, to the end of the run) made the main job
worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from healthtwin.coupling.national_allocation import capacity_schedule
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.icu_forecast import forecast_icu_demand
from healthtwin.population.scenario import Variant
from healthtwin.population.scenario_build import build_inputs, parameters_for
from healthtwin.scenarios import run as run_module
from healthtwin.scenarios.hospital_loop import PLAN_OBSERVES
from healthtwin.scenarios.national_planner import NationalPlanner
from healthtwin.scenarios.world import load_world

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _epidemic(example: str, replicates: int) -> tuple[Any, Any, dict[str, np.ndarray], Any]:
    world = load_world(EXAMPLES / example)
    country = world.countries[0]
    spec = country.population_scenario(world)
    inputs = build_inputs(spec)
    params = parameters_for(spec, Variant(name="baseline"))
    epidemic = simulate_epidemic(
        inputs.geography,
        inputs.contacts,
        params,
        days=world.days,
        replicates=replicates,
        seed=11,
        mobility=inputs.mobility,
        initial_infected=inputs.initial_infected,
    )
    series = {q: np.asarray(epidemic.get(q), dtype=float) for q in PLAN_OBSERVES}
    return world, country, series, (inputs, params)


def test_the_forecast_is_calibrated_a_week_ahead() -> None:
    _, _, series, (_, params) = _epidemic("local-to-global.yaml", 30)
    occupancy = series["icu_occupancy"]
    covered: dict[int, list[np.ndarray]] = {7: [], 14: []}
    for day in (28, 35, 42):
        forecast = forecast_icu_demand(
            *(series[q][:, :day] for q in PLAN_OBSERVES),
            days_ahead=14,
            icu_stay_days=float(params.icu_stay_days),
            icu_share_prior=float(np.mean(params.icu_fraction)),
            paths=200,
            rng=np.random.default_rng(day),
        )
        low, high = forecast.quantile([0.05, 0.95])
        for ahead, hits in covered.items():
            truth = occupancy[:, day + ahead - 1]
            hits.append((low[:, ahead - 1] <= truth) & (truth <= high[:, ahead - 1]))
    week = np.concatenate(covered[7]).mean()
    fortnight = np.concatenate(covered[14]).mean()
    # 270 forecasts, clustered by replicate: nominal 0.90 +- about 0.06.
    assert 0.84 <= week <= 0.99
    assert 0.7 <= fortnight <= 0.99


def _unmet(demand: np.ndarray, beds: np.ndarray) -> np.ndarray:
    return np.asarray(np.maximum(demand - beds, 0.0).sum(axis=(1, 2)))


@pytest.fixture(scope="module")
def country_47() -> tuple[Any, Any, dict[str, np.ndarray], Any]:
    return _epidemic("country-47-regions.yaml", 6)


def _plan(country_47: Any, forecast: str) -> np.ndarray:
    world, country, series, (inputs, params) = country_47
    regions = run_module._hospital_regions(country, inputs.geography.regions)
    _, icu_beds = run_module._beds(country, regions, inputs.geography.n_regions)
    spec = country.national.model_copy(update={"forecast": forecast})
    planner = NationalPlanner(
        spec,
        np.array([h.icu_beds() for h in country.hospitals]),
        icu_beds,
        regions,
        replicates=series["admissions"].shape[0],
        days=world.days,
        icu_stay_days=float(params.icu_stay_days),
        icu_share=float(np.mean(params.icu_fraction)),
        streams=lambda i, day: np.random.default_rng([i, day]),
    )
    planner.plan_all(series)
    start = np.rint(icu_beds).astype(np.int64)
    for plans in planner.plans:
        for plan, per_hospital in plans:
            # Beds move between regions; none are created, and the hospitals hold them.
            assert plan.after.sum() == start.sum()
            np.testing.assert_array_equal(np.bincount(regions, per_hospital, 47), plan.after)
    return np.stack(
        [
            capacity_schedule(start, [(p.day, p.after) for p, _ in plans], world.days)
            for plans in planner.plans
        ]
    )


def test_weekly_plans_save_most_of_what_an_oracle_saves_and_never_harm(country_47: Any) -> None:
    world, _, series, (inputs, _) = country_47
    demand = series["icu_occupancy"]
    country = world.countries[0]
    regions = run_module._hospital_regions(country, inputs.geography.regions)
    _, icu_beds = run_module._beds(country, regions, inputs.geography.n_regions)
    without = _unmet(demand, icu_beds)
    planned = _unmet(demand, _plan(country_47, "trend"))
    oracle = _unmet(demand, _plan(country_47, "ensemble"))
    assert without.mean() > 100  # not vacuous: the wave overflows some regions' ICUs
    assert (oracle <= without).all()
    assert (planned <= without).all()
    saved, best = (without - planned).sum(), (without - oracle).sum()
    assert saved >= 0.75 * best
