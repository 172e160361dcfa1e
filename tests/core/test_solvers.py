"""Tests of the batched solvers against analytic solutions and their failure codes."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from healthtwin.core.solvers import (
    RK4_STABILITY_RADIUS,
    Status,
    dopri5,
    raise_on_failure,
    rk4,
    rk4_columns,
)
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, SolverError

# -- problems with known solutions ---------------------------------------------------

K = np.array([[0.5], [1.0], [3.0]])


def decay(x: FloatArray) -> FloatArray:
    return -K * x


def oscillator(x: FloatArray) -> FloatArray:
    """Harmonic oscillator: x = (cos t, -sin t) from (1, 0)."""
    return np.stack([x[:, 1], -x[:, 0]], axis=1)


def logistic(x: FloatArray) -> FloatArray:
    """Nonlinear: x' = x (1 - x), x(t) = 1 / (1 + (1/x0 - 1) e^{-t})."""
    return x * (1.0 - x)


def logistic_exact(x0: FloatArray, t: float) -> FloatArray:
    return 1.0 / (1.0 + (1.0 / x0 - 1.0) * np.exp(-t))


def _observed_order(errors: list[float]) -> FloatArray:
    return np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))


# -- rk4 -----------------------------------------------------------------------------


def test_rk4_has_global_order_four_on_linear_decay() -> None:
    x0 = np.ones((3, 1))
    exact = np.exp(-K * 2.0)
    errors = [float(np.max(np.abs(rk4(decay, x0, 2.0, h) - exact))) for h in (0.1, 0.05, 0.025)]
    order = _observed_order(errors)
    assert np.all(order > 3.8), order
    assert np.all(order < 4.3), order
    ratios = np.asarray(errors[:-1]) / np.asarray(errors[1:])
    assert np.all((ratios > 14.0) & (ratios < 19.0)), ratios


def test_rk4_has_global_order_four_on_a_nonlinear_system() -> None:
    x0 = np.array([[0.1], [0.5], [0.9]])
    exact = logistic_exact(x0, 5.0)
    errors = [float(np.max(np.abs(rk4(logistic, x0, 5.0, h) - exact))) for h in (0.5, 0.25, 0.125)]
    order = _observed_order(errors)
    assert np.all((order > 3.7) & (order < 4.3)), order


def test_rk4_order_four_on_the_oscillator() -> None:
    x0 = np.array([[1.0, 0.0]])
    exact = np.array([[math.cos(3.0), -math.sin(3.0)]])
    errors = [
        float(np.max(np.abs(rk4(oscillator, x0, 3.0, h) - exact))) for h in (0.3, 0.15, 0.075)
    ]
    order = _observed_order(errors)
    assert np.all((order > 3.8) & (order < 4.2)), order


def test_rk4_splits_the_interval_into_equal_steps_no_longer_than_h() -> None:
    calls: list[int] = []

    def counted(x: FloatArray) -> FloatArray:
        calls.append(1)
        return -x

    rk4(counted, np.ones((1, 1)), 1.0, 0.3)
    assert len(calls) == 4 * 4  # ceil(1 / 0.3) = 4 steps of 4 stages
    calls.clear()
    rk4(counted, np.ones((1, 1)), 1.0, 0.25)  # exact multiple: 4 steps, not 5
    assert len(calls) == 4 * 4
    calls.clear()
    rk4(counted, np.ones((1, 1)), 1.0, 10.0, h_limit=0.5)
    assert len(calls) == 2 * 4


def test_rk4_sub_steps_above_the_stability_limit() -> None:
    lam = -10.0
    h_limit = 0.2  # |h lambda| = 2 < 2.785

    def stiff(x: FloatArray) -> FloatArray:
        return lam * x

    x0 = np.ones((1, 1))
    t_end = 3.0
    limited = rk4(stiff, x0, t_end, 1.0, h_limit=h_limit)
    assert abs(limited[0, 0] - math.exp(lam * t_end)) < 1e-4
    # the same step without the limit is outside the stability region and blows up
    x = x0
    for _ in range(3):
        x = rk4(stiff, x, 1.0, 1.0)
    assert abs(x[0, 0]) > 1e3
    assert abs(1.0 * lam) > RK4_STABILITY_RADIUS > abs(h_limit * lam)


def test_rk4_leaves_its_input_untouched_and_zero_duration_returns_a_copy() -> None:
    x0 = np.array([[1.0, 2.0]])
    before = x0.copy()
    rk4(lambda x: -x, x0, 1.0, 0.1)
    np.testing.assert_array_equal(x0, before)
    same = rk4(lambda x: -x, x0, 0.0, 0.1)
    np.testing.assert_array_equal(same, x0)
    assert same is not x0
    same[0, 0] = 9.0
    assert x0[0, 0] == 1.0


