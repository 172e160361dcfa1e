"""Cohort patients and comorbidities: resolution, determinism, draws, and comorbidities that act."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.education.case import Case, case_path, load_case
from healthtwin.education.comorbidities import (
    apply_comorbidities,
    check_comorbidities,
    comorbidity_ids,
    load_comorbidities,
)
from healthtwin.education.engine import Session, replay
from healthtwin.education.patients import (
    CohortMember,
    CohortSelect,
    cohort_ids,
    cohort_members,
    draw_patients,
    patient_parameters,
    seeded_patient_parameters,
)
from healthtwin.education.record import ActionTaken
from healthtwin.education.responders.glucose import GlucoseResponder
from healthtwin.education.responders.sepsis import SepsisResponder
from healthtwin.errors import InvalidParameterError, ResourceValidationError, UnknownModelError
from healthtwin.physiology.hovorka import HOVORKA_2004_TABLE1, HovorkaParameters

HYPO = load_case("hypoglycaemia")
COHORT = Path(HYPO.patient.cohort.path) if HYPO.patient.cohort else Path()
#: A small cohort for file-based cases (generation stays well under a second).
SMALL = """\
description: a small test cohort
size: 30
diabetes_comorbidity: type_1_diabetes
spec:
  name: small
  inclusion: {age_years: [20, 80], diabetes: true}
  targets: {female_fraction: 0.5}
