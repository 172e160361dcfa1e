"""FHIR JSON in and out: parsing, dumping, and hostile or malformed input."""

from __future__ import annotations

import json
import time

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.interop.fhir_json import (
    DEFAULT_MAX_ENTRIES,
    SUPPORTED_RESOURCE_TYPES,
    dump_resource,
    dumps_resource,
    parse_json_safely,
    parse_resource,
    resource_class,
)

HEART_RATE = {
    "resourceType": "Observation",
    "id": "hr-1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-05-01T08:00:00+02:00",
    "valueQuantity": {
        "value": 61.5,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    },
}


def _issue(err: pytest.ExceptionInfo[ResourceValidationError]) -> tuple[str, str]:
    assert err.value.issues, "a ResourceValidationError must list its issues"
    first = err.value.issues[0]
    return first.path, first.code


def test_parse_bytes_text_and_mapping_give_the_same_model() -> None:
    text = json.dumps(HEART_RATE)
    models = [parse_resource(text), parse_resource(text.encode()), parse_resource(HEART_RATE)]
    assert all(isinstance(m, Observation) for m in models)
    assert dump_resource(models[0]) == dump_resource(models[1]) == dump_resource(models[2])


def test_dump_uses_fhir_names_and_leaves_out_empty_elements() -> None:
    encounter = parse_resource(
        {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    )
    dumped = dump_resource(encounter)
    assert dumped == {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    assert json.loads(dumps_resource(encounter)) == dumped


def test_dump_is_json_ready_and_parses_back_to_an_equal_model() -> None:
    obs = parse_resource(HEART_RATE)
    dumped = dump_resource(obs)
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["valueQuantity"]["value"] == 61.5
    assert parse_resource(dumped) == obs


@pytest.mark.parametrize("resource_type", SUPPORTED_RESOURCE_TYPES)
def test_every_supported_type_has_a_class(resource_type: str) -> None:
    assert resource_class(resource_type).get_resource_type() == resource_type


@pytest.mark.parametrize(
    "name",
    [
        "Spaceship",
        "patient",
        "Resource",
        "DomainResource",
        "Quantity",
        "",
        42,
        None,
        "Patient;drop",
    ],
)
def test_unknown_resource_types_are_not_supported(name: object) -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_resource({"resourceType": name})
    path, code = _issue(err)
    assert (path, code) == ("resourceType", "not-supported")
    assert "Patient, Observation" in str(err.value)  # says how to fix it


def test_an_unknown_type_inside_a_bundle_is_refused_with_its_path() -> None:
    # fhir.resources itself would raise a bare KeyError here.
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Spaceship"}},
        ],
    }
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(bundle)
    assert _issue(err) == ("Bundle.entry[1].resource.resourceType", "not-supported")


def test_missing_resource_type_is_required() -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_resource({"status": "final"})
    assert _issue(err) == ("resourceType", "required")


def test_types_restricts_the_top_level_type() -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(HEART_RATE, types=("Patient",))
    assert _issue(err) == ("resourceType", "not-supported")
    assert isinstance(parse_resource(HEART_RATE, types=("Observation",)), Observation)


def test_library_errors_become_one_issue_each_with_fhirpath_paths() -> None:
    bad = dict(HEART_RATE, valueQuantity={"value": "sixty"}, colour="blue")
    patient = {"resourceType": "Patient", "birthDate": "1999-13-01"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": HEART_RATE}, {"resource": bad}, {"resource": patient}],
    }
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(bundle)
    found = {(i.path, i.code) for i in err.value.issues}
    assert found == {
        ("Bundle.entry[1].resource.valueQuantity.value", "value"),
        ("Bundle.entry[1].resource.colour", "structure"),
        ("Bundle.entry[2].resource.birthDate", "value"),
    }
    assert all("received" in i.message for i in err.value.issues)
    assert isinstance(err.value, InvalidInputError)
    assert isinstance(err.value, ValueError)


def test_a_missing_required_element_is_reported_as_required() -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_resource({"resourceType": "Observation", "status": "final"})
    assert _issue(err) == ("Observation.code", "required")


def test_a_naive_datetime_is_refused_by_the_parser() -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(dict(HEART_RATE, effectiveDateTime="2024-05-01T08:00:00"))
    assert _issue(err) == ("Observation.effectiveDateTime", "value")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"resourceType": "Patient",}', "line 1, column 28"),
        ('{"resourceType": "Patient"', "line 1, column 27"),
        ('{\n  "resourceType": "Patient",\n  "gender": female\n}', "line 3, column 13"),
        ("", "line 1, column 1"),
    ],
)
def test_malformed_json_names_line_and_column(body: str, fragment: str) -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_json_safely(body)
    assert _issue(err)[1] == "structure"
    assert fragment in str(err.value)


