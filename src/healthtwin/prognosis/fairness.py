"""Model performance per subgroup (sex, age band, site, any column) and the gaps between.

A model can be accurate on average and poor for a group. Each report gives, per group,
its size and metrics, flags groups smaller than ``min_group_size`` (their metrics are too
noisy to compare), and for each metric the gap between the best and worst of the other
groups as a difference (max - min) and a ratio (max / min). Regression reports mean
absolute error, bias (mean prediction minus mean outcome) and, given intervals, their
coverage and mean width. Risk reports give the event rate, AUC (the Mann-Whitney
probability that a case with the event has the higher risk; Hanley & McNeil 1982,
Radiology 143:29), Brier score and calibration-in-the-large (mean risk minus event rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy.stats import rankdata

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.prognosis.conformal import PredictionInterval
from healthtwin.prognosis.risk_calibration import brier_score, calibration_in_the_large

__all__ = [
    "GroupMetrics",
    "MetricGap",
    "SubgroupReport",
    "age_bands",
    "regression_by_group",
    "risk_by_group",
]

Metric = Callable[[IntArray], float]


@dataclass(frozen=True)
class GroupMetrics:
    """One group's size, metrics, and whether it is below the minimum size."""

    group: str
    n: int
    metrics: dict[str, float]
    small: bool


@dataclass(frozen=True)
class MetricGap:
    """Spread of one metric over the groups that are not small.

    ``difference`` is ``max - min`` and ``ratio`` ``max / min`` (``inf`` when the
    minimum is 0); both are NaN when fewer than two groups qualify.
    """

    metric: str
    max_group: str
    min_group: str
    difference: float
    ratio: float


@dataclass(frozen=True)
class SubgroupReport:
    """Metrics per group of one grouping column, and the gaps between groups."""

    column: str
    groups: tuple[GroupMetrics, ...]
    gaps: tuple[MetricGap, ...]
    min_group_size: int

    def metric(self, name: str) -> dict[str, float]:
        """``{group: value}`` of one metric."""
        return {g.group: g.metrics[name] for g in self.groups}

    def gap(self, name: str) -> MetricGap:
        """The gap of one metric."""
        for gap in self.gaps:
            if gap.metric == name:
                return gap
        raise InvalidParameterError(
            f"no metric {name!r} in this report; it has {[g.metric for g in self.gaps]}"
        )

    @property
    def small_groups(self) -> tuple[str, ...]:
        return tuple(g.group for g in self.groups if g.small)


def age_bands(age_years: Any, edges: Sequence[float] = (18, 40, 65, 80)) -> list[str]:
    """Label ages with bands ``"<18"``, ``"18-39"``, ..., ``"80+"``.

    Band ``"lo-hi"`` holds ages in ``[lo, hi + 1)``, labelled in whole years.

    Examples
    --------
    >>> age_bands([12, 18, 39.5, 64, 65, 90])
    ['<18', '18-39', '18-39', '40-64', '65-79', '80+']
    """
    age = np.asarray(age_years, dtype=np.float64)
    cuts = np.asarray(edges, dtype=np.float64)
    if cuts.size == 0 or np.any(np.diff(cuts) <= 0):
        raise InvalidParameterError(f"edges must be increasing, got {list(edges)}")
    if not np.all(np.isfinite(age)):
        raise InvalidInputError("ages must be finite numbers; impute or drop missing ages")
    names = [f"<{_fmt(cuts[0])}"]
    names += [f"{_fmt(lo)}-{_fmt(hi - 1)}" for lo, hi in pairwise(cuts)]
    names.append(f"{_fmt(cuts[-1])}+")
    return [names[i] for i in np.searchsorted(cuts, age, side="right")]


