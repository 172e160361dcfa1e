"""Progression models on the diabetes data: equal to plain scikit-learn, checked inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    UnknownModelError,
)
from healthtwin.prognosis.progression import ProgressionModel, calibration_split


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    """The 442 patients in clinical units; sex is coded 1/2, here as text."""
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    X = X.assign(sex=X["sex"].map({1.0: "F", 2.0: "M"}))
    return X, y.to_numpy()


def test_numeric_models_equal_plain_sklearn(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    numeric = X.drop(columns="sex")
    train, _ = calibration_split(len(y), 0.25, np.random.default_rng(0))
    ours = ProgressionModel("linear").fit(numeric.iloc[train], y[train])
    ols = LinearRegression().fit(numeric.iloc[train].to_numpy(), y[train])
    np.testing.assert_allclose(ours.predict(numeric), ols.predict(numeric.to_numpy()), atol=1e-8)
    ours_gb = ProgressionModel("gradient_boosting").fit(numeric.iloc[train], y[train])
    gb = GradientBoostingRegressor(random_state=0).fit(numeric.iloc[train].to_numpy(), y[train])
    np.testing.assert_array_equal(ours_gb.predict(numeric), gb.predict(numeric.to_numpy()))


def test_ridge_encodes_sex_as_one_indicator(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    model = ProgressionModel("ridge").fit(X, y)
    matrix, names = model.design_matrix(X)
    assert names == (*[c for c in X.columns if c != "sex"], "sex_M")
    np.testing.assert_array_equal(matrix[:, -1], (X["sex"] == "M").to_numpy())
    standardized = matrix[:, :-1]
    np.testing.assert_allclose(standardized.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(standardized.std(axis=0), 1.0, atol=1e-12)
    reference = Ridge(alpha=1.0).fit(matrix, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(matrix), atol=1e-9)


@pytest.mark.parametrize(("regressor", "n_splits"), [("ridge", 40), ("gradient_boosting", 10)])
def test_intervals_cover_held_out_patients(
    diabetes: tuple[pd.DataFrame, Any], regressor: str, n_splits: int
) -> None:
    X, y = diabetes
    rng = np.random.default_rng(42)
    coverages = []
    for _ in range(n_splits):
        rest, test = calibration_split(len(y), 0.25, rng)  # 111 test patients
        train, cal = rest[:221], rest[221:]  # 110 calibration patients
        model = ProgressionModel(regressor).fit(X.iloc[train], y[train])
        interval = model.calibrate(X.iloc[cal], y[cal]).predict_interval(X.iloc[test], 0.1)
        coverages.append(interval.coverage(y[test]))
        assert np.allclose(interval.width, interval.width[0])  # constant width
    # Per split: calibration quantile (Beta-distributed coverage) plus binomial test noise.
    se = math.sqrt((0.9 * 0.1 / 112 + 0.9 * 0.1 / 111) / n_splits)
    assert 0.9 - 3 * se <= np.mean(coverages) <= 0.9 + 1 / 111 + 3 * se


def test_columns_may_be_reordered_and_extra_columns_are_ignored(
    diabetes: tuple[pd.DataFrame, Any],
) -> None:
    X, y = diabetes
    model = ProgressionModel("ridge").fit(X, y)
    shuffled = X[list(reversed(X.columns))].assign(site="A")
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(X))


@pytest.fixture(scope="module")
def fitted(diabetes: tuple[pd.DataFrame, Any]) -> ProgressionModel:
    X, y = diabetes
    return ProgressionModel("ridge").fit(X, y).calibrate(X.iloc[:100], y[:100])


def test_missing_column_is_named(fitted: ProgressionModel, diabetes: Any) -> None:
    X, _ = diabetes
    with pytest.raises(InvalidInputError, match=r"lacks columns \['bmi', 's5'\]"):
        fitted.predict(X.drop(columns=["bmi", "s5"]))


def test_text_in_numeric_column_is_named(fitted: ProgressionModel, diabetes: Any) -> None:
    X, _ = diabetes
    bad = X.head(5).astype({"bp": object})
    bad.loc[3, "bp"] = "120/80"
    with pytest.raises(InvalidInputError, match=r"'bp' must be numeric.*'120/80' \(row 3\)"):
        fitted.predict_interval(bad)
    as_text = X.head(2).astype({"age": str})
    with pytest.raises(InvalidInputError, match="'age' must be numeric"):
        fitted.predict(as_text)


def test_missing_numbers_and_unseen_categories_are_named(
    fitted: ProgressionModel, diabetes: Any
) -> None:
    X, _ = diabetes
    gap = X.head(5).copy()
    gap.loc[[1, 4], "s1"] = np.nan
    with pytest.raises(InvalidInputError, match=r"'s1' has 2 missing values \(rows 1, 4\)"):
        fitted.predict(gap)
    other = X.head(3).assign(sex=["F", "other", "M"])
    with pytest.raises(InvalidInputError, match=r"categories \['other'\].*\['F', 'M'\]"):
        fitted.predict(other)
    with pytest.raises(InvalidInputError, match="missing values"):
        fitted.predict(X.head(3).assign(sex=["F", None, "M"]))


def test_wrong_usage_is_explained(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    with pytest.raises(UnknownModelError, match="choose one of"):
        ProgressionModel("xgboost")
    with pytest.raises(InvalidInputError, match="pandas DataFrame"):
        ProgressionModel("ridge").fit(X.to_numpy(), y)
    with pytest.raises(InvalidInputError, match="one value per row"):
        ProgressionModel("ridge").fit(X, y[:-1])
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        ProgressionModel("ridge").fit(X, np.where(np.arange(len(y)) == 7, np.nan, y))
    with pytest.raises(InvalidParameterError, match="not fitted"):
        ProgressionModel("ridge").predict(X)
    uncalibrated = ProgressionModel("ridge").fit(X, y)
    with pytest.raises(InvalidParameterError, match="not calibrated"):
        uncalibrated.predict_interval(X)
    with pytest.raises(InvalidParameterError, match="calibration cases"):
        uncalibrated.calibrate(X.head(5), y[:5]).predict_interval(X, alpha=0.1)
    with pytest.raises(InvalidParameterError, match="calibration_fraction"):
        calibration_split(10, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="lacks columns"):  # errors are also built-ins
        uncalibrated.predict(X.drop(columns="age"))
