"""The ICU demand forecast a national planner makes from what it has observed."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.icu_forecast import forecast_icu_demand, pooled_growth


def test_growth_is_recovered_with_an_honest_interval() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(-13, 1)
    counts = rng.poisson(40.0 * np.exp(0.07 * t), size=(400, t.size))
    r, sd, dispersion = pooled_growth(counts, prior_sd=10.0)
    # Poisson data: dispersion about 1, and the 95 % interval covers the truth about 95 %.
    assert np.median(dispersion) < 1.3
    covered = np.abs(r - 0.07) <= 1.96 * sd
    assert 0.91 <= covered.mean() <= 0.99  # 400 series: binomial SD about 0.011
    assert abs(np.mean(r) - 0.07) < 0.005


def test_a_region_without_admissions_borrows_the_nations_growth() -> None:
    zeros = np.zeros(14)
    r, sd, _ = pooled_growth(zeros, prior_mean=0.12, prior_sd=0.05)
    assert float(r) == pytest.approx(0.12)
    assert float(sd) == pytest.approx(0.05)
    # A well-observed region keeps its own trend against the same prior.
    big = np.round(500 * np.exp(-0.05 * np.arange(-13, 1)))
    own, _, _ = pooled_growth(big, prior_mean=0.12, prior_sd=0.05)
    assert float(own) == pytest.approx(-0.05, abs=0.005)


def test_paths_conserve_patients_and_follow_the_stay() -> None:
    # No admissions at all: the current ICU patients leave at 1 / stay a day.
    nothing = np.zeros((1, 14, 2))
    occupancy = nothing.copy()
    occupancy[0, -1] = [100.0, 0.0]
    f = forecast_icu_demand(
        nothing,
        nothing,
        occupancy,
        days_ahead=10,
        icu_stay_days=5.0,
        icu_share_prior=0.2,
        paths=2000,
        rng=np.random.default_rng(0),
    )
    expected = 100.0 * np.exp(-np.arange(1, 11) / 5.0)
    mean = f.paths[0, :, :, 0].mean(axis=0)
    np.testing.assert_allclose(mean, expected, rtol=0.03)
    # Arrivals are rare: fourteen days without an admission leave a small level
    # (half an admission over the window, Jeffreys-style), not a certain zero.
    assert (np.diff(f.paths[0, :, :, 0], axis=1) > 0).mean() < 0.02
    assert f.paths[0, :, :, 1].mean() < 0.05
    assert f.icu_share[0] == pytest.approx([0.2, 0.2])


def test_the_icu_share_is_learned_from_what_was_seen() -> None:
    admissions = np.full((1, 14, 1), 50.0)
    icu = np.full((1, 14, 1), 15.0)  # 30 % of admissions reach the ICU
    f = forecast_icu_demand(
        admissions,
        icu,
        np.zeros((1, 14, 1)),
        days_ahead=3,
        icu_stay_days=8.0,
        icu_share_prior=0.1,
        paths=10,
        rng=np.random.default_rng(1),
    )
    # 700 admissions against 20 pseudo-admissions at the prior: close to 0.3.
    assert f.icu_share[0, 0] == pytest.approx((210 + 20 * 0.1 + 0) / 720, rel=0.05)
    assert float(f.growth_per_day[0, 0]) == pytest.approx(0.0, abs=0.01)


def test_the_same_stream_gives_the_same_paths() -> None:
    y = np.random.default_rng(2).poisson(5.0, (2, 20, 3)).astype(float)

    def run(seed: int) -> np.ndarray:
        return forecast_icu_demand(
            y,
            y * 0.2,
            y,
            days_ahead=5,
            icu_stay_days=8.0,
            icu_share_prior=0.2,
            paths=7,
            rng=np.random.default_rng(seed),
        ).paths

    np.testing.assert_array_equal(run(4), run(4))
    assert run(4).shape == (2, 7, 5, 3)


def test_bad_input_is_refused_with_what_was_wrong() -> None:
    y = np.ones((1, 10, 2))
    rng = np.random.default_rng(0)
    kw = {"days_ahead": 5, "icu_stay_days": 8.0, "icu_share_prior": 0.2, "paths": 3, "rng": rng}
    with pytest.raises(ShapeError, match="admissions' shape"):
        forecast_icu_demand(y, np.ones((1, 9, 2)), y, **kw)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="series, days"):
        forecast_icu_demand(np.ones((10, 2)), y, y, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="finite and >= 0"):
        forecast_icu_demand(-y, y, y, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="icu_stay_days"):
        forecast_icu_demand(y, y, y, **{**kw, "icu_stay_days": 0.5})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="days_ahead"):
        forecast_icu_demand(y, y, y, **{**kw, "days_ahead": 0})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="damping"):
        forecast_icu_demand(y, y, y, **{**kw, "damping_per_day": 1.5})  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="window"):
        pooled_growth(np.ones(1))
