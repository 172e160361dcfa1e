"""Tests of the Hovorka 2004 model: steady state, published structure, members, errors."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.protocols import Model
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.physiology.hovorka import (
    GLUCOSE_MG_PER_MMOL,
    HOVORKA_2004_TABLE1,
    MG_DL_PER_MMOL_L,
    Hovorka,
    HovorkaState,
    basal_glucose_for_insulin,
    basal_insulin_for_glucose,
    hovorka_nominal_parameters,
    hovorka_rhs,
    jacobian_spectral_radius,
    steady_state,
)

NOMINAL = hovorka_nominal_parameters()
RNG = np.random.default_rng(7)
I_COL = 4  # plasma insulin column
D2_COL = 9


def run(model: Hovorka, plan: Inputs, t1: float, n: int = 1) -> HovorkaState:
    rng = np.random.default_rng(0)
    state = model.initial_state(n, rng)
    return model.advance(state, 0.0, t1, model.basal_inputs(state).merged(plan), rng)


def test_table1_values_are_the_papers() -> None:
    assert dict(HOVORKA_2004_TABLE1) == {
        "EGP0": 0.0161, "F01": 0.0097, "k12": 0.066, "ka1": 0.006, "ka2": 0.06,
        "ka3": 0.03, "SIT": 51.2e-4, "SID": 8.2e-4, "SIE": 520e-4, "VG": 0.16,
        "VI": 0.12, "ke": 0.138, "tmax_i": 55.0, "AG": 0.8, "tmax_g": 40.0,
    }  # fmt: skip
    assert pytest.approx(18.016) == MG_DL_PER_MMOL_L


def test_model_follows_the_protocol() -> None:
    assert isinstance(Hovorka(), Model)
    assert list(Hovorka.outputs) == ["glucose_mg_dl", "glucose_mmol_l", "plasma_insulin_mu_l"]


@pytest.mark.parametrize("g", [3.0, 4.5, 6.0, 9.0, 12.0])
def test_steady_state_is_a_fixed_point(g: float) -> None:
    x = steady_state(NOMINAL, g)
    u = basal_insulin_for_glucose(NOMINAL, g)[:, None] * 1000.0
    dx = hovorka_rhs(x, u, NOMINAL.to_matrix())
    assert np.max(np.abs(dx)) < 1e-12
    assert x[0, 0] / (0.16 * 70.0) == pytest.approx(g, rel=1e-14)


@pytest.mark.parametrize("g", [3.0, 4.5, 6.0, 9.0, 12.0, 15.0])
def test_basal_glucose_inverts_basal_insulin(g: float) -> None:
    rate = basal_insulin_for_glucose(NOMINAL, g)
    np.testing.assert_allclose(basal_glucose_for_insulin(NOMINAL, rate), [g], rtol=1e-12)


def test_more_insulin_holds_lower_glucose() -> None:
    rates = basal_insulin_for_glucose(NOMINAL, np.array([3.0, 5.0, 7.0, 10.0, 14.0]))
    assert np.all(np.diff(rates) < 0)
    assert np.all(rates > 0)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_basal_state_holds_for_a_day(method: str) -> None:
    model = Hovorka(method=method)
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    plan = model.basal_inputs(state)
    g0 = model.observe(state)[0, 1]
    for t in range(0, 1440, 60):
        state = model.advance(state, float(t), float(t + 60), plan, rng)
        assert abs(model.observe(state)[0, 1] / g0 - 1.0) < 1e-6


def test_plasma_insulin_settles_at_rate_over_ke_vi_bw() -> None:
    # Hovorka 2004 eqs. 8-10: at steady state I = u / (ke VI BW).
    rate_u_per_min = 0.02
    model = Hovorka(method="dopri5", rtol=1e-10, atol=1e-12)
    plan = Inputs(rates={"insulin_u_per_min": Rate.constant(rate_u_per_min, start=0.0)})
    rng = np.random.default_rng(0)
    state = model.advance(model.initial_state(1, rng), 0.0, 1440.0, plan, rng)
    expected = rate_u_per_min * 1000.0 / (0.138 * 0.12 * 70.0)
    assert model.observe(state)[0, 2] == pytest.approx(expected, rel=1e-8)


def test_gut_chain_gives_the_papers_closed_form_absorption() -> None:
    # Hovorka 2004 eq. 12: UG(t) = DG AG t exp(-t/tmaxG) / tmaxG^2, meals superposed.
    model = Hovorka(method="dopri5", rtol=1e-11, atol=1e-12)
    meals = Events([0.0, 90.0], [60.0, 30.0])
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    plan = model.basal_inputs(state).merged(Inputs(events={"meal_g": meals}))
    tau, ag = 40.0, 0.8
    t_prev = 0.0
    for t in [10.0, 40.0, 90.0, 120.0, 200.0, 400.0]:
        state = model.advance(state, t_prev, t, plan, rng)
        t_prev = t
        expected = 0.0
        for t_meal, grams in zip(meals.times, meals.amounts[0], strict=True):
            age = t - t_meal
            if age > 0:
                dg = grams * 1000.0 / GLUCOSE_MG_PER_MMOL
                expected += dg * ag * age * np.exp(-age / tau) / tau**2
        assert state.x[0, D2_COL] / tau == pytest.approx(expected, rel=1e-8)


def test_uptake_and_renal_terms_follow_the_paper() -> None:
    p = NOMINAL.to_matrix()
    vg = 0.16 * 70.0

    def dq1(g: float) -> float:
        x = np.zeros((1, 10))
        x[0, 0] = g * vg
        return float(hovorka_rhs(x, np.zeros((1, 1)), p)[0, 0])

    egp = 0.0161 * 70.0
    assert dq1(3.0) == pytest.approx(egp - 0.0097 * 70.0 * 3.0 / 4.5)
    assert dq1(6.0) == pytest.approx(egp - 0.0097 * 70.0)
    assert dq1(12.0) == pytest.approx(egp - 0.0097 * 70.0 - 0.003 * (12.0 - 9.0) * vg)


def test_observe_converts_with_18_016() -> None:
    state = run(Hovorka(), Inputs(events={"meal_g": Events([0.0], [40.0])}), 60.0)
    y = Hovorka().observe(state)
    assert y[0, 0] == pytest.approx(y[0, 1] * 18.016)


def test_meal_raises_and_bolus_lowers_glucose() -> None:
    meal = Inputs(events={"meal_g": Events([0.0], [50.0])})
    both = meal.merged(Inputs(events={"bolus_u": Events([0.0], [2.0])}))
    g_meal = Hovorka().observe(run(Hovorka(), meal, 120.0))[0, 0]
    g_both = Hovorka().observe(run(Hovorka(), both, 120.0))[0, 0]
    assert g_meal > g_both > 6.0 * 18.016


def random_states(n: int) -> tuple[FloatArray, FloatArray]:
    theta = NOMINAL.to_matrix(n)
    x = steady_state(NOMINAL).repeat(n, axis=0)
    x[:, 0] *= RNG.uniform(0.6, 1.5, n)  # G between 3.6 and 9 mmol/L, away from kinks
    x[:, 0] = np.where(np.abs(x[:, 0] / 11.2 - 4.5) < 0.1, 4.0 * 11.2, x[:, 0])
    x[:, 1:8] *= RNG.uniform(0.2, 6.0, (n, 7))
    x[:, 8:] = RNG.uniform(0.0, 300.0, (n, 2))
    return x, theta


def test_analytic_spectral_radius_matches_numerical_jacobian() -> None:
    x, theta = random_states(20)
    u = np.full((20, 1), 10.0)
    eps = 1e-6 * np.maximum(np.abs(x), 1e-3)
    f0 = hovorka_rhs(x, u, theta)
    jac = np.empty((20, 10, 10))
    for i in range(10):
        xp = x.copy()
        xp[:, i] += eps[:, i]
        jac[:, :, i] = (hovorka_rhs(xp, u, theta) - f0) / eps[:, i : i + 1]
    numeric = np.max(np.abs(np.linalg.eigvals(jac)), axis=1)
    np.testing.assert_allclose(jacobian_spectral_radius(x, theta), numeric, rtol=1e-5)


def test_stability_limit_grows_stiffer_with_insulin_action() -> None:
    model = Hovorka()
    theta = NOMINAL.to_matrix()
    basal = steady_state(NOMINAL)
    loaded = basal.copy()
    loaded[:, 5] *= 8.0
    assert model.stability_limit(theta, loaded) < model.stability_limit(theta)
    assert model.stability_limit(theta) == pytest.approx(0.5 * 2.785 / 0.138)


def test_coarse_steps_are_sub_stepped_and_stay_close() -> None:
    plan = Inputs(events={"meal_g": Events([60.0], [60.0]), "bolus_u": Events([60.0], [4.0])})
    fine = Hovorka().observe(run(Hovorka(), plan, 600.0))
    coarse = Hovorka().observe(run(Hovorka(step_min=60.0), plan, 600.0))
    assert np.all(np.isfinite(coarse))
    np.testing.assert_allclose(coarse, fine, rtol=0.01)


def test_copies_of_one_member_match_a_single_member_exactly() -> None:
    plan = Inputs(events={"meal_g": Events([30.0], [45.0]), "bolus_u": Events([30.0], [2.0])})
    one = run(Hovorka(), plan, 300.0, n=1)
    many = run(Hovorka(), plan, 300.0, n=4)
    np.testing.assert_array_equal(many.x, np.repeat(one.x, 4, axis=0))


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_members_with_own_parameters_match_their_single_runs(method: str) -> None:
    params = NOMINAL.replace(SIT=[40e-4, 51.2e-4, 70e-4], BW=[60.0, 70.0, 90.0])
    plan = Inputs(events={"meal_g": Events([30.0], [45.0]), "bolus_u": Events([30.0], [2.0])})
    together = run(Hovorka(params, method=method), plan, 300.0, n=3)
    for i in range(3):
        alone = run(Hovorka(params.member(i), method=method), plan, 300.0, n=1)
        np.testing.assert_allclose(together.x[i], alone.x[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"SIT": -1e-4}, "SIT must be >= 0"),
        ({"ke": 0.0}, "ke must be > 0"),
        ({"AG": 1.2}, r"AG must be in \[0, 1\]"),
        ({"tmax_i": float("nan")}, "tmax_i must be finite"),
        ({"Gb": 30.0}, "cannot be held by any basal insulin"),
    ],
)
def test_bad_parameters_are_refused(change: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        NOMINAL.replace(**change)


def test_unreachable_target_glucose_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="cannot be held by any insulin rate"):
        basal_insulin_for_glucose(NOMINAL, 25.0)
    with pytest.raises(InvalidParameterError, match="must be finite and > 0"):
        basal_insulin_for_glucose(NOMINAL, -1.0)
    with pytest.raises(InvalidParameterError, match=">= 0 U/min"):
        basal_glucose_for_insulin(NOMINAL, -0.01)


def test_bad_options_and_inputs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="step_min"):
        Hovorka(step_min=0.0)
    with pytest.raises(InvalidParameterError, match="method"):
        Hovorka(method="euler")
    with pytest.raises(InvalidInputError, match="meal_g must be >= 0"):
        run(Hovorka(), Inputs(events={"meal_g": Events([0.0], [-5.0])}), 10.0)
    with pytest.raises(InvalidInputError, match="unknown event channel"):
        run(Hovorka(), Inputs(events={"snack_g": Events([0.0], [5.0])}), 10.0)
    with pytest.raises(ShapeError):
        Hovorka(NOMINAL.replace(BW=[60.0, 70.0])).initial_state(3, RNG)
