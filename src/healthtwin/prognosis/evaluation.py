"""How well a survival model predicts: discrimination, accuracy and calibration, cross-validated.

For held-out patients with follow-up ``y_i``, event indicator ``d_i``, risk score ``r_i`` and
predicted survival ``S(t | x_i)``:

- Harrell's C (Harrell, Califf, Pryor, Lee & Rosati, JAMA 247:2543-2546, 1982): among
  comparable pairs (``y_i < y_j`` with ``d_i = 1``), the share with ``r_i > r_j``, ties in
  ``r`` counting one half;
- Uno's C (Uno, Cai, Pencina, D'Agostino & Wei, Stat Med 30:1105-1117, 2011): the same
  with inverse-probability-of-censoring weights, restricted to ``y_i < tau`` (here ``tau``
  is the last evaluation time), consistent under heavy censoring where Harrell's is not;
- cumulative/dynamic AUC at time ``t`` (Uno et al., JASA 102:527-537, 2007; Hung &
  Chiang, Can J Stat 38:8-26, 2010): how well ``1 - S(t | x)`` separates patients with
  the event by ``t`` from those still event-free, IPCW-weighted; its mean over the times
  is weighted by the drop of the Kaplan-Meier curve;
- integrated Brier score (Graf, Schmoor, Sauerbrei & Schumacher, Stat Med 18:2529-2545,
  1999): the IPCW mean squared error of ``S(t | x)`` against the event-free status at
  ``t``, averaged over the times by the trapezoidal rule (lower is better; 0.25 for a
  constant 0.5).

The metrics are scikit-survival's. Their censoring distribution is the Kaplan-Meier
estimate from the outcomes (not the features) of the whole data set, as scikit-survival's
user guide does, so every test fold can be weighted. :func:`cross_validate_survival`
repeats stratified K-fold cross-validation (folds stratified on the event indicator) and
reports each metric's mean and its standard deviation over repeats and over folds.
:func:`calibration_table` compares, for one horizon, the mean predicted risk in groups
of patients ordered by predicted risk with the Kaplan-Meier risk observed in each group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.prognosis._extras import require_ml
from healthtwin.prognosis.survival import SurvivalModel, _survival_arrays

__all__ = [
    "CrossValidation",
    "FoldScores",
    "MetricSummary",
    "cross_validate_survival",
    "score_survival",
]

_PURPOSE = "healthtwin.prognosis.evaluation"
_metrics = require_ml("sksurv.metrics", _PURPOSE)


@dataclass(frozen=True)
class FoldScores:
    """Scores of one fitted model on one set of held-out patients.

    ``auc`` is ``(m,)``, one value per evaluation time.
    """

    harrell_c: float
    uno_c: float
    auc: FloatArray
    mean_auc: float
    ibs: float


def _structured(time: FloatArray, event: BoolArray) -> Any:
    target = np.empty(time.size, dtype=[("event", np.bool_), ("time", np.float64)])
    target["event"], target["time"] = event, time
    return target


def score_survival(
    model: SurvivalModel,
    features: Any,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    times: npt.ArrayLike,
    *,
    censoring_time: npt.ArrayLike | None = None,
    censoring_event: npt.ArrayLike | None = None,
) -> FoldScores:
    """Harrell's and Uno's C, time-dependent AUC and integrated Brier score of a model.

    Parameters
    ----------
    model : SurvivalModel
        A fitted model.
    features, time, event
        The ``n`` held-out patients.
    times : array_like
        ``(m,)`` evaluation times, at least two, within the held-out follow-up
        ``[min(time), max(time))``.
    censoring_time, censoring_event : array_like, optional
        Outcomes the censoring distribution is estimated from (default: ``time``, ``event``).

    Returns
    -------
    FoldScores

    Raises
    ------
    InvalidParameterError
        If fewer than two times are given or a time lies outside the held-out follow-up.

    Examples
    --------
    >>> from healthtwin.prognosis.datasets import load_dataset
    >>> data = load_dataset("veterans")
    >>> model = SurvivalModel("cox").fit(data.features, data.time, data.event)
    >>> scores = score_survival(model, data.features, data.time, data.event, [30, 90, 180])
    >>> round(scores.harrell_c, 3), scores.auc.shape
    (0.736, (3,))
    """
    n = int(getattr(features, "shape", (len(features),))[0])
    time_, event_ = _survival_arrays(time, event, n)
    grid = np.unique(np.asarray(times, dtype=np.float64))
    if grid.size < 2 or grid[0] < time_.min() or grid[-1] >= time_.max():
        raise InvalidParameterError(
            f"evaluation times must be at least two distinct values within the held-out "
            f"follow-up [{time_.min():g}, {time_.max():g}); got {grid.tolist()}"
        )
    if (censoring_time is None) != (censoring_event is None):
        raise InvalidParameterError(
            "give both censoring_time and censoring_event (the outcomes the censoring "
            "distribution is estimated from) or neither"
        )
    if censoring_time is None or censoring_event is None:
        reference = _structured(time_, event_)
    else:
        ref_time = np.asarray(censoring_time, dtype=np.float64)
        reference = _structured(ref_time, np.asarray(censoring_event, dtype=np.bool_))
    test = _structured(time_, event_)
    risk = model.predict_risk(features)
    survival = model.predict_survival(features, grid)
    auc, mean_auc = _metrics.cumulative_dynamic_auc(reference, test, 1.0 - survival, grid)
    return FoldScores(
        harrell_c=float(_metrics.concordance_index_censored(event_, time_, risk)[0]),
        uno_c=float(_metrics.concordance_index_ipcw(reference, test, risk, tau=grid[-1])[0]),
        auc=np.asarray(auc, dtype=np.float64),
        mean_auc=float(mean_auc),
        ibs=float(_metrics.integrated_brier_score(reference, test, survival, grid)),
    )


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the folds of a repeated cross-validation.

    Attributes
    ----------
    values : ndarray
        ``(n_repeats, n_splits)``, one value per held-out fold.
    """

    values: FloatArray

    @property
    def mean(self) -> float:
        """Mean over all folds."""
        return float(self.values.mean())

    @property
    def sd_repeats(self) -> float:
        """Standard deviation of the per-repeat means (0 with one repeat)."""
        means = self.values.mean(axis=1)
        return float(means.std(ddof=1)) if means.size > 1 else 0.0

    @property
    def sd_folds(self) -> float:
        """Standard deviation over all folds: the spread of one held-out estimate."""
        return float(self.values.std(ddof=1))


