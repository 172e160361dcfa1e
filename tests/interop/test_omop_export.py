"""OMOP export: the rows written for two hand-made patients, checked value by value."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from tests.interop.test_omop_samples import diabetic, sample_patients, septic

from healthtwin.interop.omop import (
    CDM_TABLES,
    SOURCE_RECORD,
    create_omop_tables,
    export_omop,
    export_omop_csv,
)
from healthtwin.interop.omop.tables import cdm_table


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'omop.sqlite'}")


def rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(sql))]


def test_persons_get_ids_in_patient_id_order_with_gender_birth_and_sites(engine: Engine) -> None:
    report = export_omop(sample_patients(), engine)
    assert report.person_ids == {"sepsis-007": 1, "t1d-001": 2}
    assert rows(
        engine,
        "select person_id, gender_concept_id, year_of_birth, month_of_birth, day_of_birth, "
        "race_concept_id, person_source_value, gender_source_value from person",
    ) == [
        (1, 8507, 1951, 11, 3, 0, "sepsis-007", "male"),
        (2, 8532, 1984, 2, 29, 0, "t1d-001", "female"),
    ]
    # Countries and organisations become shared location / care-site rows.
    assert rows(engine, "select location_id, country_source_value from location") == [
        (1, "FR"),
        (2, "DE"),
    ]
    assert rows(engine, "select care_site_id, care_site_source_value from care_site") == [
        (1, "org-charite")
    ]
    assert rows(engine, "select location_id, care_site_id from person order by person_id") == [
        (1, None),
        (2, 1),
    ]


def test_visits_map_classes_and_fill_the_end_of_an_open_visit(engine: Engine) -> None:
    export_omop(sample_patients(), engine)
    assert rows(
        engine,
        "select visit_occurrence_id, person_id, visit_concept_id, visit_start_datetime, "
        "visit_end_date, visit_end_datetime, visit_type_concept_id, care_site_id, "
        "visit_source_value from visit_occurrence",
    ) == [
        (
            1,
            1,
            9203,
            "2024-03-01 09:30:00.000000",
            "2024-03-01",
            "2024-03-01 15:30:00.000000",
            32817,
            None,
            "EMER",
        ),
        # Patient 2's encounters in id order: enc-clinic (open: ends on its start day), enc-ward.
        (2, 2, 9202, "2024-03-11 08:30:00.000000", "2024-03-11", None, 32817, None, "AMB"),
        (
            3,
            2,
            9201,
            "2024-03-01 06:30:00.000000",
            "2024-03-03",
            "2024-03-03 08:30:00.000000",
            32817,
            1,
            "IMP",
        ),
    ]


def test_measurements_carry_concepts_units_and_split_the_blood_pressure_panel(
    engine: Engine,
) -> None:
    export_omop([diabetic()], engine)
    got = rows(
        engine,
        "select measurement_id, measurement_concept_id, value_as_number, unit_concept_id, "
        "unit_source_value, measurement_source_value, visit_occurrence_id from measurement",
    )
    # Records in id order: obs-bp (two rows), obs-cgm-1, obs-cgm-2, obs-glu, obs-hr, ...
    assert got == [
        (1, 3004249, 128.0, 8876, "mm[Hg]", "8480-6", 2),
        (2, 3012888, 79.0, 8876, "mm[Hg]", "8462-4", 2),
        (3, 0, 9.4, 8753, "mmol/L", "105272-9", None),  # CGM LOINC: no verified concept
        (4, 0, 9.9, 8753, "mmol/L", "105272-9", None),
        (5, 3004501, 182.0, 8840, "mg/dL", "2345-7", 2),
        (6, 3027018, 88.0, 8541, "/min", "8867-4", 2),
        (7, 40762499, 97.0, 8554, "%", "59408-5", 2),
        (8, 3020891, 37.2, 586323, "Cel", "8310-5", 2),
    ]
    assert rows(engine, "select distinct measurement_type_concept_id from measurement") == [
        (32817,)
    ]
    assert rows(
        engine,
        "select record_id, code, panel_code from healthtwin_source_record "
        "where cdm_table = 'measurement' and cdm_id <= 2",
    ) == [("obs-bp", "8480-6", "85354-9"), ("obs-bp", "8462-4", "85354-9")]


def test_drugs_keep_kind_dose_rate_and_dates(engine: Engine) -> None:
    export_omop([diabetic()], engine)
    assert rows(
        engine,
        "select drug_exposure_id, drug_concept_id, drug_type_concept_id, "
        "drug_exposure_start_date, drug_exposure_end_date, drug_exposure_end_datetime, "
        "quantity, sig, route_concept_id, route_source_value, dose_unit_source_value, "
        "drug_source_value from drug_exposure",
    ) == [
        # med-basal: a request (EHR prescription), unmapped insulin glargine (RxNorm 274783).
        (
            1,
            0,
            32838,
            "2024-03-01",
            "2024-03-31",
            "2024-03-31 08:30:00.000000",
            18,
            None,
            None,
            None,
            "U",
            "274783",
        ),
        # med-bolus-1: administration without an end: ends on its start day, no end time.
        (2, 0, 32818, "2024-03-01", "2024-03-01", None, 6, None, 4142048, "34206005", "U", "86009"),
        (
            3,
            0,
            32818,
            "2024-03-01",
            "2024-03-01",
            "2024-03-01 17:30:00.000000",
            None,
            "rate 1.5 U/h",
            None,
            None,
            None,
            "86009",
        ),
    ]


def test_conditions_and_the_observation_period(engine: Engine) -> None:
    export_omop([septic()], engine)
    assert rows(
        engine,
        "select condition_concept_id, condition_start_date, condition_end_date, "
        "condition_type_concept_id, visit_occurrence_id, condition_source_value, "
        "condition_status_source_value from condition_occurrence",
    ) == [
        (320128, "2005-01-01", None, 32817, None, "59621000", "active"),
        (132797, "2024-03-01", "2024-03-07", 32817, 1, "91302008", "resolved"),
    ]
    # From the earliest dated record (hypertension 2005) to the latest (sepsis abatement).
    assert rows(
        engine,
        "select person_id, observation_period_start_date, observation_period_end_date, "
        "period_type_concept_id from observation_period",
    ) == [(1, "2005-01-01", "2024-03-07", 32817)]


def test_the_report_counts_rows_and_unmapped_codes(engine: Engine) -> None:
    report = export_omop(sample_patients(), engine)
    assert dict(report.rows) == {
        "location": 2,
        "care_site": 1,
        "person": 2,
        "observation_period": 2,
        "visit_occurrence": 3,
        "condition_occurrence": 3,
        "drug_exposure": 5,
        "measurement": 11,
        SOURCE_RECORD: 24,
    }
    assert report.total_rows == 29
    unmapped = {(u.column, u.code): u.count for u in report.unmapped}
    assert unmapped == {
        ("drug_concept_id", "86009"): 2,
        ("drug_concept_id", "274783"): 1,
        ("measurement_concept_id", "105272-9"): 2,
        ("measurement_concept_id", "2524-7"): 1,
    }
    assert report.unmapped_rows == 6
    assert report.skipped == ()
    assert "unmapped measurement.measurement_concept_id" in report.summary()


def test_a_second_export_continues_the_ids_and_shares_sites(engine: Engine) -> None:
    export_omop([septic()], engine)
    report = export_omop([diabetic()], engine)
    assert report.person_ids == {"t1d-001": 2}
    assert rows(engine, "select min(measurement_id), max(measurement_id) from measurement") == [
        (1, 11)
    ]
    assert rows(engine, "select count(*) from location") == [(2,)]


def test_ids_do_not_depend_on_the_input_order(tmp_path: Path) -> None:
    patients = sample_patients()
    export_omop_csv(patients, tmp_path / "a")
    shuffled = list(reversed(patients))
    random.Random(3).shuffle(shuffled)
    export_omop_csv(shuffled, tmp_path / "b")
    for table in (*CDM_TABLES, SOURCE_RECORD):
        first = (tmp_path / "a" / f"{table}.csv").read_bytes()
        assert first == (tmp_path / "b" / f"{table}.csv").read_bytes(), table


def test_csv_files_have_the_cdm_columns_and_formats(tmp_path: Path) -> None:
    export_omop_csv([septic()], tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        f"{t}.csv" for t in (*CDM_TABLES, SOURCE_RECORD)
    }
    lines = (tmp_path / "drug_exposure.csv").read_text().splitlines()
    assert lines[0].split(",") == [c.name for c in cdm_table("drug_exposure").columns]
    assert lines[1].split(",")[:8] == [
        "1",
        "1",
        "753626",
        "2024-03-01",
        "2024-03-01 10:30:00",
        "2024-03-01",
        "2024-03-01 13:30:00",
        "",
    ]
    assert "rate 150.0 mg/h" in lines[1]


def test_values_are_stored_as_exact_decimals(engine: Engine) -> None:
    patient = diabetic()
    odd = 0.1 + 0.2
    observation = patient.observations[0].__class__(
        id="obs-odd",
        patient_id=patient.patient.id,
        code=patient.observations[0].code,
        effective=datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        value=odd,
        unit="/min",
    )
    export_omop([patient.__class__(patient=patient.patient, observations=(observation,))], engine)
    with engine.connect() as connection:
        stored = connection.execute(text("select value_as_number from measurement")).scalar()
    assert Decimal(str(stored)) == Decimal(repr(odd))


def test_tables_with_foreign_keys_hold_all_37_cdm_tables(tmp_path: Path) -> None:
    engine = create_omop_tables(f"sqlite:///{tmp_path / 'fk.sqlite'}", foreign_keys=True)
    names = set(inspect(engine).get_table_names())
    assert len(names - {SOURCE_RECORD}) == 37
    # SQLite does not enforce foreign keys unless asked, so the export still works.
    report = export_omop([septic()], engine, create_tables=False)
    assert report.rows["person"] == 1
    assert date(1951, 11, 3).year == rows(engine, "select year_of_birth from person")[0][0]
