"""Purpose-of-use codes: the v3 ActReason hierarchy and the parsing of codes and Codings."""

from __future__ import annotations

import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.governance.purpose import (
    PURPOSE_OF_USE_SYSTEM,
    PURPOSES,
    SECONDARY_USE_PURPOSES,
    ancestors,
    is_specialisation,
    parse_purpose,
    purpose_coding,
)

ROOTS = {"HMARKT", "HOPERAT", "HPAYMT", "HRESCH", "PATRQT", "PUBHLTH", "TREAT"}


def test_the_issue_s_purposes_and_their_top_levels() -> None:
    for code in ("TREAT", "ETREAT", "HPAYMT", "HOPERAT", "HRESCH", "PUBHLTH", "HMARKT"):
        assert code in PURPOSES
    assert {ancestors(code)[-1] for code in PURPOSES} == ROOTS
    assert {code for code in PURPOSES if len(ancestors(code)) == 1} == ROOTS


@pytest.mark.parametrize(
    ("code", "chain"),
    [
        ("HRESCH", ("HRESCH",)),  # top level in THO 2018-08-12, not under HMARKT
        ("CLINTRCHPC", ("CLINTRCHPC", "CLINTRCH", "HRESCH")),
        ("BTG", ("BTG", "ETREAT", "TREAT")),
        ("ELIGVER", ("ELIGVER", "COVERAGE", "HPAYMT")),
        ("HTEST", ("HTEST", "SYSDEV", "HOPERAT")),
        ("THREAT", ("THREAT", "PUBHLTH")),
    ],
)
def test_hierarchy_follows_the_published_code_system(code: str, chain: tuple[str, ...]) -> None:
    assert ancestors(code) == chain


def test_specialisation_is_one_way() -> None:
    assert is_specialisation("ETREAT", "TREAT")
    assert is_specialisation("TREAT", "TREAT")
    assert not is_specialisation("TREAT", "ETREAT")
    assert not is_specialisation("HRESCH", "HMARKT")


@pytest.mark.parametrize(
    "value",
    [
        "CLINTRCH",
        " clintrch ",
        f"{PURPOSE_OF_USE_SYSTEM}|CLINTRCH",
        "http://hl7.org/fhir/v3/ActReason|CLINTRCH",
        {"system": PURPOSE_OF_USE_SYSTEM, "code": "CLINTRCH"},
        {"code": "CLINTRCH"},
        {
            "coding": [
                {"system": "http://x", "code": "Z"},
                {"system": PURPOSE_OF_USE_SYSTEM, "code": "CLINTRCH"},
            ]
        },
    ],
)
def test_parse_accepts_codes_tokens_codings_and_concepts(value: object) -> None:
    assert parse_purpose(value) == "CLINTRCH"  # type: ignore[arg-type]


def test_unknown_codes_and_foreign_systems_are_refused_with_help() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown purpose of use 'RESEARCH'.*HRESCH"):
        parse_purpose("RESEARCH")
    with pytest.raises(InvalidInputError, match=r"code system 'http://snomed\.info/sct'"):
        parse_purpose({"system": "http://snomed.info/sct", "code": "TREAT"})
    with pytest.raises(InvalidInputError, match="no coding of"):
        parse_purpose({"coding": [{"system": "http://x", "code": "TREAT"}]})
    with pytest.raises(InvalidInputError):
        ancestors("NOPE")


def test_coding_round_trip_and_secondary_uses() -> None:
    for code in PURPOSES:
        coding = purpose_coding(code)
        assert coding["system"] == PURPOSE_OF_USE_SYSTEM
        assert parse_purpose(coding) == code
    assert set(PURPOSES) >= SECONDARY_USE_PURPOSES
    assert "TREAT" not in SECONDARY_USE_PURPOSES
