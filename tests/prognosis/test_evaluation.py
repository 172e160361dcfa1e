"""Survival metrics and cross-validation against independent formulas and published values.

Reference values and the protocols behind them are in
``tests/data/prognosis/sksurv_reference.json`` (see the README there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lifelines
import lifelines.utils
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.prognosis.datasets import Dataset, load_dataset
from healthtwin.prognosis.evaluation import CrossValidation, cross_validate_survival, score_survival
from healthtwin.prognosis.survival import SurvivalModel
from healthtwin.prognosis.survival_calibration import calibration_table

REFERENCES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "prognosis" / "sksurv_reference.json").read_text()
)["references"]
#: Small forests and ensembles keep the suite fast; the C-index barely depends on size.
FAST = {"rsf": {"n_estimators": 50}, "gbs": {"n_estimators": 100}}
_CACHE: dict[tuple[str, str], CrossValidation] = {}


def _cv(dataset: str, model: str, **options: Any) -> CrossValidation:
    """5-fold x 2-repeat cross-validation, computed once per (data set, model)."""
    key = (dataset, model)
    if key not in _CACHE:
        data = load_dataset(dataset)
        settings = {**FAST.get(model, {}), **options}
        _CACHE[key] = cross_validate_survival(
            model, data.features, data.time, data.event, n_repeats=2, **settings
        )
    return _CACHE[key]


def _within_cv_noise(cv_value: float, spread: float, published: float) -> None:
    """A published single-split value lies within two fold-to-fold SDs of our CV mean."""
    assert abs(cv_value - published) <= 2.0 * spread, (cv_value, spread, published)


@pytest.fixture(scope="module")
def uncensored() -> tuple[Any, np.ndarray, np.ndarray, SurvivalModel]:
    """Exponential times with one covariate (hazard ratio e^0.8 per SD), nobody censored."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    time = np.ceil(rng.exponential(1.0 / np.exp(0.8 * x)) * 100.0) / 100.0
    features = pd.DataFrame({"x": x})
    event = np.ones(time.size, dtype=bool)
    return features, time, event, SurvivalModel("cox").fit(features, time, event)


def test_metrics_reduce_to_their_uncensored_definitions(uncensored: Any) -> None:
    features, time, event, model = uncensored
    times = np.quantile(time, [0.2, 0.4, 0.6, 0.8])
    scores = score_survival(model, features, time, event, times)
    survival = model.predict_survival(features, times)
    risk = model.predict_risk(features)
    # Without censoring the cumulative/dynamic AUC is the ROC AUC of "event by t".
    roc = [roc_auc_score(time <= t, 1.0 - survival[:, k]) for k, t in enumerate(times)]
    np.testing.assert_allclose(scores.auc, roc, rtol=1e-12)
    # ... the Brier score is the plain mean squared error, integrated by trapezoids.
    brier = [np.mean(((time > t) - survival[:, k]) ** 2) for k, t in enumerate(times)]
    ibs = np.trapezoid(brier, times) / (times[-1] - times[0])
    assert scores.ibs == pytest.approx(ibs, rel=1e-12)
    # ... Uno's C is Harrell's over pairs whose earlier time is before tau.
    earlier = (time[:, None] < time[None, :]) & (time[:, None] < times[-1])
    wins = (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])
    assert scores.uno_c == pytest.approx((wins * earlier).sum() / earlier.sum(), rel=1e-12)
    harrell = lifelines.utils.concordance_index(time, -risk, event)
    assert scores.harrell_c == pytest.approx(harrell, rel=1e-12)


def test_harrell_c_matches_lifelines_under_censoring() -> None:
    data = load_dataset("whas500")
    model = SurvivalModel("rsf", n_estimators=20).fit(data.features, data.time, data.event)
    scores = score_survival(model, data.features, data.time, data.event, [100.0, 1000.0])
    risk = model.predict_risk(data.features)
    expected = lifelines.utils.concordance_index(data.time, -risk, data.event)
    assert scores.harrell_c == pytest.approx(expected, rel=1e-12)


def test_integrated_brier_score_of_the_sksurv_docstring() -> None:
    reference = REFERENCES["gbsg2_cox_train_ibs_1_to_5_years"]
    data = load_dataset("gbsg2")
    features = data.features.assign(tgrade=data.features["tgrade"].astype(str).str.len())
    model = SurvivalModel("cox").fit(features, data.time, data.event)
    scores = score_survival(model, features, data.time, data.event, np.arange(365, 1826))
    assert round(scores.ibs, reference["printed_decimals"]) == reference["value"]


