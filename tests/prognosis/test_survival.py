"""Survival models: the shared contract, Cox against lifelines and published fits, bad input."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import lifelines
import lifelines.utils
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.prognosis.datasets import Dataset, load_dataset
from healthtwin.prognosis.survival import SURVIVAL_MODELS, SurvivalModel

FEW_TREES = {"rsf": {"n_estimators": 20}, "gbs": {"n_estimators": 30}}
REFERENCES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "prognosis" / "sksurv_reference.json").read_text()
)["references"]


@pytest.fixture(scope="module")
def veterans() -> Dataset:
    return load_dataset("veterans")


def _fit(name: str, data: Dataset, **options: Any) -> SurvivalModel:
    model = SurvivalModel(name, **FEW_TREES.get(name, {}), **options)
    return model.fit(data.features, data.time, data.event)


@pytest.mark.parametrize("name", sorted(SURVIVAL_MODELS))
def test_curves_are_monotone_probabilities_that_start_at_one(name: str, veterans: Dataset) -> None:
    model = _fit(name, veterans)
    times = np.array([0.0, 0.5, 10.0, 30.0, 90.0, 180.0, 365.0, veterans.time.max()])
    curves = model.predict_survival(veterans.features, times)
    assert curves.shape == (veterans.n_patients, times.size)
    assert ((curves >= 0.0) & (curves <= 1.0)).all()
    assert (np.diff(curves, axis=1) <= 0.0).all()
    assert (curves[:, :2] == 1.0).all()  # before the first death (day 1) nobody has died
    # Times in any order give the same values, column for column.
    shuffled = model.predict_survival(veterans.features, times[::-1])
    np.testing.assert_array_equal(shuffled, curves[:, ::-1])


@pytest.mark.parametrize("name", sorted(SURVIVAL_MODELS))
def test_curves_are_the_estimators_own_step_functions(name: str, veterans: Dataset) -> None:
    model = _fit(name, veterans)
    assert model.design_ is not None
    grid = np.asarray(model.estimator_.unique_times_)
    theirs = model.estimator_.predict_survival_function(
        model.design_.transform(veterans.features), return_array=True
    )
    np.testing.assert_allclose(model.predict_survival(veterans.features, grid), theirs, atol=1e-12)
    # Right-continuous steps: between two grid times the curve keeps the earlier value.
    between = (grid[:-1] + grid[1:]) / 2.0
    np.testing.assert_allclose(
        model.predict_survival(veterans.features, between), theirs[:, :-1], atol=1e-12
    )


@pytest.mark.parametrize("name", sorted(SURVIVAL_MODELS))
def test_risk_scores_order_patients_like_their_curves(name: str, veterans: Dataset) -> None:
    model = _fit(name, veterans)
    risk = model.predict_risk(veterans.features)
    assert risk.shape == (veterans.n_patients,)
    assert np.isfinite(risk).all()
    at_median = model.predict_survival(veterans.features, [np.median(veterans.time)])[:, 0]
    rho = spearmanr(risk, at_median).statistic
    # Proportional hazards: the order is exact; the forest's curves may cross.
    assert rho == pytest.approx(-1.0) if name in ("cox", "coxnet", "gbs") else rho < -0.9


@pytest.mark.parametrize("name", ["rsf", "gbs"])
def test_randomized_models_are_reproducible_from_their_seed(name: str, veterans: Dataset) -> None:
    first = _fit(name, veterans, random_state=3).predict_risk(veterans.features)
    again = _fit(name, veterans, random_state=3).predict_risk(veterans.features)
    other = _fit(name, veterans, random_state=4).predict_risk(veterans.features)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def _lifelines_cox(data: Dataset) -> tuple[Any, Any]:
    """lifelines' Cox fit on an independently encoded table (sorted reference levels)."""
    table = data.features.astype(dict.fromkeys(data.categorical, str))
    design = pd.get_dummies(table, drop_first=True, dtype=float, prefix_sep="=")
    fitted = lifelines.CoxPHFitter().fit(
        design.assign(T=data.time, E=data.event.astype(int)), "T", "E"
    )
    return fitted, design


@pytest.mark.parametrize("name", ["whas500", "gbsg2", "veterans", "rossi"])
def test_cox_agrees_with_lifelines(name: str) -> None:
    data = load_dataset(name)
    ours = SurvivalModel("cox").fit(data.features, data.time, data.event)
    reference, design = _lifelines_cox(data)
    coefficients = ours.coefficients()
    assert sorted(coefficients.index) == sorted(design.columns)
    np.testing.assert_allclose(coefficients, reference.params_[coefficients.index], atol=1e-4)
    # Both use Breslow's baseline hazard; lifelines interpolates between event times, so
    # the curves are compared at event times.
    deaths = np.unique(data.time[data.event])
    times = deaths[np.linspace(0, deaths.size - 1, 9).astype(int)]
    expected = reference.predict_survival_function(design, times=times).to_numpy().T
    np.testing.assert_allclose(ours.predict_survival(data.features, times), expected, atol=1e-4)


def test_cox_reproduces_the_published_rossi_fit() -> None:
    # Fox J & Weisberg S, "Cox proportional-hazards regression for survival data in R",
    # appendix to An R Companion to Applied Regression, 2nd ed. (2011): coxph (Efron ties)
    # of arrest on fin + age + race + wexp + mar + paro + prio; also printed in lifelines'
    # CoxPHFitter documentation.
    published = {
        "fin": -0.37942,
        "age": -0.05744,
        "race": 0.31390,
        "wexp": -0.14980,
        "mar": -0.43370,
        "paro": -0.08487,
        "prio": 0.09150,
    }
    data = load_dataset("rossi")
    fitted = SurvivalModel("cox").fit(data.features, data.time, data.event).coefficients()
    np.testing.assert_allclose(fitted[list(published)], list(published.values()), atol=1e-5)


