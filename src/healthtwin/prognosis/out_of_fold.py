"""Out-of-fold survival predictions, and the subgroup fairness report built on them.

Every patient's survival at a horizon is predicted by a model that never saw them
(K-fold), so subgroup metrics are not flattered by in-sample fit. The risk "event by the
horizon" is ``1 - S(horizon)``; patients censored before the horizon have an unknown
outcome and are left out of the subgroup scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.prognosis.fairness import SubgroupReport, risk_by_group
from healthtwin.prognosis.risk_calibration import event_by_horizon
from healthtwin.prognosis.survival import SurvivalModel

__all__ = ["out_of_fold_survival", "subgroup_fairness"]


def out_of_fold_survival(
    name: str,
    features: Any,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    horizon: float,
    *,
    folds: int = 5,
    seed: int = 0,
) -> FloatArray:
    """Each patient's survival at ``horizon`` from a model fitted without them, ``(n,)``."""
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=bool)
    n = len(features)
    if not 2 <= folds <= n:
        raise InvalidParameterError(f"folds must be in [2, {n}], got {folds}")
    fold = np.random.default_rng(seed).permutation(n) % folds
    out = np.empty(n)
    for k in range(folds):
        test = fold == k
        train = SurvivalModel(name, random_state=seed)
        model = train.fit(features.iloc[~test], t[~test], e[~test])
        out[test] = model.predict_survival(features.iloc[test], [horizon])[:, 0]
    return out


def subgroup_fairness(
    groups: Any,
    survival_at_horizon: FloatArray,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    horizon: float,
    *,
    column: str,
    min_group_size: int = 30,
) -> SubgroupReport:
    """AUC, Brier score and calibration-in-the-large of "event by horizon" per group."""
    had, known = event_by_horizon(time, event, horizon)
    labels = np.asarray(groups, dtype=object)
    risk = 1.0 - np.asarray(survival_at_horizon, dtype=np.float64)
    return risk_by_group(
        had[known].astype(int),
        risk[known],
        labels[known],
        min_group_size=min_group_size,
        column=column,
    )
