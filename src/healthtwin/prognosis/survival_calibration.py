"""Calibration of predicted survival at a fixed horizon, against Kaplan-Meier by risk group.

A model is calibrated at horizon ``h`` when, among patients given a risk
``1 - S(h | x)`` of about ``p``, a share ``p`` has the event by ``h``. Because follow-up
is censored, the share observed in a group is the Kaplan-Meier estimate ``1 - KM(h)``
from the group's outcomes, not a raw proportion. Patients are ordered by predicted risk
and cut into groups of nearly equal size (deciles by default), the grouped version of
the calibration plots of Harrell, Lee & Mark (Stat Med 15:361-387, 1996) and of
D'Agostino & Nam's survival Hosmer-Lemeshow statistic (Handbook of Statistics 23, 2004).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidParameterError
from healthtwin.prognosis._extras import require_ml
from healthtwin.prognosis.survival import SurvivalModel, _survival_arrays

__all__ = ["CalibrationTable", "calibration_from_risk", "calibration_table"]

_PURPOSE = "healthtwin.prognosis.survival_calibration"
require_ml("sksurv.nonparametric", _PURPOSE)


@dataclass(frozen=True)
class CalibrationTable:
    """Predicted against observed risk by the horizon, per group of patients.

    Attributes
    ----------
    horizon : float
        The time the risks refer to.
    predicted, observed : ndarray
        ``(g,)`` mean predicted risk ``1 - S(horizon | x)`` and the Kaplan-Meier risk
        ``1 - KM(horizon)`` of each group (NaN where the group's follow-up ends, censored,
        before the horizon).
    n_patients : ndarray
        ``(g,)`` group sizes; groups run from lowest to highest predicted risk.
    """

    horizon: float
    predicted: FloatArray
    observed: FloatArray
    n_patients: IntArray

    @property
    def mean_absolute_error(self) -> float:
        """Patient-weighted mean of ``|predicted - observed|`` over groups with an estimate.

        NaN when no group has an observed estimate.
        """
        known = np.isfinite(self.observed)
        if not known.any():
            return float("nan")
        weights = self.n_patients[known]
        gaps = np.abs(self.predicted[known] - self.observed[known])
        return float(np.sum(weights * gaps) / np.sum(weights))


def calibration_table(
    model: SurvivalModel,
    features: Any,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    horizon: float,
    n_groups: int = 10,
) -> CalibrationTable:
    """Calibration at a fixed horizon: predicted against Kaplan-Meier risk per risk group.

    Patients are sorted by predicted risk ``1 - S(horizon | x)`` and cut into ``n_groups``
    groups of (nearly) equal size; in each, the mean predicted risk is set against
    ``1 - KM(horizon)``, the Kaplan-Meier estimate from the group's observed outcomes.

    Parameters
    ----------
    model : SurvivalModel
        A fitted model.
    features, time, event
        The ``n`` patients, preferably held out from fitting.
    horizon : float
        Time the risks refer to, within the training follow-up.
    n_groups : int
        Number of groups (10: deciles), between 1 and ``n``.

    Returns
    -------
    CalibrationTable

    Raises
    ------
    InvalidParameterError
        If ``n_groups`` is not between 1 and ``n``, or the horizon is outside the
        training follow-up.

    Examples
    --------
    >>> from healthtwin.prognosis.datasets import load_dataset
    >>> data = load_dataset("gbsg2")
    >>> model = SurvivalModel("cox").fit(data.features, data.time, data.event)
    >>> table = calibration_table(model, data.features, data.time, data.event, 1825.0)
    >>> table.n_patients.tolist()
    [69, 69, 69, 69, 69, 69, 68, 68, 68, 68]
    >>> table.predicted[[0, -1]].round(2).tolist(), table.observed[[0, -1]].round(2).tolist()
    ([0.19, 0.84], [0.19, 0.83])
    """
    n = int(getattr(features, "shape", (len(features),))[0])
    if not 1 <= n_groups <= n:
        raise InvalidParameterError(f"n_groups must be between 1 and {n} patients, got {n_groups}")
    risk = 1.0 - model.predict_survival(features, [horizon])[:, 0]
    return calibration_from_risk(risk, time, event, horizon, n_groups)


def calibration_from_risk(
    risk: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    horizon: float,
    n_groups: int = 10,
) -> CalibrationTable:
    """:func:`calibration_table` from risks already predicted (e.g. out of fold).

    ``risk`` is ``1 - S(horizon | x)`` per patient, shape ``(n,)``.
    """
    risk = np.asarray(risk, dtype=np.float64)
    n = risk.size
    time_, event_ = _survival_arrays(time, event, n, require_event=False)
    if not 1 <= n_groups <= n:
        raise InvalidParameterError(f"n_groups must be between 1 and {n} patients, got {n_groups}")
    groups = np.array_split(np.argsort(risk, kind="stable"), n_groups)
    kaplan_meier = require_ml("sksurv.nonparametric", _PURPOSE).kaplan_meier_estimator
    observed = np.empty(n_groups)
    for g, members in enumerate(groups):
        steps, survival = kaplan_meier(event_[members], time_[members])
        last = np.searchsorted(steps, horizon, side="right") - 1
        value = 1.0 if last < 0 else float(survival[last])
        beyond = horizon > time_[members].max() and value > 0.0
        observed[g] = np.nan if beyond else 1.0 - value
    return CalibrationTable(
        horizon=float(horizon),
        predicted=np.array([risk[m].mean() for m in groups]),
        observed=observed,
        n_patients=np.array([m.size for m in groups], dtype=np.int64),
    )
