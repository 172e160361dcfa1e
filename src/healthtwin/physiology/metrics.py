"""Glycaemic metrics of glucose traces, vectorized over patients.

Every metric is computed per patient (row) over that patient's valid readings; ``NaN``
marks a missing reading and is left out of every numerator and denominator.

Definitions and boundary conventions
------------------------------------
Ranges follow the international consensus on time in range (Battelino et al., Diabetes
Care 2019;42:1593-1603), in mg/dL:

- ``tbr_54``: readings ``< 54``; ``tbr_70``: readings ``< 70`` (includes ``< 54``);
- ``tir_70_180``: readings with ``70 <= g <= 180`` (both ends inclusive);
- ``tar_180``: readings ``> 180`` (includes ``> 250``); ``tar_250``: readings ``> 250``;

so ``tbr_70 + tir_70_180 + tar_180 == 100`` for every patient. Percentages are of readings,
which equal percentages of time on a regular sampling grid.

- ``sd`` is the sample standard deviation (``ddof=1``), as in the consensus report;
  ``cv = 100 * sd / mean``. Both are ``NaN`` for a patient with a single valid reading.
- ``gmi`` (Bergenstal et al., Diabetes Care 2018;41:2275-2280):
  ``GMI(%) = 3.31 + 0.02392 * mean`` with the mean in mg/dL.
- ``lbgi``, ``hbgi``, ``risk_index`` (Kovatchev et al., Diabetes Care 1997;20:1655-1658
  and 1998;21:1870-1875): ``f(g) = 1.509 * (ln(g) ** 1.084 - 5.381)``,
  ``r = 10 * f ** 2``, ``rl = r`` where ``f < 0`` else 0, ``rh = r`` where ``f > 0`` else 0;
  ``LBGI`` and ``HBGI`` are the means of ``rl`` and ``rh`` over *all* valid readings, and
  ``risk_index = LBGI + HBGI``.
- ``gri`` (Klonoff et al., J Diabetes Sci Technol 2023;17:1226-1242): with
  ``VLow = %(g < 54)``, ``Low = %(54 <= g < 70)``, ``High = %(180 < g <= 250)`` and
  ``VHigh = %(g > 250)``, ``gri_hypo = VLow + 0.8 * Low``,
  ``gri_hyper = VHigh + 0.5 * High`` and
  ``gri = min(3.0 * gri_hypo + 1.6 * gri_hyper, 100)``
  (``= 3.0 VLow + 2.4 Low + 1.6 VHigh + 0.8 High``, capped at 100). The two components
  are not capped.

Readings must be at least 1 mg/dL: ``ln(g) ** 1.084`` is undefined below that, and such a
value almost always means the wrong unit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError

__all__ = ["GlycaemicMetrics", "glycaemic_metrics"]

_GMI_INTERCEPT_PERCENT = 3.31
_GMI_SLOPE_PERCENT_PER_MG_DL = 0.02392
_GRI_CAP = 100.0
# ln(g) ** 1.084 in the risk function is undefined below 1 mg/dL (ln g < 0).
_MIN_GLUCOSE_MG_DL = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class GlycaemicMetrics:
    """Glycaemic metrics of ``n`` patients; every field is a read-only array of shape ``(n,)``.

    See the module docstring for the definitions, units and boundary conventions.
    Percentages are in ``[0, 100]``; ``mean`` and ``sd`` are in mg/dL; ``cv`` and ``gmi``
    are in percent; the risk indices are unitless.
    """

    n_valid: IntArray
    tir_70_180: FloatArray
    tbr_70: FloatArray
    tbr_54: FloatArray
    tar_180: FloatArray
    tar_250: FloatArray
    mean: FloatArray
    sd: FloatArray
    cv: FloatArray
    gmi: FloatArray
    lbgi: FloatArray
    hbgi: FloatArray
    risk_index: FloatArray
    gri: FloatArray
    gri_hypo: FloatArray
    gri_hyper: FloatArray

    def __post_init__(self) -> None:
        for field in fields(self):
            getattr(self, field.name).setflags(write=False)

    def __len__(self) -> int:
        return int(self.n_valid.shape[0])

    def to_dict(self) -> dict[str, FloatArray | IntArray]:
        """The metrics as a dict of ``(n,)`` arrays (columns of a table), in field order."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def to_records(self) -> list[dict[str, float]]:
        """The metrics as one dict per patient (rows of a table).

        Examples
        --------
        >>> rows = glycaemic_metrics([[100.0, 200.0], [60.0, 120.0]]).to_records()
        >>> [row["tir_70_180"] for row in rows]
        [50.0, 50.0]
        """
        columns = self.to_dict()
        return [
            {name: float(values[i]) for name, values in columns.items()} for i in range(len(self))
        ]


