"""Hospital twins: a hospital configuration and today's census, kept in a registry.

A :class:`HospitalTwin` is a :class:`~healthtwin.hospital.config.HospitalConfig` (units,
arrivals, pathways) and the patients in beds now (``census[unit]``: the hours each has
already spent there, so that their remaining stays are drawn given those hours).
:func:`make_hospital_twin` builds one from a config (or the :data:`DEMO_HOSPITAL` preset)
and a census given as counts or hours, validating both; :class:`HospitalRegistry` keeps an
application's twins and the ids of their forecast runs (thread-safe). Forecasting a twin
forward is :mod:`healthtwin.scenarios.hospital_forecast`.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.hospital.census import Census, CensusEntry
from healthtwin.hospital.config import HospitalConfig

__all__ = [
    "DEMO_CENSUS",
    "DEMO_HOSPITAL",
    "HospitalRegistry",
    "HospitalTwin",
    "make_hospital_twin",
]

#: A small general hospital: ED, ward and ICU, with a ward that runs close to full.
DEMO_HOSPITAL: dict[str, Any] = {
    "units": {
        "ed": {
            "kind": "ed",
            "beds": 14,
            "los_hours": {"dist": "lognormal", "mean": 3.0, "cv": 0.6},
        },
        "ward": {
            "kind": "ward",
            "beds": 64,
            "los_hours": {"dist": "lognormal", "mean": 76.0, "cv": 0.8},
            "deterioration_per_day": 0.03,
        },
        "icu": {
            "kind": "icu",
            "beds": 10,
            "los_hours": {"dist": "lognormal", "mean": 72.0, "cv": 0.7},
            "deterioration_per_day": 0.05,
        },
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 2.5}],
    "pathways": {
        "ed": {"ward": 0.25, "icu": 0.03, "discharge": 0.72},
        "ward": {"icu": 0.02, "discharge": 0.95, "death": 0.03},
        "icu": {"ward": 0.8, "discharge": 0.1, "death": 0.1},
    },
}
#: Today's census of the demo hospital (patients in beds by unit).
DEMO_CENSUS = {"ed": 6, "ward": 58, "icu": 8}


@dataclass(frozen=True)
class HospitalTwin:
    """A hospital and today's census (``census[unit]``: hours each patient has spent there)."""

    hospital_id: str
    name: str
    config: HospitalConfig
    census: Mapping[str, tuple[float, ...]]
    created: datetime

    def census_model(self) -> Census:
        """The census as the engine takes it."""
        return Census(tuple(CensusEntry(u, h) for u, hours in self.census.items() for h in hours))

    def to_dict(self, runs: list[str]) -> dict[str, Any]:
        """The twin's state as JSON, with the ids of its forecast runs (oldest first)."""
        return {
            "hospital_id": self.hospital_id,
            "name": self.name,
            "created": self.created.isoformat(),
            "units": [
                {
                    "name": name,
                    "kind": unit.kind,
                    "beds": unit.beds,
                    "census": len(self.census.get(name, ())),
                    "mean_los_hours": unit.los_hours.mean_hours(),
                }
                for name, unit in self.config.units.items()
            ],
            "census": {name: len(self.census.get(name, ())) for name in self.config.units},
            "runs": runs,
            "latest_run": runs[-1] if runs else None,
        }


@dataclass
class HospitalRegistry:
    """The hospital twins of one application and their forecast runs (thread-safe).

    Examples
    --------
    >>> registry = HospitalRegistry()
    >>> twin = make_hospital_twin(hospital_id="h1", preset="demo")
    >>> registry.add(twin).hospital_id, registry.get("h1").config.units["icu"].beds
    ('h1', 10)
    >>> registry.add_run("h1", "job-1"); registry.runs("h1")
    ['job-1']
    """

    _twins: dict[str, HospitalTwin] = field(default_factory=dict)
    _runs: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, twin: HospitalTwin) -> HospitalTwin:
        """Register ``twin``; ``ConflictError`` if its id is taken."""
        with self._lock:
            if twin.hospital_id in self._twins:
                raise ConflictError(
                    f"hospital {twin.hospital_id!r} exists; choose another hospital_id"
                )
            self._twins[twin.hospital_id] = twin
            self._runs[twin.hospital_id] = []
        return twin

    def get(self, hospital_id: str) -> HospitalTwin:
        """The twin; ``NotFoundError`` naming the list route if unknown."""
        with self._lock:
            twin = self._twins.get(hospital_id)
        if twin is None:
            raise NotFoundError(f"no hospital {hospital_id[:80]!r}; list them at /api/v1/hospitals")
        return twin

    def all(self) -> list[HospitalTwin]:
        """Every twin, oldest first."""
        with self._lock:
            return sorted(self._twins.values(), key=lambda t: t.created)

    def add_run(self, hospital_id: str, run_id: str) -> None:
        """Remember that run ``run_id`` forecasts ``hospital_id``."""
        with self._lock:
            self._runs[hospital_id].append(run_id)

    def runs(self, hospital_id: str) -> list[str]:
        """The twin's forecast runs, oldest first."""
        with self._lock:
            return list(self._runs.get(hospital_id, ()))