def test_user_guide_gbsg2_split_is_reproduced() -> None:
    reference = REFERENCES["gbsg2_rsf_depth2_split"]
    data = load_dataset("gbsg2")
    train, test = train_test_split(np.arange(data.n_patients), stratify=data.event, random_state=1)
    lower, upper = np.percentile(data.time, [10, 90])
    model = SurvivalModel(
        "rsf",
        max_depth=2,
        n_estimators=100,
        min_samples_split=6,
        min_samples_leaf=3,
        max_features="sqrt",
        random_state=1,
    ).fit(data.features.iloc[train], data.time[train], data.event[train])
    scores = score_survival(
        model,
        data.features.iloc[test],
        data.time[test],
        data.event[test],
        np.arange(lower, upper + 1),
        censoring_time=data.time,
        censoring_event=data.event,
    )
    decimals = reference["printed_decimals"]
    assert round(scores.harrell_c, decimals) == reference["harrell_c"]
    assert round(scores.ibs, decimals) == reference["ibs"]


def test_user_guide_veterans_time_dependent_auc() -> None:
    reference = REFERENCES["veterans_cox_split_mean_auc"]
    data = load_dataset("veterans")
    train, test = train_test_split(
        np.arange(data.n_patients), test_size=0.2, stratify=data.event, random_state=0
    )
    model = SurvivalModel("cox", ties="breslow")
    model.fit(data.features.iloc[train], data.time[train], data.event[train])
    scores = score_survival(
        model,
        data.features.iloc[test],
        data.time[test],
        data.event[test],
        np.arange(8, 184, 7),
        censoring_time=data.time[train],
        censoring_event=data.event[train],
    )
    assert scores.mean_auc == pytest.approx(reference["value"], abs=reference["tolerance"])


@pytest.mark.parametrize(
    ("model", "reference"),
    [
        ("rsf", "gbsg2_rsf_split_harrell_c"),
        ("rsf", "gbsg2_rsf_depth2_split"),
        ("coxnet", "gbsg2_coxnet_split"),
        ("cox", "gbsg2_coxnet_split"),
    ],
)
def test_gbsg2_cross_validation_agrees_with_the_user_guide(model: str, reference: str) -> None:
    published = REFERENCES[reference]
    cv = _cv("gbsg2", model)
    c_index = published.get("harrell_c", published.get("value"))
    _within_cv_noise(cv.harrell_c.mean, cv.harrell_c.sd_folds, c_index)
    if "ibs" in published:
        _within_cv_noise(cv.ibs.mean, cv.ibs.sd_folds, published["ibs"])
    # Every model beats the no-feature Kaplan-Meier curve's IBS on the same data.
    assert cv.ibs.mean < REFERENCES["gbsg2_kaplan_meier_split_ibs"]["value"]


def test_gbsg2_boosting_is_as_good_as_the_documented_models() -> None:
    # The user guide reports no boosting result on GBSG-2; the documented forest is the yardstick.
    cv = _cv("gbsg2", "gbs")
    _within_cv_noise(
        cv.harrell_c.mean, cv.harrell_c.sd_folds, REFERENCES["gbsg2_rsf_split_harrell_c"]["value"]
    )


def test_breast_cancer_boosting_agrees_with_the_user_guide() -> None:
    published = REFERENCES["breast_cancer_gbs_split_harrell_c"]
    guide = {"n_estimators": 100, "learning_rate": 1.0, "max_depth": 1, "subsample": 1.0}
    cv = _cv("breast_cancer", "gbs", **guide)
    _within_cv_noise(cv.harrell_c.mean, cv.harrell_c.sd_folds, published["value"])


def test_veterans_cox_cross_validation_agrees_with_the_user_guide() -> None:
    published = REFERENCES["veterans_cox_cv3_harrell_c"]["value"]
    cv = _cv("veterans", "cox")
    # The guide's value is itself a 3-fold mean, so its noise is that of a mean of three.
    _within_cv_noise(cv.harrell_c.mean, cv.harrell_c.sd_folds / np.sqrt(3.0), published)


@pytest.fixture(scope="module")
def whas500() -> Dataset:
    return load_dataset("whas500")


