"""Disease-progression regression with checked inputs and conformal intervals.

:class:`ProgressionModel` wraps a scikit-learn regressor (gradient boosting, or a ridge or
ordinary least-squares baseline) in a pipeline that one-hot encodes categorical columns
and, for the linear baselines, standardizes numeric ones. Inputs are checked against the
:class:`~.feature_schema.FeatureSchema` read at fit time, so a missing column, text in a
numeric column or an unseen category is a clear error rather than a silent misprediction.
Calibrating on cases held out from fitting gives split conformal intervals
(:mod:`.conformal`): :meth:`ProgressionModel.predict_interval` then covers a new outcome
with probability at least ``1 - alpha`` when new cases resemble the calibration ones.
:func:`calibration_split` draws the held-out rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, final

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.prognosis._extras import require_ml
from healthtwin.prognosis.conformal import PredictionInterval, SplitConformalRegressor
from healthtwin.prognosis.feature_schema import FeatureSchema

__all__ = ["REGRESSORS", "ProgressionModel", "calibration_split"]


def _gradient_boosting(seed: int) -> Any:
    ensemble = require_ml("sklearn.ensemble", "gradient-boosting progression models")
    return ensemble.GradientBoostingRegressor(random_state=seed)


def _ridge(seed: int) -> Any:
    linear = require_ml("sklearn.linear_model", "ridge progression models")
    return linear.Ridge(alpha=1.0)


def _linear(seed: int) -> Any:
    linear = require_ml("sklearn.linear_model", "linear progression models")
    return linear.LinearRegression()


REGRESSORS: dict[str, Callable[[int], Any]] = {
    "gradient_boosting": _gradient_boosting,
    "ridge": _ridge,
    "linear": _linear,
}
"""Regressor names and their factories (seed -> unfitted scikit-learn regressor)."""

_SCALED = frozenset({"ridge", "linear"})


@final
class ProgressionModel:
    """A progression regressor with a checked input schema and conformal intervals.

    Parameters
    ----------
    regressor
        A name in :data:`REGRESSORS`.
    categorical
        Numeric-looking columns to treat as categories (text columns always are).
    random_state
        Seed of the regressor (gradient boosting breaks ties between splits with it).

    Attributes
    ----------
    schema_ : FeatureSchema
        Columns and kinds read from the fitting table.
    pipeline_ : sklearn.pipeline.Pipeline
        Preprocessing and the fitted regressor.
    conformal_ : SplitConformalRegressor
        The pipeline with its residuals on the calibration cases (after :meth:`calibrate`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.uniform(30, 80, 200), "sex": rng.choice(["F", "M"], 200)})
    >>> y = 2.0 * X["age"] + (X["sex"] == "M") * 5.0 + rng.normal(0, 1, 200)
    >>> train, cal = calibration_split(len(X), 0.25, rng)
    >>> model = ProgressionModel("linear").fit(X.iloc[train], y[train])
    >>> model = model.calibrate(X.iloc[cal], y[cal])
    >>> interval = model.predict_interval(X.head(3), alpha=0.1)
    >>> bool(np.all(interval.width < 5.0))
    True
    >>> model.predict(pd.DataFrame({"age": [60.0], "sex": ["X"]}))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: column 'sex' has categories ['X'] (rows 0) not seen ...
    """

    def __init__(
        self,
        regressor: str = "gradient_boosting",
        categorical: Sequence[str] = (),
        random_state: int = 0,
    ):
        if regressor not in REGRESSORS:
            raise UnknownModelError(
                f"no progression regressor {regressor!r}; choose one of {sorted(REGRESSORS)}"
            )
        self.regressor = regressor
        self.categorical = tuple(categorical)
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> ProgressionModel:
        """Fit the pipeline; call :meth:`calibrate` on other cases before intervals.

        Raises
        ------
        InvalidInputError
            If ``X`` is not a table, or ``y`` is not numeric and finite with one value
            per row.
        """
        schema = FeatureSchema.infer(X, self.categorical)
        frame = schema.validate(X)
        target = _target(y, len(frame))
        pipeline = self._pipeline(schema, self.random_state)
        pipeline.fit(frame, target)
        self.schema_, self.pipeline_ = schema, pipeline
        self.__dict__.pop("conformal_", None)
        return self

    def calibrate(self, X: Any, y: Any) -> ProgressionModel:
        """Score the fitted model on cases not used in :meth:`fit` (or from a new site)."""
        frame = self._checked(X)
        self.conformal_ = SplitConformalRegressor.calibrate(
            self.pipeline_, frame, _target(y, len(frame))
        )
        return self

    def predict(self, X: Any) -> FloatArray:
        """Predicted progression, shape ``(n,)``."""
        frame = self._checked(X)
        return np.asarray(self.pipeline_.predict(frame), dtype=np.float64)

    def predict_interval(self, X: Any, alpha: float = 0.1) -> PredictionInterval:
        """Split conformal intervals with coverage at least ``1 - alpha``.

        Raises
        ------
        InvalidParameterError
            If the model has not been calibrated, or ``alpha`` needs more calibration
            cases than it has.
        """
        frame = self._checked(X)
        if not hasattr(self, "conformal_"):
            raise InvalidParameterError(
                "this ProgressionModel is not calibrated; call calibrate(X, y) with cases "
                "not used in fit before asking for intervals"
            )
        return self.conformal_.predict_interval(frame, alpha)

    def design_matrix(self, X: Any) -> tuple[FloatArray, tuple[str, ...]]:
        """Rows as the regressor sees them (encoded, scaled) and those columns' names.

        This is the input for :mod:`.explain` on :attr:`final_estimator`.
        """
        frame = self._checked(X)
        transform = self.pipeline_[:-1]
        matrix = np.asarray(transform.transform(frame), dtype=np.float64)
        names = tuple(str(n) for n in transform.get_feature_names_out())
        return matrix, names

    @property
    def final_estimator(self) -> Any:
        """The fitted scikit-learn regressor at the end of the pipeline."""
        return self.pipeline_[-1]

    def _checked(self, X: Any) -> Any:
        if not hasattr(self, "schema_"):
            raise InvalidParameterError("this ProgressionModel is not fitted; call fit first")
        return self.schema_.validate(X)

    def _pipeline(self, schema: FeatureSchema, seed: int) -> Any:
        compose = require_ml("sklearn.compose", "progression models")
        pipeline = require_ml("sklearn.pipeline", "progression models")
        preprocessing = require_ml("sklearn.preprocessing", "progression models")
        numeric = preprocessing.StandardScaler() if self.regressor in _SCALED else "passthrough"
        encoder = preprocessing.OneHotEncoder(
            categories=[list(f.categories) for f in schema.categorical],
            drop="first" if self.regressor in _SCALED else None,
            sparse_output=False,
        )
        parts = [("numeric", numeric, list(schema.numeric))] if schema.numeric else []
        if schema.categorical:
            parts.append(("categorical", encoder, [f.name for f in schema.categorical]))
        columns = compose.ColumnTransformer(parts, verbose_feature_names_out=False)
        return pipeline.Pipeline(
            [("columns", columns), ("regressor", REGRESSORS[self.regressor](seed))]
        )


def calibration_split(
    n_rows: int, calibration_fraction: float, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Random disjoint row indices to fit on and to calibrate on.

    Examples
    --------
    >>> train, cal = calibration_split(8, 0.25, np.random.default_rng(0))
    >>> len(train), len(cal), sorted([*train, *cal]) == list(range(8))
    (6, 2, True)
    """
    n_cal = round(calibration_fraction * n_rows)
    if not 0.0 < calibration_fraction < 1.0 or min(n_cal, n_rows - n_cal) < 1:
        raise InvalidParameterError(
            f"calibration_fraction={calibration_fraction} of {n_rows} rows leaves no row "
            "to fit or to calibrate on; use a fraction such as 0.25 of enough rows"
        )
    order = rng.permutation(n_rows).astype(np.int64)
    return np.sort(order[n_cal:]), np.sort(order[:n_cal])


def _target(y: Any, n_rows: int) -> FloatArray:
    try:
        target = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"the outcome must be numeric: {err}") from err
    if target.shape != (n_rows,):
        raise InvalidInputError(
            f"the outcome has shape {target.shape}; it needs one value per row ({n_rows})"
        )
    if not np.all(np.isfinite(target)):
        raise InvalidInputError(
            f"the outcome has {int(np.sum(~np.isfinite(target)))} NaN or infinite values; "
            "drop those rows before fitting"
        )
    return target