def make_hospital_twin(
    *,
    hospital_id: str | None = None,
    name: str = "",
    preset: str | None = None,
    config: Mapping[str, Any] | None = None,
    census: Mapping[str, int | Sequence[float]] | None = None,
    now: datetime | None = None,
) -> HospitalTwin:
    """A hospital twin from a config (or the ``"demo"`` preset) and today's census.

    Parameters
    ----------
    hospital_id
        The twin's id (default: ``hospital-<random hex>``).
    name
        Display name (default: the preset's, else ``"hospital"``).
    preset, config
        Exactly one: ``"demo"`` (:data:`DEMO_HOSPITAL`) or a ``HospitalConfig`` as JSON.
    census
        Per unit, a count of patients just admitted or the hours each has spent there
        (default: :data:`DEMO_CENSUS` with the preset, else an empty hospital).
    now
        Creation time (default: the current UTC time).

    Returns
    -------
    HospitalTwin
        With every unit of the config in its census (empty ones as ``()``).

    Raises
    ------
    InvalidInputError
        If both or neither of ``preset`` and ``config`` are given, the preset is unknown,
        the config is invalid, or the census names an unknown unit, holds a negative count
        or time, or more patients than the unit has beds.

    Examples
    --------
    >>> twin = make_hospital_twin(preset="demo", census={"icu": [2.0, 30.0]})
    >>> twin.census["icu"], twin.census["ward"]
    ((2.0, 30.0), ())
    """
    if (preset is None) == (config is None):
        raise InvalidInputError(
            "give either a hospital 'config' or 'preset': 'demo', not "
            + ("both" if preset else "neither")
        )
    if preset is not None and preset != "demo":
        raise InvalidInputError(f"unknown hospital preset {preset[:64]!r}; presets are ['demo']")
    try:
        hospital = HospitalConfig.model_validate(DEMO_HOSPITAL if preset else config)
    except ValidationError as err:
        raise InvalidInputError(f"hospital config is invalid: {err}") from err
    raw = census if census is not None else (DEMO_CENSUS if preset else {})
    beds_in_use: dict[str, tuple[float, ...]] = dict.fromkeys(hospital.units, ())
    for unit, value in raw.items():
        beds_in_use[unit] = _census_hours(hospital, unit, value)
    return HospitalTwin(
        hospital_id=hospital_id or f"hospital-{uuid.uuid4().hex[:10]}",
        name=name or ("Demo general hospital" if preset else "hospital"),
        config=hospital,
        census=beds_in_use,
        created=now or datetime.now(UTC),
    )


def _census_hours(
    config: HospitalConfig, unit: str, value: int | Sequence[float]
) -> tuple[float, ...]:
    """The hours spent by each patient of ``unit``'s census entry (validated)."""
    if unit not in config.units:
        raise InvalidInputError(
            f"census.{unit[:64]}: unknown unit; units are {sorted(config.units)}"
        )
    hours = (0.0,) * value if isinstance(value, int) else tuple(float(h) for h in value)
    if isinstance(value, int) and value < 0:
        raise InvalidInputError(f"census.{unit}: {value} patients; give a count >= 0")
    if not all(math.isfinite(h) and h >= 0 for h in hours):
        raise InvalidInputError(
            f"census.{unit}: hours spent must be finite and >= 0, got {list(hours)[:10]}"
        )
    if len(hours) > config.units[unit].beds:
        raise InvalidInputError(
            f"census.{unit}: {len(hours)} patients in {config.units[unit].beds} beds; "
            "a census holds at most one patient per bed"
        )
    return hours
