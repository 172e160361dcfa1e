"""The diabetes microsimulation against exact calculations.

1. Stage occupancy of a closed cohort against the Markov (cohort) calculation
   ``p_{k+1} = p_k expm(Q_k)``, written here independently of the package.
2. The Diabetes Prevention Program effect: rate ratio 0.42 in the eligible group.
3. Life expectancy at 40 under the mortality law alone against the exact integral of the
   Gompertz-Makeham survival function.

Every interval is a 99 % interval (Bonferroni-adjusted where many values are checked at
once) computed from binomial or Poisson variances; the seeds are fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, linalg, stats

from healthtwin.population.chronic import (
    Population,
    PreventionProgramme,
    project_prevalence,
)
from healthtwin.population.chronic_rates import ChronicRates, MortalityLaw, load_t2d_rates


def _generator(rates: ChronicRates, age: float, sex: int) -> np.ndarray:
    """Q (5 x 5, per year) at ``age``: the four disease hazards and death by stage."""
    band = int(np.searchsorted(rates.age_upper, age, side="right"))
    band = min(band, rates.n_bands - 1)
    law = rates.mortality
    a, b, c = (
        law.makeham_per_year[sex],
        law.gompertz_per_year[sex],
        law.gompertz_slope_per_year[sex],
    )
    # Mean background hazard over [age, age + 1): the exact integral of a + b exp(c x).
    mu = a + b * math.exp(c * age) * math.expm1(c) / c
    q = np.zeros((5, 5))
    q[0, 1] = rates.prediabetes_onset_per_year[band, sex]
    q[0, 2] = rates.diabetes_onset_per_year[band, sex]
    q[1, 2] = rates.progression_per_year[band, sex]
    q[2, 3] = rates.complication_per_year[band, sex]
    for stage in range(4):
        q[stage, 4] = mu * rates.mortality_hr[stage]
    q[np.diag_indices(5)] = -q.sum(axis=1)
    return q


def test_occupancy_matches_markov_cohort() -> None:
    rates = load_t2d_rates()
    n, replicates, years = 100_000, 4, 10
    start = np.repeat([0, 1, 2, 3], [60_000, 30_000, 8_000, 2_000])
    # Age 40 crosses from the 18-44 band into the 45-64 band after five years.
    cohort = Population.from_arrays(np.full(n, 40.0), ["female"] * n, start)
    projection = project_prevalence(cohort, rates, years=years, replicates=replicates, seed=11)

    expected = np.zeros((years + 1, 5))
    expected[0] = np.bincount(start, minlength=5) / n
    for year in range(years):
        expected[year + 1] = expected[year] @ linalg.expm(_generator(rates, 40.0 + year, 0))

    observed = projection.occupancy.mean(axis=0) / n
    sd = np.sqrt(expected * (1 - expected) / (n * replicates))
    checks = expected[1:].size
    z = stats.norm.ppf(1 - 0.01 / (2 * checks))
    assert np.all(np.abs(observed[1:] - expected[1:]) <= z * sd[1:] + 1e-12)
    assert np.abs(observed - expected).max() < 2e-3
    np.testing.assert_array_equal(projection.occupancy.sum(axis=-1), n)


def test_monthly_steps_match_monthly_markov() -> None:
    rates = load_t2d_rates()
    n, replicates, years = 20_000, 2, 2
    cohort = Population.from_arrays(np.full(n, 70.0), ["male"] * n, np.repeat([1, 2], n // 2))
    projection = project_prevalence(
        cohort, rates, years=years, replicates=replicates, seed=3, steps_per_year=12
    )
    law = rates.mortality
    p = np.array([0.0, 0.5, 0.5, 0.0, 0.0])
    for month in range(12 * years):
        age = 70.0 + month / 12
        q = _generator(rates, age, 1)
        a, b, c = law.makeham_per_year[1], law.gompertz_per_year[1], law.gompertz_slope_per_year[1]
        mu = a + b * math.exp(c * age) * math.expm1(c / 12) / (c / 12)
        for stage in range(4):
            q[stage, 4] = mu * rates.mortality_hr[stage]
        q[np.diag_indices(5)] = 0.0
        q[np.diag_indices(5)] = -q.sum(axis=1)
        p = p @ linalg.expm(q / 12)
    observed = projection.occupancy[:, -1].mean(axis=0) / n
    sd = np.sqrt(p * (1 - p) / (n * replicates))
    z = stats.norm.ppf(1 - 0.01 / (2 * 5))
    assert np.all(np.abs(observed - p) <= z * sd + 1e-12)


def test_dpp_rate_ratio_in_eligible_group() -> None:
    law = MortalityLaw(
        makeham_per_year=[0.01, 0.01],
        gompertz_per_year=[0.0, 0.0],
        gompertz_slope_per_year=[0.0, 0.0],
    )
    # DPP placebo arm: 11.0 cases per 100 person-years (Knowler et al. 2002).
    rates = ChronicRates.constant(progression_per_year=0.11, mortality=law)
    n = 20_000
    cohort = Population.from_arrays(
        np.full(n, 51.0), ["female", "male"] * (n // 2), ["prediabetes"] * n
    )
    programme = PreventionProgramme(
        uptake=1.0, start_year=0, rate_ratio=0.42, cost_per_participant=100.0
    )
    base = project_prevalence(cohort, rates, years=3, replicates=1, seed=5)
    arm = project_prevalence(cohort, rates, years=3, replicates=1, seed=5, programme=programme)

    cases0, cases1 = base.transitions[..., 2].sum(), arm.transitions[..., 2].sum()
    years0 = base.person_years_by_stage[..., 1].sum()
    years1 = arm.person_years_by_stage[..., 1].sum()
    ratio = (cases1 / years1) / (cases0 / years0)
    half_width = stats.norm.ppf(0.995) * math.sqrt(1 / cases0 + 1 / cases1)
    assert abs(math.log(ratio) - math.log(0.42)) < half_width
    # Within the programme arm, the rate itself: Poisson 99 % interval around 0.42 x 0.11.
    expected_cases = 0.42 * 0.11 * years1
    assert abs(cases1 - expected_cases) < stats.norm.ppf(0.995) * math.sqrt(expected_cases)
    assert arm.participants[0, 0] == n
    assert arm.cost.sum() == 100.0 * n
    assert arm.compare(base).cases_averted.sum() > 0


def _survival(age: float, law: MortalityLaw, sex: int) -> Callable[[float], float]:
    a, b, c = (
        law.makeham_per_year[sex],
        law.gompertz_per_year[sex],
        law.gompertz_slope_per_year[sex],
    )
    return lambda t: math.exp(-a * t - b / c * math.exp(c * age) * math.expm1(c * t))


@pytest.mark.parametrize("sex", [0, 1])
def test_life_expectancy_at_40_matches_exact_integral(sex: int) -> None:
    law = load_t2d_rates().mortality
    rates = ChronicRates.constant(mortality=law)
    n, replicates = 10_000, 2
    survival = _survival(40.0, law, sex)
    exact, _ = integrate.quad(survival, 0, 100, epsabs=1e-10)
    second, _ = integrate.quad(lambda t: 2 * t * survival(t), 0, 100, epsabs=1e-8)
    sd = math.sqrt(second - exact**2)
    cohort = Population.from_arrays(np.full(n, 40.0), [("female", "male")[sex]] * n)
    run = project_prevalence(cohort, rates, years=70, replicates=replicates, seed=sex)
    simulated = run.person_years.sum(axis=1).mean() / n
    assert run.occupancy[:, -1, :4].sum() < 0.001 * n  # nearly everyone has died by 110
    assert abs(simulated - exact) < stats.norm.ppf(0.995) * sd / math.sqrt(n * replicates)
    # The published law gives a plausible US life expectancy at 40 (about 38-43 years).
    assert 36 < exact < 45
