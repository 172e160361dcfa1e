"""Tests of ensemble forecasts: quantiles, intervals and calibration."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.core.forecast import DEFAULT_QUANTILES, Forecast
from healthtwin.core.protocols import Channel
from healthtwin.errors import InvalidInputError, ShapeError, UnknownModelError

CHANNELS = (Channel("glucose_mg_dl", "mg/dL"), Channel("insulin_pmol_l", "pmol/L"))
T = np.arange(0.0, 65.0, 5.0)  # 13 grid times
MU = 100.0 + 2.0 * T  # glucose mean per time
SD = 5.0 + 0.5 * T  # spread grows with lead time


def _forecast(n: int = 4000, seed: int = 0) -> Forecast:
    rng = np.random.default_rng(seed)
    glucose = MU + SD * rng.standard_normal((n, T.size))
    insulin = rng.lognormal(3.0, 0.3, (n, T.size))
    return Forecast(T.copy(), np.stack([glucose, insulin], axis=2), CHANNELS, "min", "plan-a")


FC = _forecast()


def test_channels_units_and_member_count() -> None:
    assert FC.n_members == 4000
    assert FC.names == ("glucose_mg_dl", "insulin_pmol_l")
    assert FC.unit("insulin_pmol_l") == "pmol/L"
    assert FC.channel("glucose_mg_dl").shape == (4000, T.size)
    np.testing.assert_array_equal(FC.channel("insulin_pmol_l"), FC.values[:, :, 1])


def test_quantiles_are_monotone_in_level() -> None:
    levels = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    for name in FC.names:
        q = FC.quantiles(name, levels)
        assert q.shape == (len(levels), T.size)
        assert np.all(np.diff(q, axis=0) >= 0)
        assert np.all(np.diff(q, axis=0)[1:-1] > 0)


def test_quantiles_default_levels_and_extremes() -> None:
    q = FC.quantiles("glucose_mg_dl")
    assert q.shape == (len(DEFAULT_QUANTILES), T.size)
    ends = FC.quantiles("glucose_mg_dl", [0.0, 1.0])
    g = FC.channel("glucose_mg_dl")
    np.testing.assert_array_equal(ends[0], g.min(axis=0))
    np.testing.assert_array_equal(ends[1], g.max(axis=0))


def test_quantiles_estimate_the_ensemble_distribution() -> None:
    q = FC.quantiles("glucose_mg_dl", [0.5, 0.8413447460685429])  # median, mean + 1 sd
    se = 1.2533 * SD / np.sqrt(FC.n_members)  # standard error of a sample median
    assert np.all(np.abs(q[0] - MU) < 5 * se)
    np.testing.assert_allclose(q[1] - q[0], SD, rtol=0.1)
    np.testing.assert_allclose(FC.mean("glucose_mg_dl"), MU, atol=float(np.max(5 * SD / 63)))


def test_interval_contains_the_median_and_widens_with_level() -> None:
    median = FC.quantiles("glucose_mg_dl", [0.5])[0]
    lo50, hi50 = FC.interval("glucose_mg_dl", 0.5)
    lo90, hi90 = FC.interval("glucose_mg_dl", 0.9)
    assert np.all((lo90 <= median) & (median <= hi90))
    assert np.all((lo50 <= median) & (median <= hi50))
    assert np.all(lo90 < lo50)
    assert np.all(hi50 < hi90)
    # the 90 % interval of a normal is mean +- 1.645 sd
    np.testing.assert_allclose((hi90 - lo90) / 2, 1.6449 * SD, rtol=0.08)


def test_interval_is_the_central_quantile_pair() -> None:
    lo, hi = FC.interval("insulin_pmol_l", 0.8)
    q = FC.quantiles("insulin_pmol_l", [0.1, 0.9])
    np.testing.assert_allclose(lo, q[0], rtol=1e-12)
    np.testing.assert_allclose(hi, q[1], rtol=1e-12)


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9])
def test_coverage_of_draws_from_the_same_distribution_is_near_nominal(level: float) -> None:
    rng = np.random.default_rng(123)
    m = 3000
    idx = rng.integers(0, T.size, m)
    t_obs = T[idx] + rng.uniform(-2.4, 2.4, m)  # nearest grid time is T[idx]
    y_obs = MU[idx] + SD[idx] * rng.standard_normal(m)
    cover = FC.coverage("glucose_mg_dl", t_obs, y_obs, level)
    # binomial sd of the empirical fraction is <= 0.0092 for m = 3000
    assert abs(cover - level) < 0.035


def test_coverage_detects_an_overconfident_forecast() -> None:
    rng = np.random.default_rng(9)
    m = 2000
    idx = rng.integers(0, T.size, m)
    y_obs = MU[idx] + 3.0 * SD[idx] * rng.standard_normal(m)  # three times the spread
    cover = FC.coverage("glucose_mg_dl", T[idx], y_obs, 0.9)
    # P(|Z| < 1.645 / 3) = 0.417
    assert abs(cover - 0.417) < 0.05


def test_coverage_matches_observations_to_the_nearest_grid_time() -> None:
    values = np.zeros((3, 3, 1))
    values[:, 1, 0] = [9.0, 10.0, 11.0]
    values[:, 2, 0] = [99.0, 100.0, 101.0]
    fc = Forecast(np.array([0.0, 10.0, 20.0]), values, CHANNELS[:1], "min")
    assert fc.coverage("glucose_mg_dl", np.array([14.0]), np.array([10.0])) == 1.0
    assert fc.coverage("glucose_mg_dl", np.array([16.0]), np.array([10.0])) == 0.0
    assert fc.coverage("glucose_mg_dl", np.array([6.0, 19.0]), np.array([10.0, 0.0])) == 0.5


def test_unknown_channel_is_an_unknown_model_error_listing_channels() -> None:
    with pytest.raises(UnknownModelError) as info:
        FC.channel("glucose")
    message = str(info.value)
    assert message == (
        "no output channel 'glucose'; this forecast has ['glucose_mg_dl', 'insulin_pmol_l']"
    )
    assert isinstance(info.value, KeyError)
    for call in (FC.quantiles, FC.mean, FC.interval, FC.unit):
        with pytest.raises(UnknownModelError, match="glucose_mg_dl"):
            call("nope")


@pytest.mark.parametrize("levels", [[-0.01], [0.5, 1.01], [2.0]])
def test_quantile_levels_outside_zero_one_are_rejected(levels: list[float]) -> None:
    with pytest.raises(InvalidInputError, match=r"levels must be in \[0, 1\]"):
        FC.quantiles("glucose_mg_dl", levels)


def test_nan_quantile_level_is_an_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        FC.quantiles("glucose_mg_dl", [0.5, float("nan")])


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_interval_level_must_be_strictly_inside_zero_one(level: float) -> None:
    with pytest.raises(InvalidInputError, match=r"level must be in \(0, 1\)"):
        FC.interval("glucose_mg_dl", level)
    with pytest.raises(InvalidInputError):
        FC.coverage("glucose_mg_dl", T, MU, level)


def test_coverage_rejects_mismatched_or_empty_observations() -> None:
    with pytest.raises(ShapeError):
        FC.coverage("glucose_mg_dl", T, MU[:-1])
    with pytest.raises(ShapeError):
        FC.coverage("glucose_mg_dl", np.array([]), np.array([]))
    with pytest.raises(ShapeError):
        FC.coverage("glucose_mg_dl", T[None, :], MU[None, :])


def test_constructor_checks_shapes() -> None:
    with pytest.raises(ShapeError, match="values must be"):
        Forecast(T.copy(), np.zeros((3, T.size)), CHANNELS, "min")
    with pytest.raises(ShapeError, match="values must be"):
        Forecast(T.copy(), np.zeros((3, T.size + 1, 2)), CHANNELS, "min")
    with pytest.raises(ShapeError, match="channels"):
        Forecast(T.copy(), np.zeros((3, T.size, 3)), CHANNELS, "min")


def test_forecast_arrays_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        FC.values[0, 0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        FC.t[0] = 1.0
    assert FC.plan == "plan-a"
    assert FC.time_unit == "min"
