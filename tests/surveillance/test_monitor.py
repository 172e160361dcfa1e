"""The cross-border monitor on a small synthetic network of countries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.typing import ArrayLike

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.surveillance.monitor import (
    SCHEMA,
    CrossBorderMonitor,
    MonitorConfig,
    SeriesKey,
)

NEIGHBOURS = {"FR": ("BE", "DE", "LU", "ES"), "BE": ("DE", "LU"), "DE": ("LU",)}
START = "2023-01-02"  # a Monday


class FixedBound:
    """A real tiny detector: expected 10, upper bound 20, score = observed - 20.

    It records every call so tests can check how series were stacked.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], tuple[int, ...], str]] = []

    def __call__(
        self,
        observed: ArrayLike,
        *,
        method: str,
        monitored: ArrayLike,
        dates: ArrayLike | None = None,
        control: Mapping[str, object] | None = None,
    ) -> SimpleNamespace:
        y = np.asarray(observed, dtype=float)[:, np.asarray(monitored) - 1]
        self.calls.append((np.shape(observed), tuple(np.asarray(monitored)), str(dates[0])))  # type: ignore[index]
        ones = np.ones(y.shape)
        defined = ~np.isnan(y)
        return SimpleNamespace(
            expected=np.where(defined, 10 * ones, np.nan),
            upperbound=np.where(defined, 20 * ones, np.nan),
            alarm=defined & (y > 20),
            defined=defined,
            score=y - 20,
            reason=np.where(defined, "", "missing count"),
        )


def network(detector: FixedBound, lookback: int = 3) -> CrossBorderMonitor:
    monitor = CrossBorderMonitor(
        MonitorConfig(method="fixed", neighbours=NEIGHBOURS, lookback_weeks=lookback),
        detector=detector,  # type: ignore[arg-type]
    )
    quiet = [10.0] * 8
    for country in ("FR", "BE", "DE", "LU", "ES"):
        for disease, syndrome in (("measles", "rash"), ("flu", "ili")):
            monitor.add_series(SeriesKey(country, disease, syndrome), quiet, start=START)
    return monitor


def test_alarms_are_ranked_with_their_evidence() -> None:
    detector = FixedBound()
    monitor = network(detector)
    k = SeriesKey
    monitor.append_week(
        "2023-02-27",
        {k("FR", "measles", "rash"): 30, k("BE", "measles", "rash"): 60, k("ES", "flu", "ili"): 25}
        | {k(c, "flu", "ili"): 10 for c in ("FR", "BE", "DE", "LU")}
        | {k(c, "measles", "rash"): 10 for c in ("DE", "LU", "ES")},
    )
    monitor.append_week(
        "2023-03-06",
        {k("FR", "measles", "rash"): 40, k("BE", "measles", "rash"): 50, k("ES", "flu", "ili"): 22}
        | {k(c, "flu", "ili"): 10 for c in ("FR", "BE", "DE")}
        | {k(c, "measles", "rash"): 10 for c in ("DE", "ES")},
    )  # LU reports nothing this week
    report = monitor.evaluate()
    assert str(report.week) == "2023-03-06"
    assert [(a.rank, a.key.country, a.key.disease) for a in report.alarms] == [
        (1, "BE", "measles"),
        (2, "FR", "measles"),
        (3, "ES", "flu"),
    ]
    be, fr, es = report.alarms
    assert (be.observed, be.expected, be.upperbound, be.score) == (50.0, 10.0, 20.0, 30.0)
    assert be.exceedance_ratio == 2.5
    assert be.consecutive_weeks == 2
    assert be.neighbours_alarming == ("FR",)
    assert fr.neighbours_alarming == ("BE",)
    assert es.neighbours_alarming == ()  # FR alarms, but for measles, not flu
    assert {(u.key.country, u.reason) for u in report.undefined} == {("LU", "missing count")}
    # All ten series share dates and length: one stacked call of the last 3 weeks.
    assert detector.calls == [((10, 10), (8, 9, 10), "2023-01-02")]


def test_json_export_follows_the_schema() -> None:
    monitor = network(FixedBound())
    monitor.append_week("2023-02-27", {SeriesKey("FR", "measles", "rash"): 21.0})
    document = json.loads(monitor.evaluate().to_json())
    assert document["schema"] == SCHEMA
    assert document["week"] == "2023-02-27"
    assert document["method"] == "fixed"
    assert (document["n_series"], document["n_alarms"], document["n_undefined"]) == (10, 1, 9)
    (alarm,) = document["alarms"]
    assert alarm == {
        "rank": 1,
        "country": "FR",
        "disease": "measles",
        "syndrome": "rash",
        "observed": 21.0,
        "expected": 10.0,
        "upperbound": 20.0,
        "score": 1.0,
        "exceedance_ratio": 1.05,
        "consecutive_weeks": 1,
        "neighbours_alarming": [],
    }


def test_series_of_different_lengths_are_run_in_separate_groups() -> None:
    detector = FixedBound()
    monitor = network(detector, lookback=20)
    monitor.append_week("2023-02-27", {SeriesKey("IT", "flu", "ili"): 50.0})
    report = monitor.evaluate()
    assert sorted(call[0] for call in detector.calls) == [(1, 1), (10, 9)]
    assert any(a.key.country == "IT" for a in report.alarms)


def test_stale_series_are_padded_and_new_weeks_must_follow() -> None:
    monitor = network(FixedBound())
    with pytest.raises(InvalidInputError, match="does not follow"):
        monitor.append_week("2023-03-06", {})
    with pytest.raises(InvalidInputError, match="Mondays"):
        monitor.append_week("2023-02-28", {})
    with pytest.raises(InvalidInputError, match="already monitored"):
        monitor.add_series(SeriesKey("FR", "flu", "ili"), [1.0], start=START)
    with pytest.raises(InvalidInputError, match="negative"):
        monitor.append_week("2023-02-27", {SeriesKey("FR", "flu", "ili"): -1.0})
    monitor.add_series(SeriesKey("PT", "flu", "ili"), [30.0, 30.0], start="2023-01-09")
    report = monitor.evaluate()  # PT ends on 2023-01-16, behind the others
    assert ("PT", "no count reported for the latest week") in {
        (u.key.country, u.reason) for u in report.undefined
    }


def test_config_validation_and_neighbours_are_symmetric() -> None:
    with pytest.raises(InvalidParameterError, match="lookback_weeks"):
        MonitorConfig(lookback_weeks=0)
    config = MonitorConfig(neighbours=NEIGHBOURS)
    assert config.neighbours_of("LU") == frozenset({"FR", "BE", "DE"})
    with pytest.raises(InvalidInputError, match="no series"):
        CrossBorderMonitor(config).evaluate()


def test_the_real_ears_detector_runs_on_the_network() -> None:
    rng = np.random.default_rng(3)
    monitor = CrossBorderMonitor(MonitorConfig(method="ears-c1", neighbours=NEIGHBOURS))
    countries = ("FR", "BE", "DE", "LU", "ES")
    for country in countries:
        monitor.add_series(
            SeriesKey(country, "measles", "rash"), rng.poisson(20, 30).astype(float), start=START
        )
    spike = {SeriesKey(c, "measles", "rash"): 20.0 for c in countries}
    spike[SeriesKey("DE", "measles", "rash")] = 200.0
    monitor.append_week("2023-07-31", spike)
    report = monitor.evaluate()
    assert report.alarms
    assert report.alarms[0].key.country == "DE"
    assert report.alarms[0].observed == 200.0
    assert report.alarms[0].upperbound < 200.0 < np.inf
    json.loads(report.to_json())
