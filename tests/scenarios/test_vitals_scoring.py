"""A vitals file scored row by row (``healthtwin patient news2``'s logic), without the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.vitals_scoring import score_vitals_file

VITALS = (
    "patient,respiratory_rate_per_min,spo2_percent,on_oxygen,systolic_bp_mm_hg,"
    "heart_rate_per_min,consciousness,temperature_c\n"
    "A,16,97,air,125,72,A,36.8\n"
    "B,24,93,oxygen,98,112,C,38.4\n"
    "C,21,95,air,110,95,A,38.2\n"
)


def _scored(tmp_path: Path) -> Path:
    path = tmp_path / "vitals.csv"
    path.write_text(VITALS)
    return path


def test_every_row_is_scored_and_counted_in_its_band(tmp_path: Path) -> None:
    scored = score_vitals_file(_scored(tmp_path))
    assert scored.observations == 3
    counts = {b.label: b.observations for b in scored.bands()}
    # A: 0 (low); B: RR 24 -> 2, SpO2 93 -> 2, O2 -> 2, SBP 98 -> 2, HR 112 -> 2, C -> 3,
    # T 38.4 -> 1 = 14 (high); C: RR 21 -> 2, SpO2 95 -> 1, SBP 110 -> 1, HR 95 -> 1,
    # T 38.2 -> 1 = 6 (medium).
    assert (counts["low"], counts["medium"], counts["high"]) == (1, 1, 1)
    assert sum(counts.values()) == 3
    rows = list(csv.DictReader(io.StringIO(scored.csv_text())))
    assert [r["news2_total"] for r in rows] == ["0", "14", "6"]
    assert [r["qsofa"] for r in rows] == ["0", "3", "0"]
    assert all(b.response for b in scored.bands())


def test_the_scored_rows_go_to_a_new_folder(tmp_path: Path) -> None:
    scored = score_vitals_file(_scored(tmp_path))
    out = tmp_path / "deep" / "er" / "scored.csv"
    scored.write_csv(out)
    assert out.read_text().splitlines() == scored.csv_text().splitlines()


def test_missing_files_and_impossible_vitals_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no vitals file"):
        score_vitals_file(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(VITALS.replace("A,16,97", "A,16,107"))
    with pytest.raises(InvalidInputError, match="spo2_percent"):
        score_vitals_file(bad)
