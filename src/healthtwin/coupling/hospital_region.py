"""Hospitals -> region: occupancy and capacity back to the population model.

Two feedbacks:

- **ICU overflow raises mortality**, by the stress-test rule of
  :mod:`healthtwin.population.stress`: each people-day of ICU demand above capacity
  carries the excess daily death risk ``(p_death_without - p_death_with) / mean_stay_days``.
  :func:`overflow_deaths` gives those deaths per replicate, day and region from a demand
  curve (their sums equal :func:`~healthtwin.population.stress.stress_test`'s
  ``overflow_deaths``); :func:`queue_overflow_deaths` applies the same rule to the
  people-days a hospital simulation's patients spent waiting for an ICU bed (what a
  world run uses, so that overflow deaths are the hospitals').
- **Occupancy triggers interventions** through the population controller contract:
  :class:`OccupancyTrigger` reads ``hospital_occupancy`` from each day's
  :class:`~healthtwin.population.controls.Observed` and, in every replicate and region
  whose occupancy is above ``line`` x its hospitals' beds, returns
  :class:`~healthtwin.population.controls.DayControls` that scale contacts down.

Hospital quantities are per hospital ``(reps, days, H)``; :func:`to_regions` sums them to
the regions the hospitals stand in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.stress import stress_test

__all__ = ["OccupancyTrigger", "overflow_deaths", "queue_overflow_deaths", "to_regions"]


def to_regions(per_hospital: FloatArray, hospital_region: IntArray, n_regions: int) -> FloatArray:
    """Sum a per-hospital quantity over the hospitals of each region.

    Parameters
    ----------
    per_hospital : ndarray, shape (..., H)
        Any quantity with hospitals last (beds ``(H,)``, occupancy ``(reps, days, H)``).
    hospital_region : ndarray of int, shape (H,)
        Region index of each hospital.
    n_regions
        Number of regions ``R``.

    Returns
    -------
    ndarray, shape (..., R)

    Examples
    --------
    >>> to_regions(np.array([1.0, 2.0, 4.0]), np.array([0, 1, 0]), 2).tolist()
    [5.0, 2.0]
    """
    values = np.asarray(per_hospital, dtype=float)
    where = np.asarray(hospital_region, dtype=np.int64)
    if where.ndim != 1 or values.shape[-1:] != where.shape:
        raise ShapeError(
            f"per-hospital values of shape {values.shape} do not end with the "
            f"{where.size} hospitals of hospital_region"
        )
    if where.size and (where.min() < 0 or where.max() >= n_regions):
        raise InvalidInputError(f"hospital_region must index {n_regions} regions; got {where}")
    out = np.zeros((*values.shape[:-1], n_regions))
    for h, r in enumerate(where):
        out[..., r] += values[..., h]
    return out


def overflow_deaths(
    icu_demand: FloatArray,
    icu_beds: FloatArray,
    *,
    p_death_with_care: float,
    p_death_without_care: float,
    mean_stay_days: float,
) -> FloatArray:
    """Daily deaths attributable to ICU overflow, shape ``(reps, days, R)``.

    Parameters
    ----------
    icu_demand : ndarray, shape (reps, days, R)
        People needing an ICU bed at the end of each day.
    icu_beds : ndarray, shape (R,) or (reps, days, R)
        ICU beds of each region's hospitals.
    p_death_with_care, p_death_without_care, mean_stay_days
        As in :func:`~healthtwin.population.stress.stress_test`.

    Examples
    --------
    >>> d = np.array([[[1.0], [3.0], [5.0], [2.0]]])
    >>> overflow_deaths(d, np.array([2.0]), p_death_with_care=0.3,
    ...                 p_death_without_care=0.8, mean_stay_days=10)[0, :, 0].round(2).tolist()
    [0.0, 0.05, 0.15, 0.0]
    """
    report = stress_test(
        icu_demand,
        icu_beds,
        p_death_with_care=p_death_with_care,
        p_death_without_care=p_death_without_care,
        mean_stay_days=mean_stay_days,
    )
    excess_per_day = (p_death_without_care - p_death_with_care) / mean_stay_days
    demand = np.asarray(icu_demand, dtype=float)
    return np.asarray(np.maximum(demand - report.capacity, 0.0) * excess_per_day)


def queue_overflow_deaths(
    waiting_days: FloatArray,
    *,
    p_death_with_care: float,
    p_death_without_care: float,
    mean_stay_days: float,
) -> FloatArray:
    """Deaths attributable to waiting for an ICU bed: the stress-test rule on a queue.

    Parameters
    ----------
    waiting_days : ndarray, shape (...)
        People-days spent waiting for an ICU bed (for example ``(reps, days, H)``: the
        mean number waiting over each day in each hospital).
    p_death_with_care, p_death_without_care, mean_stay_days
        As in :func:`overflow_deaths`.

    Returns
    -------
    ndarray, same shape
        Expected deaths: ``waiting_days * (p_death_without_care - p_death_with_care) /
        mean_stay_days``.

    Raises
    ------
    InvalidInputError
        Negative or non-finite waiting.
    InvalidParameterError
        Probabilities outside [0, 1] or out of order, or a stay <= 0.

    Examples
    --------
    >>> queue_overflow_deaths(np.array([0.0, 2.0, 5.0]), p_death_with_care=0.3,
    ...                       p_death_without_care=0.8, mean_stay_days=10).tolist()
    [0.0, 0.1, 0.25]
    """
    waiting = np.asarray(waiting_days, dtype=float)
    if not np.isfinite(waiting).all() or (waiting < 0).any():
        raise InvalidInputError("waiting_days must be finite people-days >= 0")
    if not 0.0 <= p_death_with_care <= p_death_without_care <= 1.0:
        raise InvalidParameterError(
            f"need 0 <= p_death_with_care ({p_death_with_care}) <= p_death_without_care "
            f"({p_death_without_care}) <= 1"
        )
    if not mean_stay_days > 0:
        raise InvalidParameterError(f"mean_stay_days must be > 0; got {mean_stay_days}")
    return np.asarray(waiting * ((p_death_without_care - p_death_with_care) / mean_stay_days))


@dataclass(frozen=True)
class OccupancyTrigger:
    """A controller: contacts cut where hospital occupancy is above a line.

    Parameters
    ----------
    beds : ndarray, shape (R,)
        Hospital beds (ward + ICU) of each region.
    line
        Share of beds occupied above which the measure applies (the next day).
    contact_scale
        Multiplier on every contact setting while the measure applies, in [0, 1].
    n_settings, n_ages
        The epidemic's contact settings and age groups (shape of its controls).

    Examples
    --------
    >>> trigger = OccupancyTrigger(np.array([10.0, 10.0]), line=0.8, contact_scale=0.5,
    ...                            n_settings=1, n_ages=1)
    >>> seen = Observed(day=3, values={"hospital_occupancy": np.array([[9.0, 2.0]])},
    ...                 population=np.array([[1e4, 1e4]]))
    >>> trigger(seen).contact_scale[0, :, 0].tolist()
    [0.5, 1.0]
    """

    beds: FloatArray
    line: float
    contact_scale: float
    n_settings: int
    n_ages: int

    def __post_init__(self) -> None:
        beds = np.asarray(self.beds, dtype=float)
        if beds.ndim != 1 or not np.isfinite(beds).all() or (beds < 0).any():
            raise InvalidInputError(f"beds must be one number >= 0 per region; got {beds}")
        if not self.line > 0:
            raise InvalidParameterError(f"line must be a share of beds > 0; got {self.line}")
        if not 0.0 <= self.contact_scale <= 1.0:
            raise InvalidParameterError(
                f"contact_scale must be in [0, 1]; got {self.contact_scale}"
            )
        object.__setattr__(self, "beds", beds)

    def __call__(self, observed: Observed) -> DayControls:
        """The next day's controls for the day just observed."""
        occupancy = np.asarray(observed.get("hospital_occupancy"), dtype=float)
        reps, regions = occupancy.shape
        if regions != self.beds.size:
            raise ShapeError(
                f"the epidemic has {regions} regions but the trigger has beds for "
                f"{self.beds.size}; give one bed count per region"
            )
        above = occupancy > self.line * self.beds[None, :]
        scale = np.where(above, self.contact_scale, 1.0)
        controls = DayControls.none(
            reps=reps, regions=regions, settings=self.n_settings, ages=self.n_ages
        )
        return DayControls(
            contact_scale=np.repeat(scale[:, :, None], self.n_settings, axis=2),
            mobility_scale=controls.mobility_scale,
            isolation=controls.isolation,
            vaccine_doses=controls.vaccine_doses,
        )
