"""Domain records: what healthtwin keeps of a health record, free of any FHIR library.

FHIR resources, OMOP rows and local CSV exports are all mapped to and from these frozen
dataclasses at the edge (``interop/``); everything deeper (twins, stores, scores) sees only
records. Conventions:

- every time is a timezone-aware :class:`datetime.datetime` in UTC (naive times are
  refused: a time without a zone is ambiguous across sites);
- quantities carry a UCUM unit code (``"mg/dL"``, ``"mmol/L"``, ``"/min"``, ``"Cel"``);
- codes are :class:`Coding` (system URI, code, display), with the standard system URIs of
  :mod:`healthtwin.interop.codes`;
- ``id`` is the logical id of the resource the record maps to; references between records
  are by id (``patient_id``, ``encounter_id``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, SupportsFloat

from healthtwin.errors import InvalidInputError

__all__ = [
    "Coding",
    "ConditionRecord",
    "EncounterRecord",
    "Identifier",
    "Imputation",
    "MedicationRecord",
    "ObservationComponent",
    "ObservationRecord",
    "PatientData",
    "PatientRecord",
    "RiskRecord",
    "require_utc",
]

Gender = Literal["male", "female", "other", "unknown"]
MedicationKind = Literal["administration", "request"]


def require_utc(value: datetime, what: str) -> datetime:
    """Return ``value`` converted to UTC; refuse a naive time.

    Raises
    ------
    InvalidInputError
        If ``value`` has no time zone (the message names ``what``).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{what} {value.isoformat()} has no time zone; give an offset (for example "
            "'+00:00') or declare the source's time zone in its mapping"
        )
    return value.astimezone(UTC)


def _number(value: object, what: str) -> float | None:
    """``value`` as a plain Python float (numpy scalars and ints included), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | SupportsFloat):
        raise InvalidInputError(f"{what}: {value!r} is not a number")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Coding:
    """A code from a code system (``system`` is the system's canonical URI)."""

    system: str
    code: str
    display: str | None = None

    def __post_init__(self) -> None:
        if not self.system or not self.code:
            raise InvalidInputError(
                f"a coding needs both a system and a code; got system={self.system!r}, "
                f"code={self.code!r}"
            )


@dataclass(frozen=True, kw_only=True)
class Identifier:
    """A business identifier (medical record number, national id) within a system."""

    system: str | None
    value: str


@dataclass(frozen=True, kw_only=True)
class PatientRecord:
    """Who the patient is (``country``: ISO 3166-1 alpha-2 of the home address)."""

    id: str
    identifiers: tuple[Identifier, ...] = ()
    family: str | None = None
    given: tuple[str, ...] = ()
    birth_date: date | None = None
    gender: Gender | None = None
    country: str | None = None
    managing_organization_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ObservationComponent:
    """One component of a panel observation (for example systolic pressure in a BP panel)."""

    code: Coding
    value: float | None
    unit: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _number(self.value, f"component {self.code.code}"))


@dataclass(frozen=True, kw_only=True)
class Imputation:
    """How an estimated value stands in for a missing measurement, and how sure it is.

    ``variance`` (in the observation's unit squared) is the predictive variance of a
    measurement at that time; ``lower``/``upper`` its band at coverage ``level``;
    ``method`` names what estimated it (for example ``"healthtwin-cgm-gap-smoother"``).

    Examples
    --------
    >>> Imputation(variance=64.0, lower=97.0, upper=123.0, level=0.9).sd
    8.0
    """

    variance: float
    lower: float
    upper: float
    level: float
    method: str = ""

    def __post_init__(self) -> None:
        for name in ("variance", "lower", "upper", "level"):
            value = _number(getattr(self, name), f"imputation {name}")
            if value is None or not math.isfinite(value):
                raise InvalidInputError(f"imputation {name} must be a finite number, got {value}")
            object.__setattr__(self, name, value)
        if self.variance < 0 or self.lower > self.upper or not 0.0 < self.level < 1.0:
            raise InvalidInputError(
                f"an imputation needs variance >= 0, lower <= upper and a level in (0, 1); "
                f"got variance={self.variance}, band [{self.lower}, {self.upper}], "
                f"level={self.level}"
            )

    @property
    def sd(self) -> float:
        """Predictive standard deviation, ``sqrt(variance)``."""
        return math.sqrt(self.variance)


