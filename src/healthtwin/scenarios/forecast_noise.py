"""Model error for glucose twin forecasts: a log-normal discrepancy that grows with lead time.

A twin's ensemble run deterministically forward only carries the uncertainty of its
starting state and parameters; a stable model contracts it, so its bands *narrow* with
lead time although the future grows less certain (meals, exercise, stress and sensor drift
the model is not told about). :func:`forecast_quantiles` adds that model error as a
multiplicative discrepancy between the model and the patient: sensed glucose is a
member's forecast times ``exp(d(h))``, where ``d`` is an Ornstein-Uhlenbeck process in log
glucose started at 0 when the forecast is made (``h`` = lead time, minutes),

``Var d(h) = s^2 tau / 2 (1 - exp(-2 h / tau))``, mean ``-Var/2`` (so the factor has mean 1),

with ``s = log_sd_per_sqrt_min`` and ``tau = correlation_min``. Its variance grows from 0
and levels off (glucose is regulated, so errors do not grow without bound). The bands are
the exact quantiles of the resulting mixture (one log-normal per member), so they carry
no extra sampling noise and widen with lead time whenever the discrepancy grows faster
than the ensemble contracts (it does for the twins of the API: see
``tests/scenarios/test_patient_forecast_bands.py``).

The default size, ``s = 0.025`` per sqrt(min) with ``tau = 360`` min, gives log-SDs of
0.13, 0.18 and 0.23 at 30, 60 and 120 min: about 16, 22 and 28 mg/dL at 120 mg/dL, the
size of the 30- and 60-min errors of CGM glucose predictors in free-living type 1
diabetes (RMSE about 18-20 and 30-35 mg/dL in the OhioT1DM 2020 prediction challenge,
Marling & Bunescu, KDH 2020). It is checked rather than assumed:
``tests/validation/test_twin_forecast_coverage.py`` asks the 90 % band of a twin of the
nominal adult to cover a different virtual patient's sensed glucose, while that patient
eats unannounced meals, at 30, 60 and 120 min lead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["GlucoseModelError", "discrepancy_log_sd", "forecast_quantiles"]

#: Glucose below this (mg/dL) is treated as this before taking logs.
_FLOOR_MG_DL = 1.0
#: Bisection steps: the bracket (a few tenths in log glucose) shrinks below 1e-12.
_BISECTIONS = 45


@dataclass(frozen=True)
class GlucoseModelError:
    """Size and memory of the glucose model error (see the module docstring).

    Attributes
    ----------
    log_sd_per_sqrt_min
        Growth of the log-SD of the discrepancy per sqrt(minute) at short lead; 0 = off.
    correlation_min
        Correlation time of the discrepancy, minutes (its variance levels off beyond).
    """

    log_sd_per_sqrt_min: float = 0.025
    correlation_min: float = 360.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.log_sd_per_sqrt_min) and self.log_sd_per_sqrt_min >= 0):
            raise InvalidParameterError(
                f"log_sd_per_sqrt_min must be finite and >= 0, got {self.log_sd_per_sqrt_min}"
            )
        if not (math.isfinite(self.correlation_min) and self.correlation_min > 0):
            raise InvalidParameterError(
                f"correlation_min must be > 0 min, got {self.correlation_min}"
            )


def discrepancy_log_sd(lead_min: FloatArray, error: GlucoseModelError) -> FloatArray:
    """SD of the log discrepancy at each lead time (minutes, >= 0), shape of ``lead_min``.

    Examples
    --------
    >>> discrepancy_log_sd(np.array([0.0, 30.0, 60.0, 120.0]), GlucoseModelError()).round(3)
    array([0.   , 0.131, 0.179, 0.234])
    """
    lead = np.maximum(np.asarray(lead_min, dtype=np.float64), 0.0)
    s, tau = error.log_sd_per_sqrt_min, error.correlation_min
    return np.asarray(np.sqrt(s**2 * tau / 2.0 * -np.expm1(-2.0 * lead / tau)))


def forecast_quantiles(
    glucose_mg_dl: FloatArray,
    lead_min: FloatArray,
    levels: Sequence[float],
    error: GlucoseModelError,
) -> FloatArray:
    """Quantiles of the ensemble forecast with model error, shape ``(len(levels), T)``.

    Parameters
    ----------
    glucose_mg_dl
        Member forecasts, shape ``(n, T)``.
    lead_min
        Lead time of each column, shape ``(T,)``.
    levels
        Quantile levels in (0, 1).
    error
        The model error.

    Raises
    ------
    ShapeError
        If the shapes do not match.

    Examples
    --------
    >>> flat = np.full((8, 3), 120.0)
    >>> q = forecast_quantiles(flat, np.array([0.0, 30.0, 60.0]), (0.05, 0.95),
    ...                        GlucoseModelError())
    >>> (q[1] - q[0]).round(1)
    array([ 0. , 51.8, 70.4])
    """
    g = np.asarray(glucose_mg_dl, dtype=np.float64)
    lead = np.asarray(lead_min, dtype=np.float64)
    if g.ndim != 2 or lead.shape != (g.shape[1],):
        raise ShapeError(
            f"need member forecasts (n, T) and lead times (T,), got {g.shape} and {lead.shape}"
        )
    p = np.asarray(levels, dtype=np.float64)
    sd = discrepancy_log_sd(lead, error)
    mu = np.log(np.maximum(g, _FLOOR_MG_DL)) - 0.5 * sd**2  # (n, T)
    out = np.quantile(g, p, axis=0)  # lead 0 (or no model error): the ensemble's own
    noisy = sd > 0
    if not np.any(noisy):
        return np.asarray(out)
    mu, sd = mu[:, noisy], sd[noisy]
    # Bisection on the mixture CDF in log space, all levels and times at once; the
    # quantile lies between the lowest and highest member's own quantile.
    z = ndtri(p)[:, None]
    lo = mu.min(axis=0)[None, :] + z * sd[None, :] - 1e-9
    hi = mu.max(axis=0)[None, :] + z * sd[None, :] + 1e-9
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        cdf = ndtr((mid[:, None, :] - mu[None, :, :]) / sd[None, None, :]).mean(axis=1)
        below = cdf < p[:, None]
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    out[:, noisy] = np.exp(0.5 * (lo + hi))
    return np.asarray(out)
