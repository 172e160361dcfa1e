"""Hospitals -> region: ICU overflow deaths (stress-test rule) and the occupancy trigger."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.coupling.hospital_region import (
    OccupancyTrigger,
    overflow_deaths,
    queue_overflow_deaths,
    to_regions,
)
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population import (
    ContactMatrices,
    EpidemicParameters,
    Geography,
    simulate_epidemic,
)
from healthtwin.population.controls import Observed
from healthtwin.population.stress import stress_test


def test_overflow_deaths_sum_to_the_stress_test_figure() -> None:
    demand = np.random.default_rng(0).poisson(6.0, size=(4, 30, 2)).astype(float)
    beds = np.array([5.0, 8.0])
    risks: dict[str, Any] = {
        "p_death_with_care": 0.3,
        "p_death_without_care": 0.9,
        "mean_stay_days": 8.0,
    }
    daily = overflow_deaths(demand, beds, **risks)
    assert daily.shape == demand.shape
    np.testing.assert_allclose(
        daily.sum(axis=1), stress_test(demand, beds, **risks).overflow_deaths
    )
    # No demand above the beds, no extra deaths.
    assert overflow_deaths(demand, np.full(2, 100.0), **risks).sum() == 0.0


def test_queue_overflow_deaths_apply_the_same_rule_to_people_waiting() -> None:
    demand = np.random.default_rng(1).poisson(6.0, size=(3, 20, 2)).astype(float)
    beds = np.array([5.0, 8.0])
    risks: dict[str, Any] = {
        "p_death_with_care": 0.3,
        "p_death_without_care": 0.9,
        "mean_stay_days": 8.0,
    }
    # Waiting = demand above the beds: the demand-curve rule and the queue rule agree.
    waiting = np.maximum(demand - beds, 0.0)
    np.testing.assert_allclose(
        queue_overflow_deaths(waiting, **risks), overflow_deaths(demand, beds, **risks)
    )
    with pytest.raises(InvalidInputError, match="waiting_days"):
        queue_overflow_deaths(-waiting - 1, **risks)
    with pytest.raises(InvalidParameterError, match="p_death_with_care"):
        queue_overflow_deaths(waiting, p_death_with_care=0.9, p_death_without_care=0.3,
                              mean_stay_days=8.0)  # fmt: skip


def test_to_regions_keeps_every_bed() -> None:
    per_hospital = np.arange(12.0).reshape(2, 2, 3)
    out = to_regions(per_hospital, np.array([1, 0, 1]), 2)
    np.testing.assert_allclose(out.sum(axis=-1), per_hospital.sum(axis=-1))
    np.testing.assert_allclose(out[..., 0], per_hospital[..., 1])
    with pytest.raises(ShapeError):
        to_regions(per_hospital, np.array([0, 1]), 2)


def test_trigger_acts_only_above_the_line() -> None:
    trigger = OccupancyTrigger(
        np.array([10.0, 20.0]), line=0.5, contact_scale=0.4, n_settings=3, n_ages=2
    )
    seen = Observed(
        day=0,
        values={"hospital_occupancy": np.array([[6.0, 6.0], [4.0, 11.0]])},
        population=np.ones((2, 2)),
    )
    controls = trigger(seen)
    assert controls.contact_scale.shape == (2, 2, 3)
    np.testing.assert_allclose(controls.contact_scale[:, :, 0], [[0.4, 1.0], [1.0, 0.4]])
    assert controls.vaccine_doses.shape == (2, 2, 2)
    with pytest.raises(InvalidParameterError):
        OccupancyTrigger(np.ones(2), line=0.5, contact_scale=1.5, n_settings=1, n_ages=1)


def test_trigger_lowers_the_epidemic_through_the_controller_contract() -> None:
    geo = Geography(regions=("a",), age_groups=("all",), population=np.array([[50_000.0]]))
    cm = ContactMatrices(settings=("all",), age_groups=("all",), matrices=np.array([[[10.0]]]))
    params = EpidemicParameters(r0=2.5, hospitalised_fraction=0.1)
    kwargs: dict[str, Any] = {
        "days": 80,
        "replicates": 3,
        "seed": 1,
        "initial_infected": {"a": 20},
    }
    free = simulate_epidemic(geo, cm, params, **kwargs)
    trigger = OccupancyTrigger(
        np.array([20.0]), line=0.5, contact_scale=0.3, n_settings=1, n_ages=1
    )
    cut = simulate_epidemic(geo, cm, params, controller=trigger, **kwargs)
    assert cut.incidence.sum() < 0.8 * free.incidence.sum()
