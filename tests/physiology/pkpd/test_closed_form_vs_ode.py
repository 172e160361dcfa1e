"""The exact (matrix-exponential) path against the ODE path and against analytic solutions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.physiology.pkpd import PkPdModel, PkPdParameters

RNG = np.random.default_rng(0)


def _params(n_members: int) -> PkPdParameters:
    rng = np.random.default_rng(7)
    return PkPdParameters(
        v1_l=rng.uniform(3.0, 20.0, n_members),
        k10=rng.uniform(0.05, 0.5, n_members),
        k12=rng.uniform(0.05, 0.4, n_members),
        k21=rng.uniform(0.02, 0.1, n_members),
        k13=rng.uniform(0.01, 0.2, n_members),
        k31=rng.uniform(0.002, 0.01, n_members),
        ka=rng.uniform(0.01, 0.1, n_members),
        bioavailability=rng.uniform(0.3, 1.0, n_members),
        ke0=rng.uniform(0.2, 1.5, n_members),
        e0=97.4,
        emax=-97.4,
        ec50=4.47,
        gamma=1.43,
    )


def _plan(absorption: bool) -> Inputs:
    events = {"bolus_mg": Events([0.0, 100.0], [140.0, 30.0])}
    if absorption:
        events["oral_mg"] = Events([0.0, 150.0], [500.0, 250.0])
    rates = {"infusion_mg_per_min": Rate([5.0, 65.0, 125.0], [10.0, 4.0, 0.0])}
    return Inputs(rates=rates, events=events)


@pytest.mark.parametrize("n_compartments", [1, 2, 3])
@pytest.mark.parametrize("absorption", [False, True])
def test_closed_form_matches_the_ode_path_to_1e_8(n_compartments: int, absorption: bool) -> None:
    exact = PkPdModel(_params(4), n_compartments=n_compartments, absorption=absorption)
    ode = exact.with_options(method="dopri5", rtol=1e-13, atol=1e-13)
    plan = _plan(absorption)
    s_exact, s_ode = exact.initial_state(4, RNG), ode.initial_state(4, RNG)
    peak = np.zeros(exact.layout.size)
    worst = 0.0
    for t0, t1 in [(0.0, 3.0), (3.0, 30.0), (30.0, 120.0), (120.0, 240.0)]:
        s_exact = exact.advance(s_exact, t0, t1, plan, RNG)
        s_ode = ode.advance(s_ode, t0, t1, plan, RNG)
        a, b = exact.state_matrix(s_exact), ode.state_matrix(s_ode)
        peak = np.maximum(peak, np.abs(a).max(axis=0))
        # Relative 1e-8 wherever a value is above round-off of the run's peak (1e-6 of it);
        # a drug washed out to 1e-15 of its peak has no meaningful relative error.
        visible = np.abs(a) > 1e-6 * peak
        worst = max(worst, float(np.max((np.abs(a - b) / np.abs(a))[visible])))
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-14 * float(peak.max()))
    assert worst < 1e-8


def test_rk4_path_is_close_too() -> None:
    exact = PkPdModel(_params(3))
    rk4 = exact.with_options(method="rk4", step_min=0.05)
    plan = _plan(False)
    a = exact.advance(exact.initial_state(3, RNG), 0.0, 240.0, plan, RNG)
    b = rk4.advance(rk4.initial_state(3, RNG), 0.0, 240.0, plan, RNG)
    np.testing.assert_allclose(b.x, a.x, rtol=1e-6)


def test_one_compartment_bolus_is_d_over_v_exp_minus_kt() -> None:
    model = PkPdModel(PkPdParameters(v1_l=12.0, k10=0.1), n_compartments=1)
    state = model.initial_state(1, RNG)
    plan = Inputs(events={"bolus_mg": Events([0.0], [60.0])})
    for t in (1.0, 7.5, 30.0, 240.0):
        later = model.advance(state, 0.0, t, plan, RNG)
        expected = 60.0 / 12.0 * math.exp(-0.1 * t)
        assert model.observe(later)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_effect_site_after_a_bolus_follows_the_two_exponential_solution() -> None:
    k, ke0 = 0.1, 0.5
    model = PkPdModel(PkPdParameters(v1_l=10.0, k10=k, ke0=ke0), n_compartments=1)
    plan = Inputs(events={"bolus_mg": Events([0.0], [50.0])})
    later = model.advance(model.initial_state(1, RNG), 0.0, 4.0, plan, RNG)
    c0 = 5.0
    expected = c0 * ke0 / (ke0 - k) * (math.exp(-k * 4.0) - math.exp(-ke0 * 4.0))
    assert model.observe(later)[0, 1] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n_compartments", [1, 2, 3])
def test_infusion_steady_state_is_rate_over_clearance(n_compartments: int) -> None:
    p = PkPdParameters(v1_l=5.0, k10=0.3, k12=0.2, k21=0.1, k13=0.05, k31=0.02, ke0=0.4)
    model = PkPdModel(p, n_compartments=n_compartments)
    plan = Inputs(rates={"infusion_mg_per_min": Rate.constant(6.0, start=0.0)})
    later = model.advance(model.initial_state(1, RNG), 0.0, 20_000.0, plan, RNG)
    clearance = 0.3 * 5.0
    np.testing.assert_allclose(model.observe(later)[0, :2], 6.0 / clearance, rtol=1e-10)


def test_oral_dose_follows_the_bateman_function() -> None:
    ka, k, f, v = 0.05, 0.1, 0.6, 20.0
    model = PkPdModel(
        PkPdParameters(v1_l=v, k10=k, ka=ka, bioavailability=f), n_compartments=1, absorption=True
    )
    plan = Inputs(events={"oral_mg": Events([0.0], [400.0])})
    later = model.advance(model.initial_state(1, RNG), 0.0, 45.0, plan, RNG)
    expected = f * 400.0 * ka / (v * (ka - k)) * (math.exp(-k * 45.0) - math.exp(-ka * 45.0))
    assert model.observe(later)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_splitting_an_interval_changes_nothing() -> None:
    model = PkPdModel(_params(2), absorption=True)
    plan = _plan(True)
    whole = model.advance(model.initial_state(2, RNG), 0.0, 200.0, plan, RNG)
    state = model.initial_state(2, RNG)
    for t0 in np.arange(0.0, 200.0, 7.0):
        state = model.advance(state, float(t0), float(min(t0 + 7.0, 200.0)), plan, RNG)
    np.testing.assert_allclose(state.x, whole.x, rtol=1e-11)


def test_equal_rate_constants_take_the_expm_path_and_stay_exact() -> None:
    # ka == k10 makes A defective (no eigenvector basis): C = F D k t e^{-kt} / V.
    k, f, v, dose = 0.08, 0.9, 15.0, 300.0
    model = PkPdModel(
        PkPdParameters(v1_l=v, k10=k, ka=k, bioavailability=f), n_compartments=1, absorption=True
    )
    plan = Inputs(events={"oral_mg": Events([0.0], [dose])})
    later = model.advance(model.initial_state(1, RNG), 0.0, 20.0, plan, RNG)
    expected = f * dose * k * 20.0 * math.exp(-k * 20.0) / v
    assert model.observe(later)[0, 0] == pytest.approx(expected, rel=1e-12)
