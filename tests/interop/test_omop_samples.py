"""Sample patients for the OMOP tests, and the view of a record that OMOP can hold.

``sample_patients()`` are two hand-made patients: a type 1 diabetic on a ward (vitals, a
blood-pressure panel, plasma and CGM glucose, insulin boluses and an infusion) and a
septic patient in the emergency room (propofol and remifentanil infusions). ``omop_view``
resets the fields OMOP does not hold to what ``import_omop`` returns, so that a round trip
can be compared with ``==``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from tests.conftest import require

from healthtwin.interop.codes import LOINC, RXNORM, SNOMED, VITALS_BY_CODE
from healthtwin.interop.omop import OmopVocabulary, load_vocabulary
from healthtwin.interop.omop.selection import select_patients
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

require("omop_cdm", "omop")

T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def loinc(code: str) -> Coding:
    return Coding(system=LOINC, code=code)


def vital(
    record_id: str,
    patient: str,
    code: str,
    minutes: float,
    value: float,
    unit: str,
    encounter: str | None = None,
) -> ObservationRecord:
    return ObservationRecord(
        id=record_id,
        patient_id=patient,
        code=loinc(code),
        effective=T0 + timedelta(minutes=minutes),
        value=value,
        unit=unit,
        category=VITALS_BY_CODE[code].category if code in VITALS_BY_CODE else None,
        encounter_id=encounter,
    )


def diabetic() -> PatientData:
    pid = "t1d-001"
    ward = EncounterRecord(
        id="enc-ward",
        patient_id=pid,
        status="finished",
        class_code="IMP",
        start=T0 - timedelta(hours=2),
        end=T0 + timedelta(days=2),
        organization_id="org-charite",
    )
    clinic = EncounterRecord(
        id="enc-clinic",
        patient_id=pid,
        status="in-progress",
        class_code="AMB",
        start=T0 + timedelta(days=10),
    )
    bp = ObservationRecord(
        id="obs-bp",
        patient_id=pid,
        code=Coding(system=LOINC, code="85354-9"),
        effective=T0,
        category="vital-signs",
        encounter_id="enc-ward",
        components=(
            ObservationComponent(code=loinc("8480-6"), value=128.0, unit="mm[Hg]"),
            ObservationComponent(code=loinc("8462-4"), value=79.0, unit="mm[Hg]"),
        ),
    )
    return PatientData(
        patient=PatientRecord(
            id=pid,
            birth_date=date(1984, 2, 29),
            gender="female",
            country="DE",
            managing_organization_id="org-charite",
            family="Muster",
            given=("Erika",),
        ),
        encounters=(ward, clinic),
        observations=(
            vital("obs-hr", pid, "8867-4", 0, 88.0, "/min", "enc-ward"),
            bp,
            vital("obs-spo2", pid, "59408-5", 1, 97.0, "%", "enc-ward"),
            vital("obs-temp", pid, "8310-5", 2, 37.2, "Cel", "enc-ward"),
            vital("obs-glu", pid, "2345-7", 30, 182.0, "mg/dL", "enc-ward"),
            vital("obs-cgm-1", pid, "105272-9", 35, 9.4, "mmol/L"),
            vital("obs-cgm-2", pid, "105272-9", 40, 9.9, "mmol/L"),
        ),
        conditions=(
            ConditionRecord(
                id="cond-t1d",
                patient_id=pid,
                code=Coding(system=SNOMED, code="46635009"),
                onset=datetime(1999, 6, 1, tzinfo=UTC),
            ),
        ),
        medications=(
            MedicationRecord(
                id="med-bolus-1",
                patient_id=pid,
                kind="administration",
                medication=Coding(system=RXNORM, code="86009", display="insulin lispro"),
                start=T0 + timedelta(minutes=31),
                dose=6.0,
                dose_unit="U",
                route=Coding(system=SNOMED, code="34206005"),
                encounter_id="enc-ward",
            ),
            MedicationRecord(
                id="med-basal",
                patient_id=pid,
                kind="request",
                medication=Coding(system=RXNORM, code="274783", display="insulin glargine"),
                start=T0,
                end=T0 + timedelta(days=30),
                dose=18.0,
                dose_unit="U",
                status="active",
            ),
            MedicationRecord(
                id="med-infusion",
                patient_id=pid,
                kind="administration",
                medication=Coding(system=RXNORM, code="86009"),
                start=T0 + timedelta(hours=3),
                end=T0 + timedelta(hours=9),
                rate=1.5,
                rate_unit="U/h",
                encounter_id="enc-ward",
            ),
        ),
    )


def septic() -> PatientData:
    pid = "sepsis-007"
    er = EncounterRecord(
        id="enc-er",
        patient_id=pid,
        status="finished",
        class_code="EMER",
        start=T0 + timedelta(hours=1),
        end=T0 + timedelta(hours=7),
    )
    return PatientData(
        patient=PatientRecord(id=pid, birth_date=date(1951, 11, 3), gender="male", country="FR"),
        encounters=(er,),
        observations=(
            vital("obs-rr", pid, "9279-1", 70, 28.0, "/min", "enc-er"),
            vital("obs-map", pid, "8478-0", 71, 58.0, "mm[Hg]", "enc-er"),
            vital("obs-lactate", pid, "2524-7", 75, 4.1, "mmol/L", "enc-er"),
        ),
        conditions=(
            ConditionRecord(
                id="cond-sepsis",
                patient_id=pid,
                code=Coding(system=SNOMED, code="91302008"),
                onset=T0 + timedelta(hours=1),
                abatement=T0 + timedelta(days=6),
                clinical_status="resolved",
                encounter_id="enc-er",
            ),
            ConditionRecord(
                id="cond-htn",
                patient_id=pid,
                code=Coding(system=SNOMED, code="59621000"),
                onset=datetime(2005, 1, 1, tzinfo=UTC),
            ),
        ),
        medications=(
            MedicationRecord(
                id="med-propofol",
                patient_id=pid,
                kind="administration",
                medication=Coding(system=RXNORM, code="8782"),
                start=T0 + timedelta(hours=2),
                end=T0 + timedelta(hours=5),
                rate=150.0,
                rate_unit="mg/h",
                route=Coding(system=SNOMED, code="47625008"),
                encounter_id="enc-er",
            ),
            MedicationRecord(
                id="med-remi",
                patient_id=pid,
                kind="administration",
                medication=Coding(system=RXNORM, code="73032"),
                start=T0 + timedelta(hours=2),
                end=T0 + timedelta(hours=5),
                rate=0.3,
                rate_unit="mg/h",
                encounter_id="enc-er",
            ),
        ),
    )


def sample_patients() -> list[PatientData]:
    return [diabetic(), septic()]


def _coding(code: Coding, vocabulary: OmopVocabulary) -> Coding:
    concept = vocabulary.lookup(code.system, code.code)
    return replace(code, display=None if concept is None else concept.name)


def omop_view(data: PatientData, vocabulary: OmopVocabulary | None = None) -> PatientData:
    """``data`` as import_omop returns it: unheld fields at defaults, records sorted by id."""
    vocab = vocabulary or load_vocabulary()

    def observation(o: ObservationRecord) -> ObservationRecord:
        known = VITALS_BY_CODE.get(o.code.code) if o.code.system == LOINC else None
        return replace(
            o,
            code=_coding(o.code, vocab),
            status="final",
            category=None if known is None else known.category,
            components=tuple(replace(c, code=_coding(c.code, vocab)) for c in o.components),
        )

    patient = replace(data.patient, identifiers=(), family=None, given=())
    return PatientData(
        patient=patient,
        observations=tuple(observation(o) for o in sorted(data.observations, key=lambda r: r.id)),
        conditions=tuple(
            replace(c, code=_coding(c.code, vocab))
            for c in sorted(data.conditions, key=lambda r: r.id)
        ),
        medications=tuple(
            replace(
                m,
                medication=_coding(m.medication, vocab),
                status="completed",
                route=None if m.route is None else replace(m.route, display=None),
            )
            for m in sorted(data.medications, key=lambda r: r.id)
        ),
        encounters=tuple(
            replace(e, status="finished", location_ids=())
            for e in sorted(data.encounters, key=lambda r: r.id)
        ),
    )


def test_the_samples_are_valid_for_omop() -> None:
    selection = select_patients(sample_patients())
    assert [p.patient.id for p in selection.patients] == ["sepsis-007", "t1d-001"]
    assert selection.skipped == ()


def test_the_omop_view_drops_what_omop_cannot_hold() -> None:
    view = omop_view(diabetic())
    assert view.patient.family is None
    assert view.patient.given == ()
    assert [m.status for m in view.medications] == ["completed"] * 3
    assert {e.status for e in view.encounters} == {"finished"}
    hr = next(o for o in view.observations if o.id == "obs-hr")
    assert hr.code.display == "Heart rate"