@dataclass(frozen=True, kw_only=True)
class ObservationRecord:
    """One value at one time (a vital sign, a laboratory result, a CGM reading).

    ``value``/``unit`` hold a single quantity; a panel (blood pressure 85354-9) has
    ``value=None`` and its parts in ``components``. A value estimated to fill a gap, not
    measured, has ``imputation`` (its uncertainty); a measured one has None.
    """

    id: str
    patient_id: str
    code: Coding
    effective: datetime
    value: float | None = None
    unit: str | None = None
    status: str = "final"
    category: str | None = None
    encounter_id: str | None = None
    components: tuple[ObservationComponent, ...] = ()
    imputation: Imputation | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "effective", require_utc(self.effective, f"observation {self.id}"))
        object.__setattr__(self, "value", _number(self.value, f"observation {self.id}"))

    @property
    def imputed(self) -> bool:
        """Whether the value was estimated to fill a gap rather than measured."""
        return self.imputation is not None


@dataclass(frozen=True, kw_only=True)
class ConditionRecord:
    """A diagnosis or problem (``code`` usually SNOMED CT or ICD-10)."""

    id: str
    patient_id: str
    code: Coding
    clinical_status: str = "active"
    onset: datetime | None = None
    abatement: datetime | None = None
    encounter_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class MedicationRecord:
    """A drug given (``kind="administration"``) or ordered (``"request"``).

    ``dose`` is in ``dose_unit`` (UCUM: ``"U"`` for insulin units, ``"mg"``); an infusion
    has ``rate`` in ``rate_unit`` (``"U/h"``, ``"mg/h"``) between ``start`` and ``end``.
    """

    id: str
    patient_id: str
    kind: MedicationKind
    medication: Coding
    start: datetime
    end: datetime | None = None
    dose: float | None = None
    dose_unit: str | None = None
    rate: float | None = None
    rate_unit: str | None = None
    route: Coding | None = None
    status: str = "completed"
    encounter_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dose", _number(self.dose, f"medication {self.id} dose"))
        object.__setattr__(self, "rate", _number(self.rate, f"medication {self.id} rate"))


@dataclass(frozen=True, kw_only=True)
class EncounterRecord:
    """A contact with care (``class_code``: v3 ActCode such as ``AMB``, ``EMER``, ``IMP``)."""

    id: str
    patient_id: str
    status: str
    class_code: str
    start: datetime | None = None
    end: datetime | None = None
    location_ids: tuple[str, ...] = ()
    organization_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class RiskRecord:
    """A predicted probability of an outcome, with its interval and where it came from.

    ``basis_ids`` are references (``"Observation/abc"``) to the inputs the prediction used;
    ``model`` and ``model_version`` name the model, for the Provenance written beside it.
    """

    id: str
    patient_id: str
    outcome: Coding
    probability: float
    when: datetime
    horizon: timedelta | None = None
    interval: tuple[float, float] | None = None
    interval_level: float | None = None
    model: str = ""
    model_version: str = ""
    basis_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PatientData:
    """Everything known about one patient, as a bundle maps to it.

    ``observations`` are measurements only; values estimated to fill gaps (each with its
    :class:`Imputation`) are kept apart in ``imputed_observations``, so that no reader
    takes an estimate for a measurement by accident.
    """

    patient: PatientRecord
    observations: tuple[ObservationRecord, ...] = ()
    imputed_observations: tuple[ObservationRecord, ...] = ()
    conditions: tuple[ConditionRecord, ...] = ()
    medications: tuple[MedicationRecord, ...] = ()
    encounters: tuple[EncounterRecord, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)

    def observations_of(self, codes: Sequence[str]) -> tuple[ObservationRecord, ...]:
        """Observations whose code is one of ``codes``, in time order."""
        wanted = set(codes)
        chosen = [o for o in self.observations if o.code.code in wanted]
        return tuple(sorted(chosen, key=lambda o: o.effective))
