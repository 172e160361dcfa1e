"""``healthtwin synth fit | sample | report`` end to end on small tables."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.cli import main
from healthtwin.cli import synth as synth_cli
from healthtwin.cli.output import ProgressTask
from healthtwin.scenarios.synthetic_runs import dataset_key, default_ledger
from healthtwin.synthetic.private_pgm import rho_from_epsilon


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("synth")
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(2):
        age = rng.integers(30, 85, 200)
        frames.append(
            pd.DataFrame(
                {
                    "age_years": age,
                    "sex": rng.choice(["F", "M"], 200),
                    "bmi_kg_m2": np.round(24 + 0.05 * (age - 50) + rng.normal(0, 3, 200), 1),
                    "diabetes": (rng.uniform(size=200) < 0.2).astype(int),
                }
            )
        )
    frames[0].to_csv(folder / "real.csv", index=False)
    frames[1].to_csv(folder / "holdout.csv", index=False)
    return folder / "real.csv", folder / "holdout.csv"


def test_copula_fit_sample_report(tables: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    real, holdout = tables
    model, samples = tmp_path / "model", tmp_path / "out"
    assert main(["synth", "fit", "--data", str(real), "--method", "copula",
                 "--out", str(model)]) == 0  # fmt: skip
    assert (model / "generator.json").exists()
    assert (model / "arrays.npz").exists()
    assert main(["synth", "sample", "--model", str(model), "--n", "150", "--out", str(samples),
                 "--seed", "3"]) == 0  # fmt: skip
    synthetic = pd.read_csv(samples / "synthetic.csv")
    assert synthetic.shape == (150, 4)
    assert list(synthetic.columns) == ["age_years", "sex", "bmi_kg_m2", "diabetes"]
    capsys.readouterr()
    page = tmp_path / "report.html"
    fake = samples / "synthetic.csv"
    assert main(["synth", "report", "--real", str(real), "--synthetic", str(fake),
                 "--holdout", str(holdout), "--target", "diabetes", "--model", str(model),
                 "--out", str(page), "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert 0.3 < summary["discriminator_auc"] < 0.85
    record = json.loads(page.with_suffix(".json").read_text())
    assert record["privacy"]["mechanism"] == "none"
    assert record["utility"]["target"] == "diabetes"
    assert record["utility"]["metric"] == "auroc"  # a 0/1 column is a classification task
    assert record["missing"] == {}
    assert "data:image/png;base64," in page.read_text()


def test_mst_fit_records_the_spend_and_refuses_a_second_one(tables: tuple[Path, Path],
                                                             tmp_path: Path) -> None:  # fmt: skip
    require("jax", "synth")
    real, _ = tables
    model, ledger = tmp_path / "model", tmp_path / "ledger.jsonl"
    args = ["synth", "fit", "--data", str(real), "--method", "mst", "--epsilon", "1.0",
            "--ledger", str(ledger), "--out", str(model)]  # fmt: skip
    assert main(args) == 0
    budget, spend = (json.loads(line) for line in ledger.read_text().splitlines())
    assert budget["record"] == "budget"  # the first fit fixes the budget: its epsilon
    assert float(budget["epsilon"]) == 1.0
    assert float(spend["rho"]) == pytest.approx(rho_from_epsilon(1.0, 1e-9))
    assert spend["dataset"] == dataset_key(real)
    saved = json.loads((model / "generator.json").read_text())
    assert saved["method"] == "mst"
    assert saved["settings"]["privacy"]["epsilon"] == 1.0
    assert main(args) == 2
    assert len(ledger.read_text().splitlines()) == 2
    assert main(["synth", "sample", "--model", str(model), "--n", "20",
                 "--out", str(tmp_path / "s")]) == 0  # fmt: skip


def _record_bar(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``bar.update`` the command makes (the bar itself still runs)."""
    seen: list[float] = []
    update = ProgressTask.update

    def spy(self: ProgressTask, completed: float) -> None:
        seen.append(completed)
        update(self, completed)

    monkeypatch.setattr(ProgressTask, "update", spy)
    return seen


