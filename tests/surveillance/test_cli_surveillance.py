"""``healthtwin surveillance detect``: options, output columns and error exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.surveillance import DETECTION_COLUMNS


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)
    counts = rng.poisson(6, size=300)
    counts[-1] = 30
    dates = np.datetime64("2010-01-04") + 7 * np.arange(300)
    lines = ["t,date,observed"] + [f"{i + 1},{dates[i]},{c}" for i, c in enumerate(counts)]
    path = tmp_path / "series.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_farrington_flexible_writes_r_columns(series_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    code = main(
        ["surveillance", "detect", "--method", "farrington-flexible", "--input",
         str(series_csv), "--range", "250:300", "--out", str(out), "--no-periods", "10",
         "--past-weeks-not-included", "26", "--threshold-method", "nbPlugin",
         "--weights-threshold", "2.58", "--p-threshold-trend", "1", "--limit54", "5,4"]
    )  # fmt: skip
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(DETECTION_COLUMNS)
    assert len(lines) == 52
    assert lines[1].endswith("NA,NA,NA,NA,not enough history")
    assert lines[-1].split(",")[5] == "TRUE"


def test_ears_with_baseline(series_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    args = ["surveillance", "detect", "--method", "ears-c2", "--input", str(series_csv)]
    code = main([*args, "--range", "20:300", "--out", str(out), "--baseline", "10"])
    assert code == 0
    assert out.read_text().count("\n") == 282


@pytest.mark.parametrize(
    "extra",
    [
        ["--method", "ears-c1", "--range", "1:400"],
        ["--method", "ears-c1", "--range", "10-20"],
        ["--method", "ears-c1", "--range", "20:30", "--b", "3"],
        ["--method", "nope", "--range", "20:30"],
    ],
)
def test_errors_exit_2(series_csv: Path, tmp_path: Path, extra: list[str]) -> None:
    args = ["surveillance", "detect", "--input", str(series_csv), "--out", str(tmp_path / "o.csv")]
    assert main([*args, *extra]) == 2
