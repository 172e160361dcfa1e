"""Every shipped case's patient is a cohort member: the circulation and anaesthesia cases.

The septic-shock and trauma patients come from the emergency-department cohort, the
anaesthesia patient from the elective-surgery cohort; their covariates reach the
responders (``education/member_physiology.py``), so different members run different
courses for the same actions, and the debrief draws other members of the same selection.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from healthtwin.education.case import Case, case_path, load_case
from healthtwin.education.case_checks import cross_issues
from healthtwin.education.comorbidities import apply_comorbidities
from healthtwin.education.debrief import expert_requests
from healthtwin.education.engine import replay
from healthtwin.education.member_physiology import (
    anaesthesia_covariates,
    circulation_covariates,
    nadler_blood_volume_ml,
)
from healthtwin.education.patients import (
    CohortFile,
    CohortMember,
    cohort_ids,
    cohort_members,
    draw_patients,
    member_parameters,
    patient_parameters,
)
from healthtwin.education.record import ActionTaken, SessionRecord
from healthtwin.education.responders import canonical_kind, make_responder
from healthtwin.education.responders.sepsis import SEPSIS_DEFAULTS, SepsisResponder
from healthtwin.education.scoring import score
from healthtwin.errors import InvalidParameterError, ResourceValidationError

COHORT_CASES = {
    "septic_shock": "adult_emergency",
    "trauma_haemorrhage": "adult_emergency",
    "anaesthesia_induction": "surgical_adults",
}


def _matching(case: Case) -> list[CohortMember]:
    source = case.patient.cohort
    assert source is not None
    return [m for m in cohort_members(source.path, source.seed) if source.select.matches(m)]


def _expert_record(case: Case, parameters: dict[str, float] | None = None) -> SessionRecord:
    actions = [ActionTaken(e.at_min, e.action, e.dose) for e in case.expert]
    return replay(case, actions, requests=expert_requests(case), parameters=parameters)


def _variant(tmp_path: Path, case_id: str, old: str, new: str) -> Path:
    text = case_path(case_id).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / f"{case_id}.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# --- the cohorts ---------------------------------------------------------------------------


def test_the_new_cohorts_are_packaged_and_documented() -> None:
    assert {"adult_emergency", "surgical_adults", "t1d_adults"} <= set(cohort_ids())
    for cohort in ("adult_emergency", "surgical_adults"):
        path = case_path("septic_shock").parent.parent / "cohorts" / f"{cohort}.yaml"
        cfile = CohortFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert len(cfile.references) >= 4
        assert {"heart_failure", "chronic_kidney_disease", "beta_blocker"} <= set(
            cfile.comorbidities
        )


@pytest.mark.parametrize("cohort", ["adult_emergency", "surgical_adults"])
def test_comorbidities_rise_with_age_and_the_asa_mix_is_plausible(cohort: str) -> None:
    path = case_path("septic_shock").parent.parent / "cohorts" / f"{cohort}.yaml"
    members = cohort_members(path, seed=0)
    young = [m for m in members if m.age_years < 55]
    old = [m for m in members if m.age_years >= 70]
    assert len(young) > 100
    assert len(old) > 30

    def share(group: list[CohortMember], cid: str) -> float:
        return sum(cid in m.comorbidities for m in group) / len(group)

    for cid in ("heart_failure", "chronic_kidney_disease", "beta_blocker", "hypertension"):
        assert share(old, cid) > share(young, cid), cid
    asa = Counter(m.asa_class for m in members)
    assert set(asa) <= {1, 2, 3}
    # Most adults are ASA I-II; ASA III a minority (about 5-25 %).
    assert asa[1] + asa[2] > 0.7 * len(members)
    assert 0.05 * len(members) < asa[3] < 0.25 * len(members)
    assert all(m.asa_class == 3 for m in members if "heart_failure" in m.comorbidities)


def test_a_cohort_file_with_unknown_comorbidities_or_bad_bands_is_refused(
    tmp_path: Path,
) -> None:
    base = {"description": "d", "spec": {"name": "x"}}
    with pytest.raises(ValueError, match="gout"):
        CohortFile.model_validate(
            {**base, "comorbidities": {"gout": {"age_years": [18, 120], "prevalence": [0.1]}}}
        )
    with pytest.raises(ValueError, match="one prevalence per band"):
        CohortFile.model_validate(
            {
                **base,
                "comorbidities": {
                    "heart_failure": {"age_years": [18, 60, 120], "prevalence": [0.1]}
                },
            }
        )


# --- the shipped cases' patients ---------------------------------------------------------------


@pytest.mark.parametrize(("case_id", "cohort"), COHORT_CASES.items())
def test_the_case_patient_is_a_member_with_the_cases_clinical_picture(
    case_id: str, cohort: str
) -> None:
    case = load_case(case_id)
    source = case.patient.cohort
    assert source is not None
    assert source.cohort == cohort
    member = next(m for m in _matching(case) if m.row == source.row)
    p = case.patient
    assert (p.age_years, p.sex, p.weight_kg, p.height_cm) == (
        member.age_years,
        member.sex,
        member.weight_kg,
        member.height_cm,
    )
    drawn = member_parameters(p.model, member)
    assert drawn
    assert all(p.parameters[k] == v for k, v in drawn.items())
    if case_id == "trauma_haemorrhage":
        assert p.model == "circulation"
        assert p.sex == "male"
        assert 18 <= p.age_years <= 45
        assert 70 <= p.weight_kg <= 90
        assert p.comorbidities == []
    elif case_id == "septic_shock":
        assert p.sex == "female"
        assert 60 <= p.age_years <= 80
        assert {"type_2_diabetes", "recurrent_urinary_tract_infection"} <= set(p.comorbidities)
        assert "beta_blocker" in p.comorbidities  # the teaching point (blunted tachycardia)
        assert "heart_failure" not in p.comorbidities
    else:
        assert p.sex == "male"
        assert 65 <= p.age_years <= 80
        assert {"hypertension", "chronic_kidney_disease"} <= set(p.comorbidities)


def test_a_selection_naming_an_unknown_comorbidity_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, "trauma_haemorrhage", "[heart_failure, beta_blocker,", "[gout,")
    with pytest.raises(ResourceValidationError, match="'gout'") as info:
        load_case(path)
    assert "patient" in str(info.value)


def test_the_resolved_patient_is_deterministic_per_seed(tmp_path: Path) -> None:
    trauma = load_case("trauma_haemorrhage")
    assert load_case("trauma_haemorrhage") == trauma
    other = load_case(_variant(tmp_path, "trauma_haemorrhage", "seed: 3", "seed: 11")).patient
    assert (other.age_years, other.weight_kg) != (
        trauma.patient.age_years,
        trauma.patient.weight_kg,
    )
    assert other.sex == "male"
    assert 18 <= other.age_years <= 45


@pytest.mark.parametrize("case_id", list(COHORT_CASES))
def test_another_member_runs_a_different_course_and_the_expert_still_passes(
    case_id: str,
) -> None:
    case = load_case(case_id)
    source = case.patient.cohort
    assert source is not None
    own = {k: v for k, v in case.patient.parameters.items() if k not in source.drawn_parameters}
    member = next(m for m in _matching(case) if m.row != source.row)
    ids = [*member.comorbidities, *source.case_comorbidities]
    base = {"weight_kg": member.weight_kg, **member_parameters(case.patient.model, member)}
    params = apply_comorbidities(case.patient.model, ids, {**base, **own})
    mine, theirs = _expert_record(case), _expert_record(case, params)
    assert score(case, mine).passed
    assert score(case, theirs).passed
    measure = "bis" if case_id == "anaesthesia_induction" else "map_mmhg"
    gap = np.abs(mine.measures[measure] - theirs.measures[measure]).max()
    assert gap > 0.5, (case_id, gap)


def test_the_debrief_draws_other_members_of_the_same_selection() -> None:
    for case_id in COHORT_CASES:
        case = load_case(case_id)
        source = case.patient.cohort
        assert source is not None
        key = "age_years" if case_id == "anaesthesia_induction" else "blood_volume_ml_per_kg"
        others = {
            (m.weight_kg, round(member_parameters(case.patient.model, m)[key], 9))
            for m in _matching(case)
            if m.row != source.row
        }
        drawn = draw_patients(case, 6, seed=2)
        assert drawn == draw_patients(case, 6, seed=2)
        assert {(d["weight_kg"], round(d[key], 9)) for d in drawn} <= others
        assert len({d["weight_kg"] for d in drawn}) > 1


# --- covariates ------------------------------------------------------------------------------


def test_nadler_gives_textbook_blood_volumes() -> None:
    # About 70 mL/kg for an average man and 65 mL/kg for an average woman.
    assert 66 <= nadler_blood_volume_ml(175, 75, "male") / 75 <= 72
    assert 58 <= nadler_blood_volume_ml(162, 60, "female") / 60 <= 66
    with pytest.raises(InvalidParameterError, match="weight_kg"):
        nadler_blood_volume_ml(175, 0, "male")


def test_size_scales_capacities_but_not_pressures() -> None:
    r, rng = SepsisResponder(), np.random.default_rng(0)
    healthy = {"inflammation": 0.0, "lactate_mmol_per_l": 1.0, "hr_per_min": 80.0}
    small = circulation_covariates(40.0, "female", 55.0, 160.0)
    large = circulation_covariates(40.0, "male", 95.0, 188.0)
    states = {
        name: r.initial({"weight_kg": w, **p}, healthy, rng)
        for name, w, p in (("small", 55.0, small), ("large", 95.0, large))
    }
    vitals = {k: r.measure(s) for k, s in states.items()}
    assert vitals["small"]["map_mmhg"] == pytest.approx(vitals["large"]["map_mmhg"], abs=1.0)
    outputs = {k: SepsisResponder.cardiac_output_l_per_min(s) for k, s in states.items()}
    assert outputs["large"] > 1.4 * outputs["small"]
    # The same litre of blood is a larger share of the smaller circulation.
    bled = {
        k: r.advance(r.event(s, {"event": "haemorrhage", "volume_ml": 1000.0}, 0.0), 0, 30, rng)
        for k, s in states.items()
    }
    assert r.measure(bled["small"])["hr_per_min"] > r.measure(bled["large"])["hr_per_min"] + 5


def test_cardiac_reserve_declines_with_age_and_heart_failure_multiplies_it() -> None:
    young = circulation_covariates(25.0, "male", 75.0, 178.0)["cardiac_reserve_factor"]
    old = circulation_covariates(80.0, "male", 75.0, 178.0)["cardiac_reserve_factor"]
    assert young > 1.0 > old
    assert old == pytest.approx((208 - 0.7 * 80) / (208 - 0.7 * 40))
    member = CohortMember(0, 80.0, "male", 75.0, 178.0, 23.7, 5.4, False, ("heart_failure",), {})
    params = apply_comorbidities(
        "circulation", member.comorbidities, member_parameters("circulation", member)
    )
    assert params["cardiac_reserve_factor"] == pytest.approx(0.6 * old)


def test_the_anaesthesia_covariates_reproduce_the_hand_set_values_and_follow_age() -> None:
    nominal = anaesthesia_covariates(72.0, "male", 172.0, hypertension=True)
    # The values once set by hand for the case's 72-year-old hypertensive patient.
    assert nominal["propofol_c50_scale"] == pytest.approx(0.8, abs=0.015)
    assert nominal["map_drop_scale"] == pytest.approx(1.6, abs=0.02)
    assert nominal["propofol_c50_scale"] == pytest.approx(math.exp(-0.00635 * (72 - 35)))
    young = anaesthesia_covariates(30.0, "female", 165.0, hypertension=False)
    assert young["propofol_c50_scale"] > 1.0
    assert young["map_drop_scale"] == 1.0
    # An older patient sleeps deeper after the same propofol.
    r, rng = make_responder("anaesthesia"), np.random.default_rng(0)
    bis = []
    for covariates in (young, nominal):
        s = r.initial({"weight_kg": 75.0, **covariates}, {}, rng)
        s = r.apply(s, {"type": "propofol_bolus"}, 100.0, 0.0)
        bis.append(r.measure(r.advance(s, 0.0, 3.0, rng))["bis"])
    assert bis[1] < bis[0] - 3


# --- the circulation alias, the drug layer, the split-out checks -----------------------------


def test_circulation_is_an_alias_of_the_sepsis_responder() -> None:
    assert canonical_kind("circulation") == "sepsis"
    assert isinstance(make_responder("circulation"), SepsisResponder)
    trauma = load_case("trauma_haemorrhage")
    assert trauma.patient.model == "circulation"
    assert {k.removesuffix("_cv") for k in patient_parameters(trauma)} <= set(SEPSIS_DEFAULTS)
    assert apply_comorbidities("circulation", ["beta_blocker"], {}) == apply_comorbidities(
        "sepsis", ["beta_blocker"], {}
    )


def test_the_trauma_case_names_its_drugs() -> None:
    drugs = {a.id: a.drug for a in load_case("trauma_haemorrhage").actions}
    assert drugs["give_tranexamic_acid"] == "tranexamic_acid"
    assert drugs["transfuse_red_cells"] == "red_cell_concentrate"


def test_the_cross_checks_live_in_their_own_module(tmp_path: Path) -> None:
    assert list(cross_issues(load_case("trauma_haemorrhage"))) == []
    path = _variant(
        tmp_path,
        "trauma_haemorrhage",
        "  - {at_min: 1, action: apply_tourniquet}",
        "  - {at_min: 1, action: apply_turnstile}",
    )
    with pytest.raises(ResourceValidationError, match="'apply_turnstile' is not a defined id"):
        load_case(path)


# --- comorbidities that teach (issue 16, item 5) ---------------------------------------------


def _without(case: Case, comorbidity: str) -> dict[str, float]:
    """The case's own patient with one comorbidity's factors taken away."""
    ids = [c for c in case.patient.comorbidities if c != comorbidity]
    assert len(ids) == len(case.patient.comorbidities) - 1
    base = {"weight_kg": float(case.patient.weight_kg), **case.patient.parameters}
    return apply_comorbidities(case.patient.model, ids, base)


def test_the_septic_patient_on_a_beta_blocker_hides_her_shock() -> None:
    case = load_case("septic_shock")
    assert "beta_blocker" in case.patient.comorbidities
    assert case.patient.cohort is not None
    assert "beta_blocker" in case.patient.cohort.select.with_comorbidities
    assert patient_parameters(case)["hr_response_factor"] == pytest.approx(0.4)
    assert all(d["hr_response_factor"] == pytest.approx(0.4) for d in draw_patients(case, 4, 1))
    assert any("bisoprolol" in n.text for n in case.narrative)
    untreated = replay(case, ())
    plain = replay(case, (), parameters=_without(case, "beta_blocker"))
    hr, map_ = "hr_per_min", "map_mmhg"
    # Blunted tachycardia: a slower pulse for the same (or a worse) shock.
    assert untreated.measures[hr][30] < plain.measures[hr][30] - 10.0
    assert untreated.measures[map_][30] <= plain.measures[map_][30]
    assert score(case, _expert_record(case)).passed


def test_the_hypoglycaemic_patient_with_kidney_disease_clears_insulin_slowly() -> None:
    case = load_case("hypoglycaemia")
    assert "chronic_kidney_disease" in case.patient.comorbidities
    assert case.patient.cohort is not None
    assert "chronic_kidney_disease" in case.patient.cohort.select.with_comorbidities
    assert patient_parameters(case)["insulin_clearance_factor"] == pytest.approx(0.6)
    draws = draw_patients(case, 4, 1)
    assert all(d["insulin_clearance_factor"] == pytest.approx(0.6) for d in draws)
    assert any("kidney" in n.text for n in case.narrative)
    first = [e for e in case.expert if e.action != "give_long_acting_carbohydrate"]
    actions = [ActionTaken(e.at_min, e.action, e.dose) for e in first]
    actions.append(ActionTaken(20.0, "give_long_acting_carbohydrate", 20.0))
    kidney = replay(case, actions)
    plain = replay(case, actions, parameters=_without(case, "chronic_kidney_disease"))
    g = "glucose_mmol_per_l"
    # The insulin acts for longer: after the same treatment the glucose falls again.
    assert kidney.measures[g][60] < plain.measures[g][60] - 0.5
    assert kidney.measures[g][60] < 4.0 <= plain.measures[g][60]
    assert score(case, _expert_record(case)).passed
