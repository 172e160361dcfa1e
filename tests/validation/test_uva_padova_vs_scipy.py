"""UVA/Padova solvers against scipy's LSODA (rtol 1e-10) on the same equations.

The reference integrates :func:`uva_padova_rhs` minute by minute with solve_ivp, with the
meal clock written out here independently of the model's kernel: carbohydrate announced
at a minute is eaten at 5 g/min, ``Dbar`` is the stomach content at meal start plus what
has been eaten since, insulin is held for the minute.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from healthtwin.physiology import (
    Meal,
    UvaPadova,
    load_patient,
    meal_plan_inputs,
    simulate_patients,
    uva_padova_rhs,
)

MEALS = {420: 45.0, 720: 70.0, 1080: 80.0}


def _lsoda_glucose(name: str, basal: float, bolus_cr: bool) -> np.ndarray:
    patient = load_patient(name)
    p = patient.params.to_matrix(1)
    bw = float(p[0, UvaPadova.parameter_index("BW")])
    vg = float(p[0, UvaPadova.parameter_index("Vg")])
    x = patient.x0.copy()
    planned, cho_prev, q_start, eaten = 0.0, 0.0, 0.0, 0.0
    glucose = [x[12] / vg]
    for k in range(1440):
        planned += MEALS.get(k, 0.0)
        to_eat = min(5.0, planned)
        planned -= to_eat
        if to_eat > 0 and cho_prev <= 0:
            q_start, eaten = x[0] + x[1], 0.0
        eaten += to_eat
        cho_prev = to_eat
        insulin = basal
        if bolus_cr and k in MEALS:
            insulin += MEALS[k] / patient.carb_ratio_g_per_u
        u = np.array([[to_eat * 1000.0, insulin * 6000.0 / bw, q_start + 1000.0 * eaten]])
        sol = solve_ivp(
            lambda _t, y, u=u: uva_padova_rhs(y[None, :], u, p)[0],
            (0.0, 1.0),
            x,
            method="LSODA",
            rtol=1e-10,
            atol=1e-10,
        )
        x = sol.y[:, -1]
        glucose.append(x[12] / vg)
    return np.asarray(glucose)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return _lsoda_glucose("nominal-adult", 0.0079, bolus_cr=True)


def _ours(method: str, step_min: float) -> np.ndarray:
    patient = load_patient("nominal-adult")
    run = simulate_patients(
        [patient],
        [Meal(t, g) for t, g in MEALS.items()],
        basal_u_per_min=0.0079,
        bolus_cr=True,
        step_min=step_min,
        method=method,
    )
    return run.glucose_mg_dl[0]


@pytest.mark.parametrize(
    ("method", "step_min", "tolerance"),
    [("rk4", 1.0, 0.05), ("rk4", 0.5, 0.01), ("rk4", 0.125, 1e-4), ("dopri5", 1.0, 1e-5)],
)
def test_nominal_subject_matches_lsoda(
    reference: np.ndarray, method: str, step_min: float, tolerance: float
) -> None:
    ours = _ours(method, step_min)
    assert reference.max() - reference.min() > 30
    assert np.max(np.abs(ours - reference)) <= tolerance


def test_rk4_error_falls_with_the_step(reference: np.ndarray) -> None:
    # The nominal gastric emptying switches sharply (d = 0.010), so the error reaches its
    # fourth-order regime only below about 0.5 min; there halving the step gains >= 8x.
    e_quarter = np.max(np.abs(_ours("rk4", 0.25) - reference))
    e_eighth = np.max(np.abs(_ours("rk4", 0.125) - reference))
    assert e_eighth < e_quarter / 8


def test_a_cohort_patient_matches_lsoda() -> None:
    pytest.importorskip("simglucose")
    name = "child#001"  # among the stiffest of the cohort
    ref = _lsoda_glucose(name, 0.0139, bolus_cr=False)
    run = simulate_patients(
        [load_patient(name)],
        [Meal(t, g) for t, g in MEALS.items()],
        basal_u_per_min=0.0139,
    )
    assert np.max(np.abs(run.glucose_mg_dl[0] - ref)) <= 0.5


def test_large_steps_are_sub_stepped_not_unstable() -> None:
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient], step_min=30.0)
    fine = UvaPadova([patient], step_min=0.25)
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    inputs = meal_plan_inputs([Meal(60, 60)], np.array([0.0079]), None)
    coarse_end = model.advance(state, 0.0, 600.0, inputs, rng)
    fine_end = fine.advance(state, 0.0, 600.0, inputs, rng)
    assert model.stability_limit_min(state.theta) < 30.0
    np.testing.assert_allclose(model.observe(coarse_end), model.observe(fine_end), rtol=1e-3)
