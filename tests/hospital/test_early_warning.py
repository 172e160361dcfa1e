"""Early-warning evaluation on hand-made NEWS2 trajectories with known answers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.hospital.early_warning import (
    AlertRule,
    NewsTrajectories,
    evaluate_alerts,
    observation_auroc,
    threshold_table,
)


def _two_patients() -> NewsTrajectories:
    # Patient 0 alerts at 4 h and 8 h and deteriorates at 10 h; patient 1 alerts once at
    # 0 h (a false alert) and again at 30-31 h (one episode, also false), never deteriorates.
    return NewsTrajectories.from_lists(
        patient=[0, 0, 0, 0, 1, 1, 1, 1, 1],
        time_hours=[0.0, 4.0, 8.0, 20.0, 0.0, 12.0, 30.0, 31.0, 40.0],
        total=[1, 5, 7, 9, 6, 1, 2, 2, 0],
        any_single_3=[False, False, False, False, False, False, True, True, False],
        event_patient=[0],
        event_time_hours=[10.0],
        stay_patient=[0, 1],
        stay_start_hours=[0.0, 0.0],
        stay_end_hours=[34.0, 86.0],
    )


def test_sensitivity_lead_time_and_false_alerts_by_hand() -> None:
    e = evaluate_alerts(_two_patients())
    assert (e.events, e.detected, e.sensitivity) == (1, 1, 1.0)
    assert e.lead_median_hours == 6.0  # first alert at 4 h, event at 10 h
    np.testing.assert_allclose(e.lead_hours, [6.0])
    assert e.false_alerts == 2  # patient 1: onset at 0 h, and one episode at 30-31 h
    # Patient 0 is censored at its event (10 h) + patient 1's 86 h = 96 h = 4 days.
    assert e.patient_days == pytest.approx(4.0)
    assert e.false_alerts_per_100_patient_days == pytest.approx(50.0)
    assert 0.2 < e.sensitivity_low < 1.0
    assert e.sensitivity_high == 1.0


def test_rule_without_red_score_and_without_censoring() -> None:
    e = evaluate_alerts(_two_patients(), AlertRule(threshold=5, single_3=False))
    assert e.false_alerts == 1  # the single-3 episode no longer alerts
    uncensored = evaluate_alerts(_two_patients(), censor_after_event=False)
    assert uncensored.false_alerts == 2  # 20 h of patient 0 belongs to the same episode
    assert uncensored.patient_days == pytest.approx(120.0 / 24.0)


def test_window_edges() -> None:
    t = NewsTrajectories.from_lists(
        patient=[0, 0, 1], time_hours=[0.0, 24.0, 0.0], total=[6, 6, 6],
        any_single_3=[False] * 3, event_patient=[0, 1], event_time_hours=[24.0, 24.5],
        stay_patient=[0, 1], stay_start_hours=[0.0, 0.0], stay_end_hours=[24.0, 24.5],
    )  # fmt: skip
    e = evaluate_alerts(t, window_hours=24.0)
    # Patient 0: the alert exactly 24 h before counts, the one at the event time does not;
    # patient 1's alert is 24.5 h before: outside the window.
    assert e.detected == 1
    assert e.lead_median_hours == 24.0
    assert evaluate_alerts(t, window_hours=25.0).detected == 2


def test_no_events_and_empty_input() -> None:
    t = NewsTrajectories.from_lists(
        patient=[0], time_hours=[1.0], total=[8], any_single_3=[True], event_patient=[],
        event_time_hours=[], stay_patient=[0], stay_start_hours=[0.0], stay_end_hours=[48.0],
    )  # fmt: skip
    e = evaluate_alerts(t)
    assert math.isnan(e.sensitivity)
    assert math.isnan(e.lead_median_hours)
    assert e.false_alerts_per_100_patient_days == pytest.approx(50.0)
    assert math.isnan(observation_auroc(t))


def test_threshold_table_is_monotone() -> None:
    table = threshold_table(_two_patients(), range(11), single_3=False)
    sens = table["sensitivity"]
    assert sens[0] == 1.0
    assert sens[-1] == 0.0
    assert np.all(np.diff(sens) <= 0)
    # Episode onsets need not fall monotonically: at threshold 2 patient 1's alerts split
    # into two episodes (0 h and 30-31 h), at 1 they are one, at 3 only the first remains.
    np.testing.assert_allclose(
        table["false_alerts_per_100_patient_days"], [25, 25, 50, 25, 25, 25, 25, 0, 0, 0, 0]
    )
    assert table["threshold"].tolist() == list(range(11))


def test_observation_auroc_known_values() -> None:
    perfect = NewsTrajectories.from_lists(
        patient=[0, 0, 1, 1], time_hours=[0.0, 20.0, 0.0, 20.0], total=[1, 7, 2, 0],
        any_single_3=[False] * 4, event_patient=[0], event_time_hours=[30.0],
        stay_patient=[0, 1], stay_start_hours=[0.0] * 2, stay_end_hours=[30.0, 40.0],
    )  # fmt: skip
    assert observation_auroc(perfect) == 1.0  # the case (7) outranks 1, 2 and 0
    tied = NewsTrajectories.from_lists(
        patient=[0, 1], time_hours=[0.0, 0.0], total=[3, 3], any_single_3=[False] * 2,
        event_patient=[0], event_time_hours=[5.0], stay_patient=[0, 1],
        stay_start_hours=[0.0] * 2, stay_end_hours=[5.0, 5.0],
    )  # fmt: skip
    assert observation_auroc(tied) == 0.5


def test_bad_input_is_named() -> None:
    good: dict[str, Any] = {
        "patient": [0], "time_hours": [0.0], "total": [3], "any_single_3": [False],
        "event_patient": [], "event_time_hours": [], "stay_patient": [0],
        "stay_start_hours": [0.0], "stay_end_hours": [1.0],
    }  # fmt: skip
    with pytest.raises(ShapeError, match="observation arrays"):
        NewsTrajectories.from_lists(**{**good, "time_hours": [0.0, 1.0]})
    with pytest.raises(InvalidInputError, match=r"total\[0\] = 25"):
        NewsTrajectories.from_lists(**{**good, "total": [25]})
    with pytest.raises(InvalidInputError, match=r"stay 0 ends at -1\.0 h"):
        NewsTrajectories.from_lists(**{**good, "stay_end_hours": [-1.0]})
    with pytest.raises(InvalidInputError, match="time_hours holds non-finite"):
        NewsTrajectories.from_lists(**{**good, "time_hours": [math.nan]})
    with pytest.raises(InvalidParameterError, match="window_hours"):
        evaluate_alerts(NewsTrajectories.from_lists(**good), window_hours=0.0)
    with pytest.raises(InvalidParameterError, match="threshold"):
        AlertRule(threshold=30)
