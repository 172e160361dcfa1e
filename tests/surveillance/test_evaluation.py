"""Evaluation metrics on hand-made alarm and outbreak arrays with known answers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.typing import ArrayLike

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.surveillance.evaluation import (
    EvaluationResult,
    evaluate_closed_loop,
    evaluate_detectors,
    false_positive_rate,
    positive_predictive_value,
    probability_of_detection,
    score_scenario,
    sensitivity,
    specificity,
    timeliness,
)
from healthtwin.surveillance.simulation import (
    NOUFAILY_SCENARIOS,
    NoufailyDesign,
    simulate_noufaily,
)

# Three series, six monitored weeks.
ALARM = np.array(
    [
        [0, 1, 0, 1, 1, 0],  # false alarm in week 2; outbreak weeks 4-6 caught in week 4
        [0, 0, 0, 0, 0, 1],  # outbreak weeks 2-3 missed; false alarm in week 6
        [1, 0, 0, 0, 0, 0],  # no outbreak; one false alarm
    ],
    dtype=bool,
)
OUTBREAK = np.array(
    [
        [0, 0, 0, 3, 0, 2],  # weeks 4..6: duration 3 (a quiet week inside)
        [0, 1, 4, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
)


def test_false_positive_rate_counts_only_weeks_without_outbreak_cases() -> None:
    fpr = false_positive_rate(ALARM, OUTBREAK)
    # Quiet weeks: 4 + 4 + 6 = 14; alarms there: week 2 and week 5 of series 1 (week 5
    # has no cases), week 6 of series 2, week 1 of series 3.
    assert fpr.value == pytest.approx(4 / 14)
    a, b = np.array([2.0, 1.0, 1.0]), np.array([4.0, 4.0, 6.0])
    r = a.sum() / b.sum()
    expected_se = math.sqrt(3 / 2 * ((a - r * b) ** 2).sum()) / b.sum()
    assert fpr.se == pytest.approx(expected_se)


def test_week_level_sensitivity_specificity_and_ppv() -> None:
    assert sensitivity(ALARM, OUTBREAK).value == pytest.approx(1 / 4)
    assert specificity(ALARM, OUTBREAK).value == pytest.approx(1 - 4 / 14)
    assert positive_predictive_value(ALARM, OUTBREAK).value == pytest.approx(1 / 5)


def test_detection_and_timeliness_per_outbreak() -> None:
    pod = probability_of_detection(ALARM, OUTBREAK)
    assert pod.value == pytest.approx(0.5)
    assert pod.se == pytest.approx(math.sqrt(0.25 / 2))
    late = np.array([[0, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0], [0] * 6], dtype=bool)
    # Series 1: alarm after 1 of 3 weeks; series 2: after 1 of 2 weeks.
    assert timeliness(late, OUTBREAK).value == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert timeliness(ALARM, OUTBREAK).value == pytest.approx((0.0 + 1.0) / 2)
    assert probability_of_detection(late, OUTBREAK).value == 1.0


def test_undefined_weeks_leave_the_denominators() -> None:
    defined = np.ones_like(ALARM)
    defined[2, 0] = False  # the false alarm of series 3 was never computed
    assert false_positive_rate(ALARM, OUTBREAK, defined=defined).value == pytest.approx(3 / 13)
    assert positive_predictive_value(ALARM, OUTBREAK, defined=defined).value == pytest.approx(1 / 4)


def test_empty_denominators_give_nan_not_errors() -> None:
    quiet = np.zeros((2, 3))
    assert math.isnan(probability_of_detection(np.zeros((2, 3), bool), quiet).value)
    assert math.isnan(timeliness(np.zeros((2, 3), bool), quiet).value)
    assert math.isnan(positive_predictive_value(np.zeros((2, 3), bool), quiet).value)
    assert math.isnan(sensitivity(np.zeros((2, 3), bool), quiet).value)


def test_shapes_must_agree() -> None:
    with pytest.raises(ShapeError, match="share the shape"):
        false_positive_rate(ALARM, OUTBREAK[:2])


def test_score_scenario_collects_every_metric() -> None:
    defined = np.ones_like(ALARM)
    defined[0, 0] = False
    s = score_scenario(
        method="toy",
        scenario=5,
        null_alarm=ALARM,
        null_outbreak=np.zeros_like(OUTBREAK),
        alarm=ALARM,
        outbreak=OUTBREAK,
        defined=defined,
    )
    assert (s.method, s.scenario, s.n_series, s.n_outbreaks) == ("toy", 5, 3, 2)
    assert s.false_positive_rate.value == pytest.approx(5 / 18)
    assert s.undefined_fraction == pytest.approx(1 / 36)
    row = s.to_row()
    assert row["probability_of_detection"] == pytest.approx(0.5)
    assert "timeliness_se" in row


def oracle(threshold: float) -> object:
    """A detector alarming when a count exceeds a fixed threshold (a real, tiny detector)."""

    def detect(
        observed: ArrayLike,
        *,
        method: str,
        monitored: ArrayLike,
        dates: ArrayLike | None = None,
        control: Mapping[str, object] | None = None,
    ) -> SimpleNamespace:
        y = np.asarray(observed)[:, np.asarray(monitored) - 1]
        bound = float((control or {}).get("threshold", threshold))
        return SimpleNamespace(alarm=y > bound, defined=np.ones(y.shape, dtype=bool))

    return detect


DESIGN = NoufailyDesign(n_weeks=156, n_current=20, past_window=(60, 130))


def test_evaluate_detectors_runs_each_method_on_each_scenario() -> None:
    sim = simulate_noufaily(30, seed=1, scenarios=NOUFAILY_SCENARIOS[36:38], design=DESIGN)
    result = evaluate_detectors(
        sim,
        ["low", "high"],
        controls={"low": {"threshold": 100.0}, "high": {"threshold": 10_000.0}},
        detector=oracle(0.0),  # type: ignore[arg-type]
    )
    assert [(s.method, s.scenario) for s in result] == [
        ("low", 37),
        ("low", 38),
        ("high", 37),
        ("high", 38),
    ]
    low, high = result.scores[0], result.scores[2]
    # theta = 5 gives about 148 cases a week: a threshold of 100 always alarms.
    assert low.false_positive_rate.value == 1.0
    assert low.probability_of_detection.value == 1.0
    assert high.false_positive_rate.value == 0.0
    assert high.probability_of_detection.value == 0.0
    assert high.timeliness.value == 1.0
    frame = result.to_frame()
    assert frame.shape[0] == 4
    assert {"method", "false_positive_rate_se"} <= set(frame.columns)
    markdown = result.to_markdown()
    assert "| low |" in markdown
    assert "| 37 | 1.000 / 1.000 | 0.000 / 0.000 |" in markdown
    assert result.summary()["high"]["specificity"] == 1.0


def test_a_known_threshold_gives_the_exact_false_positive_rate() -> None:
    # Poisson(mu) baseline with a fixed threshold: FPR = P(Y > c) exactly.
    from scipy import stats

    scenario = NOUFAILY_SCENARIOS[14 - 1 - 1]  # scenario 13: theta 1.5, Poisson, flat
    sim = simulate_noufaily(200, seed=21, scenarios=[scenario], design=DESIGN)
    (scores,) = evaluate_detectors(sim, ["c"], detector=oracle(7.0))  # type: ignore[arg-type]
    exact = float(stats.poisson.sf(7, math.exp(1.5)))
    fpr = scores.false_positive_rate
    assert abs(fpr.value - exact) < Z99 * fpr.se


Z99 = 2.576


def test_closed_loop_injects_into_any_background() -> None:
    rng = np.random.default_rng(4)
    background = np.random.default_rng(5).poisson(50.0, size=(40, 80))
    scores = evaluate_closed_loop(
        background,
        method="c",
        monitored=np.arange(61, 81),
        rng=rng,
        k=10.0,
        detector=oracle(70.0),  # type: ignore[arg-type]
    )
    assert scores.n_series == 40
    assert scores.false_positive_rate.value < 0.01  # P(Poisson(50) > 70) = 0.0023
    assert scores.probability_of_detection.value > 0.8
    with pytest.raises(InvalidParameterError, match="monitored weeks"):
        evaluate_closed_loop(background, method="c", monitored=[81], rng=rng)


def test_evaluation_result_iterates_in_order() -> None:
    assert list(EvaluationResult(())) == []
