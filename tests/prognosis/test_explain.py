"""Explanations against closed forms and a brute-force Shapley computation."""

from __future__ import annotations

import math
import sys
import warnings
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from healthtwin.errors import InvalidParameterError, MissingDependencyError
from healthtwin.prognosis.explain import (
    explain,
    linear_contributions,
    permutation_importance,
    top_features,
)
from healthtwin.prognosis.progression import ProgressionModel


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    return X, y.to_numpy()


def _shap_module() -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="shap")
        import shap
    return shap


def test_linear_shap_is_coef_times_centred_x(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    train, rows = X.iloc[:100], X.iloc[100:104]
    model = LinearRegression().fit(train, y[:100])
    expected = model.coef_ * (rows.to_numpy() - train.to_numpy().mean(axis=0))

    closed_form = explain(model, rows, background=train)  # auto -> linear
    assert closed_form.method == "linear"
    np.testing.assert_allclose(closed_form.values, expected, rtol=0, atol=1e-8)

    # Model-agnostic interventional SHAP with the whole training set as background.
    sampled = explain(model, rows, background=train, method="kernel", max_background=None)
    np.testing.assert_allclose(sampled.values, expected, rtol=0, atol=1e-8)
    assert sampled.baseline == pytest.approx(model.predict(train).mean(), abs=1e-8)

    shap = _shap_module()
    masker = shap.maskers.Independent(train, max_samples=len(train))
    reference = shap.LinearExplainer(model, masker)(rows)
    np.testing.assert_allclose(reference.values, expected, rtol=0, atol=1e-8)

    for e in (closed_form, sampled):
        np.testing.assert_allclose(e.predictions, model.predict(rows), rtol=0, atol=1e-8)
        assert e.feature_names == tuple(X.columns)


def _brute_force_shapley(model: Any, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Interventional Shapley values by enumerating all 2^d coalitions."""
    d = x.size
    value: dict[tuple[int, ...], float] = {}
    for size in range(d + 1):
        for subset in combinations(range(d), size):
            mixed = background.copy()
            mixed[:, list(subset)] = x[list(subset)]
            value[subset] = float(model.predict(mixed).mean())
    phi = np.zeros(d)
    for j in range(d):
        others = [i for i in range(d) if i != j]
        for size in range(d):
            weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for subset in combinations(others, size):
                with_j = tuple(sorted((*subset, j)))
                phi[j] += weight * (value[with_j] - value[subset])
    return phi


@pytest.mark.parametrize(
    ("make_model", "method"),
    [
        (lambda: GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0), "tree"),
        (lambda: make_pipeline(StandardScaler(), SVR(C=50.0)), "kernel"),
    ],
    ids=["tree", "kernel"],
)
def test_shap_equals_brute_force_shapley(
    diabetes: tuple[pd.DataFrame, Any], make_model: Any, method: str
) -> None:
    X, y = diabetes
    columns = ["age", "bmi", "bp", "s1", "s5", "s6"]  # 64 coalitions keep this quick
    data = X[columns].to_numpy()
    model = make_model().fit(data[:300], y[:300])
    background, rows = data[:300:10], data[300:302]  # 30 background patients
    e = explain(model, rows, background=background)
    assert e.method == method
    for i, x in enumerate(rows):
        np.testing.assert_allclose(
            e.values[i], _brute_force_shapley(model, x, background), rtol=1e-6, atol=1e-6
        )
    np.testing.assert_allclose(e.predictions, model.predict(rows), rtol=1e-7)
    assert e.baseline == pytest.approx(model.predict(background).mean(), rel=1e-7)


def test_progression_model_explained_on_its_design_matrix(
    diabetes: tuple[pd.DataFrame, Any],
) -> None:
    X, y = diabetes
    model = ProgressionModel("ridge", categorical=["sex"]).fit(X, y)
    matrix, names = model.design_matrix(X)
    rows = pd.DataFrame(matrix[:5], columns=names)
    e = explain(model.final_estimator, rows, background=pd.DataFrame(matrix, columns=names))
    np.testing.assert_allclose(e.predictions, model.predict(X.head(5)), atol=1e-8)
    assert e.baseline == pytest.approx(y.mean(), abs=1e-8)  # ridge keeps the mean
    assert "sex_2.0" in e.feature_names


def test_top_features_rank_by_size(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    model = LinearRegression().fit(X, y)
    e = linear_contributions(model, X.head(20), background=X)
    top = top_features(e, 3, row=7)
    order = np.argsort(-np.abs(e.values[7]))[:3]
    assert top == tuple((X.columns[j], e.values[7, j]) for j in order)
    overall = top_features(e, 10)
    assert [v for _, v in overall] == sorted((v for _, v in overall), reverse=True)
    with pytest.raises(InvalidParameterError, match="outside the 20"):
        top_features(e, 3, row=20)
    with pytest.raises(InvalidParameterError, match="k must be"):
        top_features(e, 0)


def test_permutation_importance_is_sklearns(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    model = LinearRegression().fit(X, y)
    ours = permutation_importance(model, X, y, rng=np.random.default_rng(3), n_repeats=5)
    seed = int(np.random.default_rng(3).integers(2**31 - 1))
    reference = sk_permutation_importance(model, X, y, n_repeats=5, random_state=seed)
    np.testing.assert_array_equal(ours.mean, reference.importances_mean)
    np.testing.assert_array_equal(ours.std, reference.importances_std)
    # Body-mass index and serum triglycerides (s5) are among the leaders, as in Efron et
    # al. (2004); s1 joins them because least squares gives it a large coefficient that
    # the correlated s2 offsets.
    assert {"bmi", "s5"} <= {name for name, _ in top_features(ours, 3)}


def test_without_shap_linear_models_still_explain(
    diabetes: tuple[pd.DataFrame, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = diabetes
    monkeypatch.setitem(sys.modules, "shap", None)  # what an absent package looks like
    linear = LinearRegression().fit(X, y)
    assert explain(linear, X.head(3), background=X).method == "linear"
    tree = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y)
    with pytest.raises(MissingDependencyError, match=r"healthtwin\[explain\].*method='linear'"):
        explain(tree, X.head(3), background=X)
    with pytest.raises(InvalidParameterError, match="not a single-output linear model"):
        explain(tree, X.head(3), background=X, method="linear")
    with pytest.raises(InvalidParameterError, match="method must be"):
        explain(tree, X.head(3), background=X, method="permutation")  # type: ignore[arg-type]