@pytest.mark.parametrize("h", [0.0, -1.0, math.nan])
def test_rk4_rejects_a_non_positive_step(h: float) -> None:
    with pytest.raises(InvalidParameterError, match="step h must be positive"):
        rk4(lambda x: -x, np.ones((1, 1)), 1.0, h)


def test_rk4_columns_equals_rk4_on_the_transposed_layout() -> None:
    rates = np.array([0.3, 1.0, 2.0, 4.0])
    forcing = np.array([1.0, -2.0, 0.5, 0.0])

    def f_rows(x: FloatArray) -> FloatArray:  # (n, 2)
        return np.stack(
            [-rates * x[:, 0] + forcing + x[:, 1] ** 2, x[:, 0] - x[:, 1]],
            axis=1,
        )

    def f_cols(x: FloatArray, u: FloatArray, c: FloatArray, out: FloatArray) -> None:  # (2, n)
        out[0] = -c[0] * x[0] + u[0] + x[1] ** 2
        out[1] = x[0] - x[1]

    x0 = np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 0.0], [1.0, 0.5]])
    by_rows = rk4(f_rows, x0, 1.7, 0.1)
    xc = np.ascontiguousarray(x0.T)
    by_cols = rk4_columns(f_cols, xc, forcing[None, :], rates[None, :], 1.7, 0.1)
    np.testing.assert_allclose(by_cols.T, by_rows, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(xc, x0.T)  # input not modified
    zero = rk4_columns(f_cols, xc, forcing[None, :], rates[None, :], 0.0, 0.1)
    np.testing.assert_array_equal(zero, xc)
    assert zero is not xc


# -- dopri5 --------------------------------------------------------------------------


def test_dopri5_matches_analytic_decay_per_member_with_member_step_counts() -> None:
    rates = np.array([[0.1], [1.0], [10.0], [50.0]])
    x0 = np.array([[1.0], [2.0], [3.0], [4.0]])
    rtol = 1e-7
    res = dopri5(lambda x: -rates * x, x0, 2.0, rtol=rtol, atol=1e-12)
    assert res.ok
    assert np.all(res.status == Status.OK)
    exact = x0 * np.exp(-rates * 2.0)
    # global error within a modest multiple of the local tolerance times the solution scale
    err = np.abs(res.x - exact)
    assert np.all(err <= 50 * (rtol * np.abs(x0) + 1e-12)), err
    # stiffer members need more accepted steps; each member keeps its own step
    assert np.all(np.diff(res.n_accepted) > 0), res.n_accepted
    assert res.h_last.shape == (4,)


def test_dopri5_accuracy_improves_with_tolerance() -> None:
    x0 = np.array([[0.1], [0.5], [0.9]])
    exact = logistic_exact(x0, 6.0)
    errs = []
    for rtol in (1e-4, 1e-7, 1e-10):
        res = dopri5(logistic, x0, 6.0, rtol=rtol, atol=rtol * 1e-2)
        assert res.ok
        errs.append(float(np.max(np.abs(res.x - exact))))
        assert errs[-1] < 100 * rtol
    assert errs[0] > errs[1] > errs[2]


def test_dopri5_oscillator_members_with_different_frequencies() -> None:
    omega = np.array([1.0, 4.0, 16.0])

    def f(x: FloatArray) -> FloatArray:
        return np.stack([x[:, 1], -(omega**2) * x[:, 0]], axis=1)

    x0 = np.tile([1.0, 0.0], (3, 1))
    t_end = 2.0
    res = dopri5(f, x0, t_end, rtol=1e-9, atol=1e-12)
    exact = np.stack([np.cos(omega * t_end), -omega * np.sin(omega * t_end)], axis=1)
    assert np.all(np.abs(res.x - exact) <= 1e-6 * omega[:, None]), res.x - exact
    assert res.n_accepted[0] < res.n_accepted[1] < res.n_accepted[2]


def test_dopri5_zero_duration_returns_a_copy() -> None:
    x0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    res = dopri5(lambda x: -x, x0, 0.0)
    np.testing.assert_array_equal(res.x, x0)
    assert res.x is not x0
    assert np.all(res.status == Status.OK)
    np.testing.assert_array_equal(res.n_accepted, [0, 0])
    res.x[0, 0] = 99.0
    assert x0[0, 0] == 1.0


def test_dopri5_does_not_modify_its_input() -> None:
    x0 = np.array([[1.0], [2.0]])
    dopri5(lambda x: -x, x0, 1.0)
    np.testing.assert_array_equal(x0, [[1.0], [2.0]])


def test_dopri5_respects_h0_and_h_max() -> None:
    res = dopri5(lambda x: -0.01 * x, np.ones((2, 1)), 10.0, h0=0.5, h_max=0.5, rtol=1e-3)
    assert res.ok
    assert np.all(res.n_accepted >= 20)  # 10 / 0.5
    np.testing.assert_allclose(res.x, math.exp(-0.1), rtol=1e-8)


def _nan_below(threshold: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """Decay whose rhs turns NaN once a member falls below its threshold."""

    def f(x: FloatArray) -> FloatArray:
        d = -x
        return np.where(x < threshold, np.nan, d)

    return f


def test_dopri5_marks_a_member_that_goes_non_finite_and_finishes_the_others() -> None:
    threshold = np.array([[-1.0], [0.5], [-1.0]])
    res = dopri5(_nan_below(threshold), np.ones((3, 1)), 2.0, rtol=1e-8, atol=1e-10)
    assert res.status.tolist() == [Status.OK, Status.NON_FINITE, Status.OK]
    assert not res.ok
    np.testing.assert_allclose(res.x[[0, 2], 0], math.exp(-2.0), rtol=1e-6)
    # the failed member keeps its last finite state, before the threshold
    assert np.isfinite(res.x[1, 0])
    assert res.x[1, 0] >= 0.5


def test_dopri5_non_finite_member_at_the_start_with_a_given_first_step() -> None:
    def f(x: FloatArray) -> FloatArray:
        d = -x.copy()
        d[1] = np.nan
        return d

    res = dopri5(f, np.ones((2, 1)), 1.0, h0=0.1, max_steps=500)
    assert res.status.tolist() == [Status.OK, Status.NON_FINITE]


def test_dopri5_non_finite_member_at_the_start_is_marked_non_finite() -> None:
    def f(x: FloatArray) -> FloatArray:
        d = -x.copy()
        d[1] = np.nan
        return d

    res = dopri5(f, np.ones((2, 1)), 1.0, max_steps=500)
    assert res.status.tolist() == [Status.OK, Status.NON_FINITE]


def test_dopri5_gives_max_steps_when_attempts_run_out() -> None:
    rates = np.array([[0.1], [1000.0]])
    res = dopri5(lambda x: -rates * x, np.ones((2, 1)), 10.0, rtol=1e-10, atol=1e-12, max_steps=40)
    assert res.status[1] == Status.MAX_STEPS
    assert res.status[0] in (Status.OK, Status.MAX_STEPS)
    assert res.n_accepted[1] + res.n_rejected[1] == 40
    assert not res.ok


def test_dopri5_max_steps_leaves_finished_members_ok() -> None:
    rates = np.array([[0.01], [1000.0]])
    res = dopri5(lambda x: -rates * x, np.ones((2, 1)), 1.0, rtol=1e-6, atol=1e-9, max_steps=30)
    assert res.status.tolist() == [Status.OK, Status.MAX_STEPS]
    np.testing.assert_allclose(res.x[0, 0], math.exp(-0.01), rtol=1e-6)


@pytest.mark.parametrize(("rtol", "atol"), [(0.0, 1e-8), (1e-6, 0.0), (-1.0, 1e-8)])
def test_dopri5_rejects_non_positive_tolerances(rtol: float, atol: float) -> None:
    with pytest.raises(InvalidParameterError, match="rtol and atol"):
        dopri5(lambda x: -x, np.ones((1, 1)), 1.0, rtol=rtol, atol=atol)


def test_raise_on_failure_names_the_failed_members_and_kinds() -> None:
    status = np.array([Status.OK, Status.NON_FINITE, Status.OK, Status.MAX_STEPS])
    with pytest.raises(SolverError, match=r"members \[1, 3\]") as info:
        raise_on_failure(status, "uva-padova")
    message = str(info.value)
    assert message.startswith("uva-padova:")
    assert "MAX_STEPS, NON_FINITE" in message
    assert isinstance(info.value, ArithmeticError)


def test_raise_on_failure_truncates_long_member_lists() -> None:
    status = np.full(25, Status.STEP_UNDERFLOW)
    with pytest.raises(SolverError, match=r"\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]\.\.\. \(STEP"):
        raise_on_failure(status, "m")


def test_raise_on_failure_is_silent_when_all_members_are_ok() -> None:
    raise_on_failure(np.zeros(5, dtype=np.int64), "m")


def test_raise_on_failure_after_a_non_finite_dopri5_run() -> None:
    threshold = np.array([[-1.0], [-1.0], [0.5]])
    res = dopri5(_nan_below(threshold), np.ones((3, 1)), 2.0)
    with pytest.raises(SolverError, match=r"members \[2\] \(NON_FINITE\)"):
        raise_on_failure(res.status, "test")
