"""What a glucose controller sees and decides, for many patients at once.

A controller is started with each patient's :class:`TherapySettings` (what their clinician
knows: basal rate, carb ratio, correction factor, usual daily dose), then at every sensor
sample gets a :class:`Reading` (the CGM value and any meal the patient announced) and
returns an :class:`InsulinDecision` (basal rate until the next sample and a bolus now).
The pump may deliver less than asked (increments, limits); the controller is told what
was delivered through :meth:`GlucoseController.record`. Arrays have one entry per patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["GlucoseController", "InsulinDecision", "Reading", "TherapySettings"]


def _vector(values: FloatArray | float, n: int | None, what: str) -> FloatArray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or (n is not None and arr.shape != (n,)):
        raise ShapeError(f"{what} needs one value per patient ({n}), got shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class TherapySettings:
    """Each patient's usual therapy, shape ``(n,)`` per field.

    Attributes
    ----------
    basal_u_per_min
        Basal insulin rate that holds fasting glucose steady.
    carb_ratio_g_per_u
        Grams of carbohydrate covered by one unit.
    correction_factor_mg_dl_per_u
        Glucose fall per unit of correction insulin.
    total_daily_insulin_u
        Usual total daily dose (scales feedback gains).
    """

    basal_u_per_min: FloatArray
    carb_ratio_g_per_u: FloatArray
    correction_factor_mg_dl_per_u: FloatArray
    total_daily_insulin_u: FloatArray

    def __post_init__(self) -> None:
        n = None
        for name in ("basal_u_per_min", "carb_ratio_g_per_u", "correction_factor_mg_dl_per_u"):
            arr = _vector(getattr(self, name), n, name)
            n = arr.size
            if (
                not np.all(np.isfinite(arr))
                or np.any(arr < 0)
                or (name != "basal_u_per_min" and np.any(arr <= 0))
            ):
                raise InvalidParameterError(f"{name} must be finite and positive, got {arr}")
            object.__setattr__(self, name, arr)
        tdi = _vector(self.total_daily_insulin_u, n, "total_daily_insulin_u")
        # Unknown daily doses default to twice the daily basal (basal is about half of it).
        tdi = np.where(np.isfinite(tdi) & (tdi > 0), tdi, 2.0 * self.basal_u_per_min * 1440.0)
        object.__setattr__(self, "total_daily_insulin_u", tdi)

    @property
    def n_patients(self) -> int:
        return int(self.basal_u_per_min.size)


@dataclass(frozen=True)
class Reading:
    """What the controller sees at time ``t_min``: CGM and announced meals, ``(n,)``."""

    t_min: float
    cgm_mg_dl: FloatArray
    announced_carbs_g: FloatArray

    def __post_init__(self) -> None:
        cgm = _vector(self.cgm_mg_dl, None, "cgm_mg_dl")
        carbs = _vector(self.announced_carbs_g, cgm.size, "announced_carbs_g")
        if np.any(carbs < 0) or not np.all(np.isfinite(carbs)):
            raise InvalidInputError(f"announced carbohydrates must be >= 0 g, got {carbs}")
        object.__setattr__(self, "cgm_mg_dl", cgm)
        object.__setattr__(self, "announced_carbs_g", carbs)


@dataclass(frozen=True)
class InsulinDecision:
    """Basal rate until the next reading (U/min) and a bolus now (U), ``(n,)``."""

    basal_u_per_min: FloatArray
    bolus_u: FloatArray

    def __post_init__(self) -> None:
        basal = _vector(self.basal_u_per_min, None, "basal_u_per_min")
        bolus = _vector(self.bolus_u, basal.size, "bolus_u")
        if np.any(basal < 0) or np.any(bolus < 0):
            raise InvalidParameterError("insulin cannot be negative: a controller asked for it")
        object.__setattr__(self, "basal_u_per_min", basal)
        object.__setattr__(self, "bolus_u", bolus)


@runtime_checkable
class GlucoseController(Protocol):
    """A glucose controller for ``n`` patients at once."""

    name: str

    def start(self, settings: TherapySettings, t0_min: float) -> None:
        """Reset for a new run of patients with these settings."""
        ...

    def decide(self, reading: Reading) -> InsulinDecision:
        """The insulin to deliver until the next reading."""
        ...

    def record(self, t_min: float, delivered: InsulinDecision) -> None:
        """What the pump actually delivered at ``t_min`` (after its limits)."""
        ...
