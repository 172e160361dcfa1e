"""Nations -> global: weekly reported counts per country into the cross-border monitor.

Each country's daily reported counts (for example hospital admissions of one replicate,
or the median) are summed into ISO weeks (Monday to Sunday): days before the first Monday
of the run and the days of an unfinished last week are left out, so every weekly count
covers seven whole days. The series go into a
:class:`~healthtwin.surveillance.monitor.CrossBorderMonitor`; its alarms come back as the
set of alarming countries, which a national planner can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError
from healthtwin.surveillance.monitor import (
    CrossBorderMonitor,
    FullMatrixDetector,
    MonitorConfig,
    MonitorReport,
    SeriesKey,
)

__all__ = ["alarming_countries", "monitor_countries", "weekly_counts"]

DAYS_PER_WEEK = 7


def weekly_counts(daily: FloatArray, start: dt.date) -> tuple[dt.date, FloatArray]:
    """Whole ISO weeks of a daily series: the first Monday and the weekly sums.

    Parameters
    ----------
    daily : ndarray, shape (days,)
        Counts per day; day 0 is ``start``.
    start
        Calendar date of day 0.

    Returns
    -------
    (date, ndarray of shape (weeks,))
        The Monday of the first whole week, and the sum of each whole week.

    Examples
    --------
    >>> monday, weeks = weekly_counts(np.ones(20), dt.date(2024, 1, 3))  # a Wednesday
    >>> monday.isoformat(), weeks.tolist()
    ('2024-01-08', [7.0, 7.0])
    """
    counts = np.asarray(daily, dtype=float)
    if counts.ndim != 1:
        raise InvalidInputError(f"daily counts must be 1-D; got shape {counts.shape}")
    skip = (DAYS_PER_WEEK - start.weekday()) % DAYS_PER_WEEK
    n_weeks = max(0, (counts.size - skip) // DAYS_PER_WEEK)
    whole = counts[skip : skip + n_weeks * DAYS_PER_WEEK].reshape(n_weeks, DAYS_PER_WEEK)
    return start + dt.timedelta(days=skip), whole.sum(axis=1)


def monitor_countries(
    daily_by_country: Mapping[str, FloatArray],
    start: dt.date,
    config: MonitorConfig,
    *,
    disease: str,
    syndrome: str,
    detector: FullMatrixDetector | None = None,
) -> tuple[CrossBorderMonitor, MonitorReport]:
    """Feed each country's weekly counts to a monitor and evaluate the latest week.

    Raises
    ------
    InvalidInputError
        No country, or a run too short to hold one whole week.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> def above(observed, *, method, monitored, dates=None, control=None):
    ...     y = np.asarray(observed)[:, np.asarray(monitored) - 1]
    ...     one = np.ones(y.shape)
    ...     return SimpleNamespace(expected=one, upperbound=10 * one, alarm=y > 10,
    ...                            defined=one > 0, score=y - 10, reason=np.full(y.shape, ""))
    >>> daily = {"A": np.r_[np.zeros(7), np.full(7, 3.0)], "B": np.zeros(14)}
    >>> _, report = monitor_countries(daily, dt.date(2024, 1, 1), MonitorConfig(method="toy"),
    ...                               disease="flu", syndrome="ili", detector=above)
    >>> sorted(alarming_countries(report))
    ['A']
    """
    if not daily_by_country:
        raise InvalidInputError("no country to monitor; give at least one country's counts")
    monitor = CrossBorderMonitor(config, detector)
    for country, daily in daily_by_country.items():
        monday, weeks = weekly_counts(daily, start)
        if weeks.size == 0:
            raise InvalidInputError(
                f"country {country!r} has no whole week of counts from {start}; run at least "
                "one Monday-to-Sunday week"
            )
        monitor.add_series(SeriesKey(country, disease, syndrome), weeks, start=monday)
    return monitor, monitor.evaluate()


def alarming_countries(report: MonitorReport) -> frozenset[str]:
    """Countries with an alarm in the report's latest week (the signal sent back down)."""
    return frozenset(a.key.country for a in report.alarms)
