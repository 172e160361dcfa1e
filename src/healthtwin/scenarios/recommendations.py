"""A meal-bolus recommendation from a glucose twin synced to the patient's CGM so far.

:func:`plan_meal_bolus` builds an ensemble twin of a UVA/Padova patient (a log-normal
spread of insulin sensitivity ``Vmx``, CV 0.3), replays the meals, insulin and CGM readings
recorded so far into it through an ensemble Kalman filter, and lists the candidate boluses
(by default none and 0.5-1.5 times the carbohydrate over the patient's carb ratio).
:meth:`MealBolusPlan.run` then forecasts each candidate with the meal eaten now and picks
the one with the best time in range 70-180 mg/dL whose time below 70 mg/dL stays under a
limit with probability 0.9 (:func:`healthtwin.control.recommend.recommend`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation, view_for
from healthtwin.control.recommend import Constraint, Objective, Recommendation, recommend
from healthtwin.core import Events, Inputs, Twin, lognormal_spread, time_in_band
from healthtwin.coupling.patient_sync import GLUCOSE_STATES
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova
from healthtwin.scenarios.patient_sync import glucose_inputs, read_observations

__all__ = ["BOLUS_FACTORS", "CGM_NOISE_SD_MG_DL", "MealBolusPlan", "plan_meal_bolus"]

#: CGM reading noise SD assumed while syncing, mg/dL.
CGM_NOISE_SD_MG_DL = 8.0
#: Default candidate boluses, as multiples of the carb-ratio bolus (plus no bolus).
BOLUS_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5)


@dataclass(frozen=True)
class MealBolusPlan:
    """A synced twin and the candidate boluses for a meal eaten at the twin's time.

    Attributes
    ----------
    twin
        The glucose twin after the last reading.
    doses_u
        Candidate boluses, U.
    meal_g
        Carbohydrate about to be eaten, g.
    hours
        Forecast horizon.
    max_tbr
        Largest acceptable time below 70 mg/dL, %, with probability 0.9.
    """

    twin: Twin[Any]
    doses_u: tuple[float, ...]
    meal_g: float
    hours: float
    max_tbr: float

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> Recommendation:
        """Forecast every candidate and recommend the best admissible one.

        ``on_progress`` is called with ``(plans forecast, plans)`` after each candidate's
        ensemble forecast; the recommendation is the same with or without it.

        Examples
        --------
        >>> plan = plan_meal_bolus("adolescent#001", 40.0, boluses=[0.0, 4.0], hours=2.0,
        ...                        members=8)
        >>> plan.run().to_dict()["chosen"] in ("bolus 0 U", "bolus 4 U", None)
        True
        """
        now = self.twin.t
        plans = {
            f"bolus {u:g} U": Inputs(
                events={
                    "meal_g": Events(np.array([now]), np.array([self.meal_g])),
                    "bolus_u": Events(np.array([now]), np.array([u])),
                }
            )
            for u in self.doses_u
        }
        return recommend(
            self.twin,
            plans,
            Objective("time in range 70-180 mg/dL (%)", time_in_band("glucose_mg_dl", 70.0, 180.0)),
            [
                Constraint(
                    f"time below 70 mg/dL <= {self.max_tbr:g} %",
                    time_in_band("glucose_mg_dl", -np.inf, 70.0),
                    self.max_tbr,
                    0.9,
                )
            ],
            horizon=self.hours * 60.0,
            on_progress=on_progress,
        )


def plan_meal_bolus(
    patient: str,
    meal_g: float,
    *,
    boluses: Sequence[float] | None = None,
    observations: Path | None = None,
    meals: Path | None = None,
    insulin: Path | None = None,
    hours: float = 6.0,
    max_tbr: float = 4.0,
    members: int = 64,
    seed: int = 0,
) -> MealBolusPlan:
    """Sync a glucose twin to the patient's record so far and list the candidate boluses.

    Parameters
    ----------
    patient
        The UVA/Padova patient.
    meal_g
        Carbohydrate about to be eaten, g.
    boluses
        Candidate boluses, U (default: 0 and :data:`BOLUS_FACTORS` x carbs / carb ratio,
        rounded to 0.1 U).
    observations, meals, insulin
        CSV files of CGM readings (``t_min, glucose_mg_dl``), meals and insulin so far.
    hours, max_tbr
        Forecast horizon, and the largest acceptable time below 70 mg/dL (%).
    members, seed
        Ensemble size and root seed.

    Returns
    -------
    MealBolusPlan

    Raises
    ------
    InvalidInputError
        For fewer than 8 members, a horizon outside (0, 24] h, a negative meal, a limit
        outside 0-100 %, a reading time before 0 or a malformed file.
    UnknownModelError
        For an unknown patient.

    Examples
    --------
    >>> plan = plan_meal_bolus("adolescent#001", 60.0, members=8)
    >>> plan.doses_u[0], len(plan.doses_u), plan.twin.t
    (0.0, 6, 0.0)
    """
    if members < 8 or not 0 < hours <= 24 or meal_g < 0 or not 0 <= max_tbr <= 100:
        raise InvalidInputError(
            "need --members >= 8, 0 < --hours <= 24, --meal >= 0 and 0 <= --max-tbr <= 100"
        )
    person = load_patient(patient)
    usual = meal_g / person.carb_ratio_g_per_u
    doses = (
        [float(u) for u in boluses]
        if boluses is not None
        else [0.0, *(round(f * usual, 1) for f in BOLUS_FACTORS)]
    )
    model = UvaPadova([person])
    rng = np.random.default_rng(seed)
    prior = lognormal_spread(
        model.initial_state(members, rng), {UvaPadova.parameter_index("Vmx"): 0.3}, rng
    )
    view = view_for(model, states=GLUCOSE_STATES, parameters={"Vmx": (1e-4, 1.0)})
    twin = Twin(
        model,
        prior,
        0.0,
        seed=seed,
        standing_inputs=glucose_inputs(meals, insulin, person.basal_u_per_min),
        assimilator=EnsembleKalmanFilter(view, inflation=1.01, rtps=0.5),
    )
    if observations is not None:
        series, names = read_observations(observations, ("glucose_mg_dl",))
        cgm = OutputObservation(model, names, [CGM_NOISE_SD_MG_DL])
        if series.times[0] < 0:
            raise InvalidInputError("reading times must be >= 0 min")
        for t, y in zip(series.times, series.values, strict=True):
            twin.assimilate(float(t), y, cgm)
    return MealBolusPlan(twin, tuple(doses), meal_g, hours, max_tbr)
