"""What interventions do to the epidemic on one day, and what they may look at.

The engine and the interventions meet here and nowhere else. Each simulated day the
engine hands the interventions an :class:`Observed` summary of the day before (per
replicate and region), and they answer with :class:`DayControls`, the multipliers and
doses that day's transitions use. Both carry a leading replicate axis, because in a
stochastic ensemble a threshold trigger (ICU occupancy above a line) fires at a different
day in each replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["OBSERVED_QUANTITIES", "DayControls", "Observed"]

#: Quantities an intervention trigger may watch, each of shape ``(reps, regions)``.
OBSERVED_QUANTITIES: tuple[str, ...] = (
    "incidence",  # new infections that day
    "cases",  # new symptomatic cases that day
    "admissions",  # new hospital admissions that day
    "hospital_occupancy",  # people in hospital (ward + ICU) at the end of the day
    "icu_occupancy",  # people in ICU at the end of the day
    "deaths",  # deaths that day
    "vaccinated",  # people vaccinated so far (cumulative first doses)
)


@dataclass(frozen=True)
class Observed:
    """The state of the epidemic at the end of day ``day``, per replicate and region.

    Parameters
    ----------
    day
        Day index (0 = first simulated day).
    values
        Quantity name (one of :data:`OBSERVED_QUANTITIES`) -> array ``(reps, regions)``.
    population
        People alive per replicate and region, shape ``(reps, regions)`` (for per-capita
        thresholds).
    by_age
        The same quantities per age group, ``(reps, regions, ages)`` (a controller that
        routes the day's admissions to hospitals needs their ages).
    """

    day: int
    values: dict[str, FloatArray]
    population: FloatArray
    by_age: dict[str, FloatArray] = field(default_factory=dict)

    def get(self, quantity: str) -> FloatArray:
        """One quantity, ``(reps, regions)``; unknown names list the known ones."""
        try:
            return self.values[quantity]
        except KeyError as err:
            raise InvalidInputError(
                f"unknown observed quantity {quantity!r}; known: {list(OBSERVED_QUANTITIES)}"
            ) from err


@dataclass(frozen=True)
class DayControls:
    """Multipliers and doses for one day.

    Parameters
    ----------
    contact_scale
        Shape ``(reps, regions, settings)``: multiplier on each setting's contacts
        (1 = no change, 0 = setting closed), in the order of the model's contact settings.
    mobility_scale
        Shape ``(reps, regions)``: multiplier on the share of a region's residents who
        travel out of it (1 = normal mobility, 0 = travel stopped); off-diagonal mobility
        of origin region ``i`` is scaled by it and the remainder stays home.
    isolation
        Shape ``(reps, regions)``: fraction by which symptomatic people's infectiousness is
        cut by testing and isolation (0 = none, 1 = complete).
    vaccine_doses
        Shape ``(reps, regions, ages)``: first doses offered to the susceptible people of
        each region and age group that day (the engine gives at most the people eligible).

    Examples
    --------
    >>> c = DayControls.none(reps=2, regions=3, settings=4, ages=5)
    >>> c.contact_scale.shape, float(c.vaccine_doses.sum())
    ((2, 3, 4), 0.0)
    """

    contact_scale: FloatArray
    mobility_scale: FloatArray
    isolation: FloatArray
    vaccine_doses: FloatArray

    def __post_init__(self) -> None:
        cs = np.asarray(self.contact_scale, dtype=float)
        if cs.ndim != 3:
            raise ShapeError(f"contact_scale must be (reps, regions, settings); got {cs.shape}")
        reps, regions = cs.shape[:2]
        for name in ("mobility_scale", "isolation"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (reps, regions):
                raise ShapeError(f"{name} must have shape {(reps, regions)}; got {arr.shape}")
        doses = np.asarray(self.vaccine_doses, dtype=float)
        if doses.ndim != 3 or doses.shape[:2] != (reps, regions):
            raise ShapeError(
                f"vaccine_doses must be (reps, regions, ages) with reps, regions = "
                f"{(reps, regions)}; got {doses.shape}"
            )
        for name in ("contact_scale", "mobility_scale", "isolation", "vaccine_doses"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise InvalidInputError(f"{name} must be finite and >= 0")
        if np.any(np.asarray(self.isolation) > 1):
            raise InvalidInputError("isolation is a fraction and must be <= 1")

    @classmethod
    def none(cls, *, reps: int, regions: int, settings: int, ages: int) -> DayControls:
        """No intervention: every multiplier 1, no isolation, no doses."""
        return cls(
            contact_scale=np.ones((reps, regions, settings)),
            mobility_scale=np.ones((reps, regions)),
            isolation=np.zeros((reps, regions)),
            vaccine_doses=np.zeros((reps, regions, ages)),
        )
