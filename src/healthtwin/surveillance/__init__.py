"""Outbreak detection on weekly count series.

Each detector compares this week's count with a threshold learnt from the series' own past
and raises an alarm when the count exceeds it; all of them run on many series and many
weeks at once (:func:`detect_matrix`), and a week without enough history gets a reason
instead of an exception.

* EARS C1, C2, C3: Shewhart-type charts on a sliding 7-week baseline. Hutwagner, Thompson,
  Seeman & Treadwell (2003), J Urban Health 80(Suppl 1):i89-i96; Fricker, Hegler &
  Dunfee (2008), Stat Med 27:3407-3429.
* Farrington: a quasi-Poisson log-linear model on the same weeks of past years, with trend
  test, down-weighting of past outbreaks and a 2/3-power prediction bound. Farrington,
  Andrews, Beale & Catchpole (1996), J R Stat Soc A 159:547-563.
* Farrington flexible: a seasonal period factor that uses every past week, 26 recent weeks
  left out, negative-binomial quantile bounds (``nbPlugin``, ``muan``). Noufaily, Enki,
  Farrington, Garthwaite, Andrews & Charlett (2013), Stat Med 32:1206-1222; as implemented
  in R ``surveillance`` (Salmon, Schumacher & Höhle 2016, J Stat Softw 70(10)).
* CUSUM on standardised counts: Rossi, Lampugnani & Marchi (1999), Stat Med 18:2111-2122;
  Höhle & Paul (2008), Comput Stat Data Anal 52:4357-4368.

The batched GLM fits (:mod:`healthtwin.surveillance.glm`) are iteratively reweighted least
squares (McCullagh & Nelder 1989) stacked over series and weeks. Outputs were validated
against R ``surveillance`` 1.20.3, used as a black-box oracle (``tests/data/surveillance``).

Evaluation follows the simulation design of Noufaily et al. (2013): 42 negative-binomial
baseline scenarios with past and current outbreaks of ``Poisson(k x SD)`` cases spread by a
log-normal delay (:mod:`~healthtwin.surveillance.simulation`), scored by false-positive
rate, probability of detection, sensitivity, specificity, PPV and timeliness
(:mod:`~healthtwin.surveillance.evaluation`). :class:`CrossBorderMonitor` runs a detector on
many series (countries x diseases x syndromes) each week and ranks the alarms with their
evidence.
"""

from __future__ import annotations

from healthtwin.surveillance.detect import (
    DETECTION_COLUMNS,
    METHODS,
    Detection,
    DetectionTable,
    detect,
    detect_matrix,
    method_control,
)
from healthtwin.surveillance.evaluation import (
    EvaluationResult,
    ScenarioScores,
    evaluate_closed_loop,
    evaluate_detectors,
)
from healthtwin.surveillance.monitor import (
    CrossBorderMonitor,
    MonitorConfig,
    MonitorReport,
    SeriesKey,
)
from healthtwin.surveillance.series import CountSeries, read_series_csv
from healthtwin.surveillance.simulation import (
    NOUFAILY_SCENARIOS,
    NoufailyDesign,
    NoufailyScenario,
    SimulatedSurveillance,
    inject_outbreaks,
    simulate_noufaily,
)

__all__ = [
    "DETECTION_COLUMNS",
    "METHODS",
    "NOUFAILY_SCENARIOS",
    "CountSeries",
    "CrossBorderMonitor",
    "Detection",
    "DetectionTable",
    "EvaluationResult",
    "MonitorConfig",
    "MonitorReport",
    "NoufailyDesign",
    "NoufailyScenario",
    "ScenarioScores",
    "SeriesKey",
    "SimulatedSurveillance",
    "detect",
    "detect_matrix",
    "evaluate_closed_loop",
    "evaluate_detectors",
    "inject_outbreaks",
    "method_control",
    "read_series_csv",
    "simulate_noufaily",
]
