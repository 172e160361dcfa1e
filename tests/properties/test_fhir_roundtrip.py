"""Hypothesis invariants of the FHIR edge.

- records -> resources -> FHIR JSON -> resources -> records is the identity, for every
  record kind and for whole patients through a Bundle;
- parse -> dump -> parse is the identity for every resource we write;
- resources written from valid records pass our own checks;
- whatever JSON object arrives, parsing either succeeds or raises
  ResourceValidationError with at least one issue: never another exception.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from healthtwin.errors import ResourceValidationError
from healthtwin.interop.codes import LOINC, RXNORM, SNOMED, VITALS
from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.interop.fhir_checks import check_resource
from healthtwin.interop.fhir_json import SUPPORTED_RESOURCE_TYPES, dump_resource, parse_resource
from healthtwin.interop.fhir_medications import (
    administration_to_record,
    medication_from_record,
    request_to_record,
)
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
from healthtwin.interop.fhir_valuesets import (
    CONDITION_CLINICAL,
    MEDICATION_ADMIN_STATUS,
    MEDICATION_REQUEST_STATUS,
    OBSERVATION_STATUS,
)
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    Identifier,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientData,
    PatientRecord,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOCAL = "http://example.org/fhir/CodeSystem/local"

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-.]{0,30}", fullmatch=True)
words = st.from_regex(r"[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9'\-]{0,15}", fullmatch=True)
codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-.:]{0,11}", fullmatch=True)
systems = st.sampled_from([SNOMED, RXNORM, LOINC, "urn:oid:2.16.840.1.113883.6.96", LOCAL])
instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))
numbers = st.floats(allow_nan=False, allow_infinity=False)
units = st.sampled_from(["mg/dL", "mmol/L", "/min", "Cel", "%", "U", "mg", "U/h", "mg/h", "kg"])
codings = st.builds(Coding, system=systems, code=codes, display=st.none() | words)
local_codings = st.builds(Coding, system=st.just(LOCAL), code=codes, display=st.none() | words)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def patients(draw: st.DrawFn, patient_id: str | None = None) -> PatientRecord:
    return PatientRecord(
        id=patient_id or draw(ids),
        identifiers=tuple(
            draw(
                st.lists(st.builds(Identifier, system=_optional(systems), value=words), max_size=2)
            )
        ),
        family=draw(_optional(words)),
        given=tuple(draw(st.lists(words, max_size=3))),
        birth_date=draw(_optional(st.dates(min_value=date(1900, 1, 1)))),
        gender=draw(_optional(st.sampled_from(["male", "female", "other", "unknown"]))),
        country=draw(_optional(st.from_regex(r"[A-Z]{2}", fullmatch=True))),
        managing_organization_id=draw(_optional(ids)),
    )


@st.composite
def vital_values(draw: st.DrawFn) -> tuple[Coding, float, str, str]:
    vital = draw(st.sampled_from(sorted(VITALS.values(), key=lambda v: v.name)))
    low, high = vital.plausible
    value = draw(st.floats(min_value=low, max_value=high))
    return Coding(system=LOINC, code=vital.code), value, vital.unit, vital.category


@st.composite
def observations(
    draw: st.DrawFn, patient_id: str = "p1", encounters: tuple[str, ...] = ()
) -> ObservationRecord:
    """A vital in range, a local code with any quantity, or a panel of components."""
    kind = draw(st.sampled_from(["vital", "local", "panel"]))
    value: float | None
    unit: str | None
    category: str | None
    components: tuple[ObservationComponent, ...] = ()
    if kind == "vital":
        code, value, unit, category = draw(vital_values())
    else:
        code, category = (
            draw(local_codings),
            draw(_optional(st.sampled_from(["laboratory", "exam"]))),
        )
        value, unit = draw(_optional(numbers)), draw(_optional(units))
    if kind == "panel":
        value = unit = None
        components = tuple(
            draw(
                st.lists(
                    st.builds(
                        ObservationComponent,
                        code=local_codings,
                        value=_optional(numbers),
                        unit=_optional(units),
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
        )
    return ObservationRecord(
        id=draw(ids),
        patient_id=patient_id,
        code=code,
        effective=draw(instants),
        value=value,
        unit=unit,
        status=draw(st.sampled_from(sorted(OBSERVATION_STATUS))),
        category=category,
        encounter_id=draw(_optional(st.sampled_from(encounters))) if encounters else None,
        components=components,
    )


@st.composite
def conditions(
    draw: st.DrawFn, patient_id: str = "p1", encounters: tuple[str, ...] = ()
) -> ConditionRecord:
    onset = draw(_optional(instants))
    return ConditionRecord(
        id=draw(ids),
        patient_id=patient_id,
        code=draw(codings),
        clinical_status=draw(st.sampled_from(sorted(CONDITION_CLINICAL | {"unknown"}))),
        onset=onset,
        abatement=None if onset is None else draw(_optional(durations.map(lambda d: onset + d))),
        encounter_id=draw(_optional(st.sampled_from(encounters))) if encounters else None,
    )


@st.composite
def encounters(draw: st.DrawFn, patient_id: str = "p1") -> EncounterRecord:
    start = draw(_optional(instants))
    return EncounterRecord(
        id=draw(ids),
        patient_id=patient_id,
        status=draw(st.sampled_from(["planned", "in-progress", "finished", "cancelled"])),
        class_code=draw(st.sampled_from(["AMB", "EMER", "IMP", "HH", "VR"])),
        start=start,
        end=None if start is None else draw(_optional(durations.map(lambda d: start + d))),
        location_ids=tuple(draw(st.lists(ids, max_size=2))),
        organization_id=draw(_optional(ids)),
    )


@st.composite
def medications(
    draw: st.DrawFn, patient_id: str = "p1", encounters: tuple[str, ...] = ()
) -> MedicationRecord:
    kind = draw(st.sampled_from(["administration", "request"]))
    statuses = MEDICATION_ADMIN_STATUS if kind == "administration" else MEDICATION_REQUEST_STATUS
    start = draw(instants)
    return MedicationRecord(
        id=draw(ids),
        patient_id=patient_id,
        kind=kind,
        medication=draw(codings),
        start=start,
        end=draw(_optional(durations.map(lambda d: start + d))),
        dose=draw(_optional(st.floats(min_value=0, max_value=1e4))),
        dose_unit=draw(_optional(st.sampled_from(["U", "mg", "mL", "ug"]))),
        rate=draw(_optional(st.floats(min_value=0, max_value=1e3))),
        rate_unit=draw(_optional(st.sampled_from(["U/h", "mg/h", "mL/h"]))),
        route=draw(_optional(codings)),
        status=draw(st.sampled_from(sorted(statuses))),
        encounter_id=draw(_optional(st.sampled_from(encounters))) if encounters else None,
    )


def _through_json(resource: Any) -> Any:
    """Dump, serialise, parse: what a resource becomes after a trip over the wire."""
    dumped = dump_resource(resource)
    again = parse_resource(json.dumps(dumped))
    assert again == resource
    assert dump_resource(again) == dumped
    return again


@SETTINGS
@given(record=patients())
def test_patient_records_round_trip(record: PatientRecord) -> None:
    resource = patient_from_record(record)
    assert check_resource(resource) == ()
    assert patient_to_record(_through_json(resource)) == record


@SETTINGS
@given(record=observations(encounters=("e1", "e2")))
def test_observation_records_round_trip(record: ObservationRecord) -> None:
    resource = observation_from_record(record)
    assert check_resource(resource) == ()
    assert observation_to_record(_through_json(resource)) == record


@SETTINGS
@given(record=conditions(encounters=("e1",)))
def test_condition_records_round_trip(record: ConditionRecord) -> None:
    resource = condition_from_record(record)
    assert check_resource(resource) == ()
    assert condition_to_record(_through_json(resource)) == record


@SETTINGS
@given(record=encounters())
def test_encounter_records_round_trip(record: EncounterRecord) -> None:
    resource = encounter_from_record(record)
    assert check_resource(resource) == ()
    assert encounter_to_record(_through_json(resource)) == record


@SETTINGS
@given(record=medications(encounters=("e1",)))
def test_medication_records_round_trip(record: MedicationRecord) -> None:
    resource = medication_from_record(record)
    assert check_resource(resource) == ()
    read = administration_to_record if record.kind == "administration" else request_to_record
    assert read(_through_json(resource)) == record  # type: ignore[operator]


@st.composite
def patient_data(draw: st.DrawFn, number: int) -> PatientData:
    patient = draw(patients(patient_id=f"p{number}"))

    def unique(strategy: st.SearchStrategy[Any]) -> Any:
        return tuple(draw(st.lists(strategy, max_size=4, unique_by=lambda r: r.id)))

    visits = unique(encounters(patient.id))
    visit_ids = tuple(e.id for e in visits)
    return PatientData(
        patient=patient,
        encounters=visits,
        observations=unique(observations(patient.id, visit_ids)),
        conditions=unique(conditions(patient.id, visit_ids)),
        medications=unique(medications(patient.id, visit_ids)),
    )


@st.composite
def cohorts(draw: st.DrawFn) -> list[PatientData]:
    """Patients whose records' ids do not collide across patients."""
    cohort = [draw(patient_data(n)) for n in range(draw(st.integers(1, 3)))]
    seen: set[tuple[str, str]] = set()
    for data in cohort:
        for kind, records in (
            ("e", data.encounters),
            ("o", data.observations),
            ("c", data.conditions),
            ("m", data.medications),
        ):
            keys = {(kind, r.id) for r in records}
            if kind == "m":
                keys = {(r.kind, r.id) for r in records}  # type: ignore[attr-defined]
            if keys & seen:
                reject()
            seen |= keys
    return cohort


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(cohort=cohorts(), kind=st.sampled_from(["collection", "transaction"]))
def test_patients_round_trip_through_a_bundle(cohort: list[PatientData], kind: str) -> None:
    bundle = patients_to_bundle(cohort, kind)  # type: ignore[arg-type]
    assert bundle_to_patients(_through_json(bundle)) == cohort


