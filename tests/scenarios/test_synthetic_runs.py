"""Synthetic patients: fit, sample by seed, records in chunks with continuing ids, scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthtwin.errors import InvalidInputError, UnknownModelError
from healthtwin.scenarios.synthetic_runs import (
    GENERATORS,
    fit_generator,
    read_table,
    read_table_schema,
    sample_generator,
    score_synthetic,
    write_patient_records,
    write_synthetic_report,
)


def _table(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 85, n)
    return pd.DataFrame(
        {
            "age_years": age,
            "sex": rng.choice(["F", "M"], n),
            "bmi_kg_m2": np.round(24 + 0.05 * (age - 50) + rng.normal(0, 3, n), 1),
            "diabetes": (rng.uniform(size=n) < 0.2).astype(int),
        }
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("copula")
    fit_generator(_table(0), folder, method="copula", dataset="real", ledger=folder / "l.jsonl")
    return folder


def test_fitting_checks_the_method_and_sampling_follows_the_seed(
    model: Path, tmp_path: Path
) -> None:
    assert GENERATORS == ("mst", "aim", "copula")
    with pytest.raises(UnknownModelError, match="choose one of mst, aim, copula"):
        fit_generator(_table(0), tmp_path, method="gan", dataset="d", ledger=tmp_path / "l")
    first = sample_generator(model, 30, seed=4)
    pd.testing.assert_frame_equal(first, sample_generator(model, 30, seed=4))
    assert not first.equals(sample_generator(model, 30, seed=5))
    assert list(first.columns) == ["age_years", "sex", "bmi_kg_m2", "diabetes"]


def test_the_copula_spends_no_privacy_budget(tmp_path: Path) -> None:
    # MST and AIM charge the ledger (tests/cli/test_synth_cli.py); the copula is not private.
    fit_generator(_table(1, 40), tmp_path, method="copula", dataset="d", ledger=tmp_path / "l")
    assert not (tmp_path / "l").exists()


def test_fhir_records_are_written_in_chunks_with_ids_continuing(
    model: Path, tmp_path: Path
) -> None:
    table = sample_generator(model, 4, seed=2)
    done: list[int] = []
    out = write_patient_records(
        table, tmp_path, format="fhir", follow_up_days=5, chunk_patients=3,
        bundle_max_patients=10, advance=done.append,
    )  # fmt: skip
    assert done == [3, 1]
    patients = [json.loads(x) for x in (out / "Patient.ndjson").read_text().splitlines()]
    assert [p["id"] for p in patients] == [f"synthetic-{i:05d}" for i in range(4)]
    assert (out / "bundle.json").exists()
    before = (out / "Observation.ndjson").read_bytes()
    # A second, larger-than-bundle run replaces the files and removes the Bundle.
    write_patient_records(
        table, tmp_path, format="fhir", follow_up_days=5, chunk_patients=3, bundle_max_patients=3
    )
    assert (out / "Observation.ndjson").read_bytes() == before
    assert not (out / "bundle.json").exists()


def test_omop_tables_number_the_people_across_chunks(model: Path, tmp_path: Path) -> None:
    table = sample_generator(model, 3, seed=3)
    write_patient_records(table, tmp_path, format="omop", follow_up_days=5, chunk_patients=2)
    persons = pd.read_csv(tmp_path / "person.csv")
    assert persons["person_id"].tolist() == [1, 2, 3]


def test_scores_and_the_report_without_holdout(model: Path, tmp_path: Path) -> None:
    _table(0).to_csv(tmp_path / "real.csv", index=False)
    sample_generator(model, 120, seed=1).to_csv(tmp_path / "synth.csv", index=False)
    found = score_synthetic(tmp_path / "real.csv", tmp_path / "synth.csv", model=model)
    assert {"utility", "dcr", "membership"} <= set(found.missing)
    assert 0.0 <= found.discriminator_auc <= 1.0
    beside = write_synthetic_report(found, tmp_path / "pages" / "report.html")
    assert beside == tmp_path / "pages" / "report.json"
    assert json.loads(beside.read_text())["discriminator_real"] == "training"
    assert "Incomplete report: no holdout" in (tmp_path / "pages" / "report.html").read_text()


def test_unreadable_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="as CSV"):
        read_table(tmp_path / "none.csv")
    (tmp_path / "schema.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="cannot read the schema"):
        read_table_schema(tmp_path / "schema.json")
