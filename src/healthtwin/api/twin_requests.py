"""The request bodies of the patient twin API (:mod:`healthtwin.api.twins`).

Every body is strict (unknown fields are a ``400``); bounds are declared on the fields so
that the OpenAPI document states them. A measured vital sign's range is documented here
and checked in :mod:`healthtwin.scenarios.patient_vitals`, so that one ``400`` names the
field, the value and the range together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from healthtwin.scenarios.patient_vitals import MEASURED_RANGES

__all__ = [
    "DecisionIn",
    "EventIn",
    "ObservationBatch",
    "ObservationIn",
    "OverrideValue",
    "PlanIn",
    "RecommendIn",
    "TwinCreate",
    "VitalsBatch",
    "VitalsIn",
    "WhatIfIn",
]

_ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
_STRICT = ConfigDict(extra="forbid")


class TwinCreate(BaseModel):
    """A new patient twin."""

    model_config = _STRICT
    twin_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    patient_id: str | None = Field(
        default=None, pattern=_ID_PATTERN, description="A FHIR Patient id in the store."
    )
    profile: str = Field(
        default="nominal-adult",
        description="Virtual patient of the prior (nominal-adult, adult#001...).",
    )
    members: int = Field(default=32, ge=8, le=128)
    seed: int = Field(default=0, ge=0)
    start: datetime | None = Field(
        default=None,
        description="UTC time of t_min = 0; default: the patient's first stored CGM reading "
        "(so its whole stored history is assimilated), or now when there is none.",
    )
    sensor_sd_mg_dl: float = Field(default=8.0, gt=0, le=100)


class ObservationIn(BaseModel):
    """One CGM reading: ``t_min`` (minutes after the twin's start) or ``time`` (ISO 8601)."""

    model_config = _STRICT
    t_min: float | None = Field(default=None, ge=0)
    time: datetime | None = None
    glucose_mg_dl: float = Field(ge=10, le=1000)


class ObservationBatch(BaseModel):
    """Several readings at once (applied in time order)."""

    model_config = _STRICT
    observations: list[ObservationIn] = Field(min_length=1, max_length=2000)


def _measured(name: str, description: str) -> Any:
    """A measured vital sign: its range documented here, checked in the scenarios layer.

    The check is not pydantic's, so that a value out of range is answered with the field,
    the value and the range together (one ``400`` error per bad field).
    """
    low, high, inclusive, unit = MEASURED_RANGES[name]
    bound: dict[str, Any] = {"minimum" if inclusive else "exclusiveMinimum": low, "maximum": high}
    interval = f"{'[' if inclusive else '('}{low:g}, {high:g}] {unit}"
    return Field(description=f"{description}; allowed {interval}.", json_schema_extra=bound)


class VitalsIn(BaseModel):
    """One vital-signs set (NEWS2 chart): ``t_min`` or ``time``, and every measurement."""

    model_config = _STRICT
    t_min: float | None = Field(default=None, ge=0)
    time: datetime | None = None
    respiratory_rate_per_min: float = _measured("respiratory_rate_per_min", "Breaths per min")
    spo2_percent: float = _measured("spo2_percent", "SpO2 by pulse oximetry (%)")
    spo2_scale: int = Field(
        default=1,
        description="NEWS2 SpO2 scale: 1, or 2 for hypercapnic respiratory failure "
        "(prescribed target 88-92 %).",
        json_schema_extra={"enum": [1, 2]},
    )
    on_oxygen: bool = Field(default=False, description="Supplemental oxygen (else air).")
    temperature_c: float = _measured("temperature_c", "Body temperature (degrees C)")
    systolic_bp_mm_hg: float = _measured("systolic_bp_mm_hg", "Systolic blood pressure (mmHg)")
    heart_rate_per_min: float = _measured("heart_rate_per_min", "Heart rate (beats per min)")
    consciousness: str = Field(
        max_length=20,
        description="ACVPU: A (alert), C (new confusion), V (voice), P (pain), "
        "U (unresponsive); a word is accepted too.",
    )


class VitalsBatch(BaseModel):
    """Several vital-signs sets at once."""

    model_config = _STRICT
    observations: list[VitalsIn] = Field(min_length=1, max_length=2000)


class PlanIn(BaseModel):
    """A plan given now: carbohydrates eaten and insulin bolus."""

    model_config = _STRICT
    meal_g: float = Field(default=0.0, ge=0, le=300)
    bolus_u: float = Field(default=0.0, ge=0, le=30)


class EventIn(PlanIn):
    """A meal and/or bolus that happened (minutes after the twin's start)."""

    t_min: float = Field(ge=0)


class WhatIfIn(BaseModel):
    """Plans to compare (common random numbers)."""

    model_config = _STRICT
    plans: dict[str, PlanIn] = Field(min_length=1, max_length=6)
    horizon_min: float = Field(default=240.0, gt=0, le=720)
    dt_min: float = Field(default=5.0, ge=1, le=60)


class RecommendIn(BaseModel):
    """Ask for a meal bolus."""

    model_config = _STRICT
    meal_g: float = Field(default=60.0, ge=0, le=300)
    boluses: list[Annotated[float, Field(ge=0, le=30)]] | None = Field(default=None, max_length=6)
    horizon_min: float = Field(default=360.0, gt=0, le=720)
    max_tbr_percent: float = Field(default=4.0, ge=0, le=100)


class OverrideValue(PlanIn):
    """What a clinician gives instead: the bounds of :class:`PlanIn`, and when (optional)."""

    t_min: float | None = Field(default=None, ge=0, description="Minutes after the start.")


class DecisionIn(BaseModel):
    """A clinician's decision on a recommendation (an override needs reason and value).

    ``value`` is checked against the bounds of :class:`PlanIn` (``meal_g`` 0-300 g,
    ``bolus_u`` 0-30 U) before anything is recorded: a value out of bounds is a ``400``
    problem naming the field, and the recommendation stays as it was.
    """

    model_config = _STRICT
    reason: str | None = Field(default=None, max_length=2000)
    value: OverrideValue | None = None
