"""Nations -> global: whole ISO weeks, counts conserved, alarms back per country."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from healthtwin.coupling.global_monitor import alarming_countries, monitor_countries, weekly_counts
from healthtwin.errors import InvalidInputError
from healthtwin.surveillance.monitor import MonitorConfig


def _above_ten(
    observed: Any, *, method: str, monitored: Any, dates: Any = None, control: Any = None
) -> Any:
    y = np.asarray(observed)[:, np.asarray(monitored) - 1]
    one = np.ones(y.shape)
    return SimpleNamespace(
        expected=one,
        upperbound=10 * one,
        alarm=y > 10,
        defined=one > 0,
        score=y,
        reason=np.full(y.shape, ""),
    )


def test_weeks_start_on_monday_and_keep_whole_weeks_only() -> None:
    daily = np.arange(30.0)
    start = dt.date(2024, 1, 4)  # a Thursday
    monday, weeks = weekly_counts(daily, start)
    assert monday == dt.date(2024, 1, 8)
    assert monday.weekday() == 0
    assert weeks.size == 3  # days 4..24; days 0-3 and 25-29 are partial weeks
    assert weeks.sum() == daily[4:25].sum()
    assert weeks[0] == daily[4:11].sum()


def test_monday_start_keeps_everything_in_whole_weeks() -> None:
    daily = np.ones(28)
    monday, weeks = weekly_counts(daily, dt.date(2024, 1, 1))
    assert monday == dt.date(2024, 1, 1)
    assert weeks.tolist() == [7.0] * 4


def test_alarms_come_back_per_country() -> None:
    daily = {"A": np.r_[np.zeros(14), np.full(7, 2.0)], "B": np.ones(21), "C": np.zeros(21)}
    monitor, report = monitor_countries(
        daily,
        dt.date(2024, 1, 1),
        MonitorConfig(method="toy"),
        disease="flu",
        syndrome="sari",
        detector=_above_ten,
    )
    assert len(monitor.keys) == 3
    assert report.n_series == 3
    assert alarming_countries(report) == frozenset({"A"})
    assert str(report.week) == "2024-01-15"


def test_real_detector_runs_and_short_runs_are_refused() -> None:
    rng = np.random.default_rng(0)
    daily = {"A": rng.poisson(5.0, 70).astype(float), "B": rng.poisson(5.0, 70).astype(float)}
    _, report = monitor_countries(
        daily, dt.date(2024, 1, 1), MonitorConfig(method="ears-c1"), disease="flu", syndrome="sari"
    )
    assert report.n_series == 2
    with pytest.raises(InvalidInputError, match="whole week"):
        monitor_countries(
            {"A": np.ones(5)}, dt.date(2024, 1, 3), MonitorConfig(), disease="x", syndrome="y"
        )
