"""Prognosis models trained on shipped data sets and used on new patients, as files.

:func:`train_survival` fits a survival model (Cox, random survival forest, gradient
boosting) with bootstrap refits for intervals, cross-validates it, checks its out-of-fold
calibration at a horizon and its fairness across subgroups (age bands, sex), and saves it
with its model card and the typical patient that explanations ablate towards.
:func:`train_progression` does the same for a disease-progression (regression) model with
split-conformal 90 % intervals scored on held-out patients. :func:`predict_patients` loads
a saved model and predicts a CSV of patients: survival at chosen times with intervals (or
progression with its interval) and each patient's top explanations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.reporting import Reporter, SilentReporter

__all__ = [
    "BASELINE_FILE",
    "MODEL_FILE",
    "Predictions",
    "TrainedModel",
    "load_prognosis_dataset",
    "predict_patients",
    "survival_fits",
    "train_progression",
    "train_survival",
]

#: The saved model inside a model folder.
MODEL_FILE = "model.skops"
#: The typical patient (feature values) that explanations ablate towards.
BASELINE_FILE = "explanation_baseline.json"


@dataclass(frozen=True)
class TrainedModel:
    """A saved model: its file, the file's SHA-256, its card's metrics and fairness reports."""

    path: Path
    sha256: str
    metrics: dict[str, float]
    fairness: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Predictions:
    """Predictions for a table of patients (a pandas DataFrame, one row per patient)."""

    table: Any
    model_name: str

    @property
    def patients(self) -> int:
        """Number of patients predicted."""
        return len(self.table)


def load_prognosis_dataset(name: str) -> Any:
    """A shipped data set: survival (``gbsg2``, ``whas500``...) or progression (``diabetes``).

    Raises
    ------
    UnknownModelError
        For an unknown data set (the known ones are listed).

    Examples
    --------
    >>> load_prognosis_dataset("whas500").kind
    'survival'
    """
    from healthtwin.prognosis.datasets import load_dataset

    return load_dataset(name)


def train_survival(
    data: Any,
    model: str,
    out: Path,
    *,
    replicates: int = 20,
    folds: int = 5,
    groups: Sequence[str] | None = None,
    horizon: float | None = None,
    seed: int = 0,
    reporter: Reporter | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainedModel:
    """Fit, cross-validate and save a survival model with its card.

    Parameters
    ----------
    data
        A survival data set (:func:`load_prognosis_dataset`).
    model
        ``cox``, ``rsf`` or ``gbs``.
    out
        Folder for :data:`MODEL_FILE`, its card and :data:`BASELINE_FILE`.
    replicates, folds
        Bootstrap refits for intervals, and cross-validation folds for the card (>= 2).
    groups
        Columns of the fairness report (default: age, sex or gender where present).
    horizon
        Horizon of calibration and fairness (default: median time).
    seed
        Seed of the folds and bootstrap.
    reporter
        Told when each of the three stages starts.
    on_progress
        Called with ``(model fits done, model fits)`` as each stage ends: ``folds`` fits
        of the cross-validation, the full-data model and ``replicates`` refits, and
        ``folds`` out-of-fold fits for calibration and fairness (``2 * folds +
        replicates + 1`` in all; :func:`survival_fits`).

    Raises
    ------
    InvalidInputError
        For fewer than 2 replicates or folds, an unknown group column or a horizon <= 0.
    """
    from healthtwin.prognosis.bootstrap import BootstrapSurvival
    from healthtwin.prognosis.evaluation import cross_validate_survival

    if replicates < 2 or folds < 2:
        raise InvalidInputError(f"--replicates and --folds must be >= 2, got {replicates}, {folds}")
    report = reporter or SilentReporter()
    time, event = data.survival_target()
    report.progress(0.0, f"cross-validating {model} ({folds} folds)")
    cv = cross_validate_survival(
        model, data.features, time, event, n_splits=folds, n_repeats=1, random_state=seed
    )
    count = on_progress or _ignore
    total = survival_fits(replicates, folds)
    count(folds, total)
    report.progress(1 / 3, f"fitting {model} and {replicates} bootstrap refits")
    fitted = BootstrapSurvival(model, replicates=replicates, seed=seed).fit(
        data.features, time, event
    )
    count(folds + replicates + 1, total)
    report.progress(2 / 3, "out-of-fold calibration and fairness")
    metrics = {f"cv_{k}": float(v["mean"]) for k, v in cv.summary().items()}
    reports, calibration = _fairness(model, data, time, event, groups, horizon, folds, seed)
    count(total, total)
    report.progress(1.0)
    metrics[f"calibration_mae_at_{calibration.horizon:g}"] = float(calibration.mean_absolute_error)
    for subgroup in reports:
        for gap in subgroup.gaps:
            metrics[f"fairness_{subgroup.column}_{gap.metric}_gap"] = float(gap.difference)
    saved = _save(
        fitted,
        data,
        out,
        name=f"{model} survival model ({data.name})",
        metrics=metrics,
        intended_use=(
            "research and education: survival probabilities of patients like those in "
            f"{data.name} ({data.description}), time in {data.time_unit}"
        ),
        limitations=(
            "fitted on one historical cohort; not validated for clinical use or for "
            "populations unlike the training cohort; intervals are bootstrap percentile "
            "intervals of the model's sampling variability, not of the outcome"
        ),
    )
    return TrainedModel(saved.path, saved.sha256, metrics, tuple(reports))


def survival_fits(replicates: int, folds: int) -> int:
    """Model fits of :func:`train_survival`: cross-validation, bootstrap, out-of-fold.

    Examples
    --------
    >>> survival_fits(20, 5)
    31
    """
    return 2 * folds + replicates + 1


def _ignore(done: int, total: int) -> None:
    """No progress callback: nothing to tell."""


def train_progression(
    data: Any,
    model: str,
    out: Path,
    *,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainedModel:
    """Fit a progression model, calibrate its conformal intervals, score them held out.

    Patients are split 60/20/20 (fit, calibrate, test) at random. ``on_progress`` is
    called with ``(stages done, 3)`` after the fit, the calibration and the held-out test.

    Raises
    ------
    InvalidInputError
        For a model that is not a progression regressor (the valid ones are listed).
    """
    from healthtwin.prognosis.progression import REGRESSORS, ProgressionModel

    if model not in REGRESSORS:
        raise InvalidInputError(
            f"{data.name} is a progression (regression) data set; --model must be one of "
            f"{', '.join(REGRESSORS)}, got {model!r}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.n_patients)
    fit_rows, cal_rows, test_rows = np.array_split(
        order, [int(0.6 * order.size), int(0.8 * order.size)]
    )
    frame, y = data.features, np.asarray(data.y)
    fitted = ProgressionModel(model, categorical=data.categorical, random_state=seed)
    count = on_progress or _ignore
    fitted.fit(frame.iloc[fit_rows], y[fit_rows])
    count(1, 3)
    fitted.calibrate(frame.iloc[cal_rows], y[cal_rows])
    count(2, 3)
    held = fitted.predict_interval(frame.iloc[test_rows], alpha=0.1)
    errors = np.abs(fitted.predict(frame.iloc[test_rows]) - y[test_rows])
    count(3, 3)
    metrics = {
        "holdout_mae": float(errors.mean()),
        "holdout_coverage_90": float(np.mean(held.covers(y[test_rows]))),
        "holdout_mean_width_90": float(np.mean(held.width)),
    }
    saved = _save(
        fitted,
        data,
        out,
        name=f"{model} progression model ({data.name})",
        metrics=metrics,
        intended_use=f"research and education: {data.description}",
        limitations=(
            "fitted on one historical cohort; not validated for clinical use; split-conformal "
            "90 % intervals hold on average over patients exchangeable with the calibration set"
        ),
    )
    return TrainedModel(saved.path, saved.sha256, metrics)


def _save(
    fitted: Any,
    data: Any,
    out: Path,
    *,
    name: str,
    metrics: dict[str, float],
    intended_use: str,
    limitations: str,
) -> TrainedModel:
    """Save the model with its card, and the typical patient for explanations."""
    from healthtwin.prognosis.ablation import typical_values
    from healthtwin.prognosis.persistence import ModelCard, feature_types, save_model

    card = ModelCard(
        name=name,
        dataset=data.name,
        dataset_source=data.source,
        dataset_licence=data.licence,
        features=feature_types(data.features),
        metrics=metrics,
        intended_use=intended_use,
        limitations=limitations,
    )
    out.mkdir(parents=True, exist_ok=True)
    saved = save_model(fitted, out / MODEL_FILE, card)
    baseline = {
        k: v if isinstance(v, str) else float(v)  # type: ignore[arg-type]
        for k, v in typical_values(data.features).items()
    }
    (out / BASELINE_FILE).write_text(json.dumps(baseline, indent=2) + "\n")
    return TrainedModel(out / MODEL_FILE, saved.sha256, metrics)


def _fairness(
    model: str,
    data: Any,
    time: Any,
    event: Any,
    groups: Sequence[str] | None,
    horizon: float | None,
    folds: int,
    seed: int,
) -> tuple[list[Any], Any]:
    """Out-of-fold calibration at the horizon and subgroup reports (age bands, sex...)."""
    from healthtwin.prognosis.fairness import age_bands
    from healthtwin.prognosis.out_of_fold import out_of_fold_survival, subgroup_fairness
    from healthtwin.prognosis.survival_calibration import calibration_from_risk

    frame = data.features
    if groups is None:
        chosen = [c for c in frame.columns if c.lower() in ("age", "sex", "gender")]
    else:
        chosen = list(groups)
        unknown = [c for c in chosen if c not in frame.columns]
        if unknown:
            raise InvalidInputError(
                f"--groups: no column(s) {unknown} in {data.name}; columns: {list(frame.columns)}"
            )
    at = float(np.median(time)) if horizon is None else horizon
    if not at > 0:
        raise InvalidInputError(f"--horizon must be > 0, got {horizon}")
    survival = out_of_fold_survival(model, frame, time, event, at, folds=folds, seed=seed)
    calibration = calibration_from_risk(1.0 - survival, time, event, at)
    reports = []
    for column in chosen:
        values = frame[column]
        labels = age_bands(values) if column.lower() == "age" else values.astype(str)
        name = "age_band" if column.lower() == "age" else column
        reports.append(subgroup_fairness(labels, survival, time, event, at, column=name))
    return reports, calibration


def predict_patients(
    model_dir: Path, patients: Path, times: Sequence[float], top: int = 3
) -> Predictions:
    """Predict a CSV of patients with a saved model, and explain each prediction.

    The model folder is one written by :func:`train_survival` or :func:`train_progression`.

    Parameters
    ----------
    model_dir
        The model folder.
    patients
        CSV with the model's feature columns (others are ignored).
    times
        Times of the survival probabilities (survival models), in the data set's unit.
    top
        Explanations per patient (ablation contributions, largest first).

    Returns
    -------
    Predictions
        Survival models: ``risk_score``, ``survival_<t>`` with ``_p5`` and ``_p95``
        (bootstrap) per time; progression models: ``prediction``, ``lower_90`` and
        ``upper_90`` (split conformal); then ``explanation_1..top``.

    Raises
    ------
    InvalidInputError
        For a missing patients file or feature column.
    """
    import pandas as pd

    from healthtwin.prognosis.ablation import ablation_contributions
    from healthtwin.prognosis.persistence import load_model

    fitted, card = load_model(model_dir / MODEL_FILE)
    frame = _read_patients(patients, dict(card.features))
    baseline = json.loads((model_dir / BASELINE_FILE).read_text())
    columns = list(frame.columns)
    if hasattr(fitted, "predict_interval"):  # a progression model
        interval = fitted.predict_interval(frame, alpha=0.1)
        table = pd.DataFrame(
            {
                "prediction": fitted.predict(frame),
                "lower_90": interval.lower,
                "upper_90": interval.upper,
            }
        )
        contributions = ablation_contributions(fitted.predict, frame, baseline)
    else:
        prediction = fitted.predict(frame, list(times))
        contributions = ablation_contributions(fitted.predict_risk, frame, baseline)
        table = pd.DataFrame({"risk_score": fitted.predict_risk(frame)})
        for j, t in enumerate(times):
            table[f"survival_{t:g}"] = prediction.survival[:, j]
            table[f"survival_{t:g}_p5"] = prediction.low[:, j]
            table[f"survival_{t:g}_p95"] = prediction.high[:, j]
    order = np.argsort(-np.abs(contributions), axis=1)[:, :top]
    for k in range(min(top, len(columns))):
        table[f"explanation_{k + 1}"] = [
            f"{columns[order[i, k]]}={frame.iloc[i][columns[order[i, k]]]} "
            f"({contributions[i, order[i, k]]:+.3g})"
            for i in range(len(frame))
        ]
    return Predictions(table, card.name)


def _read_patients(path: Path, features: dict[str, str]) -> Any:
    import pandas as pd

    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give a CSV of patients")
    frame = pd.read_csv(path)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {missing}; the model needs {list(features)}"
        )
    frame = frame[list(features)]
    for name, kind in features.items():
        if kind == "category":
            frame[name] = frame[name].astype(str).astype("category")
    return frame
