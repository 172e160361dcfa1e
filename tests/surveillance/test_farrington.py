"""Farrington and Farrington flexible: behaviour on simulated series."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.surveillance import detect_matrix
from healthtwin.surveillance.glm import fit_loglinear

NOUFAILY = {"no_periods": 10, "past_weeks_not_included": 26, "weights_threshold": 2.58,
            "p_threshold_trend": 1.0, "threshold_method": "nbPlugin"}  # fmt: skip


def test_batched_glm_matches_closed_form_poisson_regression() -> None:
    # Two groups: log mu = a + b x has closed-form MLE for a two-level x.
    x = np.array([0.0, 0.0, 1.0, 1.0])
    design = np.stack([np.ones(4), x], axis=1)[None].repeat(2, axis=0)
    y = np.array([[[2.0, 4.0, 6.0, 10.0]], [[1.0, 1.0, 1.0, 3.0]]])
    fit = fit_loglinear(design, y, np.ones_like(y), np.ones((2, 1, 2), bool))
    assert np.allclose(np.exp(fit.beta[:, 0, 0]), [3.0, 1.0])
    assert np.allclose(np.exp(fit.beta[:, 0, 1]), [8.0 / 3.0, 2.0])


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
