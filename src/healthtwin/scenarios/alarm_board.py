"""A shared board of surveillance alarms: weekly counts in, ranked alarms out.

An :class:`AlarmBoard` holds a :class:`~healthtwin.surveillance.monitor.CrossBorderMonitor`
behind a lock (the monitor itself is not thread-safe), so that the requests of a service
can add series and weeks while others read the alarms. :meth:`AlarmBoard.report` answers
the latest week's ranked alarms with their evidence (the monitor's JSON schema
``healthtwin.surveillance.monitor/1``) plus ``series``, every monitored
``(country, disease, syndrome)``, so that a board can show the quiet ones too; an empty
board answers no alarms.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from healthtwin.surveillance.monitor import SCHEMA, CrossBorderMonitor, MonitorConfig, SeriesKey

__all__ = ["AlarmBoard", "MonitorConfig", "SeriesKey"]


class AlarmBoard:
    """A cross-border monitor shared by threads.

    Parameters
    ----------
    config
        What the monitor runs (default: EARS C2).

    Examples
    --------
    >>> board = AlarmBoard(MonitorConfig(method="ears-c2", lookback_weeks=2))
    >>> board.report()["n_alarms"]
    0
    >>> key = SeriesKey("FR", "flu", "ili")
    >>> board.add_series(key, [5, 6, 5, 7, 6, 5, 6, 5, 6, 5, 6], "2024-01-01")
    >>> board.append_week("2024-03-18", {key: 60.0})
    >>> board.report()["alarms"][0]["country"]
    'FR'
    >>> board.report()["series"]
    [{'country': 'FR', 'disease': 'flu', 'syndrome': 'ili'}]
    """

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self._config = config or MonitorConfig(method="ears-c2")
        self._monitor = CrossBorderMonitor(self._config)
        self._lock = threading.Lock()

    def add_series(self, key: SeriesKey, counts: Sequence[float], start: str) -> None:
        """Monitor a new series starting on Monday ``start`` (``nan``: a missing week)."""
        with self._lock:
            self._monitor.add_series(key, list(counts), start=start)

    def append_week(self, week: str, counts: Mapping[SeriesKey, float]) -> None:
        """Append the counts of ``week`` (series left out get a missing value)."""
        with self._lock:
            self._monitor.append_week(week, dict(counts))

    def report(self) -> dict[str, Any]:
        """The ranked alarms of the latest week and the monitored series (none: empty)."""
        with self._lock:
            series = [
                {"country": k.country, "disease": k.disease, "syndrome": k.syndrome}
                for k in self._monitor.keys
            ]
            if not series:
                return {
                    "schema": SCHEMA,
                    "week": None,
                    "method": self._config.method,
                    "control": {},
                    "n_series": 0,
                    "n_alarms": 0,
                    "n_undefined": 0,
                    "alarms": [],
                    "undefined": [],
                    "series": [],
                }
            return self._monitor.evaluate().to_dict() | {"series": series}
