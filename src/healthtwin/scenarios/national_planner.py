"""The national ICU planner of one country inside a world run.

At each planning day the nation reallocates ICU beds between regions from a forecast of
ICU demand (:func:`~healthtwin.coupling.national_allocation.reallocate_icu_beds`: each
replicate's demand so far on its recent trend, or the run's own future as an oracle),
and splits each region's beds between its hospitals in proportion to their beds
(:func:`~healthtwin.coupling.national_allocation.split_to_hospitals`). The hospitals'
ICUs follow from the plan's day for the rest of the run (:func:`icu_changes`).

The plan is only as good as its forecast. The default trend forecast (each replicate's
ICU demand so far, extrapolated) can move beds before the wave reaches a region: in the
main job (``examples/local-to-global.yaml``) it moves 5 of the capital's 10 ICU beds on
day 35, and the unmet ICU bed-days rise from 124 to 247.5; in a 42-day run of
``examples/country-47-regions.yaml`` from 69 to 86, where the run's own future
(``forecast: ensemble``, an oracle) cuts them to 0. The summary reports both numbers,
with and without the reallocation, so a planner sees when moving beds did not help.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.hospital_region import to_regions
from healthtwin.coupling.national_allocation import (
    IcuReallocation,
    reallocate_icu_beds,
    split_to_hospitals,
)
from healthtwin.scenarios.hospital_loop import trend_forecast
from healthtwin.scenarios.world import CountryWorld, NationalSpec

__all__ = ["NationalPlanner", "icu_changes"]


class NationalPlanner:
    """The national ICU planner of one country: each plan, with the hospitals' beds after it."""

    def __init__(
        self,
        spec: NationalSpec,
        hospital_beds: IntArray,
        icu_beds: FloatArray,
        hospital_region: IntArray,
    ) -> None:
        self.spec = spec
        self.hospital_region = hospital_region
        self.weights = hospital_beds.astype(float)
        # Only regions with an ICU can hold ICU beds: plan over those.
        self.held = np.flatnonzero(to_regions(self.weights, hospital_region, icu_beds.size) > 0)
        self.beds = np.rint(icu_beds).astype(np.int64)
        self.plans: list[tuple[IcuReallocation, IntArray]] = []

    @classmethod
    def of(
        cls, country: CountryWorld, icu_beds: FloatArray, hospital_region: IntArray
    ) -> NationalPlanner | None:
        if country.national is None:
            return None
        beds = np.array([h.icu_beds() for h in country.hospitals], dtype=np.int64)
        return cls(country.national, beds, icu_beds, hospital_region)

    def plan_all(self, icu_demand: FloatArray, days: int) -> None:
        """Plan at every planning day before ``days`` from the epidemic's ICU demand."""
        for day in (d for d in self.spec.days if d < days):
            if self.spec.forecast == "ensemble":
                self(day, icu_demand[:, day:])
            else:
                self.plan_on_trend(day, trend_forecast(icu_demand[:, :day], days - day))

    def plan_on_trend(self, day: int, forecast: FloatArray) -> IntArray:
        """Plan at ``day`` on a forecast ``(S, days_left, R)``; the hospitals' ICU beds."""
        return self(day, forecast)

    def __call__(self, day: int, forecast: FloatArray) -> IntArray:
        plan = reallocate_icu_beds(
            forecast[:, :, self.held],
            self.beds[self.held],
            day=day,
            movable_fraction=self.spec.movable_fraction,
            objective=self.spec.objective,
            alpha=self.spec.alpha,
        )
        after = self.beds.copy()
        after[self.held] = plan.after
        plan = replace(plan, before=self.beds, after=after)
        per_hospital = split_to_hospitals(after, self.hospital_region, self.weights)
        self.plans.append((plan, per_hospital))
        self.beds, self.weights = after, per_hospital.astype(float)
        return per_hospital


def icu_changes(
    start: list[int], plans: list[tuple[IcuReallocation, IntArray]]
) -> list[list[tuple[int, int]]]:
    """Per hospital, the ``(day, beds)`` at which its ICU beds change (unchanged: none).

    Examples
    --------
    >>> plan = IcuReallocation(day=5, before=np.array([4]), after=np.array([6]),
    ...                        unmet_before=1.0, unmet_after=0.0)
    >>> icu_changes([2, 2], [(plan, np.array([2, 4]))])
    [[], [(5, 4)]]
    """
    out: list[list[tuple[int, int]]] = []
    for h, beds in enumerate(start):
        mine = []
        for plan, per_hospital in plans:
            if int(per_hospital[h]) != beds:
                beds = int(per_hospital[h])
                mine.append((plan.day, beds))
        out.append(mine)
    return out
