"""Nation -> regions -> hospitals: the national planner's allocations pushed down.

The national planner (:func:`healthtwin.population.allocation.allocate`) places a national
stock of ICU beds over regions from an ensemble forecast of demand; this adapter turns its
answer into what the lower scales consume, conserving every unit on the way:

- :func:`reallocate_icu_beds`: the regions' current beds are the national stock; a share
  ``movable_fraction`` of each region's beds may move (the rest is a floor), and the stock
  is re-placed to minimise expected (or CVaR) unmet ICU bed-days over the forecast
  paths; beds that no forecast path needs stay where they were. ``sum(after) ==
  sum(before)``: beds move, none are created.
- :func:`split_to_hospitals`: a region's beds shared over its hospitals in proportion to
  their current beds (largest remainders), so each region receives exactly its allocation.
- :func:`capacity_schedule`: capacities per day from reallocations at given days,
  ``(days, R)``, with each change effective from its day to the next.
- :func:`split_doses`: a national daily vaccine supply shared over regions by weights
  (for example forecast demand or population), conserving the doses;
  :class:`VaccineCampaign` is the epidemic controller that offers them each day, with
  the regional shares re-planned at the planning days from what the nation observes.

Examples
--------
>>> demand = np.zeros((2, 5, 2)); demand[:, :, 0] = 6.0  # region 0 needs 6 beds
>>> plan = reallocate_icu_beds(demand, np.array([3, 5]), day=10)
>>> plan.after.tolist(), int(plan.after.sum()) == int(plan.before.sum())
([6, 2], True)
>>> split_to_hospitals(plan.after, np.array([0, 0, 1]), np.array([2, 1, 5])).tolist()
[4, 2, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.allocation import allocate, unmet_demand
from healthtwin.population.controls import DayControls, Observed

__all__ = [
    "IcuReallocation",
    "VaccineCampaign",
    "capacity_schedule",
    "reallocate_icu_beds",
    "split_doses",
    "split_to_hospitals",
]


@dataclass(frozen=True)
class IcuReallocation:
    """One national reallocation of ICU beds across regions.

    Attributes
    ----------
    day
        First day the new capacities hold.
    before, after : ndarray of int, shape (R,)
        Beds per region before and after; their sums are equal.
    unmet_before, unmet_after
        Expected unmet bed-days over the forecast paths with each capacity.
    """

    day: int
    before: IntArray
    after: IntArray
    unmet_before: float
    unmet_after: float

    @property
    def moved(self) -> int:
        """Beds that changed region (half the total absolute change)."""
        return int(np.abs(self.after - self.before).sum() // 2)


def reallocate_icu_beds(
    forecast_demand: FloatArray,
    beds: IntArray,
    *,
    day: int,
    movable_fraction: float = 1.0,
    objective: Literal["expected", "cvar"] = "expected",
    alpha: float = 0.9,
    keep_quantile: float | None = None,
    min_gain_per_bed: float = 0.0,
) -> IcuReallocation:
    """Re-place the national ICU beds over regions from a forecast of demand.

    Parameters
    ----------
    forecast_demand : ndarray, shape (S, T, R)
        Forecast ICU demand (people) per path, day from ``day`` on, and region.
    beds : ndarray of int, shape (R,)
        Current ICU beds per region; their sum is the national stock.
    day
        The day the reallocation takes effect (>= 0), kept in the result.
    movable_fraction
        Share of each region's beds that may leave it, in [0, 1]; the rest (rounded up)
        stays as a floor.
    objective, alpha
        As in :func:`~healthtwin.population.allocation.allocate`.
    keep_quantile
        With a value ``q`` in (0, 1], a region keeps at least the ``q`` quantile over
        the paths of its peak forecast demand (up to its current beds): beds leave a
        region only if, with probability ``q`` under the forecast, it will not need them
        (a guard against an over-confident forecast). None: no such floor.
    min_gain_per_bed
        Move beds only if the forecast's expected unmet bed-days fall by at least this
        much per bed moved (>= 0; moving beds has a cost the objective does not see);
        otherwise every region keeps its beds.

    Returns
    -------
    IcuReallocation

    Raises
    ------
    ShapeError
        ``beds`` does not have one entry per region of the forecast.
    InvalidParameterError
        ``movable_fraction`` outside [0, 1], a negative day or negative beds.
    """
    stock = _whole(beds, "beds")
    demand = np.asarray(forecast_demand, dtype=float)
    if demand.ndim != 3 or demand.shape[2] != stock.size:
        raise ShapeError(
            f"forecast_demand has shape {demand.shape}; expected (paths, days, {stock.size}) "
            "with one region per entry of beds"
        )
    if not 0.0 <= movable_fraction <= 1.0:
        raise InvalidParameterError(f"movable_fraction must be in [0, 1]; got {movable_fraction}")
    if day < 0:
        raise InvalidParameterError(f"day must be >= 0; got {day}")
    floor = np.ceil(stock * (1.0 - movable_fraction) - 1e-9).astype(np.int64)
    if keep_quantile is not None:
        if not 0.0 < keep_quantile <= 1.0:
            raise InvalidParameterError(f"keep_quantile must be in (0, 1]; got {keep_quantile}")
        peak = np.quantile(demand.max(axis=1), keep_quantile, axis=0)
        floor = np.maximum(floor, np.minimum(stock, np.ceil(peak - 1e-9).astype(np.int64)))
    best = allocate(demand, int(stock.sum()), floor=floor, objective=objective, alpha=alpha)
    after = _spare_stays(np.asarray(best.capacity, dtype=np.int64), stock, floor, demand)
    before, _ = unmet_demand(demand, stock)
    per_path, _ = unmet_demand(demand, after)
    if min_gain_per_bed < 0:
        raise InvalidParameterError(f"min_gain_per_bed must be >= 0; got {min_gain_per_bed}")
    moved = int(np.abs(after - stock).sum() // 2)
    if moved and before.mean() - per_path.mean() < min_gain_per_bed * moved:
        after, per_path = stock.copy(), before
    return IcuReallocation(
        day=int(day),
        before=stock,
        after=after,
        unmet_before=float(before.mean()),
        unmet_after=float(per_path.mean()),
    )


def _spare_stays(
    after: IntArray, before: IntArray, floor: IntArray, demand: FloatArray
) -> IntArray:
    """Beds no forecast path needs go back where they were.

    The planner places units that save nothing (above every path's demand) anywhere; a
    region keeps ``max(floor, min(after, ceil(max demand)))`` and the freed beds return
    to the regions that lost beds, in proportion to their loss (largest remainders).
    Every region ends with at least what it kept, so no path's unmet demand grows.
    """
    need = np.ceil(demand.max(axis=(0, 1)) - 1e-9).astype(np.int64)
    kept = np.minimum(after, np.maximum(need, floor))
    free = int(before.sum() - kept.sum())
    loss = np.maximum(before - kept, 0)
    if free > 0 and loss.sum() > 0:
        kept = kept + _largest_remainder(free, loss.astype(float))
    return np.asarray(kept, dtype=np.int64)


def split_to_hospitals(
    region_beds: IntArray, hospital_region: IntArray, weights: FloatArray | IntArray
) -> IntArray:
    """Share each region's beds over its hospitals by ``weights`` (largest remainders).

    Parameters
    ----------
    region_beds : ndarray of int, shape (R,)
        Beds per region.
    hospital_region : ndarray of int, shape (H,)
        Region index of each hospital.
    weights : ndarray, shape (H,)
        Non-negative weights (for example current beds); a region whose hospitals all
        weigh 0 shares equally.

    Returns
    -------
    ndarray of int64, shape (H,)
        Beds per hospital; the hospitals of region ``r`` hold ``region_beds[r]`` exactly.

    Raises
    ------
    ShapeError, InvalidInputError
        Mismatched shapes, negative weights, or a region with beds but no hospital.

    Examples
    --------
    >>> split_to_hospitals(np.array([7]), np.array([0, 0]), np.array([1.0, 1.0])).tolist()
    [4, 3]
    """
    beds = _whole(region_beds, "region_beds")
    where = np.asarray(hospital_region, dtype=np.int64)
    w = np.asarray(weights, dtype=float)
    if where.ndim != 1 or w.shape != where.shape:
        raise ShapeError(f"hospital_region {where.shape} and weights {w.shape} must both be (H,)")
    if where.size and (where.min() < 0 or where.max() >= beds.size):
        raise InvalidInputError(f"hospital_region must index {beds.size} regions; got {where}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInputError(f"weights must be finite and >= 0; got {w}")
    out = np.zeros(where.size, dtype=np.int64)
    for r in range(beds.size):
        members = np.flatnonzero(where == r)
        if members.size == 0:
            if beds[r] > 0:
                raise InvalidInputError(
                    f"region {r} is allocated {beds[r]} beds but has no hospital to hold them"
                )
            continue
        share = w[members] if w[members].sum() > 0 else np.ones(members.size)
        out[members] = _largest_remainder(int(beds[r]), share)
    return out


def capacity_schedule(
    base: IntArray, changes: Sequence[tuple[int, IntArray]], days: int
) -> IntArray:
    """Capacity per day and region from changes at given days.

    Parameters
    ----------
    base : ndarray of int, shape (R,)
        Capacity from day 0.
    changes
        ``(day, capacity (R,))`` pairs; each holds from its day until the next change.
    days
        Length of the schedule.

    Returns
    -------
    ndarray of int64, shape (days, R)

    Examples
    --------
    >>> capacity_schedule(np.array([2, 2]), [(2, np.array([3, 1]))], 4).tolist()
    [[2, 2], [2, 2], [3, 1], [3, 1]]
    """
    start = _whole(base, "base")
    if days < 1:
        raise InvalidParameterError(f"days must be >= 1; got {days}")
    out = np.repeat(start[None, :], days, axis=0)
    for day, capacity in sorted(changes, key=lambda c: c[0]):
        cap = _whole(capacity, "capacity")
        if cap.shape != start.shape:
            raise ShapeError(f"a change at day {day} has shape {cap.shape}; expected {start.shape}")
        if not day >= 0:
            raise InvalidParameterError(f"change days must be >= 0; got {day}")
        out[day:] = cap
    return out


def split_doses(daily_doses: float, weights: FloatArray) -> FloatArray:
    """A national daily vaccine supply shared over regions in proportion to ``weights``.

    Parameters
    ----------
    daily_doses
        Doses per day for the whole nation (>= 0).
    weights : ndarray, shape (R,)
        Non-negative weights with a positive sum (forecast demand, population...).

    Returns
    -------
    ndarray, shape (R,)
        Doses per day per region; they sum to ``daily_doses``.

    Examples
    --------
    >>> split_doses(1000.0, np.array([1.0, 3.0])).tolist()
    [250.0, 750.0]
    """
    w = np.asarray(weights, dtype=float)
    if not (daily_doses >= 0 and np.isfinite(daily_doses)):
        raise InvalidParameterError(f"daily_doses must be finite and >= 0; got {daily_doses}")
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InvalidInputError(
            f"weights must be one finite number >= 0 per region with a positive sum; got {w}"
        )
    return np.asarray(daily_doses * w / w.sum())


def _largest_remainder(total: int, weights: FloatArray) -> IntArray:
    exact = total * weights / weights.sum()
    whole = np.floor(exact).astype(np.int64)
    left = total - int(whole.sum())
    whole[np.argsort(-(exact - whole), kind="stable")[:left]] += 1
    return np.asarray(whole, dtype=np.int64)


def _whole(values: IntArray | FloatArray, name: str) -> IntArray:
    a = np.asarray(values)
    if a.ndim != 1:
        raise ShapeError(f"{name} must be one number per region, shape (R,); got {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any() or (a != np.rint(a)).any():
        raise InvalidParameterError(f"{name} must be whole numbers >= 0; got {a.tolist()}")
    return a.astype(np.int64)


@dataclass(frozen=True)
class VaccineCampaign:
    """An epidemic controller: the national daily doses shared over regions.

    From ``start_day`` on, ``daily_doses`` first doses are offered each day. Until the
    first planning day the regions share them by population; on each planning day (and
    until the next) by the new infections observed that day in each region (the
    nation's nowcast of where transmission is; what is seen at the end of day ``d - 1``
    plans day ``d``), per replicate; a region with no infections that day gets none.
    The shares are the one piece of state, kept between days of one run and cleared
    when a run starts again. Within a region, doses go to age groups by their
    population (the engine vaccinates at most the susceptible).

    Parameters
    ----------
    daily_doses
        Doses per day for the nation.
    population : ndarray, shape (R, A)
        People per region and age group.
    planning_days
        Days on which the shares are re-planned.
    n_settings
        Contact settings of the epidemic (shape of its controls).
    start_day
        First day doses are offered.

    Examples
    --------
    >>> camp = VaccineCampaign(100.0, np.array([[10.0, 30.0], [60.0, 0.0]]), (3,), 1)
    >>> seen = Observed(day=0, values={"incidence": np.array([[0.0, 5.0]])},
    ...                 population=np.array([[40.0, 60.0]]))
    >>> camp(seen).vaccine_doses[0].tolist()
    [[10.0, 30.0], [60.0, 0.0]]
    >>> later = Observed(day=2, values={"incidence": np.array([[0.0, 5.0]])},
    ...                  population=np.array([[40.0, 60.0]]))
    >>> camp(later).vaccine_doses[0].tolist()
    [[0.0, 0.0], [100.0, 0.0]]
    """

    daily_doses: float
    population: FloatArray
    planning_days: tuple[int, ...]
    n_settings: int
    start_day: int = 0
    _shares: dict[str, FloatArray] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        pop = np.asarray(self.population, dtype=float)
        if pop.ndim != 2 or not np.isfinite(pop).all() or (pop < 0).any() or pop.sum() <= 0:
            raise InvalidInputError(
                f"population must be (regions, ages), finite, >= 0 and not all 0; got {pop.shape}"
            )
        split_doses(self.daily_doses, pop.sum(axis=1))
        object.__setattr__(self, "population", pop)

    def __call__(self, observed: Observed) -> DayControls:
        """The doses of the day after ``observed`` (controls apply to the next day)."""
        today = observed.day + 1
        incidence = np.asarray(observed.get("incidence"), dtype=float)
        reps, regions = incidence.shape
        if regions != self.population.shape[0]:
            raise ShapeError(
                f"the epidemic has {regions} regions, the campaign's population "
                f"{self.population.shape[0]}"
            )
        if observed.day <= self._shares.get("day", np.array(-1)).item():
            self._shares.clear()  # a new run: forget the last one's plan
        self._shares["day"] = np.array(observed.day)
        people = self.population.sum(axis=1)
        if today in self.planning_days:
            # Doses sent where nobody lives would be lost: such regions get none.
            self._shares["now"] = np.stack(
                [_shares(row * (people > 0), people) for row in incidence]
            )
        shares = self._shares.get("now")
        if shares is None:
            shares = np.broadcast_to(_shares(np.zeros(regions), people), (reps, regions))
        offered = self.daily_doses if today >= self.start_day else 0.0
        by_age = self.population / np.maximum(self.population.sum(axis=1, keepdims=True), 1e-300)
        doses = offered * shares[:, :, None] * by_age[None, :, :]
        controls = DayControls.none(
            reps=reps, regions=regions, settings=self.n_settings, ages=self.population.shape[1]
        )
        return DayControls(
            contact_scale=controls.contact_scale,
            mobility_scale=controls.mobility_scale,
            isolation=controls.isolation,
            vaccine_doses=doses,
        )


def _shares(weights: FloatArray, fallback: FloatArray) -> FloatArray:
    w = weights if weights.sum() > 0 else fallback
    return np.asarray(split_doses(1.0, w))
