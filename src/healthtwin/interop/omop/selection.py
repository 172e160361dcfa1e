"""Which patients and records an export writes: check everything first, then decide.

All issues of the whole input are collected before anything is written. With
``strict=True`` any error stops the export (nothing written); with ``strict=False`` the
offending records (or, for patient-level errors, whole patients) are left out and listed in
the report. Records whose status is ``entered-in-error`` are always left out (reported as
information): they are not clinical facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.omop.checks import SKIPPED_STATUS, check_patient, path_of, record_issues
from healthtwin.interop.records import (
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationRecord,
    PatientData,
)

__all__ = ["Selection", "select_patients"]

R = TypeVar("R", ObservationRecord, ConditionRecord, MedicationRecord, EncounterRecord)


@dataclass(frozen=True)
class Selection:
    """The patients to write (records filtered) and what was left out."""

    patients: tuple[PatientData, ...]
    skipped: tuple[ValidationIssue, ...]


def select_patients(patients: Iterable[PatientData], *, strict: bool = True) -> Selection:
    """Check every patient and record; keep the valid ones, in order of patient id.

    Raises
    ------
    ResourceValidationError
        With ``strict=True``, if any record or patient breaks a rule (all issues listed).
    TypeError
        If an element of ``patients`` is not a :class:`PatientData`.

    Examples
    --------
    >>> from healthtwin.interop.records import PatientRecord
    >>> kept = select_patients([PatientData(patient=PatientRecord(id="p1"))], strict=False)
    >>> kept.patients, [issue.path for issue in kept.skipped]
    ((), ['Patient/p1.birthDate'])
    """
    errors: list[ValidationIssue] = []
    skipped: list[ValidationIssue] = []
    kept: list[PatientData] = []
    seen_patients: set[str] = set()
    seen_records: set[str] = set()
    for data in sorted(_patient_data(patients), key=lambda d: d.patient.id):
        issues = check_patient(data)
        if data.patient.id in seen_patients:
            issues.append(_duplicate(f"Patient/{data.patient.id}"))
        seen_patients.add(data.patient.id)
        if issues:
            errors += issues
            continue
        chosen, record_errors, informational = _records(data, seen_records)
        errors += record_errors
        skipped += informational
        kept.append(chosen)
    if errors and strict:
        raise ResourceValidationError(_message(errors), tuple(errors))
    return Selection(tuple(kept), tuple(skipped + errors))


def _patient_data(patients: Iterable[PatientData]) -> list[PatientData]:
    items = list(patients)
    wrong = [type(p).__name__ for p in items if not isinstance(p, PatientData)]
    if wrong:
        raise TypeError(
            f"export_omop takes PatientData records, got {', '.join(sorted(set(wrong)))}; map "
            "resources to records first (healthtwin.interop)"
        )
    return items


def _records(
    data: PatientData, seen: set[str]
) -> tuple[PatientData, list[ValidationIssue], list[ValidationIssue]]:
    errors: list[ValidationIssue] = []
    informational: list[ValidationIssue] = []

    def keep(records: Sequence[R], context: PatientData) -> list[R]:
        chosen = []
        for record in records:
            path = path_of(record)
            if getattr(record, "status", None) == SKIPPED_STATUS:
                informational.append(
                    ValidationIssue(
                        path,
                        f"{path} is {SKIPPED_STATUS}; it is not a clinical fact and is not "
                        "written to OMOP",
                        "informational",
                        "information",
                    )
                )
                continue
            issues = record_issues(context, record)
            if path in seen:
                issues.append(_duplicate(path))
            seen.add(path)
            errors.extend(issues)
            if not issues:
                chosen.append(record)
        return chosen

    # Encounters first: a record pointing at an encounter left out would lose its link.
    encounters = tuple(keep(data.encounters, data))
    context = replace(data, encounters=encounters)
    chosen = replace(
        context,
        observations=tuple(keep(data.observations, context)),
        conditions=tuple(keep(data.conditions, context)),
        medications=tuple(keep(data.medications, context)),
    )
    return chosen, errors, informational


def _duplicate(path: str) -> ValidationIssue:
    return ValidationIssue(
        path,
        f"{path} appears more than once in the export; each record id must be unique per "
        "resource type: drop or rename the duplicate",
        "duplicate",
    )


def _message(errors: list[ValidationIssue]) -> str:
    shown = "; ".join(f"{e.path}: {e.message}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return (
        f"{len(errors)} problem(s) keep records out of OMOP, so nothing was written: {shown}"
        f"{more}. Fix them, or export with strict=False to leave them out (they are listed "
        "in the report)"
    )
