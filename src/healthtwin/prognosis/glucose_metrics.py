"""Accuracy of glucose forecasts: RMSE, MARD and the Clarke error grid, vectorized.

Definitions
-----------
For reference values ``r`` (what the glucose turned out to be) and predictions ``p``, both
in mg/dL:

- ``RMSE = sqrt(mean((p - r) ** 2))`` in mg/dL;
- ``MARD = 100 * mean(|p - r| / r)`` in percent (the mean absolute relative difference
  used for CGM accuracy, relative to the reference);
- the Clarke error grid (Clarke, Cox, Gonder-Frederick, Carter & Pohl, Diabetes Care
  10:622-628, 1987) sorts each pair into five zones by its clinical consequence:

  - **A** (clinically accurate): ``p`` within 20 % of ``r``, or both in the hypoglycaemic
    range (``r <= 70`` and ``p <= 70``);
  - **E** (erroneous treatment, hypo read as hyper or the reverse): ``r >= 180`` and
    ``p <= 70``, or ``r <= 70`` and ``p >= 180``;
  - **C** (over-correction of acceptable glucose): ``70 <= r <= 290`` and
    ``p >= r + 110`` (upper), or ``130 <= r <= 180`` and ``p <= 7/5 r - 182`` (lower);
  - **D** (failure to detect): ``r >= 240`` and ``70 <= p <= 180`` (a missed
    hyperglycaemia), or ``r <= 70`` and ``70 <= p <= 180`` outside zone A (a missed
    hypoglycaemia; above ``r = 175/3`` this is the band ``p >= 1.2 r``);
  - **B** (benign errors): every other pair.

Boundary convention: every region is closed (its boundary lines belong to it) and the
zones are tested in the order A, E, C, D, then B, the conventions of the widely used
Python port (Tsue 2017, MIT) of Guevara's MATLAB Clarke error grid analysis. Other public
implementations differ only for pairs lying exactly on a boundary line (methcomp, for
instance, assigns ``r > 240, p = 70`` to D rather than E); no zone changes anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = [
    "CLARKE_ZONES",
    "ForecastAccuracy",
    "clarke_zone_percentages",
    "clarke_zones",
    "forecast_accuracy",
    "mard",
    "rmse",
]

#: Zone labels in the order of the integer codes :func:`clarke_zones` returns.
CLARKE_ZONES = ("A", "B", "C", "D", "E")
_A, _B, _C, _D, _E = range(5)


def _pairs(
    reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Validated flat reference and prediction arrays of equal length."""
    ref = np.asarray(reference_mg_dl, dtype=np.float64)
    pred = np.asarray(predicted_mg_dl, dtype=np.float64)
    if ref.shape != pred.shape:
        raise ShapeError(
            f"reference {ref.shape} and predictions {pred.shape} must have the same shape; "
            "pass one prediction per reference value"
        )
    ref, pred = ref.ravel(), pred.ravel()
    if ref.size == 0:
        raise InvalidInputError("no glucose pairs given; pass at least one reference value")
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(pred))):
        raise InvalidInputError(
            "glucose values must be finite; drop missing readings (NaN) before scoring"
        )
    if np.any(ref <= 0):
        raise InvalidInputError(
            f"reference glucose must be > 0 mg/dL, got minimum {ref.min()}; check the unit "
            "(mmol/L values x 18.016 give mg/dL)"
        )
    return ref, pred


def rmse(reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike) -> float:
    """Root mean squared error of predictions, mg/dL.

    Examples
    --------
    >>> rmse([100.0, 200.0], [110.0, 190.0])
    10.0
    """
    ref, pred = _pairs(reference_mg_dl, predicted_mg_dl)
    return float(np.sqrt(np.mean((pred - ref) ** 2)))


def mard(reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike) -> float:
    """Mean absolute relative difference, percent of the reference.

    Examples
    --------
    >>> round(mard([100.0, 200.0], [110.0, 190.0]), 6)
    7.5
    """
    ref, pred = _pairs(reference_mg_dl, predicted_mg_dl)
    return float(100.0 * np.mean(np.abs(pred - ref) / ref))


