"""The schema of a per-source mapping: how one site's CSV export becomes our records.

A mapping names, for each column of the export, the FHIR element it fills (``Patient.id``,
``Patient.birthDate``, ``Observation.valueQuantity.value``...), and how to read it: the
UCUM unit of its numbers, the strptime patterns of its dates, the translation of its
labels (``männlich`` -> ``male``) or a ConceptMap from local codes to standard ones.
Source-wide settings give the CSV dialect (delimiter, decimal comma), the time zone local
times are in, and the layout: ``wide`` (one row per patient visit, one column per vital)
or ``long`` (one row per observation, with code, value and unit columns).

Record-field names are accepted as aliases of the FHIR paths (``birth_date`` for
``Patient.birthDate``); the model stores the FHIR path. Everything is checked when the
mapping is built, so that a wrong unit or an unknown vital fails before any row is read.
"""

from __future__ import annotations

import difflib
import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator, model_validator

from healthtwin.errors import InvalidInputError, UnknownModelError, ValidationIssue
from healthtwin.interop import ucum
from healthtwin.interop.codes import VITALS, VITALS_BY_CODE, Vital
from healthtwin.interop.harmonize.concept_map import DEFAULT_ACCEPTED, ConceptMap, Equivalence
from healthtwin.interop.harmonize.elements import (
    ALIASES,
    ELEMENTS,
    GLUCOSE_CODES,
    GLUCOSE_MOLAR_MASS,
)
from healthtwin.interop.harmonize.spec_checks import spec_issues

__all__ = [
    "ColumnSpec",
    "CsvOptions",
    "ExtraVital",
    "MappingIssuesError",
    "MappingSpec",
]


class MappingIssuesError(ValueError):
    """Every cross-field problem of a mapping, each with the YAML path it is at."""

    def __init__(self, issues: tuple[ValidationIssue, ...]) -> None:
        super().__init__("\n".join(f"{i.path}: {i.message}" for i in issues))
        self.issues = issues


def _tuple_of_str(value: object) -> object:
    return (value,) if isinstance(value, str) else value


def _check_unit(code: str | None) -> str | None:
    if code is not None:
        try:
            ucum.parse(code)
        except InvalidInputError as err:
            raise ValueError(str(err)) from err
    return code


def _check_zone(name: str | None) -> str | None:
    if name is not None:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), 1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown time zone {name!r}{hint} Use an IANA name such as 'Europe/Berlin'"
            ) from err
    return name


class CsvOptions(BaseModel):
    """The dialect of a CSV export (``decimal: ","`` for ``37,5``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal: Literal[".", ","] = "."
    thousands: Literal[",", ".", " ", "'"] | None = None
    encoding: str = "utf-8-sig"
    missing: tuple[str, ...] = ("", "NA", "N/A", "n/a", "NULL", "null", "-")

    @model_validator(mode="after")
    def _distinct_separators(self) -> CsvOptions:
        if self.thousands == self.decimal:
            raise ValueError(
                f"thousands separator and decimal mark are both {self.decimal!r}; they must differ"
            )
        return self


class ExtraVital(BaseModel):
    """A standard observation code beyond ``interop.codes.VITALS`` (body weight, a lab)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1)
    display: str = Field(min_length=1)
    unit: str
    category: str = "vital-signs"
    plausible: tuple[float, float]
    molar_mass_g_per_mol: PositiveFloat | None = None

    _unit_is_ucum = field_validator("unit")(_check_unit)


