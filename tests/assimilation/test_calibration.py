"""Batched multi-start MAP calibration, the identifiability report, and the online prior."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.assimilation import OutputObservation, view_for
from healthtwin.assimilation.calibration import ensemble_from_fit, fit_map
from healthtwin.errors import InvalidParameterError
from healthtwin.physiology import Meal, UvaPadova, load_patient, meal_plan_inputs

MULTIPLIERS = np.array([0.8, 1.0, 1.2, 1.4])


def _fit(with_meal: bool):  # type: ignore[no-untyped-def]
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    vmx = UvaPadova.parameter_index("Vmx")
    rng = np.random.default_rng(0)
    template = model.initial_state(4, rng)
    theta = np.array(template.theta)
    theta[:, vmx] *= MULTIPLIERS
    truth = type(template)(
        template.x,
        theta,
        template.planned_meal_g,
        template.cho_g_per_min,
        template.meal_start_stomach_mg,
        template.meal_eaten_g,
    )
    meals = [Meal(60, 70)] if with_meal else []
    plan = meal_plan_inputs(
        meals,
        np.array([patient.basal_u_per_min]),
        np.array([patient.carb_ratio_g_per_u]) if with_meal else None,
    )
    times = np.arange(5.0, 481.0, 5.0)
    readings, t_prev = [], 0.0
    for t in times:
        truth = model.advance(truth, t_prev, t, plan, rng)
        t_prev = t
        readings.append(model.observe(truth)[:, 0] + rng.normal(0.0, 8.0, 4))
    view = view_for(model, states=[], parameters={"Vmx": (1e-4, 1.0)})
    obs = OutputObservation(model, ["glucose_mg_dl"], [8.0])
    nominal = float(np.asarray(patient.params.Vmx)[0])
    fit = fit_map(
        model,
        template,
        view,
        times,
        np.array(readings).T,
        obs,
        plan,
        prior_log_mean=[np.log(nominal)],
        prior_log_sd=[0.3],
        starts=3,
        rng=rng,
        names=["Vmx"],
    )
    return fit, nominal, template, view


def test_map_recovers_insulin_sensitivity_from_a_meal() -> None:
    fit, nominal, _, _ = _fit(with_meal=True)
    error = fit.log_estimate[:, 0] - np.log(MULTIPLIERS * nominal)
    assert np.all(np.abs(error) <= 3.0 * fit.log_sd[:, 0])
    assert np.all(fit.contraction[:, 0] > 0.9)
    assert fit.identifiability() == {"Vmx": True}


def test_fasting_data_cannot_inform_insulin_sensitivity() -> None:
    # At basal insulin the insulin action X stays at 0, so Vmx has no effect on glucose.
    fit, nominal, _, _ = _fit(with_meal=False)
    assert np.all(fit.contraction[:, 0] < 0.1)
    np.testing.assert_allclose(fit.estimate[:, 0], nominal, rtol=1e-3)  # the prior holds
    assert fit.identifiability() == {"Vmx": False}


def test_the_posterior_becomes_the_online_prior() -> None:
    fit, _, template, view = _fit(with_meal=True)
    ensemble = ensemble_from_fit(fit, template, view, 500, np.random.default_rng(1))
    assert ensemble.n_members == 4 * 500
    log_vmx = np.log(ensemble.theta[:, UvaPadova.parameter_index("Vmx")]).reshape(4, 500)
    np.testing.assert_allclose(log_vmx.mean(axis=1), fit.log_estimate[:, 0], atol=0.01)
    np.testing.assert_allclose(log_vmx.std(axis=1), fit.log_sd[:, 0], rtol=0.15)


def test_a_view_with_states_is_refused() -> None:
    model = UvaPadova([load_patient("nominal-adult")])
    view = view_for(model, states=["sc_glucose_mg_per_kg"], parameters={"Vmx": (1e-4, 1.0)})
    with pytest.raises(InvalidParameterError, match="without states"):
        fit_map(
            model,
            model.initial_state(1, np.random.default_rng(0)),
            view,
            np.array([5.0]),
            np.array([[100.0]]),
            None,
            None,  # type: ignore[arg-type]
            prior_log_mean=[0.0],
            prior_log_sd=[1.0],
            rng=np.random.default_rng(0),
        )
