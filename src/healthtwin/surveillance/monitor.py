"""A cross-border monitor: many weekly count series, one detector, ranked alarms as JSON.

Series are keyed by ``(country, disease, syndrome)`` and grow by one week at a time
(:meth:`CrossBorderMonitor.append_week`). :meth:`CrossBorderMonitor.evaluate` runs the
configured detector on the last ``lookback_weeks`` weeks of every series at once: series
sharing their first date and length are stacked into one matrix and passed to
``detect_matrix`` together. Each alarm in the latest week is reported with its evidence
(observed, expected, upper bound, score, exceedance ratio ``observed / upperbound``, how
many consecutive weeks it has alarmed, and which neighbouring countries alarm for the same
disease) and ranked by exceedance ratio, then consecutive weeks, then alarming
neighbours.

JSON schema (``MonitorReport.to_json``, ``schema`` = ``healthtwin.surveillance.monitor/1``)::

    {
      "schema": "healthtwin.surveillance.monitor/1",
      "week": "2024-03-04",            # ISO date of the latest week (a Monday)
      "method": "ears-c2",              # detector method
      "control": {...},                 # control options given (JSON values)
      "n_series": 12, "n_alarms": 2, "n_undefined": 1,
      "alarms": [                       # ranked, rank 1 first
        {"rank": 1, "country": "FR", "disease": "measles", "syndrome": "rash",
         "observed": 40.0, "expected": 11.2, "upperbound": 19.5, "score": 3.4,
         "exceedance_ratio": 2.05,      # null when the upper bound is 0
         "consecutive_weeks": 2,        # alarms in a row ending at "week"
         "neighbours_alarming": ["BE", "DE"]}
      ],
      "undefined": [                    # series without a bound this week, and why
        {"country": "LU", "disease": "measles", "syndrome": "rash",
         "reason": "not enough history"}
      ]
    }

Numbers that are not finite are written as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "SCHEMA",
    "AlarmEvidence",
    "CrossBorderMonitor",
    "FullDetection",
    "FullMatrixDetector",
    "MonitorConfig",
    "MonitorReport",
    "SeriesKey",
    "UndefinedSeries",
]

SCHEMA = "healthtwin.surveillance.monitor/1"
WEEK = np.timedelta64(7, "D")


class FullDetection(Protocol):
    """What the monitor reads from ``detect.Detection``, arrays (n_series, n_monitored)."""

    @property
    def expected(self) -> NDArray[np.float64]:
        """Expected counts."""

    @property
    def upperbound(self) -> NDArray[np.float64]:
        """Alarm thresholds."""

    @property
    def alarm(self) -> NDArray[np.bool_]:
        """Alarms."""

    @property
    def defined(self) -> NDArray[np.bool_]:
        """Whether a bound was computed."""

    @property
    def score(self) -> NDArray[np.float64]:
        """The method's score."""

    @property
    def reason(self) -> NDArray[np.str_]:
        """Why no bound was computed."""


class FullMatrixDetector(Protocol):
    """The signature of ``healthtwin.surveillance.detect.detect_matrix``."""

    def __call__(
        self,
        observed: ArrayLike,
        *,
        method: str,
        monitored: ArrayLike,
        dates: ArrayLike | None = None,
        control: Mapping[str, object] | None = None,
    ) -> FullDetection:
        """Detect on ``observed`` (n_series, n_weeks) in the 1-based ``monitored`` weeks."""


@dataclass(frozen=True, order=True)
class SeriesKey:
    """Identity of one monitored series."""

    country: str
    disease: str
    syndrome: str


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    """What the monitor runs and how it relates countries.

    Attributes
    ----------
    method : str
        Detector method (one of ``detect.METHODS``).
    control : mapping, optional
        Control options of the method.
    neighbours : mapping of str to sequence of str
        Countries bordering each country; made symmetric.
    lookback_weeks : int
        Monitored weeks evaluated at the end of each series (at least 1), the most
        consecutive alarm weeks that can be reported.
    """

    method: str = "farrington-flexible"
    control: Mapping[str, object] | None = None
    neighbours: Mapping[str, Sequence[str]] = field(default_factory=dict)
    lookback_weeks: int = 4

    def __post_init__(self) -> None:
        if self.lookback_weeks < 1:
            raise InvalidParameterError(f"lookback_weeks must be >= 1, got {self.lookback_weeks}")

    def neighbours_of(self, country: str) -> frozenset[str]:
        """Countries bordering ``country`` (either side of the relation).

        Examples
        --------
        >>> sorted(MonitorConfig(neighbours={"FR": ["BE", "DE"]}).neighbours_of("BE"))
        ['FR']
        """
        direct = set(self.neighbours.get(country, ()))
        reverse = {c for c, ns in self.neighbours.items() if country in ns}
        return frozenset((direct | reverse) - {country})