class ColumnSpec(BaseModel):
    """How one column is read. A bare string in YAML is its ``element``.

    ``vital`` names the standard observation of a wide-layout value column (a name or
    LOINC code from ``interop.codes.VITALS`` or the mapping's ``extra_vitals``); ``unit``
    is the UCUM unit the source wrote its values in (they are converted to the vital's
    unit). ``values`` translates labels (``{"männlich": "male"}``), matched ignoring case;
    ``concept_map`` names a map of the mapping for coded columns.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    element: str
    vital: str | None = None
    unit: str | None = None
    standard_unit: str | None = None
    molar_mass_g_per_mol: PositiveFloat | None = None
    concept_map: str | None = None
    values: dict[str, str] | None = None
    date_format: tuple[str, ...] | None = None
    timezone: str | None = None
    system: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"element": data} if isinstance(data, str) else data

    @field_validator("element")
    @classmethod
    def _known_element(cls, element: str) -> str:
        element = ALIASES.get(element, element)
        if element not in ELEMENTS:
            close = difflib.get_close_matches(element, [*ELEMENTS, *ALIASES], 1, 0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"unknown element {element!r}; {hint}use one of {', '.join(ELEMENTS)} "
                f"(or a record-field alias: {', '.join(ALIASES)})"
            )
        return element

    _units_are_ucum = field_validator("unit", "standard_unit")(_check_unit)
    _zone_is_known = field_validator("timezone")(_check_zone)
    _formats_as_tuple = field_validator("date_format", mode="before")(_tuple_of_str)


class MappingSpec(BaseModel):
    """One source's mapping: dialect, time zone, layout, columns, code maps, units.

    Build it from YAML with :func:`healthtwin.interop.harmonize.load_mapping`, which also
    reads concept maps kept in separate files; its JSON schema is
    :func:`healthtwin.interop.harmonize.mapping_json_schema`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    description: str = ""
    layout: Literal["wide", "long"]
    timezone: str
    data: str | None = None
    csv: CsvOptions = CsvOptions()
    date_formats: tuple[str, ...] = ("iso",)
    id_namespace: str = "healthtwin"
    accept_equivalence: frozenset[Equivalence] = DEFAULT_ACCEPTED
    units: dict[str, str] = {}
    extra_vitals: dict[str, ExtraVital] = {}
    concept_maps: dict[str, ConceptMap] = {}
    columns: dict[str, ColumnSpec] = Field(min_length=1)

    _zone_is_known = field_validator("timezone")(_check_zone)
    _as_tuple = field_validator("date_formats", mode="before")(_tuple_of_str)

    @field_validator("units")
    @classmethod
    def _aliases_are_ucum(cls, units: dict[str, str]) -> dict[str, str]:
        for code in units.values():
            _check_unit(code)
        return units

    @model_validator(mode="after")
    def _consistent(self) -> MappingSpec:
        issues = spec_issues(self)
        if issues:
            raise MappingIssuesError(issues)
        return self

    def columns_of(self, element: str) -> tuple[str, ...]:
        """The names of the columns that fill ``element`` (a FHIR path), in order."""
        return tuple(name for name, col in self.columns.items() if col.element == element)

    def resolve_vital(self, name_or_code: str) -> Vital:
        """The vital a column or a mapped code means: ``extra_vitals`` first, then VITALS.

        Raises
        ------
        UnknownModelError
            If neither knows it (the message lists the names).
        """
        for name, extra in self.extra_vitals.items():
            if name_or_code in (name, extra.code):
                return Vital(
                    name, extra.code, extra.display, extra.unit, extra.category, extra.plausible
                )
        found = VITALS.get(name_or_code) or VITALS_BY_CODE.get(name_or_code)
        if found is None:
            names = [*VITALS, *self.extra_vitals]
            raise UnknownModelError(
                f"unknown vital {name_or_code!r}; use one of {', '.join(names)}, their LOINC "
                "codes, or declare it under extra_vitals"
            )
        return found

    def molar_mass(self, vital: Vital, override: float | None = None) -> float | None:
        """The molar mass converting this vital between mass and substance units, if any."""
        if override is not None:
            return override
        for name, extra in self.extra_vitals.items():
            if vital.name == name and extra.molar_mass_g_per_mol is not None:
                return extra.molar_mass_g_per_mol
        return GLUCOSE_MOLAR_MASS if vital.code in GLUCOSE_CODES else None
