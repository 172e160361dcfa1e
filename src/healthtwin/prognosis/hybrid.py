"""Hybrid mechanistic + learned forecasting: a learned residual on top of a twin's forecast.

A mechanistic twin forecasts well what its equations know and misses what they do not
(unannounced meals, parameter errors, sensor artefacts). A regressor trained on
``observed(t + h) - mechanistic(t + h)`` from recent data learns the part the model
systematically misses; the hybrid forecast is the mechanistic forecast plus the learned
residual (residual or "grey-box" modelling; see e.g. Thompson & Kramer, AIChE J
40:1328-1340, 1994, and its use for glucose in Zarkogianni et al., IEEE J Biomed Health
Inform 2015). For comparison, :class:`MLForecaster` learns the same target from the same
features without the mechanistic forecast, as the change from an anchor feature (the last
reading), the usual way data-driven CGM forecasters are trained.

Features are plain arrays ``(n_points, n_features)`` built by the caller (for instance
with :mod:`~healthtwin.prognosis.forecast_features`). scikit-learn is the optional ``ml``
extra, imported when a regressor is built.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.prognosis._extras import require_ml

__all__ = [
    "REGRESSORS",
    "HybridForecaster",
    "MLForecaster",
    "Regressor",
    "make_regressor",
]

#: Names accepted by :func:`make_regressor`.
REGRESSORS = ("gradient-boosting", "ridge")


class Regressor(Protocol):
    """What a learner needs: scikit-learn's ``fit(X, y)`` and ``predict(X)``."""

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict(self, X: Any) -> Any: ...


def _sklearn(module: str) -> ModuleType:
    return require_ml(f"sklearn.{module}", "learned forecasters")


def make_regressor(name: str, *, random_state: int = 0) -> Regressor:
    """A fresh scikit-learn regressor called ``name`` (one of :data:`REGRESSORS`).

    ``"gradient-boosting"`` is a histogram gradient-boosted tree ensemble (fast, handles
    interactions such as "rising and a bolus on board"); ``"ridge"`` is a standardized
    ridge regression with its penalty chosen by leave-one-out cross-validation.

    Raises
    ------
    UnknownModelError
        For a name not in :data:`REGRESSORS`.
    MissingDependencyError
        When scikit-learn is not installed.

    Examples
    --------
    >>> type(make_regressor("ridge")).__name__
    'Pipeline'
    """
    if name == "gradient-boosting":
        boosted: Regressor = _sklearn("ensemble").HistGradientBoostingRegressor(
            max_iter=300,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=random_state,
        )
        return boosted
    if name == "ridge":
        pipeline, linear = _sklearn("pipeline"), _sklearn("linear_model")
        scaler = _sklearn("preprocessing").StandardScaler()
        ridge: Regressor = pipeline.make_pipeline(
            scaler, linear.RidgeCV(alphas=np.logspace(-3.0, 3.0, 13))
        )
        return ridge
    raise UnknownModelError(
        f"unknown regressor {name!r}; valid regressors: {', '.join(REGRESSORS)}"
    )


