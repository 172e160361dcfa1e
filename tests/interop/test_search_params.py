"""FHIR search parsing and matching (http://hl7.org/fhir/R4/search.html semantics)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from healthtwin.errors import ResourceValidationError
from healthtwin.interop.fhir_search import (
    MAX_COUNT,
    matches,
    parse_date_range,
    parse_search,
    sort_key,
)

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:mrn", "value": "12345"}],
    "name": [{"family": "Müller", "given": ["Anna", "Maria"]}],
    "gender": "female",
    "birthDate": "1980-05-17",
}


def _obs(when: str, code: str = "8867-4", patient: str = "p1") -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": f"o-{when}",
        "status": "final",
        "subject": {"reference": f"Patient/{patient}"},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": when,
    }


def _hit(resource: dict[str, object], *params: tuple[str, str]) -> bool:
    return matches(resource, parse_search(str(resource["resourceType"]), params))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", "2024-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        ("2024-12", "2024-12-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        ("2024-02-29", "2024-02-29T00:00:00+00:00", "2024-03-01T00:00:00+00:00"),
        ("2024-03-01T10:15", "2024-03-01T10:15:00+00:00", "2024-03-01T10:16:00+00:00"),
        ("2024-03-01T10:15:30-05:00", "2024-03-01T15:15:30+00:00", "2024-03-01T15:15:31+00:00"),
    ],
)
def test_partial_dates_stand_for_their_whole_range(text: str, low: str, high: str) -> None:
    found = parse_date_range(text)
    assert (found.low.isoformat(), found.high.isoformat()) == (low, high)


@pytest.mark.parametrize("text", ["2024-13", "2023-02-29", "24-01-01", "2024/01/01", "yesterday"])
def test_malformed_dates_are_refused(text: str) -> None:
    with pytest.raises(ResourceValidationError, match="date"):
        parse_date_range(text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("eq2024-01-02", True),
        ("2024-01-02", True),
        ("eq2024-01-03", False),
        ("ne2024-01-02", False),
        ("gt2024-01-01", True),
        ("gt2024-01-02", False),
        ("ge2024-01-02", True),
        ("lt2024-01-02", False),
        ("lt2024-01-03", True),
        ("le2024-01-02", True),
        ("sa2024-01-01", True),
        ("sa2024-01-02", False),
        ("eb2024-01-03", True),
        ("eb2024-01-02", False),
        ("ge2024-01-02T08:00:00Z", True),
        ("gt2024-01-02T08:00:00Z", False),
        ("le2024-01-02T07:59:59Z", False),
    ],
)
def test_date_prefixes(query: str, expected: bool) -> None:
    assert _hit(_obs("2024-01-02T08:00:00Z"), ("date", query)) is expected


def test_approximate_date_uses_ten_percent_of_the_distance_to_now() -> None:
    now = datetime(2024, 1, 11, tzinfo=UTC)
    query = parse_search("Observation", [("date", "ap2024-01-01")])
    assert matches(_obs("2024-01-01T20:00:00Z"), query, now=now)
    assert matches(_obs("2024-01-02T20:00:00Z"), query, now=now)  # 1 day slack of 10
    assert not matches(_obs("2024-01-04T00:00:00Z"), query, now=now)


def test_period_values_are_ranges() -> None:
    obs = _obs("2024-01-02T08:00:00Z")
    del obs["effectiveDateTime"]
    obs["effectivePeriod"] = {"start": "2024-01-02T08:00:00Z", "end": "2024-01-02T09:00:00Z"}
    assert _hit(obs, ("date", "eq2024-01-02"))
    assert not _hit(obs, ("date", "eq2024-01-02T08:30:00Z"))
    assert _hit(obs, ("date", "gt2024-01-02T08:30:00Z"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("http://loinc.org|8867-4", True),
        ("8867-4", True),
        ("http://loinc.org|", True),
        ("|8867-4", False),  # explicitly no system
        ("http://snomed.info/sct|8867-4", False),
        ("9279-1,8867-4", True),  # OR
    ],
)
def test_token_forms(query: str, expected: bool) -> None:
    assert _hit(_obs("2024-01-02T08:00:00Z"), ("code", query)) is expected


def test_repeated_parameters_are_anded_and_not_negates() -> None:
    obs = _obs("2024-01-02T08:00:00Z")
    assert _hit(obs, ("date", "ge2024-01-01"), ("date", "lt2024-01-03"))
    assert not _hit(obs, ("date", "ge2024-01-01"), ("date", "lt2024-01-02"))
    assert not _hit(obs, ("code:not", "8867-4"))
    assert _hit(obs, ("code:not", "9279-1"))


def test_patient_string_search_is_case_and_accent_insensitive_prefix() -> None:
    assert _hit(PATIENT, ("name", "mull"))
    assert _hit(PATIENT, ("name", "MARIA"))
    assert not _hit(PATIENT, ("name", "aria"))
    assert _hit(PATIENT, ("name:contains", "aria"))
    assert _hit(PATIENT, ("family:exact", "Müller"))
    assert not _hit(PATIENT, ("family:exact", "muller"))


def test_patient_tokens_dates_and_missing() -> None:
    assert _hit(PATIENT, ("identifier", "urn:mrn|12345"))
    assert not _hit(PATIENT, ("identifier", "urn:other|12345"))
    assert _hit(PATIENT, ("gender", "female"), ("birthdate", "1980"))
    assert not _hit(PATIENT, ("birthdate", "gt1980-05-17"))
    assert _hit(PATIENT, ("birthdate:missing", "false"))
    assert not _hit({"resourceType": "Patient", "id": "x"}, ("birthdate:missing", "false"))


@pytest.mark.parametrize("reference", ["Patient/p1", "p1"])
def test_reference_accepts_typed_and_bare_ids(reference: str) -> None:
    assert _hit(_obs("2024-01-02T08:00:00Z"), ("patient", reference))
    assert not _hit(_obs("2024-01-02T08:00:00Z", patient="p2"), ("patient", reference))


def test_escaped_commas_are_not_separators() -> None:
    query = parse_search("Patient", [("family", r"Smith\,Jones")])
    assert query.criteria[0].values == ("Smith,Jones",)


def test_count_is_capped_and_sort_parsed() -> None:
    query = parse_search("Observation", [("_count", "100000"), ("_sort", "-date,code")])
    assert query.count == MAX_COUNT
    assert query.sort == (("date", True), ("code", False))


def test_sort_key_orders_by_date_and_puts_missing_last() -> None:
    query = parse_search("Observation", [("_sort", "date")])
    items = [_obs("2024-01-03T00:00:00Z"), _obs("2024-01-01T00:00:00Z")]
    undated = {"resourceType": "Observation", "id": "none"}
    ordered = sorted([*items, undated], key=lambda r: sort_key(r, query, "date"))
    assert [r["id"] for r in ordered] == [
        "o-2024-01-01T00:00:00Z",
        "o-2024-01-03T00:00:00Z",
        "none",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("nmae", "x")], "no search parameter 'nmae'"),
        ([("gender:exact", "x")], "modifier :exact does not apply"),
        ([("date", "ge2024-99")], "date"),
        ([("_count", "-1")], "non-negative"),
        ([("_sort", "weight")], "cannot sort by 'weight'"),
        ([("birthdate:missing", "maybe")], "true or false"),
        ([("name", "")], "empty value"),
    ],
)
def test_bad_queries_say_what_is_wrong(params: list[tuple[str, str]], message: str) -> None:
    resource_type = "Observation" if params[0][0] in ("date", "_sort", "_count") else "Patient"
    with pytest.raises(ResourceValidationError, match=message) as caught:
        parse_search(resource_type, params)
    assert caught.value.issues


def test_unsupported_type_and_all_issues_listed() -> None:
    with pytest.raises(ResourceValidationError, match="not supported"):
        parse_search("Claim", [])
    with pytest.raises(ResourceValidationError) as caught:
        parse_search("Patient", [("nmae", "x"), ("gender:exact", "y")])
    assert len(caught.value.issues) == 2
