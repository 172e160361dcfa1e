"""Success bodies of the hospital twin routes (``/api/v1/hospitals``).

Bands are quantile level (``"0.05"``, ``"0.5"``, ``"0.95"``) to one value per day.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from healthtwin.api.schemas.common import Quantiles, ResponseBody
from healthtwin.api.schemas.jobs import JobRecord

__all__ = ["HospitalList", "HospitalResults", "HospitalRun", "HospitalState"]


class UnitState(ResponseBody):
    """One unit: its kind, beds, census now and mean length of stay."""

    name: str
    kind: str
    beds: int
    census: int
    mean_los_hours: float


class HospitalState(ResponseBody):
    """A hospital twin: units, census by unit and its forecast runs (oldest first)."""

    hospital_id: str
    name: str
    created: str
    units: list[UnitState]
    census: dict[str, int]
    runs: list[str]
    latest_run: str | None


class HospitalList(ResponseBody):
    """Every hospital twin."""

    hospitals: list[HospitalState]


class HospitalRun(JobRecord):
    """The forecast job just submitted, and its hospital."""

    hospital_id: str


class HospitalAlert(ResponseBody):
    """An occupancy or queue alert over the forecast days."""

    unit: str | None = Field(description="The unit; null for a hospital-wide alert.")
    kind: str
    severity: str
    first_day: int
    days: list[int]
    peak_probability: float | None
    message: str


class UnitForecast(ResponseBody):
    """One unit's forecast: occupancy and queue bands, the chance of passing the line."""

    kind: str
    beds: int
    census_now: int
    arrivals_per_hour: float
    occupancy_beds: Quantiles
    occupancy_fraction: Quantiles
    p_above_line: list[float] = Field(description="Per day, the chance of passing the line.")
    queue_length: Quantiles


class HospitalResults(ResponseBody):
    """A forecast run's result: bands per unit and day, alerts and early warning."""

    kind: str
    job_id: str
    hospital_id: str
    days: int
    replications: int
    seed: int
    occupancy_alert: float
    day: list[int]
    units: dict[str, UnitForecast]
    alerts: list[HospitalAlert]
    early_warning: dict[str, Any] = Field(
        description="Arrivals, deteriorations, those caught late and refusals (bands); "
        "whether NEWS2 scores were used."
    )
