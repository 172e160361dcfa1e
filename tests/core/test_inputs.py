"""Tests of input schedules: held rates, impulse events and their combination."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.errors import InvalidInputError, ShapeError, TwinError

# -- Rate -----------------------------------------------------------------------------


def test_rate_is_zero_before_its_first_change_time() -> None:
    rate = Rate([10.0, 20.0], [1.5, 3.0])
    np.testing.assert_array_equal(rate.at(np.array([-5.0, 0.0, 9.999])), [[0.0, 0.0, 0.0]])


def test_rate_holds_each_value_until_the_next_change() -> None:
    rate = Rate([10.0, 20.0, 30.0], [1.5, 3.0, 0.5])
    t = np.array([10.0, 15.0, 19.999, 20.0, 29.0, 30.0, 1e6])
    np.testing.assert_array_equal(rate.at(t), [[1.5, 1.5, 1.5, 3.0, 3.0, 0.5, 0.5]])


def test_shared_rate_has_one_row_and_per_member_rate_has_n_rows() -> None:
    shared = Rate([0.0, 5.0], [1.0, 2.0])
    per_member = Rate([0.0, 5.0], [[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    assert shared.values.shape == (1, 2)
    assert shared.n_members == 1
    assert per_member.n_members == 3
    np.testing.assert_array_equal(
        per_member.at(np.array([-1.0, 0.0, 7.0])),
        [[0.0, 1.0, 2.0], [0.0, 10.0, 20.0], [0.0, 100.0, 200.0]],
    )


def test_scalar_rate_value_is_shared_by_every_change_time() -> None:
    rate = Rate([0.0, 1.0, 2.0], 4.0)
    np.testing.assert_array_equal(rate.values, [[4.0, 4.0, 4.0]])


def test_rate_at_returns_a_copy_not_a_view() -> None:
    rate = Rate([0.0], [2.0])
    out = rate.at(np.array([1.0]))
    out[:] = 99.0
    np.testing.assert_array_equal(rate.at(np.array([1.0])), [[2.0]])


def test_constant_rate_holds_per_member_values_from_start() -> None:
    rate = Rate.constant(np.array([0.1, 0.2]), start=5.0)
    np.testing.assert_array_equal(
        rate.at(np.array([4.0, 5.0, 1e9])), [[0.0, 0.1, 0.1], [0.0, 0.2, 0.2]]
    )
    forever = Rate.constant(0.3)
    np.testing.assert_array_equal(forever.at(np.array([-1e12, 0.0])), [[0.3, 0.3]])


@pytest.mark.parametrize("times", [[0.0, 0.0], [0.0, 2.0, 1.0], [5.0, 4.0]])
def test_rate_change_times_must_be_strictly_increasing(times: list[float]) -> None:
    with pytest.raises(InvalidInputError, match="strictly increasing"):
        Rate(times, np.ones(len(times)))


@pytest.mark.parametrize(
    ("times", "values"),
    [
        ([0.0, np.nan], [1.0, 2.0]),
        ([0.0, np.inf], [1.0, 2.0]),
        ([0.0, 1.0], [1.0, np.nan]),
        ([0.0, 1.0], [[1.0, 2.0], [np.inf, 2.0]]),
    ],
)
def test_rate_rejects_non_finite_times_and_values(
    times: list[float], values: list[float] | list[list[float]]
) -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        Rate(times, values)


@pytest.mark.parametrize(
    ("times", "values"),
    [
        ([0.0, 1.0, 2.0], [1.0, 2.0]),  # k mismatch
        ([0.0, 1.0], [[1.0, 2.0, 3.0]]),  # (n, k') with k' != k
        ([0.0, 1.0], np.ones((2, 2, 1))),  # 3-D
        ([[0.0, 1.0]], [1.0, 2.0]),  # 2-D times
    ],
)
def test_rate_rejects_values_of_the_wrong_shape(times: object, values: object) -> None:
    with pytest.raises(ShapeError):
        Rate(times, values)  # type: ignore[arg-type]


def test_input_errors_are_twin_errors_and_value_errors() -> None:
    with pytest.raises(TwinError):
        Rate([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        Rate([0.0, 1.0, 2.0], [1.0, 2.0])


def test_events_do_not_alias_the_caller_arrays() -> None:
    times = np.array([1.0, 2.0])
    amounts = np.array([[1.0, 2.0]])
    ev = Events(times, amounts)
    times[0] = 50.0
    amounts[0, 0] = 50.0
    np.testing.assert_array_equal(ev.within(0.0, 3.0), [3.0])


def test_rate_does_not_alias_the_caller_arrays() -> None:
    times = np.array([0.0, 1.0])
    values = np.array([[1.0, 2.0]])
    rate = Rate(times, values)
    values[0, 0] = 50.0
    times[1] = 0.25
    np.testing.assert_array_equal(rate.at(np.array([0.5])), [[1.0]])


def test_rate_without_change_times_is_zero_everywhere() -> None:
    rate = Rate([], [])
    np.testing.assert_array_equal(rate.at(np.array([0.0, 5.0])), [[0.0, 0.0]])


# -- Events ---------------------------------------------------------------------------


def test_events_are_sorted_by_time_with_their_amounts() -> None:
    ev = Events([30.0, 10.0, 20.0], [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(ev.times, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(ev.amounts, [[1.0, 2.0, 3.0]])


def test_per_member_events_are_sorted_column_wise() -> None:
    ev = Events([30.0, 10.0], [[3.0, 1.0], [30.0, 10.0]])
    assert ev.n_members == 2
    np.testing.assert_array_equal(ev.amounts, [[1.0, 3.0], [10.0, 30.0]])


def test_sorting_is_stable_for_simultaneous_events() -> None:
    ev = Events([5.0, 1.0, 5.0], [7.0, 2.0, 8.0])
    np.testing.assert_array_equal(ev.times, [1.0, 5.0, 5.0])
    np.testing.assert_array_equal(ev.amounts, [[2.0, 7.0, 8.0]])


def test_within_is_half_open() -> None:
    ev = Events([0.0, 10.0, 20.0], [1.0, 10.0, 100.0])
    np.testing.assert_array_equal(ev.within(0.0, 10.0), [1.0])
    np.testing.assert_array_equal(ev.within(10.0, 20.0), [10.0])
    np.testing.assert_array_equal(ev.within(10.0, 20.000001), [110.0])
    np.testing.assert_array_equal(ev.within(-1.0, 0.0), [0.0])
    np.testing.assert_array_equal(ev.within(20.0, 20.0), [0.0])


def test_within_over_adjacent_intervals_counts_every_event_once() -> None:
    ev = Events([0.0, 5.0, 5.0, 9.0], [[1.0, 2.0, 4.0, 8.0], [16.0, 32.0, 64.0, 128.0]])
    cuts = [0.0, 5.0, 9.0, 12.0]
    parts = sum(ev.within(a, b) for a, b in itertools.pairwise(cuts))
    np.testing.assert_array_equal(parts, ev.amounts.sum(axis=1))


def test_events_reject_non_finite_and_misshapen_input() -> None:
    with pytest.raises(InvalidInputError):
        Events([np.nan], [1.0])
    with pytest.raises(InvalidInputError):
        Events([1.0], [np.inf])
    with pytest.raises(ShapeError):
        Events([1.0, 2.0], [1.0, 2.0, 3.0])


# -- Inputs ---------------------------------------------------------------------------


def _plan() -> Inputs:
    return Inputs(
        rates={"insulin_u_per_min": Rate([0.0, 60.0], [0.02, 0.04])},
        events={"meal_g": Events([420.0, 30.0], [45.0, 70.0]), "bolus_u": Events([30.0], [5.0])},
    )


def test_check_rejects_unknown_rate_channel_listing_the_valid_ones() -> None:
    plan = Inputs(rates={"insulin": Rate.constant(0.1)})
    with pytest.raises(InvalidInputError, match="unknown rate channel 'insulin'") as info:
        plan.check(["insulin_u_per_min"], ["meal_g", "bolus_u"], 1)
    assert "['insulin_u_per_min']" in str(info.value)


def test_check_rejects_unknown_event_channel_listing_the_valid_ones() -> None:
    plan = Inputs(events={"snack": Events([1.0], [5.0])})
    with pytest.raises(InvalidInputError, match="unknown event channel 'snack'") as info:
        plan.check(["insulin_u_per_min"], ["meal_g", "bolus_u"], 1)
    assert "['bolus_u', 'meal_g']" in str(info.value)


def test_check_rejects_a_rate_given_as_an_event_channel() -> None:
    plan = Inputs(events={"insulin_u_per_min": Events([1.0], [5.0])})
    with pytest.raises(InvalidInputError, match="insulin_u_per_min"):
        plan.check(["insulin_u_per_min"], ["meal_g"], 1)


@pytest.mark.parametrize("n", [1, 3])
def test_check_accepts_shared_and_matching_member_counts(n: int) -> None:
    plan = Inputs(
        rates={"r": Rate.constant(np.full(n, 0.1))},
        events={"e": Events([1.0], np.ones((n, 1)))},
    )
    plan.check(["r"], ["e"], n)
    _plan().check(["insulin_u_per_min"], ["meal_g", "bolus_u"], n)


def test_check_rejects_a_member_count_mismatch() -> None:
    rate_plan = Inputs(rates={"r": Rate.constant(np.array([0.1, 0.2]))})
    with pytest.raises(ShapeError, match="'r' has values for 2 members but the state has 3"):
        rate_plan.check(["r"], [], 3)
    event_plan = Inputs(events={"e": Events([1.0], np.ones((4, 1)))})
    with pytest.raises(ShapeError, match="'e' has values for 4 members"):
        event_plan.check([], ["e"], 2)


def test_inputs_reject_wrong_channel_types() -> None:
    with pytest.raises(InvalidInputError, match="must be a Rate"):
        Inputs(rates={"r": Events([1.0], [1.0])})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match="must be Events"):
        Inputs(events={"e": Rate([1.0], [1.0])})  # type: ignore[dict-item]


def test_inputs_channels_are_frozen_against_later_mutation() -> None:
    rates = {"r": Rate.constant(1.0)}
    plan = Inputs(rates=rates)
    rates["s"] = Rate.constant(2.0)
    assert plan.channels == {"r"}
    with pytest.raises(TypeError):
        plan.rates["x"] = Rate.constant(3.0)  # type: ignore[index]


def test_breakpoints_are_sorted_unique_changes_within_the_interval_plus_ends() -> None:
    plan = _plan()
    np.testing.assert_array_equal(plan.breakpoints(0.0, 1440.0), [0.0, 30.0, 60.0, 420.0, 1440.0])
    np.testing.assert_array_equal(plan.breakpoints(30.0, 400.0), [30.0, 60.0, 400.0])
    np.testing.assert_array_equal(plan.breakpoints(61.0, 62.0), [61.0, 62.0])
    np.testing.assert_array_equal(Inputs().breakpoints(3.0, 3.0), [3.0])


def test_rate_lookup_broadcasts_shared_rows_and_fills_missing_channels_with_zero() -> None:
    plan = _plan()
    t = np.array([-1.0, 0.0, 60.0])
    np.testing.assert_array_equal(plan.rate("insulin_u_per_min", t, 2), [[0.0, 0.02, 0.04]] * 2)
    np.testing.assert_array_equal(plan.rate("absent", t, 2), np.zeros((2, 3)))


def test_event_totals_over_segments_sum_to_the_total() -> None:
    ev = Events([0.0, 7.0, 7.0, 12.5, 30.0, 99.0], [[1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]])
    plan = Inputs(events={"meal_g": ev})
    bounds = np.array([0.0, 5.0, 7.0, 12.5, 13.0, 40.0, 99.0])
    totals = plan.event_totals("meal_g", bounds[:-1], bounds[1:], 2)
    np.testing.assert_array_equal(totals, [[1, 0, 5, 4, 5, 0], [10, 0, 50, 40, 50, 0]])
    # every event in [0, 99) counted once; the one at 99 belongs to the next interval
    np.testing.assert_array_equal(totals.sum(axis=1), ev.within(0.0, 99.0))
    np.testing.assert_array_equal(totals.sum(axis=1), [15.0, 150.0])


def test_event_totals_agree_with_within_on_random_segments() -> None:
    rng = np.random.default_rng(4)
    ev = Events(rng.uniform(0, 100, 40).round(1), rng.uniform(0, 10, (3, 40)))
    plan = Inputs(events={"e": ev})
    bounds = np.unique(np.concatenate([[0.0, 100.0], rng.uniform(0, 100, 15).round(1)]))
    totals = plan.event_totals("e", bounds[:-1], bounds[1:], 3)
    expected = np.stack([ev.within(a, b) for a, b in itertools.pairwise(bounds)], 1)
    np.testing.assert_allclose(totals, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(totals.sum(axis=1), ev.amounts.sum(axis=1), rtol=1e-12)


def test_event_totals_of_a_missing_channel_are_zero() -> None:
    starts, ends = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    np.testing.assert_array_equal(
        Inputs().event_totals("meal_g", starts, ends, 3), np.zeros((3, 2))
    )


def test_merged_takes_the_other_definition_for_shared_channels() -> None:
    base = Inputs(
        rates={"insulin_u_per_min": Rate.constant(0.02), "other": Rate.constant(1.0)},
        events={"meal_g": Events([10.0], [50.0])},
    )
    plan = Inputs(
        rates={"insulin_u_per_min": Rate.constant(0.5)},
        events={"bolus_u": Events([0.0], [3.0])},
    )
    merged = base.merged(plan)
    assert merged.channels == {"insulin_u_per_min", "other", "meal_g", "bolus_u"}
    assert merged.rates["insulin_u_per_min"] is plan.rates["insulin_u_per_min"]
    assert merged.rates["other"] is base.rates["other"]
    assert merged.events["meal_g"] is base.events["meal_g"]
    # the reverse order gives the base definition precedence
    assert plan.merged(base).rates["insulin_u_per_min"] is base.rates["insulin_u_per_min"]
    # merging leaves both operands unchanged
    assert base.channels == {"insulin_u_per_min", "other", "meal_g"}
    assert plan.channels == {"insulin_u_per_min", "bolus_u"}
