"""Invariants of the epidemic engines over random small inputs (Hypothesis).

People are conserved in every region of residence and replicate, every day (deaths
included), and no compartment goes negative, whatever the parameters, mobility,
controls, doses and step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.population.chain_binomial import ChainBinomial, replicate_generators
from healthtwin.population.compartments import D
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import initial_state, seed_array, simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.force_of_infection import Mixing
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import ContactMatrices
from healthtwin.population.ode import EpidemicOde

FAST = settings(max_examples=25, deadline=None)
fraction = st.floats(0.0, 1.0)


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    n_regions = draw(st.integers(1, 3))
    n_ages = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pop = rng.integers(0, 400, size=(n_regions, n_ages)).astype(float)
    travel = rng.uniform(0, 1, (n_regions, n_regions)) * draw(st.floats(0.0, 0.5))
    np.fill_diagonal(travel, 0.0)
    mobility = travel / max(1.0, travel.sum(axis=1).max())
    mobility += np.diag(1.0 - mobility.sum(axis=1))
    ages = tuple(f"a{i}" for i in range(n_ages))
    params = EpidemicParameters(
        beta=draw(st.floats(0.0, 2.0)),
        latent_period_days=draw(st.floats(0.3, 8.0)),
        infectious_period_days=draw(st.floats(0.3, 8.0)),
        ward_stay_days=draw(st.floats(0.3, 8.0)),
        icu_stay_days=draw(st.floats(0.3, 8.0)),
        relative_infectiousness_asymptomatic=draw(fraction),
        symptomatic_fraction=rng.uniform(0, 1, n_ages),
        hospitalised_fraction=rng.uniform(0, 1, n_ages),
        icu_fraction=draw(fraction),
        ward_death_fraction=draw(fraction),
        icu_death_fraction=rng.uniform(0, 1, n_ages),
        ve_infection=draw(fraction),
        ve_disease=draw(fraction),
        immunity_waning_per_day=draw(st.floats(0.0, 0.5)),
        vaccine_waning_per_day=draw(st.floats(0.0, 0.5)),
    )
    return {
        "geo": Geography(
            regions=tuple(f"r{i}" for i in range(n_regions)), age_groups=ages, population=pop
        ),
        "contacts": ContactMatrices(
            settings=("home", "other"),
            age_groups=ages,
            matrices=rng.uniform(0, 5, (2, n_ages, n_ages)),
        ),
        "params": params,
        "mobility": mobility,
        "seeds": np.floor(pop * rng.uniform(0, 0.3, pop.shape)),
        "rng": rng,
        "steps": draw(st.integers(1, 3)),
        "days": draw(st.integers(1, 12)),
    }


def random_controls(
    rng: np.random.Generator, reps: int, n_regions: int, n_ages: int
) -> DayControls:
    return DayControls(
        contact_scale=rng.uniform(0, 1.5, (reps, n_regions, 2)),
        mobility_scale=rng.uniform(0, 3, (reps, n_regions)),
        isolation=rng.uniform(0, 1, (reps, n_regions)),
        vaccine_doses=rng.uniform(0, 100, (reps, n_regions, n_ages)),
    )


@FAST
@given(problems())
def test_chain_binomial_conserves_people_every_day(problem: dict[str, Any]) -> None:
    geo, contacts, params = problem["geo"], problem["contacts"], problem["params"]
    rng, reps = problem["rng"], 3
    rates = params.rates(contacts.total())
    mixing = Mixing.build(
        contacts.matrices, problem["mobility"], beta=rates.beta, susceptibility=rates.susceptibility
    )
    engine = ChainBinomial(rates, mixing, replicate_generators(1, range(reps)), problem["steps"])
    state = initial_state(geo, problem["seeds"], reps, integer=True)
    residents = state.sum(axis=(1, 3))
    for _ in range(problem["days"]):
        controls = random_controls(rng, reps, geo.n_regions, geo.n_ages)
        state, totals = engine.run_day(state, controls)
        assert state.dtype == np.int64
        assert state.min() >= 0
        np.testing.assert_array_equal(state.sum(axis=(1, 3)), residents)
        assert all(v.min() >= 0 for v in totals.values())


@FAST
@given(problems())
def test_ode_conserves_people_and_stays_non_negative(problem: dict[str, Any]) -> None:
    geo, contacts, params = problem["geo"], problem["contacts"], problem["params"]
    rng = problem["rng"]
    rates = params.rates(contacts.total())
    mixing = Mixing.build(
        contacts.matrices, problem["mobility"], beta=rates.beta, susceptibility=rates.susceptibility
    )
    engine = EpidemicOde(rates, mixing)
    state = initial_state(geo, problem["seeds"], 2, integer=False)
    residents = state.sum(axis=(1, 3))
    for _ in range(min(problem["days"], 4)):
        state, totals = engine.run_day(state, random_controls(rng, 2, geo.n_regions, geo.n_ages))
        assert state.min() >= 0
        np.testing.assert_allclose(state.sum(axis=(1, 3)), residents, rtol=1e-9, atol=1e-6)
        assert all(v.min() >= -1e-6 for v in totals.values())


@FAST
@given(problems())
def test_simulate_epidemic_alive_plus_dead_is_the_population(problem: dict[str, Any]) -> None:
    geo = problem["geo"]
    alive: list[np.ndarray[Any, Any]] = []

    def watch(obs: Observed) -> None:
        alive.append(obs.population.copy())

    res = simulate_epidemic(
        geo,
        problem["contacts"],
        problem["params"],
        days=problem["days"],
        replicates=2,
        mobility=problem["mobility"],
        initial_infected=seed_array(geo, problem["seeds"], integer=True),
        controller=watch,
        steps_per_day=problem["steps"],
    )
    dead = np.cumsum(res.deaths, axis=1)  # (reps, days, R)
    for day in range(problem["days"]):
        np.testing.assert_array_equal(
            alive[day + 1] + dead[:, day], [geo.population.sum(axis=1)] * 2
        )
    assert res.final_state.min() >= 0
    np.testing.assert_array_equal(res.final_state[:, D].sum(axis=2), dead[:, -1])
    for name in ("incidence", "cases", "admissions", "icu_occupancy", "deaths"):
        assert res.get(name).min() >= 0
