"""Predictions on imputed records, with the imputation's uncertainty carried into them.

A record with gaps filled by :func:`~healthtwin.synthetic.imputation.multiple_imputation`
has ``m`` completed copies. :func:`predict_over_imputations` runs a model on every copy
and pools the ``m`` predictions per record by Rubin's rules (Rubin 1987): the pooled
prediction is their mean, its variance ``T = W + (1 + 1/m) B`` adds the between-copy
variance ``B`` (what the gaps leave unknown) to the model's own variance ``W`` when the
model gives one, and the interval uses Student's t with Rubin's degrees of freedom.
A record without an imputed input has ``B = 0``: its interval is the model's alone
(normal, from ``W``).

Predicting once on the mean of the copies (single imputation) would hide ``B``: the
prediction would look as certain as one on a complete record. The validation
(``tests/validation/test_imputed_predictions.py``) masks real data and checks that the
pooled intervals cover the prediction the complete record would have had.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.synthetic.imputation import ImputationResult, pool_rubin

__all__ = ["ImputedPrediction", "predict_over_imputations"]

#: ``predict(table (n, p)) -> predictions (n,)``, or ``(predictions, variances)``.
Predictor = Callable[[FloatArray], FloatArray | tuple[FloatArray, FloatArray]]


@dataclass(frozen=True)
class ImputedPrediction:
    """Pooled predictions over the completed copies, one per record.

    Attributes
    ----------
    estimate : ndarray, shape (n,)
        Mean prediction over the copies.
    within_variance, between_variance, total_variance : ndarray, shape (n,)
        The model's own variance (0 when it gives none), the variance across copies and
        ``W + (1 + 1/m) B``.
    lower, upper : ndarray, shape (n,)
        Interval at ``level`` (Student's t, Rubin's degrees of freedom).
    imputed_inputs : ndarray of bool, shape (n,)
        Records with at least one imputed input (the others have ``B = 0``).
    per_copy : ndarray, shape (m, n)
        The prediction on each copy.
    level
        Nominal coverage of the interval.
    """

    estimate: FloatArray
    within_variance: FloatArray
    between_variance: FloatArray
    total_variance: FloatArray
    lower: FloatArray
    upper: FloatArray
    imputed_inputs: BoolArray
    per_copy: FloatArray
    level: float

    @property
    def share_from_imputation(self) -> FloatArray:
        """Share of each record's total variance due to the gaps, ``(1 + 1/m) B / T``."""
        m = self.per_copy.shape[0]
        t = self.total_variance
        share = np.where(t > 0, (1.0 + 1.0 / m) * self.between_variance / np.where(t > 0, t, 1), 0)
        return np.asarray(share, dtype=float)


def predict_over_imputations(
    predict: Predictor, imputation: ImputationResult, *, level: float = 0.95
) -> ImputedPrediction:
    """Run ``predict`` on each completed copy and pool the predictions per record.

    Parameters
    ----------
    predict
        Called with one completed table ``(n, p)`` at a time; returns the predictions
        ``(n,)``, or ``(predictions, variances)`` when the model knows its own variance
        (for example a bootstrap ensemble's).
    imputation
        The copies, from :func:`~healthtwin.synthetic.imputation.multiple_imputation`.
    level
        Coverage of the intervals, in (0, 1).

    Returns
    -------
    ImputedPrediction

    Raises
    ------
    ShapeError
        ``predict`` did not return one value (and variance) per record.
    InvalidInputError
        Predictions or variances that are not finite, or negative variances.

    Examples
    --------
    >>> from healthtwin.synthetic.imputation import multiple_imputation
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 1))
    >>> table = np.hstack([x, x + rng.normal(0, 0.5, (300, 1))])
    >>> table[:30, 1] = np.nan
    >>> copies = multiple_imputation(table, m=10, rng=rng)
    >>> pooled = predict_over_imputations(lambda t: 2.0 * t[:, 1], copies)
    >>> bool(pooled.imputed_inputs[:30].all()), bool(pooled.imputed_inputs[30:].any())
    (True, False)
    >>> bool((pooled.upper[:30] > pooled.lower[:30]).all())
    True
    >>> bool((pooled.upper[30:] == pooled.lower[30:]).all())
    True
    """
    copies = imputation.completed
    m, n = copies.shape[0], copies.shape[1]
    estimates = np.empty((m, n))
    variances = np.zeros((m, n))
    for k in range(m):
        out = predict(copies[k])
        if isinstance(out, tuple):
            estimates[k], variances[k] = (
                _column(out[0], n, "predictions"),
                _column(out[1], n, "variances"),
            )
        else:
            estimates[k] = _column(out, n, "predictions")
    if not (np.isfinite(estimates).all() and np.isfinite(variances).all()):
        raise InvalidInputError("the model gave predictions or variances that are not finite")
    if (variances < 0).any():
        raise InvalidInputError("the model gave negative variances; give variances, not errors")
    # A record without a gap is the same in every copy: its prediction is the model's
    # alone (rounding in the model's arithmetic must not pose as imputation variance).
    complete = ~imputation.mask.any(axis=1)
    estimates[:, complete] = estimates[0, complete]
    variances[:, complete] = variances[0, complete]
    pooled = pool_rubin(estimates, variances, level=level)
    estimate = np.where(complete, estimates[0], pooled.estimate)
    between = np.where(complete, 0.0, pooled.between_variance)
    total = np.where(complete, variances[0], pooled.total_variance)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    half = np.where(complete, z * np.sqrt(total), 0.5 * (pooled.upper - pooled.lower))
    return ImputedPrediction(
        estimate=np.asarray(estimate, dtype=float),
        within_variance=np.asarray(pooled.within_variance, dtype=float),
        between_variance=np.asarray(between, dtype=float),
        total_variance=np.asarray(total, dtype=float),
        lower=np.asarray(estimate - half, dtype=float),
        upper=np.asarray(estimate + half, dtype=float),
        imputed_inputs=np.asarray(imputation.mask.any(axis=1)),
        per_copy=estimates,
        level=level,
    )


def _column(values: npt.ArrayLike, n: int, what: str) -> FloatArray:
    out = np.asarray(values, dtype=float).reshape(-1)
    if out.shape != (n,):
        raise ShapeError(
            f"the model returned {what} of shape {np.shape(values)} for {n} records; "
            "return one value per record"
        )
    return out
