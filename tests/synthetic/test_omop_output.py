"""Synthetic patients as OMOP CDM 5.4 CSV tables: complete, linked, marked synthetic."""

from __future__ import annotations

import csv
import dataclasses
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.interop.omop import export_omop_csv, import_omop_csv
from healthtwin.interop.records import ObservationRecord
from healthtwin.synthetic.demographics import sample_demographics
from healthtwin.synthetic.longitudinal import (
    LongitudinalConfig,
    SyntheticPatient,
    generate_patients,
)
from healthtwin.synthetic.omop_output import (
    _TYPE_FOR,
    CDM_SOURCE_COLUMNS,
    SYNTHETIC_ADMINISTRATION_TYPE,
    SYNTHETIC_PRESCRIPTION_TYPE,
    SYNTHETIC_RECORD_TYPE,
    SYNTHETIC_SOURCE_PREFIX,
    SyntheticOmopWriter,
    write_synthetic_omop,
)


def _rows(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def patients() -> tuple[SyntheticPatient, ...]:
    demo = sample_demographics(4, np.random.default_rng(5), diabetes_prevalence=0.5)
    pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=60.0, cgm_days=1))
    first = pats[0]
    last_end = max(e.end for e in first.data.encounters if e.end is not None)
    return (dataclasses.replace(first, deceased=last_end + timedelta(hours=1)), *pats[1:])


