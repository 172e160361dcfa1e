"""EARS C1/C2/C3 against hand computations and the paper's C3."""

from __future__ import annotations

import numpy as np
from scipy import stats

from healthtwin.surveillance import detect_matrix


def test_c1_bound_is_mean_plus_z_sd_of_last_seven_weeks() -> None:
    y = np.array([1.0, 2, 3, 2, 1, 2, 3, 9, 2])
    d = detect_matrix(y, method="ears-c1", monitored=[8, 9])
    base = y[:7]
    expected = base.mean() + stats.norm.ppf(0.999) * base.std(ddof=1)
    assert np.isclose(d.upperbound[0, 0], expected, rtol=1e-12)
    assert d.alarm[0].tolist() == [True, False]


def test_c2_uses_two_week_lag_and_min_sigma() -> None:
    y = np.array([5.0] * 9 + [6.0])
    d = detect_matrix(y, method="ears-c2", monitored=[10], control={"min_sigma": 0.5})
    assert np.isclose(d.upperbound[0, 0], 5 + stats.norm.ppf(0.999) * 0.5)
    assert not d.alarm[0, 0]


def test_history_too_short_gives_reason_not_error() -> None:
    d = detect_matrix(np.arange(12.0), method="ears-c3", monitored=[11, 12])
    assert d.reason[0].tolist() == ["not enough history", ""]
    assert not d.defined[0, 0]
    assert np.isnan(d.upperbound[0, 0])


def test_c3_paper_mode_sums_three_weeks() -> None:
    rng = np.random.default_rng(3)
    y = rng.poisson(10, size=40).astype(float)
    y[-1] = 30
    paper = detect_matrix(y, method="ears-c3", monitored=[40], control={"r_compat": False})
    r_like = detect_matrix(y, method="ears-c3", monitored=[40])
    assert paper.alarm[0, 0]  # the paper's C3 counts the current week
    assert paper.score[0, 0] >= stats.norm.ppf(0.975)
    assert r_like.score[0, 0] == paper.score[0, 0]


def test_many_series_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(7)
    y = rng.poisson(5, size=(4, 30)).astype(float)
    weeks = np.arange(12, 31)
    together = detect_matrix(y, method="ears-c3", monitored=weeks)
    for s in range(4):
        alone = detect_matrix(y[s], method="ears-c3", monitored=weeks)
        np.testing.assert_array_equal(alone.upperbound[0], together.upperbound[s])
