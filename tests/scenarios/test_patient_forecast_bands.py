"""The patient twin's forecast bands widen with lead time (issue 14).

Before model error the API's 90 % band narrowed from 74 to 37 mg/dL over 4 h without
readings, and from 5.5 to 0.1 mg/dL after readings; these tests pin the repair.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.scenarios import patient_session
from healthtwin.scenarios.forecast_noise import (
    GlucoseModelError,
    discrepancy_log_sd,
    forecast_quantiles,
)
from healthtwin.scenarios.patient_session import GlucoseReading, PatientTwinSession


def _widths(forecast: dict[str, object]) -> np.ndarray:
    quantiles = forecast["quantiles"]
    assert isinstance(quantiles, dict)
    high: np.ndarray = np.asarray(quantiles["0.95"], dtype=np.float64)
    return high - np.asarray(quantiles["0.05"], dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1])
def test_band_widens_with_lead_time_without_readings(seed: int) -> None:
    twin = PatientTwinSession.create("fresh", members=32, seed=seed)
    widths = _widths(twin.forecast(240.0, 5.0))
    assert np.all(np.diff(widths) >= 0), widths
    assert widths[-1] > widths[0] * 1.2


def test_band_widens_with_lead_time_after_readings() -> None:
    twin = PatientTwinSession.create("fed", members=32, seed=3)
    twin.assimilate([GlucoseReading(5.0 * i, 140.0 + 2.0 * i) for i in range(1, 13)])
    widths = _widths(twin.forecast(240.0, 5.0))
    assert np.all(np.diff(widths) >= 0), widths
    # The readings pin the present; the future 30 min on is several times less certain.
    assert widths[6] > 3.0 * widths[0]


def test_band_widens_after_a_logged_meal() -> None:
    twin = PatientTwinSession.create("meal", members=32, seed=4)
    twin.assimilate([GlucoseReading(5.0 * i, 120.0) for i in range(1, 7)])
    twin.apply_plan(30.0, 60.0, 6.0, "test")
    fc = twin.forecast(240.0, 10.0)
    # The model error is multiplicative: in mg/dL a band around falling glucose (after
    # the meal's peak) may narrow a little; its relative width (in log glucose) may not.
    quantiles = fc["quantiles"]
    log_widths = np.log(quantiles["0.95"]) - np.log(quantiles["0.05"])
    assert np.all(np.diff(log_widths) >= 0), log_widths
    widths = _widths(fc)
    assert widths[12] > 4.0 * widths[0]


def test_what_if_bands_widen_too() -> None:
    twin = PatientTwinSession.create("plans", members=16, seed=5)
    out = twin.what_if({"meal": (50.0, 5.0)}, 180.0, 10.0)["plans"]["meal"]
    widths = np.asarray(out["quantiles"]["0.95"]) - np.asarray(out["quantiles"]["0.05"])
    assert widths[-1] > widths[0]


def test_quantiles_of_a_point_ensemble_are_log_normal() -> None:
    error = GlucoseModelError(0.02, 200.0)
    lead = np.array([0.0, 15.0, 90.0])
    q = forecast_quantiles(np.full((4, 3), 150.0), lead, (0.05, 0.5, 0.95), error)
    sd = discrepancy_log_sd(lead, error)
    z = np.array([-1.6448536269514722, 0.0, 1.6448536269514722])[:, None]
    expected = 150.0 * np.exp(-0.5 * sd**2 + z * sd)
    np.testing.assert_allclose(q, expected, rtol=1e-9)


def test_mixture_quantiles_solve_the_mixture_cdf() -> None:
    rng = np.random.default_rng(0)
    members = rng.lognormal(np.log(130.0), 0.2, size=(24, 2))
    lead = np.array([30.0, 120.0])
    error = GlucoseModelError()
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    q = forecast_quantiles(members, lead, levels, error)
    sd = discrepancy_log_sd(lead, error)
    for k in range(2):
        mu = np.log(members[:, k]) - 0.5 * sd[k] ** 2
        cdf = ndtr((np.log(q[:, k])[:, None] - mu[None, :]) / sd[k]).mean(axis=1)
        np.testing.assert_allclose(cdf, levels, atol=1e-9)


def test_without_model_error_the_quantiles_are_the_ensembles() -> None:
    rng = np.random.default_rng(1)
    members = rng.normal(120.0, 15.0, size=(16, 3))
    q = forecast_quantiles(members, np.array([0.0, 30.0, 60.0]), (0.1, 0.9), GlucoseModelError(0))
    np.testing.assert_allclose(q, np.quantile(members, (0.1, 0.9), axis=0))


def test_discrepancy_grows_then_levels_off() -> None:
    error = GlucoseModelError(0.025, 360.0)
    sd = discrepancy_log_sd(np.array([0.0, 60.0, 600.0, 6000.0, 60000.0]), error)
    assert sd[0] == 0.0
    assert np.all(np.diff(sd) > 0)
    assert sd[-1] == pytest.approx(0.025 * np.sqrt(180.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"log_sd_per_sqrt_min": -0.1}, "log_sd_per_sqrt_min"),
        ({"log_sd_per_sqrt_min": float("nan")}, "log_sd_per_sqrt_min"),
        ({"correlation_min": 0.0}, "correlation_min"),
    ],
)
def test_model_error_rejects_bad_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        GlucoseModelError(**kwargs)


def test_shapes_are_checked() -> None:
    with pytest.raises(ShapeError, match="lead times"):
        forecast_quantiles(np.ones((4, 3)), np.zeros(2), (0.5,), GlucoseModelError())


def test_the_session_forecast_uses_its_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    twin = PatientTwinSession.create("switch", members=8, seed=6)
    with_error = _widths(twin.forecast(60.0, 30.0))
    monkeypatch.setattr(patient_session, "MODEL_ERROR", GlucoseModelError(0.0))
    bare = _widths(twin.forecast(60.0, 30.0))
    low, high = twin.twin.forecast(60.0, dt_out=30.0).quantiles("glucose_mg_dl", (0.05, 0.95))
    np.testing.assert_allclose(bare, high - low)
    assert with_error[0] == pytest.approx(bare[0])
    assert np.all(with_error[1:] > bare[1:])
