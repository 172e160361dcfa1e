"""Fairness reports: per-subgroup performance and calibration of prediction models, by fairlearn.

For every grouping column (sex, age band, site...) a :class:`SubgroupFairness` holds,
per group, the group size and metrics computed by ``fairlearn.metrics.MetricFrame``
(Weerts et al., "Fairlearn: Assessing and Improving Fairness of AI Systems", JMLR
24(257), 2023), and for each metric the disparity between groups: the difference
``max - min`` and the ratio ``min / max`` (fairlearn's conventions; the ratio is left out
for signed metrics such as bias). Groups smaller than ``min_group_size`` are reported but
left out of the disparities, whose values would be noise.

Metrics by task (``y_pred`` is a risk in [0, 1], a 0/1 label, or a number):

- ``risk``: event rate, mean risk, AUC (NaN in a group with one outcome only), Brier
  score, calibration-in-the-large (mean risk minus event rate), and at ``threshold`` the
  selection rate, true- and false-positive rates;
- ``classification``: accuracy, selection rate, true- and false-positive rates;
- ``regression``: mean absolute error, root mean squared error, bias (mean prediction
  minus mean outcome).

For risk and classification models the report adds fairlearn's equalized-odds difference
(the larger of the between-group TPR and FPR differences; Hardt, Price & Srebro, NeurIPS
2016) and demographic-parity difference (of selection rates) over the groups that are not
small. :func:`fairness_report` is what a CLI or the API calls for a registered model.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
)
from healthtwin.governance.model_registry import registered_model

__all__ = [
    "Disparity",
    "FairnessReport",
    "GroupRow",
    "SubgroupFairness",
    "fairness_report",
    "subgroup_fairness",
]

Task = Literal["risk", "classification", "regression"]
Score = Callable[[FloatArray, FloatArray], float]
FAIRNESS_EXTRA = "pip install 'healthtwin[fairness]'"
#: Metrics that can be negative: their ratio between groups means nothing.
_SIGNED = frozenset({"bias", "calibration_in_the_large"})


@dataclass(frozen=True)
class GroupRow:
    """One group: its size, whether it is too small to compare, and its metrics."""

    group: str
    n: int
    small: bool
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class Disparity:
    """Spread of one metric over the groups that are not small (NaN with fewer than two)."""

    metric: str
    difference: float
    ratio: float
    max_group: str
    min_group: str


@dataclass(frozen=True)
class SubgroupFairness:
    """Metrics per group of one column, disparities, and the two fairness differences."""

    column: str
    groups: tuple[GroupRow, ...]
    disparities: tuple[Disparity, ...]
    equalized_odds_difference: float | None
    demographic_parity_difference: float | None

    def metric(self, name: str) -> dict[str, float]:
        """``{group: value}`` of one metric."""
        return {g.group: g.metrics[name] for g in self.groups}

    def disparity(self, name: str) -> Disparity:
        """The disparity of one metric."""
        for d in self.disparities:
            if d.metric == name:
                return d
        raise InvalidParameterError(
            f"no metric {name!r} in this report; it has {[d.metric for d in self.disparities]}"
        )

    @property
    def small_groups(self) -> tuple[str, ...]:
        """Groups left out of the disparities."""
        return tuple(g.group for g in self.groups if g.small)


@dataclass(frozen=True)
class FairnessReport:
    """The fairness report of one registered model on one data set."""

    model: str
    version: str
    task: Task
    outcome: str
    n: int
    threshold: float | None
    min_group_size: int
    overall: Mapping[str, float]
    columns: tuple[SubgroupFairness, ...]

    def column(self, name: str) -> SubgroupFairness:
        """The part of the report for one grouping column."""
        for c in self.columns:
            if c.column == name:
                return c
        raise InvalidParameterError(
            f"no column {name!r} in this report; it has {[c.column for c in self.columns]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN and infinities become ``None``)."""
        return _json_safe(asdict(self))  # type: ignore[no-any-return]

    def to_markdown(self) -> str:
        """The report as Markdown tables, one per column."""
        lines = [
            f"# Fairness report: {self.model}@{self.version}",
            "",
            f"Task {self.task}; outcome: {self.outcome or 'as given'}; n = {self.n}; groups "
            f"under {self.min_group_size} are flagged small and left out of disparities.",
            "",
            "Overall: " + ", ".join(f"{k} {_fmt(v)}" for k, v in self.overall.items()),
        ]
        for col in self.columns:
            names = list(self.overall)
            lines += ["", f"## {col.column}", "", "| group | n | " + " | ".join(names) + " |"]
            lines.append("|---" * (len(names) + 2) + "|")
            for g in col.groups:
                flag = " (small)" if g.small else ""
                values = " | ".join(_fmt(g.metrics[m]) for m in names)
                lines.append(f"| {g.group}{flag} | {g.n} | {values} |")
            lines += [
                "",
                "| metric | difference | ratio | max group | min group |",
                "|---" * 5 + "|",
            ]
            lines += [
                f"| {d.metric} | {_fmt(d.difference)} | {_fmt(d.ratio)} | {d.max_group} | "
                f"{d.min_group} |"
                for d in col.disparities
            ]
            if col.equalized_odds_difference is not None:
                lines += [
                    "",
                    f"Equalized-odds difference {_fmt(col.equalized_odds_difference)}; "
                    f"demographic-parity difference {_fmt(col.demographic_parity_difference)}.",
                ]
        return "\n".join(lines) + "\n"