def test_tables_hold_every_record_with_integrity(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    report = write_synthetic_omop(patients, tmp_path)
    persons = _rows(tmp_path, "person")
    assert len(persons) == len(patients)
    assert all(r["person_source_value"].startswith("synthetic-") for r in persons)
    person_ids = {r["person_id"] for r in persons}
    visits = _rows(tmp_path, "visit_occurrence")
    visit_ids = {r["visit_occurrence_id"] for r in visits}
    assert len(visits) == sum(len(p.data.encounters) for p in patients)
    measurements = _rows(tmp_path, "measurement")
    assert len(measurements) == sum(len(p.data.observations) for p in patients)
    for table in ("measurement", "drug_exposure", "condition_occurrence", "visit_occurrence"):
        for row in _rows(tmp_path, table):
            assert row["person_id"] in person_ids
            if table != "visit_occurrence" and row.get("visit_occurrence_id"):
                assert row["visit_occurrence_id"] in visit_ids
    drugs = _rows(tmp_path, "drug_exposure")
    diabetic_persons = {str(report.person_ids[p.data.patient.id]) for p in patients if p.diabetic}
    assert drugs
    assert {r["person_id"] for r in drugs} <= diabetic_persons


def test_cdm_source_and_death_tables(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    report = write_synthetic_omop(patients, tmp_path, description="unit test")
    (source,) = _rows(tmp_path, "cdm_source")
    assert tuple(source) == CDM_SOURCE_COLUMNS
    assert source["source_description"].startswith("SYNTHETIC DATA")
    assert source["cdm_version"] == "5.4"
    (death,) = _rows(tmp_path, "death")
    dead = patients[0]
    assert dead.deceased is not None
    assert death["person_id"] == str(report.person_ids[dead.data.patient.id])
    assert death["death_date"] == dead.deceased.date().isoformat()
    measured = [
        r["measurement_datetime"]
        for r in _rows(tmp_path, "measurement")
        if r["person_id"] == death["person_id"]
    ]
    assert max(measured) < death["death_datetime"]


def test_tables_read_back_into_the_records(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    write_synthetic_omop(patients, tmp_path)
    back = {d.patient.id: d for d in import_omop_csv(tmp_path)}
    for p in patients:
        got = back[p.data.patient.id]

        # OMOP keeps everything but code displays (taken from concept names).
        def key(o: ObservationRecord) -> tuple[object, ...]:
            return (o.id, o.code.code, o.effective, o.value, o.unit, o.encounter_id)

        assert sorted(map(key, got.observations)) == sorted(map(key, p.data.observations))
        assert len(got.encounters) == len(p.data.encounters)
        # The synthetic marks are undone on reading: visit classes, drug kinds and codes.
        assert sorted(e.class_code for e in got.encounters) == sorted(
            e.class_code for e in p.data.encounters
        )
        assert sorted((m.kind, m.medication.code) for m in got.medications) == sorted(
            (m.kind, m.medication.code) for m in p.data.medications
        )
        assert sorted(c.code.code for c in got.conditions) == sorted(
            c.code.code for c in p.data.conditions
        )


def test_unmarked_ids_are_refused(patients: tuple[SyntheticPatient, ...], tmp_path: Path) -> None:
    p = patients[1]
    real_looking = dataclasses.replace(
        p, data=dataclasses.replace(p.data, patient=dataclasses.replace(p.data.patient, id="mrn1"))
    )
    with pytest.raises(InvalidInputError, match="synthetic"):
        write_synthetic_omop([real_looking], tmp_path)
    assert not (tmp_path / "person.csv").exists()


def test_chunks_write_the_same_files_as_one_export(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    whole, parts, plain = tmp_path / "whole", tmp_path / "parts", tmp_path / "plain"
    report = write_synthetic_omop(patients, whole)
    with SyntheticOmopWriter(parts) as writer:
        writer.add(patients[:1])
        writer.add(())
        writer.add(patients[1:])
    files = sorted(p.name for p in whole.glob("*.csv"))
    assert files == sorted(p.name for p in parts.glob("*.csv"))
    assert not list(parts.glob(".chunk-*"))  # scratch folders are removed
    for name in files:
        assert (parts / name).read_bytes() == (whole / name).read_bytes(), name
    assert writer.report() == report
    # The CDM tables are what the interop layer's one-shot export writes, but for the
    # synthetic marks (local Type Concepts, ``synthetic-`` event source values).
    export_omop_csv([p.data for p in patients], plain)
    back = {str(v): str(k) for k, v in _TYPE_FOR.items()}
    for path in plain.glob("*.csv"):
        unmarked = [
            {
                k: back.get(v, v)
                if k.endswith("_type_concept_id")
                else v.removeprefix(SYNTHETIC_SOURCE_PREFIX)
                if k.endswith("_source_value") and k != "person_source_value"
                else v
                for k, v in row.items()
            }
            for row in _rows(whole, path.stem)
        ]
        assert unmarked == _rows(plain, path.stem), path.name


def test_a_patient_written_by_an_earlier_chunk_is_refused(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    with SyntheticOmopWriter(tmp_path) as writer:
        writer.add(patients[:2])
        with pytest.raises(InvalidInputError, match="earlier chunk"):
            writer.add(patients[1:3])
    assert writer.report().rows["person"] == 2
    assert len(_rows(tmp_path, "person")) == 2


def test_no_row_claims_ehr_origin_and_event_source_values_say_synthetic(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    write_synthetic_omop(patients, tmp_path)
    local = {SYNTHETIC_RECORD_TYPE, SYNTHETIC_PRESCRIPTION_TYPE, SYNTHETIC_ADMINISTRATION_TYPE}
    assert min(local) > 2_000_000_000  # OHDSI's range for locally defined concepts
    seen: set[int] = set()
    for table in ("visit_occurrence", "condition_occurrence", "drug_exposure", "measurement",
                  "observation_period", "death"):  # fmt: skip
        rows = _rows(tmp_path, table)
        assert rows, table
        for row in rows:
            types = {int(v) for k, v in row.items() if k.endswith("_type_concept_id")}
            assert types, table
            assert types <= local, (table, types)
            seen |= types
            event = {"visit_occurrence": "visit", "condition_occurrence": "condition",
                     "drug_exposure": "drug", "measurement": "measurement"}.get(table)  # fmt: skip
            if event is not None:
                assert row[f"{event}_source_value"].startswith("synthetic-"), row
                assert len(row[f"{event}_source_value"]) <= 50
    assert {"32817", "32818", "32838"}.isdisjoint(
        v for t in ("measurement", "drug_exposure", "visit_occurrence")
        for r in _rows(tmp_path, t) for v in r.values()
    )  # fmt: skip
    assert seen == local  # prescriptions and administrations keep distinct types
    (source,) = _rows(tmp_path, "cdm_source")
    assert str(SYNTHETIC_RECORD_TYPE) in source["source_description"]
