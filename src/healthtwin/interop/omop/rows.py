"""Records -> OMOP CDM rows (plain dicts keyed by CDM column names), with ids and lineage.

Ids are deterministic: patients in order of their id, then each patient's records in order
of their id, numbered from the first free id of each table (1 in an empty database). Every
row also gets a lineage row (see :mod:`~healthtwin.interop.omop.tables`) holding the record
id and the code system. A blood-pressure panel becomes one measurement per component; its
lineage rows name the panel code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal

from healthtwin.interop.codes import ACT_CODE
from healthtwin.interop.omop.report import UnmappedCode
from healthtwin.interop.omop.tables import SOURCE_RECORD
from healthtwin.interop.omop.vocabulary import (
    GENDER_CONCEPTS,
    NO_MATCHING_CONCEPT,
    TYPE_EHR,
    TYPE_EHR_ADMINISTRATION,
    TYPE_EHR_PRESCRIPTION,
    VISIT_CONCEPTS,
    OmopVocabulary,
)
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationRecord,
    PatientData,
)

__all__ = ["GENDER_SYSTEM", "Row", "RowBuilder", "naive_utc", "rate_sig"]

Row = dict[str, object]
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
_SOURCE_VALUE_LENGTH = 50


def naive_utc(value: datetime) -> datetime:
    """``value`` (UTC, aware, as records hold it) without its zone, as OMOP stores times.

    Examples
    --------
    >>> from datetime import UTC
    >>> naive_utc(datetime(2024, 3, 1, 8, 30, tzinfo=UTC))
    datetime.datetime(2024, 3, 1, 8, 30)
    """
    return value.replace(tzinfo=None)


def rate_sig(rate: float, unit: str | None) -> str:
    """The ``drug_exposure.sig`` text for an infusion rate.

    Examples
    --------
    >>> rate_sig(2.5, "U/h"), rate_sig(0.1, None)
    ('rate 2.5 U/h', 'rate 0.1')
    """
    return f"rate {rate!r}" if unit is None else f"rate {rate!r} {unit}"


def _decimal(value: float | None) -> Decimal | None:
    # repr is the shortest text that reads back as the same float, so a NUMERIC column
    # (exact decimal) returns the value bit for bit.
    return None if value is None else Decimal(repr(value))


@dataclass
class RowBuilder:
    """Accumulates the rows of one export; call :meth:`add_patient` per patient."""

    vocabulary: OmopVocabulary
    next_id: dict[str, int] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)
    care_sites: dict[str, int] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    person_ids: dict[str, int] = field(default_factory=dict)
    _unmapped: Counter[tuple[str, str, str | None, str]] = field(default_factory=Counter)

    def unmapped(self) -> tuple[UnmappedCode, ...]:
        """The unmapped codes seen so far, most frequent first."""
        return tuple(
            UnmappedCode(table=t, column=c, system=s, code=code, count=n)
            for (t, c, s, code), n in self._unmapped.most_common()
        )

    def add_patient(self, data: PatientData) -> None:
        """Add the rows of one valid patient (records already filtered and checked)."""
        patient = data.patient
        person_id = self._new_id("person")
        self.person_ids[patient.id] = person_id
        self._emit("person", self._person(data, person_id), patient.id)
        visits = {}
        for encounter in sorted(data.encounters, key=lambda e: e.id):
            visits[encounter.id] = self._new_id("visit_occurrence")
            row = self._visit(encounter, person_id, visits[encounter.id])
            self._emit("visit_occurrence", row, encounter.id)
        for condition in sorted(data.conditions, key=lambda c: c.id):
            row = self._condition(condition, person_id, visits)
            self._emit("condition_occurrence", row, condition.id, condition.code)
        for medication in sorted(data.medications, key=lambda m: m.id):
            row = self._drug(medication, person_id, visits)
            route = None if medication.route is None else medication.route.system
            self._emit("drug_exposure", row, medication.id, medication.medication, route=route)
        for observation in sorted(data.observations, key=lambda o: o.id):
            self._measurements(observation, person_id, visits)
        self._period(data, person_id)

    def _new_id(self, table: str) -> int:
        value = self.next_id.get(table, 1)
        self.next_id[table] = value + 1
        return value

    def _emit(
        self,
        table: str,
        row: Row,
        record_id: str,
        code: Coding | None = None,
        *,
        panel: Coding | None = None,
        route: str | None = None,
    ) -> None:
        self.rows.setdefault(table, []).append(row)
        lineage: Row = {
            "cdm_table": table,
            "cdm_id": row[f"{table}_id"],
            "record_id": record_id,
            "code_system": None if code is None else code.system,
            "code": None if code is None else code.code,
            "panel_system": None if panel is None else panel.system,
            "panel_code": None if panel is None else panel.code,
            "route_system": route,
        }
        self.rows.setdefault(SOURCE_RECORD, []).append(lineage)

    def _concept(self, table: str, column: str, coding: Coding) -> int:
        concept_id = self.vocabulary.concept_id(coding)
        if concept_id == NO_MATCHING_CONCEPT:
            self._unmapped[(table, column, coding.system, coding.code)] += 1
        return concept_id

    def _fixed(
        self, table: str, column: str, table_map: Mapping[str, int], value: str | None, system: str
    ) -> int:
        if value is None:
            return NO_MATCHING_CONCEPT
        concept_id = table_map.get(value, NO_MATCHING_CONCEPT)
        if concept_id == NO_MATCHING_CONCEPT:
            self._unmapped[(table, column, system, value)] += 1
        return concept_id

    def _site(
        self, cache: dict[str, int], table: str, column: str, value: str | None
    ) -> int | None:
        if value is None:
            return None
        if value not in cache:
            cache[value] = self._new_id(table)
            self.rows.setdefault(table, []).append({f"{table}_id": cache[value], column: value})
        return cache[value]

    def _person(self, data: PatientData, person_id: int) -> Row:
        patient = data.patient
        born = patient.birth_date
        assert born is not None  # checked before: year_of_birth is required
        return {
            "person_id": person_id,
            "gender_concept_id": self._fixed(
                "person", "gender_concept_id", GENDER_CONCEPTS, patient.gender, GENDER_SYSTEM
            ),
            "year_of_birth": born.year,
            "month_of_birth": born.month,
            "day_of_birth": born.day,
            "birth_datetime": datetime.combine(born, time()),
            "race_concept_id": NO_MATCHING_CONCEPT,
            "ethnicity_concept_id": NO_MATCHING_CONCEPT,
            "location_id": self._site(
                self.locations, "location", "country_source_value", patient.country
            ),
            "care_site_id": self._site(
                self.care_sites,
                "care_site",
                "care_site_source_value",
                patient.managing_organization_id,
            ),
            "person_source_value": patient.id[:_SOURCE_VALUE_LENGTH],
            "gender_source_value": patient.gender,
        }

    def _visit(self, encounter: EncounterRecord, person_id: int, visit_id: int) -> Row:
        start = encounter.start
        assert start is not None  # checked before: visit_start_date is required
        end = encounter.end
        return {
            "visit_occurrence_id": visit_id,
            "person_id": person_id,
            "visit_concept_id": self._fixed(
                "visit_occurrence",
                "visit_concept_id",
                VISIT_CONCEPTS,
                encounter.class_code,
                ACT_CODE,
            ),
            "visit_start_date": start.date(),
            "visit_start_datetime": naive_utc(start),
            # An open visit ends, for OMOP, on its start day; the end time stays empty.
            "visit_end_date": (end or start).date(),
            "visit_end_datetime": None if end is None else naive_utc(end),
            "visit_type_concept_id": TYPE_EHR,
            "care_site_id": self._site(
                self.care_sites, "care_site", "care_site_source_value", encounter.organization_id
            ),
            "visit_source_value": encounter.class_code,
        }

    def _condition(self, record: ConditionRecord, person_id: int, visits: dict[str, int]) -> Row:
        onset = record.onset
        assert onset is not None  # checked before: condition_start_date is required
        end = record.abatement
        concept_id = self._concept("condition_occurrence", "condition_concept_id", record.code)
        return {
            "condition_occurrence_id": self._new_id("condition_occurrence"),
            "person_id": person_id,
            "condition_concept_id": concept_id,
            "condition_start_date": onset.date(),
            "condition_start_datetime": naive_utc(onset),
            "condition_end_date": None if end is None else end.date(),
            "condition_end_datetime": None if end is None else naive_utc(end),
            "condition_type_concept_id": TYPE_EHR,
            "visit_occurrence_id": visits.get(record.encounter_id or ""),
            "condition_source_value": record.code.code[:_SOURCE_VALUE_LENGTH],
            "condition_source_concept_id": concept_id,
            "condition_status_source_value": record.clinical_status,
        }

    def _drug(self, record: MedicationRecord, person_id: int, visits: dict[str, int]) -> Row:
        concept_id = self._concept("drug_exposure", "drug_concept_id", record.medication)
        route = record.route
        route_id = (
            None if route is None else self._concept("drug_exposure", "route_concept_id", route)
        )
        end = record.end
        return {
            "drug_exposure_id": self._new_id("drug_exposure"),
            "person_id": person_id,
            "drug_concept_id": concept_id,
            "drug_exposure_start_date": record.start.date(),
            "drug_exposure_start_datetime": naive_utc(record.start),
            # CDM convention for an administration without an end: it ends on its start day.
            "drug_exposure_end_date": (end or record.start).date(),
            "drug_exposure_end_datetime": None if end is None else naive_utc(end),
            "drug_type_concept_id": (
                TYPE_EHR_PRESCRIPTION if record.kind == "request" else TYPE_EHR_ADMINISTRATION
            ),
            "quantity": _decimal(record.dose),
            "sig": None if record.rate is None else rate_sig(record.rate, record.rate_unit),
            "route_concept_id": route_id,
            "visit_occurrence_id": visits.get(record.encounter_id or ""),
            "drug_source_value": record.medication.code[:_SOURCE_VALUE_LENGTH],
            "drug_source_concept_id": concept_id,
            "route_source_value": None if route is None else route.code,
            "dose_unit_source_value": record.dose_unit,
        }

    def _measurements(
        self, record: ObservationRecord, person_id: int, visits: dict[str, int]
    ) -> None:
        parts: list[tuple[Coding, float | None, str | None, Coding | None]] = []
        if record.value is not None or record.unit is not None or not record.components:
            parts.append((record.code, record.value, record.unit, None))
        parts += [(c.code, c.value, c.unit, record.code) for c in record.components]
        for code, value, unit, panel in parts:
            concept_id = self._concept("measurement", "measurement_concept_id", code)
            unit_concept = self.vocabulary.unit_concept_id(unit)
            if unit is not None and unit_concept == NO_MATCHING_CONCEPT:
                self._unmapped[
                    ("measurement", "unit_concept_id", "http://unitsofmeasure.org", unit)
                ] += 1
            row: Row = {
                "measurement_id": self._new_id("measurement"),
                "person_id": person_id,
                "measurement_concept_id": concept_id,
                "measurement_date": record.effective.date(),
                "measurement_datetime": naive_utc(record.effective),
                "measurement_type_concept_id": TYPE_EHR,
                "value_as_number": _decimal(value),
                "unit_concept_id": unit_concept,
                "visit_occurrence_id": visits.get(record.encounter_id or ""),
                "measurement_source_value": code.code[:_SOURCE_VALUE_LENGTH],
                "measurement_source_concept_id": concept_id,
                "unit_source_value": unit,
            }
            self._emit("measurement", row, record.id, code, panel=panel)

    def _period(self, data: PatientData, person_id: int) -> None:
        times = [o.effective for o in data.observations]
        times += [t for c in data.conditions for t in (c.onset, c.abatement) if t is not None]
        times += [t for m in data.medications for t in (m.start, m.end) if t is not None]
        times += [t for e in data.encounters for t in (e.start, e.end) if t is not None]
        if not times:
            return
        period_id = self._new_id("observation_period")
        row: Row = {
            "observation_period_id": period_id,
            "person_id": person_id,
            "observation_period_start_date": min(times).date(),
            "observation_period_end_date": max(times).date(),
            "period_type_concept_id": TYPE_EHR,
        }
        self.rows.setdefault("observation_period", []).append(row)
