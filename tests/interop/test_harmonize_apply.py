"""Harmonising tables row by row: records, conversions, and every row accounted for."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, NotFoundError
from healthtwin.interop.codes import LOINC, RXNORM, SNOMED
from healthtwin.interop.harmonize import HarmonizedSource, MappingSpec, harmonize
from healthtwin.interop.records import Identifier

SNOMED_MAP = {
    "group": [
        {
            "target": SNOMED,
            "element": [
                {"code": "DM2", "target": [{"code": "44054006"}]},
                {"code": "HTN", "target": [{"code": "59621000"}]},
            ],
        }
    ]
}
DRUG_MAP = {
    "group": [{"target": RXNORM, "element": [{"code": "METFORMIN", "target": [{"code": "6809"}]}]}]
}
MEASURE_MAP = {
    "group": [
        {
            "target": LOINC,
            "element": [
                {"code": "HR", "target": [{"code": "8867-4"}]},
                {"code": "TEMP", "target": [{"code": "8310-5"}]},
                {"code": "GLU", "target": [{"code": "2345-7"}]},
            ],
        }
    ]
}


def wide_spec(**changes: Any) -> MappingSpec:
    document: dict[str, Any] = {
        "source": "clinic",
        "layout": "wide",
        "timezone": "America/New_York",
        "date_formats": ["%m/%d/%Y %H:%M"],
        "columns": {
            "id": "Patient.id",
            "mrn": {"element": "Patient.identifier.value", "system": "urn:example:mrn"},
            "given": "Patient.name.given",
            "sex": {"element": "Patient.gender", "values": {"M": "male", "F": "female"}},
            "dob": {"element": "Patient.birthDate", "date_format": "%m/%d/%Y"},
            "country": "Patient.address.country",
            "visit": "Encounter.id",
            "when": "Observation.effectiveDateTime",
            "hr": {"element": "value", "vital": "heart_rate", "unit": "/min"},
            "temp": {"element": "value", "vital": "body_temperature", "unit": "[degF]"},
            "glu": {"element": "value", "vital": "glucose_plasma", "unit": "mmol/L"},
            "dx": {"element": "Condition.code", "concept_map": "dx"},
            "onset": "Condition.onsetDateTime",
            "drug": {"element": "medication", "concept_map": "drugs"},
            "dose": {"element": "dose", "unit": "mg", "standard_unit": "g"},
        },
        "concept_maps": {"dx": SNOMED_MAP, "drugs": DRUG_MAP},
    }
    document.update(changes)
    return MappingSpec.model_validate(document)


WIDE_COLUMNS = tuple(wide_spec().columns)


def row(**cells: str) -> dict[str, str]:
    """A row of the wide export (every mapped column, empty unless given)."""
    base = dict.fromkeys(WIDE_COLUMNS, "") | {"id": "p1", "when": "03/12/2024 10:00"}
    return base | cells


def run(rows: list[dict[str, str]], spec: MappingSpec | None = None) -> HarmonizedSource:
    result = harmonize(rows, spec or wide_spec())
    assert result.quality.accounted
    return result


def test_a_clean_wide_row_becomes_records_in_standard_units_and_utc() -> None:
    result = run(
        [
            row(
                mrn="A-17", given="Anna  Maria", sex="F", dob="04/03/1956", country="de",
                visit="v1", hr="72", temp="98.6", glu="5.5", dx="DM2", onset="06/01/2015 03:00",
                drug="METFORMIN", dose="500",
            )
        ]
    )  # fmt: skip
    data = result.patient("p1")
    patient = data.patient
    assert patient.identifiers == (Identifier(system="urn:example:mrn", value="A-17"),)
    assert patient.given == ("Anna", "Maria")
    assert (patient.gender, patient.birth_date, patient.country) == (
        "female",
        date(1956, 4, 3),
        "DE",
    )
    when = datetime(2024, 3, 12, 14, 0, tzinfo=UTC)  # 10:00 EDT
    by_code = {o.code.code: o for o in data.observations}
    assert by_code["8867-4"].value == 72.0
    assert by_code["8310-5"].value == pytest.approx(37.0, abs=1e-12)
    assert by_code["8310-5"].unit == "Cel"
    assert by_code["2345-7"].value == pytest.approx(5.5 * 18.0156, rel=1e-14)
    assert by_code["2345-7"].unit == "mg/dL"
    assert all(o.effective == when and o.encounter_id == "v1" for o in data.observations)
    assert by_code["8867-4"].category == "vital-signs"
    (condition,) = data.conditions
    assert (condition.code.system, condition.code.code) == (SNOMED, "44054006")
    assert condition.onset == datetime(2015, 6, 1, 7, 0, tzinfo=UTC)
    (drug,) = data.medications
    assert (drug.medication.system, drug.medication.code) == (RXNORM, "6809")
    assert (drug.dose, drug.dose_unit, drug.start, drug.kind) == (0.5, "g", when, "administration")
    assert result.quality.count("mapped") == 1
    assert result.quality.problems == ()


def test_record_ids_are_stable_and_namespaced() -> None:
    first = run([row(hr="72")]).patients[0].observations[0]
    again = run([row(hr="72")]).patients[0].observations[0]
    other = run([row(hr="72")], wide_spec(id_namespace="site-b")).patients[0].observations[0]
    assert first.id == again.id != other.id


def test_row_states_and_problems() -> None:
    rows = [
        row(hr="72"),  # 1 mapped
        row(hr="72x", temp="98.6", when="03/12/2024 11:00"),  # 2 partial
        row(id="", hr="80"),  # 3 rejected: no patient
        row(hr="75", when="2024-03-12"),  # 4 rejected: bad date
        row(hr="72"),  # 5 duplicate of 1
        row(id="", when=""),  # 6 empty
        row(id="p2", when="", hr="70"),  # 7 rejected: values without a time
        row(id="p3", when="", sex="F"),  # 8 mapped: demographics need no time
        row(hr="900", when="03/12/2024 12:00"),  # 9 rejected: implausible only value
        row(hr="70", when="03/10/2024 02:30"),  # 10 rejected: DST gap in New York
    ]
    quality = run(rows).quality
    assert dict(quality.rows) == {
        "mapped": 2, "partial": 1, "rejected": 5, "duplicate": 1, "empty": 1,
    }  # fmt: skip
    assert quality.rows_with("unparseable_number") == (2,)
    assert quality.rows_with("missing_required", "id") == (3,)
    assert quality.rows_with("unparseable_date") == (4,)
    assert quality.rows_with("duplicate_row") == (5,)
    assert quality.rows_with("missing_required", "when") == (7,)
    assert quality.rows_with("implausible") == (9,)
    assert quality.rows_with("nonexistent_time") == (10,)
    hr = quality.column("hr")
    # Skipped: rows 3, 4, 7, 10 (rejected for another cell), 5 (duplicate) and 6 (empty).
    assert (hr.n_mapped, hr.n_problems, hr.n_skipped, hr.n_missing) == (1, 2, 6, 1)
    assert hr.n_rows == 10
    assert hr.accounted
    (implausible,) = [p for p in quality.problems if p.kind == "implausible"]
    assert implausible.column == "hr"
    assert implausible.value == "900"
    assert "outside the plausible range [0, 350]" in implausible.message


def test_conflicting_demographics_and_values_keep_the_first_and_report() -> None:
    rows = [
        row(sex="F", hr="72"),
        row(sex="M", when="03/13/2024 10:00"),
        row(hr="73", temp="98.6"),
    ]
    result = run(rows)
    assert result.patients[0].patient.gender == "female"
    conflicts = [p for p in result.quality.problems if p.kind == "conflicting_value"]
    assert [(p.row, p.column) for p in conflicts] == [(2, "sex"), (3, "hr")]
    assert "is 'male' here but 'female' in an earlier row" in conflicts[0].message
    assert result.quality.count("partial") == 1  # row 3 kept its temperature
    assert result.quality.count("rejected") == 1  # row 2 had nothing else


def test_unmapped_labels_and_codes_are_counted() -> None:
    rows = [
        row(sex="X", dx="ASTHMA", hr="70"),
        row(dx="ASTHMA", when="03/13/2024 10:00"),
        row(drug="ASPIRIN", dose="100", country="Germany", when="03/14/2024 10:00"),
    ]
    quality = run(rows).quality
    assert quality.unmapped_codes == {"X": 1, "ASTHMA": 2, "ASPIRIN": 1, "Germany": 1}
    assert dict(quality.column("dx").unmapped) == {"ASTHMA": 2}
    assert quality.column("dose").n_skipped == 1


def test_conditions_are_merged_with_the_earliest_onset() -> None:
    rows = [
        row(dx="DM2", onset="06/01/2016 09:00"),
        row(dx="dm2", onset="06/01/2015 09:00", when="03/13/2024 10:00"),
        row(dx="DM2", when="03/14/2024 10:00"),
        row(dx="HTN", onset="yesterday", when="03/15/2024 10:00"),
        row(onset="06/01/2015 09:00", when="03/16/2024 10:00"),
    ]
    result = run(rows)
    conditions = {c.code.code: c for c in result.patients[0].conditions}
    assert conditions["44054006"].onset == datetime(2015, 6, 1, 13, 0, tzinfo=UTC)
    assert conditions["59621000"].onset is None
    assert result.quality.rows_with("unparseable_date", "onset") == (4,)
    assert result.quality.rows_with("missing_required", "dx") == (5,)


def test_medication_rules() -> None:
    rows = [
        row(dose="500"),
        row(drug="METFORMIN", dose="5OO", when="03/13/2024 10:00"),
        row(drug="METFORMIN", when="03/14/2024 10:00"),
    ]
    result = run(rows)
    (only,) = result.patients[0].medications
    assert only.dose is None
    assert result.quality.rows_with("missing_required", "drug") == (1,)
    assert result.quality.rows_with("unparseable_number", "dose") == (2,)


def long_spec(**changes: Any) -> MappingSpec:
    document: dict[str, Any] = {
        "source": "long",
        "layout": "long",
        "timezone": "Europe/Paris",
        "csv": {"decimal": ","},
        "units": {"bpm": "/min", "°C": "Cel"},
        "columns": {
            "pid": "Patient.id",
            "t": "Observation.effectiveDateTime",
            "code": {"element": "Observation.code", "concept_map": "m"},
            "value": "Observation.valueQuantity.value",
            "unit": "Observation.valueQuantity.unit",
        },
        "concept_maps": {"m": MEASURE_MAP},
    }
    document.update(changes)
    return MappingSpec.model_validate(document)


def obs(code: str, value: str, unit: str, t: str = "2024-03-05T14:30:00+01:00") -> dict[str, str]:
    return {"pid": "p1", "t": t, "code": code, "value": value, "unit": unit}


def test_long_layout_reads_code_value_and_unit_per_row() -> None:
    rows = [
        obs("HR", "64", "bpm"),
        obs("TEMP", "36,6", "°C"),
        obs("GLU", "5,5", "mmol/L"),
        obs("GLU", "1,2", "g/L", "2024-03-05T15:30:00+01:00"),
        obs("HR", "64", "kg", "2024-03-05T16:30:00+01:00"),
        obs("HR", "64", "stone", "2024-03-05T17:30:00+01:00"),
        obs("BMI", "24", "kg/m2"),
        obs("HR", "", "bpm", "2024-03-05T18:30:00+01:00"),
        {"pid": "p1", "t": "2024-03-05T19:30:00+01:00", "value": "7", "unit": "bpm"},
    ]
    result = harmonize(rows, long_spec())
    quality = result.quality
    assert quality.accounted
    values = {(o.code.code, o.effective.hour): o.value for o in result.patients[0].observations}
    assert values[("8867-4", 13)] == 64.0
    assert values[("8310-5", 13)] == 36.6
    assert values[("2345-7", 13)] == pytest.approx(5.5 * 18.0156)
    assert values[("2345-7", 14)] == pytest.approx(120.0)
    assert quality.rows_with("incompatible_unit", "unit") == (5,)
    assert quality.rows_with("unknown_unit", "unit") == (6,)
    assert quality.rows_with("unmapped_code", "code") == (7,)
    assert quality.rows_with("missing_required", "value") == (8,)
    assert quality.rows_with("missing_required", "code") == (9,)
    (unknown,) = [p for p in quality.problems if p.kind == "unknown_unit"]
    assert "unknown UCUM unit 'stone'" in unknown.message
    assert "'units'" in unknown.message
    assert quality.column("value").n_skipped == 4


def test_long_layout_falls_back_on_the_value_columns_unit() -> None:
    spec = long_spec(
        columns={
            "pid": "Patient.id",
            "t": "Observation.effectiveDateTime",
            "code": {"element": "Observation.code", "concept_map": "m"},
            "value": {"element": "value", "unit": "/min"},
        }
    )
    result = harmonize(
        [{"pid": "p1", "t": "2024-03-05T14:30:00", "code": "HR", "value": "61"}], spec
    )
    (only,) = result.patients[0].observations
    assert (only.value, only.unit) == (61.0, "/min")
    assert only.effective == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)  # local Paris time


def test_csv_files_with_malformed_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "id;when;hr;temp;extra\n"
        "p1;03/12/2024 10:00;72;98,6;x\n"
        "p1;03/12/2024 11:00;72\n"
        "\n"
        "p2;03/12/2024 10:00;;99,1;y\n",
        encoding="utf-8",
    )
    spec = wide_spec(
        csv={"delimiter": ";", "decimal": ","},
        columns={
            "id": "Patient.id",
            "when": "Observation.effectiveDateTime",
            "hr": {"element": "value", "vital": "heart_rate", "unit": "/min"},
            "temp": {"element": "value", "vital": "body_temperature", "unit": "[degF]"},
        },
        concept_maps={},
    )
    quality = harmonize(path, spec).quality
    assert quality.accounted
    assert dict(quality.rows) == {
        "mapped": 2, "partial": 0, "rejected": 1, "duplicate": 0, "empty": 1,
    }  # fmt: skip
    (malformed,) = quality.problems
    assert (malformed.row, malformed.kind) == (2, "malformed_row")
    assert "expected 5 fields separated by ';'" in malformed.message
    assert quality.ignored_columns == ("extra",)
    assert quality.column("hr").completeness == pytest.approx(0.5)


def test_encodings_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id;when\nMüller;x\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match=r"set csv\.encoding in the mapping"):
        harmonize(path, wide_spec(csv={"delimiter": ";"}))


def test_missing_columns_are_named_with_suggestions() -> None:
    with pytest.raises(InvalidInputError) as caught:
        harmonize(
            [{"PID": "p1", "t": "x", "Code": "HR", "valeur": "1", "unit": "bpm"}], long_spec()
        )
    message = str(caught.value)
    assert "lacks the mapped columns 'pid' (did you mean 'PID'?), 'code' (did you mean" in message
    assert "'value'" in message
    assert "its header is ['PID', 't', 'Code', 'valeur', 'unit']" in message


def test_no_table_and_no_data_file() -> None:
    with pytest.raises(InvalidInputError, match="names no 'data' file"):
        harmonize(None, wide_spec())


def test_data_frames_with_nan_and_native_types() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "id": ["p1", "p1", "p2"],
            "when": [pd.Timestamp("2024-03-12 10:00"), pd.NaT, pd.Timestamp("2024-03-12 10:00")],
            "hr": [72, float("nan"), 65.5],
            "temp": [98.6, float("nan"), float("nan")],
        }
    )
    spec = wide_spec(
        columns={
            "id": "Patient.id",
            "when": "Observation.effectiveDateTime",
            "hr": {"element": "value", "vital": "heart_rate", "unit": "/min"},
            "temp": {"element": "value", "vital": "body_temperature", "unit": "[degF]"},
        },
        concept_maps={},
    )
    result = harmonize(frame, spec)
    assert result.quality.accounted
    assert [len(p.observations) for p in result.patients] == [2, 1]
    assert result.patient("p2").observations[0].value == 65.5
    assert result.quality.count("mapped") == 3  # row 2 has a patient and nothing else


def test_report_renders_as_dict_json_and_text() -> None:
    quality = run([row(hr="72"), row(hr="abc", when="03/12/2024 11:00")]).quality
    as_dict = quality.to_dict()
    assert as_dict["rows"] == {"mapped": 1, "partial": 0, "rejected": 1, "duplicate": 0, "empty": 0}
    hr = next(c for c in as_dict["columns"] if c["column"] == "hr")  # type: ignore[attr-defined]
    assert hr["completeness"] == 1.0
    assert hr["problems_by_kind"] == {"unparseable_number": 1}
    assert '"kind": "unparseable_number"' in quality.to_json()
    text = quality.to_text()
    assert text.splitlines()[0] == "source clinic: 2 rows (mapped 1, rejected 1)"
    assert "row 2 hr: unparseable_number:" in text
    with pytest.raises(KeyError, match="no mapped column 'nope'"):
        quality.column("nope")


def test_patient_lookup() -> None:
    result = run([row(hr="72")])
    with pytest.raises(NotFoundError, match=r"has no patient 'p9'; ids: \['p1'\]"):
        result.patient("p9")


# -- every row accounted for, whatever the defects ------------------------------------------

CELLS = {
    "id": st.sampled_from(["p1", "p2", "", "p3"]),
    "when": st.sampled_from(
        ["03/12/2024 10:00", "03/12/2024 11:30", "", "bad", "03/10/2024 02:30"]
    ),
    "hr": st.sampled_from(["72", "", "9999", "x", "61.5"]),
    "temp": st.sampled_from(["98.6", "", "500", "99,1"]),
    "glu": st.sampled_from(["5.5", "", "-1"]),
    "sex": st.sampled_from(["M", "F", "", "?"]),
    "dx": st.sampled_from(["DM2", "HTN", "", "FLU"]),
    "onset": st.sampled_from(["", "06/01/2015 09:00", "never"]),
    "drug": st.sampled_from(["", "METFORMIN", "ASPIRIN"]),
    "dose": st.sampled_from(["", "500", "lots"]),
}
rows_strategy = st.lists(st.fixed_dictionaries(CELLS), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy)
def test_every_row_and_cell_is_accounted_for(rows: list[dict[str, str]]) -> None:
    result = harmonize([row(**cells) for cells in rows], wide_spec())
    quality = result.quality
    assert quality.accounted
    assert quality.n_rows == len(rows)
    problem_rows = {p.row for p in quality.problems}
    clean = quality.count("mapped") + quality.count("empty")
    assert len(rows) - clean == len(problem_rows)
    for column in quality.columns:
        cells = [r.get(column.column, "") for r in rows]
        assert column.n_mapped <= sum(1 for c in cells if c)
    # Nothing is invented: every observation value is finite and plausible.
    for data in result.patients:
        for observation in data.observations:
            assert observation.value is not None
            assert math.isfinite(observation.value)
            assert observation.effective.tzinfo is UTC


def test_a_column_may_have_its_own_time_zone_and_formats() -> None:
    columns: dict[str, Any] = dict(wide_spec().columns)
    columns["onset"] = {
        "element": "Condition.onsetDateTime",
        "timezone": "UTC",
        "date_format": ["%Y-%m-%d", "%d.%m.%Y"],
    }
    spec = wide_spec(columns=columns)
    result = run([row(dx="DM2", onset="01.06.2015")], spec)
    assert result.patients[0].conditions[0].onset == datetime(2015, 6, 1, tzinfo=UTC)


def test_the_cli_form_takes_two_paths() -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "harmonisation"
    result = harmonize(str(data / "us_site.csv"), str(data / "us_site.yaml"))
    assert result.source == "us-site"
    assert len(result.patients) == 3
