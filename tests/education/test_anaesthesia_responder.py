"""The anaesthesia responder against the Responder contract and its documented behaviour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from healthtwin.education.case import load_case
from healthtwin.education.engine import Session
from healthtwin.education.responders import Responder, make_responder
from healthtwin.education.responders.anaesthesia import (
    AnaesthesiaResponder,
    AnaesthesiaState,
)
from healthtwin.errors import InvalidInputError

ADULT = {"age_years": 40.0, "weight_kg": 70.0, "height_cm": 170.0, "male": 1.0}


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _play(
    steps: Sequence[tuple[float, Mapping[str, Any], float | None]], until_min: float
) -> tuple[AnaesthesiaResponder, AnaesthesiaState]:
    r = AnaesthesiaResponder()
    s = r.initial(ADULT, {}, _rng())
    t = 0.0
    for at, effect, dose in sorted(steps, key=lambda step: step[0]):
        s = r.advance(s, t, at, _rng())
        s, t = r.apply(s, effect, dose, at), at
    return r, r.advance(s, t, until_min, _rng())


def test_registered_and_implements_the_protocol() -> None:
    r = make_responder("anaesthesia")
    assert isinstance(r, AnaesthesiaResponder)
    assert isinstance(r, Responder)
    m = r.measure(r.initial(ADULT, {}, _rng()))
    assert set(m) == set(r.measures)
    assert m["bis"] == pytest.approx(97.4)
    assert 96.0 < m["spo2_percent"] < 99.0


def test_propofol_bolus_causes_apnoea_and_bag_mask_restores_oxygen() -> None:
    bolus = (1.0, {"type": "propofol_bolus"}, 140.0)
    r, apnoeic = _play([bolus], 3.0)
    assert r.measure(apnoeic)["resp_rate_per_min"] < 1.0
    _, hypoxic = _play([bolus], 5.0)
    assert r.measure(hypoxic)["spo2_percent"] < 90.0  # room air: short safe apnoea time
    _, rescued = _play([bolus, (5.0, {"type": "bag_mask_ventilation"}, None)], 8.0)
    assert r.measure(rescued)["spo2_percent"] > 97.0


def test_preoxygenation_extends_the_safe_apnoea_time() -> None:
    steps = [(0.0, {"type": "preoxygenate"}, None), (3.0, {"type": "propofol_bolus"}, 140.0)]
    r, s = _play(steps, 8.0)
    assert r.measure(s)["spo2_percent"] > 95.0


def test_remifentanil_deepens_bis_and_blunts_laryngoscopy() -> None:
    prop = [(0.0, {"type": "propofol_infusion"}, 150.0)]
    remi = [*prop, (0.0, {"type": "remifentanil_infusion"}, 0.2)]
    r, alone = _play(prop, 10.0)
    _, both = _play(remi, 10.0)
    assert r.measure(both)["bis"] < r.measure(alone)["bis"]
    rise_alone = r.measure(r.apply(alone, {"type": "intubate"}, None, 10.0))["map_mmhg"]
    rise_both = r.measure(r.apply(both, {"type": "intubate"}, None, 10.0))["map_mmhg"]
    assert rise_alone - r.measure(alone)["map_mmhg"] > rise_both - r.measure(both)["map_mmhg"]


def test_vasopressors_raise_map() -> None:
    r, base = _play([], 3.0)
    _, phe = _play([(0.0, {"type": "phenylephrine_bolus"}, 100.0)], 3.0)
    _, eph = _play([(0.0, {"type": "ephedrine_bolus"}, 6.0)], 3.0)
    assert 5.0 < r.measure(phe)["map_mmhg"] - r.measure(base)["map_mmhg"] < 25.0
    assert r.measure(eph)["map_mmhg"] > r.measure(base)["map_mmhg"]
    assert r.measure(eph)["hr_per_min"] > r.measure(base)["hr_per_min"]


def test_suxamethonium_raises_potassium_and_rocuronium_does_not() -> None:
    sux = [(0.0, {"type": "neuromuscular_blocker", "agent": "suxamethonium"}, 100.0)]
    roc = [(0.0, {"type": "neuromuscular_blocker", "agent": "rocuronium"}, 50.0)]
    r, s = _play(sux, 15.0)
    _, t = _play(roc, 15.0)
    assert r.measure(s)["potassium_mmol_per_l"] == pytest.approx(4.7, abs=0.01)
    assert r.measure(t)["potassium_mmol_per_l"] == pytest.approx(4.2)
    assert r.measure(t)["resp_rate_per_min"] < 0.1


def test_advance_is_deterministic_and_split_invariant() -> None:
    r = AnaesthesiaResponder()
    s = r.apply(r.initial(ADULT, {}, _rng()), {"type": "propofol_bolus"}, 100.0, 0.0)
    one = r.measure(r.advance(s, 0.0, 4.0, _rng()))
    two = r.measure(r.advance(r.advance(s, 0.0, 1.35, _rng()), 1.35, 4.0, _rng()))
    # The drug part is exact whatever the steps; oxygen holds ventilation for 6 s.
    assert two["bis"] == pytest.approx(one["bis"], rel=1e-9)
    assert two["map_mmhg"] == pytest.approx(one["map_mmhg"], abs=0.5)
    assert two["spo2_percent"] == pytest.approx(one["spo2_percent"], abs=0.5)


@pytest.mark.parametrize(
    ("effect", "dose", "match"),
    [
        ({"type": "juggle"}, None, "valid types"),
        ({"type": "propofol_bolus"}, None, "needs a dose"),
        ({"type": "propofol_bolus"}, -5.0, "must be in"),
        ({"type": "neuromuscular_blocker", "agent": "curare"}, 10.0, "valid agents"),
    ],
)
def test_bad_actions_are_rejected(effect: dict[str, Any], dose: float | None, match: str) -> None:
    r = AnaesthesiaResponder()
    with pytest.raises(InvalidInputError, match=match):
        r.apply(r.initial(ADULT, {}, _rng()), effect, dose, 0.0)


def test_bad_event_and_initial_state_are_rejected() -> None:
    r = AnaesthesiaResponder()
    with pytest.raises(InvalidInputError, match="valid events"):
        r.event(r.initial(ADULT, {}, _rng()), {"event": "earthquake"}, 0.0)
    with pytest.raises(InvalidInputError, match="initial_state"):
        r.initial(ADULT, {"spo2": 99}, _rng())


def test_sample_parameters_varies_sensitivity_reproducibly() -> None:
    r = AnaesthesiaResponder()
    a = r.sample_parameters(ADULT, np.random.default_rng(1))
    assert a == r.sample_parameters(ADULT, np.random.default_rng(1))
    assert a["propofol_c50_scale"] != 1.0
    assert a["age_years"] == 40.0


def test_shipped_case_expert_pathway_through_the_engine() -> None:
    case = load_case("anaesthesia_induction")
    session = Session(case, seed=0)
    session.start()
    for step in case.expert:
        if step.at_min > session.now_min:
            session.advance(step.at_min - session.now_min)
        session.act(step.action, step.dose)
    session.advance(case.duration_min - session.now_min)
    rec = session.record()
    assert session.finished
    assert not session.dead
    assert rec.measures["spo2_percent"].min() > 95.0
    assert 40.0 < rec.measures["bis"][-1] < 60.0
    assert rec.measures["map_mmhg"].min() > 65.0
