"""Shift scheduling of staff as an integer program (HiGHS through ``scipy.optimize.milp``).

The classic set-covering formulation of Dantzig (1954): a roster says how many staff work
each shift pattern ``p`` starting on each day ``d``. With ``x[p, d]`` whole and ``>= 0``,

    minimise    sum_{p,d} cost_p x[p, d]
    subject to  sum_{(p,d) covering hour h} x[p, d] >= required[h]   for every hour h

over a horizon of whole days, by default cyclic (a weekly roster repeats, so a night shift
starting on the last day covers the first morning). A pattern may span several consecutive
days (``days_per_tour``: e.g. 5 nights on, then off), which is how a limit on consecutive
working days enters the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import optimize

from healthtwin.core.types import IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["Roster", "RosterEntry", "ShiftPattern", "nurses_required", "schedule_shifts"]

_HOURS_PER_DAY = 24


@dataclass(frozen=True, kw_only=True)
class ShiftPattern:
    """A kind of shift staff can be rostered on.

    Parameters
    ----------
    name
        Label shown in the roster (e.g. ``"early"``).
    start_hour
        Hour of the day the shift starts, ``0 <= start_hour < 24``.
    length_hours
        Whole hours worked per day, ``1..24``.
    cost
        Cost of one person working this shift on one day (> 0).
    days_per_tour
        Consecutive days a person works this shift once rostered (1: a single day).
    start_days
        Days of the horizon (0-based, modulo 7 in a weekly horizon) a tour may start on;
        ``None`` means any day.
    """

    name: str
    start_hour: int
    length_hours: int
    cost: float
    days_per_tour: int = 1
    start_days: tuple[int, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < _HOURS_PER_DAY:
            raise InvalidParameterError(
                f"shift {self.name!r}: start_hour must be 0..23, got {self.start_hour!r}"
            )
        if not 1 <= self.length_hours <= _HOURS_PER_DAY:
            raise InvalidParameterError(
                f"shift {self.name!r}: length_hours must be 1..24, got {self.length_hours!r}"
            )
        if not (self.cost > 0 and math.isfinite(self.cost)):
            raise InvalidParameterError(
                f"shift {self.name!r}: cost must be positive, got {self.cost!r}"
            )
        if self.days_per_tour < 1:
            raise InvalidParameterError(
                f"shift {self.name!r}: days_per_tour must be >= 1, got {self.days_per_tour!r}"
            )

    @property
    def tour_cost(self) -> float:
        """Cost of one person working one whole tour."""
        return self.cost * self.days_per_tour


@dataclass(frozen=True)
class RosterEntry:
    """``staff`` people start a tour of ``pattern`` on day ``day``."""

    pattern: str
    day: int
    staff: int


@dataclass(frozen=True)
class Roster:
    """The cheapest roster found by :func:`schedule_shifts`.

    ``coverage`` and ``slack`` have one value per hour of the horizon, shape ``(hours,)``;
    ``slack = coverage - required >= 0``.
    """

    entries: tuple[RosterEntry, ...]
    cost: float
    coverage: IntArray
    slack: IntArray

    def staff_on(self, pattern: str) -> int:
        """Tours of ``pattern`` started over the horizon."""
        return sum(entry.staff for entry in self.entries if entry.pattern == pattern)


def nurses_required(census: npt.ArrayLike, patients_per_nurse: float) -> IntArray:
    """Nurses needed each hour to keep a patients-per-nurse ratio: ``ceil(census / ratio)``.

    Parameters
    ----------
    census
        Patients in beds per hour (e.g. a forecast quantile), shape ``(hours,)``.
    patients_per_nurse
        The ratio to keep (> 0).

    Returns
    -------
    numpy.ndarray
        Whole nurses per hour, shape ``(hours,)``.

    Raises
    ------
    InvalidParameterError
        If the ratio is not positive or a census value is negative.

    Examples
    --------
    >>> nurses_required([0.0, 7.5, 8.0], 4.0).tolist()
    [0, 2, 2]
    """
    values = np.asarray(census, dtype=np.float64)
    if not patients_per_nurse > 0:
        raise InvalidParameterError(
            f"patients_per_nurse must be positive, got {patients_per_nurse!r}; pass e.g. 4"
        )
    if np.any(~np.isfinite(values) | (values < 0)):
        raise InvalidParameterError("census must be finite and non-negative in every hour")
    # A tiny tolerance keeps 8.000000001 / 4 from asking for a third nurse.
    return np.ceil(values / patients_per_nurse - 1e-9).astype(np.int64)


def _coverage_matrix(
    hours: int, patterns: Sequence[ShiftPattern], cyclic: bool
) -> tuple[npt.NDArray[np.float64], list[tuple[ShiftPattern, int]]]:
    days = hours // _HOURS_PER_DAY
    columns: list[tuple[ShiftPattern, int]] = []
    cover: list[npt.NDArray[np.float64]] = []
    for pattern in patterns:
        allowed = range(days) if pattern.start_days is None else pattern.start_days
        for day in sorted({d % days for d in allowed} if cyclic else set(allowed)):
            if not 0 <= day < days:
                continue
            column = np.zeros(hours)
            for offset in range(pattern.days_per_tour):
                start = (day + offset) * _HOURS_PER_DAY + pattern.start_hour
                worked = np.arange(start, start + pattern.length_hours)
                worked = worked % hours if cyclic else worked[worked < hours]
                column[worked] = 1.0
            columns.append((pattern, day))
            cover.append(column)
    return np.column_stack(cover), columns


def schedule_shifts(
    required: npt.ArrayLike,
    patterns: Sequence[ShiftPattern],
    *,
    cyclic: bool = True,
    max_staff_per_tour: int | None = None,
    time_limit_s: float = 30.0,
) -> Roster:
    """Cheapest roster covering the staff required in every hour.

    Parameters
    ----------
    required
        Staff needed per hour, whole and ``>= 0``, shape ``(hours,)`` with ``hours`` a
        multiple of 24 (168 for a week).
    patterns
        Shift patterns staff can work (distinct names).
    cyclic
        Whether the horizon repeats (shifts running past its end cover its start).
    max_staff_per_tour
        Optional upper bound on people starting the same pattern on the same day.
    time_limit_s
        Time limit handed to HiGHS.

    Returns
    -------
    Roster
        Tours started per pattern and day, total cost, coverage and slack per hour.

    Raises
    ------
    InvalidParameterError
        If the horizon is not whole days or the patterns are empty or ambiguous.
    InvalidInputError
        If no roster can cover the requirement (hours no shift covers, or a bound too
        tight); the message names the first uncoverable hour.

    Examples
    --------
    >>> day = ShiftPattern(name="day", start_hour=8, length_hours=12, cost=300.0)
    >>> night = ShiftPattern(name="night", start_hour=20, length_hours=12, cost=360.0)
    >>> roster = schedule_shifts([1] * 8 + [3] * 12 + [1] * 4, [day, night], cyclic=True)
    >>> roster.cost, roster.staff_on("day"), roster.staff_on("night")
    (1260.0, 3, 1)
    """
    need = np.asarray(required)
    if need.ndim != 1 or need.size == 0 or need.size % _HOURS_PER_DAY:
        raise InvalidParameterError(
            f"required must be one value per hour over whole days (24, 168, ...), got shape "
            f"{need.shape}; pad the horizon to whole days"
        )
    if np.any(need < 0) or np.any(need != np.round(need)):
        raise InvalidParameterError("required must hold whole, non-negative staff counts")
    names = [p.name for p in patterns]
    if not patterns or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"patterns must be a non-empty list with distinct names, got {names!r}"
        )
    cover, columns = _coverage_matrix(need.size, patterns, cyclic)
    _check_coverable(need.astype(np.float64), cover)
    costs = np.array([pattern.tour_cost for pattern, _ in columns])
    upper = np.inf if max_staff_per_tour is None else float(max_staff_per_tour)
    solution = optimize.milp(
        costs,
        constraints=optimize.LinearConstraint(cover, lb=need.astype(np.float64), ub=np.inf),
        integrality=np.ones(costs.size),
        bounds=optimize.Bounds(0.0, upper),
        options={"time_limit": time_limit_s},
    )
    if solution.status == 2 or solution.x is None:
        raise InvalidInputError(
            f"no roster covers the requirement with at most {max_staff_per_tour} staff per "
            f"tour (HiGHS: {solution.message}); raise max_staff_per_tour or add patterns"
        )
    staff = np.round(solution.x).astype(np.int64)
    coverage = (cover @ staff).astype(np.int64)
    entries = tuple(
        RosterEntry(pattern.name, day, int(n))
        for (pattern, day), n in zip(columns, staff, strict=True)
        if n > 0
    )
    return Roster(entries, float(costs @ staff), coverage, coverage - need.astype(np.int64))


def _check_coverable(need: npt.NDArray[np.float64], cover: npt.NDArray[np.float64]) -> None:
    uncovered = np.flatnonzero((need > 0) & (cover.sum(axis=1) == 0))
    if uncovered.size:
        hour = int(uncovered[0])
        raise InvalidInputError(
            f"no shift pattern covers hour {hour} (day {hour // _HOURS_PER_DAY}, "
            f"{hour % _HOURS_PER_DAY:02d}:00) where {int(need[hour])} staff are required; "
            f"{uncovered.size} hour(s) are uncovered: add a pattern that works them"
        )