def _fairlearn() -> Any:
    try:
        return importlib.import_module("fairlearn.metrics")
    except ImportError as err:
        raise MissingDependencyError(
            f"fairness reports need fairlearn; install it with {FAIRNESS_EXTRA}"
        ) from err


def _auc(y: FloatArray, p: FloatArray) -> float:
    if np.unique(y).size < 2:
        return math.nan
    # scikit-learn comes with fairlearn
    return float(importlib.import_module("sklearn.metrics").roc_auc_score(y, p))


def _rate(condition: float) -> Score:
    def rate(y: FloatArray, label: FloatArray) -> float:
        rows = y == condition
        return float(np.mean(label[rows])) if rows.any() else math.nan

    return rate


def _metrics(task: Task, threshold: float) -> dict[str, Score]:
    def labels(scores: Score) -> Score:
        return lambda y, p: scores(y, (p >= threshold).astype(np.float64))

    at_threshold: dict[str, Score] = {
        "selection_rate": lambda y, label: float(np.mean(label)),
        "true_positive_rate": _rate(1.0),
        "false_positive_rate": _rate(0.0),
    }
    if task == "regression":
        return {
            "mae": lambda y, p: float(np.mean(np.abs(p - y))),
            "rmse": lambda y, p: float(np.sqrt(np.mean((p - y) ** 2))),
            "bias": lambda y, p: float(np.mean(p) - np.mean(y)),
        }
    if task == "classification":
        return {"accuracy": lambda y, label: float(np.mean(y == label)), **at_threshold}
    return {
        "event_rate": lambda y, p: float(np.mean(y)),
        "mean_risk": lambda y, p: float(np.mean(p)),
        "auc": _auc,
        "brier": lambda y, p: float(np.mean((p - y) ** 2)),
        "calibration_in_the_large": lambda y, p: float(np.mean(p) - np.mean(y)),
        **{name: labels(score) for name, score in at_threshold.items()},
    }