def regression_by_group(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    *,
    interval: PredictionInterval | None = None,
    min_group_size: int = 30,
    column: str = "group",
) -> SubgroupReport:
    """Mean absolute error, bias and (given ``interval``) coverage and width per group.

    Examples
    --------
    >>> report = regression_by_group([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.0, 6.0],
    ...                              ["F", "F", "M", "M"], min_group_size=2)
    >>> report.metric("mae"), report.gap("mae").ratio
    ({'F': 0.5, 'M': 1.0}, 2.0)
    """
    y, pred = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    _same_length(y, pred)
    metrics: dict[str, Metric] = {
        "mae": lambda rows: float(np.mean(np.abs(pred[rows] - y[rows]))),
        "bias": lambda rows: float(np.mean(pred[rows]) - np.mean(y[rows])),
    }
    if interval is not None:
        _same_length(y, interval.lower)
        covered = interval.covers(y)
        width = interval.width
        metrics["coverage"] = lambda rows: float(np.mean(covered[rows]))
        metrics["mean_width"] = lambda rows: float(np.mean(width[rows]))
    return _report(groups, y.size, metrics, min_group_size, column)


def risk_by_group(
    y_true: Any, risk: Any, groups: Any, *, min_group_size: int = 30, column: str = "group"
) -> SubgroupReport:
    """Event rate, AUC, Brier score and calibration-in-the-large per group.

    AUC is NaN in a group without both outcomes.

    Examples
    --------
    >>> report = risk_by_group([0, 1, 0, 1], [0.2, 0.7, 0.6, 0.4], ["a", "a", "b", "b"],
    ...                        min_group_size=1)
    >>> report.metric("auc")
    {'a': 1.0, 'b': 0.0}
    """
    y, p = _vector(y_true, "y_true"), _vector(risk, "risk")
    brier_score(y, p)  # checks 0/1 outcomes and risks in [0, 1] once, for all rows
    metrics: dict[str, Metric] = {
        "event_rate": lambda rows: float(np.mean(y[rows])),
        "auc": lambda rows: _roc_auc(y[rows], p[rows]),
        "brier": lambda rows: brier_score(y[rows], p[rows]),
        "calibration_in_the_large": lambda rows: calibration_in_the_large(y[rows], p[rows]),
    }
    return _report(groups, y.size, metrics, min_group_size, column)


def _report(
    groups: Any, n_rows: int, metrics: dict[str, Metric], min_group_size: int, column: str
) -> SubgroupReport:
    if min_group_size < 1:
        raise InvalidParameterError(f"min_group_size must be at least 1, got {min_group_size}")
    labels = _labels(groups, n_rows)
    rows_of = {g: np.flatnonzero(labels == g) for g in sorted(set(labels.tolist()))}
    results = tuple(
        GroupMetrics(
            group=g,
            n=int(rows.size),
            metrics={name: metric(rows) for name, metric in metrics.items()},
            small=bool(rows.size < min_group_size),
        )
        for g, rows in rows_of.items()
    )
    gaps = tuple(_gap(name, results) for name in metrics)
    return SubgroupReport(column, results, gaps, min_group_size)


def _gap(name: str, results: tuple[GroupMetrics, ...]) -> MetricGap:
    values = {g.group: g.metrics[name] for g in results if not g.small}
    values = {g: v for g, v in values.items() if math.isfinite(v)}
    if len(values) < 2:
        return MetricGap(name, "", "", math.nan, math.nan)
    hi = max(values, key=values.__getitem__)
    lo = min(values, key=values.__getitem__)
    ratio = values[hi] / values[lo] if values[lo] != 0 else math.inf
    return MetricGap(name, hi, lo, values[hi] - values[lo], ratio)


def _roc_auc(y: FloatArray, risk: FloatArray) -> float:
    positives = y == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(risk)  # mid-ranks: ties count one half
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _labels(groups: Any, n_rows: int) -> Any:
    raw = np.asarray(groups, dtype=object)
    if raw.shape != (n_rows,):
        raise ShapeError(f"groups must have one label per row ({n_rows}), got shape {raw.shape}")
    missing = [i for i, v in enumerate(raw.tolist()) if v is None or v != v]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} group labels are missing (first at row {missing[0]}); "
            "label them explicitly, e.g. 'unknown'"
        )
    return np.array([str(v) for v in raw.tolist()], dtype=object)


def _vector(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} has NaN or infinite values; drop or impute them")
    return arr


def _same_length(a: FloatArray, b: FloatArray) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"arrays must have one length, got {a.shape} and {b.shape}")


def _fmt(value: float) -> str:
    return f"{value:g}"