def glycaemic_metrics(glucose_mg_dl: npt.ArrayLike) -> GlycaemicMetrics:
    """Glycaemic metrics of each patient's glucose trace.

    Parameters
    ----------
    glucose_mg_dl
        Glucose readings in mg/dL, shape ``(n_patients, n_readings)``; a 1-D array is one
        patient. ``NaN`` marks a missing reading and is ignored.

    Returns
    -------
    GlycaemicMetrics
        Arrays of shape ``(n_patients,)``.

    Raises
    ------
    InvalidInputError
        If the array is not 1-D or 2-D, has no readings, holds an infinite reading or one
        below 1 mg/dL (zero and negative included), or a patient has no valid reading.

    Examples
    --------
    >>> m = glycaemic_metrics([50.0, 60.0, 100.0, 200.0, 300.0])
    >>> float(m.tir_70_180[0]), float(m.tbr_54[0]), float(m.tar_250[0])
    (20.0, 20.0, 20.0)
    >>> round(float(m.gmi[0]), 4)
    6.7066
    >>> round(float(m.gri[0]), 1)
    100.0
    """
    glucose = _as_patient_matrix(glucose_mg_dl)
    valid = ~np.isnan(glucose)
    n_valid = valid.sum(axis=1).astype(np.int64)
    n_float = n_valid.astype(np.float64)

    def percent(condition: npt.NDArray[np.bool_]) -> FloatArray:
        return np.asarray(100.0 * (condition & valid).sum(axis=1) / n_float, dtype=np.float64)

    # Comparisons with NaN are False, so missing readings never fall in a range.
    tbr_54 = percent(glucose < 54.0)
    tbr_70 = percent(glucose < 70.0)
    tir = percent((glucose >= 70.0) & (glucose <= 180.0))
    tar_180 = percent(glucose > 180.0)
    tar_250 = percent(glucose > 250.0)

    filled = np.where(valid, glucose, 0.0)
    mean = filled.sum(axis=1) / n_float
    sd = _sample_sd(glucose, valid, mean, n_valid)
    lbgi, hbgi = _blood_glucose_indices(glucose, valid, n_float)

    gri_hypo = tbr_54 + 0.8 * (tbr_70 - tbr_54)
    gri_hyper = tar_250 + 0.5 * (tar_180 - tar_250)
    return GlycaemicMetrics(
        n_valid=n_valid,
        tir_70_180=tir,
        tbr_70=tbr_70,
        tbr_54=tbr_54,
        tar_180=tar_180,
        tar_250=tar_250,
        mean=mean,
        sd=sd,
        cv=100.0 * sd / mean,
        gmi=_GMI_INTERCEPT_PERCENT + _GMI_SLOPE_PERCENT_PER_MG_DL * mean,
        lbgi=lbgi,
        hbgi=hbgi,
        risk_index=lbgi + hbgi,
        gri=np.minimum(3.0 * gri_hypo + 1.6 * gri_hyper, _GRI_CAP),
        gri_hypo=gri_hypo,
        gri_hyper=gri_hyper,
    )


def _as_patient_matrix(glucose_mg_dl: npt.ArrayLike) -> FloatArray:
    try:
        glucose = np.array(glucose_mg_dl, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"glucose_mg_dl must be numeric, got {type(glucose_mg_dl).__name__}: {err}; "
            "pass an array of readings in mg/dL with NaN for missing ones"
        ) from err
    if glucose.ndim == 1:
        glucose = glucose[np.newaxis, :]
    if glucose.ndim != 2:
        raise InvalidInputError(
            f"glucose_mg_dl must be 1-D (one patient) or 2-D (n_patients, n_readings), got "
            f"shape {glucose.shape}; reshape it to (n_patients, n_readings)"
        )
    if glucose.shape[1] == 0:
        raise InvalidInputError(
            f"glucose_mg_dl has no readings (shape {glucose.shape}); pass at least one reading"
        )
    if np.isinf(glucose).any():
        raise InvalidInputError(
            "glucose_mg_dl holds an infinite reading; mark missing readings with NaN instead"
        )
    too_low = np.flatnonzero(glucose.ravel() < _MIN_GLUCOSE_MG_DL)
    if too_low.size:
        patient, reading = np.unravel_index(too_low[0], glucose.shape)
        raise InvalidInputError(
            f"glucose must be at least {_MIN_GLUCOSE_MG_DL} mg/dL, got "
            f"{float(glucose[patient, reading])!r} for patient {int(patient)} at reading "
            f"{int(reading)} ({too_low.size} such readings); check that readings are in "
            "mg/dL and mark missing readings with NaN"
        )
    empty = np.flatnonzero(np.isnan(glucose).all(axis=1))
    if empty.size:
        raise InvalidInputError(
            f"patients {empty.tolist()} have no valid reading (all NaN); drop them or supply "
            "at least one reading each"
        )
    return glucose


def _sample_sd(
    glucose: FloatArray, valid: npt.NDArray[np.bool_], mean: FloatArray, n_valid: IntArray
) -> FloatArray:
    deviations = np.where(valid, glucose - mean[:, np.newaxis], 0.0)
    sum_squares = (deviations**2).sum(axis=1)
    dof = (n_valid - 1).astype(np.float64)
    variance = np.full_like(mean, np.nan)
    np.divide(sum_squares, dof, out=variance, where=dof > 0)
    return np.sqrt(variance)


def _blood_glucose_indices(
    glucose: FloatArray, valid: npt.NDArray[np.bool_], n_float: FloatArray
) -> tuple[FloatArray, FloatArray]:
    # Missing readings get a placeholder so that log() never sees NaN; their risk is masked.
    safe = np.where(valid, glucose, 1.0)
    symmetrized = 1.509 * (np.log(safe) ** 1.084 - 5.381)
    risk = 10.0 * symmetrized**2
    low = np.where(valid & (symmetrized < 0.0), risk, 0.0).sum(axis=1) / n_float
    high = np.where(valid & (symmetrized > 0.0), risk, 0.0).sum(axis=1) / n_float
    return low, high
