"""Decisions over any model: treatment control, dose individualization, recommendations.

Controllers see only what a real device or clinician would see (sensor readings, announced
meals, what they themselves delivered), never a model's true state. Model-based
controllers use a twin (an assimilated ensemble) as their prediction model through the
kernel's protocols, so this package imports only ``core`` and ``assimilation``.

Glucose (type-1 diabetes), for ``n`` patients at once behind one interface
(:mod:`~healthtwin.control.glucose`):

- basal-bolus therapy, equivalent to simglucose's ``BBController``;
- PID with insulin feedback (Steil et al., Diabetes 2006; JCEM 2011);
- OpenAPS oref0 ``determine-basal`` (MIT), ported with its golden tests;
- zone model-predictive control (Grosman et al., JDST 2010; Gondhalekar et al.,
  Automatica 2016) on a :class:`~healthtwin.control.twin_predictor.GlucoseTwin` kept in
  sync with the CGM by an ensemble Kalman filter, with an insulin-on-board limit and a
  suspend-on-predicted-low safety layer.

Drugs: target-controlled infusion to plasma or effect-site targets (Jacobs 1990; Shafer &
Gregg 1992), closed-loop BIS control setting the TCI target (Absalom et al. 2002; Liu et
al. 2006) with Ionescu/Varvel performance metrics, and Bayesian dose individualization
from drug levels (Sheiner et al. 1979) choosing the regimen with the highest expected
time in the target window.

Decisions: paired comparisons of treatments over patients and seeds
(:func:`~healthtwin.control.comparison.paired_difference`), and
:func:`~healthtwin.control.recommend.recommend`, advice that explains itself and is never
applied unless a configuration says so.
"""

from __future__ import annotations

from healthtwin.control.basal_bolus import BasalBolus
from healthtwin.control.comparison import PairedDifference, paired_difference
from healthtwin.control.glucose import GlucoseController, InsulinDecision, Reading, TherapySettings
from healthtwin.control.oref0_controller import Oref0Loop
from healthtwin.control.pid import PidInsulinFeedback
from healthtwin.control.recommend import Constraint, Objective, Recommendation, recommend
from healthtwin.control.twin_predictor import GlucoseTwin
from healthtwin.control.zone_mpc import ZoneMPC

__all__ = [
    "BasalBolus",
    "Constraint",
    "GlucoseController",
    "GlucoseTwin",
    "InsulinDecision",
    "Objective",
    "Oref0Loop",
    "PairedDifference",
    "PidInsulinFeedback",
    "Reading",
    "Recommendation",
    "TherapySettings",
    "ZoneMPC",
    "paired_difference",
    "recommend",
]