def test_the_issue_command_line_fits_aim_and_charges_the_ledger(
    tables: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    require("jax", "synth")
    real, _ = tables
    model = tmp_path / "model"
    capsys.readouterr()
    args = ["synth", "fit", "--data", str(real), "--method", "aim", "--epsilon", "1.0",
            "--out", str(model)]  # fmt: skip
    seen = _record_bar(monkeypatch)
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    privacy = json.loads(captured.out)["privacy"]  # stdout is one JSON document
    assert "round" not in captured.err  # no bar is drawn for --json
    # The bar follows the share of the budget spent, round by round, up to all of it.
    assert len(seen) == privacy["rounds"] + 1
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.0)
    assert privacy["epsilon"] == 1.0
    assert privacy["rho_spent"] <= privacy["rho"] + 1e-12
    _, line = default_ledger().read_text().splitlines()  # the shared ledger
    assert json.loads(line)["query"] == "AIM synthetic table of real.csv"
    assert json.loads((model / "generator.json").read_text())["method"] == "aim"
    assert main(["synth", "sample", "--model", str(model), "--n", "50",
                 "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    assert len(pd.read_csv(tmp_path / "s" / "synthetic.csv")) == 50


def test_omop_output_simulates_the_sampled_patients(tables: tuple[Path, Path],
                                                     tmp_path: Path) -> None:  # fmt: skip
    real, _ = tables
    model = tmp_path / "model"
    assert (
        main(["synth", "fit", "--data", str(real), "--method", "copula", "--out", str(model)]) == 0
    )
    out = tmp_path / "omop"
    assert main(["synth", "sample", "--model", str(model), "--n", "2", "--format", "omop",
                 "--follow-up-days", "5", "--out", str(out)]) == 0  # fmt: skip
    assert (out / "cdm_source.csv").exists()
    assert "synthetic" in (out / "cdm_source.csv").read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["synth", "fit", "--data", "{real}", "--method", "ctgan", "--out", "{tmp}"],
        ["synth", "fit", "--data", "{tmp}/nothing.csv", "--out", "{tmp}"],
        ["synth", "sample", "--model", "{tmp}", "--out", "{tmp}"],
        ["synth", "sample", "--model", "{tmp}", "--format", "xml", "--out", "{tmp}"],
    ],
)
def test_bad_requests_exit_2_with_a_message(
    args: list[str], tables: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled = [a.format(real=tables[0], tmp=tmp_path) for a in args]
    assert main(filled) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.fixture(scope="module")
def copula_model(tables: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tmp_path_factory.mktemp("copula") / "model"
    assert main(["synth", "fit", "--data", str(tables[0]), "--method", "copula",
                 "--out", str(model)]) == 0  # fmt: skip
    return model


def test_fhir_output_is_written_in_chunks_as_bulk_ndjson(
    copula_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth_cli, "CHUNK_PATIENTS", 4)
    out = tmp_path / "fhir"
    args = ["synth", "sample", "--model", str(copula_model), "--n", "10", "--format", "fhir",
            "--follow-up-days", "5", "--seed", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    patients = [json.loads(line) for line in (out / "Patient.ndjson").read_text().splitlines()]
    assert [p["id"] for p in patients] == [f"synthetic-{i:05d}" for i in range(10)]
    lines = {p.stem: p.read_text().splitlines() for p in out.glob("*.ndjson")}
    assert {"Patient", "Encounter", "Observation"} <= set(lines)
    bundle = json.loads((out / "bundle.json").read_text())  # small runs keep the Bundle
    assert len(bundle["entry"]) == sum(len(v) for v in lines.values())
    first = (out / "Observation.ndjson").read_bytes()
    # A second run replaces the files (no appending to an earlier run), same bytes.
    monkeypatch.setattr(synth_cli, "BUNDLE_MAX_PATIENTS", 5)
    assert main(args) == 0
    assert (out / "Observation.ndjson").read_bytes() == first
    assert len((out / "Patient.ndjson").read_text().splitlines()) == 10
    assert not (out / "bundle.json").exists()


def test_omop_output_is_written_in_chunks_with_ids_continuing(
    copula_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth_cli, "CHUNK_PATIENTS", 3)
    out = tmp_path / "omop"
    assert main(["synth", "sample", "--model", str(copula_model), "--n", "7", "--format", "omop",
                 "--follow-up-days", "5", "--out", str(out)]) == 0  # fmt: skip
    persons = pd.read_csv(out / "person.csv")
    assert persons["person_id"].tolist() == list(range(1, 8))
    assert persons["person_source_value"].tolist() == [f"synthetic-{i:05d}" for i in range(7)]
    visits = pd.read_csv(out / "visit_occurrence.csv")
    assert visits["visit_occurrence_id"].is_unique
    assert set(visits["person_id"]) <= set(persons["person_id"])


def test_report_without_holdout_warns_and_lists_what_is_missing(
    tables: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real, other = tables
    page = tmp_path / "report.html"
    capsys.readouterr()
    assert main(["synth", "report", "--real", str(real), "--synthetic", str(other),
                 "--out", str(page), "--json"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "give --holdout <rows the generator never saw> for utility and privacy" in (captured.err)
    summary = json.loads(captured.out)
    assert {"utility", "dcr", "membership"} <= set(summary["missing"])
    assert summary["discriminator_real"] == "training"
    assert "Incomplete report: no holdout" in page.read_text()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mst_fit_draws_a_bar_of_its_steps_at_a_terminal(
    tables: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("jax", "synth")
    real, _ = tables
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    seen = _record_bar(monkeypatch)
    assert main(["synth", "fit", "--data", str(real), "--method", "mst",
                 "--out", str(tmp_path / "model")]) == 0  # fmt: skip
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    shown = screen.getvalue()
    assert "fitting mst on 200 rows" in shown
    assert "estimating" in shown  # the last step's name replaces the description
