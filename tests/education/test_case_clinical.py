"""The shipped cases' rubrics follow their own cited guidelines (one test per review fix)."""

from __future__ import annotations

import pytest

from healthtwin.education.case import Case, case_ids, load_case
from healthtwin.education.debrief import expert_requests
from healthtwin.education.engine import replay
from healthtwin.education.record import ActionTaken, SessionRecord
from healthtwin.education.scoring import ScoreReport, score

A = ActionTaken


def _item(report: ScoreReport, kind: str, ref: str, contains: str = "") -> float:
    found = [i for i in report.items if i.kind == kind and i.ref == ref and contains in i.msgid]
    assert len(found) == 1, [(i.kind, i.ref, i.msgid) for i in report.items]
    return float(found[0].points)


def _expert(case: Case) -> list[ActionTaken]:
    return [A(e.at_min, e.action, e.dose) for e in case.expert]


def _expert_record(case: Case, extra: list[ActionTaken] = ()) -> SessionRecord:  # type: ignore[assignment]
    return replay(case, [*_expert(case), *extra], requests=expert_requests(case))


@pytest.mark.parametrize("case_id", case_ids())
def test_expert_passes_without_penalties_and_doing_nothing_fails(case_id: str) -> None:
    case = load_case(case_id)
    expert = score(case, _expert_record(case))
    assert expert.passed
    assert not expert.died
    assert all(i.points >= 0 for i in expert.items if i.kind == "contraindicated")
    assert not score(case, replay(case, ())).passed


# --- hypoglycaemia (JBDS-IP 01) ----------------------------------------------------------


def test_hypo_expert_rechecks_and_does_not_repeat_glucose_above_4() -> None:
    case = load_case("hypoglycaemia")
    doses = [e for e in case.expert if e.action == "give_dextrose_iv"]
    assert len(doses) == 1
    assert 15 <= (doses[0].dose or 0) <= 20
    carbs = [e.dose for e in case.expert if e.action == "give_long_acting_carbohydrate"]
    assert carbs == [20.0, 20.0]  # the second after the recheck: kidney disease (below)
    record = _expert_record(case)
    rechecks = [r.t_min for r in record.requests if r.info_id == "capillary_glucose"]
    assert any(t >= 10 for t in rechecks) or "capillary_glucose" in {
        q.info for q in case.rubric.required
    }
    glucose = record.measures["glucose_mmol_per_l"]
    assert glucose[20] >= 4.0  # no second dose was needed at the recheck
    assert glucose.max() < 15.0


def test_hypo_glucagon_is_an_alternative_critical_action() -> None:
    case = load_case("hypoglycaemia")
    report = score(case, replay(case, [A(3.0, "give_glucagon_im", 1.0)]))
    assert _item(report, "critical", "give_dextrose_iv") == 30
    assert report.time_to_critical_min["give_dextrose_iv"] == 3.0


def test_hypo_insulin_is_penalised_only_while_hypoglycaemic() -> None:
    case = load_case("hypoglycaemia")
    contra = next(c for c in case.rubric.contraindicated if c.action == "give_insulin_sc")
    assert "must not be given" not in contra.reason
    assert "omitted" in contra.reason
    early = score(case, replay(case, [A(1.0, "give_insulin_sc", 4.0)]))
    assert _item(early, "contraindicated", "give_insulin_sc") == -contra.penalty
    later = score(case, _expert_record(case, [A(40.0, "give_insulin_sc", 2.0)]))
    assert _item(later, "contraindicated", "give_insulin_sc") == 0


def test_hypo_overtreatment_is_harm() -> None:
    case = load_case("hypoglycaemia")
    record = replay(case, [A(1.0, "give_dextrose_iv", 30.0), A(2.0, "give_dextrose_iv", 30.0),
                           A(3.0, "give_dextrose_iv", 30.0)])  # fmt: skip
    assert record.measures["glucose_mmol_per_l"].max() > 15.0
    report = score(case, record)
    assert _item(report, "harm", "glucose_mmol_per_l", "above") < 0


