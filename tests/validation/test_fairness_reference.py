"""fairlearn-based fairness numbers against the hand computation of ``prognosis.fairness``.

``healthtwin.governance.fairness`` computes subgroup metrics with fairlearn's
``MetricFrame``; ``healthtwin.prognosis.fairness`` computes them without fairlearn (AUC as
the Mann-Whitney probability with mid-ranks, Brier, calibration-in-the-large, MAE, bias).
On real data (whas500 out-of-fold Cox risks by sex and age band; diabetes progression by
sex and age band) both must agree to 1e-12, and the equalized-odds and demographic-parity
differences must equal their definitions computed here by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require

require("fairlearn", "fairness")
require("sksurv", "ml")

from healthtwin.governance.fairness import subgroup_fairness  # noqa: E402
from healthtwin.prognosis.datasets import load_dataset  # noqa: E402
from healthtwin.prognosis.fairness import (  # noqa: E402
    age_bands,
    regression_by_group,
    risk_by_group,
)
from healthtwin.prognosis.out_of_fold import out_of_fold_survival  # noqa: E402
from healthtwin.prognosis.risk_calibration import event_by_horizon  # noqa: E402

SHARED = {
    "auc": "auc",
    "brier": "brier",
    "calibration_in_the_large": "calibration_in_the_large",
    "event_rate": "event_rate",
}


@pytest.fixture(scope="module")
def whas500() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    data = load_dataset("whas500")
    horizon = float(np.median(data.time))
    survival = out_of_fold_survival("cox", data.features, data.time, data.event, horizon)
    had, known = event_by_horizon(data.time, data.event, horizon)
    groups = {
        "sex": data.features["gender"].astype(str).to_numpy()[known],
        "age": np.array(age_bands(data.features["age"].to_numpy()), dtype=object)[known],
    }
    return had[known].astype(int), 1.0 - survival[known], groups


@pytest.mark.parametrize("column", ["sex", "age"])
def test_risk_metrics_equal_the_hand_computation(whas500, column: str) -> None:  # type: ignore[no-untyped-def]
    y, risk, groups = whas500
    _, (ours,) = subgroup_fairness(y, risk, {column: groups[column]}, task="risk")
    reference = risk_by_group(y, risk, groups[column], column=column)
    assert [g.group for g in ours.groups] == [g.group for g in reference.groups]
    assert ours.small_groups == reference.small_groups
    for name in SHARED:
        mine, theirs = ours.metric(name), reference.metric(name)
        for group in theirs:
            np.testing.assert_allclose(mine[group], theirs[group], rtol=0, atol=1e-12)
        gap = reference.gap(name)
        mine_gap = ours.disparity(name)
        np.testing.assert_allclose(mine_gap.difference, gap.difference, atol=1e-12)
        if name != "calibration_in_the_large":  # fairlearn ratio min/max, prognosis max/min
            np.testing.assert_allclose(mine_gap.ratio, 1.0 / gap.ratio, rtol=1e-12)


@pytest.mark.parametrize("column", ["sex", "age"])
def test_fairness_differences_equal_their_definitions(whas500, column: str) -> None:  # type: ignore[no-untyped-def]
    y, risk, groups = whas500
    _, (ours,) = subgroup_fairness(y, risk, {column: groups[column]}, task="risk")
    kept = [g.group for g in ours.groups if not g.small]
    label = risk >= 0.5
    tpr, fpr, sel = [], [], []
    for group in kept:
        rows = groups[column] == group
        tpr.append(label[rows & (y == 1)].mean())
        fpr.append(label[rows & (y == 0)].mean())
        sel.append(label[rows].mean())
    eod = max(max(tpr) - min(tpr), max(fpr) - min(fpr))
    assert ours.equalized_odds_difference == pytest.approx(eod, abs=1e-12)
    assert ours.demographic_parity_difference == pytest.approx(max(sel) - min(sel), abs=1e-12)


def test_regression_metrics_equal_the_hand_computation() -> None:
    data = load_dataset("diabetes")
    y = np.asarray(data.y)
    # a fixed linear predictor: least squares on half the rows, scored on the other half
    x = np.column_stack([np.ones(y.size), data.features[["bmi", "bp", "s5"]].to_numpy(float)])
    train = np.arange(y.size) % 2 == 0
    beta = np.linalg.lstsq(x[train], y[train], rcond=None)[0]
    test = ~train
    pred = x[test] @ beta
    sex = data.features["sex"].astype(str).to_numpy()[test]
    _, (ours,) = subgroup_fairness(y[test], pred, {"sex": sex}, task="regression")
    reference = regression_by_group(y[test], pred, sex)
    for name in ("mae", "bias"):
        for group, value in reference.metric(name).items():
            np.testing.assert_allclose(ours.metric(name)[group], value, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        ours.disparity("mae").difference, reference.gap("mae").difference, atol=1e-9
    )
