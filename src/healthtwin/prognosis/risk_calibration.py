"""Calibration of binary risks: reliability curves, Brier score and its decomposition, ECE.

A risk model is calibrated when, among patients given risk ``p``, a fraction ``p`` have the
event. Predictions are grouped into bins (equal-width on ``[0, 1]``, or equal-count
quantiles); bins are closed on the right, ``(e_k, e_{k+1}]`` with the first also closed on
the left, as in scikit-learn's ``calibration_curve``. With ``n_k`` cases, mean risk
``p̄_k`` and event rate ``ō_k`` in bin ``k``, overall event rate ``ō`` and ``N`` cases:

* Brier score ``BS = (1/N) Σ_i (p_i - o_i)²``.
* Decomposition (Murphy 1973, J Appl Meteor 12:595; extended by Stephenson, Coelho &
  Jolliffe 2008, Wea Forecasting 23:752) ``BS = REL - RES + UNC + WBV - WBC`` with
  reliability ``REL = Σ n_k (p̄_k - ō_k)² / N``, resolution ``RES = Σ n_k (ō_k - ō)² / N``,
  uncertainty ``UNC = ō (1 - ō)``, within-bin variance ``WBV = Σ_k Σ_{i∈k} (p_i - p̄_k)² / N``
  and within-bin covariance ``WBC = 2 Σ_k Σ_{i∈k} (p_i - p̄_k)(o_i - ō_k) / N``. The
  identity is exact; the last two vanish when risks are constant within bins.
* Expected calibration error ``ECE = Σ n_k |p̄_k - ō_k| / N`` (Naeini, Cooper &
  Hauskrecht 2015, AAAI).
* Calibration-in-the-large ``mean(p) - mean(o)``: positive when risks are too high.

For risks of an event by a horizon from censored survival data, :func:`event_by_horizon`
gives the binary outcome and the cases whose outcome is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = [
    "BrierDecomposition",
    "CalibrationCurve",
    "brier_decomposition",
    "brier_score",
    "calibration_curve",
    "calibration_in_the_large",
    "event_by_horizon",
    "expected_calibration_error",
]

Strategy = Literal["uniform", "quantile"]


@dataclass(frozen=True)
class CalibrationCurve:
    """Reliability-diagram data for the non-empty bins.

    Attributes
    ----------
    predicted
        Mean predicted risk per non-empty bin, shape ``(m,)``.
    observed
        Observed event rate per non-empty bin, shape ``(m,)``.
    counts
        Cases per non-empty bin, shape ``(m,)``.
    bin_edges
        All ``n_bins + 1`` edges, empty bins included.
    """

    predicted: FloatArray
    observed: FloatArray
    counts: IntArray
    bin_edges: FloatArray


@dataclass(frozen=True)
class BrierDecomposition:
    """The terms of ``brier = reliability - resolution + uncertainty + wbv - wbc``."""

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float
    within_bin_covariance: float


def brier_score(y_true: Any, y_prob: Any) -> float:
    """Mean squared difference between risks and 0/1 outcomes.

    Examples
    --------
    >>> round(brier_score([0, 1, 1], [0.1, 0.9, 0.6]), 12)
    0.06
    """
    y, p = _binary_and_risk(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def calibration_in_the_large(y_true: Any, y_prob: Any) -> float:
    """Mean risk minus event rate; positive when the model over-predicts.

    Examples
    --------
    >>> round(calibration_in_the_large([0, 0, 1, 1], [0.2, 0.4, 0.6, 0.8]), 12)
    0.0
    """
    y, p = _binary_and_risk(y_true, y_prob)
    return float(np.mean(p) - np.mean(y))


def calibration_curve(
    y_true: Any, y_prob: Any, n_bins: int = 10, strategy: Strategy = "uniform"
) -> CalibrationCurve:
    """Predicted against observed risk per bin (a reliability diagram).

    Examples
    --------
    >>> curve = calibration_curve([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9], n_bins=2)
    >>> curve.predicted.tolist(), curve.observed.tolist(), curve.counts.tolist()
    ([0.2, 0.75], [0.0, 1.0], [2, 2])
    """
    y, p = _binary_and_risk(y_true, y_prob)
    edges, bins = _bins(p, n_bins, strategy)
    counts = np.bincount(bins, minlength=n_bins)
    kept = counts > 0
    sums = np.bincount(bins, weights=p, minlength=n_bins)[kept]
    events = np.bincount(bins, weights=y, minlength=n_bins)[kept]
    n = counts[kept]
    return CalibrationCurve(sums / n, events / n, n.astype(np.int64), edges)


def expected_calibration_error(
    y_true: Any, y_prob: Any, n_bins: int = 10, strategy: Strategy = "uniform"
) -> float:
    """Case-weighted mean of ``|mean risk - event rate|`` over bins.

    Examples
    --------
    >>> expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9], n_bins=2)
    0.225
    """
    curve = calibration_curve(y_true, y_prob, n_bins, strategy)
    weights = curve.counts / curve.counts.sum()
    return float(np.sum(weights * np.abs(curve.predicted - curve.observed)))


def brier_decomposition(
    y_true: Any, y_prob: Any, n_bins: int = 10, strategy: Strategy = "uniform"
) -> BrierDecomposition:
    """Reliability, resolution, uncertainty and the two within-bin terms.

    Examples
    --------
    >>> d = brier_decomposition([0, 1, 0, 1], [0.2, 0.2, 0.8, 0.8], n_bins=2)
    >>> round(d.reliability, 12), d.resolution, d.uncertainty, d.within_bin_variance
    (0.09, 0.0, 0.25, 0.0)
    >>> round(d.reliability - d.resolution + d.uncertainty, 12) == round(d.brier, 12)
    True
    """
    y, p = _binary_and_risk(y_true, y_prob)
    _, bins = _bins(p, n_bins, strategy)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    safe = np.maximum(counts, 1.0)
    mean_p = np.bincount(bins, weights=p, minlength=n_bins) / safe
    mean_o = np.bincount(bins, weights=y, minlength=n_bins) / safe
    base_rate = float(np.mean(y))
    dp, do = p - mean_p[bins], y - mean_o[bins]
    return BrierDecomposition(
        brier=float(np.mean((p - y) ** 2)),
        reliability=float(np.sum(counts * (mean_p - mean_o) ** 2) / y.size),
        resolution=float(np.sum(counts * (mean_o - base_rate) ** 2) / y.size),
        uncertainty=base_rate * (1.0 - base_rate),
        within_bin_variance=float(np.mean(dp**2)),
        within_bin_covariance=float(2.0 * np.mean(dp * do)),
    )


def event_by_horizon(time: Any, event: Any, horizon: float) -> tuple[BoolArray, BoolArray]:
    """Binary outcome "event by ``horizon``" from censored data, and where it is known.

    A case censored before ``horizon`` has an unknown outcome and must be left out (or
    reweighted) when scoring risks by the horizon.

    Returns
    -------
    had_event, known
        ``event and time <= horizon``, and ``had_event or time > horizon``; shape ``(n,)``.

    Examples
    --------
    >>> had, known = event_by_horizon([2.0, 3.0, 8.0, 4.0], [True, False, True, True], 5.0)
    >>> had.tolist(), known.tolist()
    ([True, False, False, True], [True, False, True, True])
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event)
    if t.ndim != 1 or e.shape != t.shape:
        raise ShapeError(f"time and event must be 1-D of one length, got {t.shape}, {e.shape}")
    if e.dtype != np.bool_ and not np.all(np.isin(e, (0, 1))):
        raise InvalidInputError("event must be boolean or 0/1")
    if not np.all(np.isfinite(t)) or not np.isfinite(horizon):
        raise InvalidInputError("times and the horizon must be finite")
    had_event = e.astype(bool) & (t <= horizon)
    return had_event, had_event | (t > horizon)


def _bins(p: FloatArray, n_bins: int, strategy: str) -> tuple[FloatArray, IntArray]:
    if n_bins < 1:
        raise InvalidParameterError(f"n_bins must be at least 1, got {n_bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    else:
        raise InvalidParameterError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    bins = np.searchsorted(edges[1:-1], p).astype(np.int64)
    return np.asarray(edges, dtype=np.float64), bins


def _binary_and_risk(y_true: Any, y_prob: Any) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=np.float64)
    if y.ndim != 1 or p.shape != y.shape or y.size == 0:
        raise ShapeError(
            f"outcomes and risks must be non-empty 1-D of one length, got {y.shape}, {p.shape}"
        )
    if y.dtype != np.bool_ and not np.all(np.isin(y, (0, 1))):
        raise InvalidInputError(
            f"outcomes must be 0/1 or boolean, got values {np.unique(y)[:5].tolist()}"
        )
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise InvalidInputError("risks must be probabilities in [0, 1] (and not NaN)")
    return y.astype(np.float64), p
