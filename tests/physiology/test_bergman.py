"""Tests of the Bergman minimal model (Fisher 1991 form): analytic solutions, members, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.protocols import Model
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.bergman import (
    FISHER_1991,
    BergmanMinimal,
    BergmanState,
    bergman_nominal_parameters,
    bergman_rhs,
    jacobian_spectral_radius,
    meal_g_for_fisher_amplitude,
)

NOMINAL = bergman_nominal_parameters()
P1, P2, P3 = 0.028735, 0.028344, 5.035e-5
N_INS, V1, GB, IB = 5.0 / 54.0, 12.0, 81.0, 15.0


def run(model: BergmanMinimal, plan: Inputs, t1: float, n: int = 1) -> BergmanState:
    rng = np.random.default_rng(0)
    state = model.initial_state(n, rng)
    return model.advance(state, 0.0, t1, model.basal_inputs(state).merged(plan), rng)


def test_fisher_values() -> None:
    expected = {"p1": P1, "p2": P2, "p3": P3, "n": N_INS, "V1": V1, "Gb": GB, "Ib": IB}
    assert {k: FISHER_1991[k] for k in expected} == expected
    assert isinstance(BergmanMinimal(), Model)


def test_basal_rate_is_n_ib_v1() -> None:
    assert NOMINAL.basal_insulin_u_per_min()[0] == pytest.approx(N_INS * IB * V1 / 1000.0)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_basal_state_holds_for_a_day(method: str) -> None:
    model = BergmanMinimal(method=method)
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    plan = model.basal_inputs(state)
    for t in range(0, 1440, 60):
        state = model.advance(state, float(t), float(t + 60), plan, rng)
        assert abs(state.x[0, 0] / GB - 1.0) < 1e-6
        assert abs(state.x[0, 2] / IB - 1.0) < 1e-6


def insulin_and_action(t: FloatArray, u_mu_per_min: float) -> tuple[FloatArray, FloatArray]:
    """Closed form of dI/dt = -n I + U/V1, dX/dt = -p2 X + p3 (I - Ib) from I = Ib, X = 0."""
    i_ss = u_mu_per_min / (N_INS * V1)
    a = IB - i_ss
    ins = i_ss + a * np.exp(-N_INS * t)
    act = P3 * (i_ss - IB) / P2 * (1.0 - np.exp(-P2 * t)) + P3 * a / (P2 - N_INS) * (
        np.exp(-N_INS * t) - np.exp(-P2 * t)
    )
    return ins, act


@pytest.mark.parametrize(("method", "rtol"), [("rk4", 1e-5), ("dopri5", 1e-7)])
def test_insulin_and_action_match_the_analytic_solution(method: str, rtol: float) -> None:
    u_mu = 40.0  # 2.4x basal
    model = BergmanMinimal(method=method, rtol=1e-10, atol=1e-14)
    plan = Inputs(rates={"insulin_u_per_min": Rate.constant(u_mu / 1000.0, start=0.0)})
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    times = np.array([5.0, 30.0, 90.0, 240.0, 600.0])
    ins, act = insulin_and_action(times, u_mu)
    t_prev = 0.0
    for t, i_exp, x_exp in zip(times, ins, act, strict=True):
        state = model.advance(state, t_prev, float(t), plan, rng)
        t_prev = float(t)
        assert state.x[0, 2] == pytest.approx(i_exp, rel=rtol)
        assert state.x[0, 1] == pytest.approx(x_exp, rel=rtol)


def test_constant_direct_appearance_settles_at_gb_plus_r_over_p1() -> None:
    plan = Inputs(rates={"glucose_appearance_mg_dl_per_min": Rate.constant(0.6, start=0.0)})
    state = run(BergmanMinimal(), plan, 1440.0)
    assert state.x[0, 0] == pytest.approx(GB + 0.6 / P1, rel=1e-9)


def test_meal_impulse_reproduces_fishers_exponential_disturbance() -> None:
    # Fisher 1991: P(t) = B exp(-0.05 t); Seborg et al.'s example has B = 9 mg/dL/min.
    grams = float(meal_g_for_fisher_amplitude(NOMINAL, 9.0)[0])
    model = BergmanMinimal(method="dopri5", rtol=1e-10, atol=1e-12)
    plan = Inputs(events={"meal_g": Events([0.0], [grams])})
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    plan = model.basal_inputs(state).merged(plan)

    def fisher(t: float, y: FloatArray) -> FloatArray:
        g, act = y
        return np.array([-P1 * (g - GB) - act * g + 9.0 * np.exp(-0.05 * t), -P2 * act])

    times = [10.0, 30.0, 60.0, 120.0, 240.0]
    ref = solve_ivp(fisher, (0.0, 240.0), [GB, 0.0], method="LSODA", rtol=1e-11,
                    atol=1e-12, t_eval=times)  # fmt: skip
    t_prev = 0.0
    for k, t in enumerate(times):
        state = model.advance(state, t_prev, t, plan, rng)
        t_prev = t
        assert state.x[0, 0] == pytest.approx(ref.y[0, k], rel=1e-7)


def test_intravenous_bolus_raises_plasma_insulin_at_once() -> None:
    plan = Inputs(events={"bolus_u": Events([0.0], [0.6])})
    state = run(BergmanMinimal(method="dopri5", rtol=1e-10, atol=1e-12), plan, 10.0)
    ins, _ = insulin_and_action(np.array([10.0]), N_INS * IB * V1)
    expected = ins[0] + 600.0 / V1 * np.exp(-N_INS * 10.0)
    assert state.x[0, 2] == pytest.approx(expected, rel=1e-9)


def test_spectral_radius_matches_numerical_jacobian() -> None:
    rng = np.random.default_rng(3)
    theta = NOMINAL.to_matrix(10)
    x = np.column_stack([rng.uniform(40, 300, 10), rng.uniform(-0.05, 0.2, 10),
                         rng.uniform(0, 200, 10), rng.uniform(0, 5e4, 10)])  # fmt: skip
    u = np.tile([20.0, 0.3], (10, 1))
    eps = 1e-6 * np.maximum(np.abs(x), 1e-3)
    f0 = bergman_rhs(x, u, theta)
    jac = np.empty((10, 4, 4))
    for i in range(4):
        xp = x.copy()
        xp[:, i] += eps[:, i]
        jac[:, :, i] = (bergman_rhs(xp, u, theta) - f0) / eps[:, i : i + 1]
    numeric = np.max(np.abs(np.linalg.eigvals(jac)), axis=1)
    np.testing.assert_allclose(jacobian_spectral_radius(x, theta), numeric, rtol=1e-6)


def test_coarse_steps_are_sub_stepped_and_stay_finite() -> None:
    model = BergmanMinimal(step_min=60.0)
    assert model.stability_limit(NOMINAL.to_matrix()) < 60.0
    plan = Inputs(events={"meal_g": Events([60.0], [50.0]), "bolus_u": Events([60.0], [1.0])})
    coarse = run(model, plan, 600.0)
    fine = run(BergmanMinimal(), plan, 600.0)
    assert np.all(np.isfinite(coarse.x))
    np.testing.assert_allclose(coarse.x[:, [0, 2]], fine.x[:, [0, 2]], rtol=0.01)


def test_copies_of_one_member_match_a_single_member_exactly() -> None:
    plan = Inputs(events={"meal_g": Events([30.0], [45.0]), "bolus_u": Events([30.0], [0.5])})
    one = run(BergmanMinimal(), plan, 300.0, n=1)
    many = run(BergmanMinimal(), plan, 300.0, n=5)
    np.testing.assert_array_equal(many.x, np.repeat(one.x, 5, axis=0))


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_members_with_own_parameters_match_their_single_runs(method: str) -> None:
    params = NOMINAL.replace(p3=[3e-5, 5.035e-5, 8e-5], Gb=[81.0, 100.0, 120.0])
    plan = Inputs(events={"meal_g": Events([30.0], [45.0]), "bolus_u": Events([30.0], [0.5])})
    together = run(BergmanMinimal(params, method=method), plan, 300.0, n=3)
    for i in range(3):
        alone = run(BergmanMinimal(params.member(i), method=method), plan, 300.0, n=1)
        np.testing.assert_allclose(together.x[i], alone.x[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"p2": 0.0}, "p2 must be > 0"),
        ({"p3": -1e-5}, "p3 must be >= 0"),
        ({"f": 1.5}, r"f must be in \[0, 1\]"),
        ({"V1": float("inf")}, "V1 must be finite"),
    ],
)
def test_bad_parameters_are_refused(change: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        NOMINAL.replace(**change)


def test_bad_options_and_inputs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="step_min"):
        BergmanMinimal(step_min=-1.0)
    with pytest.raises(InvalidParameterError, match="method"):
        BergmanMinimal(method="lsoda")
    with pytest.raises(InvalidInputError, match="bolus_u must be >= 0"):
        run(BergmanMinimal(), Inputs(events={"bolus_u": Events([0.0], [-1.0])}), 10.0)