"""


def _variant(tmp_path: Path, case_id: str, old: str, new: str) -> Path:
    text = case_path(case_id).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / f"{case_id}.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _members(seed: int = 7) -> tuple[CohortMember, ...]:
    return cohort_members(COHORT, seed)


# --- resolution --------------------------------------------------------------------------


def test_the_glucose_cases_are_members_of_the_packaged_cohort() -> None:
    assert "t1d_adults" in cohort_ids()
    for case_id in ("hypoglycaemia", "hyperglycaemia_dka"):
        source = load_case(case_id).patient.cohort
        assert source is not None
        assert source.cohort == "t1d_adults"


def test_the_member_becomes_a_concrete_patient_with_its_physiology() -> None:
    source = HYPO.patient.cohort
    assert source is not None
    member = cohort_members(COHORT, source.seed)[source.row]
    p = HYPO.patient
    assert (p.age_years, p.sex, p.weight_kg, p.height_cm) == (
        member.age_years,
        member.sex,
        member.weight_kg,
        member.height_cm,
    )
    assert 55 <= p.age_years <= 85
    assert p.sex == "female"
    assert "chronic_kidney_disease" in p.comorbidities
    # Weight and height give back the member's BMI.
    assert p.weight_kg / (p.height_cm / 100) ** 2 == pytest.approx(member.bmi_kg_m2, rel=2e-3)
    # Its own comorbidities (diabetes, hypertension...) and the case's.
    assert p.comorbidities[0] == "type_1_diabetes"
    assert p.comorbidities[-1] == "cellulitis"
    assert ("hypertension" in p.comorbidities) == member.hypertension


def test_the_cohort_twin_physiology_reaches_the_responder() -> None:
    source = HYPO.patient.cohort
    assert source is not None
    member = cohort_members(COHORT, source.seed)[source.row]
    twin_vmx_ratio = member.physiology["disposal_sensitivity_factor"]
    assert twin_vmx_ratio != pytest.approx(1.0, abs=1e-3)
    params = patient_parameters(HYPO)
    assert params["disposal_sensitivity_factor"] == twin_vmx_ratio
    state = GlucoseResponder().initial(params, HYPO.initial_state, np.random.default_rng(0))
    sid = HovorkaParameters.names().index("SID")
    sie = HovorkaParameters.names().index("SIE")
    assert state.theta[0, sid] == pytest.approx(HOVORKA_2004_TABLE1["SID"] * twin_vmx_ratio)
    assert state.theta[0, sie] == pytest.approx(
        HOVORKA_2004_TABLE1["SIE"] * member.physiology["egp_sensitivity_factor"]
    )


def _small_cohort_case(tmp_path: Path, seed: int) -> Path:
    (tmp_path / "small.yaml").write_text(SMALL, encoding="utf-8")
    path = _variant(tmp_path, "hypoglycaemia", "cohort: t1d_adults", "cohort: small.yaml")
    # The small cohort draws no kidney disease: select on age, sex and BMI only.
    text = path.read_text(encoding="utf-8")
    text = text.replace("    with_comorbidities: [chronic_kidney_disease]\n", "")
    path.write_text(text.replace("seed: 7", f"seed: {seed}"), encoding="utf-8")
    return path


def test_the_same_seed_gives_the_same_patient_and_another_seed_another(tmp_path: Path) -> None:
    assert load_case("hypoglycaemia") == HYPO
    one = load_case(_small_cohort_case(tmp_path, 1)).patient
    assert load_case(_small_cohort_case(tmp_path, 1)).patient == one
    other = load_case(_small_cohort_case(tmp_path, 2)).patient
    assert (other.age_years, other.weight_kg) != (one.age_years, one.weight_kg)
    assert 55 <= other.age_years <= 85


def test_members_are_selected_in_order() -> None:
    select = CohortSelect(
        age_years=[55, 85],
        sex="female",
        bmi_kg_m2=[18.5, 30],
        with_comorbidities=["chronic_kidney_disease"],
    )
    matching = [m for m in _members() if select.matches(m)]
    source = HYPO.patient.cohort
    assert source is not None
    assert matching[source.member].row == source.row
    assert all(55 <= m.age_years <= 85 and m.sex == "female" for m in matching)
    assert all("chronic_kidney_disease" in m.comorbidities for m in matching)


def test_a_cohort_file_next_to_the_case_is_used(tmp_path: Path) -> None:
    case = load_case(_small_cohort_case(tmp_path, 1))
    assert case.patient.cohort is not None
    assert case.patient.cohort.path == str(tmp_path / "small.yaml")
    assert 20 <= case.patient.age_years <= 80


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("cohort: t1d_adults", "cohort: martians", r"no packaged cohort 'martians'.*t1d_adults"),
        ("cohort: t1d_adults", "cohort: missing.yaml", "does not exist"),
        ("member: 0", "member: 500", "only .* member"),
        (
            "    age_years: [55, 85]",
            "    sex: male\n    age_years: [55, 85]",
            "contradicts select.sex",
        ),
        ("member: 0", "member: 0\n  weight_kg: 70", "weight_kg"),
    ],
)
def test_broken_cohort_patients_name_the_problem_and_the_line(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    path = _variant(tmp_path, "hypoglycaemia", old, new)
    with pytest.raises(ResourceValidationError, match=match) as info:
        load_case(path)
    assert "patient" in str(info.value)
    assert f"{path}:" in str(info.value)


# --- debrief draws -----------------------------------------------------------------------


def test_draws_are_other_members_matching_the_selection() -> None:
    source = HYPO.patient.cohort
    assert source is not None
    matching = [m for m in _members(source.seed) if source.select.matches(m)]
    weights = {m.weight_kg for m in matching if m.row != source.row}
    drawn = draw_patients(HYPO, 8, seed=3)
    assert drawn == draw_patients(HYPO, 8, seed=3)
    assert {d["weight_kg"] for d in drawn} <= weights
    assert len({d["weight_kg"] for d in drawn}) > 1
    # The case's own spreads still apply to what the cohort does not draw.
    assert len({d["glucagon_response_factor"] for d in drawn}) == 8


def test_inline_patients_still_draw_from_their_cv(tmp_path: Path) -> None:
    text = case_path("septic_shock").read_text(encoding="utf-8")
    block = text[text.index("patient:\n") : text.index("initial_state:")]
    inline = "patient:\n  model: sepsis\n  age_years: 67\n  sex: female\n  weight_kg: 70\n"
    inline += "  height_cm: 164\n  parameters: {infection_growth_per_min_cv: 0.3}\n"
    path = tmp_path / "inline.yaml"
    path.write_text(text.replace(block, inline), encoding="utf-8")
    case = load_case(path)
    assert case.patient.cohort is None
    drawn = draw_patients(case, 3, seed=1)
    assert len({d["infection_growth_per_min"] for d in drawn}) == 3
    assert {d["weight_kg"] for d in drawn} == {70.0}


# --- comorbidities -----------------------------------------------------------------------


def test_the_table_is_documented_and_cited() -> None:
    table = load_comorbidities()
    acting = [c for c in table.values() if c.modifiers]
    assert {c.id for c in acting} >= {"chronic_kidney_disease", "heart_failure", "beta_blocker"}
    assert all(c.references and c.description for c in acting)
    for c in acting:
        for factors in c.modifiers.values():
            assert all(name.endswith("_factor") and f > 0 for name, f in factors.items())


def test_unknown_comorbidities_are_refused_with_the_known_ids(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="heart_failure"):
        check_comorbidities(["heart failure"])
    path = _variant(tmp_path, "septic_shock", "type_2_diabetes,", "gout,")
    with pytest.raises(ResourceValidationError, match=r"'gout'.*chronic_kidney_disease") as info:
        load_case(path)
    assert "patient.comorbidities" in str(info.value)
    assert "heart_failure" in comorbidity_ids()


def test_factors_multiply_and_only_touch_their_responder() -> None:
    base = {"weight_kg": 70.0, "insulin_sensitivity_factor": 0.5}
    assert apply_comorbidities("sepsis", ["chronic_kidney_disease"], base) == base
    both = apply_comorbidities("glucose", ["obesity", "chronic_kidney_disease"], base)
    assert both["insulin_sensitivity_factor"] == pytest.approx(0.4)
    assert both["insulin_clearance_factor"] == pytest.approx(0.6)


def _minutes_below(
    case: Case, limit: float, parameters: dict[str, float] | None = None
) -> tuple[int, float]:
    glucose = replay(
        case, [ActionTaken(5.0, "give_dextrose_iv", 15.0)], parameters=parameters
    ).measures["glucose_mmol_per_l"]
    return int((glucose < limit).sum()), float(glucose[-1])


def test_kidney_disease_keeps_the_same_patient_hypoglycaemic_longer() -> None:
    # The case's patient has chronic kidney disease; the same patient without its factor.
    assert "chronic_kidney_disease" in HYPO.patient.comorbidities
    ids = [c for c in HYPO.patient.comorbidities if c != "chronic_kidney_disease"]
    base = {"weight_kg": float(HYPO.patient.weight_kg), **HYPO.patient.parameters}
    plain = apply_comorbidities("glucose", ids, base)
    below_ckd, end_ckd = _minutes_below(HYPO, 4.0)
    below, end = _minutes_below(HYPO, 4.0, plain)
    # Insulin on board is cleared more slowly: more minutes below 4 mmol/L after the same
    # glucose, and a lower glucose at the end of the hour.
    assert below_ckd >= below + 3
    assert end_ckd < end - 0.5


def _sepsis_session(comorbidities: str, tmp_path: Path) -> Session:
    old = "comorbidities: [type_2_diabetes, recurrent_urinary_tract_infection]"
    path = _variant(tmp_path, "septic_shock", old, f"comorbidities: [{comorbidities}]")
    session = Session(load_case(path), seed=0)
    session.start()
    session.act("give_crystalloid_bolus", 2000.0)
    session.advance(30.0)
    return session


def test_heart_failure_gives_less_output_and_more_congestion_for_the_same_fluid(
    tmp_path: Path,
) -> None:
    plain = _sepsis_session("type_2_diabetes", tmp_path).record().measures
    failing = _sepsis_session("type_2_diabetes, heart_failure", tmp_path).record().measures
    assert failing["map_mmhg"][-1] < plain["map_mmhg"][-1] - 5
    assert failing["cvp_mmhg"][-1] > plain["cvp_mmhg"][-1] + 1


def test_a_beta_blocker_blunts_the_tachycardia_of_blood_loss() -> None:
    r, rng = SepsisResponder(), np.random.default_rng(0)
    healthy = {"inflammation": 0.0, "lactate_mmol_per_l": 1.0, "hr_per_min": 80.0}
    rises = []
    for ids in ([], ["beta_blocker"]):
        params = apply_comorbidities("sepsis", ids, {})
        s = r.initial(params, healthy, rng)
        s = r.event(s, {"event": "haemorrhage", "volume_ml": 1200.0, "over_min": 10.0}, 0.0)
        rises.append(r.measure(r.advance(s, 0.0, 30.0, rng))["hr_per_min"] - 80.0)
    assert rises[0] > 20.0
    assert rises[1] < 0.5 * rises[0]


def test_the_seed_chooses_the_virtual_patient() -> None:
    """Seed 0 is the case's own member; another seed another member, deterministically."""
    case = load_case("septic_shock")
    assert seeded_patient_parameters(case, 0) == patient_parameters(case)
    assert seeded_patient_parameters(case, None) == patient_parameters(case)
    one, two = seeded_patient_parameters(case, 1), seeded_patient_parameters(case, 2)
    assert one == seeded_patient_parameters(case, 1)
    assert len({one["weight_kg"], two["weight_kg"], case.patient.weight_kg}) == 3
    # The session plays the patient its seed chooses: different courses, same per seed.
    courses = {s: replay(case, (), seed=s).measures["map_mmhg"] for s in (0, 1, 2)}
    assert not np.allclose(courses[0], courses[1])
    assert not np.allclose(courses[1], courses[2])
    np.testing.assert_array_equal(replay(case, (), seed=1).measures["map_mmhg"], courses[1])
    with pytest.raises(InvalidParameterError, match="seed"):
        seeded_patient_parameters(case, -1)
