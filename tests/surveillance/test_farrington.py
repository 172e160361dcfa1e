"""Farrington and Farrington flexible: the batched GLM, reference weeks, and behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.surveillance import detect_matrix
from healthtwin.surveillance.glm import fit_period_trend
from healthtwin.surveillance.reference_weeks import reference_layout

NOUFAILY = {"no_periods": 10, "past_weeks_not_included": 26, "weights_threshold": 2.58,
            "p_threshold_trend": 1.0, "threshold_method": "nbPlugin"}  # fmt: skip


def _dense_irls(
    y: np.ndarray, x: np.ndarray, period: np.ndarray, n_periods: int, trend: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Reference Poisson fit with the dense design, iterated to machine precision."""
    columns = [np.ones_like(x)] + [(period == k).astype(float) for k in range(1, n_periods)]
    design = np.stack(columns + ([x] if trend else []), axis=1)
    mu = y + 0.1
    eta = np.log(mu)
    for _ in range(100):
        w = mu
        z = eta + (y - mu) / mu
        beta = np.linalg.solve(design.T @ (w[:, None] * design), design.T @ (w * z))
        eta = design @ beta
        mu = np.exp(eta)
    w = mu
    root = np.sqrt(w)[:, None] * design
    hat = np.einsum("ij,ij->i", root @ np.linalg.inv(root.T @ root), root)
    return mu, hat


def test_period_trend_fit_matches_closed_form() -> None:
    y = np.array([[2.0, 4.0, 6.0, 10.0], [1.0, 1.0, 1.0, 3.0]])
    period = np.array([[0, 0, 1, 1]] * 2)
    fit = fit_period_trend(y, np.ones_like(y), np.zeros_like(y), period, np.zeros(2, bool), 2)
    np.testing.assert_allclose(np.exp(fit.intercept), [3.0, 1.0], rtol=1e-9)
    np.testing.assert_allclose(fit.mu[:, 2], [8.0, 2.0], rtol=1e-9)
    np.testing.assert_array_equal(fit.rank, [2, 2])


def test_period_trend_fit_matches_dense_irls_with_leverages() -> None:
    rng = np.random.default_rng(3)
    n, n_periods = 60, 4
    x = np.arange(n, dtype=float) - n
    period = rng.integers(0, n_periods, size=n)
    y = rng.poisson(np.exp(1.5 + 0.3 * period + 0.01 * x)).astype(float)
    for trend in (True, False):
        fit = fit_period_trend(
            y[None], np.ones((1, n)), x[None], period[None], np.array([trend]), n_periods
        )
        mu, hat = _dense_irls(y, x, period, n_periods, trend)
        # R's stopping rule leaves the fit within ~1e-9 of the exact MLE.
        np.testing.assert_allclose(fit.mu[0], mu, rtol=1e-7)
        np.testing.assert_allclose(fit.hat[0], hat, rtol=1e-5)
        assert fit.converged.all()
        assert fit.rank[0] == n_periods + trend


def test_batched_fits_equal_fits_run_one_at_a_time() -> None:
    # Fits converge after different numbers of iterations; leaving the batch must not
    # change any fit (a converged fit must not be iterated further).
    rng = np.random.default_rng(8)
    n_fits, n = 30, 40
    x = np.tile(np.arange(n, dtype=float) - n, (n_fits, 1))
    period = np.tile(np.arange(n) % 3, (n_fits, 1))
    y = rng.poisson(rng.uniform(0.5, 30.0, size=(n_fits, 1)), size=(n_fits, n)).astype(float)
    prior = np.ones_like(y)
    trend = np.ones(n_fits, bool)
    batch = fit_period_trend(y, prior, x, period, trend, 3)
    for i in range(n_fits):
        one = fit_period_trend(y[i : i + 1], prior[:1], x[:1], period[:1], trend[:1], 3)
        np.testing.assert_allclose(batch.mu[i], one.mu[0], rtol=1e-13)
        np.testing.assert_allclose(batch.working_weights[i], one.working_weights[0], rtol=1e-13)


def test_dated_reference_weeks_follow_the_calendar() -> None:
    dates = np.datetime64("2000-01-03") + 7 * np.arange(1000)
    t = np.array([375, 844])  # 2007-03-05; 2016-02-29 (a Monday in a leap year)
    lay = reference_layout(t, dates=dates, b=3, w=0, no_periods=1, weeks_left_out=0)
    centres = dates[lay.index[lay.valid].reshape(2, 3)]
    # Same month and day y years back, nearest week: 2004-03-05 (Fri) -> Mon 2004-03-08.
    assert str(centres[0, 0]) == "2004-03-08"
    # 29 February becomes 1 March: 2013-03-01 (Fri) -> Mon 2013-03-04, not Mon 2013-02-25.
    assert str(centres[1, 0]) == "2013-03-04"
    assert (t[:, None] - 1 - lay.index[lay.valid].reshape(2, 3)).tolist()[0] == [156, 104, 52]


def test_current_year_window_enters_when_fewer_weeks_are_left_out() -> None:
    # Probed in R (farringtonFlexible, b=1, w=1, noPeriods=1, pastWeeksNotIncluded=0, no
    # trend, no reweighting, counts i^2): expected 68478.75 at t=300, the mean of the
    # squares of 247, 248, 249 and 299.
    y = (np.arange(1, 401, dtype=float) ** 2)[None]
    control = {"b": 1, "w": 1, "past_weeks_not_included": 0, "trend": False,
               "reweight": False, "limit54": (0, 4), "threshold_method": "nbPlugin"}  # fmt: skip
    d = detect_matrix(y, method="farrington-flexible", monitored=[300], control=control)
    assert d.expected[0, 0] == pytest.approx(68478.75, rel=1e-12)


