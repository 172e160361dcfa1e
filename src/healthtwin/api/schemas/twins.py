"""Success bodies of the patient twin routes (``/api/v1/twins``, ``/recommendations``).

Times are ISO 8601 strings; ``t_min`` is minutes after the twin's start; glucose is mg/dL.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from healthtwin.api.schemas.common import Absent, Quantiles, ResponseBody

__all__ = [
    "ForecastBody",
    "News2Body",
    "ObservationsAdded",
    "RecommendationBody",
    "RecommendationList",
    "TwinEventAdded",
    "TwinList",
    "TwinState",
    "VitalsAdded",
    "VitalsList",
    "WhatIfBody",
]


class TwinSummary(ResponseBody):
    """One live twin in the list."""

    twin_id: str
    patient_id: str
    profile: str
    n_readings: int
    t_min: float


class TwinList(ResponseBody):
    """The live twins the caller may read."""

    twins: list[TwinSummary]


class GlucoseReadingOut(ResponseBody):
    """One CGM reading the twin has assimilated."""

    t_min: float
    glucose_mg_dl: float


class TwinEvent(ResponseBody):
    """A meal and/or bolus given (logged, or a decided recommendation)."""

    t_min: float
    meal_g: float
    bolus_u: float
    source: str


class ParameterEstimate(ResponseBody):
    """An uncertain parameter: ensemble mean, interval and the prior's nominal value."""

    name: str
    mean: float
    low: float
    high: float
    level: float = Field(description="Coverage of [low, high].")
    nominal: float


class News2Score(ResponseBody):
    """NEWS2 of one vital-signs set (Royal College of Physicians, 2017)."""

    t_min: float
    total: int
    any_single_3: bool = Field(description="Any single parameter scoring 3 (red score).")
    band: str
    trigger: str
    subscores: dict[str, int]
    monitoring_frequency: str
    actions: list[str]


class VitalSet(ResponseBody):
    """One vital-signs set as recorded, with its time."""

    t_min: float
    respiratory_rate_per_min: float
    spo2_percent: float
    systolic_bp_mm_hg: float
    heart_rate_per_min: float
    temperature_c: float
    consciousness: str
    spo2_scale: int
    on_oxygen: bool
    time: str


class News2TrendPoint(ResponseBody):
    """NEWS2 total and band of one set, in time order."""

    t_min: float
    total: int
    band: str


class VitalsState(ResponseBody):
    """The latest vital-signs set, its NEWS2 and the NEWS2 trend."""

    latest: VitalSet
    news2: News2Score
    n_sets: int
    news2_trend: list[News2TrendPoint]


class TwinState(ResponseBody):
    """What the twin knows now (``vitals`` is ``null`` before the first vital-signs set)."""

    twin_id: str
    patient_id: str
    profile: str
    model: str
    start: str
    t_min: float
    time: str
    members: int
    n_readings: int
    version: int
    readings: list[GlucoseReadingOut]
    events: list[TwinEvent]
    parameters: list[ParameterEstimate]
    glucose_mg_dl: dict[str, float] = Field(description="Quantile level to glucose now.")
    vitals: VitalsState | None


class ObservationsAdded(ResponseBody):
    """Readings assimilated and stored."""

    twin_id: str
    added: int
    n_readings: int
    t_min: float
    version: int


class TwinEventAdded(ResponseBody):
    """A meal or bolus logged."""

    twin_id: str
    events: int
    version: int


class ForecastBody(ResponseBody):
    """A glucose forecast with quantile bands and its FHIR Provenance."""

    twin_id: str
    channel: str
    unit: str
    time_unit: str
    t_min: list[float]
    quantiles: Quantiles = Field(description="Quantile level to one value per t_min.")
    n_members: int
    n_readings: int
    version: int
    provenance: dict[str, Any] = Field(
        description="A FHIR R4 Provenance resource (signed when the server has a key)."
    )


class TimeInRange(ResponseBody):
    """Time in range (70-180 mg/dL), percent: mean and 90 % interval."""

    mean: float
    low: float
    high: float


class PlanForecast(ResponseBody):
    """The forecast under one plan."""

    t_min: list[float]
    quantiles: Quantiles
    time_in_range_percent: TimeInRange


class WhatIfBody(ResponseBody):
    """Forecasts under each plan, with common random numbers."""

    twin_id: str
    plans: dict[str, PlanForecast]


class PlanAssessment(ResponseBody):
    """One candidate bolus: time in range and the chance each constraint holds."""

    plan: str
    time_in_range_percent: float
    feasible: bool
    constraints: dict[str, float]


class ProposalValue(ResponseBody):
    """What was proposed: a plan (meal, bolus, when), or none (``plan`` null, ``status``)."""

    plan: str | None
    twin: str = Field(description="The proposing twin, a Device reference.")
    explanation: str
    assessments: list[PlanAssessment]
    meal_g: float | Absent = None
    bolus_u: float | Absent = None
    t_min: float | Absent = None
    status: str | Absent = Field(default=None, description="Why there is no plan.")


class OverrideValueOut(ResponseBody):
    """What a clinician gave instead (only the members given)."""

    meal_g: float | Absent = None
    bolus_u: float | Absent = None
    t_min: float | Absent = None


class RecommendationBody(ResponseBody):
    """A recommendation and the clinician's decision on it."""

    id: str
    twin_id: str | None
    patient: str | None
    model: str
    model_version: str
    status: Literal["proposed", "accepted", "overridden"]
    value: ProposalValue
    proposed_by: str
    proposed_time: str
    decided_by: str | None
    decided_time: str | None
    reason: str | None
    override_value: OverrideValueOut | None


class RecommendationList(ResponseBody):
    """A twin's recommendations, oldest first."""

    recommendations: list[RecommendationBody]


class VitalsAdded(ResponseBody):
    """Vital-signs sets scored and stored; the latest NEWS2."""

    twin_id: str
    added: int
    n_sets: int
    version: int
    news2: News2Score | None


class VitalSetScored(VitalSet):
    """One vital-signs set with its NEWS2."""

    news2: News2Score


class VitalsList(ResponseBody):
    """Every vital-signs set of the twin, in time order."""

    twin_id: str
    vitals: list[VitalSetScored]


class News2Body(ResponseBody):
    """NEWS2 from the patient's latest stored vital signs (``available`` false: why not)."""

    available: bool
    reason: str | Absent = None
    total: int | Absent = None
    any_single_3: bool | Absent = None
    band: str | Absent = None
    time: str | Absent = None
    vitals: dict[str, float] | Absent = None
    consciousness: str | Absent = None
    on_oxygen: bool | Absent = None
    spo2_scale: int | Absent = None
    subscores: dict[str, int] | Absent = None
    response: str | Absent = None
