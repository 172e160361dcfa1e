"""The case format: shipped cases load, broken ones fail naming the field and its YAML line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from healthtwin.education.case import (
    Case,
    case_ids,
    case_path,
    learner_strings,
    load_case,
    measure_unit,
)
from healthtwin.errors import InvalidInputError, ResourceValidationError, UnknownModelError

SHIPPED = (
    "anaesthesia_induction",
    "hyperglycaemia_dka",
    "hypoglycaemia",
    "septic_shock",
    "trauma_haemorrhage",
)


def _variant(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The hypoglycaemia case with ``old`` replaced by ``new``, and the 1-based line of it."""
    text = case_path("hypoglycaemia").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path, line


def _error(path: Path) -> ResourceValidationError:
    with pytest.raises(ResourceValidationError) as info:
        load_case(path)
    return info.value


@pytest.mark.parametrize("case_id", SHIPPED)
def test_every_shipped_case_loads_by_id_and_by_path(case_id: str) -> None:
    assert case_id in case_ids()
    case = load_case(case_id)
    assert isinstance(case, Case)
    assert case.id == case_id
    assert load_case(case_path(case_id)) == case
    assert case.references
    assert case.expert


def test_unknown_case_id_lists_the_shipped_ones() -> None:
    with pytest.raises(UnknownModelError, match="hypoglycaemia"):
        case_path("no_such_case")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_case(Path("/nonexistent/case.yaml"))


def test_not_yaml_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_case(path)


def test_dose_default_outside_its_range_names_field_and_line(tmp_path: Path) -> None:
    path, line = _variant(
        tmp_path,
        "dose: {unit: g, default: 15, min: 5, max: 30}",
        "dose: {unit: g, default: 45, min: 5, max: 30}",
    )
    err = _error(path)
    assert f"broken.yaml:{line}:" in str(err)
    assert "actions.0.dose" in str(err)
    assert "outside [min, max]" in str(err)
    assert err.issues[0].path.startswith("actions.0.dose")


def test_unknown_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    path, line = _variant(tmp_path, "duration_min: 60", "duration_min: 60\ndurations: 3")
    err = _error(path)
    assert "durations" in str(err)
    assert f"(line {line + 1})" in str(err)


def test_rubric_referring_to_a_missing_action_is_caught(tmp_path: Path) -> None:
    path, line = _variant(
        tmp_path,
        "- {action: give_dextrose_iv, any_of: [give_glucagon_im], within_min: 15, points: 30}",
        "- {action: give_dextrose_ivv, any_of: [give_glucagon_im], within_min: 15, points: 30}",
    )
    err = _error(path)
    assert f"broken.yaml:{line}:" in str(err)
    assert "rubric.critical_actions.0.action" in str(err)
    assert "'give_dextrose_ivv' is not a defined id" in str(err)


def test_expert_dose_outside_the_action_range_is_caught(tmp_path: Path) -> None:
    path, line = _variant(
        tmp_path,
        "{at_min: 20, action: give_long_acting_carbohydrate, dose: 20}",
        "{at_min: 20, action: give_long_acting_carbohydrate, dose: 100}",
    )
    err = _error(path)
    assert f"broken.yaml:{line}:" in str(err)
    assert "expert.1.dose" in str(err)
    assert "outside [10, 40] g" in str(err)


def test_measure_the_responder_does_not_report_is_caught(tmp_path: Path) -> None:
    path, line = _variant(
        tmp_path,
        "measure: glucose_mmol_per_l\n    turnaround_min: 30",
        "measure: lactate_mmol_per_l\n    turnaround_min: 30",
    )
    err = _error(path)
    assert f"(line {line})" in str(err)
    assert "'lactate_mmol_per_l' is not reported by the 'glucose' responder" in str(err)


def test_effect_the_responder_rejects_is_caught_by_the_dry_run(tmp_path: Path) -> None:
    path, line = _variant(
        tmp_path,
        "effect: {input: glucagon_mg}",
        "effect: {input: glucagon_ug}",
    )
    err = _error(path)
    assert "actions.1.effect" in str(err)
    assert f"(line {line})" in str(err)


def test_unknown_responder_kind_is_named(tmp_path: Path) -> None:
    path, line = _variant(tmp_path, "model: glucose", "model: kidney")
    err = _error(path)
    assert "patient.model" in str(err)
    assert "unknown responder kind 'kidney'" in str(err)
    assert f"(line {line})" in str(err)


def test_missing_required_fields_are_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("id: demo\nversion: 1\n", encoding="utf-8")
    err = _error(path)
    for field in ("title", "patient", "rubric", "expert", "duration_min"):
        assert any(i.path == field for i in err.issues), field


def test_learner_strings_are_exactly_the_learner_keys_in_order() -> None:
    case = load_case("hypoglycaemia")
    strings = learner_strings(case)
    assert strings[:2] == [case.title, case.summary]
    assert case.actions[0].label in strings
    assert case.information[0].text in strings
    assert case.rubric.contraindicated[0].reason in strings
    assert case.narrative[0].text in strings
    assert not any(ref.citation in strings for ref in case.references)
    assert "give_dextrose_iv" not in strings
    assert len(strings) == len(set(strings))
    assert learner_strings(load_case("hypoglycaemia")) == strings


def test_timeline_text_is_a_learner_string() -> None:
    case = load_case("hyperglycaemia_dka")
    assert "{name} vomits again." in learner_strings(case)


QUANTITY = re.compile(r"\d\s*(?:mmol|mg|g\b|mL|ml\b|U\b|%|kg|mmHg|min\b|h\b)")


@pytest.mark.parametrize("case_id", ["hypoglycaemia", "hyperglycaemia_dka"])
def test_learner_strings_hold_no_inline_quantities(case_id: str) -> None:
    for text in learner_strings(load_case(case_id)):
        assert not QUANTITY.search(text), text


def test_measure_units_follow_the_name() -> None:
    assert measure_unit("potassium_mmol_per_l") == "mmol/L"
    assert measure_unit("map_mmhg") == "mmHg"
    assert measure_unit("urine_ml_per_h") == "mL/h"
    assert measure_unit("temp_c") == "degC"
    assert measure_unit("gcs") == "1"
    with pytest.raises(InvalidInputError, match="no unit suffix"):
        measure_unit("glucose")


INLINE_PATIENT = """\
patient:
  model: sepsis
  age_years: 67
  sex: female
  weight_kg: 70
  height_cm: 164
  comorbidities: [type_2_diabetes]
  parameters: {infection_growth_per_min_cv: 0.3}
"""


def test_inline_and_cohort_patients_both_load(tmp_path: Path) -> None:
    text = case_path("septic_shock").read_text(encoding="utf-8")
    block = text[text.index("patient:\n") : text.index("initial_state:")]
    path = tmp_path / "inline.yaml"
    path.write_text(text.replace(block, INLINE_PATIENT), encoding="utf-8")
    inline, cohort = load_case(path).patient, load_case("hypoglycaemia").patient
    assert inline.cohort is None
    assert inline.weight_kg == 70
    assert cohort.cohort is not None
    assert cohort.cohort.cohort == "t1d_adults"
    # Every shipped case takes its patient from a virtual cohort.
    assert all(load_case(c).patient.cohort is not None for c in SHIPPED)


def test_an_unknown_comorbidity_is_refused_at_its_line(tmp_path: Path) -> None:
    path, line = _variant(tmp_path, "comorbidities: [cellulitis]", "comorbidities: [celulitis]")
    err = _error(path)
    assert f"(line {line})" in str(err)
    assert "'celulitis'" in str(err)
    assert "cellulitis" in str(err).split("known ids are", 1)[1]
