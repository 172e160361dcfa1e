"""Grading that cannot be fooled: replay verification, death as an outcome, xAPI attempts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
import yaml

from healthtwin.education.case import Case, case_path, load_case, parse_case
from healthtwin.education.engine import replay
from healthtwin.education.record import ActionTaken, SessionRecord
from healthtwin.education.scoring import score
from healthtwin.education.verify import verified_record
from healthtwin.education.xapi import xapi_statements
from healthtwin.errors import InvalidInputError

A = ActionTaken


@pytest.fixture(scope="module")
def hypo() -> Case:
    return load_case("hypoglycaemia")


@pytest.fixture(scope="module")
def played(hypo: Case) -> SessionRecord:
    return replay(
        hypo,
        [A(2.0, "give_dextrose_iv", 20.0), A(20.0, "give_long_acting_carbohydrate", 20.0),
         A(35.0, "give_long_acting_carbohydrate", 20.0)],
    )  # fmt: skip


# --- 1. the grader replays the actions -----------------------------------------------


def test_an_honest_record_is_verified_and_keeps_its_start(
    hypo: Case, played: SessionRecord
) -> None:
    stamped = dataclasses.replace(played, started_at="2026-03-01T09:30:00+00:00")
    again = verified_record(hypo, SessionRecord.from_json(stamped.to_json()))
    assert again.started_at == stamped.started_at
    assert np.array_equal(
        again.measures["glucose_mmol_per_l"], played.measures["glucose_mmol_per_l"]
    )
    assert score(hypo, again).passed


def test_a_record_with_its_actions_deleted_is_refused(hypo: Case, played: SessionRecord) -> None:
    # The reviewer's exploit: keep the good measures, delete every action.
    tampered = dataclasses.replace(played, actions=())
    assert score(hypo, tampered).total > 0  # what scoring the stored measures would give
    with pytest.raises(InvalidInputError, match="does not match a replay"):
        verified_record(hypo, tampered)


def test_a_record_with_an_edited_measure_or_event_is_refused(
    hypo: Case, played: SessionRecord
) -> None:
    glucose = played.measures["glucose_mmol_per_l"].copy()
    glucose[-1] = 6.0
    edited = dataclasses.replace(
        played, measures={**played.measures, "glucose_mmol_per_l": glucose}
    )
    with pytest.raises(InvalidInputError, match="measure 'glucose_mmol_per_l' differs"):
        verified_record(hypo, edited)
    with pytest.raises(InvalidInputError, match="timeline events differ"):
        verified_record(hypo, dataclasses.replace(played, events=()))
    with pytest.raises(InvalidInputError, match="cannot be replayed"):
        verified_record(hypo, dataclasses.replace(played, actions=(A(1.0, "give_magic"),)))


def test_round_off_is_not_tampering(hypo: Case, played: SessionRecord) -> None:
    nudged = {k: v * (1.0 + 1e-13) for k, v in played.measures.items()}
    assert verified_record(hypo, dataclasses.replace(played, measures=nudged)).ended_min == 60.0


# --- 2. death fails the case -------------------------------------------------------------


def test_a_dka_death_fails_whatever_else_was_done() -> None:
    case = load_case("hyperglycaemia_dka")
    expert = [A(e.at_min, e.action, e.dose) for e in case.expert]
    overdose = [A(20.0, "give_insulin_bolus", 20.0), A(21.0, "give_insulin_bolus", 20.0),
                A(22.0, "start_fixed_rate_insulin", 20.0)]  # fmt: skip
    record = replay(case, [*expert, *overdose])
    assert record.died_min is not None
    assert record.died_min < case.duration_min
    report = score(case, record)
    assert report.died
    assert report.death_min == record.died_min
    assert report.total == 0
    assert not report.passed
    assert all(i.points == 0 for i in report.items if i.kind == "final_state")
    death = [i for i in report.items if i.kind == "death"]
    assert len(death) == 1
    assert death[0].points == -report.max_total
    assert report.to_dict()["died"] is True
    # The same pathway without the overdose survives and passes.
    assert score(case, replay(case, expert)).passed


def test_a_hypoglycaemia_death_fails() -> None:
    # In the shipped 60-minute case the glucose responder's death (45 min below 1.5 mmol/L)
    # cannot happen; a 90-minute variant lets an insulin overdose kill.
    data = yaml.safe_load(case_path("hypoglycaemia").read_text(encoding="utf-8"))
    data["duration_min"] = 90
    case = parse_case(data)
    record = replay(case, [A(0.0, "give_insulin_sc", 20.0), A(1.0, "give_insulin_sc", 20.0)])
    assert record.died_min is not None
    assert record.died_min < 90
    report = score(case, record)
    assert report.died
    assert not report.passed
    assert report.total == 0
    # Every final-state item is forfeited, even one due (minute 60) before the death.
    assert {i.msgid for i in report.items if i.kind == "final_state"} == {
        "Not reached: the patient died at minute {time_min}."
    }


def test_old_records_without_death_fields_still_load(played: SessionRecord) -> None:
    text = played.to_json()
    assert "died_min" not in text
    assert "started_at" not in text
    assert SessionRecord.from_json(text).died_min is None


# --- 4. xAPI attempts --------------------------------------------------------------------


def _ids(case: Case, record: SessionRecord, **kw: object) -> list[str]:
    st = xapi_statements(case, record, score(case, record), actor_mbox="ana@example.org", **kw)  # type: ignore[arg-type]
    return [s["id"] for s in st]


def test_two_attempts_never_share_statement_ids(hypo: Case, played: SessionRecord) -> None:
    first = dataclasses.replace(played, started_at="2026-03-01T09:30:00+00:00")
    second = dataclasses.replace(played, started_at="2026-03-01T10:15:00+00:00")
    other_seed = replay(hypo, played.actions, seed=1)
    other_moves = replay(hypo, played.actions[:1])
    ids = [set(_ids(hypo, r)) for r in (first, second, other_seed, other_moves)]
    for k, a in enumerate(ids):
        for b in ids[k + 1 :]:
            assert not a & b
    # One attempt exported twice gives the same ids (an LRS de-duplicates them).
    assert _ids(hypo, first) == _ids(hypo, SessionRecord.from_json(first.to_json()))
    # The record's start is used for timestamps; an explicit start still wins.
    st = xapi_statements(hypo, first, score(hypo, first), actor_mbox="ana@example.org")
    assert st[0]["timestamp"] == "2026-03-01T09:30:00.000Z"
    later = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    assert _ids(hypo, first, started_at=later) != _ids(hypo, first)


def test_the_case_description_is_capitalised_only_at_sentence_starts(
    hypo: Case, played: SessionRecord
) -> None:
    st = xapi_statements(hypo, played, score(hypo, played), actor_mbox="ana@example.org")
    text = st[0]["object"]["definition"]["description"]["en"]
    assert text.startswith("The patient, who has type 1 diabetes")
    assert "calls you because the patient is sweaty" in text
