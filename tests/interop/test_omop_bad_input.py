"""OMOP export and import refuse bad input with the path of each problem, writing nothing."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from tests.interop.test_omop_samples import T0, diabetic, loinc, septic

from healthtwin.errors import (
    ConflictError,
    InvalidInputError,
    MissingDependencyError,
    ResourceValidationError,
    StoreError,
)
from healthtwin.interop.omop import export_omop, export_omop_csv, import_omop, import_omop_csv
from healthtwin.interop.omop import tables as omop_tables
from healthtwin.interop.records import ObservationRecord, PatientData, PatientRecord


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    created = create_engine(f"sqlite:///{tmp_path / 'omop.sqlite'}")
    yield created
    created.dispose()


def count(engine: Engine, table: str) -> int:
    if table not in inspect(engine).get_table_names():
        return 0
    with engine.connect() as connection:
        return int(connection.execute(text(f"select count(*) from {table}")).scalar() or 0)


def with_observation(data: PatientData, observation: ObservationRecord) -> PatientData:
    return replace(data, observations=(*data.observations, observation))


def test_a_vital_in_the_wrong_unit_is_refused_with_its_path(engine: Engine) -> None:
    glucose = ObservationRecord(
        id="obs-glu-mmol",
        patient_id="t1d-001",
        code=loinc("2345-7"),
        effective=T0,
        value=10.1,
        unit="mmol/L",
    )
    with pytest.raises(ResourceValidationError, match="measured in 'mg/dL'") as caught:
        export_omop([with_observation(diabetic(), glucose), septic()], engine)
    assert [(i.path, i.code) for i in caught.value.issues] == [
        ("Observation/obs-glu-mmol.valueQuantity.unit", "value")
    ]
    assert count(engine, "person") == 0  # nothing written, not even the valid patient


def test_a_record_filed_under_another_patient_is_refused(engine: Engine) -> None:
    stray = ObservationRecord(
        id="obs-stray",
        patient_id="nobody",
        code=loinc("8867-4"),
        effective=T0,
        value=60.0,
        unit="/min",
    )
    with pytest.raises(ResourceValidationError, match="patient 'nobody'") as caught:
        export_omop([with_observation(septic(), stray)], engine)
    assert caught.value.issues[0].path == "Observation/obs-stray.subject"
    assert caught.value.issues[0].code == "not-found"


def test_a_reference_to_a_missing_encounter_is_refused() -> None:
    data = septic()
    data = replace(data, encounters=())
    with pytest.raises(ResourceValidationError) as caught:
        export_omop([data], "sqlite://")
    paths = sorted(i.path for i in caught.value.issues)
    assert paths == [
        "Condition/cond-sepsis.encounter",
        "MedicationAdministration/med-propofol.encounter",
        "MedicationAdministration/med-remi.encounter",
        "Observation/obs-lactate.encounter",
        "Observation/obs-map.encounter",
        "Observation/obs-rr.encounter",
    ]


def test_missing_required_dates_and_infinite_values_are_all_listed() -> None:
    data = septic()
    patient = replace(data.patient, birth_date=None)
    other = diabetic()
    broken = replace(
        other,
        conditions=(replace(other.conditions[0], onset=None),),
        encounters=(replace(other.encounters[0], start=None), other.encounters[1]),
        observations=(replace(other.observations[0], value=float("inf")),),
    )
    with pytest.raises(ResourceValidationError, match="nothing was written") as caught:
        export_omop([replace(data, patient=patient), broken], "sqlite://")
    assert sorted((i.path, i.code) for i in caught.value.issues) == [
        ("Condition/cond-t1d.onset", "required"),
        ("Encounter/enc-ward.period.start", "required"),
        # Records of the refused encounter would lose their link: they are refused too.
        ("MedicationAdministration/med-bolus-1.encounter", "not-found"),
        ("MedicationAdministration/med-infusion.encounter", "not-found"),
        ("Observation/obs-hr.encounter", "not-found"),
        ("Observation/obs-hr.value", "value"),
        ("Patient/sepsis-007.birthDate", "required"),
    ]


def test_non_strict_exports_leave_bad_records_out_and_say_so(engine: Engine) -> None:
    glucose = ObservationRecord(
        id="obs-glu-mmol",
        patient_id="t1d-001",
        code=loinc("2345-7"),
        effective=T0,
        value=10.1,
        unit="mmol/L",
    )
    nameless = PatientData(patient=PatientRecord(id="no-birth-date"))
    report = export_omop([with_observation(diabetic(), glucose), nameless], engine, strict=False)
    assert report.person_ids == {"t1d-001": 1}
    assert [i.path for i in report.skipped] == [
        "Patient/no-birth-date.birthDate",
        "Observation/obs-glu-mmol.valueQuantity.unit",
    ]
    assert count(engine, "measurement") == 8  # the sample's rows, without the bad glucose


def test_entered_in_error_records_are_skipped_as_information(engine: Engine) -> None:
    data = septic()
    wrong = replace(data.observations[0], status="entered-in-error")
    report = export_omop([replace(data, observations=(wrong, *data.observations[1:]))], engine)
    [issue] = report.skipped
    assert (issue.path, issue.severity) == ("Observation/obs-rr", "information")
    assert count(engine, "measurement") == 2


def test_duplicate_ids_are_refused() -> None:
    data = septic()
    twice = replace(data, observations=(data.observations[0], data.observations[0]))
    with pytest.raises(ResourceValidationError, match="more than once"):
        export_omop_csv([twice], "unused-folder")
    with pytest.raises(ResourceValidationError, match="Patient/sepsis-007"):
        export_omop([septic(), septic()], "sqlite://")


def test_exporting_a_patient_twice_is_a_conflict(engine: Engine) -> None:
    export_omop([septic()], engine)
    with pytest.raises(ConflictError, match="already in this OMOP database"):
        export_omop([septic(), diabetic()], engine)
    assert count(engine, "person") == 1


def test_a_failing_write_rolls_everything_back(engine: Engine) -> None:
    export_omop([septic()], engine)
    with engine.begin() as connection:  # make the next person insert fail
        connection.execute(text("delete from healthtwin_source_record"))
        connection.execute(text("create unique index one_person on person (year_of_birth)"))
    born = septic().patient.birth_date
    twin = replace(diabetic(), patient=replace(diabetic().patient, birth_date=born))
    with pytest.raises(ConflictError, match="nothing was written"):
        export_omop([twin], engine)
    assert count(engine, "measurement") == 3
    assert count(engine, "person") == 1


def test_bad_urls_and_non_omop_databases_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot open the OMOP database"):
        import_omop("notadatabase://x")
    with pytest.raises(StoreError, match="no OMOP person table"):
        import_omop(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(InvalidInputError, match=r"no person\.csv"):
        import_omop_csv(tmp_path)


def test_a_malformed_csv_value_names_file_line_and_column(tmp_path: Path) -> None:
    export_omop_csv([septic()], tmp_path)
    person = tmp_path / "person.csv"
    person.write_text(person.read_text().replace(",1951,", ",nineteen,"))
    with pytest.raises(InvalidInputError, match=r"person.csv line 2: year_of_birth 'nineteen'"):
        import_omop_csv(tmp_path)


def test_export_takes_records_not_resources() -> None:
    with pytest.raises(TypeError, match="PatientData"):
        export_omop([{"resourceType": "Patient"}], "sqlite://")  # type: ignore[list-item]


def test_without_omop_cdm_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name.startswith("omop_cdm"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    omop_tables._tables.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"healthtwin\[omop\]"):
            export_omop([septic()], "sqlite://")
    finally:
        omop_tables._tables.cache_clear()
