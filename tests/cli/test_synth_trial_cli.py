"""``synth cohort`` -> file -> ``synth trial``: a virtual cohort's twins in a paired trial."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.cli import main
from healthtwin.synthetic.cohort import generate_cohort
from healthtwin.synthetic.cohort_spec import CohortSpec


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("pyarrow", "synth")
    spec = CohortSpec.model_validate(
        {"name": "t1d", "inclusion": {"diabetes": True, "age_years": [18, 70]}}
    )
    folder = tmp_path_factory.mktemp("cohort")
    return generate_cohort(spec, 8, seed=4, oversample=2).write(folder / "cohort.parquet")


def _arm(folder: Path, name: str, bolus: float) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nbasal_factor: 1.0\nbolus_factor: {bolus}\n")
    return path


def _trial(cohort: Path, a: Path, b: Path, out: Path) -> dict[str, dict[str, float]]:
    assert main(["synth", "trial", "--data", str(cohort), "--arms", f"{a},{b}", "--days", "1",
                 "--seed", "3", "--out", str(out)]) == 0  # fmt: skip
    document = json.loads((out / "trial.json").read_text())
    assert document["patients"] == 8
    effects = {e["outcome"]: e for e in document["effects"]}
    table = pd.read_csv(out / "effects.csv").set_index("outcome")
    for name, effect in effects.items():  # the CSV holds the same numbers
        assert table.loc[name, "difference"] == pytest.approx(effect["difference"])
    assert len(pd.read_csv(out / "outcomes.csv")) == 8
    return effects


def test_identical_arms_give_exactly_zero_effect(cohort_file: Path, tmp_path: Path) -> None:
    usual = _arm(tmp_path, "usual", 1.0)
    same = _arm(tmp_path, "same", 1.0)
    for effect in _trial(cohort_file, usual, same, tmp_path / "same").values():
        assert effect["difference"] == 0.0
        assert effect["lower"] == effect["upper"] == 0.0


def test_more_bolus_insulin_lowers_glucose_with_an_interval_excluding_zero(
    cohort_file: Path, tmp_path: Path
) -> None:
    usual = _arm(tmp_path, "usual", 1.0)
    more = _arm(tmp_path, "more", 1.4)
    glucose = _trial(cohort_file, usual, more, tmp_path / "more")["mean_glucose_mg_dl"]
    assert glucose["upper"] < 0.0
    assert glucose["sd_paired"] < glucose["sd_unpaired"]


def test_a_cohort_without_its_twins_file_is_a_clear_error(
    cohort_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "lonely.parquet"
    table.write_bytes(cohort_file.read_bytes())
    usual = _arm(tmp_path, "usual", 1.0)
    assert main(["synth", "trial", "--data", str(table), "--arms", f"{usual},{usual}",
                 "--out", str(tmp_path / "t")]) == 2  # fmt: skip
    assert "twins" in capsys.readouterr().err
    assert main(["synth", "trial", "--data", str(cohort_file), "--arms", str(usual),
                 "--out", str(tmp_path / "t")]) == 2  # fmt: skip
