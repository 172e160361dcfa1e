"""Prognosis models trained, saved, used and audited for fairness (no CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.model_fairness import model_fairness, out_of_fold_progression
from healthtwin.scenarios.prognosis_runs import (
    BASELINE_FILE,
    MODEL_FILE,
    TrainedModel,
    load_prognosis_dataset,
    predict_patients,
    train_progression,
    train_survival,
)

PATIENTS = (
    "age,estrec,horTh,menostat,pnodes,progrec,tgrade,tsize,ignored\n"
    "45,50,yes,Pre,3,100,II,25,x\n"
    "70,0,no,Post,12,5,III,50,y\n"
)


class _Stages:
    """A reporter that records what it is told."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def check(self) -> None:
        """Never stop."""

    def progress(self, fraction: float, message: str = "") -> None:
        self.seen.append((fraction, message))


@pytest.fixture(scope="module")
def survival(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[TrainedModel, list[tuple[float, str]]]:
    require("sksurv", "ml")
    stages = _Stages()
    data = load_prognosis_dataset("gbsg2")
    folder = tmp_path_factory.mktemp("model")
    trained = train_survival(data, "cox", folder, replicates=4, folds=2, seed=1, reporter=stages)
    return trained, stages.seen


def test_survival_training_saves_the_model_card_and_baseline(
    survival: tuple[TrainedModel, list[tuple[float, str]]],
) -> None:
    trained, stages = survival
    folder = trained.path.parent
    assert trained.path == folder / MODEL_FILE
    assert len(trained.sha256) == 64
    card = json.loads((folder / "model.card.json").read_text())
    assert card["sha256"] == trained.sha256
    assert card["metrics"] == pytest.approx(trained.metrics)
    assert 0.55 < trained.metrics["cv_harrell_c"] < 0.8
    assert set(json.loads((folder / BASELINE_FILE).read_text())) == set(card["features"])
    # Default subgroups: age bands (gbsg2 has no sex column: all its patients are women).
    assert [r.column for r in trained.fairness] == ["age_band"]
    assert [f for f, _ in stages] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_survival_predictions_have_intervals_and_explanations(
    survival: tuple[TrainedModel, list[tuple[float, str]]], tmp_path: Path
) -> None:
    patients = tmp_path / "patients.csv"
    patients.write_text(PATIENTS)
    made = predict_patients(survival[0].path.parent, patients, [365.0, 1825.0], top=2)
    table = made.table
    assert made.patients == 2
    assert list(table.columns[:4]) == ["risk_score", "survival_365", "survival_365_p5",
                                       "survival_365_p95"]  # fmt: skip
    assert list(table.columns[-2:]) == ["explanation_1", "explanation_2"]
    assert np.all(table["survival_365_p5"] <= table["survival_365"])
    assert np.all(table["survival_365"] <= table["survival_365_p95"])
    assert np.all(table["survival_1825"] <= table["survival_365"])
    # Older, more nodes, larger tumour: the higher risk.
    assert table["risk_score"][1] > table["risk_score"][0]
    missing = tmp_path / "missing.csv"
    missing.write_text("age\n50\n")
    with pytest.raises(InvalidInputError, match="missing column"):
        predict_patients(survival[0].path.parent, missing, [365.0])


def test_survival_training_checks_its_settings(tmp_path: Path) -> None:
    data = load_prognosis_dataset("gbsg2")
    with pytest.raises(InvalidInputError, match=">= 2"):
        train_survival(data, "cox", tmp_path, replicates=1)


def test_progression_intervals_cover_held_out_patients(tmp_path: Path) -> None:
    data = load_prognosis_dataset("diabetes")
    trained = train_progression(data, "ridge", tmp_path, seed=0)
    # Split-conformal 90 %: coverage on 89 held-out patients within a few patients of 90 %.
    assert 0.78 <= trained.metrics["holdout_coverage_90"] <= 1.0
    assert trained.metrics["holdout_mae"] < 60.0  # the outcome's SD is 77
    patients = tmp_path / "p.csv"
    data.features.iloc[:3].to_csv(patients, index=False)
    table = predict_patients(tmp_path, patients, [1.0]).table
    assert list(table.columns[:3]) == ["prediction", "lower_90", "upper_90"]
    assert np.all(table["lower_90"] < table["prediction"])
    with pytest.raises(InvalidInputError, match="--model must be one of"):
        train_progression(data, "rsf", tmp_path)


def test_fairness_of_a_progression_model_by_subgroup() -> None:
    made = model_fairness("diabetes", model="ridge", by="sex,age")
    assert made.model_key == "progression-ridge"
    assert made.columns == ("sex", "age")
    document = made.report.to_dict()
    assert document["n"] == 442
    with pytest.raises(InvalidInputError, match="unknown columns \\['zip'\\]"):
        model_fairness("diabetes", model="ridge", by="sex,zip")
    with pytest.raises(InvalidInputError, match="no numeric outcome"):
        model_fairness("whas500", model="ridge", by="age")


def test_out_of_fold_predictions_do_not_see_their_patient() -> None:
    data = load_prognosis_dataset("diabetes")
    predicted = out_of_fold_progression("ridge", data.features, data.y, data.categorical)
    y = np.asarray(data.y)
    out_of_fold_mae = np.mean(np.abs(predicted - y))
    assert predicted.shape == y.shape
    assert 35.0 < out_of_fold_mae < 60.0