@dataclass(frozen=True, kw_only=True)
class AlarmEvidence:
    """One alarm in the latest week with the evidence behind it."""

    rank: int
    key: SeriesKey
    observed: float
    expected: float
    upperbound: float
    score: float
    exceedance_ratio: float
    consecutive_weeks: int
    neighbours_alarming: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (non-finite numbers as ``None``)."""
        return {
            "rank": self.rank,
            "country": self.key.country,
            "disease": self.key.disease,
            "syndrome": self.key.syndrome,
            "observed": _finite(self.observed),
            "expected": _finite(self.expected),
            "upperbound": _finite(self.upperbound),
            "score": _finite(self.score),
            "exceedance_ratio": _finite(self.exceedance_ratio),
            "consecutive_weeks": self.consecutive_weeks,
            "neighbours_alarming": list(self.neighbours_alarming),
        }


@dataclass(frozen=True)
class UndefinedSeries:
    """A series without a bound in the latest week, and why."""

    key: SeriesKey
    reason: str


@dataclass(frozen=True, kw_only=True)
class MonitorReport:
    """The ranked alarms of one week across all series."""

    week: np.datetime64
    method: str
    control: Mapping[str, object]
    n_series: int
    alarms: tuple[AlarmEvidence, ...]
    undefined: tuple[UndefinedSeries, ...]

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dictionary (schema in the module docstring)."""
        return {
            "schema": SCHEMA,
            "week": str(self.week),
            "method": self.method,
            "control": {k: _json_value(v) for k, v in self.control.items()},
            "n_series": self.n_series,
            "n_alarms": len(self.alarms),
            "n_undefined": len(self.undefined),
            "alarms": [a.to_dict() for a in self.alarms],
            "undefined": [
                {
                    "country": u.key.country,
                    "disease": u.key.disease,
                    "syndrome": u.key.syndrome,
                    "reason": u.reason,
                }
                for u in self.undefined
            ],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text (strict: no NaN or Infinity)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _json_value(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return _finite(value)
    return value if isinstance(value, str | int | bool) or value is None else str(value)


def _monday(date: object) -> np.datetime64:
    try:
        day = np.datetime64(np.array(date, dtype="datetime64[D]").item(), "D")
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"not a date: {date!r}; give an ISO date such as 2024-03-04"
        ) from err
    if np.isnat(day) or (int(day.astype("int64")) - 4) % 7 != 0:  # 1970-01-05 was a Monday
        raise InvalidInputError(f"week dates must be Mondays (ISO weeks), got {day}")
    return day


class CrossBorderMonitor:
    """Weekly count series across countries, diseases and syndromes, and their alarms.

    Parameters
    ----------
    config : MonitorConfig
        Method, control, neighbour relation and look-back.
    detector : FullMatrixDetector, optional
        Default ``healthtwin.surveillance.detect.detect_matrix``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> def above(observed, *, method, monitored, dates=None, control=None):
    ...     y = np.asarray(observed)[:, np.asarray(monitored) - 1]
    ...     full = np.ones(y.shape)
    ...     return SimpleNamespace(expected=5 * full, upperbound=10 * full, alarm=y > 10,
    ...                            defined=full > 0, score=y - 10, reason=np.full(y.shape, ""))
    >>> monitor = CrossBorderMonitor(MonitorConfig(method="toy"), detector=above)
    >>> monitor.add_series(SeriesKey("FR", "flu", "ili"), [4, 6, 5], start="2024-01-01")
    >>> monitor.append_week("2024-01-22", {SeriesKey("FR", "flu", "ili"): 30})
    >>> report = monitor.evaluate()
    >>> report.alarms[0].key.country, report.alarms[0].exceedance_ratio
    ('FR', 3.0)
    """

    def __init__(self, config: MonitorConfig, detector: FullMatrixDetector | None = None) -> None:
        self.config = config
        self._detector = detector
        self._counts: dict[SeriesKey, list[float]] = {}
        self._start: dict[SeriesKey, np.datetime64] = {}

    @property
    def keys(self) -> tuple[SeriesKey, ...]:
        """Monitored series, sorted."""
        return tuple(sorted(self._counts))

    @property
    def latest_week(self) -> np.datetime64 | None:
        """The latest week any series reaches (None when empty)."""
        ends = [self._end(k) for k in self._counts]
        return max(ends) if ends else None

    def _end(self, key: SeriesKey) -> np.datetime64:
        return self._start[key] + WEEK * (len(self._counts[key]) - 1)

    def add_series(self, key: SeriesKey, observed: ArrayLike, *, start: object) -> None:
        """Add a series of weekly counts (NaN = missing) whose first week is ``start``.

        Raises
        ------
        InvalidInputError
            If the key exists, the counts are not a non-empty 1-D sequence of
            non-negative numbers, or ``start`` is not a Monday.
        """
        if key in self._counts:
            raise InvalidInputError(f"series {key} is already monitored; use append_week")
        counts = np.asarray(observed, dtype=float)
        if counts.ndim != 1 or counts.size == 0 or (counts[~np.isnan(counts)] < 0).any():
            raise InvalidInputError(
                f"counts of {key} must be a non-empty 1-D sequence of non-negative numbers "
                f"(NaN for missing weeks), got shape {counts.shape}"
            )
        self._start[key] = _monday(start)
        self._counts[key] = counts.tolist()

    def append_week(self, week: object, counts: Mapping[SeriesKey, float]) -> None:
        """Append one week: ``counts`` by key; known series missing from it get NaN.

        A key not yet monitored starts a new series at ``week``. The week must follow the
        latest week by 7 days (or equal it for a first week). Series that had fallen
        behind are padded with NaN up to ``week``.
        """
        day = _monday(week)
        latest = self.latest_week
        if latest is not None and day != latest + WEEK:
            raise InvalidInputError(
                f"week {day} does not follow the latest week {latest}; append weeks in order, "
                "one at a time"
            )
        for key, value in counts.items():
            if not (value >= 0 or math.isnan(value)):
                raise InvalidInputError(f"count of {key} in week {day} is negative: {value!r}")
        for key in list(self._counts):
            gap = int((day - self._end(key)) / WEEK) - 1
            self._counts[key].extend([math.nan] * gap + [float(counts.get(key, math.nan))])
        for key, value in counts.items():
            if key not in self._counts:
                self._start[key] = day
                self._counts[key] = [float(value)]

    def evaluate(self) -> MonitorReport:
        """Run the detector on the latest weeks of all series and rank the alarms.

        Returns
        -------
        MonitorReport

        Raises
        ------
        InvalidInputError
            If no series is monitored.
        """
        latest = self.latest_week
        if latest is None:
            raise InvalidInputError("no series to evaluate; add_series or append_week first")
        detector = self._detector if self._detector is not None else _default_detector()
        evidence: dict[SeriesKey, tuple[float, float, float, float, bool, str, int]] = {}
        undefined: list[UndefinedSeries] = []
        for (start, n_weeks), keys in self._groups(latest).items():
            observed = np.array([self._counts[k] for k in keys])
            first = max(1, n_weeks - self.config.lookback_weeks + 1)
            monitored = np.arange(first, n_weeks + 1)
            dates = start + WEEK * np.arange(n_weeks)
            found = detector(
                observed,
                method=self.config.method,
                monitored=monitored,
                dates=dates,
                control=self.config.control,
            )
            alarm = np.asarray(found.alarm, dtype=bool)
            run = _trailing_run(alarm)
            for i, key in enumerate(keys):
                evidence[key] = (
                    float(observed[i, -1]),
                    float(found.expected[i, -1]),
                    float(found.upperbound[i, -1]),
                    float(found.score[i, -1]),
                    bool(alarm[i, -1]),
                    str(found.reason[i, -1]) if not found.defined[i, -1] else "",
                    int(run[i]),
                )
        for key in self.keys:
            if key not in evidence:
                undefined.append(UndefinedSeries(key, "no count reported for the latest week"))
            elif evidence[key][5] or math.isnan(evidence[key][0]):
                undefined.append(UndefinedSeries(key, evidence[key][5] or "missing count"))
        return MonitorReport(
            week=latest,
            method=self.config.method,
            control=dict(self.config.control or {}),
            n_series=len(self._counts),
            alarms=self._ranked(evidence),
            undefined=tuple(undefined),
        )

    def _groups(self, latest: np.datetime64) -> dict[tuple[np.datetime64, int], list[SeriesKey]]:
        groups: dict[tuple[np.datetime64, int], list[SeriesKey]] = {}
        for key in self.keys:
            if self._end(key) == latest:
                groups.setdefault((self._start[key], len(self._counts[key])), []).append(key)
        return groups

    def _ranked(
        self, evidence: Mapping[SeriesKey, tuple[float, float, float, float, bool, str, int]]
    ) -> tuple[AlarmEvidence, ...]:
        alarming = {k for k, e in evidence.items() if e[4]}
        found = []
        for key in alarming:
            observed, expected, upper, score, _, _, run = evidence[key]
            ratio = observed / upper if upper > 0 else math.inf
            neighbours = tuple(
                sorted(
                    {
                        other.country
                        for other in alarming
                        if other.disease == key.disease
                        and other.country in self.config.neighbours_of(key.country)
                    }
                )
            )
            found.append((key, observed, expected, upper, score, ratio, run, neighbours))
        found.sort(key=lambda f: (-f[5], -f[6], -len(f[7]), f[0]))
        return tuple(
            AlarmEvidence(
                rank=rank,
                key=f[0],
                observed=f[1],
                expected=f[2],
                upperbound=f[3],
                score=f[4],
                exceedance_ratio=f[5],
                consecutive_weeks=f[6],
                neighbours_alarming=f[7],
            )
            for rank, f in enumerate(found, start=1)
        )


def _trailing_run(alarm: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Consecutive ``True`` at the end of each row, shape ``(n_rows,)``."""
    reversed_alarm = alarm[:, ::-1]
    broken = ~reversed_alarm
    first_false = np.where(broken.any(axis=1), broken.argmax(axis=1), alarm.shape[1])
    run: NDArray[np.int64] = first_false.astype(np.int64)
    return run


def _default_detector() -> FullMatrixDetector:
    from healthtwin.surveillance.detect import detect_matrix

    detector: FullMatrixDetector = detect_matrix
    return detector