@dataclass(frozen=True)
class CrossValidation:
    """Result of :func:`cross_validate_survival`; ``auc`` is ``(n_repeats, n_splits, m)``."""

    model: str
    times: FloatArray
    harrell_c: MetricSummary
    uno_c: MetricSummary
    mean_auc: MetricSummary
    ibs: MetricSummary
    auc: FloatArray

    def summary(self) -> dict[str, dict[str, float]]:
        """``{metric: {"mean", "sd_repeats", "sd_folds"}}`` for the four scalar metrics."""
        metrics = {
            "harrell_c": self.harrell_c,
            "uno_c": self.uno_c,
            "mean_auc": self.mean_auc,
            "ibs": self.ibs,
        }
        return {
            name: {"mean": m.mean, "sd_repeats": m.sd_repeats, "sd_folds": m.sd_folds}
            for name, m in metrics.items()
        }


def cross_validate_survival(
    name: str,
    features: Any,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    times: npt.ArrayLike | None = None,
    n_splits: int = 5,
    n_repeats: int = 3,
    random_state: int = 0,
    **model_options: Any,
) -> CrossValidation:
    """Repeated stratified K-fold cross-validation of a registered survival model.

    Parameters
    ----------
    name : str
        A key of :data:`~healthtwin.prognosis.survival.SURVIVAL_MODELS`.
    features, time, event
        The ``n`` patients (see :meth:`SurvivalModel.fit`).
    times : array_like, optional
        ``(m,)`` evaluation times. Default: 20 points evenly spaced between the 10th and
        90th percentiles of the observed times, kept within every test fold's follow-up.
    n_splits, n_repeats : int
        Folds per repeat and repeats; folds are stratified on the event indicator.
    random_state : int
        Seed of the fold assignment and of the randomized models.
    **model_options
        Passed to :class:`SurvivalModel` (``impute``, ``categorical``, hyper-parameters).

    Returns
    -------
    CrossValidation

    Raises
    ------
    InvalidParameterError
        If ``n_splits < 2``, ``n_repeats < 1``, there are fewer events than folds, or a
        time lies outside a test fold's follow-up.

    Examples
    --------
    >>> from healthtwin.prognosis.datasets import load_dataset
    >>> data = load_dataset("veterans")
    >>> cv = cross_validate_survival("cox", data.features, data.time, data.event, n_repeats=2)
    >>> cv.harrell_c.values.shape
    (2, 5)
    >>> 0.6 < cv.harrell_c.mean < 0.8
    True
    """
    if not hasattr(features, "iloc"):
        raise InvalidInputError(
            f"features must be a pandas DataFrame, got {type(features).__name__}; folds are "
            "taken by row position"
        )
    n = int(features.shape[0])
    time_, event_ = _survival_arrays(time, event, n)
    n_events = int(event_.sum())
    if n_splits < 2 or n_repeats < 1 or min(n_events, n - n_events) < n_splits:
        raise InvalidParameterError(
            f"need n_splits >= 2 and n_repeats >= 1, and at least n_splits events and "
            f"censored patients; got n_splits={n_splits}, n_repeats={n_repeats} with "
            f"{n_events} events and {n - n_events} censored of {n}"
        )
    splitter = require_ml("sklearn.model_selection", _PURPOSE).RepeatedStratifiedKFold(
        n_splits=n_splits, n_repeats=n_repeats, random_state=random_state
    )
    folds = list(splitter.split(np.zeros(n), event_))
    grid = _evaluation_times(time_, folds, times)
    scores = []
    for train, test in folds:
        model = SurvivalModel(name, random_state=random_state, **model_options)
        model.fit(features.iloc[train], time_[train], event_[train])
        scores.append(
            score_survival(
                model,
                features.iloc[test],
                time_[test],
                event_[test],
                grid,
                censoring_time=time_,
                censoring_event=event_,
            )
        )

    def summary(metric: str) -> MetricSummary:
        values = np.array([getattr(s, metric) for s in scores], dtype=np.float64)
        return MetricSummary(values.reshape(n_repeats, n_splits))

    return CrossValidation(
        model=name,
        times=grid,
        harrell_c=summary("harrell_c"),
        uno_c=summary("uno_c"),
        mean_auc=summary("mean_auc"),
        ibs=summary("ibs"),
        auc=np.array([s.auc for s in scores]).reshape(n_repeats, n_splits, grid.size),
    )


def _evaluation_times(
    time: FloatArray, folds: list[tuple[IntArray, IntArray]], times: npt.ArrayLike | None
) -> FloatArray:
    """Evaluation times inside every test fold's follow-up ``[min, max)``."""
    low = max(float(time[test].min()) for _, test in folds)
    high = min(float(time[test].max()) for _, test in folds)
    if times is None:
        start, stop = np.percentile(time, [10.0, 90.0])
        start, stop = max(start, low), min(stop, np.nextafter(high, -np.inf))
        return np.unique(np.linspace(start, stop, 20))
    grid = np.unique(np.asarray(times, dtype=np.float64))
    if grid.size < 2 or grid[0] < low or grid[-1] >= high:
        raise InvalidParameterError(
            f"evaluation times must be at least two values within every test fold's "
            f"follow-up, here [{low:g}, {high:g}); got {grid.tolist()}"
        )
    return grid
