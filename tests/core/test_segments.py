"""Tests of segment boundaries: every input change and clock tick, never a vanishing piece."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.segments import segment_bounds, ticks_at
from healthtwin.errors import InvalidInputError


def _plan() -> Inputs:
    return Inputs(
        rates={"insulin_u_per_min": Rate([-10.0, 2.25, 7.5], [0.1, 0.2, 0.3])},
        events={"meal_g": Events([3.5, 50.0], [20.0, 30.0])},
    )


def test_bounds_start_at_t0_end_at_t1_and_hold_every_change_and_tick() -> None:
    bounds = segment_bounds(0.5, 6.0, _plan(), tick=1.0)
    np.testing.assert_array_equal(bounds, [0.5, 1.0, 2.0, 2.25, 3.0, 3.5, 4.0, 5.0, 6.0])


def test_bounds_without_a_clock_hold_only_changes_and_ends() -> None:
    np.testing.assert_array_equal(
        segment_bounds(0.5, 60.0, _plan()), [0.5, 2.25, 3.5, 7.5, 50.0, 60.0]
    )


def test_ticks_are_multiples_of_the_period_from_zero() -> None:
    bounds = segment_bounds(-1.0, 1.0, Inputs(), tick=0.5)
    np.testing.assert_array_equal(bounds, [-1.0, -0.5, 0.0, 0.5, 1.0])
    bounds = segment_bounds(0.2, 1.3, Inputs(), tick=0.25)
    np.testing.assert_allclose(bounds, [0.2, 0.25, 0.5, 0.75, 1.0, 1.25, 1.3], rtol=0, atol=1e-15)


def test_changes_outside_the_interval_are_ignored() -> None:
    plan = Inputs(events={"meal_g": Events([-5.0, 100.0], [1.0, 1.0])})
    np.testing.assert_array_equal(segment_bounds(0.0, 10.0, plan), [0.0, 10.0])


def test_bounds_are_strictly_increasing_with_no_vanishing_segments() -> None:
    rng = np.random.default_rng(11)
    times = np.concatenate([rng.uniform(0, 20, 30), [5.0 + 1e-13, 7.0 - 1e-13, 20.0 - 1e-12]])
    plan = Inputs(events={"meal_g": Events(times, np.ones(times.size))})
    bounds = segment_bounds(0.0, 20.0, plan, tick=1.0)
    assert bounds[0] == 0.0
    assert bounds[-1] == 20.0
    assert np.all(np.diff(bounds) > 1e-9)
    # every tick and every event in the interval is a boundary, up to the merge tolerance
    wanted = np.concatenate([np.arange(21.0), times])
    assert np.all(np.min(np.abs(wanted[:, None] - bounds[None, :]), axis=1) <= 1e-9)


def test_near_duplicate_boundaries_are_merged_and_the_end_is_exact() -> None:
    t1 = 10.0 + 1e-14
    plan = Inputs(events={"meal_g": Events([3.0 + 1e-12, 10.0], [1.0, 1.0])})
    bounds = segment_bounds(0.0, t1, plan, tick=1.0)
    assert bounds[-1] == t1
    assert bounds.size == 11
    assert np.all(np.diff(bounds) > 0.5)


def test_every_segment_has_constant_inputs() -> None:
    plan = _plan()
    bounds = segment_bounds(0.0, 60.0, plan, tick=1.0)
    starts, ends = bounds[:-1], bounds[1:]
    for a, b in zip(starts, ends, strict=True):
        probe = np.linspace(a, b, 7)[:-1]
        held = plan.rate("insulin_u_per_min", probe, 1)
        assert np.all(held == held[:, :1])
        # an event never falls strictly inside a segment
        assert not np.any((plan.events["meal_g"].times > a) & (plan.events["meal_g"].times < b))


def test_zero_length_interval_gives_a_single_point() -> None:
    np.testing.assert_array_equal(segment_bounds(4.0, 4.0, _plan(), tick=1.0), [4.0])


@pytest.mark.parametrize(("t0", "t1"), [(5.0, 4.0), (np.nan, 1.0), (0.0, np.inf)])
def test_bad_intervals_are_rejected(t0: float, t1: float) -> None:
    with pytest.raises(InvalidInputError, match="t0 <= t1"):
        segment_bounds(t0, t1, Inputs())


def test_a_very_short_interval_keeps_both_ends() -> None:
    plan = Inputs(events={"bolus_u": Events([0.0], [5.0])})
    bounds = segment_bounds(0.0, 1e-12, plan, tick=1.0)
    assert bounds[0] == 0.0
    assert bounds[-1] == 1e-12


def test_ticks_at_marks_multiples_of_the_period() -> None:
    times = np.array([0.0, 0.5, 1.0, 1.0 + 1e-13, 2.999999, 3.0, -2.0])
    np.testing.assert_array_equal(
        ticks_at(times, 1.0), [True, False, True, True, False, True, True]
    )
