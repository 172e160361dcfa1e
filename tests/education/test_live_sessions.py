"""Live training sessions: started, played, ended, kept in the store and graded again."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from healthtwin.education.learner_errors import LearnerConflictError
from healthtwin.education.live_sessions import (
    SESSION_MODEL,
    EducationRegistry,
    EducationSession,
    finish_session,
    finished_session,
    graded_again,
    record_key,
    stored_session,
)
from healthtwin.education.session_views import report_doc, session_state
from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.store import Store, open_store


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite://") as opened:
        yield opened


@pytest.fixture(scope="module")
def registry() -> EducationRegistry:
    return EducationRegistry()


def _played(registry: EducationRegistry, locale: str = "de") -> EducationSession:
    session = registry.start("hypoglycaemia", seed=3, locale=locale)
    session.play(lambda engine: engine.request("capillary_glucose"))
    session.play(lambda engine: engine.advance(4.0))
    session.play(lambda engine: engine.act("give_dextrose_iv", 15.0))
    return session


def test_a_session_persisted_and_read_back_equals_itself(
    registry: EducationRegistry, store: Store
) -> None:
    session = registry.start("hypoglycaemia", seed=3, locale="de", units="si")
    session.play(lambda engine: engine.advance(4.0))
    session.play(lambda engine: engine.act("give_dextrose_iv", 15.0))
    assert finish_session(store, session)
    again = graded_again(EducationRegistry(), store, session.session_id)
    assert again.record.to_json() == session.engine.record().to_json()
    assert again.started_at == session.started_at
    assert (again.view.loc.choice.tag, again.view.loc.units.name) == ("de", "si")
    # Graded again in another locale: the same score, other words.
    french = graded_again(registry, store, session.session_id, "fr")
    assert french.view.loc.choice.tag == "fr"
    first = report_doc(again.case, again.record, again.view, again.started_at, "mailto:a@b.c")
    other = report_doc(french.case, french.record, french.view, french.started_at, "mailto:a@b.c")
    assert first["score"]["total"] == other["score"]["total"]
    assert first["score"]["items"][0]["text"] != other["score"]["items"][0]["text"]


def test_ending_twice_keeps_one_record_and_refuses_further_moves(
    registry: EducationRegistry, store: Store
) -> None:
    session = registry.start("hypoglycaemia", locale="en")
    assert finish_session(store, session)
    assert session.engine.finished
    assert not finish_session(store, session)
    assert len(store.twin_state_history(record_key(session.session_id))) == 1
    assert stored_session(store, session.session_id).model == SESSION_MODEL
    with pytest.raises(LearnerConflictError, match="has ended"):
        session.play(lambda engine: engine.advance(1.0))


def test_a_finished_session_is_the_live_one_else_the_stored_one(
    registry: EducationRegistry, store: Store
) -> None:
    session = registry.start("hypoglycaemia", locale="en")
    with pytest.raises(ConflictError, match="still being played"):
        finished_session(registry, store, session.session_id)
    finish_session(store, session)
    live = finished_session(registry, store, session.session_id, "de")
    assert (live.record.to_json(), live.view.loc.choice.tag) == (
        session.engine.record().to_json(),
        "de",
    )
    # A registry that never held it (a restarted service) reads it from the store.
    stored = finished_session(EducationRegistry(), store, session.session_id)
    assert stored.record.to_json() == live.record.to_json()


@pytest.mark.parametrize("session_id", ["es-unknown", "../etc", "x" * 61])
def test_a_session_not_stored_is_not_found(store: Store, session_id: str) -> None:
    with pytest.raises(NotFoundError):
        stored_session(store, session_id)


def test_a_record_of_another_case_version_is_not_graded_again(
    registry: EducationRegistry, store: Store
) -> None:
    session = registry.start("hypoglycaemia", locale="en")
    finish_session(store, session)
    meta = stored_session(store, session.session_id).metadata
    meta["record"]["case_version"] = session.case.version + 1
    store.save_twin_state(
        record_key(session.session_id),
        model=SESSION_MODEL,
        model_version="later",
        valid_time=session.started_at,
        arrays={},
        metadata=meta,
    )
    with pytest.raises(ConflictError, match="cannot be graded again"):
        graded_again(registry, store, session.session_id)


def test_a_stored_record_with_edited_measures_is_not_graded(
    registry: EducationRegistry, store: Store
) -> None:
    session = registry.start("hypoglycaemia", seed=1, locale="en")
    session.play(lambda engine: engine.act("give_dextrose_iv", 15.0))
    finish_session(store, session)
    record = json.loads(session.engine.record().to_json())
    record["measures"] = {m: [99.0] * len(v) for m, v in record["measures"].items()}
    meta = stored_session(store, session.session_id).metadata | {"record": record}
    store.save_twin_state(
        record_key(session.session_id),
        model=SESSION_MODEL,
        model_version="x",
        valid_time=session.started_at,
        arrays={},
        metadata=meta,
    )
    with pytest.raises(InvalidInputError, match="does not match a replay of its own actions"):
        graded_again(registry, store, session.session_id)


def test_a_full_registry_drops_the_oldest_finished_session(store: Store) -> None:
    small = EducationRegistry(max_sessions=2)
    first = small.start("hypoglycaemia")
    second = small.start("hypoglycaemia")
    with pytest.raises(ConflictError, match="2 training sessions are being played"):
        small.start("hypoglycaemia")
    finish_session(store, first)
    third = small.start("hypoglycaemia")
    assert small.find(first.session_id) is None
    assert [small.get(s.session_id) for s in (second, third)] == [second, third]
    with pytest.raises(NotFoundError, match="no live training session"):
        small.get(first.session_id)


def test_a_start_with_an_unknown_case_or_locale_holds_nothing() -> None:
    fresh = EducationRegistry(max_sessions=1)
    with pytest.raises(NotFoundError, match="no training case"):
        fresh.start("no_such_case")
    with pytest.raises(InvalidInputError, match="locale"):
        fresh.start("hypoglycaemia", locale="xx")
    fresh.start("hypoglycaemia")  # the one place is still free


def test_the_state_is_the_same_session_in_every_locale(registry: EducationRegistry) -> None:
    session = _played(registry)
    views = {loc: registry.view_of(session, loc) for loc in ("en", "de", "zh")}
    states = {loc: session_state(session, view) for loc, view in views.items()}
    canonical = {
        loc: [(q["measure"], q["value"]) for q in state["vitals"]] for loc, state in states.items()
    }
    assert canonical["en"] == canonical["de"] == canonical["zh"]
    assert states["en"]["series"]["t_min"] == states["de"]["series"]["t_min"]
    assert states["en"]["title"] != states["de"]["title"]
    assert [r["value"] for r in states["en"]["results"]] == [
        r["value"] for r in states["de"]["results"]
    ]
    assert states["de"]["results"], "the fingerstick result should be shown"
