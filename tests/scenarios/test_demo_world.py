"""The demo world: reproducible CGM with a meal response, the demo hospital and forecast."""

from __future__ import annotations

import numpy as np

from healthtwin.scenarios.demo_world import (
    DEMO_FORECAST,
    DEMO_HOSPITAL_ID,
    demo_hospital_twin,
    simulated_cgm,
)
from healthtwin.scenarios.hospital_forecast import check_forecast_cost


def test_cgm_is_five_minutely_reproducible_and_rises_after_the_meal() -> None:
    t_min, glucose = simulated_cgm("adult#001", hours=2.0, seed=3)
    np.testing.assert_array_equal(t_min, np.arange(5.0, 125.0, 5.0))
    assert np.all((glucose >= 40.0) & (glucose <= 400.0))
    np.testing.assert_array_equal(glucose, simulated_cgm("adult#001", hours=2.0, seed=3)[1])
    assert not np.array_equal(glucose, simulated_cgm("adult#001", hours=2.0, seed=4)[1])
    # A 50 g meal at 30 min: the second hour is well above the fasting first readings.
    before, after = glucose[t_min <= 30].mean(), glucose[(t_min >= 60) & (t_min <= 120)].mean()
    assert after > before + 20.0
    no_meal = simulated_cgm("adult#001", hours=2.0, meal_g=0.0, seed=3)[1]
    assert no_meal[-6:].mean() < glucose[-6:].mean() - 20.0


def test_the_demo_hospital_and_its_forecast_fit_the_limits() -> None:
    twin = demo_hospital_twin()
    assert twin.hospital_id == DEMO_HOSPITAL_ID
    assert {u: len(h) for u, h in twin.census.items()} == {"ed": 6, "ward": 58, "icu": 8}
    check_forecast_cost(DEMO_FORECAST)
    assert (DEMO_FORECAST.days, DEMO_FORECAST.replications, DEMO_FORECAST.seed) == (14, 20, 5)