def subgroup_fairness(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: Mapping[str, ArrayLike],
    *,
    task: Task,
    threshold: float = 0.5,
    min_group_size: int = 30,
) -> tuple[dict[str, float], tuple[SubgroupFairness, ...]]:
    """Overall metrics and one :class:`SubgroupFairness` per grouping column.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        Outcomes: 0/1 for risk and classification, numbers for regression.
    y_pred : array_like, shape (n,)
        Risks in [0, 1], 0/1 labels, or predicted numbers.
    groups : mapping of str to array_like, each shape (n,)
        Column name -> group label of every row (``{"sex": [...], "age": [...]}``).
    task : {"risk", "classification", "regression"}
    threshold : float
        Risk at or above which a row counts as selected (risk task only).
    min_group_size : int
        Groups with fewer rows are flagged small and left out of the disparities.

    Returns
    -------
    overall : dict
        Metric -> value over all rows.
    columns : tuple of SubgroupFairness

    Raises
    ------
    ShapeError, InvalidInputError, InvalidParameterError
        Lengths differ, values are missing or out of range, or settings are invalid.
    MissingDependencyError
        fairlearn is not installed.

    Examples
    --------
    >>> overall, (sex,) = subgroup_fairness(
    ...     [0, 1, 0, 1], [0.2, 0.7, 0.6, 0.4], {"sex": ["f", "f", "m", "m"]},
    ...     task="risk", min_group_size=1)
    >>> sex.metric("auc"), sex.disparity("auc").difference
    ({'f': 1.0, 'm': 0.0}, 1.0)
    >>> sex.equalized_odds_difference, sex.demographic_parity_difference
    (1.0, 0.0)
    """
    fl = _fairlearn()
    y, p = _checked(y_true, y_pred, task, threshold, min_group_size)
    metrics = _metrics(task, threshold)
    overall = {name: score(y, p) for name, score in metrics.items()}
    columns = tuple(
        _column(
            fl, name, _labels(name, labels, y.size), y, p, metrics, task, threshold, min_group_size
        )
        for name, labels in groups.items()
    )
    return overall, columns


def _column(
    fl: Any,
    column: str,
    labels: Any,
    y: FloatArray,
    p: FloatArray,
    metrics: dict[str, Score],
    task: Task,
    threshold: float,
    min_group_size: int,
) -> SubgroupFairness:
    frame = fl.MetricFrame(
        metrics={"n": fl.count, **metrics}, y_true=y, y_pred=p, sensitive_features=labels
    )
    table = frame.by_group
    rows = tuple(
        GroupRow(
            group=str(group),
            n=int(table.loc[group, "n"]),
            small=bool(table.loc[group, "n"] < min_group_size),
            metrics={name: float(table.loc[group, name]) for name in metrics},
        )
        for group in table.index
    )
    kept = {g.group for g in rows if not g.small}
    keep = np.isin(labels, list(kept))
    disparities = tuple(_disparity(name, rows, kept) for name in metrics)
    eod = dpd = None
    if task != "regression":
        eod, dpd = _fairness_differences(fl, y[keep], p[keep], labels[keep], task, threshold)
    return SubgroupFairness(column, rows, disparities, eod, dpd)


def _disparity(name: str, rows: tuple[GroupRow, ...], kept: set[str]) -> Disparity:
    values = {g.group: g.metrics[name] for g in rows if g.group in kept}
    values = {g: v for g, v in values.items() if math.isfinite(v)}
    if len(values) < 2:
        return Disparity(name, math.nan, math.nan, "", "")
    hi = max(values, key=values.__getitem__)
    lo = min(values, key=values.__getitem__)
    if name in _SIGNED:
        ratio = math.nan
    else:
        ratio = values[lo] / values[hi] if values[hi] != 0 else math.nan
    return Disparity(name, values[hi] - values[lo], ratio, hi, lo)


def _fairness_differences(
    fl: Any, y: FloatArray, p: FloatArray, labels: Any, task: Task, threshold: float
) -> tuple[float, float]:
    if np.unique(labels).size < 2:
        return math.nan, math.nan
    label = (p >= threshold).astype(np.int64) if task == "risk" else p.astype(np.int64)
    truth = y.astype(np.int64)
    eod = fl.equalized_odds_difference(truth, label, sensitive_features=labels)
    dpd = fl.demographic_parity_difference(truth, label, sensitive_features=labels)
    return float(eod), float(dpd)


