"""Success bodies of the population scenario (``/scenarios``, ``/regions``) and world routes.

A variant's summary and a world's summary are open (their members follow the scenario's
quantities: incidence, admissions, ICU occupancy bands...), so they allow extra members.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from healthtwin.api.schemas.alarms import MonitorReportBody
from healthtwin.api.schemas.common import Quantiles, ResponseBody
from healthtwin.api.schemas.jobs import JobRecord

__all__ = ["ScenarioList", "ScenarioResults", "WorldList", "WorldResults"]


class ScenarioList(ResponseBody):
    """Population scenario jobs, newest first."""

    scenarios: list[JobRecord]


class VariantSummary(ResponseBody):
    """One variant's ensemble: daily bands by quantity (open), totals, ICU, Rt, regions."""

    model_config = ConfigDict(extra="allow")
    day: list[int]
    icu_beds: float | None
    total_infections: dict[str, float] = Field(description="Median and 90 % interval.")
    peak_icu_occupancy: dict[str, float]
    rt: dict[str, list[float | None]] = Field(
        description="Rt of the median (Cori et al. 2013): t_end, mean, low, high."
    )
    serial_interval_days: dict[str, float]
    by_region: dict[str, dict[str, Any]]
    incidence: Quantiles
    admissions: Quantiles
    icu_occupancy: Quantiles


class ScenarioResults(ResponseBody):
    """A population scenario's summary by variant."""

    kind: str
    scenario: str
    days: int
    replicates: int
    regions: list[str]
    variants: dict[str, VariantSummary]


class WorldList(ResponseBody):
    """World runs, newest first."""

    worlds: list[JobRecord]


class WorldResults(ResponseBody):
    """A world run: key numbers, the monitor's report and national bands."""

    summary: dict[str, Any] = Field(description="Key numbers of the world run (open).")
    monitor: MonitorReportBody
    series: dict[str, Any] = Field(description="Each country's national daily series as bands.")
