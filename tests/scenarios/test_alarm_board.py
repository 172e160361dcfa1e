"""The alarm board against the cross-border monitor it wraps, and under concurrent use."""

from __future__ import annotations

import threading

import numpy as np

from healthtwin.scenarios.alarm_board import AlarmBoard, MonitorConfig, SeriesKey
from healthtwin.scenarios.demo_world import DEMO_ALARM_WEEK, DEMO_COUNTRIES, fill_demo_alarms
from healthtwin.surveillance.monitor import SCHEMA, CrossBorderMonitor

CONFIG = MonitorConfig(method="ears-c2", lookback_weeks=2, neighbours={"FR": ["BE"]})


def _series(seed: int) -> dict[SeriesKey, list[float]]:
    rng = np.random.default_rng(seed)
    return {
        SeriesKey(country, "flu", "ili"): rng.poisson(30.0, size=16).astype(float).tolist()
        for country in ("FR", "BE", "DE")
    }


def test_the_board_reports_what_the_monitor_evaluates_plus_its_series() -> None:
    board, monitor = AlarmBoard(CONFIG), CrossBorderMonitor(CONFIG)
    week = {SeriesKey("FR", "flu", "ili"): 90.0, SeriesKey("BE", "flu", "ili"): 80.0}
    for key, counts in _series(3).items():
        board.add_series(key, counts, "2024-01-01")
        monitor.add_series(key, counts, start="2024-01-01")
    board.append_week("2024-04-22", week)
    monitor.append_week("2024-04-22", week)
    report = board.report()
    series = report.pop("series")
    assert report == monitor.evaluate().to_dict()
    # Every monitored series, in the monitor's (sorted) key order.
    assert series == [
        {"country": c, "disease": "flu", "syndrome": "ili"} for c in ("BE", "DE", "FR")
    ]
    # FR and BE jumped far above their means: both alarm, each with the other as neighbour.
    alarming = {a["country"]: a for a in report["alarms"]}
    assert set(alarming) == {"FR", "BE"}
    assert alarming["FR"]["neighbours_alarming"] == ["BE"]


def test_an_empty_board_answers_no_alarms_in_the_monitors_schema() -> None:
    report = AlarmBoard().report()
    assert report["schema"] == SCHEMA
    assert (report["n_series"], report["n_alarms"], report["alarms"], report["week"]) == (
        0, 0, [], None,
    )  # fmt: skip
    assert report["method"] == "ears-c2"


def test_concurrent_writers_lose_no_series() -> None:
    board = AlarmBoard(CONFIG)
    keys = [SeriesKey(f"C{n}", "flu", "ili") for n in range(16)]

    def add(key: SeriesKey) -> None:
        board.add_series(key, [5.0] * 10, "2024-01-01")
        board.report()

    threads = [threading.Thread(target=add, args=(k,)) for k in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert board.report()["n_series"] == len(keys)


def test_the_demo_board_has_its_outbreaks_and_its_missing_count() -> None:
    board = AlarmBoard()
    fill_demo_alarms(board)
    report = board.report()
    assert report["week"] == DEMO_ALARM_WEEK
    assert report["n_series"] == 4 + 2 * len(DEMO_COUNTRIES)
    alarms = {(a["country"], a["disease"]) for a in report["alarms"]}
    assert {("FR", "measles"), ("BE", "measles"), ("ES", "influenza")} <= alarms
    assert ("DE", "measles") not in alarms
    undefined = {(u["country"], u["disease"]) for u in report["undefined"]}
    assert ("SE", "influenza") in undefined
