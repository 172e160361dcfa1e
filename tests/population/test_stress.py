"""Capacity stress tests: breach days, unmet demand, overflow deaths, shocks and absence."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.stress import (
    StaffAbsence,
    SupplyShock,
    capacity_timeline,
    stress_test,
)

RISKS = {"p_death_with_care": 0.3, "p_death_without_care": 0.9, "mean_stay_days": 10.0}


def test_breach_day_unmet_and_deaths_by_hand() -> None:
    demand = np.array([[[1, 0], [4, 0], [6, 1], [3, 0]], [[0, 0], [0, 0], [0, 0], [0, 0]]], float)
    report = stress_test(demand, np.array([3.0, 5.0]), regions=("a", "b"), **RISKS)
    assert report.breach_day.tolist() == [[1.0, np.inf], [np.inf, np.inf]]
    assert report.unmet.tolist() == [[4.0, 0.0], [0.0, 0.0]]
    # 4 unmet patient-days x (0.9 - 0.3) / 10 days.
    assert report.overflow_deaths[0, 0] == pytest.approx(0.24)
    assert report.breach_probability().tolist() == [0.5, 0.0]
    assert report.breach_probability(within_days=1).tolist() == [0.0, 0.0]
    summary = report.summary()
    assert summary["probability_any_breach"] == 0.5
    assert summary["overflow_deaths_mean"] == pytest.approx(0.12)


def test_breach_day_quantiles_over_paths() -> None:
    rng = np.random.default_rng(1)
    # Linear surges with random slopes: breach day = first t with slope * t > 10.
    slopes = rng.uniform(0.5, 2.0, size=200)
    demand = slopes[:, None, None] * np.arange(40.0)[None, :, None]
    report = stress_test(demand, np.array([10.0]), **RISKS)
    expected = np.floor(10.0 / slopes) + 1
    assert report.breach_day[:, 0] == pytest.approx(expected)
    assert report.breach_day_quantiles([0.5])[0, 0] == np.quantile(
        expected, 0.5, method="inverted_cdf"
    )


def test_supply_shocks_compound_and_end() -> None:
    cap = capacity_timeline(
        np.array([100.0, 50.0]),
        paths=2,
        days=10,
        shocks=[
            SupplyShock(start_day=2, duration_days=5, fraction_lost=0.5),
            SupplyShock(start_day=4, duration_days=20, fraction_lost=0.2, regions=(1,)),
        ],
    )
    assert cap.shape == (2, 10, 2)
    assert cap[0, :, 0].tolist() == [100, 100, 50, 50, 50, 50, 50, 100, 100, 100]
    assert cap[1, :, 1].tolist() == pytest.approx([50, 50, 25, 25, 20, 20, 20, 40, 40, 40])


def test_staff_absence_follows_recent_cases() -> None:
    cases = np.zeros((1, 6, 1))
    cases[0, 1, 0] = 100.0  # 10 % of 1,000 people fall ill on day 1
    cap = capacity_timeline(
        np.array([20.0]),
        paths=1,
        days=6,
        absence=StaffAbsence(baseline=0.05, absence_days=3, staff_absence_multiplier=2.0),
        cases=cases,
        population=np.array([1000.0]),
    )
    # Absent: 5 % always, plus 2 x 10 % for the three days after the cases.
    assert cap[0, :, 0].tolist() == pytest.approx([19, 15, 15, 15, 19, 19])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: stress_test(np.ones((2, 3)), np.ones(1), **RISKS), ShapeError, "paths, days"),
        (lambda: stress_test(np.ones((1, 3, 2)), np.ones(3), **RISKS), ShapeError, "does not fit"),
        (
            lambda: stress_test(
                np.ones((1, 2, 1)),
                1.0,
                p_death_with_care=0.5,
                p_death_without_care=0.2,
                mean_stay_days=5,
            ),
            InvalidParameterError,
            "care does not raise",
        ),
        (
            lambda: SupplyShock(start_day=0, duration_days=0, fraction_lost=0.1),
            InvalidParameterError,
            "duration_days",
        ),
        (lambda: capacity_timeline(np.array([-1.0]), paths=1, days=2), InvalidInputError, "beds"),
        (
            lambda: capacity_timeline(
                np.ones(1), paths=1, days=2, absence=StaffAbsence(), cases=np.ones((1, 2, 1))
            ),
            InvalidInputError,
            "needs the population",
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, error: type, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        call()
