"""``healthtwin prognosis train`` and ``predict``: real data in, survival with intervals out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tests.conftest import require

from healthtwin.cli import main

PATIENTS = (
    "age,estrec,horTh,menostat,pnodes,progrec,tgrade,tsize\n"
    "45,50,yes,Pre,3,100,II,25\n"
    "70,0,no,Post,12,5,III,50\n"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("sksurv", "ml")
    folder = tmp_path_factory.mktemp("model")
    args = ["prognosis", "train", "--dataset", "gbsg2", "--model", "cox", "--out", str(folder),
            "--replicates", "8", "--folds", "3"]  # fmt: skip
    assert main(args) == 0
    return folder


def test_training_writes_a_model_its_card_and_a_baseline(trained: Path) -> None:
    card = json.loads((trained / "model.card.json").read_text())
    assert card["dataset"] == "gbsg2"
    assert 0.6 < card["metrics"]["cv_harrell_c"] < 0.75  # scikit-survival's guide: ~0.67
    assert len(card["sha256"]) == 64
    assert "not validated for clinical use" in card["limitations"]
    assert set(json.loads((trained / "explanation_baseline.json").read_text())) == set(
        card["features"]
    )


def test_prediction_gives_survival_with_intervals_and_explanations(
    trained: Path, tmp_path: Path
) -> None:
    patients = tmp_path / "patients.csv"
    patients.write_text(PATIENTS)
    out = tmp_path / "pred.csv"
    args = ["prognosis", "predict", "--model", str(trained), "--input", str(patients),
            "--out", str(out), "--times", "365,1825"]  # fmt: skip
    assert main(args) == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        for t in ("365", "1825"):
            s, lo, hi = (float(row[f"survival_{t}{q}"]) for q in ("", "_p5", "_p95"))
            assert 0.0 <= lo <= hi <= 1.0
            assert 0.0 <= s <= 1.0
        assert float(row["survival_1825"]) <= float(row["survival_365"])
    # 12 positive nodes and a large grade-III tumour: the worse prognosis, explained
    assert float(rows[1]["survival_1825"]) < float(rows[0]["survival_1825"])
    assert rows[1]["explanation_1"].startswith("pnodes=12")


def test_bad_inputs_and_tampered_models_are_refused(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patients = tmp_path / "patients.csv"
    patients.write_text(PATIENTS.replace("pnodes", "nodes"))
    args = ["prognosis", "predict", "--model", str(trained), "--input", str(patients),
            "--out", str(tmp_path / "p.csv")]  # fmt: skip
    assert main(args) == 2
    assert "missing column(s) ['pnodes']" in capsys.readouterr().err
    assert main(["prognosis", "train", "--dataset", "nope", "--out", str(tmp_path / "m")]) == 2
    assert "nope" in capsys.readouterr().err
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in trained.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    model = copy / "model.skops"
    model.write_bytes(model.read_bytes() + b"\0")
    patients.write_text(PATIENTS)
    args[3] = str(copy)
    assert main(args) == 2
    assert "sha" in capsys.readouterr().err.lower()


def test_training_reports_subgroup_fairness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("sksurv", "ml")
    args = ["prognosis", "train", "--dataset", "whas500", "--model", "cox", "--out",
            str(tmp_path), "--replicates", "2", "--folds", "3"]  # fmt: skip
    assert main(args) == 0
    card = json.loads((tmp_path / "model.card.json").read_text())
    assert 0.0 <= card["metrics"]["fairness_gender_auc_gap"] < 0.5
    assert "fairness_age_band_brier_gap" in card["metrics"]
    calibration = [v for k, v in card["metrics"].items() if k.startswith("calibration_mae_at_")]
    assert len(calibration) == 1
    assert 0.0 <= calibration[0] < 0.1  # out-of-fold Cox risks within 10 points of KM
    assert "risk by gender (out-of-fold)" in capsys.readouterr().err
    assert main([*args, "--groups", "ethnicity"]) == 2
    assert "no column(s) ['ethnicity']" in capsys.readouterr().err


def test_progression_models_train_and_predict_with_conformal_intervals(tmp_path: Path) -> None:
    require("sklearn", "ml")
    from healthtwin.prognosis.datasets import load_dataset

    folder = tmp_path / "model"
    assert main(["prognosis", "train", "--dataset", "diabetes", "--model", "ridge",
                 "--out", str(folder)]) == 0  # fmt: skip
    card = json.loads((folder / "model.card.json").read_text())
    assert 0.8 <= card["metrics"]["holdout_coverage_90"] <= 0.97  # 89 held-out patients
    data = load_dataset("diabetes")
    patients = tmp_path / "patients.csv"
    data.features.iloc[:5].to_csv(patients, index=False)
    out = tmp_path / "pred.csv"
    assert main(["prognosis", "predict", "--model", str(folder), "--input", str(patients),
                 "--out", str(out)]) == 0  # fmt: skip
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5
    for row in rows:
        assert float(row["lower_90"]) <= float(row["prediction"]) <= float(row["upper_90"])
        assert "=" in row["explanation_1"]
    assert main(["prognosis", "train", "--dataset", "diabetes", "--model", "rsf",
                 "--out", str(folder)]) == 2  # fmt: skip
