"""Our own checks: value sets, vital-sign units and ranges, references, bundle rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from healthtwin.errors import ResourceValidationError
from healthtwin.interop.fhir_checks import check_resource, validate_resource
from healthtwin.interop.fhir_json import parse_resource

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SUBJECT = {"reference": "Patient/p1"}


def _vital(code: str, value: float | None, unit: str | None, **extra: Any) -> dict[str, Any]:
    quantity = {"value": value, "system": UCUM, "code": unit}
    return {
        "resourceType": "Observation",
        "id": "v1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2024-05-01T08:00:00Z",
        "valueQuantity": {k: v for k, v in quantity.items() if v is not None},
        **extra,
    }


def _issues(data: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    return [(i.path, i.code) for i in check_resource(parse_resource(data), **kwargs)]


# One minimal valid resource per supported type, and where its required code sits.
VALID: dict[str, tuple[dict[str, Any], str]] = {
    "Patient": ({"resourceType": "Patient", "gender": "female"}, "gender"),
    "Observation": (_vital("8867-4", 70, "/min"), "status"),
    "MedicationAdministration": (
        {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "subject": SUBJECT,
            "medicationCodeableConcept": {"text": "insulin"},
            "effectiveDateTime": "2024-05-01T08:00:00Z",
        },
        "status",
    ),
    "MedicationRequest": (
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "medicationCodeableConcept": {"text": "insulin"},
        },
        "status",
    ),
    "Encounter": (
        {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}},
        "status",
    ),
    "Location": ({"resourceType": "Location", "status": "active"}, "status"),
    "Consent": (
        {
            "resourceType": "Consent",
            "status": "active",
            "scope": {"text": "treatment"},
            "category": [{"text": "consent"}],
        },
        "status",
    ),
    "AuditEvent": (
        {
            "resourceType": "AuditEvent",
            "type": {"code": "rest"},
            "action": "R",
            "recorded": "2024-05-01T08:00:00Z",
            "agent": [{"requestor": True}],
            "source": {"observer": {"display": "healthtwin"}},
        },
        "action",
    ),
    "RiskAssessment": (
        {"resourceType": "RiskAssessment", "status": "final", "subject": SUBJECT},
        "status",
    ),
    "Provenance": (
        {
            "resourceType": "Provenance",
            "target": [SUBJECT],
            "recorded": "2024-05-01T08:00:00Z",
            "agent": [{"who": {"display": "model"}}],
            "entity": [{"role": "source", "what": SUBJECT}],
        },
        "entity[0].role",
    ),
    "Bundle": ({"resourceType": "Bundle", "type": "collection"}, "type"),
}


@pytest.mark.parametrize("resource_type", sorted(VALID))
def test_minimal_valid_resources_pass(resource_type: str) -> None:
    data, _ = VALID[resource_type]
    assert check_resource(parse_resource(data)) == ()


@pytest.mark.parametrize("resource_type", sorted(VALID))
def test_a_code_outside_the_required_value_set_is_an_issue(resource_type: str) -> None:
    data, element = VALID[resource_type]
    bad = copy.deepcopy(data)
    head, _, rest = element.partition("[0].")
    if rest:
        bad[head][0][rest] = "not-a-status"
    else:
        bad[element] = "not-a-status"
    # The library parses it: only our check notices.
    resource = parse_resource(bad)
    issues = check_resource(resource)
    assert [(i.path, i.code) for i in issues] == [(f"{resource_type}.{element}", "code-invalid")]
    assert "'not-a-status'" in issues[0].message
    assert "use one of" in issues[0].message


def test_condition_clinical_status_must_use_the_condition_clinical_codes() -> None:
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    condition = {
        "resourceType": "Condition",
        "subject": SUBJECT,
        "clinicalStatus": {"coding": [{"system": system, "code": "active"}]},
    }
    assert _issues(condition) == []
    condition["clinicalStatus"] = {"coding": [{"system": system, "code": "healed"}]}
    assert _issues(condition) == [("Condition.clinicalStatus.coding[0].code", "code-invalid")]
    condition["clinicalStatus"] = {"text": "active"}
    assert _issues(condition) == [("Condition.clinicalStatus", "code-invalid")]


def test_data_type_bindings_are_checked_everywhere() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"use": "nick", "family": "Ng"}],
        "telecom": [{"system": "pigeon", "value": "x"}],
    }
    assert _issues(patient) == [
        ("Patient.name[0].use", "code-invalid"),
        ("Patient.telecom[0].system", "code-invalid"),
    ]


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("8867-4", 72, "/min"),
        ("8480-6", 120, "mm[Hg]"),
        ("59408-5", 97, "%"),
        ("2708-6", 97, "%"),  # SaO2, an alternative code of SpO2
        ("9279-1", 16, "/min"),
        ("8310-5", 37.2, "Cel"),
        ("15074-8", 6.3, "mmol/L"),
        ("2345-7", 110, "mg/dL"),
        ("105272-9", 7.1, "mmol/L"),
    ],
)
def test_vitals_in_their_ucum_unit_pass(code: str, value: float, unit: str) -> None:
    assert _issues(_vital(code, value, unit)) == []


def test_a_vital_in_the_wrong_unit_names_the_accepted_unit() -> None:
    issues = check_resource(parse_resource(_vital("8867-4", 1.2, "/s.m")))
    assert [(i.path, i.code) for i in issues] == [
        ("Observation.valueQuantity.code", "code-invalid")
    ]
    assert "'/min'" in issues[0].message


def test_glucose_mass_and_molar_units_are_not_mixed() -> None:
    # 15074-8 is Moles/volume: a mg/dL value belongs under 2339-0 or 2345-7.
    assert _issues(_vital("15074-8", 110, "mg/dL")) == [
        ("Observation.valueQuantity.code", "code-invalid")
    ]


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [("8310-5", 98.6, "[degF]"), ("8480-6", 16, "kPa"), ("8867-4", 1.2, "/s")],
)
def test_a_unit_convertible_to_the_expected_one_is_accepted(
    code: str, value: float, unit: str
) -> None:
    assert _issues(_vital(code, value, unit)) == []


def test_plausibility_is_judged_after_conversion() -> None:
    # 212 [degF] is 100 Cel: not a body temperature.
    assert _issues(_vital("8310-5", 212, "[degF]")) == [
        ("Observation.valueQuantity.value", "value")
    ]


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("8867-4", 400, "/min"),
        ("8867-4", -3, "/min"),
        ("8310-5", 373, "Cel"),
        ("59408-5", 101, "%"),
    ],
)
def test_implausible_vitals_are_issues(code: str, value: float, unit: str) -> None:
    issues = check_resource(parse_resource(_vital(code, value, unit)))
    assert [(i.path, i.code) for i in issues] == [("Observation.valueQuantity.value", "value")]
    assert "implausible" in issues[0].message


def test_a_vital_without_ucum_system_or_value_is_an_issue() -> None:
    data = _vital("8867-4", 70, "/min")
    data["valueQuantity"]["system"] = "http://example.org/units"
    assert _issues(data) == [("Observation.valueQuantity.system", "code-invalid")]
    assert _issues(_vital("8867-4", None, "/min")) == [
        ("Observation.valueQuantity.value", "required")
    ]
    no_value = _vital("8867-4", 70, "/min")
    del no_value["valueQuantity"]
    assert _issues(no_value) == [("Observation.value[x]", "required")]
    no_value["dataAbsentReason"] = {"text": "patient refused"}
    assert _issues(no_value) == []
    del no_value["dataAbsentReason"]
    no_value["valueString"] = "seventy"
    assert _issues(no_value) == [("Observation.valueString", "value")]


def test_a_blood_pressure_panel_needs_both_components() -> None:
    panel = _vital("85354-9", None, None)
    del panel["valueQuantity"]
    systolic = {
        "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
        "valueQuantity": {"value": 120, "system": UCUM, "code": "mm[Hg]"},
    }
    diastolic = copy.deepcopy(systolic)
    diastolic["code"]["coding"][0]["code"] = "8462-4"
    diastolic["valueQuantity"]["value"] = 500
    panel["component"] = [systolic, diastolic]
    assert _issues(panel) == [("Observation.component[1].valueQuantity.value", "value")]
    panel["component"] = [systolic]
    assert _issues(panel) == [("Observation.component", "required")]


@pytest.mark.parametrize(
    "reference", ["patient 123", "Patients/1", "Patient/", "Patient/a b", "urn:uuid:1234"]
)
def test_malformed_references_are_issues(reference: str) -> None:
    data = _vital("8867-4", 70, "/min", subject={"reference": reference})
    assert _issues(data) == [("Observation.subject.reference", "value")]


@pytest.mark.parametrize(
    "reference",
    ["Patient/p-1.2", "Patient/p1/_history/3", "https://fhir.example.org/r4/Patient/p1"],
)
def test_valid_reference_forms_pass(reference: str) -> None:
    assert _issues(_vital("8867-4", 70, "/min", subject={"reference": reference})) == []


def test_an_absolute_url_that_is_not_restful_is_only_a_warning() -> None:
    data = _vital("8867-4", 70, "/min", basedOn=[{"reference": "https://orders.example.org/7"}])
    resource = parse_resource(data)
    [issue] = check_resource(resource)
    assert (issue.path, issue.severity) == ("Observation.basedOn[0].reference", "warning")
    assert validate_resource(resource) is resource


def test_urn_uuid_references_must_resolve_inside_the_bundle() -> None:
    patient_url = "urn:uuid:0f4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f"
    other_url = "urn:uuid:9a4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f"
    alone = _vital("8867-4", 70, "/min", subject={"reference": patient_url})
    assert _issues(alone) == [("Observation.subject.reference", "not-found")]
    assert _issues(alone, in_bundle=True) == []
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": patient_url, "resource": {"resourceType": "Patient"}},
            {"fullUrl": other_url, "resource": alone},
        ],
    }
    assert _issues(bundle) == []
    bundle["entry"][0]["fullUrl"] = "urn:uuid:1a4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f"
    assert _issues(bundle) == [("Bundle.entry[1].resource.subject.reference", "not-found")]


def test_contained_references_must_point_at_a_contained_resource() -> None:
    data = {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "subject": SUBJECT,
        "effectiveDateTime": "2024-05-01T08:00:00Z",
        "contained": [{"resourceType": "Medication", "id": "med1"}],
        "medicationReference": {"reference": "#med1"},
    }
    assert _issues(data) == []
    data["medicationReference"] = {"reference": "#med2"}
    assert _issues(data) == [
        ("MedicationAdministration.medicationReference.reference", "not-found")
    ]


def test_bundle_rules_duplicate_full_urls_and_transaction_requests() -> None:
    url = "urn:uuid:0f4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f"
    entry = {
        "fullUrl": url,
        "resource": {"resourceType": "Patient"},
        "request": {"method": "POST", "url": "Patient"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}
    assert _issues(bundle) == [("Bundle.entry[1].fullUrl", "duplicate")]
    bundle["entry"] = [{k: v for k, v in entry.items() if k != "request"}]
    assert _issues(bundle) == [("Bundle.entry[0].request", "required")]
    bundle["entry"] = [dict(entry, request={"method": "FETCH", "url": "Patient"})]
    assert _issues(bundle) == [("Bundle.entry[0].request.method", "code-invalid")]


def test_a_period_that_ends_before_it_starts_is_an_issue() -> None:
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "period": {"start": "2024-05-02T08:00:00Z", "end": "2024-05-01T08:00:00Z"},
    }
    assert _issues(encounter) == [("Encounter.period", "invariant")]


def test_validate_resource_raises_with_every_issue() -> None:
    data = _vital("8867-4", 900, "/min", status="done", subject={"reference": "me"})
    with pytest.raises(ResourceValidationError) as err:
        validate_resource(parse_resource(data))
    assert [(i.path, i.code) for i in err.value.issues] == [
        ("Observation.status", "code-invalid"),
        ("Observation.valueQuantity.value", "value"),
        ("Observation.subject.reference", "value"),
    ]
    assert "3 rule(s)" in str(err.value)


def test_entries_and_contained_resources_are_checked_with_their_paths() -> None:
    bad = {"resourceType": "Patient", "id": "x", "gender": "F"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "contained": [bad],
                }
            }
        ],
    }
    assert _issues(bundle) == [("Bundle.entry[0].resource.contained[0].gender", "code-invalid")]
