"""Filling gaps in tables: multiple imputation (CGM gaps: :mod:`~healthtwin.synthetic.cgm_gaps`).

**Tables.** :func:`multiple_imputation` draws ``m`` completed copies of a numeric table by
chained equations (van Buuren & Groothuis-Oudshoorn, J Stat Softw 45(3), 2011):

- ``"bayes"``: scikit-learn's ``IterativeImputer`` with Bayesian ridge regressions and
  ``sample_posterior=True``, one seed per copy (proper imputation draws);
- ``"gbm"``: gradient-boosted trees (``GradientBoostingRegressor``, 30 trees of depth 2)
  as the chained equations, each copy fitted on a bootstrap resample of the rows, and
  imputed values drawn by predictive mean matching from the 5 observed donors closest in
  prediction (Little 1988; as miceforest does), so that draws carry the residual spread.

Every imputed cell is flagged (``ImputationResult.mask``) and carries its between-copy
variance. Discrete columns (binary or coded categories, found by
:func:`discrete_columns` or given) are rounded in every copy to the nearest observed level
(Bernaards, Belin & Schafer, Stat Med 26:1368, 2007, on rounding normal-model draws), and
the one completed table a caller may want (:attr:`ImputationResult.point`) takes their
per-cell mode over the copies, never a mean: a sex coded 1/2 stays 1 or 2, not 1.4.
Estimates computed on each copy are pooled by Rubin's rules (Rubin 1987;
Barnard & Rubin 1999 degrees of freedom) in :func:`pool_rubin`; a model's predictions on
the imputed records, by
:func:`~healthtwin.synthetic.imputed_predictions.predict_over_imputations`, so that the
gaps' uncertainty reaches the prediction's interval.

Imputation cannot repair data missing not at random: the mechanism must be stated, and
the masking validation (``tests/validation/test_imputation_masking.py``) covers MCAR and
MAR only.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError

__all__ = [
    "ImputationResult",
    "PooledEstimate",
    "discrete_columns",
    "multiple_imputation",
    "pool_rubin",
]

Method = Literal["bayes", "gbm"]


@dataclass(frozen=True)
class ImputationResult:
    """``m`` completed copies of a table, with flags and per-cell uncertainty.

    Attributes
    ----------
    completed
        The completed copies, shape ``(m, n, p)``.
    mask
        Which cells were imputed, shape ``(n, p)``.
    discrete
        Which columns hold levels (binary, coded categories), shape ``(p,)``; None: none.
    """

    completed: FloatArray
    mask: BoolArray
    discrete: BoolArray | None = None

    @property
    def point(self) -> FloatArray:
        """One completed table ``(n, p)``: the mean over copies for continuous columns, the
        per-cell mode for discrete ones (ties go to the earliest copy's value)."""
        point = self.mean
        if self.discrete is None:
            return point
        for col in np.flatnonzero(self.discrete):
            values = self.completed[:, :, col]  # (m, n)
            counts = (values[:, None, :] == values[None, :, :]).sum(axis=1)  # (m, n)
            first_mode = counts.argmax(axis=0)
            point[:, col] = values[first_mode, np.arange(values.shape[1])]
        return point

    @property
    def mean(self) -> FloatArray:
        """Mean over copies ``(n, p)`` (observed cells unchanged)."""
        return np.asarray(self.completed.mean(axis=0))

    @property
    def variance(self) -> FloatArray:
        """Between-copy variance per cell ``(n, p)`` (zero for observed cells)."""
        return np.where(self.mask, self.completed.var(axis=0, ddof=1), 0.0)

    def interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Per-cell empirical interval over the copies, each ``(n, p)``."""
        tail = 50.0 * (1.0 - level)
        lo, hi = np.percentile(self.completed, [tail, 100.0 - tail], axis=0)
        return np.asarray(lo), np.asarray(hi)


def _sklearn() -> Any:
    try:
        ensemble = importlib.import_module("sklearn.ensemble")
        # Importing this module switches IterativeImputer on (scikit-learn's opt-in).
        importlib.import_module("sklearn.experimental.enable_iterative_imputer")
        impute = importlib.import_module("sklearn.impute")
    except ImportError as err:
        raise MissingDependencyError(
            "multiple imputation needs scikit-learn: pip install 'healthtwin[ml]'"
        ) from err
    return impute.IterativeImputer, ensemble.GradientBoostingRegressor


def discrete_columns(data: npt.ArrayLike, *, max_levels: int = 10) -> BoolArray:
    """Columns ``(p,)`` whose observed values are whole numbers with at most ``max_levels``
    distinct values (binary flags, coded categories).

    Examples
    --------
    >>> table = np.array([[1.0, 0.5, 2.0], [2.0, 1.7, np.nan], [1.0, 2.2, 3.0]])
    >>> discrete_columns(table).tolist()
    [True, False, True]
    """
    table = np.asarray(data, dtype=np.float64)
    found = np.zeros(table.shape[1], dtype=bool)
    for col in range(table.shape[1]):
        seen = table[~np.isnan(table[:, col]), col]
        found[col] = bool(
            seen.size and np.all(seen == np.round(seen)) and np.unique(seen).size <= max_levels
        )
    return found


def _round_to_levels(copy: FloatArray, table: FloatArray, mask: BoolArray, col: int) -> None:
    levels = np.unique(table[~mask[:, col], col])
    rows = np.flatnonzero(mask[:, col])
    nearest = np.abs(copy[rows, col][:, None] - levels[None, :]).argmin(axis=1)
    copy[rows, col] = levels[nearest]


def multiple_imputation(
    data: npt.ArrayLike,
    *,
    m: int = 5,
    method: Method = "bayes",
    rng: np.random.Generator,
    max_iter: int = 5,
    donors: int = 5,
    discrete: npt.ArrayLike | None = None,
    on_copy: Callable[[int], None] | None = None,
) -> ImputationResult:
    """Draw ``m`` completed copies of ``data`` (NaN marks a missing cell).

    Parameters
    ----------
    data
        Numeric table, shape ``(n, p)``.
    m
        Number of imputations (>= 2).
    method
        ``"bayes"`` (posterior draws of Bayesian ridge chained equations) or ``"gbm"``
        (gradient-boosted chained equations with bootstrap and predictive mean matching).
    rng
        Source of every seed.
    max_iter
        Chained-equation rounds.
    donors
        Donor pool of predictive mean matching (``"gbm"``).
    discrete
        Boolean ``(p,)``: columns of levels, rounded in every copy to the nearest observed
        level (e.g. ``discrete_columns(data)``); None treats every column as continuous.
    on_copy
        Called with the number of copies completed after each; it only observes.

    Raises
    ------
    InvalidInputError
        For a table that is not 2-D, has infinite values, or an entirely missing column.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 1))
    >>> table = np.hstack([x, 2 * x + rng.normal(0, 0.1, (200, 1))])
    >>> table[:20, 1] = np.nan
    >>> result = multiple_imputation(table, m=3, rng=rng)
    >>> result.completed.shape, int(result.mask.sum())
    ((3, 200, 2), 20)
    >>> bool(np.abs(result.mean[:20, 1] - 2 * x[:20, 0]).max() < 0.5)
    True
    """
    table = np.asarray(data, dtype=np.float64)
    if table.ndim != 2 or np.isinf(table).any():
        raise InvalidInputError(f"data must be a finite (n, p) table with NaN gaps: {table.shape}")
    mask = np.isnan(table)
    empty = np.flatnonzero(mask.all(axis=0))
    if empty.size:
        raise InvalidInputError(f"column(s) {empty.tolist()} have no observed value to learn from")
    if m < 2:
        raise InvalidParameterError(f"multiple imputation needs m >= 2 copies, got {m}")
    if method not in ("bayes", "gbm"):
        raise InvalidParameterError(f"method must be 'bayes' or 'gbm', got {method!r}")
    levels = np.zeros(table.shape[1], dtype=bool) if discrete is None else np.asarray(discrete)
    if levels.shape != (table.shape[1],) or levels.dtype != bool:
        raise InvalidInputError(
            f"discrete must be {table.shape[1]} booleans (one per column), got {levels!r}"
        )
    imputer_cls, gbm_cls = _sklearn()
    seeds = rng.integers(0, 2**31 - 1, size=m)
    copies = []
    for seed in seeds:
        if method == "bayes":
            imputer = imputer_cls(
                sample_posterior=True, max_iter=max_iter, random_state=int(seed), skip_complete=True
            )
            copies.append(imputer.fit_transform(table))
        else:
            copies.append(_gbm_copy(table, mask, imputer_cls, gbm_cls, int(seed), max_iter, donors))
        for col in np.flatnonzero(levels & mask.any(axis=0)):
            _round_to_levels(copies[-1], table, mask, int(col))
        if on_copy is not None:
            on_copy(len(copies))
    completed = np.stack(copies)
    completed[:, ~mask] = table[~mask]
    return ImputationResult(completed, mask, None if discrete is None else levels)


def _gbm_copy(
    table: FloatArray,
    mask: BoolArray,
    imputer_cls: Any,
    gbm_cls: Any,
    seed: int,
    max_iter: int,
    donors: int,
) -> FloatArray:
    local = np.random.default_rng(seed)
    rows = local.integers(0, table.shape[0], table.shape[0])
    imputer = imputer_cls(
        estimator=gbm_cls(n_estimators=30, max_depth=2, learning_rate=0.2, random_state=seed),
        max_iter=max_iter,
        random_state=seed,
        # Fitted on a bootstrap resample: a column whose few missing cells all fall
        # outside it would get no model (and keep the column mean) if complete columns
        # were skipped.
        skip_complete=False,
    )
    with warnings.catch_warnings():
        # Trees never meet IterativeImputer's tolerance (their fits jump between rounds):
        # the fixed number of rounds is the stopping rule here, not a failure.
        warnings.filterwarnings("ignore", message=r"\[IterativeImputer\] Early stopping")
        imputer.fit(table[rows])
    filled = np.asarray(imputer.transform(table))
    last = {step.feat_idx: step for step in imputer.imputation_sequence_}
    for col, step in last.items():
        missing = mask[:, col]
        if not missing.any():
            continue
        predicted = step.estimator.predict(filled[:, step.neighbor_feat_idx])
        observed = np.flatnonzero(~missing)
        order = np.argsort(predicted[observed])
        sorted_pred = predicted[observed][order]
        for row in np.flatnonzero(missing):
            pos = np.searchsorted(sorted_pred, predicted[row])
            lo = max(0, min(pos - donors // 2, sorted_pred.size - donors))
            donor = observed[order[lo + int(local.integers(0, min(donors, sorted_pred.size)))]]
            filled[row, col] = table[donor, col]
    return filled


@dataclass(frozen=True)
class PooledEstimate:
    """Rubin's rules: pooled estimate, variance parts, degrees of freedom, interval.

    Every attribute has shape ``(k,)`` for ``k`` pooled quantities.
    """

    estimate: FloatArray
    within_variance: FloatArray
    between_variance: FloatArray
    total_variance: FloatArray
    df: FloatArray
    lower: FloatArray
    upper: FloatArray


def pool_rubin(
    estimates: npt.ArrayLike,
    variances: npt.ArrayLike,
    *,
    level: float = 0.95,
    n_complete: float | None = None,
) -> PooledEstimate:
    """Pool per-imputation estimates ``(m, k)`` and their variances ``(m, k)``.

    ``T = W + (1 + 1/m) B``; the Student-t degrees of freedom are Rubin's
    ``(m - 1) / lambda^2`` with ``lambda = (1 + 1/m) B / T``, or Barnard & Rubin's small
    sample form when ``n_complete`` (complete-data degrees of freedom) is given.

    Examples
    --------
    >>> pooled = pool_rubin([[1.0], [1.2], [0.8]], [[0.04], [0.04], [0.04]])
    >>> round(float(pooled.estimate[0]), 3), round(float(pooled.total_variance[0]), 4)
    (1.0, 0.0933)
    """
    q = np.atleast_2d(np.asarray(estimates, dtype=np.float64))
    u = np.atleast_2d(np.asarray(variances, dtype=np.float64))
    if q.shape != u.shape or q.shape[0] < 2:
        raise InvalidInputError(
            f"give (m, k) estimates and variances with m >= 2, got {q.shape} and {u.shape}"
        )
    m = q.shape[0]
    qbar, w, b = q.mean(axis=0), u.mean(axis=0), q.var(axis=0, ddof=1)
    t = w + (1.0 + 1.0 / m) * b
    lam = np.where(t > 0, (1.0 + 1.0 / m) * b / np.where(t > 0, t, 1.0), 0.0)
    with np.errstate(divide="ignore"):
        df = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        if n_complete is not None:
            obs = (n_complete + 1.0) / (n_complete + 3.0) * n_complete * (1.0 - lam)
            df = 1.0 / (1.0 / df + 1.0 / obs)
    half = stats.t.ppf(0.5 + level / 2.0, df) * np.sqrt(t)
    return PooledEstimate(qbar, w, b, t, df, qbar - half, qbar + half)
