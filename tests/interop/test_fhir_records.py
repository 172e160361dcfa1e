"""Resources to records and back: the HL7 examples, times and zones, errors that say why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.interop.codes import LOINC, RXNORM, SNOMED
from healthtwin.interop.fhir_checks import check_resource
from healthtwin.interop.fhir_json import dump_resource, parse_resource
from healthtwin.interop.fhir_medications import (
    administration_from_record,
    administration_to_record,
    request_from_record,
    request_to_record,
)
from healthtwin.interop.fhir_read import ReadContext
from healthtwin.interop.fhir_records import (
    condition_from_record,
    condition_to_record,
    encounter_from_record,
    encounter_to_record,
    observation_from_record,
    observation_to_record,
    patient_from_record,
    patient_to_record,
)
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientRecord,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "fhir" / "hl7-r4-examples"
IN_UTC = ReadContext(default_zone=UTC)


def _example(name: str) -> Any:
    return parse_resource((EXAMPLES / f"{name}.json").read_bytes())


def _issue(err: pytest.ExceptionInfo[ResourceValidationError]) -> tuple[str, str]:
    [issue] = err.value.issues
    return issue.path, issue.code


def test_heart_rate_example() -> None:
    record = observation_to_record(_example("Observation-heart-rate"), IN_UTC)
    assert record.code == Coding(system=LOINC, code="8867-4", display="Heart rate")
    assert (record.patient_id, record.value, record.unit) == ("example", 44.0, "/min")
    assert record.effective == datetime(1999, 7, 2, tzinfo=UTC)
    assert (record.status, record.category) == ("final", "vital-signs")


def test_blood_pressure_panel_example_keeps_its_components() -> None:
    record = observation_to_record(_example("Observation-blood-pressure"), IN_UTC)
    assert (record.code.code, record.value) == ("85354-9", None)
    assert [(c.code.code, c.value, c.unit) for c in record.components] == [
        ("8480-6", 107.0, "mm[Hg]"),
        ("8462-4", 60.0, "mm[Hg]"),
    ]


def test_glucose_example_period_start_with_offset_becomes_utc() -> None:
    record = observation_to_record(_example("Observation-f001"))
    assert (record.code.code, record.value, record.unit) == ("15074-8", 6.3, "mmol/L")
    assert record.effective == datetime(2013, 4, 2, 8, 30, 10, tzinfo=UTC)  # 09:30:10+01:00


def test_spo2_example_prefers_a_loinc_vital_code() -> None:
    record = observation_to_record(_example("Observation-satO2"))
    assert record.code.code in ("2708-6", "59408-5")
    assert (record.value, record.unit) == (95.0, "%")


def test_a_date_without_time_needs_a_default_zone() -> None:
    with pytest.raises(ResourceValidationError) as err:
        observation_to_record(_example("Observation-heart-rate"))
    assert _issue(err) == ("Observation.effectiveDateTime", "value")
    assert "default_zone" in str(err.value)
    berlin = ReadContext(default_zone=ZoneInfo("Europe/Berlin"))
    record = observation_to_record(_example("Observation-heart-rate"), berlin)
    assert record.effective == datetime(1999, 7, 1, 22, tzinfo=UTC)  # midnight CEST


def test_partial_dates_read_as_the_start_of_their_period() -> None:
    data = dump_resource(_example("Observation-heart-rate"))
    for value, expected in [
        ("1999", datetime(1999, 1, 1, tzinfo=UTC)),
        ("1999-07", datetime(1999, 7, 1, tzinfo=UTC)),
    ]:
        record = observation_to_record(parse_resource({**data, "effectiveDateTime": value}), IN_UTC)
        assert record.effective == expected


def test_patient_examples() -> None:
    record = patient_to_record(_example("Patient-example"))
    assert (record.id, record.family, record.given) == ("example", "Chalmers", ("Peter", "James"))
    assert (record.birth_date, record.gender) == (date(1974, 12, 25), "male")
    assert record.managing_organization_id == "1"
    assert record.identifiers[0].value == "12345"
    assert patient_to_record(_example("Patient-f001")).country == "NLD"


def test_condition_and_encounter_examples() -> None:
    condition = condition_to_record(_example("Condition-f201"), IN_UTC)
    assert (condition.code.system, condition.code.code) == (SNOMED, "386661006")
    assert (condition.clinical_status, condition.encounter_id) == ("resolved", "f201")
    encounter = encounter_to_record(_example("Encounter-f001"))
    assert (encounter.status, encounter.class_code, encounter.organization_id) == (
        "finished",
        "AMB",
        "f001",
    )


def test_medication_examples_contained_drug_dose_route_and_insulin_units() -> None:
    given = administration_to_record(_example("MedicationAdministration-medadmin0301"))
    assert given.medication.code == "0069-2587-10"  # from the contained Medication
    assert (given.dose, given.dose_unit, given.route.code if given.route else None) == (
        500.0,
        "mg",
        "47625008",
    )
    assert (given.start, given.encounter_id) == (datetime(2015, 1, 15, 13, 30, tzinfo=UTC), "f001")
    insulin = request_to_record(_example("MedicationRequest-medrx0320"), IN_UTC)
    assert (insulin.kind, insulin.medication.system, insulin.dose, insulin.dose_unit) == (
        "request",
        RXNORM,
        20.0,
        "U",
    )


def test_a_rate_ratio_reads_as_a_rate_per_unit_time() -> None:
    data = {
        "resourceType": "MedicationAdministration",
        "id": "m1",
        "status": "in-progress",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "274783"}]},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2024-05-01T00:00:00Z"},
        "dosage": {
            "rateRatio": {
                "numerator": {"value": 3, "code": "U"},
                "denominator": {"value": 2, "code": "h"},
            }
        },
    }
    record = administration_to_record(parse_resource(data))
    assert (record.rate, record.rate_unit) == (1.5, "U/h")


def test_a_subject_that_is_not_a_patient_is_refused() -> None:
    data = dump_resource(_example("Observation-f001"))
    data["subject"] = {"reference": "Group/g1"}
    with pytest.raises(ResourceValidationError) as err:
        observation_to_record(parse_resource(data))
    assert _issue(err) == ("Observation.subject.reference", "invalid")


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"effectivePeriod": None}, "Observation.effective[x]", "required"),
        ({"subject": {"display": "P. van de Heuvel"}}, "Observation.subject", "required"),
        ({"code": {"text": "glucose"}}, "Observation.code", "required"),
        ({"id": None}, "Observation.id", "required"),
        (
            {"subject": {"reference": "urn:uuid:0f4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f"}},
            "Observation.subject.reference",
            "not-found",
        ),
    ],
)
def test_what_a_record_needs_is_reported_with_its_path(
    change: dict[str, Any], path: str, code: str
) -> None:
    data = {
        k: v
        for k, v in {**dump_resource(_example("Observation-f001")), **change}.items()
        if v is not None
    }
    with pytest.raises(ResourceValidationError) as err:
        observation_to_record(parse_resource(data))
    assert _issue(err) == (path, code)


def test_issue_paths_follow_the_context_path() -> None:
    context = ReadContext(path="Bundle.entry[7].resource")
    with pytest.raises(ResourceValidationError) as err:
        observation_to_record(_example("Observation-heart-rate"), context)
    assert _issue(err)[0] == "Bundle.entry[7].resource.effectiveDateTime"


WHEN = datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
RECORDS = [
    PatientRecord(
        id="p1",
        family="Ng",
        given=("Ana", "Li"),
        birth_date=date(1970, 5, 3),
        gender="female",
        country="NZ",
        managing_organization_id="org1",
    ),
    ObservationRecord(
        id="o1",
        patient_id="p1",
        code=Coding(system=LOINC, code="105272-9"),
        effective=WHEN,
        value=7.2,
        unit="mmol/L",
        category="laboratory",
        encounter_id="e1",
    ),
    ObservationRecord(
        id="bp",
        patient_id="p1",
        code=Coding(system=LOINC, code="85354-9"),
        effective=WHEN,
        category="vital-signs",
        components=(
            ObservationComponent(
                code=Coding(system=LOINC, code="8480-6"), value=121.0, unit="mm[Hg]"
            ),
            ObservationComponent(
                code=Coding(system=LOINC, code="8462-4"), value=79.0, unit="mm[Hg]"
            ),
        ),
    ),
    ObservationRecord(
        id="gone",
        patient_id="p1",
        code=Coding(system=LOINC, code="8867-4"),
        effective=WHEN,
        status="cancelled",
    ),
    ConditionRecord(
        id="c1",
        patient_id="p1",
        code=Coding(system=SNOMED, code="46635009"),
        onset=WHEN - timedelta(days=4000),
        abatement=WHEN,
        clinical_status="resolved",
    ),
    EncounterRecord(
        id="e1",
        patient_id="p1",
        status="in-progress",
        class_code="IMP",
        start=WHEN,
        location_ids=("ward-3",),
        organization_id="org1",
    ),
    MedicationRecord(
        id="m1",
        patient_id="p1",
        kind="administration",
        medication=Coding(system=RXNORM, code="274783", display="insulin glargine"),
        start=WHEN,
        dose=6.0,
        dose_unit="U",
        encounter_id="e1",
        route=Coding(system=SNOMED, code="34206005"),
    ),
    MedicationRecord(
        id="m2",
        patient_id="p1",
        kind="administration",
        medication=Coding(system=RXNORM, code="8782"),
        start=WHEN,
        end=WHEN + timedelta(hours=2),
        rate=120.0,
        rate_unit="mg/h",
    ),
    MedicationRecord(
        id="r1",
        patient_id="p1",
        kind="request",
        status="active",
        medication=Coding(system=RXNORM, code="274783"),
        start=WHEN,
        end=WHEN + timedelta(days=30),
        dose=20.0,
        dose_unit="U",
    ),
]
WRITERS = {
    PatientRecord: (patient_from_record, patient_to_record),
    ObservationRecord: (observation_from_record, observation_to_record),
    ConditionRecord: (condition_from_record, condition_to_record),
    EncounterRecord: (encounter_from_record, encounter_to_record),
}


@pytest.mark.parametrize("record", RECORDS, ids=[r.id for r in RECORDS])
def test_records_written_as_resources_pass_our_checks_and_read_back_equal(record: Any) -> None:
    if isinstance(record, MedicationRecord):
        write, read = (
            (administration_from_record, administration_to_record)
            if record.kind == "administration"
            else (request_from_record, request_to_record)
        )
    else:
        write, read = WRITERS[type(record)]
    resource = write(record)
    assert check_resource(resource) == ()
    again = parse_resource(dump_resource(resource))
    assert read(again) == record


def test_a_cancelled_observation_without_value_is_written_with_a_data_absent_reason() -> None:
    resource = observation_from_record(RECORDS[3])
    assert resource.dataAbsentReason is not None
    assert resource.valueQuantity is None


def test_a_non_finite_value_cannot_be_written() -> None:
    record = ObservationRecord(
        id="o1",
        patient_id="p1",
        code=Coding(system=LOINC, code="8867-4"),
        effective=WHEN,
        value=float("nan"),
        unit="/min",
    )
    with pytest.raises(InvalidInputError, match="finite"):
        observation_from_record(record)


def test_an_invalid_id_in_a_record_is_refused_by_the_writer() -> None:
    with pytest.raises(ResourceValidationError) as err:
        patient_from_record(PatientRecord(id="has spaces"))
    assert err.value.issues[0].path == "Patient.id"
