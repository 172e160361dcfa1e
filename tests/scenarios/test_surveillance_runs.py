"""Outbreak detection from files: equal to the detector, checked methods, order-free monitor."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.surveillance_runs import (
    DETECTORS,
    detect_file,
    evaluate_methods,
    monitor_weekly_series,
    simulate_evaluation_design,
)
from healthtwin.surveillance import detect, read_series_csv


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


def test_detect_file_writes_the_detectors_table(series_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "alarms.csv"
    weeks, alarms = detect_file(series_csv, out, method="ears-c2", range_t=(280, 300))
    direct = detect(read_series_csv(series_csv), method="ears-c2", range_t=(280, 300))
    assert weeks == 21 == direct.detection.t.size
    assert alarms == int(direct.detection.alarm.sum()) >= 1  # the spike of the last week
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == weeks
    assert rows[-1]["alarm"] in {"TRUE", "True", "1", "true"}


def test_the_evaluation_checks_methods_and_scores_the_chosen_ones() -> None:
    assert {"farrington-flexible", "ears-c1", "cusum"} <= set(DETECTORS)
    with pytest.raises(InvalidInputError, match="must be >= 1"):
        simulate_evaluation_design(0, 0)
    simulated = simulate_evaluation_design(1, 5)
    with pytest.raises(InvalidInputError, match="unknown"):
        evaluate_methods(simulated, [])
    seen: list[tuple[str, int]] = []
    result = evaluate_methods(simulated, ["ears-c1"], progress=lambda m, s: seen.append((m, s)))
    assert len(seen) == len(simulated.scenarios) == 42
    summary = result.summary()
    assert list(summary) == ["ears-c1"]
    assert 0 <= summary["ears-c1"]["false_positive_rate"] <= 1


def _weeks(n: int) -> list[str]:
    start = np.datetime64("2024-01-01")
    return [str(start + 7 * k) for k in range(n)]


def test_the_monitor_ranks_the_outbreak_whatever_the_row_order() -> None:
    weeks = _weeks(30)
    quiet = [5.0 + (k % 3) for k in range(30)]
    loud = [*quiet[:-1], 60.0]
    series = {
        ("FR", "flu", "ili"): list(zip(weeks, loud, strict=True)),
        ("BE", "flu", "ili"): list(zip(weeks, quiet, strict=True)),
    }
    shuffled = {key: list(reversed(points)) for key, points in reversed(list(series.items()))}
    shuffled[("BE", "flu", "ili")][3] = (weeks[-4], math.nan)
    first = monitor_weekly_series(series, method="ears-c2", lookback_weeks=2)
    again = monitor_weekly_series(
        shuffled, method="ears-c2", neighbours={"FR": ["BE"]}, lookback_weeks=2
    )
    for report in (first, again):
        alarms = report.to_dict()["alarms"]
        assert [a["country"] for a in alarms] == ["FR"]
        assert report.to_dict()["n_series"] == 2
