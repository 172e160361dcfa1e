"""UVA/Padova model: steady state, meal clock, insulin routes, patients and backends."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.core import Events, Inputs, Rate
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.physiology import (
    Meal,
    UvaPadova,
    UvaPadovaParameters,
    cohort_names,
    load_patient,
    load_patients,
    meal_plan_inputs,
    patient_names,
    simulate_patients,
    steady_state,
)


def test_every_patient_holds_its_basal_glucose_for_24_h() -> None:
    require("simglucose", "simglucose")
    patients = load_patients(list(patient_names()))
    run = simulate_patients(patients, [], hours=24.0)
    basal = np.array([p.basal_glucose_mg_dl for p in patients])
    drift = np.max(np.abs(run.glucose_mg_dl - basal[:, None]), axis=1)
    assert len(patients) == 31
    assert np.all(drift <= 0.1), dict(zip(run.names, drift.round(4), strict=True))


def test_nominal_subject_is_at_its_steady_state() -> None:
    patient = load_patient("nominal-adult")
    np.testing.assert_allclose(steady_state(patient.params)[0], patient.x0)
    model = UvaPadova([patient])
    state = model.initial_state(1, np.random.default_rng(0))
    dx = model.advance(state, 0.0, 1.0, model.basal_inputs(state), np.random.default_rng(0))
    np.testing.assert_allclose(dx.x, state.x, rtol=1e-12, atol=1e-12)


def test_announced_meal_is_eaten_at_5_g_per_min() -> None:
    run = simulate_patients([load_patient("nominal-adult")], [Meal(10, 23)], hours=1)
    eaten = run.cho_g_per_min[0]
    np.testing.assert_array_equal(eaten[10:16], [5, 5, 5, 5, 3, 0])
    assert eaten.sum() == pytest.approx(23.0)
    # The stomach receives exactly the carbohydrate eaten (mg), minus what has emptied.
    assert run.states[0, 15, 0] + run.states[0, 15, 1] + run.states[0, 15, 2] <= 23_000


def test_gastric_reference_is_frozen_at_meal_start_plus_intake() -> None:
    model = UvaPadova([load_patient("nominal-adult")])
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    plan = Inputs(events={"meal_g": Events([0.0, 60.0], [10.0, 10.0])})
    mid = model.advance(state, 0.0, 61.0, plan, rng)
    stomach_at_second_meal = model.advance(state, 0.0, 60.0, plan, rng).x[0, :2].sum()
    assert mid.meal_start_stomach_mg[0] == pytest.approx(stomach_at_second_meal)
    assert mid.gastric_reference_mg()[0] == pytest.approx(stomach_at_second_meal + 5000.0)


def test_bolus_impulse_and_one_minute_rate_agree() -> None:
    model = UvaPadova([load_patient("nominal-adult")])
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    impulse = Inputs(events={"bolus_u": Events([10.0], [4.0])})
    as_rate = Inputs(rates={"insulin_u_per_min": Rate([10.0, 11.0], [4.0, 0.0])})
    a = model.observe(model.advance(state, 0.0, 300.0, impulse, rng))
    b = model.observe(model.advance(state, 0.0, 300.0, as_rate, rng))
    assert a[0, 0] < model.observe(state)[0, 0] - 5  # the bolus lowers glucose
    np.testing.assert_allclose(a, b, rtol=1e-2)


def test_cohort_loads_from_simglucose_with_therapy_settings() -> None:
    require("simglucose", "simglucose")
    patients = load_patients("all")
    assert [p.name for p in patients] == list(cohort_names())
    adolescent = patients[0]
    assert adolescent.carb_ratio_g_per_u == 12.0
    assert adolescent.basal_u_per_min == pytest.approx(1.21697571391 * 68.706 / 6000)
    assert adolescent.basal_glucose_mg_dl == pytest.approx(149.02, abs=1e-6)


def test_unknown_patient_lists_valid_names() -> None:
    with pytest.raises(UnknownModelError, match=r"adolescent#001.*'all'"):
        load_patient("adolescent#011")


def test_invalid_parameters_are_rejected_with_the_field_name() -> None:
    params = load_patient("nominal-adult").params
    with pytest.raises(InvalidParameterError, match="kabs"):
        params.replace(kabs=-0.1)
    with pytest.raises(InvalidParameterError, match=r"UvaPadovaParameters\.b"):
        params.replace(b=1.5)
    with pytest.raises(ShapeError):
        params.replace(kabs=[0.05, 0.06], kmax=[0.1, 0.2, 0.3])


def test_negative_inputs_are_rejected() -> None:
    model = UvaPadova([load_patient("nominal-adult")])
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    with pytest.raises(InvalidInputError, match=">= 0"):
        model.advance(state, 0.0, 10.0, Inputs(events={"meal_g": Events([1.0], [-5.0])}), rng)
    with pytest.raises(InvalidInputError):
        meal_plan_inputs([Meal(0, 10)], np.array([-0.01]), None)
    with pytest.raises(InvalidInputError, match="grams"):
        Meal(0, -1)


def test_model_options_are_validated() -> None:
    patient = load_patient("nominal-adult")
    with pytest.raises(InvalidParameterError, match="step_min"):
        UvaPadova([patient], step_min=0)
    with pytest.raises(InvalidParameterError, match="method"):
        UvaPadova([patient], method="euler")
    with pytest.raises(InvalidParameterError, match="backend"):
        UvaPadova([patient], backend="cuda")
    with pytest.raises(ShapeError, match="patients"):
        UvaPadova([patient, patient]).initial_state(3, np.random.default_rng(0))


def test_per_member_parameters_change_the_response() -> None:
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    rng = np.random.default_rng(0)
    state = model.initial_state(2, rng)
    theta = state.theta.copy()
    theta[1, UvaPadova.parameter_index("kabs")] *= 0.5  # slower intestinal absorption
    state = type(state)(
        state.x,
        theta,
        state.planned_meal_g,
        state.cho_g_per_min,
        state.meal_start_stomach_mg,
        state.meal_eaten_g,
    )
    plan = model.basal_inputs(state).merged(Inputs(events={"meal_g": Events([0.0], [60.0])}))
    peak = model.observe(model.advance(state, 0.0, 90.0, plan, rng))[:, 0]
    assert peak[1] < peak[0]


def test_numba_backend_matches_numpy() -> None:
    require("numba", "fast")
    patients = [load_patient("nominal-adult")]
    meals = [Meal(60, 50), Meal(300, 70)]
    a = simulate_patients(patients * 3, meals, hours=8, bolus_cr=True)
    b = simulate_patients(patients * 3, meals, hours=8, bolus_cr=True, backend="numba")
    np.testing.assert_allclose(a.states, b.states, rtol=1e-10, atol=1e-10)


def test_parameters_round_trip_through_the_matrix() -> None:
    params = load_patient("nominal-adult").params
    again = UvaPadovaParameters.from_matrix(params.to_matrix(3))
    assert again.n_members == 3
    np.testing.assert_array_equal(again.to_matrix(), params.to_matrix(3))
