"""How fair a prediction model is across subgroups of a shipped data set.

:func:`model_fairness` predicts every patient of a shipped clinical data set with a model
fitted without them (5-fold out-of-fold predictions): for a survival model the risk of the
event by a horizon (patients censored before it are left out), for a progression model the
progression itself. It then compares performance and calibration across subgroups (age is
banded) with :func:`healthtwin.governance.fairness.fairness_report` (fairlearn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError

__all__ = ["PROGRESSION_MODELS", "ModelFairness", "model_fairness", "out_of_fold_progression"]

#: Progression (regression) models the fairness report can cross-validate.
PROGRESSION_MODELS = ("ridge", "gradient_boosting", "linear")


@dataclass(frozen=True)
class ModelFairness:
    """A fairness report and what it is of.

    Attributes
    ----------
    model_key
        The registered model (``survival-cox``, ``progression-ridge``...).
    columns
        The subgroup columns.
    report
        The :class:`~healthtwin.governance.fairness.FairnessReport` (``to_dict()``,
        ``to_markdown()``).
    """

    model_key: str
    columns: tuple[str, ...]
    report: Any


def model_fairness(
    dataset: str, *, model: str = "cox", by: str = "age", horizon: float | None = None
) -> ModelFairness:
    """The fairness report of ``model``'s out-of-fold predictions on ``dataset``.

    Parameters
    ----------
    dataset
        A shipped clinical data set (``whas500``, ``diabetes``...).
    model
        A survival model (``cox``, ``coxnet``, ``rsf``, ``gbs``) or a progression model
        (:data:`PROGRESSION_MODELS`).
    by
        Subgroup columns, comma-separated; ``age`` is banded.
    horizon
        Survival models: the outcome is the event by this time (default: median follow-up).

    Returns
    -------
    ModelFairness
        The registered model's key, the columns, and per-subgroup metrics and gaps.

    Raises
    ------
    InvalidInputError
        For an unknown column, a progression model on a data set without a numeric
        outcome, or a survival model on one without times.

    Examples
    --------
    >>> model_fairness("whas500", by="zip")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: --by 'zip': unknown columns ['zip']; ...
    """
    from healthtwin.governance.fairness import fairness_report
    from healthtwin.prognosis.datasets import load_dataset
    from healthtwin.prognosis.fairness import age_bands
    from healthtwin.prognosis.out_of_fold import out_of_fold_survival
    from healthtwin.prognosis.risk_calibration import event_by_horizon

    data = load_dataset(dataset)
    columns = [c.strip() for c in by.split(",") if c.strip()]
    unknown = [c for c in columns if c not in data.features.columns]
    if unknown or not columns:
        raise InvalidInputError(
            f"--by {by!r}: unknown columns {unknown}; {dataset} has {list(data.features.columns)}"
        )
    if model in PROGRESSION_MODELS:
        if data.y is None:
            raise InvalidInputError(f"{dataset} has no numeric outcome; use e.g. diabetes")
        predicted = out_of_fold_progression(model, data.features, data.y, data.categorical)
        keep = np.ones(len(data.y), dtype=bool)
        y_true: Any = data.y
        name, outcome = f"progression-{model.replace('_', '-')}", "disease progression"
    else:
        if data.time is None or data.event is None:
            raise InvalidInputError(f"{dataset} is not a survival data set; choose one with times")
        time, event = data.time, data.event
        when = float(np.median(time)) if horizon is None else horizon
        survival = out_of_fold_survival(model, data.features, time, event, when)
        had, keep = event_by_horizon(time, event, when)
        y_true, predicted = had[keep].astype(int), 1.0 - survival[keep]
        name, outcome = f"survival-{model}", f"event by {when:g} days"
    groups = {}
    for column in columns:
        values = data.features[column].to_numpy()
        if column == "age":
            values = np.array(age_bands(values), dtype=object)
        groups[column] = np.asarray(values).astype(str)[keep]
    report = fairness_report(name, y_true, predicted, groups, outcome=outcome)
    return ModelFairness(name, tuple(columns), report)


def out_of_fold_progression(
    model: str, features: Any, y: Any, categorical: Sequence[str], folds: int = 5
) -> Any:
    """Each patient's predicted progression from a model fitted without them.

    Parameters
    ----------
    model
        A progression model (:data:`PROGRESSION_MODELS`).
    features
        Feature table (pandas DataFrame), one row per patient.
    y
        Observed progression, shape ``(n_patients,)``.
    categorical
        Names of the categorical features.
    folds
        Folds of a fixed random partition (seed 0).

    Returns
    -------
    numpy.ndarray
        Out-of-fold predictions, shape ``(n_patients,)``.

    Examples
    --------
    >>> from healthtwin.prognosis.datasets import load_dataset
    >>> data = load_dataset("diabetes")
    >>> out_of_fold_progression("ridge", data.features, data.y, data.categorical).shape
    (442,)
    """
    from healthtwin.prognosis.progression import ProgressionModel

    order = np.random.default_rng(0).permutation(len(y))
    predicted = np.empty(len(y))
    for part in np.array_split(order, folds):
        train = np.setdiff1d(order, part)
        fitted = ProgressionModel(model, categorical=tuple(categorical)).fit(
            features.iloc[train], np.asarray(y)[train]
        )
        predicted[part] = fitted.predict(features.iloc[part])
    return predicted