def fairness_report(
    model_name: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: Mapping[str, ArrayLike],
    *,
    outcome: str = "",
    threshold: float = 0.5,
    min_group_size: int = 30,
) -> FairnessReport:
    """The fairness report of a registered prediction model on given predictions.

    The caller supplies out-of-sample predictions (``governance`` cannot import the
    prognosis package); the task comes from the model's registry entry.

    Parameters
    ----------
    model_name : str
        A model of :data:`~healthtwin.governance.model_registry.REGISTERED_MODELS` with a
        prediction ``task``.
    y_true, y_pred, groups, threshold, min_group_size
        As for :func:`subgroup_fairness`.
    outcome : str
        What ``y_true`` is (``"death by 1,084 days"``), for the report.

    Raises
    ------
    UnknownModelError
        The name is not registered.
    InvalidParameterError
        The model is not a prediction model over patients.

    Examples
    --------
    >>> report = fairness_report("progression-ridge", [1.0, 2.0, 3.0, 4.0],
    ...                          [1.5, 2.5, 3.0, 6.0], {"sex": ["F", "F", "M", "M"]},
    ...                          min_group_size=2)
    >>> report.column("sex").metric("mae"), report.column("sex").disparity("mae").ratio
    ({'F': 0.5, 'M': 1.0}, 0.5)
    """
    model = registered_model(model_name)
    if model.task is None:
        raise InvalidParameterError(
            f"model {model.key} makes no per-patient predictions, so it has no fairness "
            "report; choose a prognosis model (survival-*, progression-*, glucose-*)"
        )
    overall, columns = subgroup_fairness(
        y_true, y_pred, groups, task=model.task, threshold=threshold,
        min_group_size=min_group_size,
    )  # fmt: skip
    return FairnessReport(
        model=model.name,
        version=model.version,
        task=model.task,
        outcome=outcome,
        n=int(np.asarray(y_true).size),
        threshold=None if model.task == "regression" else threshold,
        min_group_size=min_group_size,
        overall=overall,
        columns=columns,
    )


def _checked(
    y_true: ArrayLike, y_pred: ArrayLike, task: Task, threshold: float, min_group_size: int
) -> tuple[FloatArray, FloatArray]:
    if task not in ("risk", "classification", "regression"):
        raise InvalidParameterError(
            f"task must be 'risk', 'classification' or 'regression', got {task!r}"
        )
    if not 0.0 < threshold < 1.0:
        raise InvalidParameterError(f"threshold must be in (0, 1), got {threshold}")
    if min_group_size < 1:
        raise InvalidParameterError(f"min_group_size must be at least 1, got {min_group_size}")
    y, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if y.shape != p.shape:
        raise ShapeError(f"y_true and y_pred differ in length: {y.size} vs {p.size}")
    if task != "regression" and not np.all((y == 0) | (y == 1)):
        raise InvalidInputError(f"y_true must be 0/1 for a {task} model; found {np.unique(y)[:5]}")
    if task == "risk" and not np.all((p >= 0) & (p <= 1)):
        raise InvalidInputError("risks must lie in [0, 1]; pass probabilities, not scores")
    if task == "classification" and not np.all((p == 0) | (p == 1)):
        raise InvalidInputError("y_pred must be 0/1 labels for a classification model")
    return y, p


def _vector(values: ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be numbers: {err}") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} has NaN or infinite values; drop or impute them")
    return arr


def _labels(column: str, labels: ArrayLike, n: int) -> Any:
    raw = np.asarray(labels, dtype=object)
    if raw.shape != (n,):
        raise ShapeError(f"groups[{column!r}] needs one label per row ({n}), got {raw.shape}")
    missing = [i for i, v in enumerate(raw.tolist()) if v is None or v != v]
    if missing:
        raise InvalidInputError(
            f"groups[{column!r}] has {len(missing)} missing labels (first at row "
            f"{missing[0]}); label them explicitly, e.g. 'unknown'"
        )
    return np.array([str(v) for v in raw.tolist()], dtype=object)


def _fmt(value: float | None) -> str:
    return "NA" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