def test_score_is_centred_as_r_or_on_mu0() -> None:
    rng = np.random.default_rng(11)
    y = rng.poisson(8.0, size=(3, 330)).astype(float)
    y[:, -1] = 30
    for r_compat in (True, False):
        control = {**NOUFAILY, "r_compat": r_compat}
        d = detect_matrix(y, method="farrington-flexible", monitored=[330], control=control)
        centre = np.log(d.expected) if r_compat else d.expected
        np.testing.assert_allclose(d.score, (30 - centre) / (d.upperbound - centre))


def test_pearson_dispersion_without_r_compat_is_close_to_r_mode() -> None:
    rng = np.random.default_rng(12)
    y = rng.negative_binomial(3, 3 / 13, size=(5, 330)).astype(float)
    control = {"no_periods": 10, "past_weeks_not_included": 26, "threshold_method": "delta",
               "reweight": False, "trend": False}  # fmt: skip
    r_mode = detect_matrix(y, method="farrington-flexible", monitored=[330], control=control)
    papers = detect_matrix(
        y, method="farrington-flexible", monitored=[330], control={**control, "r_compat": False}
    )
    # Without reweighting and trend test the fits are the same; only the dispersion differs
    # (R's stopping point, and the prior weights in the standard error).
    np.testing.assert_allclose(papers.expected, r_mode.expected, rtol=1e-12)
    np.testing.assert_allclose(papers.upperbound, r_mode.upperbound, rtol=0.05)
    assert not np.allclose(papers.upperbound, r_mode.upperbound, rtol=1e-9)


@pytest.mark.parametrize("control", [{}, NOUFAILY, {**NOUFAILY, "threshold_method": "muan"}])
def test_false_alarm_rate_is_near_alpha_on_poisson_baseline(control: dict[str, object]) -> None:
    rng = np.random.default_rng(2024)
    y = rng.poisson(20.0, size=(40, 320)).astype(float)
    d = detect_matrix(
        y, method="farrington-flexible", monitored=np.arange(301, 321), control=control
    )
    assert d.defined.all()
    rate = d.alarm.mean()
    # alpha = 0.05 one-sided; 800 series-weeks: 99 % binomial interval is about 0.03-0.07,
    # bounds on the discrete/transformed scale are conservative.
    assert 0.0 < rate < 0.08
    assert np.allclose(np.nanmedian(d.expected), 20.0, rtol=0.05)


def test_outbreak_is_detected_and_past_outbreak_is_downweighted() -> None:
    rng = np.random.default_rng(5)
    y = rng.poisson(10.0, size=(2, 320)).astype(float)
    y[1, 268:272] += 60  # a past outbreak in the reference window of week 320
    y[:, 319] = 35
    d = detect_matrix(y, method="farrington", monitored=[320])
    assert d.alarm[:, 0].all()
    plain = detect_matrix(y, method="farrington", monitored=[320], control={"reweight": False})
    # Reweighting pulls the baseline back towards 10.
    assert abs(d.expected[1, 0] - 10) < abs(plain.expected[1, 0] - 10)


def test_limit54_silences_small_counts() -> None:
    y = np.zeros((1, 300))
    y[0, 299] = 3
    d = detect_matrix(y, method="farrington", monitored=[300])
    assert not d.alarm[0, 0]
    assert d.reason[0, 0].startswith("limit54")
    d2 = detect_matrix(y, method="farrington", monitored=[300], control={"limit54": (0, 4)})
    assert d2.alarm[0, 0]


def test_dates_choose_reference_weeks_over_53_week_years() -> None:
    dates = np.datetime64("2004-01-05") + 7 * np.arange(530)
    y = np.random.default_rng(9).poisson(6, size=(1, 530)).astype(float)
    by_date = detect_matrix(y, method="farrington", monitored=[520], dates=dates)
    by_index = detect_matrix(y, method="farrington", monitored=[520])
    assert by_date.defined.all()
    assert by_index.defined.all()
    # 2009 has 53 ISO weeks: the dated windows are shifted by one week against the index.
    assert by_date.expected[0, 0] != by_index.expected[0, 0]


def test_missing_weeks_are_left_out_of_the_fit() -> None:
    rng = np.random.default_rng(4)
    y = rng.poisson(10.0, size=(1, 300)).astype(float)
    y_missing = y.copy()
    y_missing[0, 40] = np.nan  # a reference week of t = 300 (b=5, w=3: 300-260=40)
    a = detect_matrix(y, method="farrington", monitored=[300])
    b = detect_matrix(y_missing, method="farrington", monitored=[300])
    assert b.defined.all()
    assert a.expected[0, 0] != b.expected[0, 0]


def test_a_failing_fit_is_a_reason_not_a_warning() -> None:
    """A Noufaily series whose 1996-settings fit breaks down numerically (found by the
    evaluation run): no warning escapes (warnings are errors here), every monitored week
    has a bound or a reason."""
    from healthtwin.surveillance import simulate_noufaily

    series = simulate_noufaily(20, 0).observed[6, 4][None, :]
    result = detect_matrix(series, method="farrington", monitored=np.arange(576, 625))
    assert np.all(result.defined | (result.reason != ""))
