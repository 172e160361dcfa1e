"""CountSeries and read_series_csv: valid input is read, bad input is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.surveillance import CountSeries, read_series_csv


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(text)
    return path


def test_reads_dated_series_with_missing_week(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "t,date,observed,year,week\n1,2024-01-01,3,2024,1\n2,2024-01-08,,2024,2\n"
    )
    series = read_series_csv(path)
    assert series.n_weeks == 2
    assert series.observed[0] == 3
    assert np.isnan(series.observed[1])
    assert series.week is not None
    assert series.week.tolist() == [1, 2]


def test_indexed_series_has_no_dates(tmp_path: Path) -> None:
    series = read_series_csv(_write(tmp_path, "t,observed\n1,0\n2,5\n"))
    assert series.date is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("t,date\n1,2024-01-01\n", "missing column"),
        ("t,date,observed\n1,2024-01-02,3\n", "not a Monday"),
        ("t,date,observed\n1,2024-01-01,-1\n", "non-negative"),
        ("t,date,observed\n1,2024-01-01,1\n3,2024-01-08,2\n", "without gaps"),
        ("t,date,observed\n1,2024-01-01,1\n2,2024-01-15,2\n", "jump"),
        ("t,date,observed\n1,2024-01-01,x\n", "row 2"),
    ],
)
def test_bad_files_raise_with_reason(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        read_series_csv(_write(tmp_path, text))


def test_constructor_rejects_fractional_counts() -> None:
    with pytest.raises(InvalidInputError, match="integers"):
        CountSeries([1, 2], None, [1.5, 2])
