"""Fairness of the glucose forecasters across patient groups (children, adolescents, adults).

The hybrid (twin + learned residual) and the pure-ML glucose forecasters of
:mod:`healthtwin.prognosis.hybrid` are cross-validated by patient (every patient's points
are predicted by a model fitted without that patient) and their errors compared by group
with :func:`healthtwin.governance.fairness.fairness_report`: children are the group most at
risk of hypoglycaemia, so a forecaster that is accurate on average and poor for them must
show it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from healthtwin.errors import InvalidInputError
from healthtwin.governance.fairness import FairnessReport, fairness_report
from healthtwin.prognosis.hybrid import HybridForecaster, MLForecaster

__all__ = ["glucose_forecaster_fairness", "patient_group"]


def patient_group(name: str) -> str:
    """``child``, ``adolescent`` or ``adult`` from a virtual patient's name.

    Examples
    --------
    >>> patient_group("adolescent#003"), patient_group("adult#010")
    ('adolescent', 'adult')
    """
    group = name.split("#", 1)[0]
    if group not in ("child", "adolescent", "adult"):
        raise InvalidInputError(f"cannot tell the age group of patient {name!r}")
    return group


def glucose_forecaster_fairness(
    patient: npt.ArrayLike,
    features: npt.ArrayLike,
    mechanistic_mg_dl: npt.ArrayLike,
    observed_mg_dl: npt.ArrayLike,
    *,
    kind: Literal["hybrid", "ml"] = "hybrid",
    regressor: str = "ridge",
    horizon_min: float = 30.0,
    folds: int = 5,
) -> FairnessReport:
    """Cross-validated (by patient) errors of a glucose forecaster, by patient age group.

    Parameters
    ----------
    patient
        Virtual patient name per forecast point, ``(n,)``.
    features
        Device-side features, ``(n, p)``.
    mechanistic_mg_dl, observed_mg_dl
        The twin's forecast and the later CGM reading at ``horizon_min``, ``(n,)``.
    """
    names = np.asarray(patient).astype(str)
    x = np.asarray(features, dtype=float)
    mech = np.asarray(mechanistic_mg_dl, dtype=float)
    y = np.asarray(observed_mg_dl, dtype=float)
    if not (len(names) == len(x) == len(mech) == len(y)) or len(names) == 0:
        raise InvalidInputError("patient, features and forecasts must have one row per point")
    unique = np.unique(names)
    if len(unique) < folds:
        raise InvalidInputError(f"need at least {folds} patients for {folds} folds")
    order = np.random.default_rng(0).permutation(unique)
    predicted = np.empty(len(y))
    for held_out in np.array_split(order, folds):
        test = np.isin(names, held_out)
        if kind == "hybrid":
            hybrid = HybridForecaster(regressor).fit(mech[~test], x[~test], y[~test])
            predicted[test] = hybrid.predict(mech[test], x[test])
        else:
            ml = MLForecaster(regressor).fit(x[~test], y[~test])
            predicted[test] = ml.predict(x[test])
    groups = {"patient_group": np.array([patient_group(n) for n in names])}
    return fairness_report(
        f"glucose-{kind}-forecaster",
        y,
        predicted,
        groups,
        outcome=f"CGM glucose {horizon_min:g} min ahead (mg/dL)",
    )
