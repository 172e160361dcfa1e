"""Weekly count series: one surveillance time series and its CSV form.

A series has a 1-based week index ``t`` without gaps, the observed counts (``NaN`` where a
week is missing) and either an ISO Monday per week (a *dated* series: reference weeks are
chosen by date, as R ``surveillance`` does with ``epochAsDate=TRUE``) or none (an *indexed*
series of 52 weeks per year: reference weeks are chosen by index). ``year`` and ``week``
(ISO year and week, or the series' own year and week numbers) are carried along for output.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError

__all__ = ["SERIES_COLUMNS", "CountSeries", "read_series_csv"]

SERIES_COLUMNS = ("t", "date", "observed", "year", "week")
_MONDAY = 0


@dataclass(frozen=True)
class CountSeries:
    """One weekly count series.

    Attributes
    ----------
    t : ndarray of int64, shape (n_weeks,)
        1-based consecutive week index.
    date : ndarray of datetime64[D], shape (n_weeks,), or None
        The Monday of each week; None for an indexed (52 weeks per year) series.
    observed : ndarray of float64, shape (n_weeks,)
        Non-negative integer counts, ``NaN`` where missing.
    year, week : ndarray of int64, shape (n_weeks,), or None
        Calendar labels, used for output only.
    """

    t: IntArray
    date: NDArray[np.datetime64] | None
    observed: FloatArray
    year: IntArray | None = None
    week: IntArray | None = None

    def __init__(
        self,
        t: ArrayLike,
        date: ArrayLike | None,
        observed: ArrayLike,
        year: ArrayLike | None = None,
        week: ArrayLike | None = None,
    ) -> None:
        t_arr = np.asarray(t, dtype=np.int64).reshape(-1)
        obs = np.asarray(observed, dtype=float).reshape(-1)
        if t_arr.size == 0 or obs.shape != t_arr.shape:
            raise InvalidInputError(
                f"a series needs one count per week: got {t_arr.size} weeks and {obs.size} counts"
            )
        gaps = np.flatnonzero(np.diff(t_arr) != 1)
        if t_arr[0] != 1 or gaps.size:
            where = 0 if t_arr[0] != 1 else int(gaps[0]) + 1
            raise InvalidInputError(
                f"t must run 1, 2, 3, ... without gaps; got t={int(t_arr[where])} at row "
                f"{where + 1}. Write every week, with an empty count where it is missing"
            )
        bad = np.flatnonzero((obs < 0) | (np.isfinite(obs) & (obs != np.round(obs))))
        if bad.size or np.isinf(obs).any():
            i = int(bad[0]) if bad.size else int(np.flatnonzero(np.isinf(obs))[0])
            raise InvalidInputError(
                f"observed count at t={i + 1} is {obs[i]!r}; counts must be non-negative "
                "integers (leave the cell empty for a missing week)"
            )
        dates = None if date is None else _mondays(date, t_arr.size)
        object.__setattr__(self, "t", t_arr)
        object.__setattr__(self, "date", dates)
        object.__setattr__(self, "observed", obs)
        object.__setattr__(self, "year", _labels("year", year, t_arr.size))
        object.__setattr__(self, "week", _labels("week", week, t_arr.size))

    @property
    def n_weeks(self) -> int:
        """Number of weeks."""
        return int(self.t.size)


def _mondays(date: ArrayLike, n_weeks: int) -> NDArray[np.datetime64]:
    try:
        dates = np.asarray(date, dtype="datetime64[D]").reshape(-1)
    except ValueError as err:
        raise InvalidInputError(f"dates must be ISO dates such as 2020-01-06 ({err})") from err
    if dates.size != n_weeks:
        raise InvalidInputError(f"{dates.size} dates for {n_weeks} weeks; give one per week")
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    off = np.flatnonzero(weekday != _MONDAY)
    if off.size:
        i = int(off[0])
        raise InvalidInputError(
            f"date at t={i + 1} is {dates[i]}, not a Monday; give the Monday of each ISO week"
        )
    steps = np.flatnonzero(np.diff(dates.astype(np.int64)) != 7)
    if steps.size:
        i = int(steps[0])
        raise InvalidInputError(
            f"dates jump from {dates[i]} to {dates[i + 1]} at t={i + 2}; weeks must be "
            "consecutive (write every week, with an empty count where it is missing)"
        )
    return dates


def _labels(name: str, values: ArrayLike | None, n_weeks: int) -> IntArray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    if arr.size != n_weeks:
        raise InvalidInputError(f"{arr.size} {name} labels for {n_weeks} weeks; give one per week")
    return arr


def read_series_csv(path: Path | str) -> CountSeries:
    """Read a series from a CSV with columns ``t, date, observed`` and optionally ``year, week``.

    Parameters
    ----------
    path : Path or str
        One row per week. ``date`` is the ISO Monday of the week; leave the column out (or
        every cell empty) for an indexed series of 52 weeks per year. An empty ``observed``
        cell (or ``NA``) is a missing week.

    Returns
    -------
    CountSeries

    Raises
    ------
    InvalidInputError
        A column is missing, ``t`` has gaps, a date is not a Monday or weeks are skipped, a
        count is negative or not an integer; the message names the row.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = f.write_text("t,date,observed\\n1,2024-01-01,3\\n2,2024-01-08,\\n")
    >>> s = read_series_csv(f)
    >>> s.observed.tolist(), str(s.date[1])
    ([3.0, nan], '2024-01-08')
    """
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    missing = [c for c in ("t", "observed") if c not in columns]
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {missing}; found {columns}. Give t (1-based week), "
            "date (ISO Monday, optional for 52-week indexed series), observed, and "
            "optionally year, week"
        )
    if not rows:
        raise InvalidInputError(f"{path}: no rows; give one row per week")
    t = [_integer(path, row, "t", r["t"]) for row, r in enumerate(rows, 2)]
    observed = [_count(path, row, r["observed"]) for row, r in enumerate(rows, 2)]
    dates = None
    if "date" in columns and any(r["date"] for r in rows):
        dates = [_date(path, row, r["date"]) for row, r in enumerate(rows, 2)]
    labels = {
        name: [_integer(path, row, name, r[name]) for row, r in enumerate(rows, 2)]
        for name in ("year", "week")
        if name in columns and all(r[name] for r in rows)
    }
    try:
        return CountSeries(t, dates, observed, labels.get("year"), labels.get("week"))
    except InvalidInputError as err:
        raise InvalidInputError(f"{path}: {err}") from err


def _integer(path: Path | str, row: int, name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError as err:
        raise InvalidInputError(
            f"{path}, row {row}, column {name!r}: got {text!r}; expected an integer"
        ) from err


def _count(path: Path | str, row: int, text: str) -> float:
    if text in ("", "NA", "NaN", "nan"):
        return math.nan
    try:
        return float(text)
    except ValueError as err:
        raise InvalidInputError(
            f"{path}, row {row}, column 'observed': got {text!r}; expected a non-negative "
            "integer count (or an empty cell for a missing week)"
        ) from err


def _date(path: Path | str, row: int, text: str) -> np.datetime64:
    try:
        return np.datetime64(dt.date.fromisoformat(text), "D")
    except ValueError as err:
        raise InvalidInputError(
            f"{path}, row {row}, column 'date': got {text!r}; expected an ISO date such as "
            "2024-01-01 (a Monday)"
        ) from err
