"""Scoring a session against its case's rubric: exact points on hand-built records."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml

from healthtwin.education.case import Case, case_ids, case_path, load_case, parse_case
from healthtwin.education.debrief import expert_requests
from healthtwin.education.engine import replay
from healthtwin.education.record import ActionTaken, InfoRequest, Quantity, SessionRecord
from healthtwin.education.scoring import ScoreReport, measure_params, score
from healthtwin.errors import InvalidInputError


@pytest.fixture(scope="module")
def hypo() -> Case:
    return load_case("hypoglycaemia")


def _record(
    glucose: np.ndarray,
    gcs: np.ndarray,
    actions: tuple[ActionTaken, ...] = (),
    requests: tuple[InfoRequest, ...] = (),
    times: np.ndarray | None = None,
) -> SessionRecord:
    t = np.arange(glucose.size, dtype=float) if times is None else times
    return SessionRecord(
        case_id="hypoglycaemia",
        case_version=2,
        seed=0,
        actions=actions,
        requests=requests,
        times_min=t,
        measures={"glucose_mmol_per_l": glucose, "gcs": gcs},
        events=(),
        ended_min=float(t[-1]),
    )


def _points(report: ScoreReport, kind: str, ref: str) -> float:
    items = [i for i in report.items if i.kind == kind and i.ref == ref]
    assert len(items) == 1
    return float(items[0].points)


def test_a_hand_built_record_scores_exactly(hypo: Case) -> None:
    # 61 minutes: glucose 2.0 for the first 10 minutes then 5.0; GCS 12 until minute 5.
    glucose = np.where(np.arange(61) < 10, 2.0, 5.0)
    gcs = np.where(np.arange(61) < 5, 12.0, 15.0)
    actions = (
        ActionTaken(3.0, "give_oral_glucose", 15.0),  # drowsy (GCS 12 < 14): -15
        ActionTaken(5.0, "give_dextrose_iv", 15.0),  # critical within 15 min: +30
        ActionTaken(6.0, "give_insulin_sc", 6.0),  # while glucose < 4.0: -30
        ActionTaken(7.0, "give_insulin_sc", 6.0),  # repeated: still -30 once
        ActionTaken(30.0, "give_insulin_sc", 6.0),  # glucose 5.0: the planned dose, no penalty
    )
    requests = (InfoRequest(1.0, "capillary_glucose", 2.0),)  # +10
    report = score(hypo, _record(glucose, gcs, actions, requests))
    assert _points(report, "critical", "give_dextrose_iv") == 30
    assert _points(report, "information", "capillary_glucose") == 10
    assert _points(report, "information", "history_nurse") == 0
    assert _points(report, "required", "give_long_acting_carbohydrate") == 0
    assert _points(report, "contraindicated", "give_insulin_sc") == -30
    assert _points(report, "contraindicated", "give_oral_glucose") == -15
    assert _harm(report, "below") == -10  # 10 min x 1.0 per min
    assert _harm(report, "above") == 0
    assert report.harm_minutes == {"glucose_mmol_per_l": 10.0}
    assert report.final_state == {"glucose_mmol_per_l": 5.0, "gcs": 15.0}
    assert report.time_to_critical_min == {"give_dextrose_iv": 5.0}
    assert report.total == 30 + 10 - 30 - 15 - 10 + 20 + 10
    assert report.max_total == 30 + 10 + 5 + 10 + 20 + 10
    assert not report.passed


def _harm(report: ScoreReport, side: str) -> float:
    """Points of the glucose harm item ``below`` or ``above`` its limit."""
    items = [i for i in report.items if i.kind == "harm" and side in i.msgid]
    assert len(items) == 1
    return float(items[0].points)


def test_late_and_missed_critical_actions_earn_nothing(hypo: Case) -> None:
    flat = np.full(61, 5.0)
    late = score(hypo, _record(flat, flat * 3, (ActionTaken(16.0, "give_dextrose_iv", 15.0),)))
    missed = score(hypo, _record(flat, flat * 3))
    assert _points(late, "critical", "give_dextrose_iv") == 0
    assert late.time_to_critical_min == {"give_dextrose_iv": 16.0}
    assert _points(missed, "critical", "give_dextrose_iv") == 0
    assert missed.time_to_critical_min == {"give_dextrose_iv": None}


def test_a_condition_that_does_not_hold_costs_nothing(hypo: Case) -> None:
    flat = np.full(61, 5.0)
    awake = score(hypo, _record(flat, np.full(61, 15.0), (ActionTaken(3.0, "give_oral_glucose"),)))
    assert _points(awake, "contraindicated", "give_oral_glucose") == 0


def test_a_condition_is_read_where_the_engine_applied_the_action(hypo: Case) -> None:
    # Between grid minutes the engine acts on the state at the last minute (GCS 12 at
    # minute 4), not on a value interpolated towards minute 5 (GCS 15).
    gcs = np.where(np.arange(61) < 5, 12.0, 15.0)
    record = _record(np.full(61, 5.0), gcs, (ActionTaken(4.9, "give_oral_glucose"),))
    assert _points(score(hypo, record), "contraindicated", "give_oral_glucose") == -15


def test_harm_is_integrated_on_the_record_grid_and_capped(hypo: Case) -> None:
    times = np.array([0.0, 0.5, 3.0, 10.0, 60.0])
    low = np.array([2.0, 2.1, 5.0, 2.0, 5.0])  # below 2.2 on [0, 3) and [10, 60): 53 min
    report = score(hypo, _record(low, np.full(5, 15.0), times=times))
    assert report.harm_minutes["glucose_mmol_per_l"] == pytest.approx(53.0)
    assert _harm(report, "below") == -30  # capped at max_penalty
    short = np.array([2.0, 5.0, 5.0, 5.0, 5.0])
    assert score(hypo, _record(short, np.full(5, 15.0), times=times)).harm_minutes[
        "glucose_mmol_per_l"
    ] == pytest.approx(0.5)


def test_final_state_is_read_at_its_minute_or_at_the_end(hypo: Case) -> None:
    times = np.array([0.0, 50.0, 70.0])
    glucose = np.array([2.0, 3.0, 5.0])  # 60 min lies half way: 4.0, inside [4, 10]
    report = score(hypo, _record(glucose, np.full(3, 15.0), times=times))
    assert report.final_state["glucose_mmol_per_l"] == pytest.approx(4.0)
    ended = _record(np.array([2.0, 4.5]), np.array([15.0, 15.0]), times=np.array([0.0, 30.0]))
    assert score(hypo, ended).final_state["glucose_mmol_per_l"] == 4.5


def test_before_info_counts_only_until_the_result_is_shown() -> None:
    data = yaml.safe_load(case_path("hypoglycaemia").read_text(encoding="utf-8"))
    data["rubric"]["contraindicated"][0]["before_info"] = "lab_glucose"
    case = parse_case(data)
    flat = np.full(61, 3.0)  # hypoglycaemic throughout: the insulin item's `when` holds
    asked = (InfoRequest(0.0, "lab_glucose", 30.0),)
    early = _record(flat, flat * 3, (ActionTaken(20.0, "give_insulin_sc", 6.0),), asked)
    late = _record(flat, flat * 3, (ActionTaken(40.0, "give_insulin_sc", 6.0),), asked)
    assert _points(score(case, early), "contraindicated", "give_insulin_sc") == -30
    assert _points(score(case, late), "contraindicated", "give_insulin_sc") == 0


def _expert_record(case: Case) -> SessionRecord:
    steps = tuple(ActionTaken(e.at_min, e.action, e.dose) for e in case.expert)
    return replay(case, steps, requests=expert_requests(case))


@pytest.mark.parametrize("case_id", case_ids())
def test_the_expert_pathway_passes_and_doing_nothing_fails(case_id: str) -> None:
    case = load_case(case_id)
    expert = score(case, _expert_record(case))
    assert expert.passed, [(i.ref, i.points, i.max_points) for i in expert.items]
    nothing = score(case, replay(case, ()))
    assert not nothing.passed
    assert nothing.total < expert.total


@pytest.mark.parametrize("case_id", case_ids())
def test_a_contraindicated_action_costs_exactly_its_penalty(case_id: str) -> None:
    case = load_case(case_id)
    record = _expert_record(case)
    base = score(case, record)
    for contra in case.rubric.contraindicated:
        if contra.when is not None or contra.before_info is not None:
            continue
        extra = ActionTaken(record.ended_min / 2, contra.action)
        worse = score(case, dataclasses.replace(record, actions=(*record.actions, extra)))
        assert base.total - worse.total == pytest.approx(min(contra.penalty, base.total))


def test_the_report_is_json_and_names_the_reason(hypo: Case) -> None:
    flat = np.full(61, 3.0)
    record = _record(flat, flat * 5, (ActionTaken(1.0, "give_insulin_sc", 6.0),))
    doc = json.loads(score(hypo, record).to_json())
    contra = next(i for i in doc["items"] if i["ref"] == "give_insulin_sc")
    assert contra["msgid"] == hypo.rubric.contraindicated[0].reason
    final = next(i for i in doc["items"] if i["kind"] == "final_state")
    assert final["params"]["glucose"] == {"value": 3.0, "unit": "mmol/L"}


def test_measure_params_name_quantities_for_the_unit_layer() -> None:
    assert measure_params("glucose_mmol_per_l", value=4.0)["glucose"] == Quantity(4.0, "mmol/L")
    assert measure_params("ph", low=7.3)["ph_low"] == Quantity(7.3, "")
    assert measure_params("map_mmhg", value=65.0)["value"] == Quantity(65.0, "mmHg")
    assert measure_params("gcs", value=14.0)["value"] == 14.0


def test_records_of_another_case_or_lacking_a_measure_are_refused(hypo: Case) -> None:
    flat = np.full(61, 5.0)
    other = dataclasses.replace(_record(flat, flat), case_id="septic_shock")
    with pytest.raises(InvalidInputError, match="scored against 'hypoglycaemia'"):
        score(hypo, other)
    missing = dataclasses.replace(_record(flat, flat), measures={"gcs": flat})
    with pytest.raises(InvalidInputError, match="no measure 'glucose_mmol_per_l'"):
        score(hypo, missing)
