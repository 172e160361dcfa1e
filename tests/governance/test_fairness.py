"""Fairness reports: hand-checked metrics, small groups, errors, and one real report (whas500)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.governance.fairness import fairness_report, subgroup_fairness

require("fairlearn", "fairness")

Y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
RISK = np.array([0.1, 0.8, 0.4, 0.6, 0.9, 0.2, 0.3, 0.7])
SEX = np.array(["f", "f", "f", "f", "m", "m", "m", "m"])


def test_risk_metrics_per_group_by_hand() -> None:
    overall, (sex,) = subgroup_fairness(Y, RISK, {"sex": SEX}, task="risk", min_group_size=1)
    f, m = slice(0, 4), slice(4, 8)
    assert overall["brier"] == pytest.approx(np.mean((RISK - Y) ** 2))
    assert sex.metric("brier")["f"] == pytest.approx(np.mean((RISK[f] - Y[f]) ** 2))
    assert sex.metric("calibration_in_the_large")["m"] == pytest.approx(
        RISK[m].mean() - Y[m].mean()
    )
    # f: positives 0.8, 0.4 vs negatives 0.1, 0.6 -> 3 of 4 pairs ordered
    assert sex.metric("auc") == {"f": 0.75, "m": 1.0}
    # at 0.5: f selects rows 1, 3 (TPR 1/2, FPR 1/2), m selects rows 4, 7 (TPR 1, FPR 0)
    assert sex.metric("true_positive_rate") == {"f": 0.5, "m": 1.0}
    assert sex.metric("false_positive_rate") == {"f": 0.5, "m": 0.0}
    assert sex.equalized_odds_difference == pytest.approx(0.5)
    assert sex.demographic_parity_difference == pytest.approx(0.0)
    auc = sex.disparity("auc")
    assert (auc.difference, auc.ratio, auc.max_group, auc.min_group) == (0.25, 0.75, "m", "f")
    assert math.isnan(sex.disparity("calibration_in_the_large").ratio)  # signed metric


def test_small_groups_are_reported_but_not_compared() -> None:
    groups = {"site": np.array(["a"] * 4 + ["b"] * 3 + ["c"])}
    _, (site,) = subgroup_fairness(Y, RISK, groups, task="risk", min_group_size=3)
    assert site.small_groups == ("c",)
    assert [g.n for g in site.groups] == [4, 3, 1]
    brier = site.metric("brier")
    assert site.disparity("brier").difference == pytest.approx(abs(brier["a"] - brier["b"]))
    _, (alone,) = subgroup_fairness(Y, RISK, groups, task="risk", min_group_size=4)
    assert math.isnan(alone.disparity("brier").difference)
    assert math.isnan(alone.equalized_odds_difference or 0.0)


def test_regression_and_classification_tasks() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.5, 2.5, 3.0, 6.0])
    overall, (col,) = subgroup_fairness(
        y, pred, {"g": ["F", "F", "M", "M"]}, task="regression", min_group_size=1
    )
    assert overall["rmse"] == pytest.approx(np.sqrt(np.mean((pred - y) ** 2)))
    assert col.metric("bias") == {"F": 0.5, "M": 1.0}
    assert col.equalized_odds_difference is None
    labels = (RISK >= 0.5).astype(float)
    _, (cls,) = subgroup_fairness(Y, labels, {"sex": SEX}, task="classification", min_group_size=1)
    assert cls.metric("accuracy") == {"f": 0.5, "m": 1.0}


def test_report_for_registered_models_only() -> None:
    report = fairness_report("survival-cox", Y, RISK, {"sex": SEX}, min_group_size=1)
    assert (report.model, report.version, report.task, report.n) == (
        "survival-cox",
        "0.1.0",
        "risk",
        8,
    )
    with pytest.raises(UnknownModelError, match="valid models"):
        fairness_report("cox", Y, RISK, {"sex": SEX})
    with pytest.raises(InvalidParameterError, match="no per-patient predictions"):
        fairness_report("uva-padova", Y, RISK, {"sex": SEX})


@pytest.mark.parametrize(
    ("y", "pred", "groups", "error", "message"),
    [
        (Y, RISK[:-1], {"sex": SEX}, ShapeError, "differ in length"),
        (Y, RISK, {"sex": SEX[:-1]}, ShapeError, "one label per row"),
        (Y, RISK * 2, {"sex": SEX}, InvalidInputError, r"\[0, 1\]"),
        (Y * 2, RISK, {"sex": SEX}, InvalidInputError, "0/1"),
        (Y, np.where(Y, np.nan, RISK), {"sex": SEX}, InvalidInputError, "NaN"),
        (Y, RISK, {"sex": np.array([None, *SEX[1:]], dtype=object)}, InvalidInputError, "row 0"),
    ],
)
def test_bad_input_is_named(y, pred, groups, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        subgroup_fairness(y, pred, groups, task="risk")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="threshold"):
        subgroup_fairness(Y, RISK, {"sex": SEX}, task="risk", threshold=1.0)
    with pytest.raises(InvalidParameterError, match="min_group_size"):
        subgroup_fairness(Y, RISK, {"sex": SEX}, task="risk", min_group_size=0)
    with pytest.raises(InvalidParameterError, match="task"):
        subgroup_fairness(Y, RISK, {"sex": SEX}, task="survival")  # type: ignore[arg-type]
    report = fairness_report("survival-cox", Y, RISK, {"sex": SEX}, min_group_size=1)
    with pytest.raises(InvalidParameterError, match="no column 'age'"):
        report.column("age")


def test_real_report_on_whas500_by_sex_and_age_band() -> None:
    """Cox, 5-fold out of fold, death by the median follow-up time (631.5 days)."""
    require("sksurv", "ml")
    from healthtwin.prognosis.datasets import load_dataset
    from healthtwin.prognosis.fairness import age_bands
    from healthtwin.prognosis.out_of_fold import out_of_fold_survival
    from healthtwin.prognosis.risk_calibration import event_by_horizon

    data = load_dataset("whas500")
    horizon = float(np.median(data.time))
    survival = out_of_fold_survival("cox", data.features, data.time, data.event, horizon)
    had, known = event_by_horizon(data.time, data.event, horizon)
    groups = {
        "sex": data.features["gender"].astype(str).to_numpy()[known],
        "age": np.array(age_bands(data.features["age"].to_numpy()), dtype=object)[known],
    }
    report = fairness_report(
        "survival-cox", had[known].astype(int), 1.0 - survival[known], groups,
        outcome=f"death by {horizon:g} days",
    )  # fmt: skip
    assert report.n == 412  # 88 patients censored before the horizon are left out
    sex = report.column("sex")
    # recorded in the model card: AUC 0.865 (gender 0) vs 0.744 (gender 1)
    assert sex.metric("auc")["0"] == pytest.approx(0.8654, abs=5e-4)
    assert sex.metric("auc")["1"] == pytest.approx(0.7438, abs=5e-4)
    assert sex.disparity("auc").difference == pytest.approx(0.1216, abs=5e-4)
    age = report.column("age")
    assert age.small_groups == ("18-39",)
    assert [g.group for g in age.groups] == ["18-39", "40-64", "65-79", "80+"]
    assert 0.0 <= sex.equalized_odds_difference <= 1.0  # type: ignore[operator]
    text = report.to_markdown()
    assert "| 18-39 (small) | 10 |" in text
    assert "## sex" in text
    data_out = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data_out["columns"][1]["groups"][0]["metrics"]["auc"] is None  # no events under 40


def test_the_survival_model_card_records_what_the_report_computes() -> None:
    from healthtwin.governance.model_registry import load_cards

    card = load_cards()["survival-cox"].model_card
    recorded = {m.subgroup: m.value for m in card.subgroup_metrics() if m.name.startswith("AUC")}
    assert recorded == {"gender=0": pytest.approx(0.8654, abs=5e-4), "gender=1": 0.744}
