"""An alarm board kept in a store: replayed after a restart, changes kept in order, all or none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from healthtwin.errors import ConflictError, InvalidInputError, StoreError
from healthtwin.scenarios.alarm_board import ALARM_BOARD_KEY, AlarmBoard, MonitorConfig, SeriesKey
from healthtwin.scenarios.demo_world import fill_demo_alarms
from healthtwin.store import Store, open_store

CONFIG = MonitorConfig(method="ears-c2", lookback_weeks=2, neighbours={"FR": ["BE"]})
FR, BE = SeriesKey("FR", "flu", "ili"), SeriesKey("BE", "flu", "ili")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    try:
        yield opened
    finally:
        opened.close()


def _fill(board: AlarmBoard) -> None:
    rng = np.random.default_rng(4)
    counts = rng.poisson(20.0, size=12).astype(float).tolist()
    counts[3] = float("nan")  # a missing week survives the store (JSON has no NaN)
    board.add_series(FR, counts, "2024-01-01")
    board.add_series(BE, rng.poisson(20.0, size=10).astype(float).tolist(), "2024-01-15")
    board.append_week("2024-03-25", {FR: 70.0})  # BE gets a missing value
    board.append_week("2024-04-01", {FR: 64.0, BE: 21.0, SeriesKey("DE", "flu", "ili"): 5.0})


def test_a_board_made_in_a_store_answers_the_same_from_a_new_board(store: Store) -> None:
    board = AlarmBoard(CONFIG, store=store)
    _fill(board)
    again = AlarmBoard(CONFIG, store=store)
    assert again.report() == board.report()
    assert again.n_series == 3
    assert again.report()["alarms"][0]["country"] == "FR"
    # It goes on from there, and a third board sees that too.
    again.append_week("2024-04-08", {FR: 20.0, BE: 19.0, SeriesKey("DE", "flu", "ili"): 4.0})
    assert AlarmBoard(CONFIG, store=store).report() == again.report()
    assert again.report()["week"] == "2024-04-08"


def test_changes_made_before_attaching_are_kept(store: Store) -> None:
    board = AlarmBoard(CONFIG)
    _fill(board)
    assert store.twin_state_ids(ALARM_BOARD_KEY) == []
    assert board.attach(store) is board
    assert board.attach(store) is board  # the same store again: nothing happens
    assert len(store.twin_state_history(ALARM_BOARD_KEY)) == 4
    assert AlarmBoard(CONFIG, store=store).report() == board.report()


def test_the_demo_board_round_trips(store: Store) -> None:
    board = AlarmBoard(store=store)
    fill_demo_alarms(board)
    again = AlarmBoard(store=store)
    assert again.report() == board.report()
    assert again.n_series == 20


def test_a_refused_change_is_not_kept(store: Store) -> None:
    board = AlarmBoard(CONFIG, store=store)
    _fill(board)
    with pytest.raises(InvalidInputError, match="does not follow"):
        board.append_week("2024-06-03", {FR: 1.0})
    with pytest.raises(InvalidInputError, match="already monitored"):
        board.add_series(FR, [1.0, 2.0], "2024-01-01")
    assert len(store.twin_state_history(ALARM_BOARD_KEY)) == 4
    assert AlarmBoard(CONFIG, store=store).report() == board.report()


def test_a_change_the_store_cannot_keep_is_undone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = AlarmBoard(CONFIG, store=store)
    _fill(board)
    before = board.report()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("the database is gone")

    monkeypatch.setattr(store, "save_twin_state", broken)
    with pytest.raises(StoreError):
        board.append_week("2024-04-08", {FR: 90.0})
    assert board.report() == before
    monkeypatch.undo()
    board.append_week("2024-04-08", {FR: 90.0})  # the same week is still the next one
    assert AlarmBoard(CONFIG, store=store).report() == board.report()


def test_two_boards_and_two_stores_are_not_merged(store: Store, tmp_path: Path) -> None:
    _fill(AlarmBoard(CONFIG, store=store))
    busy = AlarmBoard(CONFIG)
    busy.add_series(FR, [1.0, 2.0], "2024-01-01")
    with pytest.raises(ConflictError, match="attach the store before adding series"):
        busy.attach(store)
    other = open_store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    try:
        with pytest.raises(ConflictError, match="another store"):
            AlarmBoard(CONFIG, store=store).attach(other)
    finally:
        other.close()


def test_an_unreadable_change_is_reported_with_how_to_fix_it(store: Store) -> None:
    store.save_twin_state(
        ALARM_BOARD_KEY,
        model="alarm-board",
        model_version="1",
        valid_time=datetime(2024, 1, 1, tzinfo=UTC),
        arrays={},
        metadata={"number": 0, "kind": "series", "date": "2024-01-01", "keys": [["FR", "flu"]]},
    )
    with pytest.raises(InvalidInputError, match=r"remove twin states 'alarms\.board'"):
        AlarmBoard(CONFIG, store=store)
