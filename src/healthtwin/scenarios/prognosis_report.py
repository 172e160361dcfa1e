"""The HTML report of a trained survival model: discrimination and calibration, held out.

:func:`survival_evidence` recomputes, with the same model, folds and seed as
:func:`healthtwin.scenarios.prognosis_runs.train_survival` (and therefore the same
numbers as the model card), the held-out evidence a person would rather look at than read:
the cross-validated time-dependent AUC at each evaluation time (cumulative/dynamic, Uno
et al. 2007) and every patient's out-of-fold survival at the calibration horizon.
:func:`write_survival_report` draws the ROC curve of "event by the horizon" among patients
whose status at the horizon is known, the calibration curve (predicted against
Kaplan-Meier risk by risk decile, Harrell et al. 1996) and the AUC over time, with the
card's metrics in a table. For a progression (regression) model,
:func:`progression_evidence` loads the saved model and predicts the held-out patients of
``train_progression``'s split (same seed), and :func:`write_progression_report` draws
predicted against observed with the split-conformal 90 % intervals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from healthtwin.core.types import FloatArray
from healthtwin.scenarios.html import html_figure, html_report, html_table, new_figure

__all__ = [
    "ProgressionEvidence",
    "SurvivalEvidence",
    "progression_evidence",
    "roc_curve",
    "survival_evidence",
    "write_progression_report",
    "write_survival_report",
]


@dataclass(frozen=True)
class SurvivalEvidence:
    """Held-out discrimination and calibration of a survival model.

    Attributes
    ----------
    horizon
        Time of the calibration and of the ROC curve, in the data set's time unit.
    times
        ``(m,)`` evaluation times of the time-dependent AUC.
    auc
        ``(n_folds, m)`` time-dependent AUC of each held-out fold.
    survival
        ``(n,)`` each patient's out-of-fold survival at ``horizon``.
    had_event, known
        ``(n,)`` event by the horizon, and whether that is known (not censored before).
    calibration
        The calibration table at ``horizon`` (``predicted``, ``observed``, ``n_patients``,
        ``mean_absolute_error``).
    """

    horizon: float
    times: FloatArray
    auc: FloatArray
    survival: FloatArray
    had_event: NDArray[np.bool_]
    known: NDArray[np.bool_]
    calibration: Any

    @property
    def mean_auc_by_fold(self) -> FloatArray:
        """``(n_folds,)`` each fold's AUC averaged over the evaluation times (the card's)."""
        return np.asarray(self.auc.mean(axis=1), dtype=np.float64)


def survival_evidence(
    data: Any, model: str, *, folds: int, horizon: float | None, seed: int
) -> SurvivalEvidence:
    """Held-out AUC over time and out-of-fold survival, exactly as training computed them.

    Parameters
    ----------
    data
        A survival data set (``load_prognosis_dataset``).
    model
        ``cox``, ``rsf`` or ``gbs``.
    folds, horizon, seed
        As given to ``train_survival`` (``horizon`` None: the median follow-up time).

    Returns
    -------
    SurvivalEvidence
    """
    from healthtwin.prognosis.evaluation import cross_validate_survival
    from healthtwin.prognosis.out_of_fold import out_of_fold_survival
    from healthtwin.prognosis.risk_calibration import event_by_horizon
    from healthtwin.prognosis.survival_calibration import calibration_from_risk

    time, event = data.survival_target()
    cv = cross_validate_survival(
        model, data.features, time, event, n_splits=folds, n_repeats=1, random_state=seed
    )
    at = float(np.median(time)) if horizon is None else float(horizon)
    survival = out_of_fold_survival(model, data.features, time, event, at, folds=folds, seed=seed)
    had, known = event_by_horizon(time, event, at)
    return SurvivalEvidence(
        horizon=at,
        times=np.asarray(cv.times, dtype=np.float64),
        auc=np.asarray(cv.auc[0], dtype=np.float64),
        survival=np.asarray(survival, dtype=np.float64),
        had_event=had,
        known=known,
        calibration=calibration_from_risk(1.0 - survival, time, event, at),
    )


def roc_curve(outcome: NDArray[np.bool_], risk: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """False and true positive rates over every risk threshold, and the area under them.

    Parameters
    ----------
    outcome
        ``(n,)`` whether each patient had the event (both classes must be present).
    risk
        ``(n,)`` predicted risks; ties move together (a diagonal step).

    Returns
    -------
    fpr, tpr, auc
        ``(k,)`` rates from ``(0, 0)`` to ``(1, 1)`` and the trapezoidal area (equal to the
        Mann-Whitney probability that a case outranks a non-case, ties counting a half).

    Examples
    --------
    >>> fpr, tpr, auc = roc_curve(np.array([True, False, True, False]),
    ...                           np.array([0.9, 0.8, 0.7, 0.1]))
    >>> tpr.tolist(), auc
    ([0.0, 0.5, 0.5, 1.0, 1.0], 0.75)
    """
    order = np.argsort(-risk, kind="stable")
    sorted_risk, sorted_outcome = risk[order], outcome[order]
    last_of_tie = np.r_[np.diff(sorted_risk) != 0, True]
    tp = np.cumsum(sorted_outcome)[last_of_tie]
    fp = np.cumsum(~sorted_outcome)[last_of_tie]
    tpr = np.r_[0.0, tp / max(int(tp[-1]), 1)]
    fpr = np.r_[0.0, fp / max(int(fp[-1]), 1)]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return fpr, tpr, auc


def write_survival_report(
    metrics: Mapping[str, float],
    evidence: SurvivalEvidence,
    path: Path,
    *,
    title: str,
    time_unit: str,
) -> None:
    """Write a self-contained HTML report: ROC, calibration, AUC over time and the metrics.

    Parameters
    ----------
    metrics
        The model card's metrics (``TrainedModel.metrics``).
    evidence
        Held-out predictions (:func:`survival_evidence`).
    path
        The HTML file written (its folder is created).
    title
        The model and data set.
    time_unit
        The data set's time unit.
    """
    known = evidence.known
    risk = 1.0 - evidence.survival[known]
    outcome = evidence.had_event[known]
    fpr, tpr, auc = roc_curve(outcome, risk)
    brier = float(np.mean((risk - outcome) ** 2))
    at = f"{evidence.horizon:g} {time_unit}"
    summary = [
        ["AUC of event by the horizon (out of fold)", f"{auc:.3f}"],
        ["Brier score at the horizon (out of fold)", f"{brier:.3f}"],
        ["patients with a known status at the horizon", f"{int(known.sum())}"],
        ["events by the horizon", f"{int(outcome.sum())}"],
    ]
    sections = [
        ("Model card metrics", _metrics_table(metrics)),
        (f"At the horizon ({at})",
         html_table(["quantity", "value"], summary, row_headers=True,
                    caption="Patients censored before the horizon are left out")),
        ("Discrimination and calibration", _roc_and_calibration(evidence, fpr, tpr, auc, at)),
        ("Discrimination over time", _auc_over_time(evidence, time_unit)),
        ("Calibration by risk decile", _calibration_table(evidence)),
    ]  # fmt: skip
    html_report(
        path,
        f"Prognosis model: {title}",
        f"Held-out evidence from {evidence.auc.shape[0]}-fold cross-validation: every number "
        "and curve comes from patients the scoring model never saw.",
        sections,
    )


@dataclass(frozen=True)
class ProgressionEvidence:
    """Held-out predictions of a progression model with their 90 % conformal intervals.

    Attributes
    ----------
    observed, predicted, lower, upper
        ``(n_test,)`` outcomes, point predictions and interval bounds of the test patients.
    """

    observed: FloatArray
    predicted: FloatArray
    lower: FloatArray
    upper: FloatArray

    @property
    def coverage(self) -> float:
        """Share of test patients whose outcome lies in its interval (the card's)."""
        inside = (self.lower <= self.observed) & (self.observed <= self.upper)
        return float(np.mean(inside))


def progression_evidence(data: Any, model_path: Path, *, seed: int) -> ProgressionEvidence:
    """Predict the test patients of ``train_progression``'s 60/20/20 split with the saved model.

    Parameters
    ----------
    data
        The progression data set the model was trained on.
    model_path
        The saved model (``TrainedModel.path``).
    seed
        The training seed (it drew the split).
    """
    from healthtwin.prognosis.persistence import load_model

    fitted, _ = load_model(model_path)
    order = np.random.default_rng(seed).permutation(data.n_patients)
    test = order[int(0.8 * order.size) :]
    frame = data.features.iloc[test]
    interval = fitted.predict_interval(frame, alpha=0.1)
    return ProgressionEvidence(
        observed=np.asarray(data.y, dtype=np.float64)[test],
        predicted=np.asarray(fitted.predict(frame), dtype=np.float64),
        lower=np.asarray(interval.lower, dtype=np.float64),
        upper=np.asarray(interval.upper, dtype=np.float64),
    )


def write_progression_report(
    metrics: Mapping[str, float], evidence: ProgressionEvidence, path: Path, *, title: str
) -> None:
    """Write a self-contained HTML report: predicted against observed, with intervals.

    Parameters
    ----------
    metrics
        The model card's metrics.
    evidence
        Held-out predictions (:func:`progression_evidence`).
    path
        The HTML file written (its folder is created).
    title
        The model and data set.
    """
    fig = new_figure(6, 5)
    ax = fig.subplots()
    inside = (evidence.lower <= evidence.observed) & (evidence.observed <= evidence.upper)
    errors = np.stack([evidence.predicted - evidence.lower, evidence.upper - evidence.predicted])
    ax.errorbar(evidence.observed, evidence.predicted, yerr=errors, fmt="none",
                ecolor="#bbb", lw=0.6)  # fmt: skip
    ax.scatter(evidence.observed[inside], evidence.predicted[inside], s=10, color="#4c78a8",
               label="outcome inside its interval")  # fmt: skip
    ax.scatter(evidence.observed[~inside], evidence.predicted[~inside], s=14, color="#c62828",
               marker="x", label="outside")  # fmt: skip
    low = float(min(evidence.observed.min(), evidence.lower.min()))
    high = float(max(evidence.observed.max(), evidence.upper.max()))
    ax.plot([low, high], [low, high], color="#999", lw=0.8, ls="--")
    ax.set_xlabel("observed outcome")
    ax.set_ylabel("predicted (90 % interval)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    figure = html_figure(
        fig,
        f"Predicted against observed outcome for {evidence.observed.size} held-out patients, "
        f"with vertical 90 % intervals; {int((~inside).sum())} outcomes outside their interval "
        "are red crosses; the dashed line is perfect prediction.",
        f"Held-out coverage of the 90 % intervals: {evidence.coverage:.3f}.",
    )
    html_report(
        path,
        f"Prognosis model: {title}",
        f"Held-out evidence on the {evidence.observed.size} test patients of a 60/20/20 "
        "split (fit, conformal calibration, test).",
        [("Model card metrics", _metrics_table(metrics)),
         ("Predicted against observed", figure)],
    )  # fmt: skip


def _metrics_table(metrics: Mapping[str, float]) -> str:
    rows = [[name, f"{value:.4g}"] for name, value in metrics.items()]
    return html_table(["metric", "value"], rows, row_headers=True)


def _roc_and_calibration(
    evidence: SurvivalEvidence, fpr: FloatArray, tpr: FloatArray, auc: float, at: str
) -> str:
    fig = new_figure(9, 4.2)
    roc, cal = fig.subplots(1, 2)
    roc.plot(fpr, tpr, color="#4c78a8", lw=1.5, label=f"AUC {auc:.3f}")
    roc.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title(f"ROC: event by {at}", fontsize=10)
    roc.legend(fontsize=8, loc="lower right")
    table = evidence.calibration
    cal.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
    cal.plot(table.predicted, table.observed, color="#4c78a8", marker="o", lw=1.2)
    cal.set_xlabel("mean predicted risk")
    cal.set_ylabel("observed risk (Kaplan-Meier)")
    cal.set_title(f"Calibration at {at}, by risk decile", fontsize=10)
    fig.tight_layout()
    return html_figure(
        fig,
        f"Left: ROC curve of event by {at} with area {auc:.3f} against the diagonal of "
        f"chance. Right: observed against predicted risk in {table.predicted.size} risk "
        f"groups; mean absolute gap {table.mean_absolute_error:.3f}.",
        "Left: the further above the diagonal, the better the model ranks patients. "
        "Right: points on the diagonal mean predicted risks come true as often as predicted.",
    )


def _auc_over_time(evidence: SurvivalEvidence, time_unit: str) -> str:
    mean = evidence.auc.mean(axis=0)
    fig = new_figure(8, 3.4)
    ax = fig.subplots()
    ax.fill_between(evidence.times, evidence.auc.min(axis=0), evidence.auc.max(axis=0),
                    color="#4c78a8", alpha=0.2, label="range over folds")  # fmt: skip
    ax.plot(evidence.times, mean, color="#1f3d63", marker=".", label="mean over folds")
    ax.axhline(0.5, color="#999", lw=0.8, ls="--")
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("time-dependent AUC")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return html_figure(
        fig,
        f"Time-dependent AUC at {evidence.times.size} times from {evidence.times[0]:g} to "
        f"{evidence.times[-1]:g} {time_unit}: mean over folds as a line, range as a band, "
        "chance at 0.5 dashed.",
        f"Cumulative/dynamic AUC by time; averaged over times and folds it is "
        f"{float(evidence.mean_auc_by_fold.mean()):.3f} (the card's cv_mean_auc).",
    )


def _calibration_table(evidence: SurvivalEvidence) -> str:
    table = evidence.calibration
    rows = [
        [g + 1, int(n), f"{p:.3f}", "NA" if not np.isfinite(o) else f"{o:.3f}"]
        for g, (n, p, o) in enumerate(
            zip(table.n_patients, table.predicted, table.observed, strict=True)
        )
    ]
    return html_table(
        ["risk group", "patients", "predicted risk", "observed risk"],
        rows,
        row_headers=True,
        caption=f"Mean absolute gap {table.mean_absolute_error:.4f}",
    )
