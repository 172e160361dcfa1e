"""What a record must satisfy before it can become an OMOP row, as a list of issues.

Every broken rule is reported with the FHIR-style path of the field (``Observation/o1.unit``)
so that one pass lists all problems of a data set. The rules come from the CDM 5.4 table
definitions (required dates, 50-character source values) and from ours (a vital sign keeps
the UCUM unit of its LOINC code: a value in another unit is a job for the unit
conversion of :mod:`healthtwin.interop.ucum`, never a silent rewrite here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from healthtwin.errors import ValidationIssue
from healthtwin.interop.codes import LOINC, VITALS_BY_CODE
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationRecord,
    PatientData,
)

__all__ = ["SKIPPED_STATUS", "SOURCE_VALUE_LENGTH", "check_patient", "record_issues"]

#: Width of the CDM ``*_source_value`` columns.
SOURCE_VALUE_LENGTH = 50
#: Records with this status are not clinical facts: OMOP ETLs leave them out.
SKIPPED_STATUS = "entered-in-error"

Record = ObservationRecord | ConditionRecord | MedicationRecord | EncounterRecord
_RESOURCE = {
    ObservationRecord: "Observation",
    ConditionRecord: "Condition",
    EncounterRecord: "Encounter",
}


def path_of(record: Record) -> str:
    """The FHIR-style reference of ``record`` (``MedicationAdministration/m1``)."""
    if isinstance(record, MedicationRecord):
        kind = "MedicationRequest" if record.kind == "request" else "MedicationAdministration"
        return f"{kind}/{record.id}"
    return f"{_RESOURCE[type(record)]}/{record.id}"


def check_patient(data: PatientData) -> list[ValidationIssue]:
    """Issues that keep the whole patient out of OMOP (no year of birth, long values)."""
    patient, where = data.patient, f"Patient/{data.patient.id}"
    issues = []
    if patient.birth_date is None:
        issues.append(
            ValidationIssue(
                f"{where}.birthDate",
                f"patient {patient.id!r} has no birth date; OMOP person.year_of_birth is "
                "required: add the birth date (at least the year) or leave the patient out",
                "required",
            )
        )
    issues += _long_values(
        where,
        {
            "gender": patient.gender,
            "address.country": patient.country,
            "managingOrganization": patient.managing_organization_id,
        },
    )
    return issues


def record_issues(data: PatientData, record: Record) -> list[ValidationIssue]:
    """Every rule ``record`` (of patient ``data``) breaks; empty when it can be written."""
    where = path_of(record)
    issues = list(_references(data, record, where))
    if isinstance(record, ObservationRecord):
        issues += _observation(record, where)
    elif isinstance(record, ConditionRecord):
        issues += _required(record.onset, f"{where}.onset", "condition_start_date")
        issues += _ordered(record.onset, record.abatement, f"{where}.abatement")
        issues += _long_values(where, {"clinicalStatus": record.clinical_status})
    elif isinstance(record, MedicationRecord):
        issues += _ordered(record.start, record.end, f"{where}.effective.end")
        issues += _finite({"dose": record.dose, "rate": record.rate}, where)
        issues += _long_values(
            where,
            {
                "dose.unit": record.dose_unit,
                "route": None if record.route is None else record.route.code,
            },
        )
    else:
        issues += _required(record.start, f"{where}.period.start", "visit_start_date")
        issues += _ordered(record.start, record.end, f"{where}.period.end")
        issues += _long_values(
            where, {"class": record.class_code, "serviceProvider": record.organization_id}
        )
    return issues


def _references(data: PatientData, record: Record, where: str) -> Iterator[ValidationIssue]:
    if record.patient_id != data.patient.id:
        yield ValidationIssue(
            f"{where}.subject",
            f"{where} points at patient {record.patient_id!r}, which is not the patient it is "
            f"filed under ({data.patient.id!r}); put each record in the PatientData of its "
            "own patient",
            "not-found",
        )
    encounters = {e.id for e in data.encounters}
    encounter_id = None if isinstance(record, EncounterRecord) else record.encounter_id
    if encounter_id is not None and encounter_id not in encounters:
        yield ValidationIssue(
            f"{where}.encounter",
            f"{where} points at encounter {encounter_id!r}, which is not among the written "
            f"encounters of patient {data.patient.id!r}; add (or fix) the encounter or drop "
            "the reference",
            "not-found",
        )


def _observation(record: ObservationRecord, where: str) -> Iterator[ValidationIssue]:
    yield from _finite({"value": record.value}, where)
    yield from _unit(record.code, record.value, record.unit, f"{where}.valueQuantity")
    for i, part in enumerate(record.components):
        yield from _finite({f"component[{i}].value": part.value}, where)
        yield from _unit(part.code, part.value, part.unit, f"{where}.component[{i}]")
    yield from _long_values(where, {"valueQuantity.unit": record.unit})


def _unit(
    code: Coding, value: float | None, unit: str | None, where: str
) -> Iterator[ValidationIssue]:
    vital = VITALS_BY_CODE.get(code.code) if code.system == LOINC else None
    if vital is None or (value is None and unit is None) or unit == vital.unit:
        return
    yield ValidationIssue(
        f"{where}.unit",
        f"LOINC {code.code} ({vital.display}) is measured in {vital.unit!r}, got unit "
        f"{unit!r}; convert the value to {vital.unit!r} before the OMOP export "
        "(healthtwin.interop.ucum.convert, or the source's harmonisation mapping)",
        "value",
    )


def _finite(values: dict[str, float | None], where: str) -> Iterator[ValidationIssue]:
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            yield ValidationIssue(
                f"{where}.{name}",
                f"{where}.{name} is {value!r}; OMOP numbers must be finite: drop the value or "
                "record it as missing",
                "value",
            )


def _required(value: datetime | None, where: str, column: str) -> Iterator[ValidationIssue]:
    if value is None:
        yield ValidationIssue(
            where, f"{where} is missing; OMOP {column} is required: give the time", "required"
        )


def _ordered(start: datetime | None, end: datetime | None, where: str) -> Iterator[ValidationIssue]:
    if start is not None and end is not None and end < start:
        yield ValidationIssue(
            where,
            f"{where} ({end.isoformat()}) is before the start ({start.isoformat()}); "
            "swap or correct the times",
            "value",
        )


def _long_values(where: str, values: dict[str, str | None]) -> Iterable[ValidationIssue]:
    return [
        ValidationIssue(
            f"{where}.{name}",
            f"{where}.{name} {value[:60]!r}... has {len(value)} characters; the OMOP source "
            f"value column holds {SOURCE_VALUE_LENGTH}: shorten or recode it",
            "value",
        )
        for name, value in values.items()
        if value is not None and len(value) > SOURCE_VALUE_LENGTH
    ]
