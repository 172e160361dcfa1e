"""Gravity and radiation mobility against hand computation, a brute-force loop and invariants.

The radiation reference is a direct transcription of Simini et al. (2012), Nature 484:96,
eq. 1, with the finite-size normalisation of Masucci et al. (2013), PRE 88:022812, written
as a double loop over origin-destination pairs with an inner loop for ``s_ij``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.population.geography import Geography
from healthtwin.population.mobility import (
    gravity_flows,
    gravity_mobility,
    haversine_km,
    radiation_mobility,
)


def _geography(rng: np.random.Generator, n: int, *, grid: bool = False) -> Geography:
    if grid:  # regions sharing grid points: equal distances, ties in the radiation circle
        lat = rng.integers(0, 3, size=n).astype(float)
        lon = rng.integers(0, 3, size=n).astype(float)
    else:
        lat, lon = rng.uniform(-5, 5, size=n), rng.uniform(30, 40, size=n)
    pop = rng.integers(0, 5_000, size=(n, 2)).astype(float)
    return Geography(
        regions=tuple(f"r{i}" for i in range(n)),
        age_groups=("young", "old"),
        population=pop,
        latitude=lat,
        longitude=lon,
    )


def _radiation_brute_force(pop: np.ndarray, dist: np.ndarray, c: float) -> np.ndarray:
    n = pop.size
    total = pop.sum()
    frac = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            s = sum(pop[k] for k in range(n) if k not in (i, j) and dist[i, k] <= dist[i, j])
            m, nj = pop[i], pop[j]
            denominator = (m + s) * (m + nj + s)
            p = m * nj / denominator if denominator > 0 else 0.0
            frac[i, j] = c * p / (1.0 - m / total) if total > m else 0.0
        frac[i, i] = 1.0 - frac[i].sum()
    return frac


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_radiation_matches_a_brute_force_loop(seed: int, grid: bool) -> None:
    rng = np.random.default_rng(seed)
    g = _geography(rng, 18, grid=grid)
    pop = g.region_population()
    dist = haversine_km(g.latitude, g.longitude)
    assert grid == bool((dist + np.eye(dist.shape[0]) == 0).any())
    m = radiation_mobility(g, commuting_fraction=0.2)
    reference = _radiation_brute_force(pop, dist, 0.2)
    np.testing.assert_allclose(m.fraction, reference, rtol=1e-12, atol=1e-15)


def test_radiation_with_ties_and_empty_regions_by_hand() -> None:
    # Four regions on a line at 0, 1, 1 (a tie) and 2 km from the first.
    dist = np.array(
        [[0.0, 1.0, 1.0, 2.0], [1.0, 0.0, 2.0, 1.0], [1.0, 2.0, 0.0, 3.0], [2.0, 1.0, 3.0, 0.0]]
    )
    g = Geography(
        regions=("a", "b", "c", "d"),
        age_groups=("all",),
        population=[[10.0], [20.0], [30.0], [0.0]],
    )
    m = radiation_mobility(g, commuting_fraction=1.0, distances_km=dist)
    norm = 1.0 / (1.0 - 10.0 / 60.0)
    # From a: s_ab = 30 (c is as far as b), s_ac = 20, s_ad = 50, n_d = 0.
    expected_ab = norm * 10 * 20 / ((10 + 30) * (10 + 20 + 30))
    expected_ac = norm * 10 * 30 / ((10 + 20) * (10 + 30 + 20))
    assert m.fraction[0, 1] == pytest.approx(expected_ab, rel=1e-14)
    assert m.fraction[0, 2] == pytest.approx(expected_ac, rel=1e-14)
    assert m.fraction[0, 3] == 0.0
    # The tie keeps the outflow below the commuting fraction; the rest stay home.
    assert m.outflow()[0] < 1.0
    assert m.fraction[0, 0] == pytest.approx(1.0 - expected_ab - expected_ac, rel=1e-14)
    # Nobody lives in d: nobody leaves it.
    assert m.fraction[3].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_gravity_matches_hand_computed_values() -> None:
    dist = np.array([[0.0, 10.0, 20.0], [10.0, 0.0, 15.0], [20.0, 15.0, 0.0]])
    g = Geography(
        regions=("a", "b", "c"), age_groups=("all",), population=[[100.0], [400.0], [900.0]]
    )
    kernel = gravity_flows(
        g.region_population(),
        dist,
        distance_exponent=1.5,
        source_exponent=0.5,
        destination_exponent=0.8,
    )
    assert kernel[0, 1] == pytest.approx(100**0.5 * 400**0.8 / 10**1.5, rel=1e-14)
    assert kernel[2, 1] == pytest.approx(900**0.5 * 400**0.8 / 15**1.5, rel=1e-14)
    assert np.diagonal(kernel).tolist() == [0.0, 0.0, 0.0]
    m = gravity_mobility(
        g,
        commuting_fraction=[0.1, 0.2, 0.3],
        distance_exponent=1.5,
        destination_exponent=0.8,
        distances_km=dist,
    )
    w_ab, w_ac = 400**0.8 / 10**1.5, 900**0.8 / 20**1.5
    assert m.fraction[0, 1] == pytest.approx(0.1 * w_ab / (w_ab + w_ac), rel=1e-14)
    assert m.fraction[0, 2] == pytest.approx(0.1 * w_ac / (w_ab + w_ac), rel=1e-14)
    assert m.fraction[0, 0] == pytest.approx(0.9, rel=1e-14)
    w_ba, w_bc = 100**0.8 / 10**1.5, 900**0.8 / 15**1.5
    assert m.fraction[1, 2] == pytest.approx(0.2 * w_bc / (w_ba + w_bc), rel=1e-14)


def test_gravity_source_exponent_cancels_in_per_origin_shares() -> None:
    g = _geography(np.random.default_rng(7), 12)
    a = gravity_mobility(g, source_exponent=0.3)
    b = gravity_mobility(g, source_exponent=2.0)
    np.testing.assert_allclose(a.fraction, b.fraction, rtol=1e-12)


def test_radiation_world_scale_is_vectorised() -> None:
    # 1,500 regions with a brute-force-free check: exact telescoping of the outflow.
    rng = np.random.default_rng(11)
    g = _geography(rng, 1_500)
    m = radiation_mobility(g, commuting_fraction=0.1)
    alive = g.region_population() > 0
    np.testing.assert_allclose(m.outflow()[alive], 0.1, rtol=1e-9)


regions = st.integers(min_value=2, max_value=12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=regions, c=st.floats(0.0, 1.0))
def test_models_give_stochastic_rows_with_the_commuting_share(seed: int, n: int, c: float) -> None:
    g = _geography(np.random.default_rng(seed), n)
    alive = g.region_population() > 0
    for model in (gravity_mobility, radiation_mobility):
        m = model(g, commuting_fraction=c)
        assert (m.fraction >= 0).all()
        np.testing.assert_allclose(m.fraction.sum(axis=1), 1.0, atol=1e-12)
        leaving = m.outflow()
        # Distinct random distances: no ties, so the radiation outflow telescopes to c.
        others = g.region_population().sum() - g.region_population()
        has_destination = alive & (others > 0)
        np.testing.assert_allclose(leaving[has_destination], c, rtol=1e-9, atol=1e-12)
        assert (leaving[~alive] == 0).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=regions, b=st.floats(0.0, 2.0), g=st.floats(0.5, 3.0))
def test_gravity_kernel_is_symmetric_when_exponents_match(
    seed: int, n: int, b: float, g: float
) -> None:
    geo = _geography(np.random.default_rng(seed), n)
    dist = haversine_km(geo.latitude, geo.longitude)
    kernel = gravity_flows(
        geo.region_population(),
        dist,
        distance_exponent=g,
        source_exponent=b,
        destination_exponent=b,
    )
    np.testing.assert_allclose(kernel, kernel.T, rtol=1e-12)
    assert (kernel >= 0).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 10))
def test_haversine_is_a_metric(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    d = haversine_km(rng.uniform(-90, 90, n), rng.uniform(-180, 180, n))
    np.testing.assert_allclose(d, d.T, rtol=0, atol=1e-9)
    assert (d >= 0).all()
    assert (d <= np.pi * 6371.0088 + 1e-9).all()
    triangle = d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-6
    assert triangle.all()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=regions,
    factor=st.floats(0.0, 1.0),
)
def test_restriction_scales_outflow_and_keeps_rows_stochastic(
    seed: int, n: int, factor: float
) -> None:
    m = radiation_mobility(_geography(np.random.default_rng(seed), n), commuting_fraction=0.3)
    r = m.restricted(factor)
    np.testing.assert_allclose(r.outflow(), factor * m.outflow(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.fraction.sum(axis=1), 1.0, atol=1e-12)
