"""Human oversight: proposed until accepted or overridden; kill switches per model version.

The same battery runs on the in-memory implementation and on the store's (SQLite here; the
store's PostgreSQL run is in tests/store/test_audit_chain_store.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthtwin.errors import ConflictError, ConsentError, InvalidInputError, NotFoundError
from healthtwin.governance.oversight import (
    InMemoryOversight,
    ModelSwitch,
    Oversight,
    decide,
    propose,
    require_enabled,
    switch_enabled,
)
from healthtwin.store import open_store

T0 = datetime(2024, 6, 1, 8, tzinfo=UTC)
DOSE = {"insulin_units": 4.0}


@pytest.fixture(params=["memory", "store"])
def board(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Oversight]:
    if request.param == "memory":
        yield InMemoryOversight()
        return
    with open_store(f"sqlite:///{tmp_path / 'o.sqlite'}") as store:
        yield store.oversight()


def proposal(board: Oversight, rid: str = "r1", version: str = "1") -> None:
    board.propose(
        rid,
        model="mpc",
        model_version=version,
        value=DOSE,
        proposed_by="Device/mpc",
        patient="Patient/p1",
        time=T0,
    )


def test_a_recommendation_is_proposed_until_decided(board: Oversight) -> None:
    proposal(board)
    current = board.recommendation("r1")
    assert (current.status, current.final_value, current.decided_by) == ("proposed", None, None)
    assert (current.value, current.patient, current.proposed_time) == (DOSE, "Patient/p1", T0)


def test_accepting_makes_the_proposed_value_final(board: Oversight) -> None:
    proposal(board)
    accepted = board.accept("r1", actor="Practitioner/dr1", time=T0 + timedelta(minutes=5))
    stored = board.recommendation("r1")
    assert stored == accepted
    assert (stored.status, stored.final_value, stored.decided_by) == (
        "accepted",
        DOSE,
        "Practitioner/dr1",
    )
    assert stored.decided_time == T0 + timedelta(minutes=5)


def test_overriding_records_the_reason_and_the_value_chosen(board: Oversight) -> None:
    proposal(board)
    board.override(
        "r1", actor="Practitioner/dr1", reason="patient about to eat", value={"insulin_units": 6}
    )
    stored = board.recommendation("r1")
    assert stored.status == "overridden"
    assert stored.reason == "patient about to eat"
    assert stored.final_value == {"insulin_units": 6}
    assert stored.value == DOSE  # the model's proposal is kept


def test_decisions_are_final(board: Oversight) -> None:
    proposal(board)
    board.accept("r1", actor="Practitioner/dr1")
    with pytest.raises(ConflictError, match="already accepted by Practitioner/dr1"):
        board.override("r1", actor="Practitioner/dr2", reason="no", value={"insulin_units": 0})
    with pytest.raises(ConflictError, match="already accepted"):
        board.accept("r1", actor="Practitioner/dr2")
    assert board.recommendation("r1").decided_by == "Practitioner/dr1"


def test_bad_decisions_are_refused(board: Oversight) -> None:
    proposal(board)
    with pytest.raises(InvalidInputError, match="override reason must be a non-empty"):
        board.override("r1", actor="Practitioner/dr1", reason="", value={"x": 1})
    with pytest.raises(InvalidInputError, match="deciding clinician"):
        board.accept("r1", actor=" ")
    with pytest.raises(NotFoundError, match="no recommendation 'r9'"):
        board.accept("r9", actor="Practitioner/dr1")
    with pytest.raises(ConflictError, match="already exists"):
        proposal(board)
    with pytest.raises(InvalidInputError, match="recommendation value cannot be stored as JSON"):
        board.propose(
            "r2", model="mpc", model_version="1", value={"x": float("nan")}, proposed_by="D/x"
        )
    assert board.recommendation("r1").status == "proposed"


def test_the_kill_switch_stops_proposals_and_acceptances(board: Oversight) -> None:
    proposal(board, "r1")
    assert board.is_enabled("mpc", "1")
    board.disable("mpc", "1", reason="hypoglycaemia signal", actor="Practitioner/cmo")
    assert not board.is_enabled("mpc", "1")
    assert board.is_enabled("mpc", "2")
    with pytest.raises(ConsentError, match="model mpc version 1 is disabled by its kill switch"):
        require_enabled(board, "mpc", "1")
    with pytest.raises(ConsentError):
        proposal(board, "r2")
    with pytest.raises(ConsentError):
        board.accept("r1", actor="Practitioner/dr1")
    # A clinician may still replace the recommendation with a value of their own.
    board.override("r1", actor="Practitioner/dr1", reason="model disabled", value={"x": 0})
    proposal(board, "r3", version="2")
    board.enable("mpc", "1", reason="signal explained", actor="Practitioner/cmo")
    assert board.is_enabled("mpc", "1")
    proposal(board, "r4")


def test_the_wildcard_switch_stops_every_version(board: Oversight) -> None:
    board.disable("mpc", "*", reason="recall", actor="Practitioner/cmo")
    assert not board.is_enabled("mpc", "1")
    assert not board.is_enabled("mpc", "7")
    assert board.is_enabled("pid", "1")
    board.enable("mpc", "1", reason="v1 cleared", actor="Practitioner/cmo")
    assert not board.is_enabled("mpc", "1")  # the recall still stands
    board.enable("mpc", "*", reason="recall lifted", actor="Practitioner/cmo")
    assert board.is_enabled("mpc", "1")


def test_switches_need_a_reason_and_an_actor(board: Oversight) -> None:
    with pytest.raises(InvalidInputError, match="kill-switch reason"):
        board.disable("mpc", "1", reason="", actor="Practitioner/cmo")
    with pytest.raises(InvalidInputError, match="kill-switch actor"):
        board.disable("mpc", "1", reason="x", actor="")
    assert board.is_enabled("mpc", "1")


def test_switch_enabled_follows_the_latest_change() -> None:
    def switch(version: str, enabled: bool) -> ModelSwitch:
        return ModelSwitch(
            model="m", version=version, enabled=enabled, reason="r", actor="a", time=T0
        )

    assert switch_enabled([], "m", "1")
    assert not switch_enabled([switch("1", True), switch("1", False)], "m", "1")
    assert switch_enabled([switch("1", False), switch("1", True)], "m", "1")
    assert not switch_enabled([switch("1", True), switch("*", False)], "m", "1")


def test_decide_is_pure_and_checks_its_inputs() -> None:
    made = propose(
        "r1", model="m", model_version="1", value={"a": 1}, proposed_by="Device/m", time=T0
    )
    with pytest.raises(InvalidInputError, match="keeps its value"):
        decide(made, "accept", actor="Practitioner/dr1", value={"a": 2})
    with pytest.raises(InvalidInputError, match="needs the value chosen instead"):
        decide(made, "override", actor="Practitioner/dr1", reason="why")
    with pytest.raises(InvalidInputError, match="is not 'accept' or 'override'"):
        decide(made, "veto", actor="Practitioner/dr1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no time zone"):
        decide(made, "accept", actor="Practitioner/dr1", time=datetime(2024, 1, 1))
    assert made.status == "proposed"


def test_store_oversight_is_audited_and_persistent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.sqlite'}"
    with open_store(url) as store:
        board = store.oversight()
        proposal(board, "r1")
        proposal(board, "r2")
        board.accept("r1", actor="Practitioner/dr1")
        board.override("r2", actor="Practitioner/dr2", reason="allergy", value={"x": 1})
        board.disable("mpc", "1", reason="recall", actor="Practitioner/cmo")
    with open_store(url) as store:
        board = store.oversight()
        assert [r.status for r in board.recommendations()] == ["accepted", "overridden"]
        assert [r.id for r in board.recommendations(status="overridden")] == ["r2"]
        assert not board.is_enabled("mpc", "1")
        assert [s.reason for s in board.switch_history("mpc")] == ["recall"]
        events = store.audit_events()
        assert [e.action for e in events] == ["propose", "propose", "accept", "override", "disable"]
        override = events[3]
        assert override.actor == "Practitioner/dr2"
        assert override.patient == "Patient/p1"
        assert override.resource_refs == ("GuidanceResponse/r2",)
        assert override.details["reason"] == "allergy"
        assert override.details["override_value"] == {"x": 1}
        assert [e.action for e in store.audit_events(resource_ref="Patient/p1")][:2] == [
            "propose",
            "propose",
        ]
        assert store.verify_audit().ok