# --- diabetic ketoacidosis (JBDS-IP 02) --------------------------------------------------


def test_dka_potassium_above_5_5_is_withheld_and_capped_peripherally() -> None:
    case = load_case("hyperglycaemia_dka")
    spec = case.action("set_potassium_rate").dose
    assert spec is not None
    assert spec.max == 20.0
    contra = next(c for c in case.rubric.contraindicated if c.action == "set_potassium_rate")
    assert contra.when is not None
    assert contra.when.above == 5.5
    # A hyperkalaemic variant of the patient: adding potassium costs, stopping it does not.
    data = case.model_dump(mode="python")
    data["initial_state"] = {**data["initial_state"], "potassium_mmol_per_l": 6.0}
    hot = Case.model_validate(data)
    added = score(hot, replay(hot, [A(1.0, "set_potassium_rate", 20.0)]))
    stopped = score(hot, replay(hot, [A(1.0, "set_potassium_rate", 0.0)]))
    assert _item(added, "contraindicated", "set_potassium_rate") == -contra.penalty
    assert _item(stopped, "contraindicated", "set_potassium_rate") == 0


def test_dka_basal_insulin_is_continued() -> None:
    case = load_case("hyperglycaemia_dka")
    assert "continue_basal_insulin" in {q.action for q in case.rubric.required}
    with_basal = score(case, _expert_record(case))
    assert _item(with_basal, "required", "continue_basal_insulin") == 5


# --- septic shock (Surviving Sepsis Campaign 2021) ---------------------------------------


def test_sepsis_cultures_count_only_before_antibiotics() -> None:
    case = load_case("septic_shock")
    before = score(case, replay(case, [A(2.0, "take_blood_cultures"), A(5.0, "give_antibiotics")]))
    after = score(case, replay(case, [A(5.0, "give_antibiotics"), A(8.0, "take_blood_cultures")]))
    assert _item(before, "required", "take_blood_cultures") == 5
    assert _item(after, "required", "take_blood_cultures") == 0


def test_sepsis_fluid_overload_is_harm_and_bicarbonate_is_not_scored() -> None:
    case = load_case("septic_shock")
    flood = [A(float(t), "give_crystalloid_bolus", 2000.0) for t in range(1, 80, 8)]
    record = replay(case, flood)
    assert record.measures["cvp_mmhg"].max() > 12.0
    assert _item(score(case, record), "harm", "cvp_mmhg") < 0
    assert _item(score(case, _expert_record(case)), "harm", "cvp_mmhg") == 0
    assert all(c.action != "give_sodium_bicarbonate" for c in case.rubric.contraindicated)
    base = score(case, _expert_record(case)).total
    assert (
        score(case, _expert_record(case, [A(40.0, "give_sodium_bicarbonate", 50.0)])).total == base
    )


# --- anaesthesia induction ---------------------------------------------------------------


def test_anaesthesia_propofol_overdose_is_harm() -> None:
    case = load_case("anaesthesia_induction")
    record = _expert_record(case, [A(8.0, "give_propofol", 250.0), A(9.0, "give_propofol", 250.0)])
    report = score(case, record)
    assert record.measures["bis"].min() < 20.0
    assert _item(report, "harm", "bis", "below") < 0


def test_anaesthesia_awareness_under_paralysis_is_a_large_harm() -> None:
    case = load_case("anaesthesia_induction")
    # Rocuronium and a tube, but no hypnotic: paralysed and awake.
    record = replay(case, [A(0.0, "preoxygenate"), A(2.0, "give_rocuronium", 48.0),
                           A(4.0, "intubate")])  # fmt: skip
    report = score(case, record)
    assert _item(report, "harm", "bis", "above") <= -40
    assert _item(score(case, _expert_record(case)), "harm", "bis", "above") == 0