@pytest.mark.parametrize("body", ["[]", '"Patient"', "42", "null"])
def test_a_body_that_is_not_an_object_is_refused(body: str) -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_json_safely(body)
    assert _issue(err) == ("", "structure")


def test_non_finite_numbers_and_non_utf8_bytes_are_refused() -> None:
    with pytest.raises(ResourceValidationError, match="finite"):
        parse_json_safely('{"resourceType": "Observation", "valueQuantity": {"value": NaN}}')
    with pytest.raises(ResourceValidationError, match="not UTF-8") as err:
        parse_json_safely(b'{"resourceType": "Patient", "name": [{"family": "M\xfcller"}]}')
    assert _issue(err)[1] == "structure"


def test_a_byte_order_mark_is_tolerated() -> None:
    assert parse_json_safely(b'\xef\xbb\xbf{"resourceType": "Patient"}') == {
        "resourceType": "Patient"
    }


def test_a_body_over_the_byte_cap_is_refused_before_decoding() -> None:
    body = b'{"resourceType": "Patient", "id": "' + b"a" * 2_000 + b'"}'
    with pytest.raises(ResourceValidationError) as err:
        parse_json_safely(body, max_bytes=1_000)
    assert _issue(err) == ("", "too-costly")
    assert "1000 bytes" in str(err.value)
    # Text is measured in UTF-8 bytes, not characters.
    with pytest.raises(ResourceValidationError):
        parse_json_safely('{"resourceType": "Patient", "id": "' + "é" * 400 + '"}', max_bytes=800)
    assert parse_json_safely(body, max_bytes=10_000)["resourceType"] == "Patient"


def test_the_default_byte_cap_stops_a_100_mb_body_at_once() -> None:
    body = b" " * (100 * 1024 * 1024)
    start = time.perf_counter()
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(body)
    assert time.perf_counter() - start < 1.0
    assert _issue(err)[1] == "too-costly"


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_100000_levels_of_nesting_are_refused_fast_without_recursion_error(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = opener * 100_000 + ("1" if opener != "[" else "") + closer * 100_000
    start = time.perf_counter()
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(body)
    assert time.perf_counter() - start < 1.0
    assert _issue(err)[1] == "too-costly"


def test_nesting_just_over_the_depth_limit_is_refused_with_its_path() -> None:
    body = {"resourceType": "Patient", "extension": [{"extension": [{"url": "u"}]}]}
    assert parse_json_safely(json.dumps(body), max_depth=5)
    with pytest.raises(ResourceValidationError) as err:
        parse_json_safely(json.dumps(body), max_depth=4)
    assert _issue(err) == ("Patient.extension[0].extension[0]", "too-costly")
    with pytest.raises(ResourceValidationError):
        parse_resource(body, max_depth=4)  # decoded mappings are scanned too


def test_a_bundle_over_the_entry_cap_is_refused_before_any_model_is_built() -> None:
    # 10^6 empty entries: 3 MB of JSON, refused on the count alone.
    body = '{"resourceType":"Bundle","type":"batch","entry":[' + ",".join(["{}"] * 10**6) + "]}"
    start = time.perf_counter()
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(body)
    assert time.perf_counter() - start < 5.0
    assert _issue(err) == ("Bundle.entry", "too-costly")
    assert str(DEFAULT_MAX_ENTRIES) in str(err.value)


def test_entries_of_nested_bundles_count_towards_the_cap() -> None:
    inner = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:a"}, {"fullUrl": "urn:uuid:b"}],
    }
    outer = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}
    assert isinstance(parse_resource(outer, max_entries=3), Bundle)
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(outer, max_entries=2)
    assert _issue(err) == ("Bundle.entry[0].resource.entry", "too-costly")


def test_empty_objects_and_arrays_are_refused_with_every_path() -> None:
    body = {"resourceType": "Patient", "name": [], "address": [{"line": ["1 Main St"]}, {}]}
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(body)
    assert [(i.path, i.code) for i in err.value.issues] == [
        ("Patient.address[1]", "structure"),
        ("Patient.name", "structure"),
    ]


def test_a_bundle_entry_resource_without_resource_type_is_refused() -> None:
    # The library would build an abstract Resource that cannot be written back.
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "x"}}]}
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(bundle)
    assert [(i.path, i.code) for i in err.value.issues] == [
        ("Bundle.entry[0].resource.resourceType", "required")
    ]
    # An element called "resource" elsewhere is a Reference, not a resource.
    linkage = {
        "resourceType": "Linkage",
        "item": [{"type": "source", "resource": {"reference": "Patient/p1"}}],
    }
    assert parse_resource(linkage).get_resource_type() == "Linkage"


def test_parse_resource_refuses_other_python_objects() -> None:
    with pytest.raises(ResourceValidationError) as err:
        parse_resource(42)  # type: ignore[arg-type]
    assert _issue(err)[1] == "structure"
