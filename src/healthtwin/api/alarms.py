"""Surveillance alarms over HTTP: weekly counts in, ranked alarms out.

An :class:`AlarmBoard` (one per application, ``app.state.alarms``) holds a
:class:`~healthtwin.surveillance.monitor.CrossBorderMonitor` behind a lock (the monitor
itself is not thread-safe). Routes under ``/api/v1``:

- ``POST /alarms/series``: add a weekly count series ``(country, disease, syndrome)``;
- ``POST /alarms/weeks``: append one week of counts across series;
- ``GET /alarms``: the latest week's ranked alarms with their evidence (the monitor's JSON
  schema ``healthtwin.surveillance.monitor/1``) plus ``series``, every monitored
  ``(country, disease, syndrome)``, so that a board can show the quiet ones too; an empty
  board answers no alarms.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.surveillance.monitor import (
    SCHEMA,
    CrossBorderMonitor,
    MonitorConfig,
    SeriesKey,
)

__all__ = ["AlarmBoard", "SeriesIn", "WeekIn", "alarms_router"]

alarms_router = APIRouter(prefix="/api/v1", tags=["alarms"])
_STRICT = ConfigDict(extra="forbid")


class AlarmBoard:
    """A cross-border monitor shared by requests.

    Examples
    --------
    >>> board = AlarmBoard(MonitorConfig(method="ears-c2", lookback_weeks=2))
    >>> board.report()["n_alarms"]
    0
    >>> key = SeriesKey("FR", "flu", "ili")
    >>> board.add_series(key, [5, 6, 5, 7, 6, 5, 6, 5, 6, 5, 6], "2024-01-01")
    >>> board.append_week("2024-03-18", {key: 60.0})
    >>> board.report()["alarms"][0]["country"]
    'FR'
    >>> board.report()["series"]
    [{'country': 'FR', 'disease': 'flu', 'syndrome': 'ili'}]
    """

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self._config = config or MonitorConfig(method="ears-c2")
        self._monitor = CrossBorderMonitor(self._config)
        self._lock = threading.Lock()

    def add_series(self, key: SeriesKey, counts: list[float], start: str) -> None:
        """Monitor a new series starting on Monday ``start``."""
        with self._lock:
            self._monitor.add_series(key, counts, start=start)

    def append_week(self, week: str, counts: dict[SeriesKey, float]) -> None:
        """Append the counts of ``week`` (series left out get a missing value)."""
        with self._lock:
            self._monitor.append_week(week, counts)

    def report(self) -> dict[str, Any]:
        """The ranked alarms of the latest week and the monitored series (none: empty)."""
        with self._lock:
            series = [
                {"country": k.country, "disease": k.disease, "syndrome": k.syndrome}
                for k in self._monitor.keys
            ]
            if not series:
                return {
                    "schema": SCHEMA,
                    "week": None,
                    "method": self._config.method,
                    "control": {},
                    "n_series": 0,
                    "n_alarms": 0,
                    "n_undefined": 0,
                    "alarms": [],
                    "undefined": [],
                    "series": [],
                }
            return self._monitor.evaluate().to_dict() | {"series": series}


class SeriesIn(BaseModel):
    """A weekly count series to monitor."""

    model_config = _STRICT
    country: str = Field(min_length=1, max_length=64)
    disease: str = Field(min_length=1, max_length=64)
    syndrome: str = Field(default="all", min_length=1, max_length=64)
    start: str = Field(description="ISO date of the first week (a Monday).")
    counts: list[float | None] = Field(min_length=1, max_length=2000)


class WeekCount(BaseModel):
    """One series' count in a week."""

    model_config = _STRICT
    country: str = Field(min_length=1, max_length=64)
    disease: str = Field(min_length=1, max_length=64)
    syndrome: str = Field(default="all", min_length=1, max_length=64)
    count: float = Field(ge=0)


class WeekIn(BaseModel):
    """One week of counts across series."""

    model_config = _STRICT
    week: str = Field(description="ISO date of the week (a Monday).")
    counts: list[WeekCount] = Field(min_length=1, max_length=10_000)


def _board(request: Request) -> AlarmBoard:
    board: AlarmBoard = request.app.state.alarms
    return board


@alarms_router.post("/alarms/series", status_code=201)
def add_series(request: Request, body: SeriesIn) -> dict[str, Any]:
    """Monitor a new weekly series."""
    key = SeriesKey(body.country, body.disease, body.syndrome)
    counts = [float("nan") if c is None else c for c in body.counts]
    _board(request).add_series(key, counts, body.start)
    return {"country": key.country, "disease": key.disease, "syndrome": key.syndrome}


@alarms_router.post("/alarms/weeks", status_code=201)
def append_week(request: Request, body: WeekIn) -> dict[str, Any]:
    """Append one week of counts."""
    counts = {SeriesKey(c.country, c.disease, c.syndrome): c.count for c in body.counts}
    _board(request).append_week(body.week, counts)
    return {"week": body.week, "n_series": len(counts)}


@alarms_router.get("/alarms")
def alarms(request: Request) -> dict[str, Any]:
    """The latest week's ranked alarms with their evidence."""
    return _board(request).report()
