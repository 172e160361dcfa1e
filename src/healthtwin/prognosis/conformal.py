"""Split conformal prediction intervals around any fitted regressor.

Split conformal regression (Vovk et al. 2005; Lei et al. 2018, JASA 113:1094) scores
``n`` held-out calibration cases by ``s_i = |y_i - f(x_i)|`` and returns
``f(x) ± q``, where ``q`` is the ``k``-th smallest score and
``k = ceil((n + 1)(1 - alpha))``. If calibration and test cases are exchangeable, the
interval covers a new outcome with probability at least ``1 - alpha`` and, for continuous
scores, at most ``1 - alpha + 1/(n + 1)``; the marginal coverage is exactly ``k/(n + 1)``.

Conformalized quantile regression (CQR; Romano, Patterson & Candès, NeurIPS 2019) starts
from a lower and an upper quantile regressor, scores ``s_i = max(lo(x_i) - y_i,
y_i - hi(x_i))`` and returns ``[lo(x) - q, hi(x) + q]``, so the width adapts to ``x``.
The asymmetric variant (their Theorem 2) corrects each side with its own signed score at
level ``1 - alpha/2``.

The ``k``-th order statistic is the same quantile MAPIE 1.x uses (numpy quantile at level
``k/n`` with ``method="lower"``). One difference: ``(n + 1)(1 - alpha)`` within ``1e-9``
of an integer is taken to be that integer, as in exact arithmetic, whereas a plain
floating-point ``ceil`` can land one order statistic higher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = [
    "ConformalizedQuantileRegressor",
    "PredictionInterval",
    "Regressor",
    "SplitConformalRegressor",
    "absolute_residual_scores",
    "conformal_quantile",
    "conformal_rank",
    "cqr_scores",
]

_INTEGER_TOLERANCE = 1e-9


class Regressor(Protocol):
    """Anything with a scikit-learn style ``predict(X) -> (n,)``."""

    def predict(self, X: Any) -> Any: ...


@dataclass(frozen=True)
class PredictionInterval:
    """Lower and upper bounds, each shape ``(n,)``, at miscoverage ``alpha``."""

    lower: FloatArray
    upper: FloatArray
    alpha: float

    @property
    def width(self) -> FloatArray:
        """Interval widths, shape ``(n,)``."""
        return np.asarray(self.upper - self.lower)

    def covers(self, y: Any) -> BoolArray:
        """Whether each outcome lies inside its closed interval, shape ``(n,)``."""
        y_arr = _as_vector(y, "y")
        if y_arr.shape != self.lower.shape:
            raise ShapeError(f"y has shape {y_arr.shape}, the intervals {self.lower.shape}")
        return np.asarray((self.lower <= y_arr) & (y_arr <= self.upper))

    def coverage(self, y: Any) -> float:
        """Fraction of outcomes inside their interval (nominal ``1 - alpha``)."""
        return float(np.mean(self.covers(y)))


def conformal_rank(n_calibration: int, alpha: float) -> int:
    """The order statistic ``k = ceil((n + 1)(1 - alpha))`` of split conformal prediction.

    Raises
    ------
    InvalidParameterError
        If ``alpha`` is outside ``(0, 1)`` or ``k > n`` (too few calibration cases for
        ``alpha``; the interval would be infinite).

    Examples
    --------
    >>> conformal_rank(99, 0.1), conformal_rank(109, 0.1), conformal_rank(19, 0.05)
    (90, 99, 19)
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha}")
    k = math.ceil((n_calibration + 1) * (1.0 - alpha) - _INTEGER_TOLERANCE)
    if k > n_calibration:
        needed = math.ceil((1.0 - alpha) / alpha - _INTEGER_TOLERANCE)
        raise InvalidParameterError(
            f"alpha={alpha} needs at least {needed} calibration cases, got {n_calibration}; "
            "calibrate on more cases or use a larger alpha"
        )
    return max(k, 1)


