"""Success bodies of the surveillance alarm routes (``/api/v1/alarms``).

The report follows the monitor's JSON schema ``healthtwin.surveillance.monitor/1``
(:mod:`healthtwin.surveillance.monitor`); numbers that are not finite are ``null``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from healthtwin.api.schemas.common import ResponseBody

__all__ = ["AlarmsBody", "MonitorReportBody", "SeriesAdded", "WeekAdded"]


class SeriesKeyOut(ResponseBody):
    """A monitored series."""

    country: str
    disease: str
    syndrome: str


class SeriesAdded(SeriesKeyOut):
    """The series now monitored."""


class WeekAdded(ResponseBody):
    """One week of counts appended."""

    week: str
    n_series: int


class AlarmOut(ResponseBody):
    """One alarm of the latest week with its evidence, rank 1 first."""

    rank: int
    country: str
    disease: str
    syndrome: str
    observed: float | None
    expected: float | None
    upperbound: float | None
    score: float | None
    exceedance_ratio: float | None
    consecutive_weeks: int
    neighbours_alarming: list[str]


class UndefinedOut(ResponseBody):
    """A series without a bound this week, and why."""

    country: str
    disease: str
    syndrome: str
    reason: str


class MonitorReportBody(ResponseBody):
    """The ranked alarms of the latest week (``week`` null: nothing monitored yet)."""

    schema_: str = Field(alias="schema", description="healthtwin.surveillance.monitor/1")
    week: str | None
    method: str
    control: dict[str, Any]
    n_series: int
    n_alarms: int
    n_undefined: int
    alarms: list[AlarmOut]
    undefined: list[UndefinedOut]


class AlarmsBody(MonitorReportBody):
    """The latest week's report and every monitored series (quiet ones too)."""

    series: list[SeriesKeyOut]
