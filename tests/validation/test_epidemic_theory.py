"""The epidemic engines against theory: final size, growth rate, ODE limit, independence.

- SIR/SEIR final size for one well-mixed group: ``z = 1 - exp(-R0 z)`` (Kermack &
  McKendrick 1927; Ma & Earn 2006 show it holds for any latent/infectious distribution).
- Multi-group final size ``z_a = 1 - exp(-sum_b K_ab z_b)`` with the next-generation
  matrix ``K`` (Andreasen 2011, Bull Math Biol 73:2305).
- Early growth rate: the dominant eigenvalue of the linearised E/I_a/I_s system at the
  disease-free state (Wallinga & Lipsitch 2007).
- The chain-binomial mean approaches the ODE for large populations.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest
from scipy.optimize import brentq

from healthtwin.population.compartments import S
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import ContactMatrices

AGES3 = ("child", "adult", "senior")
C3 = np.array([[[6.0, 3.0, 0.5], [2.0, 7.0, 1.0], [0.6, 1.5, 3.0]]])
POP3 = np.array([[2e6, 5e6, 1.5e6]])


def single_group(pop: float) -> tuple[Geography, ContactMatrices]:
    geo = Geography(regions=("x",), age_groups=("all",), population=np.array([[pop]]))
    cm = ContactMatrices(settings=("all",), age_groups=("all",), matrices=np.array([[[10.0]]]))
    return geo, cm


@pytest.mark.parametrize("r0", [1.5, 2.5, 4.0])
def test_sir_final_size_single_group(r0: float) -> None:
    geo, cm = single_group(1e8)
    params = EpidemicParameters(r0=r0, hospitalised_fraction=0.0, latent_period_days=0.5)
    res = simulate_epidemic(
        geo, cm, params, days=400, replicates=1, engine="ode", initial_infected={"x": 10.0}
    )
    z_model = 1.0 - res.final_state[0, S, 0, 0] / 1e8
    z_theory = brentq(lambda z: z - 1.0 + np.exp(-r0 * z), 1e-6, 1.0)
    assert z_model == pytest.approx(z_theory, abs=1e-6)


def test_final_size_counts_deaths_as_removed() -> None:
    geo, cm = single_group(1e8)
    params = EpidemicParameters(
        r0=2.0, hospitalised_fraction=0.0, symptomatic_fraction=1.0, ward_death_fraction=1.0
    )
    res = simulate_epidemic(
        geo, cm, params, days=400, replicates=1, engine="ode", initial_infected={"x": 10.0}
    )
    z = brentq(lambda z: z - 1.0 + np.exp(-2.0 * z), 1e-6, 1.0)
    assert res.incidence.sum() / 1e8 == pytest.approx(z, abs=1e-4)


def age_structured() -> tuple[Geography, ContactMatrices, EpidemicParameters]:
    geo = Geography(regions=("x",), age_groups=AGES3, population=POP3)
    cm = ContactMatrices(settings=("all",), age_groups=AGES3, matrices=C3)
    params = EpidemicParameters(
        r0=2.2,
        hospitalised_fraction=0.0,
        symptomatic_fraction=[0.2, 0.5, 0.8],
        susceptibility=[0.6, 1.0, 1.3],
        relative_infectiousness_asymptomatic=0.4,
    )
    return geo, cm, params


def test_multigroup_final_size_relation() -> None:
    geo, cm, params = age_structured()
    seeds = np.array([[1.0, 3.0, 1.0]])
    res = simulate_epidemic(
        geo, cm, params, days=500, replicates=1, engine="ode", initial_infected=seeds
    )
    susceptible = res.final_state[0, S, 0]
    z_model = 1.0 - susceptible / POP3[0]
    k = params.next_generation_matrix(cm.total())
    # Exact relation with the seeds, to the integration tolerance.
    np.testing.assert_allclose(np.log((POP3[0] - seeds[0]) / susceptible), k @ z_model, rtol=1e-5)
    z = np.full(3, 0.5)
    for _ in range(2_000):
        z = 1.0 - np.exp(-k @ z)
    np.testing.assert_allclose(z_model, z, atol=1e-6)
    assert z.min() > 0.1  # a real epidemic in every group


def test_initial_growth_rate_is_the_dominant_eigenvalue() -> None:
    geo, cm, params = age_structured()
    rates = params.rates(cm.total())
    c = cm.total()
    n_ages = 3
    sigma, p = rates.susceptibility, rates.symptomatic
    rho, lat, inf = 0.4, 1 / 3.0, 1 / 5.0
    jac = np.zeros((3 * n_ages, 3 * n_ages))
    e, ia, is_ = slice(0, 3), slice(3, 6), slice(6, 9)
    force = rates.beta * sigma[:, None] * POP3[0][:, None] * c / POP3[0][None, :]
    jac[e, e] = -lat * np.eye(3)
    jac[e, ia] = rho * force
    jac[e, is_] = force
    jac[ia, e] = lat * np.diag(1 - p)
    jac[ia, ia] = -inf * np.eye(3)
    jac[is_, e] = lat * np.diag(p)
    jac[is_, is_] = -inf * np.eye(3)
    growth = float(np.max(np.linalg.eigvals(jac).real))
    res = simulate_epidemic(
        geo, cm, params, days=60, replicates=1, engine="ode", initial_infected=np.full((1, 3), 1.0)
    )
    incidence = res.national("incidence")[0]
    slope = np.polyfit(np.arange(30, 50), np.log(incidence[30:50]), 1)[0]
    assert slope == pytest.approx(growth, rel=1e-3)
    assert growth > 0.05


def test_stochastic_mean_approaches_the_ode_for_large_populations() -> None:
    regions = ("a", "b", "c")
    pop = np.array([[2e6, 1.5e6], [3e6, 1e6], [1.5e6, 1e6]])  # 10 million people
    geo = Geography(regions=regions, age_groups=("young", "old"), population=pop)
    cm = ContactMatrices(
        settings=("home", "work"),
        age_groups=("young", "old"),
        matrices=np.array([[[3.0, 1.0], [1.0, 2.0]], [[6.0, 1.0], [1.0, 1.0]]]),
    )
    mobility = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.2, 0.8]])
    params = EpidemicParameters(r0=1.8, hospitalised_fraction=0.0, symptomatic_fraction=[0.4, 0.7])
    common: dict[str, Any] = {
        "days": 250,
        "mobility": mobility,
        "initial_infected": {"a": 2_000.0},
    }
    ode = simulate_epidemic(geo, cm, params, replicates=1, engine="ode", **common)
    stoch = simulate_epidemic(geo, cm, params, replicates=20, seed=3, **common)
    attack_ode = ode.incidence.sum(axis=1)[0] / pop.sum(axis=1)
    attack = stoch.incidence.sum(axis=1) / pop.sum(axis=1)  # (reps, R)
    mean, se = attack.mean(axis=0), attack.std(axis=0, ddof=1) / np.sqrt(20)
    half_width = 2.861 * se  # t(0.995, 19)
    assert np.all(np.abs(mean - attack_ode) <= half_width + 1e-6), (mean, attack_ode, half_width)
    assert np.all(half_width < 1e-3)  # the interval is tight: this checks something
    cases_ode = ode.cases.sum(axis=1)[0]
    cases = stoch.cases.sum(axis=1)
    np.testing.assert_allclose(cases.mean(axis=0), cases_ode, rtol=2e-3)


def test_with_identity_mobility_regions_are_independent() -> None:
    pop = np.array([[50_000.0, 20_000.0], [50_000.0, 20_000.0], [10_000.0, 5_000.0]])
    geo = Geography(regions=("a", "b", "c"), age_groups=("y", "o"), population=pop)
    cm = ContactMatrices(
        settings=("all",), age_groups=("y", "o"), matrices=np.array([[[8.0, 2.0], [2.0, 4.0]]])
    )
    params = EpidemicParameters(r0=3.0)
    engines: tuple[Literal["stochastic", "ode"], ...] = ("stochastic", "ode")
    for engine in engines:
        res = simulate_epidemic(
            geo,
            cm,
            params,
            days=100,
            replicates=3,
            engine=engine,
            mobility=np.eye(3),
            initial_infected={"a": 20.0, "c": 5.0},
        )
        assert res.incidence[:, :, 1].sum() == 0
        assert np.all(res.incidence[:, :, 0].sum(axis=1) > 10_000)