def test_cox_reproduces_the_user_guide_veterans_concordance(veterans: Dataset) -> None:
    # scikit-survival's introductory user guide (protocols in tests/data/prognosis/
    # sksurv_reference.json): Harrell's C on the training patients, and the mean test C of
    # 3-fold KFold(shuffle=True, random_state=1) cross-validation; lifelines scores them.
    from sklearn.model_selection import KFold

    c_index = lifelines.utils.concordance_index
    features, time, event = veterans.features, veterans.time, veterans.event
    model = SurvivalModel("cox", ties="breslow").fit(features, time, event)
    in_sample = c_index(time, -model.predict_risk(features), event)
    assert in_sample == pytest.approx(REFERENCES["veterans_cox_train_harrell_c"]["value"])
    scores = []
    for train, test in KFold(n_splits=3, shuffle=True, random_state=1).split(features):
        fold = SurvivalModel("cox", ties="breslow")
        fold.fit(features.iloc[train], time[train], event[train])
        scores.append(c_index(time[test], -fold.predict_risk(features.iloc[test]), event[test]))
    expected = REFERENCES["veterans_cox_cv3_harrell_c"]["value"]
    assert np.mean(scores) == pytest.approx(expected, abs=1e-6)


def test_numbers_written_as_text_are_read_as_numbers(veterans: Dataset) -> None:
    model = _fit("cox", veterans)
    as_text = veterans.features.astype({"Karnofsky_score": str})
    np.testing.assert_array_equal(
        model.predict_risk(as_text), model.predict_risk(veterans.features)
    )


def test_imputation_uses_the_training_median_and_mode() -> None:
    data = load_dataset("lung")
    with pytest.raises(InvalidInputError, match=r"impute=True"):
        SurvivalModel("cox").fit(data.features, data.time, data.event)
    model = SurvivalModel("cox", impute=True).fit(data.features, data.time, data.event)
    assert model.design_ is not None
    assert model.design_.fill_values["wt.loss"] == np.nanmedian(data.features["wt.loss"])
    patient = data.features.iloc[[0]].copy()
    filled = patient.assign(**{"wt.loss": np.nanmedian(data.features["wt.loss"])})
    patient["wt.loss"] = np.nan
    np.testing.assert_array_equal(model.predict_risk(patient), model.predict_risk(filled))


def test_bad_prediction_tables_name_the_column_and_value(veterans: Dataset) -> None:
    model = _fit("cox", veterans)
    table = veterans.features.iloc[:3]
    with pytest.raises(InvalidInputError, match="Karnofsky_score"):
        model.predict_risk(table.drop(columns="Karnofsky_score"))
    with pytest.raises(InvalidInputError, match=r"'Age_in_years'.*'sixty'"):
        model.predict_risk(table.astype({"Age_in_years": object}).assign(Age_in_years="sixty"))
    unseen = table.astype({"Celltype": str}).assign(Celltype="mesothelioma")
    with pytest.raises(InvalidInputError, match=r"'Celltype'.*mesothelioma.*adeno"):
        model.predict_survival(unseen, [30.0])
    with pytest.raises(InvalidInputError, match="missing values"):
        model.predict_risk(table.assign(Age_in_years=np.nan))
    with pytest.raises(InvalidInputError, match="DataFrame"):
        model.predict_risk(table.to_numpy())


def test_bad_times_and_targets_are_rejected(veterans: Dataset) -> None:
    model = _fit("cox", veterans)
    with pytest.raises(InvalidParameterError, match=r"longest follow-up .* 999"):
        model.predict_survival(veterans.features, [100.0, 2000.0])
    with pytest.raises(InvalidParameterError, match="non-negative"):
        model.predict_survival(veterans.features, [-1.0])
    features, time, event = veterans.features, veterans.time, veterans.event
    with pytest.raises(ShapeError, match="137 rows"):
        SurvivalModel("cox").fit(features, time[:-1], event)
    with pytest.raises(InvalidInputError, match="0/1"):
        SurvivalModel("cox").fit(features, time, np.where(event, 2, 0))
    with pytest.raises(InvalidInputError, match="no event"):
        SurvivalModel("cox").fit(features, time, np.zeros_like(event))
    with pytest.raises(InvalidInputError, match="non-negative"):
        SurvivalModel("cox").fit(features, -time, event)


def test_unknown_names_settings_and_unfitted_use_are_explained(veterans: Dataset) -> None:
    with pytest.raises(UnknownModelError, match="cox, coxnet, rsf, gbs"):
        SurvivalModel("deepsurv")
    with pytest.raises(InvalidParameterError, match=r"n_trees.*n_estimators"):
        SurvivalModel("rsf", n_trees=10)
    with pytest.raises(InvalidParameterError, match="not fitted"):
        SurvivalModel("gbs").predict_risk(veterans.features)
    with pytest.raises(InvalidParameterError, match="Cox models"):
        _fit("rsf", veterans).coefficients()


@pytest.mark.parametrize(
    "module", ["healthtwin.prognosis.survival", "healthtwin.prognosis.evaluation"]
)
def test_import_without_the_ml_extra_names_it(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name.split(".")[0] in {"sksurv", "sklearn"}:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    for loaded in ("healthtwin.prognosis.survival", "healthtwin.prognosis.evaluation"):
        monkeypatch.delitem(sys.modules, loaded, raising=False)
    with pytest.raises(MissingDependencyError, match=r"healthtwin\[ml\]"):
        real(module)