def conformal_quantile(scores: Any, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest of ``n`` conformity scores.

    Examples
    --------
    >>> conformal_quantile([0.3, 0.1, 0.2, 0.5, 0.4], alpha=1 / 3)
    0.4
    """
    s = _as_vector(scores, "scores")
    k = conformal_rank(s.size, alpha)
    return float(np.partition(s, k - 1)[k - 1])


def absolute_residual_scores(y: Any, y_pred: Any) -> FloatArray:
    """Split-conformal scores ``|y - y_pred|``, shape ``(n,)``."""
    y_arr, pred = _as_vector(y, "y"), _as_vector(y_pred, "y_pred")
    _same_length(y_arr, pred)
    return np.abs(y_arr - pred)


def cqr_scores(y: Any, lower: Any, upper: Any) -> FloatArray:
    """CQR scores ``max(lower - y, y - upper)``, shape ``(n,)``; negative inside."""
    y_arr, lo, hi = _as_vector(y, "y"), _as_vector(lower, "lower"), _as_vector(upper, "upper")
    _same_length(y_arr, lo, hi)
    return np.maximum(lo - y_arr, y_arr - hi)


@dataclass(frozen=True)
class SplitConformalRegressor:
    """A fitted regressor with its absolute residuals on held-out calibration cases.

    Build it with :meth:`calibrate`; any ``alpha`` can then be asked for.

    Examples
    --------
    >>> import numpy as np
    >>> class Zero:
    ...     def predict(self, X): return np.zeros(len(X))
    >>> y_cal = np.arange(1.0, 20.0)  # residuals 1..19
    >>> scp = SplitConformalRegressor.calibrate(Zero(), np.zeros((19, 1)), y_cal)
    >>> interval = scp.predict_interval(np.zeros((2, 1)), alpha=0.1)
    >>> interval.lower.tolist(), interval.upper.tolist()
    ([-18.0, -18.0], [18.0, 18.0])
    """

    estimator: Regressor
    scores: FloatArray

    @classmethod
    def calibrate(cls, estimator: Regressor, X: Any, y: Any) -> SplitConformalRegressor:
        """Score a fitted ``estimator`` on calibration cases not used to fit it."""
        return cls(estimator, absolute_residual_scores(y, estimator.predict(X)))

    @property
    def n_calibration(self) -> int:
        return int(self.scores.size)

    def predict(self, X: Any) -> FloatArray:
        """Point predictions of the wrapped estimator, shape ``(n,)``."""
        return _as_vector(self.estimator.predict(X), "predictions")

    def predict_interval(self, X: Any, alpha: float) -> PredictionInterval:
        """``prediction ± q`` with ``q`` the conformal quantile of the scores."""
        q = conformal_quantile(self.scores, alpha)
        y_pred = self.predict(X)
        return PredictionInterval(y_pred - q, y_pred + q, alpha)


@dataclass(frozen=True)
class ConformalizedQuantileRegressor:
    """CQR around fitted lower and upper quantile regressors (Romano et al. 2019).

    ``lower_residuals`` are ``lower(x) - y`` and ``upper_residuals`` ``y - upper(x)``
    on the calibration cases. With ``symmetric=True`` both bounds move by the conformal
    quantile of their pointwise maximum at ``1 - alpha`` (the paper's CQR); otherwise each
    bound moves by its own quantile at ``1 - alpha/2`` (the paper's asymmetric variant,
    MAPIE's default).

    Examples
    --------
    >>> import numpy as np
    >>> class Constant:
    ...     def __init__(self, c): self.c = c
    ...     def predict(self, X): return np.full(len(X), self.c)
    >>> y_cal = np.linspace(-10.0, 10.0, 39)
    >>> cqr = ConformalizedQuantileRegressor.calibrate(
    ...     Constant(-5.0), Constant(5.0), np.zeros((39, 1)), y_cal)
    >>> interval = cqr.predict_interval(np.zeros((1, 1)), alpha=0.2)
    >>> round(float(interval.lower[0]), 6), round(float(interval.upper[0]), 6)
    (-8.421053, 8.421053)
    """

    lower_estimator: Regressor
    upper_estimator: Regressor
    lower_residuals: FloatArray
    upper_residuals: FloatArray
    symmetric: bool = True

    @classmethod
    def calibrate(
        cls,
        lower_estimator: Regressor,
        upper_estimator: Regressor,
        X: Any,
        y: Any,
        *,
        symmetric: bool = True,
    ) -> ConformalizedQuantileRegressor:
        """Score fitted quantile regressors on calibration cases not used to fit them."""
        y_arr = _as_vector(y, "y")
        lo = _as_vector(lower_estimator.predict(X), "lower predictions")
        hi = _as_vector(upper_estimator.predict(X), "upper predictions")
        _same_length(y_arr, lo, hi)
        return cls(lower_estimator, upper_estimator, lo - y_arr, y_arr - hi, symmetric)

    @property
    def scores(self) -> FloatArray:
        """The symmetric CQR scores ``max(lower - y, y - upper)``, shape ``(n,)``."""
        return np.maximum(self.lower_residuals, self.upper_residuals)

    def predict_interval(self, X: Any, alpha: float) -> PredictionInterval:
        """``[lower(x) - q_lo, upper(x) + q_hi]`` at miscoverage ``alpha``."""
        if self.symmetric:
            q_lo = q_hi = conformal_quantile(self.scores, alpha)
        else:
            q_lo = conformal_quantile(self.lower_residuals, alpha / 2)
            q_hi = conformal_quantile(self.upper_residuals, alpha / 2)
        lo = _as_vector(self.lower_estimator.predict(X), "lower predictions")
        hi = _as_vector(self.upper_estimator.predict(X), "upper predictions")
        return PredictionInterval(lo - q_lo, hi + q_hi, alpha)


def _as_vector(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise InvalidInputError(f"{name} has {bad} NaN or infinite values; drop or impute them")
    return arr


def _same_length(*arrays: FloatArray) -> None:
    lengths = {a.size for a in arrays}
    if len(lengths) != 1:
        raise ShapeError(f"arrays must have one length, got lengths {sorted(lengths)}")