def test_anaesthesia_prompt_intubation_needs_no_bag_mask_but_apnoea_is_harm() -> None:
    case = load_case("anaesthesia_induction")
    assert "bag_mask_ventilate" not in {c.action for c in case.rubric.critical_actions}
    no_mask = [a for a in _expert(case) if a.action_id != "bag_mask_ventilate"]
    assert score(case, replay(case, no_mask, requests=expert_requests(case))).passed
    # Induce and paralyse, then neither ventilate nor intubate for ten minutes.
    apnoeic = [a for a in no_mask if a.action_id != "intubate"] + [A(15.0, "intubate")]
    report = score(case, replay(case, apnoeic, requests=expert_requests(case)))
    assert _item(report, "harm", "resp_rate_per_min") < 0


# --- trauma haemorrhage (ATLS 10th ed.; Rossaint et al. 2023) -----------------------------

_CRYSTALLOID_ONLY = [A(1.0, "apply_tourniquet"), A(3.0, "give_crystalloid_bolus", 1000.0),
                     A(18.0, "give_crystalloid_bolus", 1000.0),
                     A(33.0, "give_crystalloid_bolus", 1000.0)]  # fmt: skip


def test_trauma_crystalloid_alone_fails_and_ends_worse_than_blood() -> None:
    case = load_case("trauma_haemorrhage")
    fluid, expert = replay(case, _CRYSTALLOID_ONLY), _expert_record(case)
    fluid_report, expert_report = score(case, fluid), score(case, expert)
    assert expert_report.passed
    assert not fluid_report.passed
    assert fluid_report.total < expert_report.total
    assert _item(fluid_report, "harm", "crystalloid_given_ml") < 0
    assert _item(expert_report, "harm", "crystalloid_given_ml") == 0
    # Crystalloid dilutes: lower haemoglobin, and lactate (oxygen delivery) suffers.
    hb, lac = "haemoglobin_g_per_dl", "lactate_mmol_per_l"
    assert fluid.measures[hb][-1] < expert.measures[hb][-1] - 2.0
    assert fluid.measures[lac][-1] > expert.measures[lac][-1]
    # Haemoglobin can be asked for, as a lab with a turnaround.
    assert case.info("lab_haemoglobin").turnaround_min > 0


def test_trauma_blood_is_essential_to_pass() -> None:
    case = load_case("trauma_haemorrhage")
    no_blood = [e for e in _expert(case) if e.action_id != "transfuse_red_cells"]
    report = score(case, replay(case, no_blood, requests=expert_requests(case)))
    assert report.total >= case.rubric.pass_mark  # enough points...
    assert not report.passed  # ...but no blood, no pass
    item = next(i for i in report.items if i.ref == "transfuse_red_cells")
    assert "cannot be passed" in item.msgid


def test_trauma_bleeding_goes_on_until_a_tourniquet_stops_it() -> None:
    case = load_case("trauma_haemorrhage")
    blood_only = replay(case, [A(5.0, "transfuse_red_cells", 500.0),
                               A(20.0, "transfuse_red_cells", 500.0)])  # fmt: skip
    early = replay(case, [A(1.0, "apply_tourniquet")])
    map_ = "map_mmhg"
    # Without haemostasis, blood does not keep up: the pressure falls into shock.
    assert blood_only.measures[map_][-1] < 60.0
    assert blood_only.measures[map_][-1] < blood_only.measures[map_][20]
    assert not score(case, blood_only).passed
    nothing = replay(case, ())
    assert nothing.died_min is not None
    assert nothing.died_min <= case.duration_min
    # A tourniquet at minute 1 stops it: the pressure recovers with no further treatment.
    assert early.died_min is None
    assert early.measures[map_][-1] > early.measures[map_][0]


def test_trauma_noradrenaline_is_penalised_only_before_blood() -> None:
    case = load_case("trauma_haemorrhage")
    contra = next(c for c in case.rubric.contraindicated if c.action == "start_noradrenaline")
    first = score(case, replay(case, [A(1.0, "start_noradrenaline", 0.1),
                                      A(2.0, "apply_tourniquet")]))  # fmt: skip
    after = score(case, _expert_record(case, [A(30.0, "start_noradrenaline", 0.05)]))
    assert _item(first, "contraindicated", "start_noradrenaline") == -contra.penalty
    assert _item(after, "contraindicated", "start_noradrenaline") == 0
