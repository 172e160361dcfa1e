"""Out-of-fold survival predictions and the subgroup report built on them."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidParameterError


def test_out_of_fold_predictions_never_see_their_patient() -> None:
    require("sksurv", "ml")
    from healthtwin.prognosis.datasets import load_dataset
    from healthtwin.prognosis.out_of_fold import out_of_fold_survival, subgroup_fairness
    from healthtwin.prognosis.survival import SurvivalModel

    data = load_dataset("veterans")
    horizon = 100.0
    oof = out_of_fold_survival("cox", data.features, data.time, data.event, horizon, folds=4)
    fitted = SurvivalModel("cox").fit(data.features, data.time, data.event)
    in_sample = fitted.predict_survival(data.features, [horizon])[:, 0]
    assert oof.shape == in_sample.shape == (data.n_patients,)
    assert np.all((oof >= 0) & (oof <= 1))
    assert not np.allclose(oof, in_sample)  # refits without the patient differ
    # out of fold is (on average) no better calibrated than in sample: Brier larger
    had = data.event & (data.time <= horizon)
    known = had | (data.time > horizon)
    brier = lambda s: float(np.mean(((1 - s) - had)[known] ** 2))  # noqa: E731
    assert brier(oof) >= brier(in_sample)
    report = subgroup_fairness(
        data.features["Celltype"].astype(str), oof, data.time, data.event, horizon,
        column="celltype", min_group_size=10,
    )  # fmt: skip
    assert {g.group for g in report.groups} == set(data.features["Celltype"].astype(str))
    assert sum(g.n for g in report.groups) == int(known.sum())
    from healthtwin.prognosis.survival_calibration import calibration_from_risk, calibration_table

    direct = calibration_table(fitted, data.features, data.time, data.event, horizon, 5)
    via_risk = calibration_from_risk(1 - in_sample, data.time, data.event, horizon, 5)
    np.testing.assert_allclose(via_risk.predicted, direct.predicted)
    np.testing.assert_allclose(via_risk.observed, direct.observed)
    with pytest.raises(InvalidParameterError, match="folds"):
        out_of_fold_survival("cox", data.features, data.time, data.event, horizon, folds=1)