def _matrix(features: npt.ArrayLike, n: int | None = None) -> FloatArray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or (n is not None and x.shape[0] != n):
        raise ShapeError(
            f"features must be (n_points, n_features) with one row per point"
            f"{'' if n is None else f' ({n})'}, got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("features contain NaN or infinite values; impute or drop them")
    return x


def _vector(values: npt.ArrayLike, n: int, what: str) -> FloatArray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ShapeError(f"{what} needs one value per point, shape ({n},), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidInputError(f"{what} contains NaN or infinite values; drop those points")
    return v


class _ResidualLearner:
    """Learns ``observed - baseline`` from features; shared by both forecasters."""

    def __init__(self, regressor: str | Regressor, random_state: int) -> None:
        if isinstance(regressor, str) and regressor not in REGRESSORS:
            raise UnknownModelError(
                f"unknown regressor {regressor!r}; valid regressors: {', '.join(REGRESSORS)}"
            )
        self.regressor = regressor
        self.random_state = random_state
        self.estimator_: Regressor | None = None
        self.n_features_: int = 0

    def _fit(self, x: FloatArray, baseline: FloatArray, observed: FloatArray) -> None:
        estimator = (
            make_regressor(self.regressor, random_state=self.random_state)
            if isinstance(self.regressor, str)
            else self.regressor
        )
        estimator.fit(x, observed - baseline)
        self.estimator_, self.n_features_ = estimator, x.shape[1]

    def _predict(self, x: FloatArray, baseline: FloatArray) -> FloatArray:
        if self.estimator_ is None:
            raise InvalidInputError(f"{type(self).__name__} is not fitted; call fit() first")
        if x.shape[1] != self.n_features_:
            raise ShapeError(
                f"fitted on {self.n_features_} features, got {x.shape[1]}; build the "
                "features the same way for fitting and predicting"
            )
        residual = np.asarray(self.estimator_.predict(x), dtype=np.float64)
        return baseline + residual


class HybridForecaster(_ResidualLearner):
    """A mechanistic forecast corrected by a learned residual.

    The regressor sees the features and the mechanistic forecast itself, and learns
    ``observed - mechanistic``.

    Parameters
    ----------
    regressor
        A name in :data:`REGRESSORS` or an unfitted scikit-learn-style regressor.
    random_state
        Seed of the regressor built from a name.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(400, 2))
    >>> truth = 100.0 + 10.0 * features[:, 0]
    >>> mechanistic = truth - 5.0 * features[:, 1]  # the model misses one effect
    >>> hybrid = HybridForecaster("ridge").fit(mechanistic, features, truth)
    >>> bool(np.abs(hybrid.predict(mechanistic, features) - truth).max() < 1e-3)
    True
    """

    def __init__(
        self, regressor: str | Regressor = "gradient-boosting", *, random_state: int = 0
    ) -> None:
        super().__init__(regressor, random_state)

    def fit(
        self,
        mechanistic_forecast: npt.ArrayLike,
        features: npt.ArrayLike,
        observed: npt.ArrayLike,
    ) -> HybridForecaster:
        """Learn ``observed - mechanistic_forecast``; arrays ``(n,)``, ``(n, p)``, ``(n,)``."""
        x = _matrix(features)
        mech = _vector(mechanistic_forecast, x.shape[0], "mechanistic_forecast")
        y = _vector(observed, x.shape[0], "observed")
        self._fit(np.column_stack([x, mech]), mech, y)
        return self

    def predict(self, mechanistic_forecast: npt.ArrayLike, features: npt.ArrayLike) -> FloatArray:
        """Hybrid forecast ``(n,)``: the mechanistic forecast plus the learned residual."""
        x = _matrix(features)
        mech = _vector(mechanistic_forecast, x.shape[0], "mechanistic_forecast")
        return self._predict(np.column_stack([x, mech]), mech)


class MLForecaster(_ResidualLearner):
    """A purely data-driven forecaster on the same features, without the model.

    Parameters
    ----------
    regressor
        A name in :data:`REGRESSORS` or an unfitted scikit-learn-style regressor.
    anchor_column
        The regressor learns ``observed - features[:, anchor_column]`` (the change from
        the last reading when that column holds it); ``None`` learns ``observed`` itself.
    random_state
        Seed of the regressor built from a name.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> last, slope = rng.normal(120.0, 30.0, 300), rng.normal(0.0, 1.0, 300)
    >>> features = np.column_stack([last, slope])
    >>> ml = MLForecaster("ridge").fit(features, last + 30.0 * slope)
    >>> bool(np.allclose(ml.predict(features), last + 30.0 * slope, atol=0.1))
    True
    """

    def __init__(
        self,
        regressor: str | Regressor = "gradient-boosting",
        *,
        anchor_column: int | None = 0,
        random_state: int = 0,
    ) -> None:
        super().__init__(regressor, random_state)
        self.anchor_column = anchor_column

    def _anchor(self, x: FloatArray) -> FloatArray:
        if self.anchor_column is None:
            return np.zeros(x.shape[0])
        if not -x.shape[1] <= self.anchor_column < x.shape[1]:
            raise InvalidParameterError(
                f"anchor_column {self.anchor_column} is outside the {x.shape[1]} feature "
                "columns; give the column of the last reading, or None"
            )
        return x[:, self.anchor_column]

    def fit(self, features: npt.ArrayLike, observed: npt.ArrayLike) -> MLForecaster:
        """Learn ``observed`` (relative to the anchor) from ``features``."""
        x = _matrix(features)
        self._fit(x, self._anchor(x), _vector(observed, x.shape[0], "observed"))
        return self

    def predict(self, features: npt.ArrayLike) -> FloatArray:
        """Forecast ``(n,)`` from ``features`` ``(n, p)``."""
        x = _matrix(features)
        return self._predict(x, self._anchor(x))
