"""Surveillance alarms over HTTP: weekly counts in, ranked alarms out.

An :class:`~healthtwin.scenarios.alarm_board.AlarmBoard` (one per application,
``app.state.alarms``) holds the cross-border monitor behind a lock. Routes under
``/api/v1``:

- ``POST /alarms/series``: add a weekly count series ``(country, disease, syndrome)``;
- ``POST /alarms/weeks``: append one week of counts across series;
- ``GET /alarms``: the latest week's ranked alarms with their evidence (the monitor's JSON
  schema ``healthtwin.surveillance.monitor/1``) plus ``series``, every monitored
  ``(country, disease, syndrome)``, so that a board can show the quiet ones too; an empty
  board answers no alarms.

The board is kept in the application's store (:meth:`AlarmBoard.attach`, on the first
request that uses it), so a restarted service answers the same alarms.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.schemas import success
from healthtwin.api.schemas.alarms import AlarmsBody, SeriesAdded, WeekAdded
from healthtwin.scenarios.alarm_board import AlarmBoard, SeriesKey

__all__ = ["AlarmBoard", "SeriesIn", "WeekIn", "alarms_router"]

alarms_router = APIRouter(prefix="/api/v1", tags=["alarms"])
_STRICT = ConfigDict(extra="forbid")


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
    """The application's board, kept in its store (attached, and replayed, on first use)."""
    board: AlarmBoard = request.app.state.alarms
    return board.attach(request.app.state.store)


@alarms_router.post(
    "/alarms/series",
    status_code=201,
    responses={**success(201, SeriesAdded, "The series now monitored.")},
)
def add_series(request: Request, body: SeriesIn) -> dict[str, Any]:
    """Monitor a new weekly series."""
    key = SeriesKey(body.country, body.disease, body.syndrome)
    counts = [float("nan") if c is None else c for c in body.counts]
    _board(request).add_series(key, counts, body.start)
    return {"country": key.country, "disease": key.disease, "syndrome": key.syndrome}


@alarms_router.post(
    "/alarms/weeks",
    status_code=201,
    responses={**success(201, WeekAdded, "The week appended.")},
)
def append_week(request: Request, body: WeekIn) -> dict[str, Any]:
    """Append one week of counts."""
    counts = {SeriesKey(c.country, c.disease, c.syndrome): c.count for c in body.counts}
    _board(request).append_week(body.week, counts)
    return {"week": body.week, "n_series": len(counts)}


@alarms_router.get(
    "/alarms",
    responses={**success(200, AlarmsBody, "The latest week's ranked alarms.")},
)
def alarms(request: Request) -> dict[str, Any]:
    """The latest week's ranked alarms with their evidence."""
    return _board(request).report()
