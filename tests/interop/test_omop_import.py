"""OMOP import: round trips through a database and CSV files, and foreign OMOP data.

The round trips run on SQLite; set ``HEALTHTWIN_POSTGRES_URL`` to run them on a
PostgreSQL server too (each test in a fresh schema).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, text
from tests.interop.test_omop_samples import omop_view, sample_patients

from healthtwin.errors import ResourceValidationError
from healthtwin.interop.codes import LOINC, SNOMED
from healthtwin.interop.omop import (
    create_omop_tables,
    export_omop,
    export_omop_csv,
    import_omop,
    import_omop_csv,
)
from healthtwin.interop.omop.reader import OMOP_CONCEPT_SYSTEM
from healthtwin.interop.omop.tables import cdm_table
from healthtwin.interop.omop.vocabulary import UNMAPPED_SYSTEM
from healthtwin.interop.records import Coding

POSTGRES_URL = os.environ.get("HEALTHTWIN_POSTGRES_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, str | None]]:
    """An empty database and the schema to use in it."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'omop.sqlite'}")
        yield engine, None
        engine.dispose()
        return
    engine = create_engine(POSTGRES_URL)
    schema = f"omop_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    yield engine, schema
    with engine.begin() as connection:
        connection.execute(text(f"drop schema {schema} cascade"))
    engine.dispose()


def test_records_survive_a_database_round_trip(target: tuple[Engine, str | None]) -> None:
    engine, schema = target
    patients = sample_patients()
    export_omop(patients, engine, schema=schema)
    back = import_omop(engine, schema=schema)
    assert back == [omop_view(p) for p in sorted(patients, key=lambda p: p.patient.id)]


def test_records_survive_a_csv_round_trip(tmp_path: Path) -> None:
    patients = sample_patients()
    export_omop_csv(patients, tmp_path)
    assert import_omop_csv(tmp_path) == [omop_view(p) for p in reversed(patients)]


def test_what_the_round_trip_restores_in_detail(target: tuple[Engine, str | None]) -> None:
    engine, schema = target
    export_omop(sample_patients(), engine, schema=schema)
    diabetic = import_omop(engine, schema=schema)[1]
    bp = next(o for o in diabetic.observations if o.id == "obs-bp")
    assert bp.value is None
    assert [(c.code.code, c.value, c.unit) for c in bp.components] == [
        ("8480-6", 128.0, "mm[Hg]"),
        ("8462-4", 79.0, "mm[Hg]"),
    ]
    assert bp.code == Coding(
        system=LOINC, code="85354-9", display="Blood pressure panel with all children optional"
    )
    infusion = next(m for m in diabetic.medications if m.id == "med-infusion")
    assert (infusion.rate, infusion.rate_unit, infusion.dose) == (1.5, "U/h", None)
    basal = next(m for m in diabetic.medications if m.id == "med-basal")
    assert basal.kind == "request"
    clinic = next(e for e in diabetic.encounters if e.id == "enc-clinic")
    assert clinic.end is None
    assert diabetic.patient.birth_date == date(1984, 2, 29)


def _foreign_rows(engine: Engine) -> None:
    """Rows an ETL other than healthtwin might have written (no lineage table rows)."""
    with engine.begin() as connection:
        connection.execute(
            insert(cdm_table("person")),
            [
                {
                    "person_id": 10,
                    "gender_concept_id": 8532,
                    "year_of_birth": 1960,
                    "month_of_birth": None,
                    "day_of_birth": None,
                    "race_concept_id": 0,
                    "ethnicity_concept_id": 0,
                    "person_source_value": "MRN-77",
                },
            ],
        )
        connection.execute(
            insert(cdm_table("visit_occurrence")),
            [
                {
                    "visit_occurrence_id": 5,
                    "person_id": 10,
                    "visit_concept_id": 9201,
                    "visit_start_date": date(2020, 1, 2),
                    "visit_end_date": date(2020, 1, 5),
                    "visit_type_concept_id": 32817,
                },
            ],
        )
        connection.execute(
            insert(cdm_table("measurement")),
            [
                {
                    "measurement_id": 1,
                    "person_id": 10,
                    "measurement_concept_id": 3027018,
                    "measurement_date": date(2020, 1, 2),
                    "measurement_type_concept_id": 32817,
                    "value_as_number": 61,
                    "unit_concept_id": 8541,
                    "visit_occurrence_id": 5,
                },
            ],
        )
        connection.execute(
            insert(cdm_table("condition_occurrence")),
            [
                {
                    "condition_occurrence_id": 1,
                    "person_id": 10,
                    "condition_concept_id": 0,
                    "condition_start_date": date(2019, 5, 1),
                    "condition_type_concept_id": 32817,
                    "condition_source_value": "LOCAL-42",
                },
                {
                    "condition_occurrence_id": 2,
                    "person_id": 10,
                    "condition_concept_id": 4000001,
                    "condition_start_date": date(2019, 5, 1),
                    "condition_type_concept_id": 32817,
                    "condition_source_value": None,
                },
            ],
        )


