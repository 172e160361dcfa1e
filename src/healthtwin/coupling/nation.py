"""Regions -> nation and back: national totals with uncertainty, capacities pushed down.

Up: a national quantity is the sum over regions *within each replicate*; its uncertainty
is the spread of those sums over replicates. Summing regional quantiles instead would
treat the regions as perfectly correlated and overstate the spread (the median of a sum
is not the sum of medians).

Down: the national planner shares a stock (ICU beds, staffed beds) over regions with
:func:`~healthtwin.population.allocation.allocate` on the simulated demand, and
:func:`capacities_to_hospitals` splits each region's share over its hospitals in
proportion to their current beds, so the hospital configurations can be rebuilt with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.allocation import Allocation, allocate

__all__ = ["NationalSeries", "aggregate", "capacities_to_hospitals", "plan_capacity"]

DEFAULT_LEVELS = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class NationalSeries:
    """A national daily quantity with its uncertainty.

    Attributes
    ----------
    totals : ndarray, shape (reps, days)
        Sum over regions in each replicate.
    levels : tuple of float
        Quantile levels.
    quantiles : ndarray, shape (len(levels), days)
        Quantiles over replicates of ``totals``.
    """

    totals: FloatArray
    levels: tuple[float, ...]
    quantiles: FloatArray

    def cumulative(self) -> FloatArray:
        """Total over the whole run per replicate, shape ``(reps,)``."""
        return np.asarray(self.totals.sum(axis=1))


def aggregate(per_region: FloatArray, levels: Sequence[float] = DEFAULT_LEVELS) -> NationalSeries:
    """National totals of a ``(reps, days, R)`` quantity and quantiles of those totals.

    Examples
    --------
    >>> x = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[3.0, 3.0]]])  # 3 reps, 1 day, 2 regions
    >>> series = aggregate(x, levels=(0.5,))
    >>> series.totals[:, 0].tolist(), series.quantiles[0].tolist()
    ([1.0, 1.0, 6.0], [1.0])
    """
    values = np.asarray(per_region, dtype=float)
    if values.ndim != 3:
        raise ShapeError(f"per_region must have shape (reps, days, R); got {values.shape}")
    q = tuple(float(v) for v in levels)
    if not q or any(not 0.0 <= v <= 1.0 for v in q):
        raise InvalidParameterError(f"quantile levels must be in [0, 1]; got {list(levels)}")
    totals = values.sum(axis=2)
    return NationalSeries(totals, q, np.asarray(np.quantile(totals, q, axis=0)))


def plan_capacity(demand: FloatArray, total: int, *, floor: IntArray | None = None) -> Allocation:
    """Share ``total`` units over regions to minimise expected unmet demand.

    A thin pass-through to :func:`~healthtwin.population.allocation.allocate` (objective
    ``"expected"``) that checks the stock is a whole number.

    Examples
    --------
    >>> demand = np.array([[[8.0, 2.0], [9.0, 2.0]]])
    >>> plan_capacity(demand, 10).capacity.tolist()
    [8, 2]
    """
    if isinstance(total, bool) or int(total) != total or total < 0:
        raise InvalidParameterError(f"total must be a whole number of units >= 0; got {total}")
    return allocate(demand, int(total), floor=floor)


def capacities_to_hospitals(
    region_capacity: IntArray, hospital_region: IntArray, hospital_beds: IntArray
) -> IntArray:
    """Split each region's capacity over its hospitals in proportion to their beds.

    Whole units by largest remainders; a region's hospitals receive exactly its capacity
    (equal shares when they have no beds yet).

    Examples
    --------
    >>> capacities_to_hospitals(np.array([10, 3]), np.array([0, 0, 1]),
    ...                         np.array([4, 1, 2])).tolist()
    [8, 2, 3]
    """
    capacity = np.asarray(region_capacity, dtype=np.int64)
    where = np.asarray(hospital_region, dtype=np.int64)
    beds = np.asarray(hospital_beds, dtype=float)
    if where.shape != beds.shape or where.ndim != 1:
        raise ShapeError("hospital_region and hospital_beds need one value per hospital")
    if (beds < 0).any() or (capacity < 0).any():
        raise InvalidInputError("beds and capacities must be >= 0")
    out = np.zeros(where.size, dtype=np.int64)
    for r, units in enumerate(capacity):
        mine = np.flatnonzero(where == r)
        if not mine.size:
            if units:
                raise InvalidInputError(f"region {r} has capacity {units} but no hospital")
            continue
        weight = beds[mine] if beds[mine].sum() > 0 else np.ones(mine.size)
        exact = units * weight / weight.sum()
        whole = np.floor(exact).astype(np.int64)
        left = int(units - whole.sum())
        whole[np.argsort(-(exact - whole), kind="stable")[:left]] += 1
        out[mine] = whole
    return out
