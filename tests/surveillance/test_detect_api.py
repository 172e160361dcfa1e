"""detect_matrix / detect: the shared contract (shapes, errors, reasons, table output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.surveillance import (
    DETECTION_COLUMNS,
    METHODS,
    CountSeries,
    detect,
    detect_matrix,
)


@pytest.fixture
def counts() -> np.ndarray:
    return np.random.default_rng(11).poisson(8, size=(3, 300)).astype(float)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_contract_shapes(method: str, counts: np.ndarray) -> None:
    weeks = np.array([5, 280, 300])
    d = detect_matrix(counts, method=method, monitored=weeks)
    assert d.method == method
    for name in ("expected", "upperbound", "alarm", "defined", "score", "reason"):
        assert getattr(d, name).shape == (3, 3)
    assert d.t.tolist() == [5, 280, 300]
    assert not d.alarm[~d.defined].any()
    assert (d.reason[d.defined] == "").all()
    assert d.defined[:, 1:].all()


@pytest.mark.parametrize("method", [m for m in METHODS if m != "cusum"])
def test_early_weeks_have_reason(method: str, counts: np.ndarray) -> None:
    d = detect_matrix(counts, method=method, monitored=[2])
    assert (d.reason == "not enough history").all()


def test_unknown_method_and_option(counts: np.ndarray) -> None:
    with pytest.raises(UnknownModelError, match="valid methods"):
        detect_matrix(counts, method="farington", monitored=[300])
    with pytest.raises(InvalidParameterError, match="no_periods"):
        detect_matrix(
            counts, method="farrington-flexible", monitored=[300], control={"noPeriods": 10}
        )
    with pytest.raises(InvalidParameterError, match="threshold_method"):
        detect_matrix(
            counts, method="farrington", monitored=[300], control={"threshold_method": "x"}
        )


@pytest.mark.parametrize("weeks", [[0], [301], [5, 4], [5, 5]])
def test_bad_monitored_weeks(counts: np.ndarray, weeks: list[int]) -> None:
    with pytest.raises(InvalidInputError):
        detect_matrix(counts, method="ears-c1", monitored=weeks)


def test_negative_counts_rejected(counts: np.ndarray) -> None:
    counts[1, 10] = -1
    with pytest.raises(InvalidInputError, match="series 1, t=11"):
        detect_matrix(counts, method="ears-c1", monitored=[300])


def test_missing_baseline_week_gives_reason() -> None:
    y = np.full(20, 4.0)
    y[15] = np.nan
    d = detect_matrix(y, method="ears-c1", monitored=[20])
    assert d.reason[0, 0] == "missing values in baseline"


def test_table_csv_has_r_columns_and_na(tmp_path: Path) -> None:
    dates = np.datetime64("2024-01-01") + 7 * np.arange(12)
    series = CountSeries(np.arange(1, 13), dates, [3, 4, 2, 5, 3, 4, 3, 4, 3, 2, 3, 20])
    table = detect(series, method="ears-c1", range_t=(7, 12))
    out = tmp_path / "out.csv"
    table.write_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(DETECTION_COLUMNS)
    assert lines[1].startswith("7,2024-02-12,3,NA,NA,NA,NA,not enough history")
    assert lines[-1].split(",")[5] == "TRUE"
    frame = table.to_frame()
    assert list(frame.columns) == list(DETECTION_COLUMNS)
