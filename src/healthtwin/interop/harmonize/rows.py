"""One row of an export to records, with exactly one outcome per mapped cell.

The row's patient id and time come first: without them nothing else in the row can be
attributed, so the row is rejected (the failing cell reported, the others skipped). Then
demographics, observations (wide: one per value column; long: code, value and unit
together), the condition and the medication of the row are read; each cell is ``mapped``,
``missing``, ``skipped`` (its record failed on another cell) or a :class:`Problem`.

Record ids are UUID 5 of the mapping's ``id_namespace``, the patient, the standard code
and the UTC time, so that the same measurement exported by two sites gets the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from healthtwin.errors import InvalidInputError, UnknownModelError
from healthtwin.interop import ucum
from healthtwin.interop.codes import LOINC, Vital
from healthtwin.interop.harmonize.accumulate import PatientAccumulator, PatientsBuilder
from healthtwin.interop.harmonize.concept_map import Translation, Translator, normalize_label
from healthtwin.interop.harmonize.elements import (
    CODE,
    CONDITION,
    DOSE,
    GENDERS,
    MEDICATION,
    ONSET,
    PATIENT_ID,
    TIME,
    UNIT,
    VALUE,
)
from healthtwin.interop.harmonize.mapping_spec import ColumnSpec, MappingSpec
from healthtwin.interop.harmonize.quality import CellOutcome, Problem, ProblemKind, RowStatus
from healthtwin.interop.harmonize.transforms import (
    Failure,
    cell_text,
    parse_date,
    parse_datetime,
    parse_number,
    translate_label,
)
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    Identifier,
    MedicationRecord,
    ObservationRecord,
)

__all__ = ["RowMapper", "RowResult"]

_DEMOGRAPHIC = (
    "Patient.identifier.value",
    "Patient.name.family",
    "Patient.name.given",
    "Patient.birthDate",
    "Patient.gender",
    "Patient.address.country",
)


@dataclass(frozen=True)
class RowResult:
    """What became of one row: its state and one outcome per mapped column."""

    status: RowStatus
    outcomes: Mapping[str, CellOutcome | Problem]


class _Row:
    """The cells of one row and the outcomes given to them so far."""

    def __init__(self, number: int, cells: Mapping[str, object], columns: tuple[str, ...]) -> None:
        self.number = number
        self.cells = cells
        self.columns = columns
        self.outcomes: dict[str, CellOutcome | Problem] = {}
        self.produced = False

    def present(self, column: str | None) -> bool:
        return column is not None and self.cells.get(column) is not None

    def fail(self, column: str, kind: ProblemKind, message: str) -> None:
        value = self.cells.get(column)
        text = "" if value is None else cell_text(value)
        self.outcomes[column] = Problem(self.number, column, kind, text, message)

    def settle(self, column: str | None, outcome: CellOutcome) -> None:
        if column is not None:
            self.outcomes.setdefault(column, outcome if self.present(column) else "missing")

    def result(self) -> RowResult:
        # Cells no step reached: unused when present (their row or record failed first).
        for column in self.columns:
            self.settle(column, "skipped")
        failed = any(isinstance(o, Problem) for o in self.outcomes.values())
        status: RowStatus = ("partial" if self.produced else "rejected") if failed else "mapped"
        return RowResult(status, self.outcomes)


def _only(spec: MappingSpec, element: str) -> str | None:
    names = spec.columns_of(element)
    return names[0] if names else None


class RowMapper:
    """Maps rows of one source to records in a :class:`PatientsBuilder`."""

    def __init__(self, spec: MappingSpec, patients: PatientsBuilder) -> None:
        self.spec = spec
        self.patients = patients
        self.zone = ZoneInfo(spec.timezone)
        self.pid = spec.columns_of(PATIENT_ID)[0]
        self.time = _only(spec, TIME)
        self.encounter = _only(spec, "Encounter.id")
        self.code, self.unit = _only(spec, CODE), _only(spec, UNIT)
        self.condition, self.onset = _only(spec, CONDITION), _only(spec, ONSET)
        self.medication, self.dose = _only(spec, MEDICATION), _only(spec, DOSE)
        self.values = spec.columns_of(VALUE)
        self.demographics = [n for e in _DEMOGRAPHIC for n in spec.columns_of(e)]
        self._translators = {
            name: Translator(cm, accepted=spec.accept_equivalence)
            for name, cm in spec.concept_maps.items()
        }
        self._labels = {
            name: {normalize_label(k): v for k, v in (column.values or {}).items()}
            for name, column in spec.columns.items()
        }
        self._conversions: dict[tuple[str, str], ucum.Conversion | Failure] = {}
        self._timed = [c for c in (*self.values, self.code, self.medication, self.dose) if c]

    # -- identity and time -------------------------------------------------------------

    def map(self, number: int, cells: Mapping[str, object]) -> RowResult:
        """Map one row's cells (``None`` = missing) into the patients; say what became of it."""
        row = _Row(number, cells, tuple(self.spec.columns))
        if not row.present(self.pid):
            row.fail(self.pid, "missing_required", "no patient id; the row has no patient")
            return row.result()
        row.outcomes[self.pid] = "mapped"
        when = self._row_time(row)
        if isinstance(when, Failure):
            return row.result()
        patient = self.patients.patient(cell_text(cells[self.pid]))
        self._demographics(row, patient)
        encounter = None
        if self.encounter is not None and row.present(self.encounter):
            encounter = cell_text(cells[self.encounter])
        row.settle(self.encounter, "mapped")
        if when is not None:
            if self.spec.layout == "wide":
                for column in self.values:
                    self._wide_value(row, patient, column, when, encounter)
            else:
                self._long_value(row, patient, when, encounter)
            self._medication(row, patient, when, encounter)
        self._condition(row, patient)
        return row.result()

    def _row_time(self, row: _Row) -> datetime | Failure | None:
        if self.time is None:
            return None
        if not row.present(self.time):
            if any(row.present(c) for c in self._timed):
                row.fail(self.time, "missing_required", "no time for the row's values")
                return Failure("missing_required", "")
            row.outcomes[self.time] = "missing"
            return None
        column = self.spec.columns[self.time]
        when = parse_datetime(row.cells[self.time], self._formats(column), self._zone(column))
        if isinstance(when, Failure):
            row.fail(self.time, when.kind, when.message + "; the row is rejected")
        else:
            row.outcomes[self.time] = "mapped"
        return when

    def _formats(self, column: ColumnSpec) -> tuple[str, ...]:
        return column.date_format or self.spec.date_formats

    def _zone(self, column: ColumnSpec) -> ZoneInfo:
        return ZoneInfo(column.timezone) if column.timezone else self.zone

    def _record_id(self, *parts: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join((self.spec.id_namespace, *parts))))

    # -- demographics -------------------------------------------------------------------

    def _demographics(self, row: _Row, patient: PatientAccumulator) -> None:
        for name in self.demographics:
            if not row.present(name):
                row.outcomes[name] = "missing"
                continue
            column = self.spec.columns[name]
            value = self._demographic(name, column, row.cells[name])
            if isinstance(value, Failure):
                row.fail(name, value.kind, value.message)
                continue
            if isinstance(value, Identifier):
                patient.add_identifier(value)
                conflict = None
            else:
                conflict = patient.set_field(column.element, value)
            if conflict is not None:
                row.fail(name, "conflicting_value", conflict)
            else:
                row.outcomes[name] = "mapped"
                row.produced = True

    def _demographic(self, name: str, column: ColumnSpec, value: object) -> object:
        text = cell_text(value)
        element = column.element
        if element == "Patient.identifier.value":
            return Identifier(system=column.system, value=text)
        if element == "Patient.name.given":
            return tuple(text.split())
        if element == "Patient.birthDate":
            return parse_date(value, self._formats(column))
        if element == "Patient.gender":
            labels = self._labels[name] or {g: g for g in GENDERS}
            return translate_label(value, labels, "gender")
        if element == "Patient.address.country":
            if self._labels[name]:
                return translate_label(value, self._labels[name], "country")
            if len(text) == 2 and text.isalpha():
                return text.upper()
            return Failure("unmapped_code", f"{text!r} is not an ISO 3166-1 alpha-2 code")
        return text

    # -- observations -------------------------------------------------------------------

    def _conversion(
        self, unit: str, vital: Vital, override: float | None
    ) -> ucum.Conversion | Failure:
        key = (unit, vital.name)
        if key not in self._conversions:
            molar_mass = self.spec.molar_mass(vital, override)
            try:
                self._conversions[key] = ucum.conversion(
                    unit, vital.unit, molar_mass_g_per_mol=molar_mass
                )
            except InvalidInputError as err:
                kind: ProblemKind = "incompatible_unit" if _parses(unit) else "unknown_unit"
                hint = (
                    f"; map local spellings to UCUM under 'units' (now: {list(self.spec.units)})"
                    if kind == "unknown_unit"
                    else ""
                )
                self._conversions[key] = Failure(kind, f"{err}{hint}")
        return self._conversions[key]

    def _observe(
        self,
        row: _Row,
        patient: PatientAccumulator,
        target: tuple[str, Vital, ucum.Conversion],
        when: datetime,
        encounter: str | None,
    ) -> bool:
        """Read, convert and check the value in ``target[0]``; store it. True on success."""
        column, vital, conversion = target
        number = parse_number(
            row.cells[column], decimal=self.spec.csv.decimal, thousands=self.spec.csv.thousands
        )
        if isinstance(number, Failure):
            row.fail(column, number.kind, number.message)
            return False
        value = conversion(number)
        low, high = vital.plausible
        if not low <= value <= high:
            row.fail(
                column,
                "implausible",
                f"{vital.name} {value:g} {vital.unit} (read {cell_text(row.cells[column])} "
                f"{conversion.from_unit}) is outside the plausible range [{low:g}, {high:g}]",
            )
            return False
        record = ObservationRecord(
            id=self._record_id("Observation", patient.patient_id, vital.code, when.isoformat()),
            patient_id=patient.patient_id,
            code=Coding(system=LOINC, code=vital.code, display=vital.display),
            effective=when,
            value=value,
            unit=vital.unit,
            category=vital.category,
            encounter_id=encounter,
        )
        conflict = patient.add_observation(record)
        if conflict is not None:
            row.fail(column, "conflicting_value", conflict)
            return False
        row.outcomes[column] = "mapped"
        row.produced = True
        return True

    def _wide_value(
        self,
        row: _Row,
        patient: PatientAccumulator,
        column: str,
        when: datetime,
        encounter: str | None,
    ) -> None:
        if not row.present(column):
            row.outcomes[column] = "missing"
            return
        spec = self.spec.columns[column]
        # Both are checked by the mapping.
        assert spec.vital is not None
        assert spec.unit is not None
        vital = self.spec.resolve_vital(spec.vital)
        conversion = self._conversion(spec.unit, vital, spec.molar_mass_g_per_mol)
        if isinstance(conversion, Failure):
            row.fail(column, conversion.kind, conversion.message)
            return
        self._observe(row, patient, (column, vital, conversion), when, encounter)

    def _long_value(
        self, row: _Row, patient: PatientAccumulator, when: datetime, encounter: str | None
    ) -> None:
        code, value, unit = self.code, self.values[0], self.unit
        assert code is not None
        if not any(row.present(c) for c in (code, value, unit)):
            for column in (code, value, unit):
                row.settle(column, "missing")
            return
        vital = self._long_vital(row, code)
        if vital is not None:
            conversion = self._long_conversion(row, vital)
            if conversion is not None:
                if not row.present(value):
                    row.fail(value, "missing_required", f"no value for {vital.name}")
                else:
                    self._observe(row, patient, (value, vital, conversion), when, encounter)
        for column in (code, value, unit):
            row.settle(column, "skipped")

    def _long_vital(self, row: _Row, code: str) -> Vital | None:
        if not row.present(code):
            row.fail(code, "missing_required", "a value without an observation code")
            return None
        translation = self._translate(code, row.cells[code])
        if translation.coding is None:
            row.fail(code, "unmapped_code", translation.reason)
            return None
        try:
            vital = self.spec.resolve_vital(translation.coding.code)
        except UnknownModelError as err:
            row.fail(code, "unmapped_code", str(err))
            return None
        row.outcomes[code] = "mapped"
        return vital

    def _long_conversion(self, row: _Row, vital: Vital) -> ucum.Conversion | None:
        value_spec = self.spec.columns[self.values[0]]
        unit_column = self.unit if row.present(self.unit) else None
        if unit_column is None:
            if value_spec.unit is None:
                row.fail(self.unit or self.values[0], "missing_required", "no unit for the value")
                return None
            local = value_spec.unit
        else:
            local = cell_text(row.cells[unit_column])
        unit = self.spec.units.get(local, local)
        conversion = self._conversion(unit, vital, value_spec.molar_mass_g_per_mol)
        if isinstance(conversion, Failure):
            row.fail(unit_column or self.values[0], conversion.kind, conversion.message)
            return None
        if unit_column is not None:
            row.outcomes[unit_column] = "mapped"
        return conversion

    def _translate(self, column: str, value: object) -> Translation:
        map_name = self.spec.columns[column].concept_map
        assert map_name is not None  # checked by the mapping
        return self._translators[map_name].translate(cell_text(value))

    # -- conditions and medications -----------------------------------------------------

    def _condition(self, row: _Row, patient: PatientAccumulator) -> None:
        code, onset = self.condition, self.onset
        if code is None:
            return
        if not row.present(code):
            if row.present(onset):
                row.fail(code, "missing_required", "an onset without a diagnosis")
            row.settle(code, "missing")
            row.settle(onset, "skipped")
            return
        translation = self._translate(code, row.cells[code])
        if translation.coding is None:
            row.fail(code, "unmapped_code", translation.reason)
            row.settle(onset, "skipped")
            return
        start = None
        if onset is not None and row.present(onset):
            column = self.spec.columns[onset]
            parsed = parse_datetime(row.cells[onset], self._formats(column), self._zone(column))
            if isinstance(parsed, Failure):
                row.fail(onset, parsed.kind, parsed.message + "; the condition has no onset")
            else:
                start = parsed
        coding = translation.coding
        record_id = self._record_id("Condition", patient.patient_id, coding.system, coding.code)
        patient.add_condition(
            ConditionRecord(id=record_id, patient_id=patient.patient_id, code=coding, onset=start)
        )
        row.outcomes[code] = "mapped"
        row.settle(onset, "mapped")
        row.produced = True

    def _medication(
        self, row: _Row, patient: PatientAccumulator, when: datetime, encounter: str | None
    ) -> None:
        drug, dose = self.medication, self.dose
        if drug is None:
            return
        if not row.present(drug):
            if row.present(dose):
                row.fail(drug, "missing_required", "a dose without a medication")
            row.settle(drug, "missing")
            row.settle(dose, "skipped")
            return
        translation = self._translate(drug, row.cells[drug])
        if translation.coding is None:
            row.fail(drug, "unmapped_code", translation.reason)
            row.settle(dose, "skipped")
            return
        amount, unit = self._dose(row)
        if isinstance(amount, Failure):
            row.settle(drug, "skipped")
            return
        coding = translation.coding
        record = MedicationRecord(
            id=self._record_id("Medication", patient.patient_id, coding.code, when.isoformat()),
            patient_id=patient.patient_id,
            kind="administration",
            medication=coding,
            start=when,
            dose=amount,
            dose_unit=unit,
            encounter_id=encounter,
        )
        conflict = patient.add_medication(record)
        if conflict is not None:
            row.fail(drug, "conflicting_value", conflict)
            row.settle(dose, "skipped")
            return
        row.outcomes[drug] = "mapped"
        row.settle(dose, "mapped")
        row.produced = True

    def _dose(self, row: _Row) -> tuple[float | Failure | None, str | None]:
        if self.dose is None or not row.present(self.dose):
            return None, None
        spec = self.spec.columns[self.dose]
        assert spec.unit is not None  # checked by the mapping
        number = parse_number(
            row.cells[self.dose], decimal=self.spec.csv.decimal, thousands=self.spec.csv.thousands
        )
        if isinstance(number, Failure):
            row.fail(self.dose, number.kind, number.message + "; the administration is not kept")
            return number, None
        target = spec.standard_unit or spec.unit
        return ucum.convert(number, spec.unit, target), target


def _parses(unit: str) -> bool:
    try:
        ucum.parse(unit)
    except InvalidInputError:
        return False
    return True
