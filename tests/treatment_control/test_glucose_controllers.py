"""Glucose controllers: basal-bolus against simglucose, PID-IFB, insulin action, comparisons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from tests.conftest import require

from healthtwin.control.basal_bolus import BasalBolus
from healthtwin.control.comparison import paired_difference
from healthtwin.control.glucose import InsulinDecision, Reading, TherapySettings
from healthtwin.control.insulin_action import insulin_activity, insulin_on_board
from healthtwin.control.pid import PidInsulinFeedback
from healthtwin.control.safety import predicted_low
from healthtwin.coupling.closed_loop import therapy_settings
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.physiology.patients import cohort_names, load_patients


def _settings(n: int = 1) -> TherapySettings:
    return TherapySettings(np.full(n, 0.02), np.full(n, 10.0), np.full(n, 40.0), np.full(n, 57.6))


def test_basal_bolus_matches_simglucose_bb_controller() -> None:
    require("simglucose", "simglucose")
    from simglucose.controller.basal_bolus_ctrller import BBController

    names = list(cohort_names())
    rows = load_patients(names)
    ours = BasalBolus()
    ours.start(therapy_settings(rows), 0.0)
    peer = BBController()
    rng = np.random.default_rng(0)
    for _ in range(3):
        glucose = rng.uniform(60.0, 300.0, len(names))
        carbs = np.where(rng.random(len(names)) < 0.5, rng.uniform(10.0, 90.0, len(names)), 0.0)
        decision = ours.decide(Reading(0.0, glucose, carbs))
        for i, name in enumerate(names):
            # simglucose takes the meal as a rate over one sample and returns U/min
            action = peer._bb_policy(name, carbs[i], glucose[i], 1.0)
            assert decision.basal_u_per_min[i] == pytest.approx(action.basal, rel=1e-12)
            assert decision.bolus_u[i] == pytest.approx(action.bolus, rel=1e-12, abs=1e-12)


def test_pid_holds_basal_at_target_and_responds_with_the_right_signs() -> None:
    pid = PidInsulinFeedback()
    pid.start(_settings(3), 0.0)
    basal = np.full(3, 0.02)
    for t in (0.0, 5.0, 10.0):
        d = pid.decide(Reading(t, np.array([120.0, 120.0, 120.0]), np.zeros(3)))
        np.testing.assert_allclose(d.basal_u_per_min, basal, rtol=1e-12)
        pid.record(t, d)
    d = pid.decide(Reading(15.0, np.array([200.0, 120.0, 90.0]), np.zeros(3)))
    assert d.basal_u_per_min[0] > basal[0]
    assert d.basal_u_per_min[2] < basal[2]
    assert d.basal_u_per_min[1] == pytest.approx(basal[1], rel=1e-12)


def test_insulin_feedback_filter_matches_an_ode_solution() -> None:
    pid = PidInsulinFeedback(ifb_time_constant_min=50.0)
    pid.start(_settings(), 0.0)
    pid.record(0.0, InsulinDecision(np.array([0.05]), np.array([3.0])))
    pid._advance_filter(120.0)

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        return [(0.05 - y[0]) / 50.0, (y[0] - y[1]) / 50.0]

    start = [0.02 + 3.0 / 50.0, 0.02]  # the bolus as an impulse into the first compartment
    ref = integrate.solve_ivp(rhs, (0.0, 120.0), start, rtol=1e-12, atol=1e-14).y[:, -1]
    np.testing.assert_allclose(pid._compartments[:, 0], ref, rtol=1e-9)


def test_pid_integral_is_held_while_the_rate_is_saturated() -> None:
    pid = PidInsulinFeedback(gamma=0.0, td_min=0.0)
    pid.start(_settings(), 0.0)
    for k in range(40):  # a long low: the rate sits at zero
        d = pid.decide(Reading(5.0 * k, np.array([40.0]), np.zeros(1)))
        pid.record(5.0 * k, d)
    assert d.basal_u_per_min[0] == 0.0
    assert pid._integral[0] > -1.0  # wound up by at most one step, not 40


def test_insulin_action_curve_properties() -> None:
    assert insulin_on_board(0.0) == pytest.approx(1.0)
    assert insulin_on_board(300.0) == pytest.approx(0.0, abs=1e-12)
    total, _ = integrate.quad(lambda t: float(insulin_activity(t)), 0.0, 300.0)
    assert total == pytest.approx(1.0, rel=1e-8)
    t = np.linspace(1.0, 299.0, 50)
    slope = (insulin_on_board(t + 1e-4) - insulin_on_board(t - 1e-4)) / 2e-4
    np.testing.assert_allclose(-slope, insulin_activity(t), rtol=1e-5, atol=1e-10)
    grid = np.linspace(0.0, 300.0, 30001)
    assert grid[np.argmax(insulin_activity(grid))] == pytest.approx(75.0, abs=0.02)
    with pytest.raises(InvalidParameterError, match="peak"):
        insulin_on_board(10.0, peak_min=200.0, duration_min=300.0)


def test_paired_difference_equals_the_paired_t_interval() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(70.0, 10.0, (30, 5))
    b = a + rng.normal(3.0, 4.0, (30, 5))
    d = paired_difference(a, b)
    reference = stats.ttest_rel(b.mean(axis=1), a.mean(axis=1)).confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((reference.low, reference.high), rel=1e-12)
    assert "30 patients x 5 seeds" in str(d)
    with pytest.raises(ShapeError):
        paired_difference(a, b[:, :2])


def test_safety_flags_a_predicted_low() -> None:
    forecast = np.full((2, 8, 6), 120.0)
    forecast[0, :2, 2] = 60.0  # two members of eight go low at 20 min
    assert predicted_low(forecast, 10.0, quantile=0.1).tolist() == [True, False]
    assert predicted_low(forecast, 10.0, quantile=0.3).tolist() == [False, False]


def test_bad_controller_inputs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="carb_ratio"):
        TherapySettings(np.array([0.02]), np.array([0.0]), np.array([40.0]), np.array([40.0]))
    with pytest.raises(InvalidInputError, match="carbohydrates"):
        Reading(0.0, np.array([100.0]), np.array([-5.0]))
    with pytest.raises(InvalidInputError, match="start"):
        BasalBolus().decide(Reading(0.0, np.array([100.0]), np.array([0.0])))
    with pytest.raises(InvalidParameterError, match="negative"):
        InsulinDecision(np.array([-0.1]), np.array([0.0]))
