"""The runs that showed spinners count their work on a bar with a real total (issue 14).

``population simulate`` counts variant x replicate runs, ``patient sync`` readings
assimilated, ``surveillance monitor`` series and ``prognosis train`` model fits (survival)
or stages (progression). Bars are recorded off a terminal, where nothing is drawn; the
results with a bar equal those without (tests/scenarios/test_progress_counting.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from tests.conftest import require
from typer.testing import CliRunner

from healthtwin.cli.app import app
from healthtwin.cli.output import ProgressTask

runner = CliRunner()
SCENARIO = Path(__file__).resolve().parents[1] / "data" / "population" / "two_wave.yaml"


def _json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_population_simulate_counts_variant_replicate_runs(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SCENARIO.read_text().replace("days: 60", "days: 14", 1))
    document = _json(["population", "simulate", "--scenario", str(scenario), "--out",
                      str(tmp_path / "out"), "--replicates", "3", "--no-plot"])  # fmt: skip
    [bar] = bars
    assert bar.total == bar.completed == 2 * 3  # two variants, three replicates
    assert document["summary"]["replicates"] == 3


def test_surveillance_monitor_counts_series(tmp_path: Path, bars: list[ProgressTask]) -> None:
    rng = np.random.default_rng(4)
    lines = ["country,disease,syndrome,date,observed"]
    for country in ("FR", "BE", "DE"):
        for week, count in enumerate(rng.poisson(20, size=60)):
            day = dt.date(2020, 1, 6) + dt.timedelta(weeks=week)
            lines.append(f"{country},measles,rash,{day.isoformat()},{count}")
    data = tmp_path / "weekly.csv"
    data.write_text("\n".join(lines) + "\n")
    document = _json(["surveillance", "monitor", "--data", str(data), "--method", "ears-c2",
                      "--out", str(tmp_path / "alarms.json")])  # fmt: skip
    [bar] = bars
    assert bar.total == bar.completed == document["series"] == 3


def test_patient_sync_counts_readings(tmp_path: Path, bars: list[ProgressTask]) -> None:
    values = 120 + np.cumsum(np.random.default_rng(3).normal(0, 3, 10))
    data = tmp_path / "cgm.csv"
    data.write_text("t_min,glucose_mg_dl\n" + "".join(
        f"{5 * (i + 1)},{v:.2f}\n" for i, v in enumerate(values)))  # fmt: skip
    document = _json(["patient", "sync", "--data", str(data), "--patient", "nominal-adult",
                      "--members", "16", "--horizons", "30",
                      "--out", str(tmp_path / "posterior.csv")])  # fmt: skip
    [bar] = bars
    assert bar.total == bar.completed == document["readings"] == 10


def test_prognosis_train_counts_stages_of_a_progression_model(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    require("sklearn", "ml")
    _json(["prognosis", "train", "--data", "diabetes", "--model", "ridge",
           "--out", str(tmp_path / "model")])  # fmt: skip
    [bar] = bars
    assert bar.total == bar.completed == 3


def test_prognosis_train_counts_survival_model_fits(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    require("sksurv", "ml")
    _json(["prognosis", "train", "--data", "veterans", "--model", "cox", "--replicates", "2",
           "--folds", "2", "--out", str(tmp_path / "model")])  # fmt: skip
    [bar] = bars
    assert bar.total == bar.completed == 2 * 2 + 2 + 1