def clarke_zones(reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike) -> IntArray:
    """Clarke error grid zone of every pair: 0 = A, 1 = B, ... 4 = E (see the module notes).

    Parameters
    ----------
    reference_mg_dl, predicted_mg_dl
        Reference and predicted glucose, mg/dL, any shape (flattened).

    Returns
    -------
    IntArray
        Zone codes, shape ``(n,)``; ``CLARKE_ZONES[code]`` is the letter.

    Raises
    ------
    ShapeError
        If the two arrays differ in shape.
    InvalidInputError
        If a value is not finite or a reference is not positive.

    Examples
    --------
    >>> codes = clarke_zones([100, 50, 250, 60, 170], [110, 65, 150, 200, 40])
    >>> "".join(CLARKE_ZONES[c] for c in codes)
    'AADEC'
    """
    r, p = _pairs(reference_mg_dl, predicted_mg_dl)
    zone_a = ((r <= 70) & (p <= 70)) | ((p >= 0.8 * r) & (p <= 1.2 * r))
    zone_e = ((r >= 180) & (p <= 70)) | ((r <= 70) & (p >= 180))
    zone_c = ((r >= 70) & (r <= 290) & (p >= r + 110)) | (
        (r >= 130) & (r <= 180) & (p <= 1.4 * r - 182.0)
    )
    in_band = (p >= 70) & (p <= 180)
    zone_d = ((r >= 240) & in_band) | ((r <= 70) & in_band)
    codes = np.select([zone_a, zone_e, zone_c, zone_d], [_A, _E, _C, _D], default=_B)
    return np.asarray(codes, dtype=np.int64)


def clarke_zone_percentages(
    reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike
) -> dict[str, float]:
    """Percentage of pairs in each Clarke zone, keyed ``"A"`` to ``"E"`` (sums to 100).

    Examples
    --------
    >>> clarke_zone_percentages([100, 100, 250, 60], [110, 130, 150, 200])
    {'A': 25.0, 'B': 25.0, 'C': 0.0, 'D': 25.0, 'E': 25.0}
    """
    codes = clarke_zones(reference_mg_dl, predicted_mg_dl)
    counts = np.bincount(codes, minlength=len(CLARKE_ZONES))
    return {z: float(100.0 * c / codes.size) for z, c in zip(CLARKE_ZONES, counts, strict=True)}


@dataclass(frozen=True)
class ForecastAccuracy:
    """Accuracy of one forecaster at one horizon.

    Attributes
    ----------
    n_pairs
        Number of (reference, prediction) pairs scored.
    rmse_mg_dl
        Root mean squared error, mg/dL.
    mard_percent
        Mean absolute relative difference, %.
    zone_percent
        Clarke zone percentages, ``{"A": ..., "E": ...}``.
    """

    n_pairs: int
    rmse_mg_dl: float
    mard_percent: float
    zone_percent: dict[str, float]

    @property
    def zone_ab_percent(self) -> float:
        """Clinically acceptable pairs (zones A and B), %."""
        return self.zone_percent["A"] + self.zone_percent["B"]


def forecast_accuracy(
    reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike
) -> ForecastAccuracy:
    """RMSE, MARD and Clarke zone percentages of predictions against references.

    Examples
    --------
    >>> acc = forecast_accuracy([100.0, 200.0], [110.0, 190.0])
    >>> acc.rmse_mg_dl, round(acc.mard_percent, 6), acc.zone_ab_percent
    (10.0, 7.5, 100.0)
    """
    ref, pred = _pairs(reference_mg_dl, predicted_mg_dl)
    return ForecastAccuracy(
        n_pairs=int(ref.size),
        rmse_mg_dl=rmse(ref, pred),
        mard_percent=mard(ref, pred),
        zone_percent=clarke_zone_percentages(ref, pred),
    )
