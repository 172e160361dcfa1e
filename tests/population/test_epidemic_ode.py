"""The deterministic engine: rates, conservation, controls, agreement in structure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError
from healthtwin.population.compartments import COMPARTMENTS, I_A, I_S, E, R, S
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.force_of_infection import Mixing
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import ContactMatrices
from healthtwin.population.ode import EpidemicOde

AGES = ("young", "old")
POP = np.array([[60_000.0, 40_000.0], [30_000.0, 20_000.0]])
MOBILITY = np.array([[0.85, 0.15], [0.1, 0.9]])


def geography() -> Geography:
    return Geography(regions=("east", "west"), age_groups=AGES, population=POP)


def contacts() -> ContactMatrices:
    return ContactMatrices(
        settings=("home", "school"),
        age_groups=AGES,
        matrices=np.array([[[3.0, 1.0], [1.0, 2.0]], [[8.0, 0.5], [0.5, 0.2]]]),
    )


def run(params: EpidemicParameters | None = None, **kwargs: Any) -> Any:
    base: dict[str, Any] = {
        "days": 120,
        "replicates": 2,
        "engine": "ode",
        "mobility": MOBILITY,
        "initial_infected": {"east": 50},
    }
    base.update(kwargs)
    return simulate_epidemic(geography(), contacts(), params or EpidemicParameters(r0=2.0), **base)


def controls(reps: int, **changes: Any) -> DayControls:
    c = DayControls.none(reps=reps, regions=2, settings=2, ages=2)
    fields = {
        "contact_scale": c.contact_scale,
        "mobility_scale": c.mobility_scale,
        "isolation": c.isolation,
        "vaccine_doses": c.vaccine_doses,
    }
    fields.update(changes)
    return DayControls(**fields)


def test_progression_follows_the_exponential_rates() -> None:
    params = EpidemicParameters(
        beta=0.0, latent_period_days=2.0, symptomatic_fraction=0.25, hospitalised_fraction=0.0
    )
    rates = params.rates(np.ones((1, 1)))
    mix = Mixing.build(np.ones((1, 1, 1)), np.eye(1), beta=0.0, susceptibility=np.ones(1))
    x = np.zeros((1, len(COMPARTMENTS), 1, 1))
    x[0, E] = 1000.0
    ode = EpidemicOde(rates, mix, rtol=1e-10, atol=1e-10)
    new, totals = ode.run_day(x, DayControls.none(reps=1, regions=1, settings=1, ages=1))
    assert new[0, E, 0, 0] == pytest.approx(1000.0 * np.exp(-0.5), rel=1e-8)
    left = 1000.0 - new[0, E, 0, 0]
    # E -> I -> R with rates 0.5 and 0.2: I(1) from the two-stage solution.
    infected = 1000.0 * 0.5 / (0.5 - 0.2) * (np.exp(-0.2) - np.exp(-0.5))
    assert new[0, I_S, 0, 0] + new[0, I_A, 0, 0] == pytest.approx(infected, rel=1e-8)
    assert new[0, I_S, 0, 0] / new[0, I_A, 0, 0] == pytest.approx(1 / 3)
    assert totals["cases"][0, 0, 0] == pytest.approx(0.25 * left, rel=1e-8)
    assert new[0, R, 0, 0] == pytest.approx(1000.0 - new[0, E, 0, 0] - infected, rel=1e-8)


def test_people_are_conserved_and_never_negative() -> None:
    res = run(EpidemicParameters(r0=3.0, hospitalised_fraction=0.3, immunity_waning_per_day=0.01))
    final = res.final_state
    np.testing.assert_allclose(final.sum(axis=(1, 3)), [POP.sum(axis=1)] * 2, rtol=1e-10)
    assert final.min() >= 0
    dead = final[:, COMPARTMENTS.index("D")].sum(axis=2)
    np.testing.assert_allclose(dead, res.deaths.sum(axis=1), rtol=1e-8)
    assert res.deaths.sum() > 0


def test_replicates_are_identical_without_a_controller() -> None:
    res = run(replicates=3)
    np.testing.assert_array_equal(res.incidence[0], res.incidence[2])
    assert res.engine == "ode"


def test_controls_act_per_replicate() -> None:
    def half_contacts_in_replicate_1(obs: Observed) -> DayControls:
        scale = np.ones((2, 2, 2))
        scale[1] = 0.5
        return controls(2, contact_scale=scale)

    res = run(controller=half_contacts_in_replicate_1, days=60)
    base, reduced = res.national("incidence").sum(axis=1)
    assert reduced < 0.5 * base


def test_isolation_and_no_asymptomatic_spread_stop_the_epidemic() -> None:
    params = EpidemicParameters(r0=2.0, relative_infectiousness_asymptomatic=0.0)
    res = run(params, controller=lambda obs: controls(2, isolation=np.ones((2, 2))), days=40)
    assert res.incidence.sum() == pytest.approx(0.0, abs=1e-9)


def test_travel_ban_keeps_the_other_region_free() -> None:
    res = run(controller=lambda obs: controls(2, mobility_scale=np.zeros((2, 2))), days=60)
    assert res.incidence[:, :, 1].sum() == pytest.approx(0.0, abs=1e-9)
    assert res.incidence[:, :, 0].sum() > 1_000
    free = run(days=60)
    assert free.incidence[:, :, 1].sum() > 1_000


def test_vaccination_protects_and_counts_doses() -> None:
    doses = np.full((2, 2, 2), 2_000.0)
    vaccinated = run(controller=lambda obs: controls(2, vaccine_doses=doses), days=60)
    baseline = run(days=60)
    assert vaccinated.incidence.sum() < 0.8 * baseline.incidence.sum()
    assert vaccinated.vaccinated[0, 0, 0] == pytest.approx(4_000.0)
    assert np.all(np.diff(vaccinated.vaccinated, axis=1) >= -1e-9)


def test_waning_brings_people_back_to_susceptible() -> None:
    lifelong = run(days=200)
    waning = run(EpidemicParameters(r0=2.0, immunity_waning_per_day=0.02), days=200)
    assert waning.final_state[0, S].sum() > lifelong.final_state[0, S].sum() + 1_000


def test_tolerances_are_validated() -> None:
    rates = EpidemicParameters(r0=2.0).rates(np.ones((1, 1)))
    mix = Mixing.build(np.ones((1, 1, 1)), np.eye(1), beta=0.1, susceptibility=np.ones(1))
    with pytest.raises(InvalidParameterError, match="rtol must be > 0"):
        EpidemicOde(rates, mix, rtol=0.0)
