"""The epidemic and its hospitals simulated together, day by day.

:class:`HospitalLoop` is a controller of the epidemic
(:func:`~healthtwin.population.epidemic.simulate_epidemic`): at the end of each simulated
day it routes that day's admissions, by age group, to the region's hospitals by catchment
shares (a multinomial draw from a stream of its own per day), and on review days it
simulates every hospital of every replicate over the days so far and reads each one's
occupancy on that day. Where a region's hospitals are fuller than ``line`` x their beds,
contacts in the region are scaled by ``contact_scale`` until the next review. The
hospitals' *simulated* occupancy (their twins, pathways, ICU queues and reallocated beds)
therefore changes transmission within the run, which a trigger on the epidemic's own
hospital compartments cannot do.

The hospital runs are *prefix-consistent*: a hospital simulated on the admissions of days
``0..d`` reports, for those days, exactly what the run over the whole horizon reports
(arrivals, routes and stays come from streams drawn in arrival order, and the engine is
causal). The occupancy a review saw is therefore the occupancy the results report for
that day, which :attr:`HospitalLoop.reviews` keeps for checking.

With a national planner, the planner can only know the past: at each planning day each
replicate's planner forecasts from that replicate's admissions, ICU admissions and ICU
occupancy so far (:class:`~healthtwin.scenarios.national_planner.NationalPlanner`), and
the new ICU beds hold in that replicate's hospitals from that day on (in later reviews
and in the results).

Cost: a review simulates ``replicates x hospitals`` hospital runs over the days so far, so
a run costs about ``days / (2 x review_every_days)`` times the hospital runs of a run
without the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.coupling.hospital_region import to_regions
from healthtwin.coupling.region_hospital import Catchment, HospitalRun, route_admissions
from healthtwin.errors import InvalidParameterError
from healthtwin.population.controls import DayControls, Observed

__all__ = ["PLAN_OBSERVES", "HospitalLoop", "Review"]

#: ``simulate(rep, h, counts_per_day, icu_changes) -> HospitalRun``
SimulateFn = Callable[[int, int, IntArray, Sequence[tuple[int, int]]], HospitalRun]
#: ``plan(day, {quantity: (reps, day, R)} seen so far) -> ICU beds (reps, H) from day on``
PlanFn = Callable[[int, Mapping[str, FloatArray]], IntArray]
#: The epidemic's quantities a plan sees (per replicate, day and region).
PLAN_OBSERVES = ("admissions", "icu_admissions", "icu_occupancy")


@dataclass(frozen=True)
class Review:
    """What one review saw: the hospitals' occupancy on ``day`` and the regions above the line.

    Attributes
    ----------
    day
        The reviewed day; the decision holds from ``day + 1`` to the next review.
    occupancy : ndarray, shape (reps, H)
        Each hospital's mean occupied beds (all units) over ``day``.
    above : ndarray of bool, shape (reps, R)
        Regions whose hospitals were above the line (contacts cut from ``day + 1``).
    """

    day: int
    occupancy: FloatArray
    above: BoolArray


@dataclass
class HospitalLoop:
    """A controller that co-simulates the hospitals with the epidemic (see the module docstring).

    Parameters
    ----------
    catchment
        Catchment shares ``(R, H)``.
    hospital_region : ndarray of int, shape (H,)
        Region of each hospital.
    beds : ndarray, shape (R,)
        Beds (all units) of each region's hospitals, the line's denominator.
    days, replicates, n_ages, n_settings
        The epidemic's horizon, replicates, age groups and contact settings.
    routing
        ``routing(i, day)``: the generator that splits replicate ``i``'s admissions of that
        day (one per replicate, so that a chunk of replicates routes as the whole run).
    simulate
        Runs one hospital of one replicate on its admissions per day so far, with ICU
        bed changes ``(day, beds)``.
    line, contact_scale
        Contacts in a region are scaled by ``contact_scale`` while its hospitals are above
        ``line`` x ``beds`` (None: no trigger; the loop still routes and plans).
    review_every_days
        Days between reviews (the first at the end of day ``review_every_days - 1``).
    plan_days, plan
        Days the national planner replans ICU beds, and the plan itself (given the day
        and the :data:`PLAN_OBSERVES` series of every replicate before it).

    Examples
    --------
    A hospital simulated on the loop's own routing, reviewed every 2 days:

    >>> from healthtwin.hospital.config import HospitalConfig
    >>> from healthtwin.scenarios.hospital_runs import simulate_hospital
    >>> cfg = HospitalConfig.model_validate({"units": {"ward": {"kind": "ward", "beds": 4,
    ...     "los_hours": {"dist": "fixed", "mean": 60.0}}},
    ...     "pathways": {"ward": {"discharge": 1.0}}})
    >>> def sim(rep, h, counts, changes):
    ...     return simulate_hospital(cfg, counts, entry_unit="ward", icu_unit=None, seed=rep)[0]
    >>> loop = HospitalLoop(Catchment(("c",), ("h",), np.ones((1, 1))), np.array([0]),
    ...     np.array([4.0]), days=4, replicates=1, n_ages=1, n_settings=1,
    ...     routing=lambda i, day: np.random.default_rng([i, day]), simulate=sim, line=0.5,
    ...     contact_scale=0.2, review_every_days=2)
    >>> seen = lambda day, n: Observed(day, {"icu_occupancy": np.zeros((1, 1))},
    ...     np.ones((1, 1)), by_age={"admissions": np.full((1, 1, 1), float(n))})
    >>> [loop(seen(d, n)).contact_scale.ravel().tolist() for d, n in ((0, 3), (1, 1))]
    [[1.0], [0.2]]
    >>> review = loop.reviews[0]
    >>> review.day, bool(3.0 < review.occupancy[0, 0] < 4.0), review.above.tolist()
    (1, True, [[True]])
    """

    catchment: Catchment
    hospital_region: IntArray
    beds: FloatArray
    days: int
    replicates: int
    n_ages: int
    n_settings: int
    routing: Callable[[int, int], np.random.Generator]
    simulate: SimulateFn
    line: float | None = None
    contact_scale: float = 1.0
    review_every_days: int = 7
    plan_days: tuple[int, ...] = ()
    plan: PlanFn | None = None
    routed_ages: IntArray = field(init=False)
    icu_changes: list[list[list[tuple[int, int]]]] = field(init=False)
    reviews: list[Review] = field(init=False, default_factory=list)
    _seen: dict[str, FloatArray] = field(init=False, repr=False)
    _above: BoolArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.review_every_days < 1:
            raise InvalidParameterError(
                f"review_every_days must be >= 1; got {self.review_every_days}"
            )
        n_regions, n_hospitals = len(self.catchment.regions), len(self.catchment.hospitals)
        shape = (self.replicates, self.days, n_regions, self.n_ages, n_hospitals)
        self.routed_ages = np.zeros(shape, dtype=np.int64)
        self.icu_changes = [[[] for _ in range(n_hospitals)] for _ in range(self.replicates)]
        self._seen = {q: np.zeros((self.replicates, self.days, n_regions)) for q in PLAN_OBSERVES}
        self._above = np.zeros((self.replicates, n_regions), dtype=bool)

    def __call__(self, observed: Observed) -> DayControls | None:
        """Route the day's admissions, plan and review when due; the next day's controls."""
        day = observed.day
        if day < 0 or day >= self.days:
            return self._controls()
        admissions = observed.by_age["admissions"]  # (reps, R, A)
        for i in range(self.replicates):
            # Each replicate from its own generator: a chunk of replicates routes as the
            # whole run does.
            routed = route_admissions(
                admissions[i : i + 1, None], self.catchment, self.routing(i, day)
            )
            self.routed_ages[i, day] = routed[0, 0]
        following = day + 1
        if self.plan is not None:
            for q, series in self._seen.items():
                series[:, day] = observed.get(q)
        if self.plan is not None and following in self.plan_days and following < self.days:
            seen = {q: v[:, :following] for q, v in self._seen.items()}
            for i, row in enumerate(self.plan(following, seen)):
                for h, beds in enumerate(row):
                    mine = self.icu_changes[i][h]
                    if (mine[-1][1] if mine else None) != int(beds):
                        mine.append((following, int(beds)))
        if self.line is not None and following % self.review_every_days == 0:
            self._review(day)
        return self._controls()

    def admissions(self, rep: int, h: int, through_day: int) -> IntArray:
        """Admissions per day of hospital ``h`` in replicate ``rep``, days ``0..through_day``."""
        return np.asarray(
            self.routed_ages[rep, : through_day + 1, :, :, h].sum(axis=(1, 2)), dtype=np.int64
        )

    def _review(self, day: int) -> None:
        n_hospitals = len(self.catchment.hospitals)
        occupancy = np.zeros((self.replicates, n_hospitals))
        for rep in range(self.replicates):
            for h in range(n_hospitals):
                counts = self.admissions(rep, h, day)
                if counts.any():
                    run = self.simulate(rep, h, counts, self.icu_changes[rep][h])
                    occupancy[rep, h] = float(run.occupancy[day].sum())
        by_region = to_regions(occupancy, self.hospital_region, len(self.catchment.regions))
        assert self.line is not None
        self._above = by_region > self.line * np.asarray(self.beds, dtype=float)[None, :]
        self.reviews.append(Review(day, occupancy, self._above.copy()))

    def _controls(self) -> DayControls | None:
        if self.line is None:
            return None
        scale = np.where(self._above, self.contact_scale, 1.0)
        none = DayControls.none(
            reps=self.replicates,
            regions=scale.shape[1],
            settings=self.n_settings,
            ages=self.n_ages,
        )
        return DayControls(
            contact_scale=np.repeat(scale[:, :, None], self.n_settings, axis=2),
            mobility_scale=none.mobility_scale,
            isolation=none.isolation,
            vaccine_doses=none.vaccine_doses,
        )
