"""The shipped OMOP concept subset: well formed, documented id by id, covering our codes."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.interop.codes import LOINC, RXNORM, SNOMED, VITALS
from healthtwin.interop.omop import load_vocabulary
from healthtwin.interop.omop.vocabulary import (
    GENDER_CONCEPTS,
    NO_MATCHING_CONCEPT,
    TYPE_EHR,
    TYPE_EHR_ADMINISTRATION,
    TYPE_EHR_PRESCRIPTION,
    VISIT_CONCEPTS,
    Concept,
    parse_vocabulary,
)
from healthtwin.interop.records import Coding

DATA = resources.files("healthtwin.interop").joinpath("data")
#: Vital-sign LOINC codes with no verified concept (the README says why).
LEFT_OUT = {"15074-8", "105272-9", "99504-3", "9059-7", "9060-5"}


def documented_ids() -> set[int]:
    readme = DATA.joinpath("README.md").read_text("utf-8")
    return {int(m) for m in re.findall(r"^\| (\d+) \|", readme, flags=re.MULTILINE)}


def test_every_concept_in_the_file_is_documented_with_a_reference() -> None:
    rows = DATA.joinpath("omop_vocabulary.csv").read_text("utf-8").splitlines()[1:]
    assert all(row.rsplit(",", 1)[1] for row in rows), "every row names its reference"
    assert set(load_vocabulary().concepts) <= documented_ids()


def test_the_type_concepts_are_documented_too() -> None:
    assert {TYPE_EHR, TYPE_EHR_ADMINISTRATION, TYPE_EHR_PRESCRIPTION} <= documented_ids()


def test_the_vital_signs_and_their_units_have_concepts_unless_left_out() -> None:
    vocabulary = load_vocabulary()
    for vital in VITALS.values():
        unit = vocabulary.unit_concept_id(vital.unit)
        assert unit not in (None, NO_MATCHING_CONCEPT), vital.unit
    got = {
        code: vocabulary.concept_id(Coding(system=LOINC, code=code))
        for code in (
            "8867-4",
            "8480-6",
            "8462-4",
            "8478-0",
            "85354-9",
            "59408-5",
            "2708-6",
            "9279-1",
            "8310-5",
            "2345-7",
            "29463-7",
            *LEFT_OUT,
        )
    }
    assert got == {
        "8867-4": 3027018,
        "8480-6": 3004249,
        "8462-4": 3012888,
        "8478-0": 3027598,
        "85354-9": 36203185,
        "59408-5": 40762499,
        "2708-6": 3016502,
        "9279-1": 3024171,
        "8310-5": 3020891,
        "2345-7": 3004501,
        "29463-7": 3025315,
        **dict.fromkeys(LEFT_OUT, NO_MATCHING_CONCEPT),
    }


def test_fixed_mappings_point_at_concepts_with_the_expected_codes() -> None:
    concepts = load_vocabulary().concepts
    assert {g: concepts[c].code for g, c in GENDER_CONCEPTS.items()} == {"male": "M", "female": "F"}
    assert {k: concepts[c].code for k, c in VISIT_CONCEPTS.items()} == {
        "IMP": "IP",
        "AMB": "OP",
        "EMER": "ER",
    }
    assert concepts[NO_MATCHING_CONCEPT].name == "No matching concept"


def test_lookups_by_system_and_code() -> None:
    vocabulary = load_vocabulary()
    assert vocabulary.concept_id(Coding(system=SNOMED, code="91302008")) == 132797
    assert vocabulary.concept_id(Coding(system=RXNORM, code="8782")) == 753626
    assert vocabulary.concept_id(Coding(system="urn:local", code="8782")) == NO_MATCHING_CONCEPT
    assert vocabulary.unit_concept_id(None) is None
    assert vocabulary.coding(3027018) == Coding(system=LOINC, code="8867-4", display="Heart rate")
    assert vocabulary.coding(0) is None
    assert vocabulary.coding(123) is None


def test_concepts_from_elsewhere_extend_but_never_override_the_subset() -> None:
    extra = [
        Concept(
            concept_id=3027018,
            name="changed",
            domain="Measurement",
            vocabulary="LOINC",
            code="0000-0",
        ),
        Concept(
            concept_id=45000001,
            name="A local code",
            domain="Observation",
            vocabulary="MyVocab",
            code="X1",
        ),
    ]
    merged = load_vocabulary().with_concepts(extra)
    assert merged.concepts[3027018].name == "Heart rate"
    local = merged.coding(45000001)
    assert local == Coding(system="urn:omop:vocabulary:MyVocab", code="X1", display="A local code")


HEADER = (
    "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,"
    "concept_code,verified_by\n"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x,Heart rate,Measurement,LOINC,,,8867-4,ref\n", "line 2 is malformed"),
        ("1,a,b,c,,,d,ref\n1,a,b,c,,,e,ref\n", "line 3 repeats concept_id 1"),
    ],
)
def test_a_malformed_vocabulary_file_is_refused(body: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_vocabulary(HEADER + body)
