"""Regions -> nation: quantiles of sums; nation -> region -> hospitals: capacities conserved."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.coupling.nation import aggregate, capacities_to_hospitals, plan_capacity
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError


def test_national_totals_are_sums_within_replicates() -> None:
    x = np.random.default_rng(0).poisson(5.0, size=(50, 10, 4)).astype(float)
    series = aggregate(x)
    np.testing.assert_allclose(series.totals, x.sum(axis=2))
    np.testing.assert_allclose(
        series.quantiles, np.quantile(x.sum(axis=2), (0.05, 0.5, 0.95), axis=0)
    )
    assert series.cumulative().shape == (50,)


def test_quantiles_of_sums_are_narrower_than_sums_of_quantiles() -> None:
    # Independent regions: the 90 % band of the total is narrower than the summed bands.
    x = np.random.default_rng(1).poisson(20.0, size=(400, 1, 10)).astype(float)
    series = aggregate(x)
    summed = np.quantile(x, (0.05, 0.95), axis=0).sum(axis=2)[:, 0]
    width_total = series.quantiles[2, 0] - series.quantiles[0, 0]
    assert width_total < 0.5 * (summed[1] - summed[0])


def test_aggregate_rejects_bad_input() -> None:
    with pytest.raises(ShapeError):
        aggregate(np.ones((2, 3)))
    with pytest.raises(InvalidParameterError):
        aggregate(np.ones((2, 3, 1)), levels=(1.5,))


def test_allocation_pushed_to_hospitals_keeps_every_unit() -> None:
    demand = np.random.default_rng(2).poisson([12.0, 4.0, 8.0], size=(30, 20, 3)).astype(float)
    plan = plan_capacity(demand, 30)
    assert plan.capacity.sum() == 30
    where = np.array([0, 0, 1, 2, 2, 2])
    beds = np.array([10, 5, 3, 1, 1, 2])
    per_hospital = capacities_to_hospitals(plan.capacity, where, beds)
    assert per_hospital.sum() == 30
    for r in range(3):
        assert per_hospital[where == r].sum() == plan.capacity[r]
    with pytest.raises(InvalidInputError, match="no hospital"):
        capacities_to_hospitals(np.array([1, 2]), np.array([0]), np.array([1]))
    with pytest.raises(InvalidParameterError):
        plan_capacity(demand, -1)
