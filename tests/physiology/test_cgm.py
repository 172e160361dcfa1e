"""Tests of the Breton & Kovatchev (2008) CGM sensor model."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.physiology.cgm import CGM_PRESETS, CGMParams, CGMSensor, cgm_params

# A sensor sampled at the paper's 15-minute lag: one step of the latent has correlation PACF.
PAPER_GRID = CGMParams(sample_time_min=15.0)


def johnson_su(params: CGMParams) -> stats.rv_continuous:
    # eps = xi + lambda * sinh((e - gamma) / delta) with e ~ N(0, 1) inverts to
    # e = gamma + delta * asinh((eps - xi) / lambda), scipy's johnsonsu(a, b, loc, scale)
    # with a = gamma, b = delta, loc = xi, scale = lambda.
    return stats.johnsonsu(
        params.johnson_gamma,
        params.johnson_delta,
        loc=params.johnson_xi,
        scale=params.johnson_lambda,
    )


def lag_correlation(x: np.ndarray, lag: int) -> float:
    """Pooled lag-``lag`` autocorrelation of rows of unit-variance, zero-mean sequences."""
    return float(np.mean(x[:, :-lag] * x[:, lag:]))


def test_same_seed_same_readings_and_different_seed_different_readings() -> None:
    sensor = CGMSensor(cgm_params("dexcom"))
    glucose = np.full((3, 100), 150.0)
    a = sensor.measure(glucose, np.random.default_rng(11))
    b = sensor.measure(glucose, np.random.default_rng(11))
    c = sensor.measure(glucose, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_a_member_keeps_its_noise_whatever_the_ensemble_size() -> None:
    sensor = CGMSensor(cgm_params("guardian-rt"))
    one = sensor.noise(1, 50, np.random.default_rng(5))
    many = sensor.noise(4, 50, np.random.default_rng(5))
    np.testing.assert_array_equal(one[0], many[0])


def test_members_have_independent_noise() -> None:
    sensor = CGMSensor(PAPER_GRID)
    n_members, n_samples = 50, 4000
    latent = sensor.latent(n_members, n_samples, np.random.default_rng(2))
    corr = np.corrcoef(latent)[np.triu_indices(n_members, k=1)]
    # Bartlett: the cross-correlation of two independent AR(1) sequences with coefficient
    # rho has variance (1 + rho**2) / ((1 - rho**2) * T).
    rho = PAPER_GRID.step_correlation
    sd = math.sqrt((1 + rho**2) / ((1 - rho**2) * n_samples))
    assert np.max(np.abs(corr)) < 5 * sd
    assert abs(np.mean(corr)) < 5 * sd / math.sqrt(corr.size)


def test_shapes() -> None:
    sensor = CGMSensor(cgm_params("navigator"))
    rng = np.random.default_rng(0)
    assert sensor.noise(4, 7, rng).shape == (4, 7)
    assert sensor.latent(2, 1, rng).shape == (2, 1)
    assert sensor.measure(np.full((3, 9), 100.0), rng).shape == (3, 9)
    assert sensor.measure(np.full(9, 100.0), rng).shape == (9,)


def test_readings_are_clipped_to_the_device_range() -> None:
    params = cgm_params("dexcom")
    sensor = CGMSensor(params)
    rng = np.random.default_rng(4)
    low = sensor.measure(np.full((20, 200), 40.0), rng)
    high = sensor.measure(np.full((20, 200), 598.0), rng)
    assert low.min() == params.min_mg_dl
    assert high.max() == params.max_mg_dl
    # The noise spreads around 12 mg/dL, so both bounds are hit often, not just once.
    assert np.mean(low == params.min_mg_dl) > 0.1
    assert np.mean(high == params.max_mg_dl) > 0.1


def test_readings_inside_the_range_are_glucose_plus_noise() -> None:
    sensor = CGMSensor(cgm_params("dexcom"))
    glucose = np.linspace(150.0, 250.0, 60).reshape(2, 30)
    readings = sensor.measure(glucose, np.random.default_rng(9))
    noise = sensor.noise(2, 30, np.random.default_rng(9))
    np.testing.assert_allclose(readings, glucose + noise)


def test_lag_one_autocorrelation_of_the_latent_is_the_pacf_on_the_paper_grid() -> None:
    n_members, n_samples = 100, 1000
    latent = CGMSensor(PAPER_GRID).latent(n_members, n_samples, np.random.default_rng(7))
    # The lag-1 sample autocorrelation of an AR(1) has variance about (1 - rho**2) / N.
    n_pairs = n_members * (n_samples - 1)
    tolerance = 5 * math.sqrt((1 - 0.7**2) / n_pairs)
    assert lag_correlation(latent, 1) == pytest.approx(0.7, abs=tolerance)


def test_a_three_minute_sensor_has_the_pacf_at_fifteen_minutes() -> None:
    params = cgm_params("dexcom")
    n_members, n_samples = 100, 2000
    latent = CGMSensor(params).latent(n_members, n_samples, np.random.default_rng(8))
    step = 0.7 ** (3 / 15)
    assert params.step_correlation == pytest.approx(step)
    tolerance = 5 * math.sqrt((1 + step**2) / ((1 - step**2) * n_members * n_samples))
    assert lag_correlation(latent, 1) == pytest.approx(step, abs=tolerance)
    assert lag_correlation(latent, 5) == pytest.approx(0.7, abs=tolerance)


@pytest.mark.parametrize("column", [0, 1, 63])
def test_latent_is_standard_normal_at_every_time(column: int) -> None:
    latent = CGMSensor(PAPER_GRID).latent(20000, 64, np.random.default_rng(column))
    sample = latent[:, column]  # one value per independent member: i.i.d.
    assert stats.kstest(sample, "norm").pvalue > 1e-3
    assert np.var(sample) == pytest.approx(1.0, abs=5 * math.sqrt(2 / sample.size))


@pytest.mark.parametrize("column", [0, 40])
def test_noise_marginal_is_the_fitted_johnson_su(column: int) -> None:
    params = cgm_params("dexcom")
    noise = CGMSensor(params).noise(20000, 41, np.random.default_rng(100 + column))
    sample = noise[:, column]
    distribution = johnson_su(params)
    assert stats.kstest(sample, distribution.cdf).pvalue > 1e-3
    probabilities = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    np.testing.assert_allclose(
        np.quantile(sample, probabilities), distribution.ppf(probabilities), atol=0.6
    )


def test_noise_moments_match_scipy_and_the_paper() -> None:
    params = CGMParams()
    distribution = johnson_su(params)
    assert params.noise_mean_mg_dl == pytest.approx(distribution.mean())
    assert params.noise_sd_mg_dl == pytest.approx(distribution.std())
    # Breton & Kovatchev report a mean sensor error of 0.76 mg/dL.
    assert params.noise_mean_mg_dl == pytest.approx(0.76, abs=0.005)


def test_presets_share_the_paper_noise_and_differ_in_device_settings() -> None:
    assert set(CGM_PRESETS) == {"dexcom", "guardian-rt", "navigator"}
    expected = {"dexcom": (3.0, 39.0, 600.0), "guardian-rt": (5.0, 39.0, 600.0)}
    expected["navigator"] = (1.0, 32.0, 600.0)
    for name, (sample_time, low, high) in expected.items():
        params = cgm_params(name)
        assert (params.sample_time_min, params.min_mg_dl, params.max_mg_dl) == (
            sample_time,
            low,
            high,
        )
        assert (params.pacf, params.johnson_gamma, params.johnson_delta) == (0.7, -0.5444, 1.6898)
        assert (params.johnson_lambda, params.johnson_xi) == (15.9574, -5.47)


def test_unknown_device_lists_the_valid_names() -> None:
    with pytest.raises(
        UnknownModelError, match=r"'libre'.*\['dexcom', 'guardian-rt', 'navigator'\]"
    ):
        cgm_params("libre")
    with pytest.raises(KeyError):
        cgm_params("Dexcom")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"pacf": 1.0}, r"pacf must lie in \[0, 1\), got 1.0"),
        ({"pacf": -0.2}, "pacf must lie"),
        ({"johnson_delta": 0.0}, "johnson_delta must be positive"),
        ({"johnson_lambda": -1.0}, "johnson_lambda must be positive"),
        ({"sample_time_min": 0.0}, "sample_time_min must be positive"),
        ({"pacf_lag_min": -15.0}, "pacf_lag_min must be positive"),
        ({"min_mg_dl": 600.0}, "min_mg_dl < max_mg_dl"),
        ({"min_mg_dl": -1.0}, "0 <= min_mg_dl"),
        ({"johnson_xi": math.nan}, "johnson_xi must be a finite number"),
        ({"max_mg_dl": "600"}, "max_mg_dl must be a number, got str"),
    ],
)
def test_bad_parameters_are_rejected(change: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        replace(CGMParams(), **change)  # type: ignore[arg-type]


def test_bad_measure_input_is_rejected() -> None:
    sensor = CGMSensor(cgm_params("dexcom"))
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        sensor.measure([100.0, np.nan], rng)
    with pytest.raises(InvalidInputError, match=r"got shape \(1, 2, 3\)"):
        sensor.measure(np.ones((1, 2, 3)), rng)
    with pytest.raises(InvalidInputError, match=r"numpy\.random\.Generator"):
        sensor.measure([100.0], np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="n_samples must be a positive integer"):
        sensor.noise(2, 0, rng)
    with pytest.raises(InvalidParameterError, match="CGMParams"):
        CGMSensor("dexcom")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1000.0), min_size=1, max_size=40),
    st.integers(0, 2**32 - 1),
    st.sampled_from(sorted(CGM_PRESETS)),
)
def test_readings_always_lie_in_the_device_range(
    glucose: list[float], seed: int, device: str
) -> None:
    params = cgm_params(device)
    readings = CGMSensor(params).measure(glucose, np.random.default_rng(seed))
    assert readings.shape == (len(glucose),)
    assert np.all((readings >= params.min_mg_dl) & (readings <= params.max_mg_dl))
