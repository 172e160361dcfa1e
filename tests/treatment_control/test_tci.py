"""TCI: closed form for one compartment, Schnider effect-site targeting, brute-force peak."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from healthtwin.control.tci import TciSettings, next_rate, plan_tci
from healthtwin.core import Inputs, Rate
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.pkpd import (
    Covariates,
    PkPdModel,
    PkPdParameters,
    PkPdState,
    make_pkpd_model,
    parse_covariates,
)

DELTA = 1.0 / 6.0  # 10 s
PUMP_MG_PER_MIN = 200.0  # 1200 mL/h of propofol 10 mg/mL


def _schnider() -> PkPdModel:
    return make_pkpd_model(
        "pk-schnider", parse_covariates("age=53,weight_kg=77,height_cm=177,sex=male")
    )


def _effect_site(max_rate: float = math.inf) -> TciSettings:
    return TciSettings("effect_site_mg_l", "infusion_mg_per_min", DELTA, max_rate=max_rate)


def test_plasma_target_one_compartment_matches_closed_form() -> None:
    # C(t) = R / CL (1 - e^{-k t}) for a constant rate R from zero: reaching C_T at t = delta
    # needs R_1 = C_T k V / (1 - e^{-k delta}) (the bolus V C_T spread over the interval, ->
    # V C_T as delta -> 0), and holding it needs exactly R = CL C_T thereafter.
    volume_l = np.array([20.0, 35.0, 12.0])
    k10 = np.array([0.1, 0.05, 0.3])
    model = PkPdModel(PkPdParameters(v1_l=volume_l, k10=k10, ke0=1.0), n_compartments=1)
    target = np.array([4.0, 2.0, 6.0])
    pump = TciSettings("plasma_mg_l", "infusion_mg_per_min", DELTA, horizon=2.0)
    rng = np.random.default_rng(0)
    plan = plan_tci(model, model.initial_state(3, rng), 0.0, 15.0, target, pump, rng)

    first = target * k10 * volume_l / -np.expm1(-k10 * DELTA)
    np.testing.assert_allclose(plan.rates[:, 0], first, rtol=1e-6)
    clearance = k10 * volume_l
    maintenance = np.broadcast_to((clearance * target)[:, None], plan.rates[:, 1:].shape)
    np.testing.assert_allclose(plan.rates[:, 1:], maintenance, rtol=1e-6)
    loading_mg = plan.rates[:, 0] * DELTA
    assert np.all(np.abs(loading_mg / (volume_l * target) - 1) < k10 * DELTA)
    plasma = plan.trajectory.output("plasma_mg_l")
    after = plan.t >= DELTA - 1e-12
    np.testing.assert_allclose(plasma[:, after], np.repeat(target[:, None], after.sum(), 1), 1e-6)
    assert np.all(plasma <= target[:, None] * (1 + 1e-9))


def test_superposition_prediction_equals_simulation() -> None:
    model = _schnider()
    rng = np.random.default_rng(0)
    plan = plan_tci(model, model.initial_state(1, rng), 0.0, 20.0, 3.0, _effect_site(), rng)
    np.testing.assert_allclose(
        plan.predicted, plan.trajectory.output("effect_site_mg_l"), rtol=0, atol=1e-9
    )


def test_schnider_effect_site_target_reached_without_overshoot() -> None:
    # Schnider et al. (1999) chose ke0 0.456/min for a time to peak effect of 1.6 min after
    # a bolus, so effect-site TCI (a bolus-like first pulse) reaches its target after about
    # that long; the 200 mg/min pump limit spreads the pulse over 20 s and delays it a little.
    model, target = _schnider(), 3.0
    rng = np.random.default_rng(0)
    plan = plan_tci(
        model, model.initial_state(1, rng), 0.0, 30.0, target, _effect_site(PUMP_MG_PER_MIN), rng
    )
    ce = plan.trajectory.output("effect_site_mg_l")[0]
    plasma = plan.trajectory.output("plasma_mg_l")[0]
    t = plan.trajectory.t
    assert ce.max() <= target * 1.01
    reached = t[np.argmax(ce >= 0.99 * target)]
    assert 1.0 <= reached <= 2.5
    assert np.all(np.abs(ce[t >= reached] - target) <= 0.01 * target)
    # The pump runs flat out, then pauses while plasma falls toward the effect site.
    rates = plan.rates[0]
    assert rates[0] == PUMP_MG_PER_MIN
    assert np.all((rates >= 0) & (rates <= PUMP_MG_PER_MIN))
    assert np.all(rates[3:8] == 0)
    peak = int(np.argmax(plasma))
    assert t[peak] <= 0.5
    assert 2.5 * target <= plasma[peak] <= 5.0 * target
    # Ce peaks where plasma crosses it, so plasma then dips below the target.
    assert plasma[(t > t[peak]) & (t < 5.0)].min() < 0.95 * target
    induction_mg_per_kg = rates[:6].sum() * DELTA / 77.0  # first minute
    assert 0.4 <= induction_mg_per_kg <= 1.2
    # At the plateau plasma ripples around Ce (pulses every other interval) and averages it.
    np.testing.assert_allclose(plasma[t >= 25.0].mean(), target, rtol=0.01)


def _peak_effect_site(model: PkPdModel, state: PkPdState, t0: float, rate: float) -> float:
    """Brute force on the real model: simulate the pulse, then refine the peak time."""
    inputs = Inputs(rates={"infusion_mg_per_min": Rate([t0, t0 + DELTA], [rate, 0.0])})
    rng = np.random.default_rng(0)

    def ce_at(t: float) -> float:
        later = model.advance(state, t0, t, inputs, rng) if t > t0 else state
        return float(model.observe(later)[0, 1])

    coarse = np.linspace(t0 + 0.001, t0 + 10.0, 200)
    values = [ce_at(float(t)) for t in coarse]
    j = int(np.argmax(values))
    lo, hi = coarse[max(j - 1, 0)], coarse[min(j + 1, coarse.size - 1)]
    best = minimize_scalar(
        lambda t: -ce_at(t), bounds=(lo, hi), method="bounded", options={"xatol": 1e-9}
    )
    return max(-float(best.fun), max(values))


@pytest.mark.parametrize("start", ["drug-free", "mid-course"])
def test_first_rate_matches_brute_force_optimisation(start: str) -> None:
    model = _schnider()
    rng = np.random.default_rng(0)
    state, t0, target = model.initial_state(1, rng), 0.0, 3.0
    if start == "mid-course":
        before = plan_tci(model, state, 0.0, 8.0, 2.0, _effect_site(), rng)
        state, t0, target = before.final_state, float(before.t[-1]), 3.5
    plan = plan_tci(model, state, t0, DELTA, target, _effect_site(), rng)

    def excess(rate: float) -> float:
        return _peak_effect_site(model, state, t0, rate) - target

    brute = brentq(excess, 0.0, 2000.0, xtol=1e-10, rtol=1e-12)
    np.testing.assert_allclose(plan.rates[0, 0], brute, rtol=1e-5)


def test_target_step_down_stops_the_pump_until_ce_falls() -> None:
    model = _schnider()
    rng = np.random.default_rng(0)
    target = Rate([0.0, 10.0], [4.0, 2.0])
    plan = plan_tci(model, model.initial_state(1, rng), 0.0, 25.0, target, _effect_site(), rng)
    ce = plan.trajectory.output("effect_site_mg_l")[0]
    t = plan.trajectory.t
    updates = plan.schedule.times[:-1]
    ce_at_updates = ce[np.searchsorted(t, updates)]
    above = (updates >= 10.0) & (ce_at_updates > 2.0 + 1e-9)
    assert above.sum() > 6  # propofol takes minutes to fall from 4 to 2 mg/L
    assert np.all(plan.rates[0, above] == 0)
    assert np.all(ce[t >= 10.0] <= 4.0 * (1 + 1e-9))
    np.testing.assert_allclose(ce[-1], 2.0, rtol=0.01)


def test_batched_patients_match_each_alone() -> None:
    covariates = Covariates(
        age_yr=[25, 75, 40],
        weight_kg=[60, 70, 100],
        height_cm=[165, 160, 185],
        sex=["female", "female", "male"],
    )
    rng = np.random.default_rng(0)
    model = make_pkpd_model("pk-schnider", covariates)
    together = plan_tci(model, model.initial_state(3, rng), 0.0, 10.0, 3.0, _effect_site(), rng)
    for i in range(3):
        one = Covariates(
            age_yr=covariates.age_yr[i],
            weight_kg=covariates.weight_kg[i],  # type: ignore[index]
            height_cm=covariates.height_cm[i],
            sex=covariates.sex[i],  # type: ignore[index]
        )
        alone_model = make_pkpd_model("pk-schnider", one)
        alone = plan_tci(
            alone_model, alone_model.initial_state(1, rng), 0.0, 10.0, 3.0, _effect_site(), rng
        )
        np.testing.assert_allclose(together.rates[i], alone.rates[0], rtol=1e-9, atol=1e-9)
    # Older patients need less propofol (smaller V2 and Cl2 in Schnider's model).
    assert together.rates[1].sum() < together.rates[0].sum()


def test_next_rate_is_clipped_to_the_pump() -> None:
    pulse = np.array([[0.0, 0.1, 0.2, 0.1]])
    window = np.array([[0.0, 0.0, 0.0, 0.0]])
    assert next_rate(np.array([1.0]), window, pulse, 3.0).tolist() == [3.0]
    assert next_rate(np.array([1.0]), window + 2.0, pulse, 3.0).tolist() == [0.0]


def test_bad_settings_and_targets_are_rejected() -> None:
    model = _schnider()
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    with pytest.raises(InvalidParameterError, match="no output 'brain_mg_l'"):
        plan_tci(model, state, 0.0, 1.0, 3.0, TciSettings("brain_mg_l", "infusion_mg_per_min"), rng)
    with pytest.raises(InvalidParameterError, match="no rate input"):
        plan_tci(model, state, 0.0, 1.0, 3.0, TciSettings("plasma_mg_l", "bolus_mg"), rng)
    with pytest.raises(InvalidInputError, match="targets must be finite and >= 0"):
        plan_tci(model, state, 0.0, 1.0, -1.0, _effect_site(), rng)
    with pytest.raises(InvalidParameterError, match="horizon must be at least"):
        TciSettings("plasma_mg_l", "infusion_mg_per_min", update_interval=1.0, horizon=0.5)
    with pytest.raises(InvalidParameterError, match="max_rate must be > 0"):
        TciSettings("plasma_mg_l", "infusion_mg_per_min", max_rate=0.0)
