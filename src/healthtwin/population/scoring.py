"""Scoring quantile and sample forecasts: WIS, pinball loss, coverage and PIT.

Notation (Bracher, Ray, Gneiting & Reich 2021, "Evaluating epidemic forecasts in an
interval format", PLoS Comput Biol 17:e1008618): a central ``(1 - alpha)`` interval
``[l, u]`` (quantiles at ``alpha/2`` and ``1 - alpha/2``) and an observation ``y`` score

    IS_alpha = (u - l) + (2/alpha) (l - y)_+ + (2/alpha) (y - u)_+ .

With ``K`` intervals and the median ``m`` (``2K + 1`` quantiles), weights ``w0 = 1/2`` and
``w_k = alpha_k / 2``, the weighted interval score is

    WIS = (w0 |y - m| + sum_k w_k IS_alpha_k) / (K + 1/2)
        = (1 / (2K + 1)) sum_j 2 rho_tau_j(y - q_j)         (Bracher et al., eq. 4)

with the pinball loss ``rho_tau(y - q) = (1{y <= q} - tau) (q - y)``. WIS splits exactly into
dispersion ``sum_k w_k (u_k - l_k) / (K + 1/2)``, overprediction (the parts where ``y`` lies
below ``m`` or ``l_k``) and underprediction (above ``m`` or ``u_k``).

Calibration: the empirical coverage of each central interval, and probability integral
transform values ``F(y)`` of sample forecasts (randomized for counts, Czado, Gneiting & Held
2009 Biometrics 65:1254), which are uniform for a calibrated forecaster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.forecast_hub import (
    LEVEL_ATOL,
    TASK_COLUMNS,
    _pandas,
    quantile_forecasts,
    validate_hub_table,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "IntervalCoverage",
    "WisComponents",
    "central_interval_coverage",
    "interval_score",
    "pit_values",
    "quantile_loss",
    "score_hub_table",
    "weighted_interval_score",
]


def _finite(name: str, values: ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InvalidInputError(
            f"{name} has {int(np.sum(~np.isfinite(arr)))} NaN or infinite entries; scores "
            "need finite forecasts and observations"
        )
    return arr


def _quantile_inputs(
    quantiles: ArrayLike, levels: ArrayLike, observed: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    q = _finite("quantiles", quantiles)
    tau = _finite("levels", levels)
    y = _finite("observed", observed)
    if tau.ndim != 1 or q.ndim < 1 or q.shape[-1] != tau.size:
        raise ShapeError(
            f"quantiles (..., n_levels) and levels (n_levels,) disagree: {q.shape} and {tau.shape}"
        )
    if not ((tau > 0) & (tau < 1)).all():
        raise InvalidParameterError(f"levels must lie in (0, 1), got {tau.tolist()}")
    try:
        np.broadcast_shapes(q.shape[:-1], y.shape)
    except ValueError as err:
        raise ShapeError(
            f"observed {y.shape} does not broadcast with quantiles {q.shape[:-1]} + (n_levels,)"
        ) from err
    return q, tau, y


def quantile_loss(quantiles: ArrayLike, levels: ArrayLike, observed: ArrayLike) -> FloatArray:
    """Pinball loss ``(1{y <= q} - tau) (q - y)`` of each quantile.

    Parameters
    ----------
    quantiles : array_like, shape (..., n_levels)
    levels : array_like, shape (n_levels,)
        Levels ``tau`` in (0, 1).
    observed : array_like, shape (...)
        Broadcast against ``quantiles[..., 0]``.

    Returns
    -------
    ndarray of float64, shape (..., n_levels)
        Twice this is the quantile score of Bracher et al. (2021); ``scoringrules``'
        ``quantile_score`` equals it.

    Examples
    --------
    >>> quantile_loss([8.0, 10.0, 12.0], [0.25, 0.5, 0.75], 11.0).tolist()
    [0.75, 0.5, 0.25]
    """
    q, tau, y = _quantile_inputs(quantiles, levels, observed)
    return np.asarray(((y[..., None] <= q) - tau) * (q - y[..., None]), dtype=np.float64)


def interval_score(
    lower: ArrayLike, upper: ArrayLike, observed: ArrayLike, alpha: ArrayLike
) -> FloatArray:
    """Interval score of central ``(1 - alpha)`` intervals (arrays broadcast).

    Examples
    --------
    >>> interval_score([0.0, 0.0], [4.0, 4.0], [2.0, 5.0], 0.5).tolist()
    [4.0, 8.0]
    """
    lo, hi, y, a = (
        _finite(n, v)
        for n, v in (("lower", lower), ("upper", upper), ("observed", observed), ("alpha", alpha))
    )
    if not ((a > 0) & (a < 1)).all():
        raise InvalidParameterError(f"alpha must lie in (0, 1), got {np.unique(a).tolist()}")
    try:
        lo, hi, y, a = np.broadcast_arrays(lo, hi, y, a)
    except ValueError as err:
        raise ShapeError(f"lower, upper, observed and alpha do not broadcast: {err}") from err
    below = np.maximum(lo - y, 0.0)
    above = np.maximum(y - hi, 0.0)
    return np.asarray((hi - lo) + (2.0 / a) * (below + above), dtype=np.float64)


@dataclass(frozen=True)
class WisComponents:
    """Weighted interval score and its exact decomposition, each of shape (...).

    ``wis == dispersion + overprediction + underprediction``.
    """

    wis: FloatArray
    dispersion: FloatArray
    overprediction: FloatArray
    underprediction: FloatArray


def _pairs(levels: FloatArray) -> tuple[int, FloatArray, IntArray, IntArray]:
    """Index of the median, and for each interval: alpha, lower index, upper index."""
    median = np.flatnonzero(np.isclose(levels, 0.5, atol=LEVEL_ATOL))
    if median.size != 1:
        raise InvalidParameterError(
            f"WIS needs the median (level 0.5) among the levels, got {levels.tolist()}"
        )
    lower = np.flatnonzero(levels < 0.5 - LEVEL_ATOL)
    upper_match = np.isclose(1.0 - levels[lower][:, None], levels[None, :], atol=LEVEL_ATOL)
    if levels.size != 2 * lower.size + 1 or not upper_match.any(axis=1).all():
        raise InvalidParameterError(
            f"WIS needs levels in symmetric pairs tau and 1 - tau around 0.5, got {levels.tolist()}"
        )
    upper = np.argmax(upper_match, axis=1).astype(np.int64)
    return int(median[0]), 2.0 * levels[lower], lower.astype(np.int64), upper


def weighted_interval_score(
    quantiles: ArrayLike, levels: ArrayLike, observed: ArrayLike
) -> WisComponents:
    """Weighted interval score of Bracher et al. (2021), vectorised over forecasts.

    Parameters
    ----------
    quantiles : array_like, shape (..., n_levels)
        Predictive quantiles; ``n_levels = 2K + 1``.
    levels : array_like, shape (n_levels,)
        Levels in symmetric pairs ``tau``, ``1 - tau`` around the median 0.5 (the hubs' 23
        levels give ``K = 11``).
    observed : array_like, shape (...)

    Returns
    -------
    WisComponents
        Each field has the broadcast shape of ``quantiles[..., 0]`` and ``observed``.

    Raises
    ------
    InvalidParameterError
        Levels without the median or not symmetric.
    ShapeError, InvalidInputError
        Shapes that disagree; non-finite values.

    Examples
    --------
    Median 10, 50 % interval [8, 12], observation 13 (K = 1): ``(0.5 * 3 + 0.25 * (4 + 4))
    / 1.5 = 7/3``.

    >>> s = weighted_interval_score([8.0, 10.0, 12.0], [0.25, 0.5, 0.75], 13.0)
    >>> round(float(s.wis), 12), round(float(s.underprediction), 12)
    (2.333333333333, 1.666666666667)
    """
    q, tau, y = _quantile_inputs(quantiles, levels, observed)
    median, alpha, lower, upper = _pairs(tau)
    scale = 1.0 / (alpha.size + 0.5)
    lo, hi, m = q[..., lower], q[..., upper], q[..., median]
    y_col = y[..., None]
    dispersion = scale * np.sum(alpha / 2.0 * (hi - lo), axis=-1)
    over = scale * (0.5 * np.maximum(m - y, 0.0) + np.sum(np.maximum(lo - y_col, 0.0), axis=-1))
    under = scale * (0.5 * np.maximum(y - m, 0.0) + np.sum(np.maximum(y_col - hi, 0.0), axis=-1))
    dispersion, over, under = np.broadcast_arrays(dispersion, over, under)
    return WisComponents(
        wis=np.asarray(dispersion + over + under, dtype=np.float64),
        dispersion=np.asarray(dispersion, dtype=np.float64),
        overprediction=np.asarray(over, dtype=np.float64),
        underprediction=np.asarray(under, dtype=np.float64),
    )


@dataclass(frozen=True)
class IntervalCoverage:
    """Empirical coverage of central intervals.

    Attributes
    ----------
    nominal : ndarray of float64, shape (K,)
        ``1 - alpha_k``, increasing.
    coverage : ndarray of float64, shape (K,)
        Fraction of forecasts whose observation lies in ``[l_k, u_k]``.
    n_forecasts : int
    """

    nominal: FloatArray
    coverage: FloatArray
    n_forecasts: int


def central_interval_coverage(
    quantiles: ArrayLike, levels: ArrayLike, observed: ArrayLike
) -> IntervalCoverage:
    """Coverage of each central interval over all forecasts (bounds inclusive).

    Parameters
    ----------
    quantiles : array_like, shape (..., n_levels)
    levels : array_like, shape (n_levels,)
        Symmetric pairs around 0.5 (as for :func:`weighted_interval_score`).
    observed : array_like, shape (...)

    Examples
    --------
    >>> q = [[8.0, 10.0, 12.0], [8.0, 10.0, 12.0]]
    >>> cov = central_interval_coverage(q, [0.25, 0.5, 0.75], [9.0, 13.0])
    >>> cov.nominal.tolist(), cov.coverage.tolist()
    ([0.5], [0.5])
    """
    q, tau, y = _quantile_inputs(quantiles, levels, observed)
    _, alpha, lower, upper = _pairs(tau)
    y_col = np.broadcast_to(y[..., None], (*q.shape[:-1], 1))
    inside = (q[..., lower] <= y_col) & (y_col <= q[..., upper])
    flat = inside.reshape(-1, alpha.size)
    order = np.argsort(1.0 - alpha)
    return IntervalCoverage(
        nominal=(1.0 - alpha)[order],
        coverage=flat.mean(axis=0)[order],
        n_forecasts=int(flat.shape[0]),
    )


def pit_values(
    samples: ArrayLike, observed: ArrayLike, rng: np.random.Generator | None = None
) -> FloatArray:
    """Probability integral transform of observations under sample forecasts.

    With ``F(y) = mean(X <= y)`` and ``F(y-) = mean(X < y)``, the value is
    ``F(y-) + V (F(y) - F(y-))`` with ``V`` uniform from ``rng`` (randomized PIT, uniform for
    a calibrated count forecast), or the mid-point ``V = 1/2`` when ``rng`` is None.

    Parameters
    ----------
    samples : array_like, shape (..., n_samples)
    observed : array_like, shape (...)
    rng : numpy.random.Generator, optional

    Returns
    -------
    ndarray of float64, shape (...)

    Examples
    --------
    >>> pit_values([[1.0, 2.0, 3.0, 4.0]], [2.5]).tolist()
    [0.5]
    >>> pit_values([[1.0, 2.0, 2.0, 4.0]], [2.0]).tolist()
    [0.5]
    """
    x = _finite("samples", samples)
    y = _finite("observed", observed)
    if x.ndim < 1 or x.shape[-1] < 1 or x.shape[:-1] != y.shape:
        raise ShapeError(
            f"samples must be (..., n_samples) with observed (...), got {x.shape} and {y.shape}"
        )
    below = np.mean(x < y[..., None], axis=-1)
    at_or_below = np.mean(x <= y[..., None], axis=-1)
    v = 0.5 if rng is None else rng.uniform(size=y.shape)
    return np.asarray(below + v * (at_or_below - below), dtype=np.float64)


def score_hub_table(
    table: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    by: Sequence[str] = ("target", "horizon"),
) -> pd.DataFrame:
    """Score the quantile forecasts of a hub table against observed values.

    Parameters
    ----------
    table : pandas.DataFrame
        A hub table (see :mod:`healthtwin.population.forecast_hub`); its quantile rows are
        scored, sample rows are ignored.
    truth : pandas.DataFrame
        Columns ``location``, ``target_end_date``, ``value`` (and ``target`` when the truth
        differs by target). Tasks without an observation are left out.
    by : sequence of str
        Task columns to group by (any of ``reference_date, target, horizon, location,
        target_end_date``); ``()`` gives one overall row, all five give one row per task.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``n_forecasts``, the means of ``wis``,
        ``dispersion``, ``overprediction``, ``underprediction``, ``ae_median``, and
        ``coverage_<p>`` for every central interval (``coverage_50``, ``coverage_90``, ...).

    Raises
    ------
    InvalidInputError
        Truth columns missing or duplicated observations, or no task has an observation.
    InvalidParameterError
        ``by`` names a column that is not a task column.

    Examples
    --------
    >>> import pandas as pd
    >>> from healthtwin.population.forecast_hub import hub_table
    >>> draws = np.arange(100.0).reshape(100, 1, 1)
    >>> table = hub_table(draws, reference_date="2024-11-23", target="inc case",
    ...                   locations=["US"], levels=[0.05, 0.25, 0.5, 0.75, 0.95])
    >>> truth = pd.DataFrame({"location": ["US"], "target_end_date": ["2024-11-23"],
    ...                       "value": [60.0]})
    >>> scores = score_hub_table(table, truth, by=())
    >>> scores[["n_forecasts", "coverage_50", "coverage_90"]].values.tolist()
    [[1.0, 1.0, 1.0]]
    """
    pd = _pandas()
    unknown = sorted(set(by) - set(TASK_COLUMNS))
    if unknown:
        raise InvalidParameterError(f"cannot group by {unknown}; use any of {list(TASK_COLUMNS)}")
    validate_hub_table(table, required_levels=None)
    forecasts = quantile_forecasts(table)
    keys = _truth_keys(truth)
    observed_frame = truth[[*keys, "value"]].copy()
    observed_frame["target_end_date"] = pd.to_datetime(observed_frame["target_end_date"])
    observed_frame["location"] = observed_frame["location"].astype(str)
    tasks = forecasts.tasks.copy()
    tasks["target_end_date"] = pd.to_datetime(tasks["target_end_date"])
    tasks["location"] = tasks["location"].astype(str)
    merged = tasks.merge(observed_frame, on=keys, how="left", validate="many_to_one")
    has_truth = merged["value"].notna().to_numpy()
    if not has_truth.any():
        raise InvalidInputError(
            "no forecast task has an observation in truth: check that locations and "
            "target_end_date match the hub table"
        )
    y = merged["value"].to_numpy(dtype=np.float64)[has_truth]
    q = forecasts.values[has_truth]
    per_task = merged.loc[has_truth, list(TASK_COLUMNS)].reset_index(drop=True)
    parts = weighted_interval_score(q, forecasts.levels, y)
    per_task["wis"] = parts.wis
    per_task["dispersion"] = parts.dispersion
    per_task["overprediction"] = parts.overprediction
    per_task["underprediction"] = parts.underprediction
    median, alpha, lower, upper = _pairs(forecasts.levels)
    per_task["ae_median"] = np.abs(y - q[:, median])
    coverage_columns = []
    for k in np.argsort(1.0 - alpha):
        name = f"coverage_{round(100 * (1 - alpha[k]))}"
        per_task[name] = ((q[:, lower[k]] <= y) & (y <= q[:, upper[k]])).astype(np.float64)
        coverage_columns.append(name)
    per_task["n_forecasts"] = 1.0
    means = ["wis", "dispersion", "overprediction", "underprediction", "ae_median"]
    aggregations = dict.fromkeys([*means, *coverage_columns], "mean")
    aggregations["n_forecasts"] = "sum"
    if not by:
        summary = per_task.agg(aggregations).to_frame().T
    else:
        summary = per_task.groupby(list(by), sort=True).agg(aggregations).reset_index()
    return summary[[*by, "n_forecasts", *means, *coverage_columns]]


def _truth_keys(truth: pd.DataFrame) -> list[str]:
    needed = ["location", "target_end_date", "value"]
    missing = [c for c in needed if c not in truth.columns]
    if missing:
        raise InvalidInputError(
            f"truth lacks columns {missing}; give location, target_end_date and value "
            "(and target when values differ by target)"
        )
    keys = ["location", "target_end_date"] + (["target"] if "target" in truth.columns else [])
    if truth.duplicated(keys).any():
        raise InvalidInputError(
            f"truth has more than one value for some {keys}; keep one observation each"
        )
    if not np.isfinite(truth["value"].to_numpy(dtype=np.float64)).all():
        raise InvalidInputError("truth values must be finite (drop unobserved rows)")
    return keys
