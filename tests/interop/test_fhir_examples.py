"""The official HL7 FHIR R4 examples we ship: they parse, pass our checks, and round trip.

The subset (tests/data/fhir/hl7-r4-examples/, see tests/data/fhir/README.md) covers every
supported resource type. One example is known to deviate, and the check must name why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthtwin.interop.fhir_checks import check_resource
from healthtwin.interop.fhir_json import SUPPORTED_RESOURCE_TYPES, dump_resource, parse_resource

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "fhir" / "hl7-r4-examples"
FILES = sorted(EXAMPLES.glob("*.json"))
# Known deviations of the official examples from our rules: file -> (path, code) issues.
DEVIANT = {
    # The spec's example of reference resolution in bundles: its glucose Observations carry
    # no value (nor a dataAbsentReason), which the vital-signs rules require.
    "Bundle-bundle-references.json": [
        (f"Bundle.entry[{i}].resource.value[x]", "required") for i in (2, 3, 4, 5, 6, 9, 10)
    ],
}


def test_the_subset_is_small_and_covers_every_supported_type() -> None:
    assert 20 <= len(FILES) <= 40
    assert sum(f.stat().st_size for f in FILES) < 300_000
    types = {json.loads(f.read_text())["resourceType"] for f in FILES}
    assert types == set(SUPPORTED_RESOURCE_TYPES)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_example_parses_checks_and_round_trips(path: Path) -> None:
    raw = path.read_bytes()
    resource = parse_resource(raw)
    assert resource.get_resource_type() == json.loads(raw)["resourceType"]
    issues = [(i.path, i.code) for i in check_resource(resource) if i.severity == "error"]
    assert issues == DEVIANT.get(path.name, [])
    dumped = dump_resource(resource)
    again = parse_resource(json.dumps(dumped))
    assert again == resource
    assert dump_resource(again) == dumped


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_dump_keeps_the_examples_content(path: Path) -> None:
    # Only the spelling of instants may change (2018-03-11T16:07:54+00:00 -> ...Z).
    original = json.loads(path.read_text())
    dumped = dump_resource(parse_resource(original))
    assert _strip_instants(dumped) == _strip_instants(original)


def _strip_instants(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip_instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_instants(v) for v in value]
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        return value[:19]
    return value
