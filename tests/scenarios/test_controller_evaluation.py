"""Closed-loop controllers evaluated on a cohort, flattened and reported (no CLI)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.controller_evaluation import (
    CONTROLLER_NAMES,
    METRIC_COLUMNS,
    METRICS,
    SCENARIO_NAMES,
    cohort_patients,
    evaluate_cohort,
    metric_rows,
)
from healthtwin.scenarios.controller_report import write_report


def test_cohorts_list_their_patients() -> None:
    assert cohort_patients("nominal") == ["nominal-adult"]
    simglucose = cohort_patients("simglucose")
    assert len(simglucose) == 30
    assert "adult#001" in simglucose
    with pytest.raises(InvalidInputError, match="valid: simglucose, nominal"):
        cohort_patients("everyone")
    assert {"basal-bolus", "pid"} <= set(CONTROLLER_NAMES)
    assert "snacks" in SCENARIO_NAMES


def test_sizes_below_one_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="must be >= 1"):
        evaluate_cohort(["pid"], ["nominal-adult"], ["snacks"], days=0)


def test_rows_match_the_evaluation_and_the_report_compares_controllers(tmp_path: Path) -> None:
    ev = evaluate_cohort(
        ["basal-bolus", "pid"], ["nominal-adult"], ["snacks"], days=1, replicates=2
    )
    rows = list(metric_rows(ev))
    assert len(rows) == 1 * 2 * 1 * 2  # scenarios x controllers x patients x seeds
    assert all(len(r) == len(METRIC_COLUMNS) for r in rows)
    assert [(r[1], r[3]) for r in rows] == [("basal-bolus", 0), ("basal-bolus", 1),
                                            ("pid", 0), ("pid", 1)]  # fmt: skip
    tir = METRIC_COLUMNS.index("tir_70_180")
    pid_tir = [float(str(r[tir])) for r in rows if r[1] == "pid"]
    np.testing.assert_allclose(pid_tir, ev.metric("snacks", "pid", "tir_70_180")[0], rtol=1e-5)
    assert all(0.0 <= t <= 100.0 for t in pid_tir)
    report = tmp_path / "report.html"
    write_report(ev, report)
    page = report.read_text()
    assert "Paired differences against basal-bolus" in page
    assert "pid &minus; basal-bolus" in page
    assert page.count("<table>") == 2
    assert all(html.escape(label) in page for label, _ in METRICS.values())
