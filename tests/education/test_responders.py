"""The responder registry and the glucose responder against the Responder contract."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.education.responders import Responder, make_responder, responder_kinds
from healthtwin.education.responders.glucose import (
    AMOUNT_INPUTS,
    RATE_INPUTS,
    GlucoseResponder,
    GlucoseState,
)
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError

DKA_INIT = {
    "glucose_mmol_per_l": 28.0,
    "plasma_insulin_mu_per_l": 0.0,
    "ketones_mmol_per_l": 5.0,
    "potassium_mmol_per_l": 5.2,
    "potassium_deficit_mmol": 350.0,
    "fluid_deficit_l": 5.0,
}


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _run(r: GlucoseResponder, s: GlucoseState, minutes: int) -> GlucoseState:
    for _ in range(minutes):
        s = r.advance(s, s.t_min, s.t_min + 1.0, _rng())
    return s


def test_registry_lists_kinds_and_names_them_in_errors() -> None:
    assert set(responder_kinds()) >= {"glucose", "sepsis", "circulation", "anaesthesia"}
    with pytest.raises(
        UnknownModelError, match="choose one of anaesthesia, circulation, glucose, sepsis"
    ):
        make_responder("cardiac")


def test_a_registered_but_missing_module_is_a_clear_unknown_model_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import healthtwin.education.responders as responders

    registry = {**responders._REGISTRY, "renal": "healthtwin.education.responders.renal:Renal"}
    monkeypatch.setattr(responders, "_REGISTRY", registry)
    with pytest.raises(UnknownModelError, match=r"'renal' is registered as .* could not be loaded"):
        make_responder("renal")


def test_glucose_responder_implements_the_protocol() -> None:
    r = make_responder("glucose")
    assert isinstance(r, GlucoseResponder)
    assert isinstance(r, Responder)
    s = r.initial({"weight_kg": 70.0}, {"glucose_mmol_per_l": 6.0}, _rng())
    values = r.measure(s)
    assert set(values) == set(r.measures)
    assert all(np.isfinite(v) for v in values.values())
    assert values["glucose_mmol_per_l"] == pytest.approx(6.0)
    assert not r.dead(s)


def test_advance_is_deterministic_and_nearly_split_invariant() -> None:
    r = GlucoseResponder()
    s = r.initial({}, DKA_INIT, _rng())
    s = r.apply(s, {"input": "iv_insulin_rate_u_per_h"}, 7.0, 0.0)
    one = r.measure(r.advance(s, 0.0, 10.0, _rng()))
    assert one == r.measure(r.advance(s, 0.0, 10.0, _rng()))
    two = r.measure(r.advance(r.advance(s, 0.0, 3.0, _rng()), 3.0, 10.0, _rng()))
    for name in r.measures:
        assert two[name] == pytest.approx(one[name], rel=1e-6, abs=1e-9)


def test_states_are_not_mutated() -> None:
    r = GlucoseResponder()
    s = r.initial({}, {"glucose_mmol_per_l": 3.0}, _rng())
    before = s.y.copy()
    r.apply(s, {"input": "iv_dextrose_g"}, 10.0, 0.0)
    r.advance(s, 0.0, 5.0, _rng())
    assert np.array_equal(s.y, before)


@pytest.mark.parametrize("name", AMOUNT_INPUTS)
def test_every_amount_input_is_accepted_at_once_and_over_time(name: str) -> None:
    r = GlucoseResponder()
    s = r.initial({}, {"glucose_mmol_per_l": 5.0}, _rng())
    at_once = r.apply(s, {"input": name}, 1.0, 0.0)
    spread = r.apply(s, {"input": name, "over_min": 10}, 1.0, 0.0)
    assert not np.array_equal(at_once.y, s.y)
    assert len(spread.infusions) == 1
    assert spread.infusions[0][0] == name


@pytest.mark.parametrize("name", RATE_INPUTS)
def test_every_rate_input_sets_the_rate(name: str) -> None:
    r = GlucoseResponder()
    s = r.apply(r.initial({}, {"glucose_mmol_per_l": 5.0}, _rng()), {"input": name}, 3.0, 0.0)
    assert s.rates[name] == 3.0
    assert r.apply(s, {"input": name}, 0.0, 1.0).rates[name] == 0.0


def test_infused_dextrose_is_delivered_in_full() -> None:
    # 15 g over 15 min equals 15 g at once, up to the delay, once both have distributed.
    r = GlucoseResponder()
    s0 = r.initial({"insulin_sensitivity_factor": 0.0}, {"glucose_mmol_per_l": 5.0}, _rng())
    at_once = _run(r, r.apply(s0, {"input": "iv_dextrose_g"}, 15.0, 0.0), 30)
    spread = _run(r, r.apply(s0, {"input": "iv_dextrose_g", "over_min": 15}, 15.0, 0.0), 30)
    total_once = at_once.y[0] + at_once.y[1]
    total_spread = spread.y[0] + spread.y[1]
    assert total_spread == pytest.approx(total_once, rel=0.05)
    assert spread.infusions == ()


def test_insulin_lowers_glucose_ketones_and_potassium() -> None:
    r = GlucoseResponder()
    s0 = r.initial(
        {"insulin_sensitivity_factor": 0.1, "ketone_ceiling_mmol_l": 7.0}, DKA_INIT, _rng()
    )
    untreated = r.measure(_run(r, s0, 120))
    treated = r.measure(_run(r, r.apply(s0, {"input": "iv_insulin_rate_u_per_h"}, 7.0, 0.0), 120))
    assert treated["glucose_mmol_per_l"] < untreated["glucose_mmol_per_l"] - 3.0
    assert treated["ketones_mmol_per_l"] < untreated["ketones_mmol_per_l"] - 1.0
    assert treated["potassium_mmol_per_l"] < untreated["potassium_mmol_per_l"]
    assert treated["ph"] > untreated["ph"]


def test_saline_lowers_heart_rate_and_raises_pressure() -> None:
    r = GlucoseResponder()
    s0 = r.initial({}, DKA_INIT, _rng())
    dry = r.measure(_run(r, s0, 60))
    wet = r.measure(_run(r, r.apply(s0, {"input": "saline_ml", "over_min": 30}, 1000.0, 0.0), 60))
    assert wet["hr_per_min"] < dry["hr_per_min"] - 5.0
    assert wet["map_mmhg"] > dry["map_mmhg"] + 2.0


def test_neuroglycopenia_lowers_gcs_and_prolonged_severe_hypoglycaemia_kills() -> None:
    r = GlucoseResponder()
    s = r.initial({}, {"glucose_mmol_per_l": 1.2, "plasma_insulin_mu_per_l": 40.0}, _rng())
    assert r.measure(s)["gcs"] < 10
    s = _run(r, s, 60)
    assert r.dead(s)


def test_events_and_their_errors() -> None:
    r = GlucoseResponder()
    s = r.initial({}, {"glucose_mmol_per_l": 5.0}, _rng())
    assert r.event(s, {"event": "note", "text": "x"}, 0.0) is s
    assert r.event(s, {"event": "meal", "carbs_g": 50}, 0.0).y[8] > 0
    assert r.event(s, {"event": "fluid_loss", "ml": 500}, 0.0).y[11] == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="unknown glucose event 'quake'"):
        r.event(s, {"event": "quake"}, 0.0)
    with pytest.raises(InvalidInputError, match="needs 'carbs_g'"):
        r.event(s, {"event": "meal"}, 0.0)


def test_invalid_effects_parameters_and_state_are_named() -> None:
    r = GlucoseResponder()
    s = r.initial({}, {"glucose_mmol_per_l": 5.0}, _rng())
    with pytest.raises(InvalidInputError, match="give 'input'"):
        r.apply(s, {"input": "morphine_mg"}, 1.0, 0.0)
    with pytest.raises(InvalidInputError, match="neither a dose nor an 'amount'"):
        r.apply(s, {"input": "glucagon_mg"}, None, 0.0)
    with pytest.raises(InvalidParameterError, match="unknown glucose responder parameters"):
        r.initial({"sensitivity": 1.0}, {"glucose_mmol_per_l": 5.0}, _rng())
    with pytest.raises(InvalidInputError, match="needs glucose_mmol_per_l"):
        r.initial({}, {"ketones_mmol_per_l": 1.0}, _rng())


def test_sample_parameters_keeps_the_mean_and_the_spread() -> None:
    r = GlucoseResponder()
    nominal = {"insulin_sensitivity_factor": 0.2, "insulin_sensitivity_factor_cv": 0.3}
    rng = np.random.default_rng(7)
    draws = np.array(
        [r.sample_parameters(nominal, rng)["insulin_sensitivity_factor"] for _ in range(4000)]
    )
    # Mean 0.2 and CV 0.3: the 99 % interval of the sample mean is about +-0.0025.
    assert draws.mean() == pytest.approx(0.2, abs=0.004)
    assert draws.std() / draws.mean() == pytest.approx(0.3, abs=0.03)
    assert (draws > 0).all()
    assert "insulin_sensitivity_factor_cv" not in r.sample_parameters(nominal, rng)


# --- comorbidity factors and the haemorrhage event ----------------------------------------


def test_slower_insulin_clearance_keeps_plasma_insulin_higher() -> None:
    r = GlucoseResponder()
    init = {"glucose_mmol_per_l": 6.0, "sc_insulin_on_board_u": 6.0}
    insulin = []
    for factor in (1.0, 0.6):
        s = r.initial({"insulin_clearance_factor": factor}, init, _rng())
        insulin.append(float(_run(r, s, 60).y[4]))
    assert insulin[1] > 1.3 * insulin[0]


def test_cohort_sensitivity_factors_scale_their_hovorka_constants() -> None:
    r = GlucoseResponder()
    base = r.initial({}, {"glucose_mmol_per_l": 6.0}, _rng()).theta[0]
    s = r.initial(
        {"disposal_sensitivity_factor": 2.0, "egp_sensitivity_factor": 0.5},
        {"glucose_mmol_per_l": 6.0},
        _rng(),
    ).theta[0]
    np.testing.assert_allclose(s[8:11] / base[8:11], [2.0, 2.0, 0.5])


def test_haemorrhage_and_transfusion_in_the_circulation_responder() -> None:
    from healthtwin.education.responders.sepsis import SepsisResponder

    r = SepsisResponder()
    healthy = {"inflammation": 0.0, "lactate_mmol_per_l": 1.0, "hr_per_min": 80.0}
    s0 = r.initial({}, healthy, _rng())
    # Flows start when given (the engine advances from the event's time).
    bleeding = r.event(s0, {"event": "haemorrhage", "volume_ml": 1000, "text": "x"}, 0.0)
    assert bleeding.bleeds == ((10.0, 100.0),)
    after = r.advance(bleeding, 0.0, 30.0, _rng())
    assert after.bled_ml == pytest.approx(1000.0)
    assert after.bleeds == ()
    assert r.measure(after)["map_mmhg"] < r.measure(s0)["map_mmhg"]
    assert r.measure(after)["hr_per_min"] > r.measure(s0)["hr_per_min"] + 15
    given = r.apply(after, {"type": "blood_transfusion", "over_min": 10}, 1000.0, 30.0)
    restored = r.advance(given, 30.0, 60.0, _rng())
    assert restored.bled_ml == pytest.approx(0.0, abs=1e-6)
    assert r.measure(restored)["hr_per_min"] < r.measure(after)["hr_per_min"] - 15
    for bad in ({"volume_ml": -5}, {"volume_ml": 500, "over_min": 0}, {"volume_ml": "lots"}):
        with pytest.raises(InvalidInputError, match="haemorrhage needs volume_ml"):
            r.event(s0, {"event": "haemorrhage", **bad}, 0.0)
    with pytest.raises(InvalidInputError, match="blood_transfusion over_min"):
        r.apply(s0, {"type": "blood_transfusion", "over_min": 0}, 300.0, 0.0)


def test_a_missed_insulin_dose_stops_the_background_insulin() -> None:
    r = GlucoseResponder()
    init = {"glucose_mmol_per_l": 7.0, "sc_insulin_rate_u_per_h": 1.0}
    s0 = r.initial({"weight_kg": 70.0}, init, _rng())
    missed = r.event(s0, {"event": "missed_insulin_dose"}, 0.0)
    half = r.event(s0, {"event": "missed_insulin_dose", "fraction": 0.5}, 0.0)
    assert missed.rates["sc_insulin_rate_u_per_h"] == 0.0
    assert half.rates["sc_insulin_rate_u_per_h"] == pytest.approx(0.5)
    glucose = [r.measure(_run(r, s, 240))["glucose_mmol_per_l"] for s in (s0, half, missed)]
    assert glucose[0] < glucose[1] < glucose[2]
    assert glucose[2] > glucose[0] + 1.0
    with pytest.raises(InvalidInputError, match="fraction"):
        r.event(s0, {"event": "missed_insulin_dose", "fraction": 2.0}, 0.0)
