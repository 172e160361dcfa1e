"""``synth report --time``: utility of a censored outcome is scored by the event by a horizon."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.cli import main


def _cohort(rng: np.random.Generator, n: int) -> pd.DataFrame:
    age = rng.uniform(40, 90, n)
    event_time = rng.exponential(2000.0 * np.exp(-(age - 65) / 15))
    censor_time = rng.uniform(50, 1500, n)
    return pd.DataFrame(
        {
            "age": age.round(1),
            "sysbp": rng.normal(130, 15, n).round(),
            "lenfol": np.minimum(event_time, censor_time).round(1),
            "died": (event_time <= censor_time).astype(int),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(4)
    folder = tmp_path_factory.mktemp("censored")
    out = {}
    for name, n in (("real", 300), ("holdout", 200), ("synthetic", 300)):
        out[name] = folder / f"{name}.csv"
        _cohort(rng, n).to_csv(out[name], index=False)
    return out


def test_report_scores_the_event_by_the_horizon_with_ipcw(
    files: dict[str, Path], tmp_path: Path
) -> None:
    require("sklearn", "ml")
    page = tmp_path / "report.html"
    args = ["synth", "report", "--real", str(files["real"]), "--synthetic",
            str(files["synthetic"]), "--holdout", str(files["holdout"]), "--target", "died",
            "--time", "lenfol", "--horizon", "365", "--out", str(page)]  # fmt: skip
    assert main(args) == 0
    utility = json.loads(page.with_suffix(".json").read_text())["utility"]
    assert utility["weighting"] == "ipcw"
    assert utility["time"] == "lenfol"
    assert utility["horizon"] == 365.0
    assert utility["n_test_censored_before_horizon"] > 0  # not vacuous: censoring matters
    assert 0.5 < utility["trtr"] <= 1.0
    assert 0.5 < utility["trtr_c_index"] <= 1.0


def test_horizon_without_time_and_an_unknown_time_column_are_refused(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["synth", "report", "--real", str(files["real"]), "--synthetic",
            str(files["synthetic"]), "--holdout", str(files["holdout"]), "--target", "died",
            "--out", str(tmp_path / "r.html")]  # fmt: skip
    assert main([*base, "--horizon", "365"]) == 2
    assert "--horizon needs --time" in capsys.readouterr().err
    assert main([*base, "--time", "follow_up"]) == 2
    assert "follow_up" in capsys.readouterr().err
