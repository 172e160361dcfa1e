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
    CDM_SOURCE_COLUMNS,
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
    # The CDM tables are exactly what the interop layer's one-shot export writes.
    export_omop_csv([p.data for p in patients], plain)
    for path in plain.glob("*.csv"):
        assert (whole / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_patient_written_by_an_earlier_chunk_is_refused(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    with SyntheticOmopWriter(tmp_path) as writer:
        writer.add(patients[:2])
        with pytest.raises(InvalidInputError, match="earlier chunk"):
            writer.add(patients[1:3])
    assert writer.report().rows["person"] == 2
    assert len(_rows(tmp_path, "person")) == 2
