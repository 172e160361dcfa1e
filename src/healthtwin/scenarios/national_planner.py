"""The national ICU planner of one country inside a world run, one per replicate.

Each replicate is one possible world, and its planner knows only that world's past. At
each planning day the nation reallocates ICU beds between regions
(:func:`~healthtwin.coupling.national_allocation.reallocate_icu_beds`) from a forecast
of ICU demand over the next ``horizon_days`` (two weeks by default), and splits each
region's beds between its hospitals in proportion to their beds
(:func:`~healthtwin.coupling.national_allocation.split_to_hospitals`). The hospitals'
ICUs follow from the plan's day for the rest of the run (:func:`icu_changes`).

Forecasts (``national.forecast``):

- ``trend`` (the default): :func:`~healthtwin.population.icu_forecast.forecast_icu_demand`
  on what the nation observed up to the day before: each region's admissions growth,
  pooled towards the nation's, damped, turned into ICU occupancy paths through the ICU
  share and stay. Its paths come from a stream of their own per replicate and planning
  day, so a replicate plans the same whether it runs alone or with others, and a
  country with a planner can be cut into replicate chunks like any other.
- ``ensemble``: the replicate's own future ICU demand (an oracle: perfect foresight,
  for comparison).

The plan is only as good as its forecast, so the summary reports the unmet ICU bed-days
with and without the reallocation on the same epidemic (common random numbers). The
first version of this planner extrapolated each replicate's ICU occupancy on its last
week's log-linear trend to the end of the run, with every replicate's paths pooled into
one plan: with one or two ICU patients per region on day 35 of the main job, that
trend was noise, and moving 5 of the capital's 10 beds raised unmet ICU bed-days from
124 to 247.5.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.hospital_region import to_regions
from healthtwin.coupling.national_allocation import (
    IcuReallocation,
    reallocate_icu_beds,
    split_to_hospitals,
)
from healthtwin.population.icu_forecast import forecast_icu_demand
from healthtwin.scenarios.hospital_loop import PLAN_OBSERVES
from healthtwin.scenarios.world import NationalSpec

__all__ = ["NationalPlanner", "icu_changes"]

#: ``rng(replicate index in the part, day) -> Generator`` for the forecast's paths.
PlannerStreams = Callable[[int, int], np.random.Generator]


class NationalPlanner:
    """The national ICU planner of one country, for each replicate of a part.

    Parameters
    ----------
    spec
        The scenario's ``national`` section.
    hospital_beds : ndarray of int, shape (H,)
        Each hospital's ICU beds at the start.
    icu_beds : ndarray, shape (R,)
        ICU beds per region at the start.
    hospital_region : ndarray of int, shape (H,)
        Region index of each hospital.
    replicates
        Replicates of the part (each plans on its own).
    days
        The run's horizon (the forecast runs to it).
    icu_stay_days, icu_share
        Mean ICU stay and the share of admissions needing intensive care (the epidemic's,
        from the hospitals' pathways), the forecast's prior knowledge.
    streams
        The forecast's random streams per replicate and planning day.
    """

    def __init__(
        self,
        spec: NationalSpec,
        hospital_beds: IntArray,
        icu_beds: FloatArray,
        hospital_region: IntArray,
        *,
        replicates: int,
        days: int,
        icu_stay_days: float,
        icu_share: float,
        streams: PlannerStreams,
    ) -> None:
        self.spec = spec
        self.days = days
        self.hospital_region = hospital_region
        self.icu_stay_days = icu_stay_days
        self.icu_share = icu_share
        self.streams = streams
        start = hospital_beds.astype(float)
        # Only regions with an ICU can hold ICU beds: plan over those.
        self.held = np.flatnonzero(to_regions(start, hospital_region, icu_beds.size) > 0)
        self.beds = np.tile(np.rint(icu_beds).astype(np.int64), (replicates, 1))
        self.weights = np.tile(start, (replicates, 1))
        self.plans: list[list[tuple[IcuReallocation, IntArray]]] = [[] for _ in range(replicates)]

    def plan_all(self, observed: Mapping[str, FloatArray]) -> None:
        """Plan at every planning day before the horizon from a whole run's series.

        ``observed`` holds the epidemic's :data:`PLAN_OBSERVES` series, each
        ``(reps, days, R)``; the trend forecast reads only the days before each plan.
        """
        for day in (d for d in self.spec.days if d < self.days):
            if self.spec.forecast == "ensemble":
                future = np.asarray(observed["icu_occupancy"], dtype=float)
                future = future[:, day : day + self.horizon(day)]
                self.plan_on_paths(day, future[:, None])
            else:
                self.plan(day, {k: np.asarray(observed[k])[:, :day] for k in PLAN_OBSERVES})

    def horizon(self, day: int) -> int:
        """Days the plan at ``day`` looks ahead: ``spec.horizon_days``, or to the end."""
        left = self.days - day
        return left if self.spec.horizon_days is None else min(left, self.spec.horizon_days)

    def plan(self, day: int, seen: Mapping[str, FloatArray]) -> IntArray:
        """Plan at ``day`` on the series seen before it; the hospitals' beds ``(reps, H)``."""
        adm, icu, occ = (np.asarray(seen[k], dtype=float) for k in PLAN_OBSERVES)
        paths = np.stack(
            [
                forecast_icu_demand(
                    adm[i : i + 1],
                    icu[i : i + 1],
                    occ[i : i + 1],
                    days_ahead=self.horizon(day),
                    icu_stay_days=self.icu_stay_days,
                    icu_share_prior=self.icu_share,
                    paths=self.spec.forecast_paths,
                    rng=self.streams(i, day),
                ).paths[0]
                for i in range(self.beds.shape[0])
            ]
        )
        return self.plan_on_paths(day, paths)

    def plan_on_paths(self, day: int, paths: FloatArray) -> IntArray:
        """Plan at ``day`` on forecast paths ``(reps, K, days_left, R)``; beds ``(reps, H)``."""
        out = np.empty_like(self.weights, dtype=np.int64)
        for i in range(self.beds.shape[0]):
            beds = self.beds[i].copy()
            plan = reallocate_icu_beds(
                paths[i][:, :, self.held],
                beds[self.held],
                day=day,
                movable_fraction=self.spec.movable_fraction,
                objective=self.spec.objective,
                alpha=self.spec.alpha,
                keep_quantile=self.spec.keep_quantile,
                min_gain_per_bed=self.spec.min_gain_per_bed,
            )
            after = beds.copy()
            after[self.held] = plan.after
            plan = replace(plan, before=beds, after=after)
            per_hospital = split_to_hospitals(after, self.hospital_region, self.weights[i])
            self.plans[i].append((plan, per_hospital))
            self.beds[i], self.weights[i] = after, per_hospital.astype(float)
            out[i] = per_hospital
        return out


def icu_changes(
    start: list[int], plans: list[tuple[IcuReallocation, IntArray]]
) -> list[list[tuple[int, int]]]:
    """Per hospital, the ``(day, beds)`` at which its ICU beds change (unchanged: none).

    ``plans`` are one replicate's, in day order.

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
