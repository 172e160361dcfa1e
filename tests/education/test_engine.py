"""The play engine: determinism, disclosure, turnaround, narrative, errors, end of case."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.education.case import load_case
from healthtwin.education.engine import (
    ENGINE_MESSAGES,
    MSG_CASE_ENDED,
    MSG_PATIENT_DIED,
    MSG_RESULT_PENDING,
    Session,
    replay,
)
from healthtwin.education.record import ActionTaken, Quantity, SessionRecord
from healthtwin.errors import InvalidInputError

HYPO = load_case("hypoglycaemia")
DKA = load_case("hyperglycaemia_dka")


def _played() -> Session:
    """A hypoglycaemia session played in irregular chunks of time."""
    s = Session(HYPO, seed=3)
    s.start()
    s.request("history_nurse")
    s.advance(0.5)
    s.request("capillary_glucose")
    s.advance(1.25)
    s.act("give_dextrose_iv", 15.0)
    s.request("lab_glucose")
    s.advance(7.0)
    s.advance(3.3)
    s.act("give_dextrose_iv", 10.0)
    s.advance(10)
    s.act("give_long_acting_carbohydrate")
    s.advance(4.95)
    return s


def test_replay_of_a_played_session_gives_the_identical_record() -> None:
    rec = _played().record()
    again = replay(HYPO, rec.actions, seed=rec.seed, requests=rec.requests, until_min=rec.ended_min)
    assert again.to_json() == rec.to_json()
    assert SessionRecord.from_json(rec.to_json()).to_json() == rec.to_json()


def test_how_time_is_chunked_does_not_change_the_course() -> None:
    one = Session(HYPO)
    one.start()
    one.advance(20)
    two = Session(HYPO)
    two.start()
    for _ in range(8):
        two.advance(2.5)
    a, b = one.record(), two.record()
    np.testing.assert_array_equal(a.times_min, b.times_min)
    for name in a.measures:
        np.testing.assert_array_equal(a.measures[name], b.measures[name])


def test_different_seeds_and_patients_differ_only_through_parameters() -> None:
    base = replay(HYPO, [], until_min=10)
    other = replay(HYPO, [], until_min=10, parameters={"weight_kg": 68.0, "egp_factor": 2.0})
    assert other.measures["glucose_mmol_per_l"][-1] > base.measures["glucose_mmol_per_l"][-1]


def test_every_measure_is_recorded_every_minute() -> None:
    rec = replay(HYPO, [ActionTaken(2.0, "give_dextrose_iv", 15.0)])
    np.testing.assert_array_equal(rec.times_min, np.arange(0.0, 61.0))
    assert set(rec.measures) >= {"glucose_mmol_per_l", "gcs", "hr_per_min"}
    assert all(v.shape == (61,) for v in rec.measures.values())
    assert rec.ended_min == 60.0


def test_start_opens_with_the_summary_and_minute_zero_narrative() -> None:
    s = Session(HYPO)
    opening = s.start()
    assert opening[0].msgid == HYPO.summary
    assert HYPO.narrative[0].text in [m.msgid for m in opening]
    with pytest.raises(InvalidInputError, match="already started"):
        s.start()


def test_lab_result_arrives_only_after_its_turnaround_with_the_value_at_request() -> None:
    s = Session(HYPO)
    s.start()
    ack = s.request("lab_glucose")
    assert [m.kind for m in ack] == ["info", "info"]
    assert ack[1].msgid == MSG_RESULT_PENDING
    assert ack[1].params["wait_min"] == 30.0
    s.act("give_dextrose_iv")
    early = s.advance(29.0)
    assert not [m for m in early if m.kind == "result"]
    late = [m for m in s.advance(1.0) if m.kind == "result"]
    assert len(late) == 1
    assert late[0].t_min == 30.0
    value = late[0].params["glucose_mmol_per_l"]
    assert isinstance(value, Quantity)
    assert value == Quantity(2.3, "mmol/L")
    assert s.record().requests[0].ready_min == 30.0


def test_history_is_answered_at_once() -> None:
    s = Session(HYPO)
    s.start()
    out = s.request("history_nurse")
    assert out[-1].kind == "result"
    assert out[-1].msgid == HYPO.info("history_nurse").text


def test_progressive_disclosure_by_requirement_and_by_time() -> None:
    s = Session(HYPO)
    s.start()
    assert "history_relative" not in [i.id for i in s.available_information()]
    with pytest.raises(InvalidInputError, match=r"needs \['history_nurse'\] disclosed"):
        s.request("history_relative")
    s.request("history_nurse")
    assert "history_relative" in [i.id for i in s.available_information()]
    assert s.request("history_relative")[-1].kind == "result"

    d = Session(DKA)
    d.start()
    assert "urine_output" not in [i.id for i in d.available_information()]
    with pytest.raises(InvalidInputError, match="minute >= 60"):
        d.request("urine_output")
    d.advance(60)
    assert d.request("urine_output")[-1].params["urine_ml_per_h"].unit == "mL/h"  # type: ignore[union-attr]


def test_invalid_actions_and_doses_say_what_is_allowed() -> None:
    s = Session(HYPO)
    s.start()
    with pytest.raises(InvalidInputError, match="has no action 'give_morphine'; actions are"):
        s.act("give_morphine")
    with pytest.raises(InvalidInputError, match="outside the allowed range 5-30 g"):
        s.act("give_dextrose_iv", 45.0)
    with pytest.raises(InvalidInputError, match="finite number"):
        s.act("give_dextrose_iv", float("nan"))
    with pytest.raises(InvalidInputError, match="has no information 'ct_head'"):
        s.request("ct_head")
    with pytest.raises(InvalidInputError, match="positive number"):
        s.advance(0)
    assert s.record().actions == ()


def test_action_feedback_carries_label_dose_and_drug() -> None:
    s = Session(HYPO)
    s.start()
    (msg,) = s.act("give_glucagon_im")
    assert msg.kind == "feedback"
    assert msg.msgid == HYPO.action("give_glucagon_im").label
    assert msg.params["dose"] == Quantity(1.0, "mg")
    assert msg.params["drug"] == "drug:glucagon"
    assert s.record().actions == (ActionTaken(0.0, "give_glucagon_im", 1.0),)


def test_narrative_triggers_fire_once() -> None:
    s = Session(HYPO)
    s.start()
    s.act("give_dextrose_iv", 30.0)
    out = s.advance(30)
    s.act("give_dextrose_iv", 30.0)
    out += s.advance(29)
    awake = HYPO.narrative[1].text
    assert [m.msgid for m in out].count(awake) == 1


def test_timeline_events_fire_and_are_recorded() -> None:
    s = Session(DKA)
    s.start()
    out = s.advance(45)
    assert (40.0, "fluid_loss") in s.record().events
    assert "{name} vomits again." in [m.msgid for m in out]


def test_the_case_ends_at_its_duration() -> None:
    s = Session(HYPO)
    s.start()
    out = s.advance(500)
    assert s.finished
    assert s.now_min == 60.0
    assert out[-1].msgid == MSG_CASE_ENDED
    with pytest.raises(InvalidInputError, match="session has finished"):
        s.act("give_dextrose_iv")


def test_death_ends_the_session() -> None:
    # A patient found later: glucose already 1.2 mmol/L under high insulin.
    found_late = {"glucose_mmol_per_l": 1.2, "plasma_insulin_mu_per_l": 40.0}
    case = HYPO.model_copy(update={"initial_state": found_late})
    s = Session(case)
    s.start()
    s.act("give_insulin_sc", 20.0)
    out = s.advance(60)
    assert s.dead
    assert s.finished
    assert out[-1].msgid == MSG_PATIENT_DIED
    assert s.now_min < 60.0
    rec = s.record()
    assert rec.ended_min == s.now_min
    assert rec.times_min[-1] == s.now_min
    again = replay(case, rec.actions, until_min=60.0)
    assert again.to_json() == rec.to_json()


def test_vitals_are_the_monitor_in_canonical_units() -> None:
    s = Session(DKA)
    s.start()
    vitals = s.vitals()
    assert list(vitals) == list(DKA.monitor)
    assert vitals["hr_per_min"].unit == "/min"
    assert vitals["map_mmhg"].unit == "mmHg"
    assert vitals["hr_per_min"].value > 100


def test_engine_message_ids_are_exported() -> None:
    assert set(ENGINE_MESSAGES) == {MSG_CASE_ENDED, MSG_PATIENT_DIED, MSG_RESULT_PENDING}


def test_a_haemorrhage_event_plays_out_and_a_tourniquet_stops_it() -> None:
    case = load_case("trauma_haemorrhage")
    bleeding = Session(case, seed=0)
    opening = bleeding.start()
    assert case.timeline[0].params["text"] in [m.msgid for m in opening]
    hr0 = bleeding.vitals()["hr_per_min"].value
    bleeding.advance(20)
    stopped = Session(case, seed=0)
    stopped.start()
    stopped.act("apply_tourniquet")
    stopped.advance(20)
    assert bleeding.vitals()["hr_per_min"].value > hr0 + 20
    assert bleeding.vitals()["sbp_mmhg"].value < stopped.vitals()["sbp_mmhg"].value - 20
    stopped.act("transfuse_red_cells", 1000.0)
    stopped.advance(30)
    assert stopped.vitals()["hr_per_min"].value < hr0 - 20
    assert not bleeding.dead
