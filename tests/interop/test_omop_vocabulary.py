"""The shipped OMOP concept subset: well formed, documented id by id, covering our codes."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
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
#: Vital-sign LOINC codes with a verified concept (the README names the references).
VITAL_CONCEPTS = {
    "8867-4": 3027018,
    "8480-6": 3004249,
    "8462-4": 3012888,
    "8478-0": 3027598,
    "59408-5": 40762499,
    "2708-6": 3016502,
    "9279-1": 3024171,
    "8310-5": 3020891,
    "2345-7": 3004501,
    "15074-8": 3020491,
}
#: LOINC codes of our records with no verified concept (the README says why).
LEFT_OUT = {"105272-9", "99504-3", "9059-7", "9060-5"}
#: RxNorm insulins: ingredient, glargine, lispro, aspart, regular human; none verified.
LEFT_OUT_INSULINS = {"5856", "274783", "86009", "51428", "253182"}


def readme() -> str:
    return DATA.joinpath("README.md").read_text("utf-8")


def rows() -> list[dict[str, str]]:
    text = DATA.joinpath("omop_vocabulary.csv").read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def documented_ids() -> set[int]:
    return {int(m) for m in re.findall(r"^\| (\d+) \|", readme(), flags=re.MULTILINE)}


def reference_keys() -> set[str]:
    section = readme().split("## References", 1)[1].split("## Concepts", 1)[0]
    return set(re.findall(r"^\| ([a-z0-9-]+) \|", section, flags=re.MULTILINE))


def left_out_section() -> str:
    return readme().split("## Left out", 1)[1]


def test_every_concept_in_the_file_is_documented_with_a_reference() -> None:
    keys = reference_keys()
    for row in rows():
        cited = row["verified_by"].split(";")
        assert cited != [""], f"concept {row['concept_id']} names no reference"
        assert set(cited) <= keys, f"concept {row['concept_id']} cites {cited}"
    assert set(load_vocabulary().concepts) <= documented_ids()


def test_ids_and_codes_are_unique() -> None:
    ids = Counter(row["concept_id"] for row in rows())
    assert [i for i, n in ids.items() if n > 1] == []
    mapped = [r for r in rows() if r["concept_id"] != "0"]
    codes = Counter((r["vocabulary_id"], r["concept_code"]) for r in mapped)
    assert [c for c, n in codes.items() if n > 1] == []


def test_the_type_concepts_are_rows_with_their_codes() -> None:
    concepts = load_vocabulary().concepts
    got = {
        c: (concepts[c].name, concepts[c].domain, concepts[c].vocabulary, concepts[c].code)
        for c in (TYPE_EHR, TYPE_EHR_ADMINISTRATION, TYPE_EHR_PRESCRIPTION)
    }
    assert got == {
        32817: ("EHR", "Type Concept", "Type Concept", "OMOP4976890"),
        32818: ("EHR administration record", "Type Concept", "Type Concept", "OMOP4976891"),
        32838: ("EHR prescription", "Type Concept", "Type Concept", "OMOP4976911"),
    }


def test_every_vital_sign_maps_to_a_measurement_concept_unless_left_out() -> None:
    vocabulary = load_vocabulary()
    ours = {code for v in VITALS.values() for code in (v.code, *v.alternative_codes)}
    assert ours == set(VITAL_CONCEPTS) | LEFT_OUT, "classify every new code here"
    for code in ours:
        concept_id = vocabulary.concept_id(Coding(system=LOINC, code=code))
        if code in LEFT_OUT:
            assert concept_id == NO_MATCHING_CONCEPT, code
            continue
        concept = vocabulary.concepts[concept_id]
        assert (concept_id, concept.domain, concept.vocabulary, concept.code) == (
            VITAL_CONCEPTS[code],
            "Measurement",
            "LOINC",
            code,
        )


def test_the_left_out_codes_are_listed_with_the_reason() -> None:
    section = left_out_section()
    assert all(code in section for code in LEFT_OUT | LEFT_OUT_INSULINS)


def test_the_units_of_our_vital_signs_are_ucum_unit_concepts() -> None:
    vocabulary = load_vocabulary()
    for vital in VITALS.values():
        unit = vocabulary.unit_concept_id(vital.unit)
        assert unit not in (None, NO_MATCHING_CONCEPT), vital.unit
        assert vocabulary.concepts[unit].domain == "Unit"
    units = {u: vocabulary.unit_concept_id(u) for u in ("Cel", "[degF]", "kg", "g", "cm")}
    assert units == {"Cel": 586323, "[degF]": 9289, "kg": 9529, "g": 8504, "cm": 8582}


def test_the_blood_pressure_panel_body_weight_and_height() -> None:
    vocabulary = load_vocabulary()
    codes = ("85354-9", "29463-7", "8302-2")
    got = {c: vocabulary.concept_id(Coding(system=LOINC, code=c)) for c in codes}
    assert got == {"85354-9": 36203185, "29463-7": 3025315, "8302-2": 3036277}
    assert vocabulary.coding(3036277) == Coding(system=LOINC, code="8302-2", display="Body height")


def test_routes_are_the_snomed_route_concepts() -> None:
    vocabulary = load_vocabulary()
    got = {
        code: vocabulary.concept_id(Coding(system=SNOMED, code=code))
        for code in ("26643006", "47625008", "34206005", "78421000")
    }
    assert got == {"26643006": 4132161, "47625008": 4171047, "34206005": 4142048, "78421000": 0}
    assert {vocabulary.concepts[c].domain for c in got.values() if c} == {"Route"}


def test_drugs_are_rxnorm_ingredients_and_insulins_stay_unmapped() -> None:
    vocabulary = load_vocabulary()
    drugs = [c for c in vocabulary.concepts.values() if c.vocabulary == "RxNorm"]
    assert {(c.domain, c.concept_class) for c in drugs} == {("Drug", "Ingredient")}
    assert vocabulary.concept_id(Coding(system=RXNORM, code="8782")) == 753626
    assert vocabulary.concept_id(Coding(system=RXNORM, code="73032")) == 19016749
    for code in LEFT_OUT_INSULINS:
        assert vocabulary.concept_id(Coding(system=RXNORM, code=code)) == NO_MATCHING_CONCEPT


def test_fixed_mappings_point_at_concepts_with_the_expected_codes() -> None:
    concepts = load_vocabulary().concepts
    assert {g: concepts[c].code for g, c in GENDER_CONCEPTS.items()} == {"male": "M", "female": "F"}
    assert {k: concepts[c].code for k, c in VISIT_CONCEPTS.items()} == {
        "IMP": "IP",
        "AMB": "OP",
        "EMER": "ER",
    }
    visits = {c.concept_id: c.code for c in concepts.values() if c.domain == "Visit"}
    assert visits == {9201: "IP", 9202: "OP", 9203: "ER", 262: "ERIP"}
    assert concepts[NO_MATCHING_CONCEPT].name == "No matching concept"


def test_lookups_by_system_and_code() -> None:
    vocabulary = load_vocabulary()
    assert vocabulary.concept_id(Coding(system=SNOMED, code="91302008")) == 132797
    assert vocabulary.concept_id(Coding(system=RXNORM, code="8782")) == 753626
    assert vocabulary.concept_id(Coding(system="urn:local", code="8782")) == NO_MATCHING_CONCEPT
    assert vocabulary.unit_concept_id(None) is None
    assert vocabulary.coding(3027018) == Coding(system=LOINC, code="8867-4", display="Heart rate")
    assert vocabulary.coding(4142048) == Coding(
        system=SNOMED, code="34206005", display="Subcutaneous"
    )
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
