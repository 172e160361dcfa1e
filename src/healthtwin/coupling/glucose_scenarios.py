"""Daily-life scenarios for closed-loop glucose evaluation.

Each scenario draws, per patient-run and day, the meals actually eaten and what the
patient announced to the controller (a carb count, possibly wrong, or nothing), plus an
optional exercise bout that raises insulin sensitivity. All randomness comes from the
generator passed in, so every controller faces the same days (common random numbers).

Meals: breakfast 07:00 (50 g), lunch 12:30 (70 g), dinner 19:00 (80 g), each moved by
N(0, 20 min) and scaled by a log-normal factor (CV 10 %). Snacks (unannounced): 10:00
(20 g), 16:00 (25 g), 22:00 (15 g).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, UnknownModelError

__all__ = ["SCENARIOS", "DayPlan", "GlucoseScenario", "scenario"]

MEALS = ((7 * 60.0, 50.0), (12.5 * 60.0, 70.0), (19 * 60.0, 80.0))
SNACKS = ((10 * 60.0, 20.0), (16 * 60.0, 25.0), (22 * 60.0, 15.0))


@dataclass(frozen=True)
class DayPlan:
    """Meals of ``n`` runs over the whole evaluation, on a time grid of ``step_min``.

    Attributes
    ----------
    eaten_g, announced_g
        Carbohydrates eaten and announced at each grid time, ``(n, T)``.
    si_multiplier
        Insulin sensitivity (Vmx) multiplier at each grid time, ``(n, T)`` (exercise).
    """

    eaten_g: FloatArray
    announced_g: FloatArray
    si_multiplier: FloatArray


@dataclass(frozen=True)
class GlucoseScenario:
    """A kind of day: what goes wrong with meals and activity.

    Parameters
    ----------
    name, description
        Registry name and a sentence for reports.
    snacks
        Whether unannounced snacks are eaten.
    carb_error
        Carb-count error: announced = eaten x U(1 - e, 1 + e).
    missed_bolus_probability
        Chance that a meal is not announced at all.
    exercise
        Whether the last day has an afternoon exercise bout (16:00, insulin sensitivity
        x1.5 for 6 h; Dalla Man et al. 2009 model exercise as a rise in insulin action).
    """

    name: str
    description: str
    snacks: bool = False
    carb_error: float = 0.0
    missed_bolus_probability: float = 0.0
    exercise: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.carb_error < 1 or not 0 <= self.missed_bolus_probability <= 1:
            raise InvalidParameterError("need 0 <= carb_error < 1 and a probability in [0, 1]")

    def plan(self, n: int, days: int, step_min: float, rng: np.random.Generator) -> DayPlan:
        """Draw the meals of ``n`` runs over ``days`` on a grid of ``step_min``."""
        if days < 1 or n < 1 or step_min <= 0:
            raise InvalidParameterError(
                f"need n, days >= 1 and step > 0, got {n}, {days}, {step_min}"
            )
        steps = round(days * 1440.0 / step_min)
        eaten = np.zeros((n, steps))
        announced = np.zeros((n, steps))
        rows = np.arange(n)
        for day in range(days):
            for base_t, base_g in MEALS:
                t = day * 1440.0 + base_t + rng.normal(0.0, 20.0, n)
                g = base_g * np.exp(rng.normal(-0.005, 0.1, n))
                k = np.clip(np.round(t / step_min).astype(int), 0, steps - 1)
                error = rng.uniform(1 - self.carb_error, 1 + self.carb_error, n)
                told = rng.random(n) >= self.missed_bolus_probability
                eaten[rows, k] += g
                announced[rows, k] += np.where(told, g * error, 0.0)
            if self.snacks:
                for base_t, base_g in SNACKS:
                    k = np.clip(
                        np.round(
                            (day * 1440.0 + base_t + rng.normal(0.0, 15.0, n)) / step_min
                        ).astype(int),
                        0,
                        steps - 1,
                    )
                    eaten[rows, k] += base_g
        si = np.ones((n, steps))
        if self.exercise:
            start = (days - 1) * 1440.0 + 16 * 60.0
            times = np.arange(steps) * step_min
            si[:, (times >= start) & (times < start + 360.0)] = 1.5
        return DayPlan(np.round(eaten, 1), np.round(announced, 1), si)


SCENARIOS: dict[str, GlucoseScenario] = {
    s.name: s
    for s in (
        GlucoseScenario("announced", "three announced meals a day"),
        GlucoseScenario(
            "snacks", "announced meals and three unannounced snacks a day", snacks=True
        ),
        GlucoseScenario(
            "carb-errors", "meals announced with +/-30 % carb-count errors", carb_error=0.3
        ),
        GlucoseScenario(
            "missed-boluses", "one meal in four not announced", missed_bolus_probability=0.25
        ),
        GlucoseScenario(
            "exercise", "announced meals; afternoon exercise on the last day", exercise=True
        ),
    )
}


def scenario(name: str) -> GlucoseScenario:
    """The scenario called ``name``; unknown names list the valid ones."""
    try:
        return SCENARIOS[name]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}"
        ) from err
