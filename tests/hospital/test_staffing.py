"""Shift scheduling by integer programming, checked by brute force and by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.hospital.staffing import (
    ShiftPattern,
    nurses_required,
    schedule_shifts,
)

EARLY = ShiftPattern(name="early", start_hour=7, length_hours=8, cost=200.0)
LATE = ShiftPattern(name="late", start_hour=14, length_hours=8, cost=220.0)
NIGHT = ShiftPattern(name="night", start_hour=21, length_hours=10, cost=300.0)
LONG_DAY = ShiftPattern(name="long_day", start_hour=7, length_hours=12, cost=290.0)


def _brute_force(required: np.ndarray, patterns: list[ShiftPattern], top: int) -> float:
    cover = np.zeros((24, len(patterns)))
    for j, p in enumerate(patterns):
        cover[(p.start_hour + np.arange(p.length_hours)) % 24, j] = 1
    costs = np.array([p.cost for p in patterns])
    best = np.inf
    for x in itertools.product(range(top + 1), repeat=len(patterns)):
        staff = np.array(x)
        if np.all(cover @ staff >= required):
            best = min(best, float(costs @ staff))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_integer_program_matches_brute_force_on_random_days(seed: int) -> None:
    rng = np.random.default_rng(seed)
    required = rng.integers(0, 4, 24)
    patterns = [EARLY, LATE, NIGHT, LONG_DAY]
    roster = schedule_shifts(required, patterns)
    assert roster.cost == pytest.approx(_brute_force(required, patterns, top=4))
    assert np.all(roster.slack >= 0)
    assert np.array_equal(roster.slack, roster.coverage - required)


def test_hand_solved_ward_day() -> None:
    # Days 07-21 need 4 nurses, nights 21-07 need 2. Early+late cover 07-22 with 8-hour
    # shifts at 420 per pair of shifts; a long day covers 07-19 only, so afternoons still
    # need a late shift: 4 early + 4 late (1680) beats 4 long days + 4 late (2040).
    required = np.array([2] * 7 + [4] * 14 + [2] * 3)
    roster = schedule_shifts(required, [EARLY, LATE, NIGHT, LONG_DAY])
    assert {e.pattern: e.staff for e in roster.entries} == {"early": 4, "late": 4, "night": 2}
    assert roster.cost == pytest.approx(4 * 200 + 4 * 220 + 2 * 300)
    assert roster.slack[10] == 0
    assert roster.slack[21] == 4  # the late shift runs to 22:00 while the night starts


def test_weekly_tours_respect_consecutive_days() -> None:
    # Five-day tours of one 24-hour "shift" must cover one nurse every day of the week:
    # every day needs someone, and each person works 5 days in a row, so at least 2 tours.
    five = ShiftPattern(name="5on", start_hour=0, length_hours=24, cost=100.0, days_per_tour=5)
    roster = schedule_shifts(np.ones(168, dtype=int), [five])
    assert sum(e.staff for e in roster.entries) == 2
    assert roster.cost == pytest.approx(2 * 5 * 100.0)
    assert np.all(roster.coverage >= 1)


def test_start_days_limit_where_tours_begin() -> None:
    weekday = ShiftPattern(
        name="weekday", start_hour=8, length_hours=8, cost=10.0, start_days=(0, 1, 2, 3, 4)
    )
    weekend = ShiftPattern(
        name="weekend", start_hour=8, length_hours=8, cost=15.0, start_days=(5, 6)
    )
    required = np.zeros(168, dtype=int)
    for day in range(7):
        required[day * 24 + 8 : day * 24 + 16] = 1
    roster = schedule_shifts(required, [weekday, weekend])
    assert roster.staff_on("weekday") == 5
    assert roster.staff_on("weekend") == 2
    assert {e.day for e in roster.entries if e.pattern == "weekend"} == {5, 6}


def test_non_cyclic_horizon_does_not_wrap_the_night_shift() -> None:
    required = np.array([1] * 7 + [0] * 17)
    cyclic = schedule_shifts(required, [NIGHT])
    assert cyclic.cost == pytest.approx(300.0)
    with pytest.raises(InvalidInputError, match="hour 0"):
        schedule_shifts(required, [NIGHT], cyclic=False)


def test_infeasible_bound_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="max_staff_per_tour"):
        schedule_shifts(np.full(24, 3), [LONG_DAY, LATE, NIGHT], max_staff_per_tour=2)


def test_uncovered_hours_are_named() -> None:
    required = np.zeros(24, dtype=int)
    required[3] = 1
    with pytest.raises(InvalidInputError, match=r"hour 3 \(day 0, 03:00\)"):
        schedule_shifts(required, [EARLY, LATE])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_hour": 24}, "start_hour"),
        ({"length_hours": 0}, "length_hours"),
        ({"cost": -1.0}, "cost"),
        ({"days_per_tour": 0}, "days_per_tour"),
    ],
)
def test_bad_patterns_name_the_field(kwargs: dict[str, float], field: str) -> None:
    base: dict[str, object] = {"name": "x", "start_hour": 0, "length_hours": 8, "cost": 1.0}
    with pytest.raises(InvalidParameterError, match=field):
        ShiftPattern(**{**base, **kwargs})  # type: ignore[arg-type]


def test_bad_requirements_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="whole days"):
        schedule_shifts(np.ones(25, dtype=int), [EARLY])
    with pytest.raises(InvalidParameterError, match="non-negative"):
        schedule_shifts(np.full(24, -1), [EARLY])
    with pytest.raises(InvalidParameterError, match="distinct"):
        schedule_shifts(np.ones(24, dtype=int), [EARLY, EARLY])


def test_nurses_required_from_a_census_forecast() -> None:
    census = np.array([0.0, 3.9, 4.0, 4.1, 17.0])
    assert nurses_required(census, 4.0).tolist() == [0, 1, 1, 2, 5]
    with pytest.raises(InvalidParameterError, match="patients_per_nurse"):
        nurses_required(census, 0.0)
