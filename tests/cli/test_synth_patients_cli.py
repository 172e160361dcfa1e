"""``synth sample --format fhir|omop --columns``: patients from a model fitted on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.cli import main
from healthtwin.synthetic.fhir_output import is_flagged_synthetic

WHAS_COLUMNS = "age_years=age,female=gender,bmi_kg_m2=bmi"


@pytest.fixture(scope="module")
def whas_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Gaussian copula fitted on whas500 (gender is 0 male / 1 female)."""
    require("sksurv", "ml")
    from healthtwin.prognosis.datasets import load_dataset

    folder = tmp_path_factory.mktemp("whas")
    features = load_dataset("whas500").features
    features[["age", "gender", "bmi", "hr", "sysbp"]].to_csv(folder / "whas.csv", index=False)
    model = folder / "model"
    assert main(["synth", "fit", "--data", str(folder / "whas.csv"), "--method", "copula",
                 "--out", str(model)]) == 0  # fmt: skip
    return model


def test_whas500_model_gives_valid_fhir_bundles_flagged_synthetic(
    whas_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    out = tmp_path / "fhir"
    # Without a mapping: a clear exit-2 error that says how to map.
    assert main(["synth", "sample", "--model", str(whas_model), "--n", "6", "--format", "fhir",
                 "--follow-up-days", "5", "--out", str(out)]) == 2  # fmt: skip
    assert "--columns" in capsys.readouterr().err
    assert main(["synth", "sample", "--model", str(whas_model), "--n", "30", "--format", "fhir",
                 "--follow-up-days", "5", "--columns", WHAS_COLUMNS,
                 "--out", str(out)]) == 0  # fmt: skip
    assert "without diabetes" in capsys.readouterr().err  # the default is said
    bundle = Bundle.model_validate_json((out / "bundle.json").read_text())
    resources = [e.resource for e in bundle.entry or []]
    assert resources
    assert all(is_flagged_synthetic(r) for r in resources)
    patients = [json.loads(line) for line in (out / "Patient.ndjson").read_text().splitlines()]
    assert len(patients) == 30
    assert {p["gender"] for p in patients} == {"female", "male"}
    # Ages in whole years no longer put every birthday on 1 January.
    days = {p["birthDate"][5:] for p in patients}
    assert len(days) > 20, days


def test_yes_no_columns_are_read_and_bad_values_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame({
        "age": rng.integers(30, 80, n),
        "sex": rng.choice(["F", "M"], n),
        "bmi": np.round(rng.normal(27, 4, n), 1),
        "dm": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
    })  # fmt: skip
    frame.to_csv(tmp_path / "real.csv", index=False)
    model = tmp_path / "model"
    assert main(["synth", "fit", "--data", str(tmp_path / "real.csv"), "--method", "copula",
                 "--out", str(model)]) == 0  # fmt: skip
    out = tmp_path / "omop"
    mapping = "age_years=age,bmi_kg_m2=bmi,diabetes=dm"
    assert main(["synth", "sample", "--model", str(model), "--n", "12", "--format", "omop",
                 "--follow-up-days", "5", "--seed", "4", "--columns", mapping,
                 "--out", str(out)]) == 0  # fmt: skip
    persons = pd.read_csv(out / "person.csv")
    conditions = pd.read_csv(out / "condition_occurrence.csv")
    assert len(persons) == 12
    diabetic = conditions["condition_source_value"].str.endswith("46635009")
    assert diabetic.any()  # yes became diabetes (type 1 code), simulated with a twin
    # A column that is neither yes/no, true/false nor 1/0: exit 2 naming it and its values.
    assert main(["synth", "sample", "--model", str(model), "--n", "5", "--format", "fhir",
                 "--columns", "age_years=age,bmi_kg_m2=bmi,diabetes=sex",
                 "--out", str(tmp_path / "bad")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "error: column 'sex'" in err
    assert "'F'" in err
    assert "yes/no" in err
    assert "Traceback" not in err
    # An unknown name in the mapping is refused too.
    assert main(["synth", "sample", "--model", str(model), "--n", "5", "--format", "fhir",
                 "--columns", "age=age", "--out", str(tmp_path / "bad")]) == 2  # fmt: skip