json_scalars = st.none() | st.booleans() | st.integers() | numbers | st.text(max_size=12)
element_names = st.sampled_from(
    [
        "id",
        "status",
        "code",
        "coding",
        "system",
        "value",
        "valueQuantity",
        "subject",
        "reference",
        "entry",
        "resource",
        "resourceType",
        "effectiveDateTime",
        "component",
        "contained",
        "extension",
        "url",
        "gender",
        "birthDate",
        "name",
        "given",
        "_status",
        "x",
    ]
)
json_values = st.recursive(
    json_scalars | st.sampled_from(SUPPORTED_RESOURCE_TYPES),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(element_names, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    resource_type=st.sampled_from(SUPPORTED_RESOURCE_TYPES),
    body=st.dictionaries(element_names, json_values, max_size=6),
)
def test_any_json_object_parses_or_raises_a_resource_validation_error(
    resource_type: str, body: dict[str, Any]
) -> None:
    data = {**body, "resourceType": resource_type}
    resource, issues = _parse_or_issues(json.dumps(data))
    if resource is None:
        event(f"refused: {issues[0].code}")
        assert all(i.code and i.message for i in issues)
    else:
        event("parsed")
        assert parse_resource(dump_resource(resource)) == resource
        # Our checks never crash either, whatever the content.
        check_resource(resource)


def _parse_or_issues(text: str) -> tuple[Any, tuple[Any, ...]]:
    """The resource, or None with the issues (at least one) of the refusal."""
    try:
        return parse_resource(text), ()
    except ResourceValidationError as err:
        issues = err.issues
    assert issues, "a refusal must list its issues"
    return None, issues


EXAMPLES = sorted(
    (Path(__file__).resolve().parents[1] / "data" / "fhir" / "hl7-r4-examples").glob("*.json")
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


@settings(max_examples=200, deadline=None)
@given(data=st.data(), path=st.sampled_from(EXAMPLES), replacement=json_values)
def test_a_mutated_official_example_parses_or_raises_a_resource_validation_error(
    data: st.DataObject, path: Path, replacement: Any
) -> None:
    resource = json.loads(path.read_text())
    where = data.draw(st.sampled_from(_paths(resource)))
    parent = resource
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = replacement
    parsed, _ = _parse_or_issues(json.dumps(resource))
    if parsed is None:
        event("refused")
    else:
        event("parsed")
        assert parse_resource(dump_resource(parsed)) == parsed
        for issue in check_resource(parsed):
            assert issue.path.startswith(parsed.get_resource_type())
            assert issue.message
