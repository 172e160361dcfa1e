"""Residual learners and forecasting features, against closed-form references."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.prognosis.forecast_features import history_features, on_board
from healthtwin.prognosis.hybrid import HybridForecaster, MLForecaster, make_regressor


def _least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fitted values of an ordinary least-squares fit with an intercept."""
    design = np.column_stack([x, np.ones(len(x))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return np.asarray(design @ coef)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(300, 3))
    mechanistic = 120.0 + 30.0 * rng.normal(size=300)
    observed = mechanistic + 8.0 * features[:, 1] - 0.1 * mechanistic + rng.normal(0, 2, 300)
    return features, mechanistic, observed


def test_hybrid_learns_the_residual_as_least_squares_would(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    features, mech, observed = data
    hybrid = HybridForecaster(LinearRegression()).fit(mech, features, observed)
    expected = mech + _least_squares(np.column_stack([features, mech]), observed - mech)
    np.testing.assert_allclose(hybrid.predict(mech, features), expected, rtol=1e-10)


def test_ml_learns_the_change_from_the_anchor_as_least_squares_would(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    features, _, observed = data
    x = np.column_stack([observed + features[:, 0], features])  # column 0: a "last reading"
    ml = MLForecaster(LinearRegression(), anchor_column=0).fit(x, observed)
    np.testing.assert_allclose(ml.predict(x), x[:, 0] + _least_squares(x, observed - x[:, 0]))
    plain = MLForecaster(LinearRegression(), anchor_column=None).fit(x, observed)
    np.testing.assert_allclose(plain.predict(x), _least_squares(x, observed), rtol=1e-8)


def test_boosted_trees_correct_a_nonlinear_model_error() -> None:
    rng = np.random.default_rng(0)
    features = rng.uniform(-1.0, 1.0, size=(800, 2))
    truth = 150.0 + 40.0 * features[:, 0]
    mech = truth - 25.0 * (features[:, 1] > 0.3)  # misses a step the data show
    train, test = slice(0, 600), slice(600, None)
    hybrid = HybridForecaster("gradient-boosting").fit(mech[train], features[train], truth[train])
    error = hybrid.predict(mech[test], features[test]) - truth[test]
    assert np.sqrt(np.mean(error**2)) < 0.2 * np.sqrt(np.mean((mech[test] - truth[test]) ** 2))


def test_history_features_are_last_value_and_slopes() -> None:
    history = np.array([[100.0, 104.0, 110.0, 118.0, 130.0], [90.0, 90.0, 90.0, 90.0, 80.0]])
    got = history_features(history, 5.0, lags=(1, 4))
    expected = [[130.0, 12.0 / 5.0, 30.0 / 20.0], [80.0, -10.0 / 5.0, -10.0 / 20.0]]
    np.testing.assert_allclose(got, expected)
    with pytest.raises(ShapeError, match="longer history"):
        history_features(history, 5.0, lags=(5,))


def test_on_board_is_the_decaying_running_sum() -> None:
    rng = np.random.default_rng(5)
    doses = rng.exponential(1.0, size=(3, 50)) * (rng.random((3, 50)) < 0.2)
    decay = np.exp(-5.0 / 60.0)
    expected = np.zeros_like(doses)
    for k in range(doses.shape[1]):
        expected[:, k] = doses[:, k] + (decay * expected[:, k - 1] if k else 0.0)
    np.testing.assert_allclose(on_board(doses, 5.0, 60.0), expected, rtol=1e-12)
    with pytest.raises(InvalidParameterError):
        on_board(doses, 5.0, 0.0)


def test_misuse_raises_errors_that_say_how_to_fix_it(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    features, mech, observed = data
    with pytest.raises(UnknownModelError, match="valid regressors: gradient-boosting, ridge"):
        HybridForecaster("forest")
    with pytest.raises(InvalidInputError, match="call fit"):
        HybridForecaster("ridge").predict(mech, features)
    hybrid = HybridForecaster("ridge").fit(mech, features, observed)
    with pytest.raises(ShapeError, match="same way"):
        hybrid.predict(mech, features[:, :2])
    with pytest.raises(ShapeError, match="one value per point"):
        hybrid.predict(mech[:10], features)
    with pytest.raises(InvalidInputError, match="NaN"):
        HybridForecaster("ridge").fit(mech, np.where(features > 2, np.nan, features), observed)
    with pytest.raises(InvalidParameterError, match="anchor_column"):
        MLForecaster("ridge", anchor_column=5).fit(features, observed)


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name.startswith("sklearn"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingDependencyError, match=r"pip install 'healthtwin\[ml\]'"):
        make_regressor("gradient-boosting")
