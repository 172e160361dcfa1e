"""Hypothesis invariants of the kernel on the UVA/Padova model.

- splitting an advance at a clock tick changes nothing;
- members are independent: running them together or one by one gives the same paths;
- masses stay non-negative under ordinary meals and insulin;
- announced carbohydrate is all eaten, and what is eaten is in the gut or absorbed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import (
    EAT_RATE_G_PER_MIN,
    STATE_NAMES,
    UvaPadova,
    UvaPadovaState,
)

PATIENT = load_patient("nominal-adult")
MODEL = UvaPadova([PATIENT])
BASAL_U_PER_MIN = PATIENT.basal_u_per_min
I_X = STATE_NAMES.index("insulin_action_pmol_per_l")
MASS_COLUMNS = [i for i in range(len(STATE_NAMES)) if i != I_X]
RNG = np.random.default_rng(0)

FAST = settings(max_examples=15, deadline=None)

meal_times = st.floats(0.0, 180.0, allow_nan=False).map(lambda t: round(t, 3))
meal_grams = st.floats(1.0, 120.0, allow_nan=False)
meals = st.lists(st.tuples(meal_times, meal_grams), min_size=1, max_size=3)


def _state(n: int = 1) -> UvaPadovaState:
    return MODEL.initial_state(n, RNG)


def _plan(meal_list: list[tuple[float, float]], boluses: list[tuple[float, float]]) -> Inputs:
    events: dict[str, Events] = {}
    if meal_list:
        events["meal_g"] = Events([t for t, _ in meal_list], [g for _, g in meal_list])
    if boluses:
        events["bolus_u"] = Events([t for t, _ in boluses], [u for _, u in boluses])
    return Inputs(
        rates={"insulin_u_per_min": Rate.constant(BASAL_U_PER_MIN, start=0.0)}, events=events
    )


def _assert_states_close(a: UvaPadovaState, b: UvaPadovaState, rtol: float = 1e-12) -> None:
    for name, arr in a.arrays().items():
        np.testing.assert_allclose(arr, b.arrays()[name], rtol=rtol, atol=1e-12, err_msg=name)


# -- (1) splitting at a tick ---------------------------------------------------------


@FAST
@given(
    meal_list=meals,
    bolus_u=st.floats(0.0, 6.0),
    split=st.integers(1, 239),
)
def test_splitting_an_advance_at_a_tick_changes_nothing(
    meal_list: list[tuple[float, float]], bolus_u: float, split: int
) -> None:
    plan = _plan(meal_list, [(meal_list[0][0], bolus_u)])
    s0 = _state()
    whole = MODEL.advance(s0, 0.0, 240.0, plan, RNG)
    first = MODEL.advance(s0, 0.0, float(split), plan, RNG)
    split_state = MODEL.advance(first, float(split), 240.0, plan, RNG)
    _assert_states_close(whole, split_state)


@settings(max_examples=10, deadline=None)
@given(meal_list=meals, splits=st.lists(st.integers(1, 179), min_size=2, max_size=6))
def test_many_tick_splits_change_nothing(
    meal_list: list[tuple[float, float]], splits: list[int]
) -> None:
    plan = _plan(meal_list, [])
    s0 = _state()
    whole = MODEL.advance(s0, 0.0, 180.0, plan, RNG)
    cuts = [0.0, *sorted({float(k) for k in splits}), 180.0]
    s = s0
    for a, b in itertools.pairwise(cuts):
        s = MODEL.advance(s, a, b, plan, RNG)
    _assert_states_close(whole, s)


# -- (2) member independence -------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(
    scales=st.lists(st.floats(0.5, 2.0), min_size=2, max_size=4),
    kabs_scales=st.lists(st.floats(0.7, 1.4), min_size=4, max_size=4),
    grams=st.lists(st.just(0.0) | st.floats(0.5, 90.0), min_size=4, max_size=4),
    units=st.lists(st.just(0.0) | st.floats(0.05, 6.0), min_size=4, max_size=4),
    method=st.sampled_from(["rk4", "dopri5"]),
)
def test_members_run_together_equal_members_run_alone(
    scales: list[float],
    kabs_scales: list[float],
    grams: list[float],
    units: list[float],
    method: str,
) -> None:
    n = len(scales)
    model = MODEL if method == "rk4" else MODEL.with_options(method="dopri5", rtol=1e-6)
    base = _state(n)
    theta = np.array(base.theta)
    theta[:, MODEL.parameter_index("Vmx")] *= scales
    theta[:, MODEL.parameter_index("kabs")] *= kabs_scales[:n]
    state = UvaPadovaState(
        base.x,
        theta,
        base.planned_meal_g,
        base.cho_g_per_min,
        base.meal_start_stomach_mg,
        base.meal_eaten_g,
    )
    per_member_meals = np.array(grams[:n])[:, None]
    per_member_boluses = np.array(units[:n])[:, None]
    plan = Inputs(
        rates={"insulin_u_per_min": Rate.constant(BASAL_U_PER_MIN, start=0.0)},
        events={
            "meal_g": Events([20.0], per_member_meals),
            "bolus_u": Events([5.0], per_member_boluses),
        },
    )
    t1 = 150.0 if method == "rk4" else 60.0
    together = model.advance(state, 0.0, t1, plan, RNG)
    for i in range(n):
        alone_plan = Inputs(
            rates=plan.rates,
            events={
                "meal_g": Events([20.0], per_member_meals[i : i + 1]),
                "bolus_u": Events([5.0], per_member_boluses[i : i + 1]),
            },
        )
        alone = model.advance(state.take([i]), 0.0, t1, alone_plan, RNG)
        _assert_states_close(together.take([i]), alone)


def test_member_independence_is_not_trivial() -> None:
    """The perturbation used above really changes the trajectories (given insulin above
    basal: at basal the insulin action X is 0 and Vmx has no effect)."""
    base = _state(2)
    theta = np.array(base.theta)
    theta[1, MODEL.parameter_index("Vmx")] *= 2.0
    state = UvaPadovaState(
        base.x,
        theta,
        base.planned_meal_g,
        base.cho_g_per_min,
        base.meal_start_stomach_mg,
        base.meal_eaten_g,
    )
    at_basal = MODEL.advance(state, 0.0, 120.0, _plan([(10.0, 60.0)], []), RNG)
    g = MODEL.observe(at_basal)[:, 0]
    assert g[1] == pytest.approx(g[0], rel=1e-12)
    bolused = MODEL.advance(state, 0.0, 120.0, _plan([(10.0, 60.0)], [(5.0, 3.0)]), RNG)
    g = MODEL.observe(bolused)[:, 0]
    assert g[1] < g[0] - 5.0


# -- (3) non-negativity ------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    meal_list=st.lists(st.tuples(meal_times, meal_grams), min_size=0, max_size=3),
    boluses=st.lists(st.tuples(meal_times, st.floats(0.0, 8.0)), min_size=0, max_size=2),
    rate_times=st.lists(st.floats(0.0, 300.0), min_size=1, max_size=4, unique=True),
    rate_scales=st.lists(st.floats(0.0, 2.0), min_size=4, max_size=4),
)
def test_masses_stay_non_negative(
    meal_list: list[tuple[float, float]],
    boluses: list[tuple[float, float]],
    rate_times: list[float],
    rate_scales: list[float],
) -> None:
    times = sorted(rate_times)
    events: dict[str, Events] = {}
    if meal_list:
        events["meal_g"] = Events([t for t, _ in meal_list], [g for _, g in meal_list])
    if boluses:
        events["bolus_u"] = Events([t for t, _ in boluses], [u for _, u in boluses])
    rates = np.array(rate_scales[: len(times)]) * BASAL_U_PER_MIN
    plan = Inputs(rates={"insulin_u_per_min": Rate(times, rates)}, events=events)
    s0 = _state()
    final, tick_times, xs = MODEL.run(s0, 0.0, 480.0, plan, record=True)
    assert tick_times.size == 480
    mass = xs[0][:, MASS_COLUMNS]
    assert np.all(np.isfinite(xs))
    assert mass.min() >= -1e-9, STATE_NAMES[MASS_COLUMNS[int(np.argmin(mass.min(axis=0)))]]
    # insulin action X is a deviation from basal: bounded below by -Ib, not by 0
    ib = float(np.asarray(PATIENT.params.Ib)[0])
    assert xs[0][:, I_X].min() >= -ib - 1e-9
    for arr in (final.planned_meal_g, final.cho_g_per_min, final.meal_eaten_g):
        assert np.all(arr >= 0)


def test_glucose_masses_stay_non_negative_after_an_insulin_overdose() -> None:
    plan = Inputs(
        rates={"insulin_u_per_min": Rate.constant(BASAL_U_PER_MIN, start=0.0)},
        events={"bolus_u": Events([0.0], [30.0])},
    )
    _, _, xs = MODEL.run(_state(), 0.0, 600.0, plan, record=True)
    assert xs[0][:, MASS_COLUMNS].min() >= -1e-9


# -- (4) meal mass balance ---------------------------------------------------------


@FAST
@given(meal_time=meal_times, grams=meal_grams)
def test_an_announced_meal_is_eaten_in_full(meal_time: float, grams: float) -> None:
    plan = _plan([(meal_time, grams)], [])
    s0 = _state()
    minutes_to_eat = int(np.ceil(grams / EAT_RATE_G_PER_MIN))
    # while eating: part still planned
    start = float(np.ceil(meal_time))
    mid = MODEL.advance(s0, 0.0, start + 0.5, plan, RNG)
    if minutes_to_eat > 1:
        assert mid.planned_meal_g[0] > 0
        np.testing.assert_allclose(mid.meal_eaten_g[0], EAT_RATE_G_PER_MIN, rtol=1e-12)
        np.testing.assert_allclose(mid.planned_meal_g[0] + mid.meal_eaten_g[0], grams, rtol=1e-12)
    end = MODEL.advance(mid, start + 0.5, start + minutes_to_eat + 2.0, plan, RNG)
    assert end.planned_meal_g[0] == 0.0
    np.testing.assert_allclose(end.meal_eaten_g[0], grams, rtol=1e-12)
    assert end.cho_g_per_min[0] == 0.0
    later = MODEL.advance(end, start + minutes_to_eat + 2.0, 600.0, plan, RNG)
    np.testing.assert_allclose(later.meal_eaten_g[0], grams, rtol=1e-12)


@FAST
@given(meal_list=meals)
def test_eaten_carbohydrate_is_in_the_gut_or_absorbed(meal_list: list[tuple[float, float]]) -> None:
    plan = _plan(meal_list, [])
    s0 = _state()
    t_end = 600.0
    final, t, xs = MODEL.run(s0, 0.0, t_end, plan, record=True)
    x = xs[0]
    kabs = float(np.asarray(PATIENT.params.kabs)[0])
    # d(stomach + gut)/dt = intake - kabs * gut; integrate the outflow (trapezoid, 1 min)
    gut = np.concatenate([[s0.x[0, 2]], x[:, 2]])
    absorbed_mg = kabs * np.sum(0.5 * (gut[1:] + gut[:-1]) * np.diff(np.concatenate([[0.0], t])))
    in_gut_mg = float(x[-1, 0] + x[-1, 1] + x[-1, 2])
    total_g = sum(g for _, g in meal_list)
    assert final.planned_meal_g[0] == 0.0
    np.testing.assert_allclose((in_gut_mg + absorbed_mg) / 1000.0, total_g, rtol=2e-3)
    # by ten hours almost everything has been absorbed
    assert in_gut_mg < 0.05 * total_g * 1000.0


def test_no_meal_no_carbohydrate() -> None:
    final, _, xs = MODEL.run(_state(), 0.0, 300.0, _plan([], []), record=True)
    assert np.all(xs[0][:, :3] == 0.0)
    assert final.meal_eaten_g[0] == 0.0
    assert final.planned_meal_g[0] == 0.0
