"""``synth fit``'s privacy ledger holds the budget across output folders; ``synth schema``.

The ledger is shared (``$HEALTHTWIN_HOME``, a fresh folder per test: tests/conftest.py),
keys a data set by its content, adds fits up in zCDP and fixes a data set's budget the
first time it is set.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import require
from typer.testing import CliRunner

from healthtwin.cli import main
from healthtwin.cli.synth import synth_app
from healthtwin.errors import ConsentError
from healthtwin.governance.privacy_budget import zcdp_to_epsilon
from healthtwin.scenarios.synthetic_runs import (
    dataset_key,
    default_ledger,
    fit_generator,
    read_table,
    read_table_schema,
)
from healthtwin.synthetic.private_pgm import rho_from_epsilon

RHO_1 = rho_from_epsilon(1.0, 1e-9)


@pytest.fixture
def real(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    age = rng.integers(30, 85, 150)
    table = pd.DataFrame(
        {
            "age_years": age,
            "sex": rng.choice(["F", "M"], 150),
            "bmi_kg_m2": np.round(24 + 0.05 * (age - 50) + rng.normal(0, 3, 150), 1),
        }
    )
    path = tmp_path / "real.csv"
    table.to_csv(path, index=False)
    return path


def _fit(data: Path, out: Path, *extra: str) -> list[str]:
    return ["synth", "fit", "--data", str(data), "--method", "mst", "--out", str(out), *extra]


def _ledger_lines() -> list[dict[str, object]]:
    return [json.loads(line) for line in default_ledger().read_text().splitlines()]


def test_two_fits_into_two_folders_share_one_budget_and_the_second_is_refused(
    real: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("jax", "synth")
    # zCDP: two fits at (1, 1e-9) compose to epsilon 1.421 at delta 1e-9, more than 1.4.
    assert zcdp_to_epsilon(2 * RHO_1, 1e-9) == pytest.approx(1.4211, abs=1e-4)
    assert main(_fit(real, tmp_path / "a", "--budget", "1.4")) == 0
    capsys.readouterr()
    assert main(_fit(real, tmp_path / "b", "--budget", "1.4")) == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert message.startswith("error: data set real.csv (sha256:")
    assert "has spent epsilon 1 (rho=0.0117" in message
    assert "remaining rho=0.0110" in message  # of 0.0229 at (1.4, 1e-9)
    assert "this release needs rho=0.0117" in message
    assert not (tmp_path / "b" / "generator.json").exists()
    budget, spend = _ledger_lines()  # nothing charged for the refused fit
    assert budget["record"] == "budget"
    assert spend["dataset"] == budget["name"] == dataset_key(real)
    assert spend["query"] == "MST synthetic table of real.csv"


def test_rho_adds_up_for_a_renamed_copy_and_the_budget_cannot_be_raised(
    real: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("jax", "synth")
    copy = tmp_path / "renamed" / "other_name.csv"
    copy.parent.mkdir()
    shutil.copy(real, copy)
    assert dataset_key(copy) == dataset_key(real)
    assert main(_fit(real, tmp_path / "a", "--budget", "1.5")) == 0
    # The copy is the same data set: charged to the same key, against the same budget.
    assert main(_fit(copy, tmp_path / "b", "--budget", "1.5", "--json")) == 0
    captured = capsys.readouterr()
    assert "warning: no --schema: the bounds and categories of a DP fit are inferred" in (
        captured.err
    )
    assert json.loads(captured.out.splitlines()[-1])["warnings"][0].startswith("no --schema")
    records = _ledger_lines()
    spends = [r for r in records if "sequence" in r]
    assert [r["record"] for r in records if "record" in r] == ["budget"]  # recorded once
    assert {s["dataset"] for s in spends} == {dataset_key(real)}
    assert sum(float(str(s["rho"])) for s in spends) == pytest.approx(2 * RHO_1, rel=1e-12)
    # BASIC composition would have refused the second fit (epsilon 2 > 1.5).
    assert zcdp_to_epsilon(2 * RHO_1, 1e-9) < 1.5
    # A later, larger budget is refused and says the recorded one.
    assert main(_fit(real, tmp_path / "c", "--epsilon", "0.01", "--budget", "3")) == 2
    message = capsys.readouterr().err
    assert "was fixed at epsilon 1.5, delta 1e-09" in message
    assert "got epsilon 3.0" in message
    assert main(_fit(real, tmp_path / "c", "--epsilon", "0.01", "--budget-delta", "1e-6")) == 2
    # Without --budget the recorded one holds: 0.01 more fits in it (a budget of 0.01 would
    # not have held the 2 rho already spent), with the public schema: no warning.
    schema = tmp_path / "schema.yaml"
    assert main(["synth", "schema", "--data", str(real), "--out", str(schema)]) == 0
    capsys.readouterr()
    args = _fit(real, tmp_path / "c", "--epsilon", "0.01", "--schema", str(schema), "--json")
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["warnings"] == []
    assert "warning" not in captured.err
    assert len([r for r in _ledger_lines() if "sequence" in r]) == 3


def test_the_scenario_function_refuses_before_fitting_and_the_copula_spends_nothing(
    real: Path, tmp_path: Path
) -> None:
    require("jax", "synth")
    table, key, ledger = read_table(real), dataset_key(real), tmp_path / "ledger.jsonl"
    fit_generator(table, tmp_path / "a", method="mst", dataset=key, ledger=ledger,
                  budget=1.2, label="real.csv")  # fmt: skip
    with pytest.raises(ConsentError, match=r"data set real\.csv \(sha256:.*remaining rho="):
        fit_generator(table, tmp_path / "b", method="aim", dataset=key, ledger=ledger,
                      label="real.csv")  # fmt: skip
    assert not (tmp_path / "b" / "generator.json").exists()
    fit_generator(table, tmp_path / "c", method="copula", dataset=key)
    assert not default_ledger().exists()  # the copula is not private and charges nothing
    lines = ledger.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["epsilon"] == "1.2"


def test_default_ledger_follows_healthtwin_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHTWIN_HOME", str(tmp_path / "home"))
    assert default_ledger() == tmp_path / "home" / "privacy_ledger.jsonl"
    monkeypatch.delenv("HEALTHTWIN_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_ledger() == tmp_path / "user" / ".healthtwin" / "privacy_ledger.jsonl"


def test_schema_command_writes_an_editable_public_template(real: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    result = CliRunner().invoke(
        synth_app, ["schema", "--data", str(real), "--out", str(out), "--bins", "8", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["columns"] == ["age_years", "sex", "bmi_kg_m2"]
    assert "replace them with public knowledge" in result.stderr
    text = out.read_text()
    assert "must come from public knowledge" in text.lower()
    columns = yaml.safe_load(text)["columns"]
    assert columns[0]["bins"] == {"n": 8, "scale": "linear"}
    assert columns[1]["categories"] == ["F", "M"]
    schema = read_table_schema(out)
    assert schema.names == ("age_years", "sex", "bmi_kg_m2")
    assert math.isclose(float(schema.columns[2].upper or 0), float(columns[2]["upper"]))
