"""The mapping schema: what a valid mapping is, and errors that point at the YAML path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.interop.harmonize import (
    MappingSpec,
    load_mapping,
    mapping_from_dict,
    mapping_json_schema,
    referenced_sources,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "harmonisation"


def wide(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "source": "test",
        "layout": "wide",
        "timezone": "Europe/Berlin",
        "columns": {
            "id": "Patient.id",
            "when": "Observation.effectiveDateTime",
            "temp": {
                "element": "Observation.valueQuantity.value",
                "vital": "body_temperature",
                "unit": "Cel",
            },
        },
    }
    spec.update(changes)
    return spec


def issues_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ResourceValidationError) as caught:
        mapping_from_dict(document)
    return {issue.path: issue.message for issue in caught.value.issues}


def test_a_minimal_wide_mapping_is_valid() -> None:
    spec = mapping_from_dict(wide())
    assert spec.layout == "wide"
    assert spec.columns["temp"].vital == "body_temperature"
    assert spec.columns_of("Observation.valueQuantity.value") == ("temp",)
    assert spec.csv.decimal == "."
    assert spec.date_formats == ("iso",)


def test_accepted_equivalences_are_a_set_of_fhir_codes() -> None:
    spec = mapping_from_dict(wide(accept_equivalence=["equivalent", "narrower", "equivalent"]))
    assert spec.accept_equivalence == frozenset({"equivalent", "narrower"})
    found = issues_of(wide(accept_equivalence=["close"]))
    assert "Input should be 'relatedto'" in found["accept_equivalence[0]"]


def test_record_field_aliases_become_fhir_paths() -> None:
    document = wide()
    document["columns"] |= {"dob": "birth_date", "sex": "gender", "seen": "effective"}
    del document["columns"]["when"]
    spec = mapping_from_dict(document)
    assert spec.columns["dob"].element == "Patient.birthDate"
    assert spec.columns["sex"].element == "Patient.gender"
    assert spec.columns["seen"].element == "Observation.effectiveDateTime"


def test_unknown_ucum_unit_is_reported_at_its_path_with_a_suggestion() -> None:
    document = wide()
    document["columns"]["temp"]["unit"] = "degF"
    found = issues_of(document)
    assert list(found) == ["columns.temp.unit"]
    assert "unknown UCUM unit 'degF'" in found["columns.temp.unit"]
    assert "did you mean '[degF]'?" in found["columns.temp.unit"]


def test_the_error_message_lists_every_problem_with_its_path() -> None:
    document = wide(timezone="Europe/Berln", layout="wide")
    document["columns"]["temp"]["unit"] = "mmHg"
    document["columns"]["bad"] = {"element": "Patient.birthdate"}
    with pytest.raises(ResourceValidationError) as caught:
        mapping_from_dict(document, origin="site.yaml")
    text = str(caught.value)
    assert text.startswith("site.yaml has 3 problems:")
    assert "timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?" in text
    assert "columns.temp.unit: unknown UCUM unit 'mmHg'" in text
    assert "columns.bad.element: unknown element 'Patient.birthdate'; did you mean " in text
    assert "'Patient.birthDate'" in text
    assert isinstance(caught.value, InvalidInputError)


def test_unit_must_convert_to_the_vitals_unit() -> None:
    document = wide()
    document["columns"]["temp"]["unit"] = "kg"
    found = issues_of(document)
    assert "unit 'kg' (mass, g) cannot be converted to 'Cel'" in found["columns.temp.unit"]


def test_glucose_in_mmol_converts_to_mg_per_dl_through_its_molar_mass() -> None:
    document = wide()
    document["columns"]["glu"] = {
        "element": "value",
        "vital": "glucose_plasma",
        "unit": "mmol/L",
    }
    mapping_from_dict(document)
    document["columns"]["glu"]["vital"] = "heart_rate"
    assert "cannot be converted to '/min'" in issues_of(document)["columns.glu.unit"]


def test_unknown_vital_lists_the_names_and_extra_vitals_extend_them() -> None:
    document = wide()
    document["columns"]["w"] = {"element": "value", "vital": "body_weight", "unit": "[lb_av]"}
    message = issues_of(document)["columns.w.vital"]
    assert "unknown vital 'body_weight'" in message
    assert "heart_rate" in message
    document["extra_vitals"] = {
        "body_weight": {
            "code": "29463-7",
            "display": "Body weight",
            "unit": "kg",
            "plausible": [0.2, 700],
        }
    }
    spec = mapping_from_dict(document)
    assert spec.resolve_vital("29463-7").unit == "kg"


def test_names_with_spaces_are_quoted_in_paths() -> None:
    document = wide()
    document["columns"]["Glukose (mmol/l)"] = {"element": "value", "vital": "spo2", "unit": "x"}
    found = issues_of(document)
    assert "columns['Glukose (mmol/l)'].unit" in found


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"layout": "tall"}, "layout", "Input should be 'wide' or 'long'; got 'tall'"),
        ({"timezone": None}, "timezone", "Input should be a valid string"),
        ({"source": ""}, "source", "at least 1 character"),
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
        ({"csv": {"decimal": ";"}}, "csv.decimal", "Input should be '.' or ','"),
        ({"csv": {"decimal": ",", "thousands": ","}}, "csv", "must differ"),
    ],
)
def test_schema_errors_have_paths(change: dict[str, Any], path: str, message: str) -> None:
    found = issues_of(wide(**change))
    assert message in found[path]


def test_missing_required_settings_are_named() -> None:
    document = wide()
    del document["timezone"]
    with pytest.raises(ResourceValidationError) as caught:
        mapping_from_dict(document)
    (issue,) = caught.value.issues
    assert (issue.path, issue.code) == ("timezone", "required")


def test_layout_rules() -> None:
    document = wide()
    del document["columns"]["id"]
    assert "no column fills Patient.id" in issues_of(document)["columns"]
    document = wide()
    del document["columns"]["when"]
    assert "values need a time" in issues_of(document)["columns"]
    document = wide()
    document["columns"]["code"] = {"element": "Observation.code", "concept_map": "m"}
    assert "is for the long layout" in issues_of(document)["columns"]
    long = wide(layout="long")
    long["columns"]["temp"] = "value"
    found = issues_of(long)
    assert "the long layout needs a Observation.code column" in found["columns"]
    assert "needs a 'unit'" in found["columns.temp.unit"]


def test_settings_on_the_wrong_kind_of_column_are_refused() -> None:
    document = wide()
    document["columns"]["id"] = {"element": "Patient.id", "unit": "kg", "date_format": "%Y"}
    found = issues_of(document)
    assert found["columns.id.unit"] == "Patient.id columns take no 'unit'"
    assert found["columns.id.date_format"] == "Patient.id columns take no 'date_format'"


def test_value_sets_must_target_standard_values() -> None:
    document = wide()
    document["columns"]["sex"] = {
        "element": "Patient.gender",
        "values": {"männlich": "man", "weiblich": "female", "Weiblich": "male"},
    }
    document["columns"]["land"] = {"element": "country", "values": {"Deutschland": "Germany"}}
    found = issues_of(document)
    assert "'man' is not a FHIR gender" in found["columns.sex.values.männlich"]
    assert "differ only in case" in found["columns.sex.values.Weiblich"]
    assert "not an ISO 3166-1 alpha-2 code" in found["columns.land.values.Deutschland"]


def test_coded_columns_need_a_defined_concept_map() -> None:
    document = wide()
    document["columns"]["dx"] = {"element": "Condition.code"}
    assert "needs a 'concept_map'" in issues_of(document)["columns.dx.concept_map"]
    document["columns"]["dx"]["concept_map"] = "diagnoses"
    message = issues_of(document)["columns.dx.concept_map"]
    assert message == "unknown concept map 'diagnoses'; defined: (none defined)"


def test_long_layout_concept_map_must_produce_known_vitals() -> None:
    document = wide(
        layout="long",
        concept_maps={
            "m": {
                "group": [
                    {
                        "target": "http://loinc.org",
                        "element": [
                            {"code": "FC", "target": [{"code": "8867-4"}]},
                            {"code": "XX", "target": [{"code": "1234-5"}]},
                        ],
                    }
                ]
            }
        },
    )
    document["columns"] |= {
        "code": {"element": "Observation.code", "concept_map": "m"},
        "temp": {"element": "value", "unit": "Cel"},
    }
    found = issues_of(document)
    assert "unknown vital '1234-5'" in found["concept_maps.m.group[0].element[1].target[0].code"]


def test_concept_maps_may_live_in_files(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "dx.json").write_text(
        json.dumps(
            {
                "resourceType": "ConceptMap",
                "status": "draft",
                "group": [
                    {
                        "target": "http://snomed.info/sct",
                        "element": [{"code": "DM2", "target": [{"code": "44054006"}]}],
                    }
                ],
            }
        )
    )
    document = wide(concept_maps={"dx": {"file": "maps/dx.json"}}, data="export.csv")
    document["columns"]["dx"] = {"element": "condition", "concept_map": "dx"}
    spec = mapping_from_dict(document, base_dir=tmp_path)
    assert spec.concept_maps["dx"].group[0].element[0].code == "DM2"
    assert spec.data == str(tmp_path / "export.csv")
    document["concept_maps"] = {"dx": {"file": "maps/none.json"}}
    found = issues_of_in(document, tmp_path)
    assert "cannot read" in found["concept_maps.dx.file"]


def issues_of_in(document: dict[str, Any], base: Path) -> dict[str, str]:
    with pytest.raises(ResourceValidationError) as caught:
        mapping_from_dict(document, base_dir=base)
    return {issue.path: issue.message for issue in caught.value.issues}


def test_concept_map_entries_are_checked_like_fhir() -> None:
    document = wide(
        concept_maps={
            "dx": {
                "group": [
                    {
                        "target": "http://snomed.info/sct",
                        "element": [
                            {"code": "A", "target": [{"code": "1", "equivalence": "same"}]}
                        ],
                    }
                ]
            }
        }
    )
    found = issues_of(document)
    assert (
        "Input should be 'relatedto'"
        in found["concept_maps.dx.group[0].element[0].target[0].equivalence"]
    )


def test_load_mapping_reads_yaml_and_reports_file_problems(tmp_path: Path) -> None:
    spec = load_mapping(DATA / "us_site.yaml")
    assert spec.source == "us-site"
    assert spec.data == str(DATA / "us_site.csv")
    with pytest.raises(InvalidInputError, match="cannot read mapping file"):
        load_mapping(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("source: [unclosed\n")
    with pytest.raises(InvalidInputError, match="is not valid YAML"):
        load_mapping(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ResourceValidationError, match="must be a YAML mapping"):
        load_mapping(tmp_path / "list.yaml")


def test_the_site_mappings_are_valid() -> None:
    for name in ("us_site.yaml", "de_site.yaml", "fr_site.yaml"):
        assert load_mapping(DATA / name).columns


def test_direct_construction_also_validates() -> None:
    with pytest.raises(ValidationError, match=r"no column fills Patient\.id"):
        MappingSpec.model_validate(wide(columns={"when": "effective"}))


def test_json_schema_describes_the_mapping() -> None:
    schema = mapping_json_schema()
    assert set(schema["required"]) == {"source", "layout", "timezone", "columns"}
    column = schema["properties"]["columns"]["additionalProperties"]["anyOf"]
    assert {"type": "string", "description": "shorthand for {element: <this string>}"} in column
    assert "ColumnSpec" in schema["$defs"]
    assert "ConceptMap" in schema["$defs"]
    json.dumps(schema)


def test_referenced_sources_lists_data_and_concept_map_files() -> None:
    found = referenced_sources(DATA / "fr_site.yaml")
    assert found == (DATA / "fr_site.csv", DATA / "fr_measures.conceptmap.json")
    assert all(path.exists() for path in found)
    assert referenced_sources(DATA / "us_site.yaml") == (DATA / "us_site.csv",)


def test_referenced_sources_refuses_non_mappings(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("just text\n")
    with pytest.raises(InvalidInputError, match="must be a YAML mapping"):
        referenced_sources(tmp_path / "x.yaml")
    with pytest.raises(InvalidInputError, match="cannot read mapping"):
        referenced_sources(tmp_path / "absent.yaml")
