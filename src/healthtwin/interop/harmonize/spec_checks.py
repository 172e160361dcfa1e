"""Cross-field checks of a mapping, each problem reported at its YAML path.

Pydantic checks each field on its own (a unit parses, a time zone exists); these checks
need the whole mapping: the layout decides which columns must exist, a column's unit must
convert to its vital's unit, a concept map a column names must be defined, and the codes
a long-layout map produces must be vitals the mapping knows.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from healthtwin.errors import UnknownModelError, ValidationIssue
from healthtwin.interop import ucum
from healthtwin.interop.harmonize.concept_map import normalize_label
from healthtwin.interop.harmonize.elements import (
    CODE,
    CODED_ELEMENTS,
    CONDITION,
    DATE_ELEMENTS,
    DOSE,
    GENDERS,
    MEDICATION,
    ONSET,
    PATIENT_ID,
    TIME,
    TRANSLATED_ELEMENTS,
    UNIT,
    VALUE,
    yaml_path,
)

if TYPE_CHECKING:
    from healthtwin.interop.harmonize.mapping_spec import ColumnSpec, MappingSpec

__all__ = ["spec_issues"]


def _issue(message: str, *location: str | int) -> ValidationIssue:
    return ValidationIssue(yaml_path(location), message, code="value")


def spec_issues(spec: MappingSpec) -> tuple[ValidationIssue, ...]:
    """Every cross-field problem of ``spec`` (an empty tuple when it is consistent)."""
    issues = list(_layout_issues(spec))
    for name, column in spec.columns.items():
        issues.extend(_column_issues(spec, name, column))
    issues.extend(_concept_map_issues(spec))
    return tuple(issues)


def _layout_issues(spec: MappingSpec) -> list[ValidationIssue]:
    counts = Counter(column.element for column in spec.columns.values())
    issues = [
        _issue(f"{count} columns fill {element}; only one may", "columns")
        for element, count in counts.items()
        if count > 1 and not (element == VALUE and spec.layout == "wide")
    ]
    if counts[PATIENT_ID] == 0:
        issues.append(_issue("no column fills Patient.id; every row needs its patient", "columns"))
    if (counts[VALUE] or counts[MEDICATION]) and not counts[TIME]:
        issues.append(_issue(f"values need a time: map a column to {TIME}", "columns"))
    if counts[DOSE] and not counts[MEDICATION]:
        issues.append(_issue(f"a dose column needs a {MEDICATION} column", "columns"))
    if counts[ONSET] and not counts[CONDITION]:
        issues.append(_issue(f"an onset column needs a {CONDITION} column", "columns"))
    if spec.layout == "wide":
        issues.extend(
            _issue(f"{element} is for the long layout; wide columns each name a vital", "columns")
            for element in (CODE, UNIT)
            if counts[element]
        )
    elif not (counts[CODE] and counts[VALUE]):
        issues.append(
            _issue(f"the long layout needs a {CODE} column and a {VALUE} column", "columns")
        )
    return issues


def _column_issues(spec: MappingSpec, name: str, column: ColumnSpec) -> list[ValidationIssue]:
    element = column.element
    misplaced = {
        "date_format": element in DATE_ELEMENTS,
        "timezone": element in DATE_ELEMENTS,
        "unit": element in (VALUE, DOSE),
        "standard_unit": element == DOSE,
        "molar_mass_g_per_mol": element == VALUE,
        "vital": element == VALUE and spec.layout == "wide",
        "values": element in TRANSLATED_ELEMENTS,
        "concept_map": element in CODED_ELEMENTS,
        "system": element == "Patient.identifier.value",
    }
    issues = [
        _issue(f"{element} columns take no {field!r}", "columns", name, field)
        for field, allowed in misplaced.items()
        if getattr(column, field) is not None and not allowed
    ]
    if element in CODED_ELEMENTS:
        issues.extend(_concept_map_reference(spec, name, column))
    if element == VALUE and spec.layout == "wide":
        issues.extend(_wide_value_issues(spec, name, column))
    long_without_unit = spec.layout == "long" and not spec.columns_of(UNIT)
    if element == VALUE and long_without_unit and column.unit is None:
        issues.append(
            _issue(
                f"no {UNIT} column, so this value column needs a 'unit'", "columns", name, "unit"
            )
        )
    if element == DOSE:
        issues.extend(_dose_issues(name, column))
    if column.values is not None:
        issues.extend(_value_set_issues(name, element, column.values))
    return issues


def _concept_map_reference(
    spec: MappingSpec, name: str, column: ColumnSpec
) -> list[ValidationIssue]:
    if column.concept_map is None:
        return [_issue("a coded column needs a 'concept_map'", "columns", name, "concept_map")]
    if column.concept_map not in spec.concept_maps:
        known = ", ".join(spec.concept_maps) or "(none defined)"
        return [
            _issue(
                f"unknown concept map {column.concept_map!r}; defined: {known}",
                "columns",
                name,
                "concept_map",
            )
        ]
    return []


def _wide_value_issues(spec: MappingSpec, name: str, column: ColumnSpec) -> list[ValidationIssue]:
    if column.vital is None or column.unit is None:
        return [
            _issue(
                "a wide-layout value column needs 'vital' (what it measures) and 'unit' "
                "(the UCUM unit of its numbers)",
                "columns",
                name,
            )
        ]
    try:
        vital = spec.resolve_vital(column.vital)
    except UnknownModelError as err:
        return [_issue(str(err), "columns", name, "vital")]
    molar_mass = spec.molar_mass(vital, column.molar_mass_g_per_mol)
    if not ucum.commensurable(column.unit, vital.unit, molar_mass_g_per_mol=molar_mass):
        return [
            _issue(
                f"unit {column.unit!r} ({ucum.parse(column.unit).kind}) cannot be converted "
                f"to {vital.unit!r}, the unit of {vital.name}; check the unit or the vital",
                "columns",
                name,
                "unit",
            )
        ]
    return []


def _dose_issues(name: str, column: ColumnSpec) -> list[ValidationIssue]:
    if column.unit is None:
        return [_issue("a dose column needs a 'unit'", "columns", name, "unit")]
    if column.standard_unit is not None and not ucum.commensurable(
        column.unit, column.standard_unit
    ):
        return [
            _issue(
                f"dose unit {column.unit!r} cannot be converted to {column.standard_unit!r}",
                "columns",
                name,
                "standard_unit",
            )
        ]
    return []


def _value_set_issues(name: str, element: str, values: dict[str, str]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    seen: dict[str, str] = {}
    for local, standard in values.items():
        if element == "Patient.gender" and standard not in GENDERS:
            issues.append(
                _issue(
                    f"{standard!r} is not a FHIR gender; use one of {', '.join(sorted(GENDERS))}",
                    "columns",
                    name,
                    "values",
                    local,
                )
            )
        if element == "Patient.address.country" and not (
            len(standard) == 2 and standard.isalpha() and standard.isupper()
        ):
            issues.append(
                _issue(
                    f"{standard!r} is not an ISO 3166-1 alpha-2 code such as 'DE'",
                    "columns",
                    name,
                    "values",
                    local,
                )
            )
        key = normalize_label(local)
        if key in seen and seen[key] != standard:
            issues.append(
                _issue(
                    f"{local!r} and an earlier label differ only in case or spacing but map "
                    "to different values",
                    "columns",
                    name,
                    "values",
                    local,
                )
            )
        seen[key] = standard
    return issues


def _concept_map_issues(spec: MappingSpec) -> list[ValidationIssue]:
    """The codes a long-layout observation map produces must be known vitals."""
    issues: list[ValidationIssue] = []
    for column_name in spec.columns_of(CODE):
        map_name = spec.columns[column_name].concept_map
        if map_name is None or map_name not in spec.concept_maps:
            continue
        for g, group in enumerate(spec.concept_maps[map_name].group):
            for e, element in enumerate(group.element):
                for t, target in enumerate(element.target):
                    if target.code is None or target.equivalence not in spec.accept_equivalence:
                        continue
                    try:
                        spec.resolve_vital(target.code)
                    except UnknownModelError as err:
                        where = ("concept_maps", map_name, "group", g, "element", e, "target", t)
                        issues.append(_issue(str(err), *where, "code"))
    return issues
