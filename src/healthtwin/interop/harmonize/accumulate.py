"""Patients assembled from many rows: the first value of a field wins, conflicts are told.

A wide export repeats demographics on every visit row and a diagnosis on every row that
lists it; a long export repeats them on every observation. Each patient collects its
fields once; a later row with a different value is a conflict for the caller to report,
never a silent overwrite. Records with the same id (same patient, code and time) are
kept once; two different values for the same id are a conflict too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from healthtwin.interop.records import (
    ConditionRecord,
    Identifier,
    MedicationRecord,
    ObservationRecord,
    PatientData,
    PatientRecord,
)

__all__ = ["PatientAccumulator", "PatientsBuilder"]

#: FHIR element -> PatientRecord field.
_FIELDS = {
    "Patient.name.family": "family",
    "Patient.name.given": "given",
    "Patient.birthDate": "birth_date",
    "Patient.gender": "gender",
    "Patient.address.country": "country",
}


class PatientAccumulator:
    """What the rows so far say about one patient."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self._fields: dict[str, Any] = {}
        self._identifiers: dict[tuple[str | None, str], Identifier] = {}
        self._observations: dict[str, ObservationRecord] = {}
        self._conditions: dict[str, ConditionRecord] = {}
        self._medications: dict[str, MedicationRecord] = {}

    def add_identifier(self, identifier: Identifier) -> None:
        """Keep a business identifier (once per system and value)."""
        self._identifiers.setdefault((identifier.system, identifier.value), identifier)

    def set_field(self, element: str, value: object) -> str | None:
        """Set a demographic element; a message if an earlier row gave another value."""
        field = _FIELDS[element]
        earlier = self._fields.setdefault(field, value)
        if earlier != value:
            return (
                f"{element} of patient {self.patient_id} is {value!r} here but {earlier!r} in "
                "an earlier row; the earlier value is kept"
            )
        return None

    def add_observation(self, record: ObservationRecord) -> str | None:
        """Keep an observation; a message if its id already holds a different one."""
        earlier = self._observations.setdefault(record.id, record)
        if earlier != record:
            return (
                f"{record.code.code} of patient {self.patient_id} at "
                f"{record.effective.isoformat()} is {record.value} {record.unit} here but "
                f"{earlier.value} {earlier.unit} in an earlier row; the earlier value is kept"
            )
        return None

    def add_condition(self, record: ConditionRecord) -> None:
        """Keep a condition once, with the earliest onset any row gave."""
        earlier = self._conditions.get(record.id)
        if earlier is None:
            self._conditions[record.id] = record
        elif record.onset is not None and (earlier.onset is None or record.onset < earlier.onset):
            self._conditions[record.id] = replace(earlier, onset=record.onset)

    def add_medication(self, record: MedicationRecord) -> str | None:
        """Keep a medication; a message if its id already holds a different one."""
        earlier = self._medications.setdefault(record.id, record)
        if earlier != record:
            return (
                f"{record.medication.code} for patient {self.patient_id} at "
                f"{record.start.isoformat()} differs from an earlier row; the earlier is kept"
            )
        return None

    def build(self) -> PatientData:
        """The patient and its records, in time (then code) order."""
        patient = PatientRecord(
            id=self.patient_id, identifiers=tuple(self._identifiers.values()), **self._fields
        )
        return PatientData(
            patient=patient,
            observations=tuple(
                sorted(self._observations.values(), key=lambda o: (o.effective, o.code.code))
            ),
            conditions=tuple(
                sorted(self._conditions.values(), key=lambda c: (c.code.system, c.code.code))
            ),
            medications=tuple(
                sorted(self._medications.values(), key=lambda m: (m.start, m.medication.code))
            ),
        )


class PatientsBuilder:
    """All patients of one source, by id."""

    def __init__(self) -> None:
        self._patients: dict[str, PatientAccumulator] = {}

    def patient(self, patient_id: str) -> PatientAccumulator:
        """The accumulator of ``patient_id`` (created on first use)."""
        if patient_id not in self._patients:
            self._patients[patient_id] = PatientAccumulator(patient_id)
        return self._patients[patient_id]

    def build(self) -> tuple[PatientData, ...]:
        """Every patient, sorted by id."""
        return tuple(self._patients[key].build() for key in sorted(self._patients))
