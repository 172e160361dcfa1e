"""Sepsis and anaesthesia responders against the PK/PD package and published numbers.

Published values live in tests/data/education/sepsis_anaesthesia_targets.yaml (cited there).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.education.case import load_case
from healthtwin.education.engine import replay
from healthtwin.education.patients import patient_parameters
from healthtwin.education.record import ActionTaken
from healthtwin.education.responders.anaesthesia import AnaesthesiaResponder
from healthtwin.education.responders.sepsis import SepsisResponder
from healthtwin.physiology.pkpd import Covariates, make_pkpd_model

TARGETS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "data/education/sepsis_anaesthesia_targets.yaml").read_text()
)
HEALTHY = {"age_years": 40.0, "weight_kg": 70.0, "height_cm": 170.0, "male": 1.0}


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_propofol_concentrations_equal_the_pkpd_package() -> None:
    r = AnaesthesiaResponder()
    s = r.apply(r.initial(HEALTHY, {}, _rng()), {"type": "propofol_bolus"}, 140.0, 0.0)
    s = r.apply(s, {"type": "propofol_infusion"}, 100.0, 0.0)  # 7 mg/min for 70 kg
    model = make_pkpd_model(
        "pk-schnider", Covariates(age_yr=40, weight_kg=70, height_cm=170, sex="male")
    )
    plan = Inputs(
        rates={"infusion_mg_per_min": Rate(np.array([0.0]), np.array([7.0]))},
        events={"bolus_mg": Events(np.array([0.0]), np.array([140.0]))},
    )
    ref = model.initial_state(1, _rng())
    t = 0.0
    for t_next in (0.5, 1.0, 2.0, 5.0, 12.5, 30.0):
        s = r.advance(s, t, t_next, _rng())
        ref = model.advance(ref, 0.0 if t == 0.0 else t, t_next, plan, _rng())
        ours = r.concentrations(s)
        plasma, effect_site, _ = model.observe(ref)[0]
        assert ours["propofol_cp_ug_per_ml"] == pytest.approx(plasma, rel=1e-9)
        assert ours["propofol_ce_ug_per_ml"] == pytest.approx(effect_site, rel=1e-9)
        t = t_next


def test_bis_at_the_published_c50_is_half_the_maximal_fall() -> None:
    r = AnaesthesiaResponder()
    s = r.initial(HEALTHY, {}, _rng())
    bis = TARGETS["bis"]
    x = s.x.copy()
    x[3] = bis["propofol_c50_ug_per_ml"]
    assert r.measure(replace(s, x=x))["bis"] == pytest.approx(bis["e0"] / 2, abs=1e-9)
    x[3], x[9] = 0.0, bis["remifentanil_c50_ng_per_ml"]
    assert r.measure(replace(s, x=x))["bis"] == pytest.approx(bis["e0"] / 2, abs=1e-9)


def _minutes_to_90(fao2: float | None) -> float:
    """Apnoea (full neuromuscular block) from a given alveolar O2 fraction, 70-kg adult."""
    r = AnaesthesiaResponder()
    params = {**HEALTHY, "frc_ml_per_kg": 34.0}  # about 2.4 L, Farmery & Roe's adult
    s = r.initial(params, {}, _rng())
    if fao2 is not None:
        store = float(np.interp(fao2 * 713.0, s.pa_grid_mmhg, s.store_grid_ml))
        s = replace(s, o2_store_ml=store)
    s = r.apply(s, {"type": "neuromuscular_blocker", "agent": "rocuronium"}, 50.0, 0.0)
    s = replace(s, nmb_start_min=-100.0)  # fully paralysed from t = 0
    t = 0.0
    while r.measure(s)["spo2_percent"] >= 90.0:
        s, t = r.advance(s, t, t + 0.05, _rng()), t + 0.05
        assert t < 30.0
    return t


def test_desaturation_after_preoxygenation_matches_benumof() -> None:
    target = TARGETS["apnoea_desaturation"]
    minutes = _minutes_to_90(target["fao2_after_preoxygenation"])
    window = target["minutes_to_90_percent"]
    assert window["low"] <= minutes <= window["high"]


def test_desaturation_on_room_air_is_fast() -> None:
    window = TARGETS["apnoea_desaturation"]["room_air_minutes_to_90_percent"]
    assert window["low"] <= _minutes_to_90(None) <= window["high"]


def test_three_minutes_of_preoxygenation_reach_benumof_fao2() -> None:
    r = AnaesthesiaResponder()
    s = r.apply(r.initial(HEALTHY, {}, _rng()), {"type": "preoxygenate"}, None, 0.0)
    s = r.advance(s, 0.0, 3.0, _rng())
    pa = float(np.interp(s.o2_store_ml, s.store_grid_ml, s.pa_grid_mmhg))
    assert pa / 713.0 >= TARGETS["apnoea_desaturation"]["fao2_after_preoxygenation"]


def _sepsis_map(steps: list[tuple[dict[str, Any], float | None]], minutes: float) -> float:
    r = SepsisResponder()
    s = r.initial({}, {}, _rng())
    for effect, dose in steps:
        s = r.apply(s, effect, dose, 0.0)
    return r.measure(r.advance(s, 0.0, minutes, _rng()))["map_mmhg"]


def test_fluid_and_noradrenaline_raise_map_by_plausible_amounts() -> None:
    base = _sepsis_map([], 30.0)
    ml = TARGETS["surviving_sepsis_2021"]["crystalloid_ml_per_kg"] * 70.0
    fluid = _sepsis_map([({"type": "fluid_bolus", "over_min": 30.0}, ml)], 30.0)
    ne = [_sepsis_map([({"type": "noradrenaline_rate"}, d)], 30.0) for d in (0.05, 0.1, 0.3)]
    assert 5.0 < fluid - base < 30.0
    assert base < ne[0] < ne[1] < ne[2]
    assert 5.0 < ne[1] - base < 20.0
    assert 15.0 < ne[2] - base < 40.0


def test_untreated_septic_shock_deteriorates() -> None:
    case = load_case("septic_shock")
    rec = replay(case, [], seed=0)
    lactate, mean = rec.measures["lactate_mmol_per_l"], rec.measures["map_mmhg"]
    assert lactate[-1] > lactate[0] + 2.0
    assert mean[-1] < mean[0] - 5.0


@pytest.mark.parametrize("draw", range(4))
def test_expert_pathway_stabilises_every_drawn_patient(draw: int) -> None:
    case = load_case("septic_shock")
    r = SepsisResponder()
    params = patient_parameters(case)
    if draw:
        params = r.sample_parameters(params, np.random.default_rng(draw))
    actions = [ActionTaken(e.at_min, e.action, e.dose) for e in case.expert]
    rec = replay(case, actions, seed=0, parameters=params)
    times, mean = rec.times_min, rec.measures["map_mmhg"]
    lactate = rec.measures["lactate_mmol_per_l"]
    target = TARGETS["surviving_sepsis_2021"]["map_target_mmhg"]
    assert mean[-1] >= target
    assert lactate[-1] < lactate[times == 30.0][0] < lactate.max()