def test_whas500_cox_folds_match_lifelines(whas500: Dataset) -> None:
    cv = _cv("whas500", "cox")
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
    table = whas500.features.astype(dict.fromkeys(whas500.categorical, str))
    design = pd.get_dummies(table, drop_first=True, dtype=float)
    expected = []
    for train, test in folds.split(design, whas500.event):
        fitted = lifelines.CoxPHFitter().fit(
            design.iloc[train].assign(T=whas500.time[train], E=whas500.event[train]), "T", "E"
        )
        risk = fitted.predict_partial_hazard(design.iloc[test]).to_numpy()
        expected.append(
            lifelines.utils.concordance_index(whas500.time[test], -risk, whas500.event[test])
        )
    np.testing.assert_allclose(cv.harrell_c.values.ravel(), expected, atol=1e-3)


@pytest.mark.parametrize("model", ["rsf", "gbs"])
def test_whas500_trees_are_within_noise_of_cox(model: str) -> None:
    # No documented whas500 value exists; the Cox model (checked against lifelines above)
    # is the yardstick, and the summary's shape is checked on the way.
    cox, trees = _cv("whas500", "cox"), _cv("whas500", model)
    _within_cv_noise(trees.harrell_c.mean, trees.harrell_c.sd_folds, cox.harrell_c.mean)
    summary = trees.summary()
    assert set(summary) == {"harrell_c", "uno_c", "mean_auc", "ibs"}
    assert trees.auc.shape == (2, 5, trees.times.size)
    assert 0.0 < summary["ibs"]["mean"] < 0.25
    assert summary["mean_auc"]["mean"] > 0.7
    assert summary["harrell_c"]["sd_repeats"] <= summary["harrell_c"]["sd_folds"]


def test_calibration_groups_match_lifelines_kaplan_meier() -> None:
    data = load_dataset("gbsg2")
    model = SurvivalModel("cox").fit(data.features, data.time, data.event)
    horizon = 1095.0
    table = calibration_table(model, data.features, data.time, data.event, horizon, n_groups=5)
    risk = 1.0 - model.predict_survival(data.features, [horizon])[:, 0]
    order = np.argsort(risk, kind="stable")
    assert table.n_patients.tolist() == [138, 137, 137, 137, 137]
    assert (np.diff(table.predicted) > 0).all()
    start = 0
    for group, size in enumerate(table.n_patients):
        members = order[start : start + size]
        start += size
        fitter = lifelines.KaplanMeierFitter().fit(data.time[members], data.event[members])
        observed = 1.0 - float(fitter.survival_function_at_times(horizon).iloc[0])
        assert table.observed[group] == pytest.approx(observed, abs=1e-12)
        assert table.predicted[group] == pytest.approx(risk[members].mean(), rel=1e-12)
    assert table.mean_absolute_error < 0.06


def test_calibration_beyond_a_groups_follow_up_is_unknown(uncensored: Any) -> None:
    features, time, event, model = uncensored
    early = time < np.median(time)
    censored = event[early].copy()
    censored[np.argmax(time[early])] = False  # the group's follow-up ends censored
    table = calibration_table(
        model, features[early], time[early], censored, float(time.max()), n_groups=1
    )
    assert np.isnan(table.observed[0])
    assert 0.0 < table.predicted[0] <= 1.0
    assert np.isnan(table.mean_absolute_error)
    with pytest.raises(InvalidParameterError, match="n_groups"):
        calibration_table(model, features, time, event, 1.0, n_groups=0)


def test_bad_cross_validation_settings_are_explained() -> None:
    data = load_dataset("veterans")
    with pytest.raises(InvalidParameterError, match="9 censored"):
        cross_validate_survival("cox", data.features, data.time, data.event, n_splits=10)
    with pytest.raises(InvalidParameterError, match="every test fold"):
        cross_validate_survival("cox", data.features, data.time, data.event, times=[1.0, 5000.0])
    model = SurvivalModel("cox").fit(data.features, data.time, data.event)
    with pytest.raises(InvalidParameterError, match="at least two"):
        score_survival(model, data.features, data.time, data.event, [30.0])
    with pytest.raises(InvalidParameterError, match="censoring_event"):
        score_survival(
            model, data.features, data.time, data.event, [30.0, 90.0], censoring_time=data.time
        )
    with pytest.raises(InvalidInputError, match="DataFrame"):
        cross_validate_survival("cox", data.features.to_dict("list"), data.time, data.event)
