"""Typed configuration of a hospital: units, staff rosters, arrivals, pathways, electives.

Frozen pydantic v2 models, read from YAML by :func:`load_hospital_config`. Validation names
the field path of every problem (``pathways.ed: probabilities sum to 0.9, must sum to 1``),
unknown units, negative capacities and pathways that cycle with no route out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ResourceValidationError,
    ValidationIssue,
)
from healthtwin.hospital.distributions import LosSpec

__all__ = [
    "EXITS",
    "ArrivalStream",
    "DiversionConfig",
    "ElectiveStream",
    "HospitalConfig",
    "LosSpec",
    "SafetyConfig",
    "Shift",
    "StaffConfig",
    "UnitConfig",
    "load_hospital_config",
]

EXITS = ("discharge", "death")
UnitKind = Literal["ed", "ward", "icu", "theatre", "step_down"]
_FROZEN = ConfigDict(frozen=True, extra="forbid")
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Shift(BaseModel):
    """One daily shift: start hour (0-24), length in hours, nurses on duty."""

    model_config = _FROZEN
    start_hour: Annotated[float, Field(ge=0, lt=24)]
    length_hours: Annotated[float, Field(gt=0, le=24)]
    nurses: Annotated[int, Field(ge=0)]


class StaffConfig(BaseModel):
    """A unit's nursing roster; usable beds = min(beds, nurses on duty x patients_per_nurse)."""

    model_config = _FROZEN
    shifts: tuple[Shift, ...] = Field(min_length=1)
    patients_per_nurse: Annotated[float, Field(gt=0)]

    def nurses_at_hour(self) -> tuple[int, ...]:
        """Nurses on duty in each hour of the day (24 values; shifts may wrap midnight)."""
        out = [0] * 24
        for s in self.shifts:
            for h in range(24):
                if (h - s.start_hour) % 24 < s.length_hours:
                    out[h] += s.nurses
        return tuple(out)


class UnitConfig(BaseModel):
    """One unit: kind, beds, roster, length of stay, costs, and its safety parameters."""

    model_config = _FROZEN
    kind: UnitKind
    beds: Annotated[int, Field(ge=0)]
    staff: StaffConfig | None = None
    los_hours: LosSpec
    cost_per_bed_day: NonNegative = 0.0
    cost_per_nurse_shift: NonNegative = 0.0
    deterioration_per_day: NonNegative = 0.0
    observation_interval_hours: Annotated[float, Field(gt=0)] | None = None

    def observation_interval(self) -> float:
        """Hours between routine observations (fixed schedule when no NEWS2 is known)."""
        if self.observation_interval_hours is not None:
            return self.observation_interval_hours
        return {"ed": 1.0, "icu": 1.0, "theatre": 0.5, "step_down": 2.0}.get(self.kind, 4.0)


