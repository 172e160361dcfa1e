"""``patient sync`` says so when its twin is too narrow to follow the readings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main


def _readings(path: Path, glucose: float) -> Path:
    t = np.arange(0.0, 240.0, 5.0)
    lines = ["t_min,glucose_mg_dl", *(f"{x:g},{glucose:g}" for x in t)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_readings_far_from_a_narrow_twin_give_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Steady basal, one estimated parameter: the members all predict the same glucose,
    # so readings 50 mg/dL away hardly move the twin.
    data = _readings(tmp_path / "far.csv", 96.0)
    args = ["patient", "sync", "--data", str(data), "--out", str(tmp_path / "p.csv")]
    assert main([*args, "--members", "16"]) == 0
    err = capsys.readouterr().err
    assert "barely move it" in err
    assert "--estimate si,egp" in err


def test_readings_the_twin_follows_give_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "probe.csv"
    assert main(["patient", "sync", "--data", str(_readings(tmp_path / "a.csv", 96.0)),
                 "--out", str(first), "--members", "16"]) == 0  # fmt: skip
    capsys.readouterr()
    # The twin's own steady glucose as the readings: nothing to warn about.
    with first.open() as fh:
        row = next(csv.DictReader(fh))
    steady = float(next(v for k, v in row.items() if k.startswith("glucose") and "p50" in k))
    data = _readings(tmp_path / "near.csv", round(steady))
    assert main(["patient", "sync", "--data", str(data), "--out", str(tmp_path / "q.csv"),
                 "--members", "16"]) == 0  # fmt: skip
    assert "barely move it" not in capsys.readouterr().err
