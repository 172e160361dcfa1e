"""OMOP CDM rows -> records: the inverse of :mod:`~healthtwin.interop.omop.rows`.

With the lineage table (rows healthtwin wrote) records come back with their ids, code
systems and panels. Without it (any other OMOP database) every row becomes one record:
ids are ``<table>-<id>``, codes come from the concept ids (or, for concept 0, from the
source value under :data:`~healthtwin.interop.omop.vocabulary.UNMAPPED_SYSTEM`).

What OMOP does not hold comes back at the record defaults: observation ``status``
``"final"``, medication ``status`` ``"completed"``, encounter ``status`` ``"finished"``,
no encounter locations, no patient names or identifiers, and displays taken from the
concept names (None for unmapped codes). An observation's category is restored for the
vital signs of :mod:`healthtwin.interop.codes`. A person with only a year of birth gets no
``birth_date``; the year is kept in ``PatientData.extra["year_of_birth"]``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import cast

from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.codes import LOINC, VITALS_BY_CODE
from healthtwin.interop.omop.tables import SOURCE_RECORD
from healthtwin.interop.omop.vocabulary import (
    GENDER_CONCEPTS,
    SYNTHETIC_PRESCRIPTION_TYPE,
    SYNTHETIC_SOURCE_PREFIX,
    TYPE_EHR_PRESCRIPTION,
    UNMAPPED_SYSTEM,
    VISIT_CONCEPTS,
    OmopVocabulary,
)
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientData,
    PatientRecord,
)

__all__ = ["OMOP_CONCEPT_SYSTEM", "records_from_rows"]

#: System of a coding that is only an OMOP concept id (as the HL7 FHIR-to-OMOP IG names it).
OMOP_CONCEPT_SYSTEM = "https://fhir-terminology.ohdsi.org"
Row = Mapping[str, object]
_GENDERS = ("male", "female", "other", "unknown")
_SIG = re.compile(r"rate (\S+)(?: (.+))?", re.DOTALL)
_CLASS_BY_VISIT = {concept: code for code, concept in VISIT_CONCEPTS.items()}
_GENDER_BY_CONCEPT = {concept: code for code, concept in GENDER_CONCEPTS.items()}


def _int(value: object) -> int | None:
    return None if value is None else int(cast(int, value))


def _float(value: object) -> float | None:
    return None if value is None else float(cast(float | Decimal, value))


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _utc(moment: object, day: object) -> datetime | None:
    """A stored time (naive UTC) made aware; a bare date becomes midnight UTC."""
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC)
    if isinstance(day, date):
        return datetime.combine(day, time(), tzinfo=UTC)
    return None


def _end(moment: object, day: object, start: object) -> datetime | None:
    """An end time; a bare end date equal to the start date means "no end" (CDM fill-in)."""
    if isinstance(moment, datetime) or (isinstance(day, date) and day != start):
        return _utc(moment, day)
    return None


#: Type Concepts of a drug ordered (an EHR's, and synthetic records').
_PRESCRIPTION_TYPES = (TYPE_EHR_PRESCRIPTION, SYNTHETIC_PRESCRIPTION_TYPE)


class _Reader:
    def __init__(self, tables: Mapping[str, Sequence[Row]], vocabulary: OmopVocabulary) -> None:
        self.tables = tables
        self.vocabulary = vocabulary
        self.lineage = {
            (str(r["cdm_table"]), int(cast(int, r["cdm_id"]))): r
            for r in tables.get(SOURCE_RECORD, ())
        }
        self.issues: list[ValidationIssue] = []
        self.visits: dict[int, str] = {}

    def record_id(self, table: str, key: int) -> str:
        found = self.lineage.get((table, key))
        return str(found["record_id"]) if found else f"{table}-{key}"

    def coding(self, table: str, key: int, concept_id: object, source: object) -> Coding:
        found = self.lineage.get((table, key))
        if found and found["code_system"] and found["code"]:
            system, code = str(found["code_system"]), str(found["code"])
            concept = self.vocabulary.lookup(system, code)
            return Coding(system=system, code=code, display=concept.name if concept else None)
        known = self.vocabulary.coding(_int(concept_id))
        if known is not None:
            return known
        if source:
            code = str(source).removeprefix(SYNTHETIC_SOURCE_PREFIX)
            return Coding(system=UNMAPPED_SYSTEM, code=code)
        return Coding(system=OMOP_CONCEPT_SYSTEM, code=str(_int(concept_id) or 0))

    def encounter_of(self, row: Row, where: str) -> str | None:
        visit = _int(row.get("visit_occurrence_id"))
        if visit is None:
            return None
        if visit not in self.visits:
            self.issues.append(
                ValidationIssue(
                    f"{where}.visit_occurrence_id",
                    f"{where} points at visit_occurrence {visit}, which is not in the "
                    "database; load the visit or clear the reference",
                    "not-found",
                )
            )
            return None
        return self.visits[visit]

    def person(self, row: Row, sites: Mapping[str, Mapping[int, str]]) -> PatientRecord:
        key = int(cast(int, row["person_id"]))
        year, month, day = (_int(row.get(f"{p}_of_birth")) for p in ("year", "month", "day"))
        gender = _str(row.get("gender_source_value"))
        if gender not in _GENDERS:
            gender = _GENDER_BY_CONCEPT.get(_int(row.get("gender_concept_id")) or 0)
        found = self.lineage.get(("person", key))
        source = _str(row.get("person_source_value"))
        patient_id = str(found["record_id"]) if found else source or f"person-{key}"
        return PatientRecord(
            id=patient_id,
            birth_date=date(year, month, day) if year and month and day else None,
            gender=gender,  # type: ignore[arg-type]  # checked against _GENDERS above
            country=sites["location"].get(_int(row.get("location_id")) or 0),
            managing_organization_id=sites["care_site"].get(_int(row.get("care_site_id")) or 0),
        )

    def encounter(self, row: Row, patient_id: str, sites: Mapping[int, str]) -> EncounterRecord:
        key = int(cast(int, row["visit_occurrence_id"]))
        start = row.get("visit_start_date")
        class_code = _str(row.get("visit_source_value"))
        if class_code is not None:
            class_code = class_code.removeprefix(SYNTHETIC_SOURCE_PREFIX)
        if class_code is None:
            class_code = _CLASS_BY_VISIT.get(_int(row.get("visit_concept_id")) or 0, "UNK")
        record = EncounterRecord(
            id=self.record_id("visit_occurrence", key),
            patient_id=patient_id,
            status="finished",
            class_code=class_code,
            start=_utc(row.get("visit_start_datetime"), start),
            end=_end(row.get("visit_end_datetime"), row.get("visit_end_date"), start),
            organization_id=sites.get(_int(row.get("care_site_id")) or 0),
        )
        self.visits[key] = record.id
        return record

    def condition(self, row: Row, patient_id: str) -> ConditionRecord:
        key = int(cast(int, row["condition_occurrence_id"]))
        return ConditionRecord(
            id=self.record_id("condition_occurrence", key),
            patient_id=patient_id,
            code=self.coding(
                "condition_occurrence",
                key,
                row.get("condition_concept_id"),
                row.get("condition_source_value"),
            ),
            clinical_status=_str(row.get("condition_status_source_value")) or "active",
            onset=_utc(row.get("condition_start_datetime"), row.get("condition_start_date")),
            abatement=_utc(row.get("condition_end_datetime"), row.get("condition_end_date")),
            encounter_id=self.encounter_of(row, f"condition_occurrence {key}"),
        )

    def medication(self, row: Row, patient_id: str) -> MedicationRecord:
        key = int(cast(int, row["drug_exposure_id"]))
        start = row.get("drug_exposure_start_date")
        begun = _utc(row.get("drug_exposure_start_datetime"), start)
        assert begun is not None  # drug_exposure_start_date is NOT NULL in the CDM
        rate, rate_unit = self.rate(row.get("sig"))
        return MedicationRecord(
            id=self.record_id("drug_exposure", key),
            patient_id=patient_id,
            kind="request"
            if row.get("drug_type_concept_id") in _PRESCRIPTION_TYPES
            else "administration",
            medication=self.coding(
                "drug_exposure", key, row.get("drug_concept_id"), row.get("drug_source_value")
            ),
            start=begun,
            end=_end(
                row.get("drug_exposure_end_datetime"), row.get("drug_exposure_end_date"), start
            ),
            dose=_float(row.get("quantity")),
            dose_unit=_str(row.get("dose_unit_source_value")),
            rate=rate,
            rate_unit=rate_unit,
            route=self.route(key, row),
            encounter_id=self.encounter_of(row, f"drug_exposure {key}"),
        )

    @staticmethod
    def rate(sig: object) -> tuple[float | None, str | None]:
        matched = _SIG.fullmatch(str(sig)) if sig is not None else None
        if matched is None:
            return None, None
        try:
            return float(matched[1]), matched[2]
        except ValueError:
            return None, None

    def route(self, key: int, row: Row) -> Coding | None:
        code = _str(row.get("route_source_value"))
        found = self.lineage.get(("drug_exposure", key))
        if code is None:
            return self.vocabulary.coding(_int(row.get("route_concept_id")))
        system = _str(found["route_system"]) if found else None
        return Coding(system=system or UNMAPPED_SYSTEM, code=code)

    def observations(self, rows: Sequence[Row], patient_id: str) -> list[ObservationRecord]:
        groups: dict[str, list[Row]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: int(cast(int, r["measurement_id"]))):
            groups[self.record_id("measurement", int(cast(int, row["measurement_id"])))].append(row)
        return [
            self.observation(record_id, group, patient_id) for record_id, group in groups.items()
        ]

    def observation(self, record_id: str, rows: list[Row], patient_id: str) -> ObservationRecord:
        main: tuple[Coding, float | None, str | None] | None = None
        parts: list[ObservationComponent] = []
        panel: Coding | None = None
        for row in rows:
            key = int(cast(int, row["measurement_id"]))
            found = self.lineage.get(("measurement", key))
            code = self.coding(
                "measurement",
                key,
                row.get("measurement_concept_id"),
                row.get("measurement_source_value"),
            )
            value, unit = _float(row.get("value_as_number")), self.unit(row)
            if found and found["panel_code"]:
                system, panel_code = str(found["panel_system"]), str(found["panel_code"])
                concept = self.vocabulary.lookup(system, panel_code)
                panel = Coding(
                    system=system, code=panel_code, display=concept.name if concept else None
                )
                parts.append(ObservationComponent(code=code, value=value, unit=unit))
            else:
                main = (code, value, unit)
        first = rows[0]
        if main is None:
            assert panel is not None  # a group has a main row or component rows with a panel
            main = (panel, None, None)
        vital = VITALS_BY_CODE.get(main[0].code) if main[0].system == LOINC else None
        return ObservationRecord(
            id=record_id,
            patient_id=patient_id,
            code=main[0],
            effective=cast(
                datetime, _utc(first.get("measurement_datetime"), first.get("measurement_date"))
            ),
            value=main[1],
            unit=main[2],
            category=None if vital is None else vital.category,
            encounter_id=self.encounter_of(first, f"measurement {first['measurement_id']}"),
            components=tuple(parts),
        )

    def unit(self, row: Row) -> str | None:
        text = _str(row.get("unit_source_value"))
        if text is not None:
            return text
        known = self.vocabulary.coding(_int(row.get("unit_concept_id")))
        return None if known is None else known.code


def records_from_rows(
    tables: Mapping[str, Sequence[Row]], vocabulary: OmopVocabulary
) -> list[PatientData]:
    """Rebuild one :class:`PatientData` per ``person`` row, in order of ``person_id``.

    Raises
    ------
    ResourceValidationError
        If a row points at a person or visit that is not there (every such row listed).

    Examples
    --------
    >>> from healthtwin.interop.omop.vocabulary import load_vocabulary
    >>> person = {"person_id": 7, "gender_concept_id": 8507, "year_of_birth": 1950,
    ...           "month_of_birth": 2, "day_of_birth": 1, "person_source_value": "MRN-1"}
    >>> [data] = records_from_rows({"person": [person]}, load_vocabulary())
    >>> data.patient.id, data.patient.gender, data.patient.birth_date.isoformat()
    ('MRN-1', 'male', '1950-02-01')
    """
    reader = _Reader(tables, vocabulary)
    sites = {
        table: {
            int(cast(int, r[f"{table}_id"])): str(r[column])
            for r in tables.get(table, ())
            if r.get(column) is not None
        }
        for table, column in (
            ("location", "country_source_value"),
            ("care_site", "care_site_source_value"),
        )
    }
    persons = {int(cast(int, r["person_id"])): r for r in tables.get("person", ())}
    by_person: dict[str, dict[int, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for table in ("visit_occurrence", "condition_occurrence", "drug_exposure", "measurement"):
        for row in tables.get(table, ()):
            person = int(cast(int, row["person_id"]))
            if person not in persons:
                reader.issues.append(
                    ValidationIssue(
                        f"{table} {row[f'{table}_id']}.person_id",
                        f"{table} {row[f'{table}_id']} points at person {person}, which is "
                        "not in the person table; load the person or remove the row",
                        "not-found",
                    )
                )
                continue
            by_person[table][person].append(row)
    patients = []
    for key in sorted(persons):
        patient = reader.person(persons[key], sites)
        encounters = [
            reader.encounter(r, patient.id, sites["care_site"])
            for r in sorted(
                by_person["visit_occurrence"][key],
                key=lambda r: int(cast(int, r["visit_occurrence_id"])),
            )
        ]
        patients.append((key, patient, encounters))
    result = [
        _patient_data(reader, by_person, key, patient, encounters, persons[key])
        for key, patient, encounters in patients
    ]
    if reader.issues:
        raise ResourceValidationError(
            f"{len(reader.issues)} OMOP row(s) point at missing rows, so no records were "
            f"built: {reader.issues[0].message}",
            tuple(reader.issues),
        )
    return result


def _patient_data(
    reader: _Reader,
    by_person: Mapping[str, Mapping[int, list[Row]]],
    key: int,
    patient: PatientRecord,
    encounters: list[EncounterRecord],
    person: Row,
) -> PatientData:
    def ordered(table: str) -> list[Row]:
        return sorted(by_person[table][key], key=lambda r: int(cast(int, r[f"{table}_id"])))

    extra: dict[str, object] = {}
    if patient.birth_date is None and person.get("year_of_birth") is not None:
        extra["year_of_birth"] = _int(person.get("year_of_birth"))
    return PatientData(
        patient=patient,
        observations=tuple(reader.observations(ordered("measurement"), patient.id)),
        conditions=tuple(reader.condition(r, patient.id) for r in ordered("condition_occurrence")),
        medications=tuple(reader.medication(r, patient.id) for r in ordered("drug_exposure")),
        encounters=tuple(encounters),
        extra=extra,
    )