class ArrivalStream(BaseModel):
    """Unscheduled arrivals: a non-homogeneous Poisson process entering ``unit``.

    ``rate_per_hour`` is one value or 24 values (hour of day); ``weekday_multipliers`` has
    7 values (Monday first); ``triage_mix`` gives the share of categories 1, 2, ... (1 is
    the most urgent).
    """

    model_config = _FROZEN
    name: str = "emergency"
    unit: str
    rate_per_hour: tuple[NonNegative, ...]
    weekday_multipliers: tuple[NonNegative, ...] = (1.0,) * 7
    triage_mix: tuple[NonNegative, ...] = (1.0,)

    @field_validator("rate_per_hour", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            return (value,) * 24
        if isinstance(value, list | tuple) and len(value) == 1:
            return tuple(value) * 24
        return value

    @model_validator(mode="after")
    def _check(self) -> ArrivalStream:
        if len(self.rate_per_hour) != 24:
            raise ValueError(f"rate_per_hour needs 1 or 24 values, got {len(self.rate_per_hour)}")
        if len(self.weekday_multipliers) != 7:
            raise ValueError(
                f"weekday_multipliers needs 7 values, got {len(self.weekday_multipliers)}"
            )
        if not self.triage_mix or not math.isclose(sum(self.triage_mix), 1.0, abs_tol=1e-9):
            raise ValueError(f"triage_mix must sum to 1, got {sum(self.triage_mix):g}")
        return self


class ElectiveStream(BaseModel):
    """Scheduled admissions: ``per_weekday`` patients (Monday first) at ``hour`` to ``unit``."""

    model_config = _FROZEN
    unit: str
    per_weekday: tuple[Annotated[int, Field(ge=0)], ...]
    hour: Annotated[float, Field(ge=0, lt=24)] = 8.0
    priority: Annotated[int, Field(ge=1)] = 3

    @field_validator("per_weekday")
    @classmethod
    def _seven(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) != 7:
            raise ValueError(f"per_weekday needs 7 values, got {len(value)}")
        return value


class DiversionConfig(BaseModel):
    """Refuse (divert) arrivals to ``unit`` when its queue or its boarders exceed a limit."""

    model_config = _FROZEN
    unit: str | None = None
    max_queue: Annotated[int, Field(ge=0)] | None = None
    boarding_threshold: Annotated[int, Field(ge=0)] | None = None


class SafetyConfig(BaseModel):
    """Early-warning assumptions used when no twin gives NEWS2 scores.

    A deterioration is *caught late* when no alert (NEWS2 >= 5 or a single 3) came within
    ``late_window_hours`` before it; without scores an alert precedes it with probability
    ``alert_sensitivity``.
    """

    model_config = _FROZEN
    alert_sensitivity: Annotated[float, Field(ge=0, le=1)] = 0.7
    late_window_hours: Annotated[float, Field(gt=0)] = 6.0


class HospitalConfig(BaseModel):
    """A whole hospital: see the module docstring and the example YAML in tests/data/hospital.

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ed": {"kind": "ed", "beds": 10,
    ...                      "los_hours": {"dist": "exponential", "mean": 1.0}}},
    ...     "arrivals": [{"unit": "ed", "rate_per_hour": 9.0}],
    ...     "pathways": {"ed": {"discharge": 1.0}}})
    >>> cfg.with_capacity("ed", beds=12).units["ed"].beds
    12
    """

    model_config = _FROZEN
    units: dict[str, UnitConfig] = Field(min_length=1)
    arrivals: tuple[ArrivalStream, ...] = ()
    pathways: dict[str, dict[str, NonNegative]]
    triage_pathways: dict[str, dict[int, dict[str, NonNegative]]] = {}
    electives: tuple[ElectiveStream, ...] = ()
    discharge_hours: tuple[float, float] | None = None
    ed_targets_hours: tuple[float, float] = (4.0, 12.0)
    diversion: DiversionConfig = DiversionConfig()
    safety: SafetyConfig = SafetyConfig()
    start_weekday: Annotated[int, Field(ge=0, le=6)] = 0

    @model_validator(mode="after")
    def _check(self) -> HospitalConfig:
        names = set(self.units)
        for name in names & set(EXITS):
            raise ValueError(f"units.{name}: '{name}' is reserved for leaving the hospital")
        for i, a in enumerate(self.arrivals):
            _known(f"arrivals[{i}].unit", a.unit, names)
        for i, e in enumerate(self.electives):
            _known(f"electives[{i}].unit", e.unit, names)
        if self.diversion.unit is not None:
            _known("diversion.unit", self.diversion.unit, names)
        for unit in sorted(names - set(self.pathways)):
            raise ValueError(
                f"pathways.{unit}: missing; give where patients go after unit {unit!r}, "
                f"e.g. {{discharge: 1.0}}"
            )
        for unit, routes in self.pathways.items():
            _check_routes(f"pathways.{unit}", unit, routes, names)
        for unit, rules in self.triage_pathways.items():
            _known(f"triage_pathways.{unit}", unit, names)
            for triage, routes in rules.items():
                _check_routes(f"triage_pathways.{unit}.{triage}", unit, routes, names)
        if self.discharge_hours is not None:
            lo, hi = self.discharge_hours
            if not 0 <= lo < hi <= 24:
                raise ValueError(
                    f"discharge_hours: need 0 <= start < end <= 24, got {self.discharge_hours}"
                )
        _check_exits(self)
        return self

    def with_capacity(
        self, unit: str, *, beds: int | None = None, nurses_per_shift: int | None = None
    ) -> HospitalConfig:
        """A copy with ``unit``'s beds and/or the nurses of every one of its shifts changed."""
        if unit not in self.units:
            raise InvalidParameterError(
                f"with_capacity: unknown unit {unit!r}; units are {sorted(self.units)}"
            )
        u = self.units[unit]
        update: dict[str, Any] = {}
        if beds is not None:
            if beds < 0:
                raise InvalidParameterError(f"with_capacity: beds must be >= 0, got {beds}")
            update["beds"] = beds
        if nurses_per_shift is not None:
            if u.staff is None:
                raise InvalidParameterError(
                    f"with_capacity: unit {unit!r} has no staff roster; add units.{unit}.staff"
                )
            if nurses_per_shift < 0:
                raise InvalidParameterError(
                    f"with_capacity: nurses_per_shift must be >= 0, got {nurses_per_shift}"
                )
            shifts = tuple(
                s.model_copy(update={"nurses": nurses_per_shift}) for s in u.staff.shifts
            )
            update["staff"] = u.staff.model_copy(update={"shifts": shifts})
        units = {**self.units, unit: u.model_copy(update=update)}
        return self.model_copy(update={"units": units})

    def cost_per_day(self) -> float:
        """Beds x cost per bed-day plus daily nurse shifts x cost per nurse shift."""
        total = 0.0
        for u in self.units.values():
            total += u.beds * u.cost_per_bed_day
            if u.staff is not None:
                total += sum(s.nurses for s in u.staff.shifts) * u.cost_per_nurse_shift
        return total


def _known(path: str, unit: str, names: set[str]) -> None:
    if unit not in names:
        raise ValueError(f"{path}: unknown unit {unit!r}; units are {sorted(names)}")


def _check_routes(path: str, unit: str, routes: dict[str, float], names: set[str]) -> None:
    for dest in routes:
        if dest not in names and dest not in EXITS:
            raise ValueError(
                f"{path}: unknown destination {dest!r}; use a unit of {sorted(names)} "
                f"or one of {list(EXITS)}"
            )
    total = sum(routes.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ValueError(f"{path}: probabilities sum to {total:g}, must sum to 1")


def _check_exits(config: HospitalConfig) -> None:
    """Every unit must reach discharge or death along routes of positive probability."""
    edges: dict[str, set[str]] = {u: set() for u in config.units}
    for unit, routes in config.pathways.items():
        edges[unit] |= {d for d, p in routes.items() if p > 0}
    for unit, rules in config.triage_pathways.items():
        for routes in rules.values():
            edges[unit] |= {d for d, p in routes.items() if p > 0}
    exiting = set(EXITS)
    changed = True
    while changed:
        changed = False
        for unit, dests in edges.items():
            if unit not in exiting and dests & exiting:
                exiting.add(unit)
                changed = True
    trapped = sorted(set(config.units) - exiting)
    if trapped:
        raise ValueError(
            f"pathways: units {trapped} form a cycle with no route to discharge or death; "
            "give one of them a positive probability of 'discharge' or 'death'"
        )


def load_hospital_config(path: str | Path) -> HospitalConfig:
    """Read and validate a hospital YAML file.

    Raises
    ------
    ResourceValidationError
        One issue per broken rule, each naming the field path.
    InvalidInputError
        The file is not YAML or not a mapping.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "h.yaml"
    >>> _ = p.write_text("units: {ed: {kind: ed, beds: -1, los_hours: {dist: fixed, mean: 1}}}\\n"
    ...                  "pathways: {ed: {discharge: 1}}\\n")
    >>> load_hospital_config(p)
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: ... units.ed.beds: ...
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{path}: not valid YAML ({err}); fix the syntax") from err
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path}: expected a mapping with 'units' and 'pathways', got {type(data).__name__}"
        )
    return parse_hospital_config(data, source=str(path))


def parse_hospital_config(data: dict[str, Any], source: str = "config") -> HospitalConfig:
    """Validate a mapping into a :class:`HospitalConfig`, errors as ResourceValidationError."""
    try:
        return HospitalConfig.model_validate(data)
    except ValidationError as err:
        issues = tuple(_issue(e) for e in err.errors())
        text = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues)
        raise ResourceValidationError(f"{source}: invalid hospital config: {text}", issues) from err


def _issue(error: Any) -> ValidationIssue:
    path = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return ValidationIssue(path=path, message=message, code="value")
