"""Subgroup metrics on constructed data whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.prognosis.conformal import PredictionInterval
from healthtwin.prognosis.fairness import age_bands, regression_by_group, risk_by_group


def _regression_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, PredictionInterval]:
    # 40 women with errors of +1, 40 men with errors of -3, 5 unknown with errors of 10.
    groups = np.array(["F"] * 40 + ["M"] * 40 + ["U"] * 5)
    y = np.arange(85, dtype=float)
    error = np.where(groups == "F", 1.0, np.where(groups == "M", -3.0, 10.0))
    pred = y + error
    # Half-widths of 2: covers the women (|e| = 1) but not the men (|e| = 3) ...
    half = np.full(85, 2.0)
    half[40:50] = 4.0  # ... except 10 of the 40 men, whose intervals are wider.
    return y, pred, groups, PredictionInterval(pred - half, pred + half, 0.1)


def test_regression_metrics_per_group() -> None:
    y, pred, groups, interval = _regression_case()
    report = regression_by_group(y, pred, groups, interval=interval, column="sex")
    assert report.column == "sex"
    assert [(g.group, g.n, g.small) for g in report.groups] == [
        ("F", 40, False),
        ("M", 40, False),
        ("U", 5, True),
    ]
    assert report.metric("mae") == {"F": 1.0, "M": 3.0, "U": 10.0}
    assert report.metric("bias") == {"F": 1.0, "M": -3.0, "U": 10.0}
    assert report.metric("coverage") == {"F": 1.0, "M": 0.25, "U": 0.0}
    assert report.metric("mean_width")["M"] == pytest.approx((10 * 8 + 30 * 4) / 40)
    assert report.small_groups == ("U",)


def test_gaps_leave_out_small_groups() -> None:
    y, pred, groups, interval = _regression_case()
    report = regression_by_group(y, pred, groups, interval=interval)
    mae = report.gap("mae")
    assert (mae.max_group, mae.min_group, mae.difference, mae.ratio) == ("M", "F", 2.0, 3.0)
    coverage = report.gap("coverage")
    assert (coverage.difference, coverage.ratio) == (0.75, 4.0)
    # With the unknown group large enough to count, it sets the maximum.
    everyone = regression_by_group(y, pred, groups, min_group_size=5)
    assert everyone.gap("mae").max_group == "U"
    assert everyone.gap("mae").ratio == 10.0


def test_bias_of_zero_gives_an_infinite_ratio_and_one_group_no_gap() -> None:
    report = regression_by_group(
        [0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 2.0], ["a", "a", "b", "b"], min_group_size=1
    )
    assert report.gap("bias").ratio == math.inf
    single = regression_by_group([0.0, 1.0], [1.0, 1.0], ["a", "a"], min_group_size=1)
    assert math.isnan(single.gap("mae").difference)
    with pytest.raises(InvalidParameterError, match="no metric 'coverage'"):
        single.gap("coverage")


def test_risk_metrics_per_group() -> None:
    # Group "a": risks rank every event above every non-event (AUC 1); group "b": the
    # reverse (AUC 0); group "c": one risk for all (AUC 0.5, ties count one half).
    y = np.array([0, 0, 1, 1] * 3)
    risk = np.array([0.1, 0.2, 0.8, 0.9, 0.9, 0.8, 0.2, 0.1, 0.5, 0.5, 0.5, 0.5])
    groups = np.repeat(["a", "b", "c"], 4)
    report = risk_by_group(y, risk, groups, min_group_size=4, column="site")
    assert report.metric("auc") == {"a": 1.0, "b": 0.0, "c": 0.5}
    brier = report.metric("brier")
    assert brier["a"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    assert brier["b"] == pytest.approx((0.81 + 0.64 + 0.64 + 0.81) / 4)
    assert brier["c"] == pytest.approx(0.25)
    assert report.metric("calibration_in_the_large") == pytest.approx(
        {"a": 0.0, "b": 0.0, "c": 0.0}, abs=1e-12
    )
    assert report.metric("event_rate") == {"a": 0.5, "b": 0.5, "c": 0.5}
    auc_gap = report.gap("auc")
    assert (auc_gap.max_group, auc_gap.min_group, auc_gap.difference) == ("a", "b", 1.0)
    assert auc_gap.ratio == math.inf


def test_auc_matches_sklearn_and_is_nan_without_both_outcomes() -> None:
    rng = np.random.default_rng(8)
    groups = rng.choice(["<65", "65+"], size=600)
    y = (rng.random(600) < 0.3).astype(int)
    risk = np.clip(0.3 + 0.2 * (y - 0.3) + rng.normal(0, 0.15, 600), 0, 1).round(2)  # ties
    report = risk_by_group(y, risk, groups)
    for g in ("<65", "65+"):
        mask = groups == g
        assert report.metric("auc")[g] == pytest.approx(roc_auc_score(y[mask], risk[mask]))
    no_events = risk_by_group(
        [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], ["x", "x", "y", "y"], min_group_size=1
    )
    assert math.isnan(no_events.metric("auc")["x"])
    assert math.isnan(no_events.gap("auc").difference)


def test_age_bands() -> None:
    assert age_bands([0, 17.9, 18, 64.99, 65, 79, 80, 101]) == [
        "<18",
        "<18",
        "18-39",
        "40-64",
        "65-79",
        "65-79",
        "80+",
        "80+",
    ]
    assert age_bands([30, 70], edges=[50]) == ["<50", "50+"]
    with pytest.raises(InvalidParameterError, match="increasing"):
        age_bands([30], edges=[65, 18])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="group labels are missing"):
        regression_by_group([1.0, 2.0], [1.0, 2.0], ["F", None])
    with pytest.raises(ShapeError, match="one label per row"):
        regression_by_group([1.0, 2.0], [1.0, 2.0], ["F"])
    with pytest.raises(InvalidInputError, match="0/1"):
        risk_by_group([0, 2], [0.1, 0.2], ["a", "b"])
    with pytest.raises(InvalidParameterError, match="min_group_size"):
        risk_by_group([0, 1], [0.1, 0.2], ["a", "b"], min_group_size=0)