def test_foreign_omop_rows_become_records_from_their_concepts(tmp_path: Path) -> None:
    engine = create_omop_tables(f"sqlite:///{tmp_path / 'foreign.sqlite'}")
    _foreign_rows(engine)
    [data] = import_omop(engine)
    assert data.patient.id == "MRN-77"
    assert data.patient.gender == "female"
    assert data.patient.birth_date is None
    assert data.extra == {"year_of_birth": 1960}
    [visit] = data.encounters
    assert (visit.id, visit.class_code) == ("visit_occurrence-5", "IMP")
    assert visit.start == datetime(2020, 1, 2, tzinfo=UTC)
    assert visit.end == datetime(2020, 1, 5, tzinfo=UTC)
    [hr] = data.observations
    assert hr.code == Coding(system=LOINC, code="8867-4", display="Heart rate")
    assert (hr.value, hr.unit, hr.encounter_id, hr.category) == (
        61.0,
        "/min",
        "visit_occurrence-5",
        "vital-signs",
    )
    local, unknown = data.conditions
    assert local.code == Coding(system=UNMAPPED_SYSTEM, code="LOCAL-42")
    assert unknown.code == Coding(system=OMOP_CONCEPT_SYSTEM, code="4000001")


def test_the_database_concept_table_names_codes_outside_the_subset(tmp_path: Path) -> None:
    engine = create_omop_tables(f"sqlite:///{tmp_path / 'foreign.sqlite'}")
    _foreign_rows(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(cdm_table("concept")),
            [
                {
                    "concept_id": 4000001,
                    "concept_name": "A made-up finding",
                    "domain_id": "Condition",
                    "vocabulary_id": "SNOMED",
                    "concept_class_id": "Clinical Finding",
                    "standard_concept": "S",
                    "concept_code": "999000001",
                    "valid_start_date": date(1970, 1, 1),
                    "valid_end_date": date(2099, 12, 31),
                },
            ],
        )
    [data] = import_omop(engine)
    assert data.conditions[1].code == Coding(
        system=SNOMED, code="999000001", display="A made-up finding"
    )


def test_rows_pointing_at_missing_persons_or_visits_are_reported(tmp_path: Path) -> None:
    engine = create_omop_tables(f"sqlite:///{tmp_path / 'broken.sqlite'}")
    _foreign_rows(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(cdm_table("measurement")),
            [
                {
                    "measurement_id": 2,
                    "person_id": 99,
                    "measurement_concept_id": 3027018,
                    "measurement_date": date(2020, 1, 2),
                    "measurement_type_concept_id": 32817,
                    "visit_occurrence_id": None,
                },
                {
                    "measurement_id": 3,
                    "person_id": 10,
                    "measurement_concept_id": 3027018,
                    "measurement_date": date(2020, 1, 2),
                    "measurement_type_concept_id": 32817,
                    "visit_occurrence_id": 404,
                },
            ],
        )
    with pytest.raises(ResourceValidationError, match="person 99") as caught:
        import_omop(engine)
    assert [(i.path, i.code) for i in caught.value.issues] == [
        ("measurement 2.person_id", "not-found"),
        ("measurement 3.visit_occurrence_id", "not-found"),
    ]
