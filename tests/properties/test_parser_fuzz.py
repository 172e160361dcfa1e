"""Hypothesis fuzzing of the FHIR JSON readers: random input gives a result or our error.

Random bytes, random JSON, and valid resources with one element replaced by random JSON go
through :func:`~healthtwin.interop.fhir_json.parse_json_safely`,
:func:`~healthtwin.interop.fhir_json.parse_resource`,
:func:`~healthtwin.interop.fhir_bundle.bundle_to_patients` and the API's
:func:`~healthtwin.api.checks.checked_resource`. The only exception any of them may raise
is the documented :class:`~healthtwin.errors.InvalidInputError` (in practice its subclass
``ResourceValidationError`` with issues); no ``KeyError``, ``TypeError``,
``RecursionError`` or pydantic error escapes.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthtwin.api.checks import checked_resource
from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.interop.fhir_bundle import bundle_to_patients
from healthtwin.interop.fhir_json import parse_json_safely, parse_resource

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FIELDS = [
    "resourceType", "id", "status", "code", "coding", "system", "subject", "reference",
    "valueQuantity", "value", "unit", "effectiveDateTime", "entry", "resource", "request",
    "method", "url", "type", "birthDate", "gender", "meta", "versionId", "extension",
]  # fmt: skip
TYPES = ["Patient", "Observation", "Bundle", "Condition", "Encounter", "Spaceship", "", 7]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["Patient/p1", "2024-05-01T08:00:00Z", "final", "http://loinc.org"])
)
KEYS = st.sampled_from(FIELDS) | st.text(max_size=10)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"}
OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-05-01T08:00:00Z",
    "valueQuantity": {"value": 61, "system": "http://unitsofmeasure.org", "code": "/min"},
}
BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [{"resource": PATIENT}, {"resource": OBSERVATION}],
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for number, value in enumerate(node):
            found += _paths(value, (*prefix, number))
    return found


def _replaced(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    holder: Any = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return changed


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(st.sampled_from([PATIENT, OBSERVATION, BUNDLE]))
    path = draw(st.sampled_from(_paths(document)))
    return _replaced(document, path, draw(JSON))


def _parse_all(data: Any) -> None:
    """Every reader on ``data``; our documented error is the only one allowed out."""
    error: ResourceValidationError | None = None
    try:
        resource = parse_resource(data)
    except ResourceValidationError as err:
        error = err
    if error is not None:
        assert error.issues, "a validation error lists its issues"
        return
    if resource.get_resource_type() == "Bundle":
        with contextlib.suppress(InvalidInputError):
            bundle_to_patients(resource)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes(raw: bytes) -> None:
    parsed: Any = None
    error: ResourceValidationError | None = None
    try:
        parsed = parse_json_safely(raw)
    except ResourceValidationError as err:
        error = err
    assert isinstance(parsed, dict) or (error is not None and error.issues)


@FUZZ
@given(JSON)
def test_random_json_text(value: Any) -> None:
    raw = json.dumps(value).encode()
    try:
        parse_json_safely(raw, max_depth=8)
    except ResourceValidationError:
        return
    _parse_all(raw)


@FUZZ
@given(st.dictionaries(KEYS, JSON, max_size=6), st.sampled_from(TYPES))
def test_random_objects_with_a_resource_type(body: dict[str, Any], kind: Any) -> None:
    _parse_all({**body, "resourceType": kind})
    with contextlib.suppress(InvalidInputError):
        checked_resource({**body, "resourceType": kind}, str(kind))


@FUZZ
@given(mutated())
def test_valid_resources_with_one_element_replaced(document: dict[str, Any]) -> None:
    _parse_all(document)
    with contextlib.suppress(InvalidInputError):
        checked_resource(copy.deepcopy(document), str(document.get("resourceType")))


def test_unmutated_documents_parse() -> None:
    """The seeds are valid, so the fuzzing explores near valid input."""
    assert len(bundle_to_patients(parse_resource(BUNDLE))) == 1
    assert parse_resource(OBSERVATION).get_resource_type() == "Observation"
