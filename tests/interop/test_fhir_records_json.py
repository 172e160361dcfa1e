"""The plain ``*_json`` writers equal what their validated resources dump (an oracle).

Bulk writers write the ``*_json`` dictionaries without a model per resource, so each must
be exactly the JSON of the validated resource: ``model_dump(mode="json", by_alias=True,
exclude_none=True)`` of ``build_resource(cls, *_json(record))``. Hypothesis draws records
over every optional element, fractional seconds and time-zone offsets.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.interop.fhir_json import dump_resource
from healthtwin.interop.fhir_medications import medication_from_record
from healthtwin.interop.fhir_records import (
    condition_from_record,
    condition_json,
    encounter_from_record,
    encounter_json,
    fhir_instant,
    medication_json,
    observation_from_record,
    observation_json,
    patient_from_record,
    patient_json,
)
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    Identifier,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientRecord,
)

IDS = st.text("abcXYZ019-.", min_size=1, max_size=12)
WORDS = st.text("abcdefgh ÄéZ019", min_size=1, max_size=10).map(str.strip).filter(bool)
UNITS = st.sampled_from(["mg/dL", "U", "U/h", "/min", "%", "mm[Hg]", "kg/m2"])
NUMBERS = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False) | st.integers(
    -1000, 1000
).map(float)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
UTC_TIMES = st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
ANY_TIMES = st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=OFFSETS)
CODINGS = st.builds(
    Coding,
    system=st.sampled_from(["http://loinc.org", "http://snomed.info/sct", "urn:oid:1.2.3"]),
    code=st.text("0123456789-A", min_size=1, max_size=8),
    display=st.none() | WORDS,
)


def _same(written: dict[str, Any], validated: Any) -> None:
    dumped = dump_resource(validated)
    assert written == dumped
    assert json.loads(json.dumps(written)) == json.loads(json.dumps(dumped))


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        PatientRecord,
        id=IDS,
        identifiers=st.lists(
            st.builds(Identifier, system=st.none() | st.just("urn:mrn"), value=IDS), max_size=2
        ).map(tuple),
        family=st.none() | WORDS,
        given=st.lists(WORDS, max_size=2).map(tuple),
        birth_date=st.none() | st.dates(date(1900, 1, 1), date(2030, 1, 1)),
        gender=st.none() | st.sampled_from(["male", "female", "other", "unknown"]),
        country=st.none() | st.sampled_from(["NZ", "DE", "BR"]),
        managing_organization_id=st.none() | IDS,
    )
)
def test_patient_json_is_the_validated_patient(record: PatientRecord) -> None:
    _same(patient_json(record), patient_from_record(record))


@settings(max_examples=80, deadline=None)
@given(
    st.builds(
        ObservationRecord,
        id=IDS,
        patient_id=IDS,
        code=CODINGS,
        effective=UTC_TIMES,
        value=st.none() | NUMBERS,
        unit=st.none() | UNITS,
        status=st.sampled_from(["final", "preliminary", "amended"]),
        category=st.none() | st.sampled_from(["vital-signs", "laboratory"]),
        encounter_id=st.none() | IDS,
        components=st.lists(
            st.builds(
                ObservationComponent,
                code=CODINGS,
                value=st.none() | NUMBERS,
                unit=st.none() | UNITS,
            ),
            max_size=2,
        ).map(tuple),
    )
)
def test_observation_json_is_the_validated_observation(record: ObservationRecord) -> None:
    _same(observation_json(record), observation_from_record(record))


@settings(max_examples=50, deadline=None)
@given(
    st.builds(
        ConditionRecord,
        id=IDS,
        patient_id=IDS,
        code=CODINGS,
        clinical_status=st.sampled_from(["active", "resolved", "unknown"]),
        onset=st.none() | ANY_TIMES,
        abatement=st.none() | ANY_TIMES,
        encounter_id=st.none() | IDS,
    )
)
def test_condition_json_is_the_validated_condition(record: ConditionRecord) -> None:
    _same(condition_json(record), condition_from_record(record))


@settings(max_examples=50, deadline=None)
@given(
    st.builds(
        EncounterRecord,
        id=IDS,
        patient_id=IDS,
        status=st.sampled_from(["planned", "finished", "in-progress"]),
        class_code=st.sampled_from(["AMB", "EMER", "IMP", "HH"]),
        start=st.none() | ANY_TIMES,
        end=st.none() | ANY_TIMES,
        location_ids=st.lists(IDS, max_size=2).map(tuple),
        organization_id=st.none() | IDS,
    )
)
def test_encounter_json_is_the_validated_encounter(record: EncounterRecord) -> None:
    _same(encounter_json(record), encounter_from_record(record))


@settings(max_examples=80, deadline=None)
@given(
    st.builds(
        MedicationRecord,
        id=IDS,
        patient_id=IDS,
        kind=st.sampled_from(["administration", "request"]),
        medication=CODINGS,
        start=UTC_TIMES,
        end=st.none() | UTC_TIMES,
        dose=st.none() | NUMBERS,
        dose_unit=st.none() | UNITS,
        rate=st.none() | NUMBERS,
        rate_unit=st.none() | UNITS,
        route=st.none() | CODINGS,
        status=st.sampled_from(["completed", "active", "in-progress"]),
        encounter_id=st.none() | IDS,
    )
)
def test_medication_json_is_the_validated_medication(record: MedicationRecord) -> None:
    # The oracle is the medication module's own validated writer.
    _same(medication_json(record), medication_from_record(record))


def test_instants_are_written_as_the_models_write_them() -> None:
    assert fhir_instant(datetime(2024, 5, 1, 8, 0, 0, 120000, tzinfo=UTC)) == (
        "2024-05-01T08:00:00.120000Z"
    )
    zero = timezone(timedelta(0), "GMT")
    assert fhir_instant(datetime(2024, 5, 1, 8, tzinfo=zero)) == "2024-05-01T08:00:00Z"
    minus = timezone(-timedelta(hours=5, minutes=30))
    assert fhir_instant(datetime(2024, 5, 1, 8, tzinfo=minus)) == "2024-05-01T08:00:00-05:30"
    assert fhir_instant(date(1970, 5, 1)) == "1970-05-01"
