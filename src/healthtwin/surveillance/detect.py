"""One entry point for every detector: many series at once, or one series as a table.

``detect_matrix`` runs a method on a matrix of series (one row each) and a set of monitored
weeks; it never raises for a week where no bound can be computed, it fills ``NaN`` and a
reason instead. ``detect`` wraps it for one :class:`CountSeries` and returns a table with
the CLI's columns ``t,date,observed,expected,upperbound,alarm,score,reason``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import (
    InvalidInputError,
    MissingDependencyError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.surveillance.controls import (
    CusumControl,
    EarsControl,
    FarringtonControl,
    parse_control,
)
from healthtwin.surveillance.result import Detection
from healthtwin.surveillance.series import CountSeries

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DETECTION_COLUMNS",
    "METHODS",
    "Detection",
    "DetectionTable",
    "detect",
    "detect_matrix",
    "method_control",
]

METHODS: tuple[str, ...] = (
    "farrington-flexible",
    "farrington",
    "ears-c1",
    "ears-c2",
    "ears-c3",
    "cusum",
)
DETECTION_COLUMNS = ("t", "date", "observed", "expected", "upperbound", "alarm", "score", "reason")

# The original settings of Farrington et al. (1996), run through farringtonFlexible.
FARRINGTON_1996 = {
    "no_periods": 1,
    "weights_threshold": 1.0,
    "p_threshold_trend": 0.05,
    "threshold_method": "delta",
}


def method_control(
    method: str, control: Mapping[str, object] | None = None
) -> EarsControl | FarringtonControl | CusumControl:
    """The typed control of a method, with its defaults filled in.

    Raises
    ------
    UnknownModelError
        ``method`` is not one of :data:`METHODS`.
    InvalidParameterError
        A key is unknown for this method, or a value is out of range.

    Examples
    --------
    >>> method_control("farrington").weights_threshold
    1.0
    >>> method_control("farrington-flexible", {"no_periods": 10}).no_periods
    10
    """
    if method.startswith("ears-") and method in METHODS:
        return parse_control(EarsControl, control)
    if method == "farrington-flexible":
        return parse_control(FarringtonControl, control)
    if method == "farrington":
        return parse_control(FarringtonControl, control, FARRINGTON_1996)
    if method == "cusum":
        return parse_control(CusumControl, control)
    raise UnknownModelError(
        f"unknown detection method {method!r}; valid methods are {list(METHODS)}"
    )


def detect_matrix(
    observed: ArrayLike,
    *,
    method: str,
    monitored: ArrayLike,
    dates: ArrayLike | None = None,
    control: Mapping[str, object] | None = None,
) -> Detection:
    """Run a detector on many series at once.

    Parameters
    ----------
    observed : array_like, shape (n_series, n_weeks)
        Non-negative counts; ``NaN`` marks a missing week. A 1-D array is one series.
    method : str
        One of :data:`METHODS`.
    monitored : array_like of int, shape (n_monitored,)
        1-based weeks to monitor, sorted, unique, within ``1..n_weeks``.
    dates : array_like of datetime64[D], shape (n_weeks,), optional
        The Monday of each week: Farrington chooses reference weeks by date (as R with
        ``epochAsDate=TRUE``); without dates it chooses them by index (52 weeks a year).
    control : mapping, optional
        R's control-list options in snake_case; see :func:`method_control`.

    Returns
    -------
    Detection
        Arrays of shape (n_series, n_monitored); weeks without a bound have ``NaN``, no
        alarm, ``defined`` False and a reason such as ``"not enough history"``.

    Raises
    ------
    UnknownModelError
        Unknown method.
    InvalidParameterError
        Unknown control option or value out of range.
    InvalidInputError
        Negative or non-integer counts; monitored weeks outside the series, unsorted or
        repeated.
    ShapeError
        ``observed`` is not 1-D or 2-D, or ``dates`` does not have one date per week.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[3.0, 4, 2, 5, 3, 4, 3, 4, 15], [3, 4, 2, 5, 3, 4, 3, 4, 4]])
    >>> d = detect_matrix(y, method="ears-c1", monitored=[9])
    >>> d.alarm[:, 0].tolist(), d.upperbound.shape
    ([True, False], (2, 1))
    >>> str(detect_matrix(y, method="ears-c1", monitored=[3]).reason[0, 0])
    'not enough history'
    """
    config = method_control(method, control)
    counts = _counts(observed)
    weeks = _monitored(monitored, counts.shape[1])
    day = None if dates is None else _dates(dates, counts.shape[1])
    if isinstance(config, EarsControl):
        from healthtwin.surveillance.ears import ears

        return ears(counts, weeks, variant=method[-2:].upper(), control=config)
    if isinstance(config, FarringtonControl):
        from healthtwin.surveillance.farrington import farrington

        return farrington(counts, weeks, dates=day, control=config, method=method)
    from healthtwin.surveillance.cusum import cusum

    return cusum(counts, weeks, control=config)


def _counts(observed: ArrayLike) -> FloatArray:
    counts = np.asarray(observed, dtype=float)
    if counts.ndim == 1:
        counts = counts[None, :]
    if counts.ndim != 2 or counts.shape[1] == 0:
        raise ShapeError(f"observed must have shape (n_series, n_weeks), got {np.shape(observed)}")
    bad = (counts < 0) | np.isinf(counts) | (np.isfinite(counts) & (counts != np.round(counts)))
    if bad.any():
        s, w = (int(v) for v in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"observed[{s}, {w}] (series {s}, t={w + 1}) is {counts[s, w]!r}; counts must be "
            "non-negative integers, NaN for a missing week"
        )
    return counts


def _monitored(monitored: ArrayLike, n_weeks: int) -> IntArray:
    weeks = np.atleast_1d(np.asarray(monitored))
    if weeks.ndim != 1 or weeks.size == 0 or not np.all(weeks == np.round(weeks)):
        raise InvalidInputError(
            f"monitored must be a non-empty list of integer weeks, got {monitored!r}"
        )
    weeks = weeks.astype(np.int64)
    if weeks.min() < 1 or weeks.max() > n_weeks:
        raise InvalidInputError(
            f"monitored weeks {int(weeks.min())}..{int(weeks.max())} fall outside the series "
            f"(t = 1..{n_weeks}); give weeks within the series"
        )
    if np.any(np.diff(weeks) <= 0):
        raise InvalidInputError("monitored weeks must be sorted and unique")
    return weeks


def _dates(dates: ArrayLike, n_weeks: int) -> NDArray[np.datetime64]:
    day = np.asarray(dates, dtype="datetime64[D]").reshape(-1)
    if day.size != n_weeks:
        raise ShapeError(f"{day.size} dates for {n_weeks} weeks; give one date per week")
    return day


@dataclass(frozen=True)
class DetectionTable:
    """The detection result for one series, one row per monitored week.

    Attributes
    ----------
    series : CountSeries
        The input series.
    detection : Detection
        The result with ``n_series == 1``.
    """

    series: CountSeries
    detection: Detection

    def rows(self) -> list[dict[str, object]]:
        """One dict per monitored week with the :data:`DETECTION_COLUMNS` keys."""
        d = self.detection
        out: list[dict[str, object]] = []
        for j, t in enumerate(d.t.tolist()):
            date = "" if self.series.date is None else str(self.series.date[t - 1])
            out.append(
                {
                    "t": t,
                    "date": date,
                    "observed": float(self.series.observed[t - 1]),
                    "expected": float(d.expected[0, j]),
                    "upperbound": float(d.upperbound[0, j]),
                    "alarm": _alarm(d, j),
                    "score": float(d.score[0, j]),
                    "reason": str(d.reason[0, j]),
                }
            )
        return out

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (pandas is imported here, on demand)."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - pandas is a core dependency here
            raise MissingDependencyError(
                "DetectionTable.to_frame needs pandas: pip install pandas"
            ) from err
        frame = pd.DataFrame(self.rows(), columns=list(DETECTION_COLUMNS))
        frame["alarm"] = frame["alarm"].astype("boolean")
        return frame

    def write_csv(self, path: Path | str) -> None:
        """Write the table; undefined values are written ``NA`` as R does."""
        with Path(path).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(DETECTION_COLUMNS)
            for row in self.rows():
                writer.writerow([_cell(row[c]) for c in DETECTION_COLUMNS])


def _alarm(d: Detection, j: int) -> bool | None:
    # R reports no alarm (FALSE, not NA) for weeks silenced by the limit54 rule.
    if d.defined[0, j] or str(d.reason[0, j]).startswith("limit54"):
        return bool(d.alarm[0, j])
    return None


def _cell(value: object) -> str:
    if value is None:
        return "NA"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if np.isnan(value):
            return "NA"
        return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
    return str(value)


def detect(
    series: CountSeries,
    *,
    method: str,
    range_t: tuple[int, int] | ArrayLike,
    control: Mapping[str, object] | None = None,
) -> DetectionTable:
    """Run a detector on one series over a range of weeks.

    Parameters
    ----------
    series : CountSeries
    method : str
        One of :data:`METHODS`.
    range_t : (first, last) or array_like of int
        Inclusive range of 1-based weeks, or the weeks themselves.
    control : mapping, optional
        See :func:`detect_matrix`.

    Returns
    -------
    DetectionTable

    Examples
    --------
    >>> s = CountSeries(range(1, 11), None, [2, 3, 2, 4, 3, 2, 3, 2, 3, 12])
    >>> table = detect(s, method="ears-c1", range_t=(9, 10))
    >>> [(r["t"], r["alarm"]) for r in table.rows()]
    [(9, False), (10, True)]
    """
    if isinstance(range_t, tuple) and len(range_t) == 2:
        first, last = (int(v) for v in range_t)
        if first > last:
            raise InvalidInputError(f"range {first}:{last} is empty; give first <= last")
        weeks: ArrayLike = np.arange(first, last + 1)
    else:
        weeks = range_t
    result = detect_matrix(
        series.observed[None, :], method=method, monitored=weeks, dates=series.date, control=control
    )
    return DetectionTable(series, result)
