"""Run a world scenario end to end: epidemic -> hospitals -> region -> nation -> world.

For each country, in this order (every random draw from a stream named after the country,
hospital and replicate under the world's seed, so the same seed gives the same numbers):

1. the epidemic (chain binomial) with the country's interventions and, when the scenario
   has an occupancy line, the hospitals simulated together with it
   (:mod:`~healthtwin.scenarios.hospital_loop`): each day's hospital admissions by age
   group are routed to the region's hospitals by catchment shares as the day ends, and
   at each review the hospitals are simulated over the days so far; where their
   occupancy is above the line of their beds, the region's contacts are cut until the
   next review (``source: epidemic`` watches the epidemic's own ward and ICU
   compartments instead, :class:`~healthtwin.coupling.hospital_region.OccupancyTrigger`);
2. each hospital simulated with its routed admissions as arrivals, per replicate (without
   the loop the admissions are routed after the epidemic,
   :func:`~healthtwin.coupling.region_hospital.route_admissions`; with a cohort, the
   admitted patients are matched to cohort members by age band,
   :mod:`~healthtwin.scenarios.ages`); these runs are the ones the reviews saw;
3. deaths, from one source of truth so that totals agree by construction at every
   level (nation = sum of regions = sum of the region's hospitals + community):

   - *hospital deaths* are the hospital simulation's, by day
     (:attr:`~healthtwin.coupling.region_hospital.HospitalRun.deaths_per_day`);
   - *overflow deaths* are the stress-test rule applied to each hospital's simulated
     ICU queue: every person-day spent waiting for an ICU bed (blocked in the ward)
     carries the excess daily death risk ``(p_death_without_care - p_death_with_care)
     / mean_stay_days`` (:func:`~healthtwin.coupling.hospital_region.queue_overflow_deaths`;
     expected, hence fractional, deaths);
   - *community deaths* are the epidemic's deaths outside hospital. The population
     model's deaths leave only its ward and ICU compartments
     (:mod:`~healthtwin.population.compartments`), so these are 0; the epidemic's own
     death count is reported as ``epidemic_deaths`` for comparison but is not in the
     totals (its hospitalised patients are the hospitals' patients, counted there).
4. national totals with quantiles over replicates (:mod:`~healthtwin.coupling.nation`).

With a ``patients:`` section a hospital's admitted patients carry twins whose course
drives their stays (:mod:`~healthtwin.scenarios.hospital_runs`); with a ``national:``
section the national planner reallocates ICU beds at given days from a forecast of ICU
demand (by default each replicate's demand so far on its recent trend; ``forecast:
ensemble`` is the run's own future, an oracle for comparison), pushed down to the
hospitals' ICUs for the rest of the run, so the ICU queues of step 3 are those of the
reallocated beds. Unmet ICU bed-days (the epidemic's ICU demand above the beds: the
planner's view) are reported with and without the reallocation (same epidemic: common
random numbers), next to the hospitals' simulated ICU queue (``icu_queue_days``).

Then the world: each country's median weekly admissions go to the cross-border monitor
(:mod:`~healthtwin.coupling.global_monitor`), whose alarms come back per country.
:func:`~healthtwin.scenarios.outputs.write_outputs` writes ``summary.json``,
``monitor.json``, CSV tables and ``report.html``.

What feeds what: the epidemic feeds the hospitals (admissions, by region, age and day);
the hospitals' simulated occupancy feeds back to transmission within the run (the
occupancy line, reviewed as the epidemic runs); the hospitals feed deaths, discharges,
occupancy and ICU queues up to the regions and the nation; the nation feeds ICU beds
back down to the hospitals, from the days it replans on. Deaths in hospital and
overflow deaths do not change transmission: hospitalised people are already out of the
community in the population model, whose own ward/ICU outcomes are superseded by the
hospitals'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.global_monitor import alarming_countries, monitor_countries
from healthtwin.coupling.hospital_course import (
    TwinCourseSettings,
    prefetch_twins,
    replication_entropy,
)
from healthtwin.coupling.hospital_region import (
    OccupancyTrigger,
    queue_overflow_deaths,
    to_regions,
)
from healthtwin.coupling.nation import NationalSeries, aggregate
from healthtwin.coupling.national_allocation import (
    IcuReallocation,
    VaccineCampaign,
    capacity_schedule,
    reallocate_icu_beds,
    split_to_hospitals,
)
from healthtwin.coupling.region_hospital import (
    Catchment,
    HospitalRun,
    route_admissions,
)
from healthtwin.coupling.twin_calibration import (
    TwinDeathCurve,
    calibrate_age_factors,
    covariate_multiplier,
    death_curve,
    hospital_fatality,
)
from healthtwin.errors import InvalidInputError
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import EpidemicResult, simulate_epidemic
from healthtwin.population.scenario import Variant
from healthtwin.population.scenario_build import build_inputs, parameters_for, plan_for
from healthtwin.scenarios.ages import AdmittedPatients, age_band_edges
from healthtwin.scenarios.distributed import check_cluster, executor_for  # W15b
from healthtwin.scenarios.federated import (
    FederatedWorld,
    icu_features,
    share_back,
    train_federation,
)
from healthtwin.scenarios.hospital_loop import HospitalLoop, Review, trend_forecast
from healthtwin.scenarios.hospital_runs import PatientStays, simulate_hospital, summarise_stays
from healthtwin.scenarios.world import CountryWorld, HospitalSite, NationalSpec, WorldScenario
from healthtwin.surveillance.monitor import MonitorConfig, MonitorReport
from healthtwin.synthetic.cohort import generate_cohort

__all__ = ["CountryResult", "WorldResult", "run", "run_world"]

LEVELS = (0.05, 0.5, 0.95)
Controller = Callable[[Observed], DayControls | None]


@dataclass(frozen=True)
class CountryResult:
    """Every scale of one country.

    Attributes
    ----------
    name
        The country.
    epidemic
        The population model's result (``(reps, days, R)`` series).
    hospitals
        Hospital names, the axis ``H``.
    hospital_region : ndarray of int, shape (H,)
        Region index of each hospital.
    routed : ndarray of int, shape (reps, days, R, H)
        Admissions routed from each region to each hospital.
    hospital_runs : tuple of tuple of HospitalRun
        ``hospital_runs[rep][h]``.
    icu_beds : ndarray, shape (R,)
        ICU beds of each region's hospitals.
    overflow_deaths : ndarray, shape (reps, days, R)
        Deaths attributable to ICU overflow: the stress-test rule on the hospitals'
        simulated ICU queues, summed over each region's hospitals.
    icu_schedule : ndarray of int, shape (days, R)
        ICU beds per day and region after the national planner's reallocations.
    reallocations
        The national planner's reallocations, in day order.
    patients
        Per hospital, its admitted patients' summary
        (:func:`~healthtwin.scenarios.hospital_runs.summarise_stays`, plus the admitted
        cohort), or None without a ``patients`` section.
    hospital_overflow_deaths : ndarray, shape (reps, days, H)
        ``overflow_deaths`` per hospital.
    icu_units
        Each hospital's ICU unit (None without one), the unit whose queue is the overflow.
    reviews
        What each review of the hospital loop saw (empty unless the occupancy line watches
        the hospitals, :mod:`~healthtwin.scenarios.hospital_loop`).
    """

    name: str
    epidemic: EpidemicResult
    hospitals: tuple[str, ...]
    hospital_region: IntArray
    routed: IntArray
    hospital_runs: tuple[tuple[HospitalRun, ...], ...]
    icu_beds: FloatArray
    overflow_deaths: FloatArray
    icu_schedule: IntArray | None = None
    reallocations: tuple[IcuReallocation, ...] = ()
    patients: tuple[dict[str, Any] | None, ...] = ()
    hospital_overflow_deaths: FloatArray | None = None
    icu_units: tuple[str | None, ...] = ()
    reviews: tuple[Review, ...] = ()

    def unmet_icu_bed_days(self, *, reallocated: bool = True) -> FloatArray:
        """ICU bed-days of demand above the beds per replicate, ``(reps,)``.

        With ``reallocated=False``, against the beds before any national reallocation
        (the same epidemic: common random numbers).
        """
        demand = np.asarray(self.epidemic.icu_occupancy, dtype=float)
        beds = self.icu_beds if self.icu_schedule is None or not reallocated else self.icu_schedule
        return np.asarray(np.maximum(demand - beds, 0.0).sum(axis=(1, 2)))

    def hospital_admissions(self) -> IntArray:
        """Admissions per replicate, day and hospital, ``(reps, days, H)``."""
        return np.asarray(self.routed.sum(axis=2), dtype=np.int64)

    def hospital_occupancy(self, unit: str | None = None) -> FloatArray:
        """Mean beds occupied per replicate, day and hospital (one unit, or all)."""
        return np.stack(
            [
                np.stack(
                    [r.occupancy.sum(axis=1) if unit is None else _unit(r, unit) for r in runs],
                    axis=-1,
                )
                for runs in self.hospital_runs
            ]
        )

    def hospital_deaths(self) -> FloatArray:
        """Deaths simulated in each hospital per replicate and day, ``(reps, days, H)``."""
        return np.stack(
            [np.stack([r.deaths_per_day for r in runs], axis=-1) for runs in self.hospital_runs]
        ).astype(float)

    def icu_queue_days(self) -> FloatArray:
        """People waiting for an ICU bed (mean over the day), ``(reps, days, H)``."""
        return _icu_queues(self.hospital_runs, self.icu_units)

    def community_deaths(self) -> FloatArray:
        """Deaths outside hospital, ``(reps, days, R)``: zero (see the module docstring)."""
        return np.zeros_like(np.asarray(self.epidemic.deaths, dtype=float))

    def deaths(self) -> FloatArray:
        """Hospital + overflow deaths by region, plus community deaths, ``(reps, days, R)``."""
        n_regions = len(self.epidemic.regions)
        in_hospital = to_regions(self.hospital_deaths(), self.hospital_region, n_regions)
        return np.asarray(in_hospital + self.overflow_deaths + self.community_deaths())

    def national(self, name: str) -> NationalSeries:
        """A national series: ``admissions``, ``deaths`` (with overflow) or ``icu_occupancy``."""
        if name == "deaths":
            return aggregate(self.deaths(), LEVELS)
        return aggregate(self.epidemic.get(name), LEVELS)


def _icu_queues(
    runs: tuple[tuple[HospitalRun, ...], ...], icu_units: tuple[str | None, ...]
) -> FloatArray:
    """People waiting for an ICU bed per replicate, day and hospital, ``(reps, days, H)``."""

    def one(run: HospitalRun, unit: str | None) -> FloatArray:
        if unit is None or unit not in run.units:
            return np.zeros(run.occupancy.shape[0])
        return np.asarray(run.queue_days[:, run.units.index(unit)])

    return np.stack(
        [np.stack([one(r, u) for r, u in zip(row, icu_units, strict=True)], -1) for row in runs]
    )


def _unit(run: HospitalRun, unit: str) -> FloatArray:
    return run.unit_occupancy(unit) if unit in run.units else np.zeros(run.occupancy.shape[0])


@dataclass(frozen=True)
class WorldResult:
    """Results at every scale: countries (regions, hospitals, nation) and the monitor."""

    world: WorldScenario
    countries: tuple[CountryResult, ...]
    monitor: MonitorReport
    alarms: frozenset[str]
    # W15b: the federation's rounds and the model shared back (None without one).
    federation: FederatedWorld | None = None

    def summary(self) -> dict[str, Any]:
        """Key numbers with 5 %, 50 % and 95 % quantiles over replicates (JSON values)."""
        out: dict[str, Any] = {
            "scenario": self.world.name,
            "seed": self.world.seed,
            "days": self.world.days,
            "replicates": self.world.replicates,
            "quantile_levels": list(LEVELS),
            "alarming_countries": sorted(self.alarms),
            "countries": {},
        }
        for c in self.countries:
            hospitals: dict[str, dict[str, Any]] = {}
            admitted = c.hospital_admissions().sum(axis=1)
            died = c.hospital_deaths().sum(axis=1)
            overflow = np.asarray(c.hospital_overflow_deaths).sum(axis=1)
            queued = c.icu_queue_days().sum(axis=1)
            for h, name in enumerate(c.hospitals):
                runs = [runs[h] for runs in c.hospital_runs]
                peak = c.hospital_occupancy()[:, :, h].max(axis=1)
                hospitals[name] = {
                    "admissions": _q(admitted[:, h]),
                    "peak_occupancy": _q(peak),
                    "deaths": _q(died[:, h]),
                    "overflow_deaths": _q(overflow[:, h]),
                    "discharges": _q(
                        np.array([r.discharges_per_day.sum() for r in runs], dtype=float)
                    ),
                    "icu_queue_days": _q(queued[:, h]),
                }
                if c.patients and c.patients[h] is not None:
                    hospitals[name]["patients"] = c.patients[h]
            out["countries"][c.name] = {
                "admissions": _q(c.national("admissions").cumulative()),
                "deaths": _q(c.national("deaths").cumulative()),
                "hospital_deaths": _q(died.sum(axis=1)),
                "overflow_deaths": _q(c.overflow_deaths.sum(axis=(1, 2))),
                "community_deaths": _q(c.community_deaths().sum(axis=(1, 2))),
                "epidemic_deaths": _q(c.epidemic.deaths.sum(axis=(1, 2))),
                "icu_queue_days": _q(queued.sum(axis=1)),
                "peak_icu_demand": _q(c.national("icu_occupancy").totals.max(axis=1)),
                "icu_beds": float(c.icu_beds.sum()),
                "unmet_icu_bed_days": _q(c.unmet_icu_bed_days()),
                "unmet_icu_bed_days_without_reallocation": _q(
                    c.unmet_icu_bed_days(reallocated=False)
                ),
                "reallocations": [
                    {"day": r.day, "moved": r.moved, "after": r.after.tolist()}
                    for r in c.reallocations
                ],
                "occupancy_reviews": [
                    {
                        "day": r.day,
                        "share_of_replicates_above": dict(
                            zip(c.epidemic.regions, r.above.mean(axis=0).tolist(), strict=True)
                        ),
                    }
                    for r in c.reviews
                ],
                "hospitals": hospitals,
            }
        # W15b: the federation, and the model each hospital received.
        return out if self.federation is None else self.federation.annotate(out)


def _q(values: FloatArray) -> list[float]:
    return [float(v) for v in np.quantile(np.asarray(values, dtype=float), LEVELS)]


def run_world(
    world: WorldScenario,
    *,
    cluster: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> WorldResult:
    """Run a world scenario end to end (see the module docstring).

    ``cluster`` runs the countries as tasks on Dask (``"local"``: a LocalCluster of
    ``workers`` processes; ``"tcp://host:port"``: an existing scheduler) with results
    identical to the in-process run (:mod:`~healthtwin.scenarios.distributed`);
    ``progress`` is called with the name of each finished step.

    Raises
    ------
    InvalidInputError
        A hospital serves a region the country's geography does not have.

    Examples
    --------
    >>> from healthtwin.scenarios.world import parse_world
    >>> unit = {"los_hours": {"dist": "exponential", "mean": 100}}
    >>> world = parse_world({"days": 14, "replicates": 2, "countries": [{"name": "X",
    ...     "geography": {"regions": [{"name": "c", "population": 20000}]},
    ...     "disease": {"r0": 2.5}, "initial_infected": {"c": 50},
    ...     "hospitals": [{"name": "h", "region": "c", "catchment_share": 1.0,
    ...         "config": {"units": {"ward": {"kind": "ward", "beds": 30, **unit},
    ...                              "icu": {"kind": "icu", "beds": 3, **unit}},
    ...                    "pathways": {"ward": {"icu": 0.1, "discharge": 0.9},
    ...                                 "icu": {"discharge": 1.0}}}}]}]})
    >>> result = run_world(world)
    >>> c = result.countries[0]
    >>> bool((c.hospital_admissions().sum(axis=2) == c.epidemic.admissions.sum(axis=2)).all())
    True
    """
    streams = RandomStreams(world.seed)
    # W15b: federated training first (its model is shared back to the hospitals), then
    # one task per country, in process or on Dask, gathered in the world's order.
    check_cluster(cluster, workers)
    federation = None
    if world.federation is not None:
        world, federation = share_back(world, train_federation(world, streams))
        if progress is not None:
            progress("federation")
    n = len(world.countries)
    names = [c.name for c in world.countries]
    done = None if progress is None else (lambda i: progress(names[i]))
    with executor_for(cluster, workers, on_done=done) as executor:
        countries = tuple(executor.map(_run_country, [world] * n, world.countries, [streams] * n))
    daily = {c.name: np.rint(np.median(c.national("admissions").totals, axis=0)) for c in countries}
    s = world.surveillance
    config = MonitorConfig(
        method=s.method, lookback_weeks=s.lookback_weeks, neighbours=s.neighbours
    )
    _, report = monitor_countries(
        daily, world.start_date, config, disease=s.disease, syndrome=s.syndrome
    )
    return WorldResult(world, countries, report, alarming_countries(report), federation)


#: ``run(world) -> WorldResult``, the name the scenario layer is known by.
run = run_world


def _run_country(
    world: WorldScenario, country: CountryWorld, streams: RandomStreams
) -> CountryResult:
    spec = country.population_scenario(world)
    inputs = build_inputs(spec)
    geography = inputs.geography
    variant = Variant(name="baseline")
    hospital_region = np.array(
        [_region_index(country, h.region, geography.regions) for h in country.hospitals]
    )
    n_regions = geography.n_regions
    shares = np.zeros((n_regions, len(country.hospitals)))
    for h, site in enumerate(country.hospitals):
        shares[hospital_region[h], h] = site.catchment_share
    catchment = Catchment(geography.regions, tuple(h.name for h in country.hospitals), shares)
    beds = to_regions(
        np.array([h.total_beds() for h in country.hospitals]), hospital_region, n_regions
    )
    icu_beds = to_regions(
        np.array([h.icu_beds() for h in country.hospitals]), hospital_region, n_regions
    )
    planner = _NationalPlanner.of(country, icu_beds, hospital_region)
    # Twins simulated once per country: the loop's reviews and the final runs share them.
    cache: dict[tuple[int, int, int], Any] = {}
    admitted = _admitted_patients(world, country, streams, spec, variant, inputs)
    loop = _hospital_loop(
        world, country, streams, catchment, hospital_region, beds, planner, cache, admitted
    )
    controller = _controller(world, country, spec, variant, inputs, beds, loop)
    epidemic = simulate_epidemic(
        geography,
        inputs.contacts,
        parameters_for(spec, variant),
        days=world.days,
        replicates=world.replicates,
        seed=_seed(streams, f"world/{country.name}/epidemic"),
        mobility=inputs.mobility,
        initial_infected=inputs.initial_infected,
        controller=controller,
        keep_ages=True,
    )
    if loop is not None:
        # Routed and planned day by day while the epidemic ran (the reviews saw these).
        routed_ages = loop.routed_ages
        changes = loop.icu_changes
    else:
        # Routed with their age groups (reps, days, R, A, H), so that hospitals know ages.
        routed_ages = route_admissions(
            epidemic.get("admissions", by_age=True),
            catchment,
            streams.generator(f"world/{country.name}/routing"),
        )
        if planner is not None:
            planner.plan_all(np.asarray(epidemic.icu_occupancy, dtype=float), world.days)
        changes = _icu_changes(
            [h.icu_beds() for h in country.hospitals], [] if planner is None else planner.plans
        )
    plans = [] if planner is None else planner.plans
    routed = np.asarray(routed_ages.sum(axis=3), dtype=np.int64)
    admitted_ages = np.asarray(routed_ages.sum(axis=2), dtype=np.int64)  # (reps, days, A, H)
    schedule = capacity_schedule(
        np.rint(icu_beds).astype(np.int64), [(p.day, p.after) for p, _ in plans], world.days
    )
    per_hospital = routed.sum(axis=2)
    _prefetch_twins(country, streams, admitted, admitted_ages, cache)
    pairs = [
        [
            _simulate_site(
                country,
                streams,
                rep,
                h,
                per_hospital[rep, :, h],
                changes[h],
                cache,
                _growth(country, admitted, rep, h, admitted_ages[rep, :, :, h]),
            )
            for h in range(len(country.hospitals))
        ]
        for rep in range(world.replicates)
    ]
    o = world.feedback.icu_overflow
    runs = tuple(tuple(run for run, _ in row) for row in pairs)
    extra = queue_overflow_deaths(
        _icu_queues(runs, tuple(site.icu_unit for site in country.hospitals)),
        p_death_with_care=o.p_death_with_care,
        p_death_without_care=o.p_death_without_care,
        mean_stay_days=o.mean_stay_days,
    )
    return CountryResult(
        name=country.name,
        epidemic=epidemic,
        hospitals=catchment.hospitals,
        hospital_region=hospital_region,
        routed=routed,
        hospital_runs=runs,
        icu_beds=icu_beds,
        overflow_deaths=to_regions(extra, hospital_region, n_regions),
        icu_schedule=schedule,
        reallocations=tuple(plan for plan, _ in plans),
        patients=_patients(country, streams, admitted, pairs, admitted_ages, geography.age_groups),
        hospital_overflow_deaths=extra,
        icu_units=tuple(site.icu_unit for site in country.hospitals),
        reviews=() if loop is None else tuple(loop.reviews),
    )


def _simulate_site(
    country: CountryWorld,
    streams: RandomStreams,
    rep: int,
    h: int,
    counts: IntArray,
    changes: Sequence[tuple[int, int]],
    twin_cache: dict[tuple[int, int, int], Any] | None = None,
    twin_growth: FloatArray | None = None,
) -> tuple[HospitalRun, PatientStays]:
    """Hospital ``h`` of replicate ``rep`` on its admissions per day (``counts``)."""
    site = country.hospitals[h]
    return simulate_hospital(
        site.config,
        counts,
        entry_unit=site.entry_unit,
        icu_unit=site.icu_unit,
        seed=_seed(streams, f"world/{country.name}/hospital/{site.name}"),
        replication=rep,
        twins=_twins(country, site),
        icu_beds=[(d, b) for d, b in changes if d < counts.size],
        twin_cache=twin_cache,
        twin_growth=twin_growth,
    )


def _hospital_loop(
    world: WorldScenario,
    country: CountryWorld,
    streams: RandomStreams,
    catchment: Catchment,
    hospital_region: IntArray,
    beds: FloatArray,
    planner: _NationalPlanner | None,
    cache: dict[tuple[int, int, int], Any],
    admitted: tuple[AdmittedPatients | None, ...],
) -> HospitalLoop | None:
    """The co-simulation of hospitals and epidemic, when the occupancy line watches hospitals."""
    line = world.feedback.occupancy_line
    if line is None or line.source != "hospitals":
        return None
    if planner is not None and planner.spec.forecast == "ensemble":
        raise InvalidInputError(
            f"country {country.name!r}: national.forecast 'ensemble' needs the whole run's "
            "ICU demand, which is not known while the hospitals are simulated with the "
            "epidemic (feedback.occupancy_line.source: hospitals); use national.forecast: "
            "trend, or occupancy_line.source: epidemic"
        )
    spec = country.population_scenario(world)
    inputs = build_inputs(spec)

    reviewed_days = [0]

    def simulate(rep: int, h: int, counts: IntArray, changes: Sequence[tuple[int, int]]) -> Any:
        if counts.size != reviewed_days[0]:
            # A new review: every hospital's new twins integrated at once.
            reviewed_days[0] = counts.size
            ages = loop.routed_ages[:, : counts.size].sum(axis=2)
            _prefetch_twins(country, streams, admitted, ages, cache)
        # The patients so far, matched as the whole run matches them (prefix-consistent).
        by_day_band = loop.routed_ages[rep, : counts.size, :, :, h].sum(axis=1)
        growth = _growth(country, admitted, rep, h, by_day_band)
        return _simulate_site(country, streams, rep, h, counts, changes, cache, growth)[0]

    loop = HospitalLoop(
        catchment,
        hospital_region,
        beds,
        days=world.days,
        replicates=world.replicates,
        n_ages=inputs.geography.n_ages,
        n_settings=len(inputs.contacts.settings),
        routing=lambda day: streams.generator(f"world/{country.name}/routing/day{day}"),
        simulate=simulate,
        line=line.line,
        contact_scale=line.contact_scale,
        review_every_days=line.review_every_days,
        plan_days=() if planner is None else tuple(planner.spec.days),
        plan=None if planner is None else planner.plan_on_trend,
    )
    return loop


class _NationalPlanner:
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
    ) -> _NationalPlanner | None:
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


def _icu_changes(
    start: list[int], plans: list[tuple[IcuReallocation, IntArray]]
) -> list[list[tuple[int, int]]]:
    """Per hospital, the ``(day, beds)`` at which its ICU beds change (unchanged: none)."""
    out: list[list[tuple[int, int]]] = []
    for h, beds in enumerate(start):
        mine = []
        for plan, per_hospital in plans:
            if int(per_hospital[h]) != beds:
                beds = int(per_hospital[h])
                mine.append((plan.day, beds))
        out.append(mine)
    return out


def _twins(country: CountryWorld, site: HospitalSite) -> TwinCourseSettings | None:
    spec = country.patients_of(site)
    return spec.twin.settings() if spec is not None and spec.course == "twins" else None


def _admitted_patients(
    world: WorldScenario,
    country: CountryWorld,
    streams: RandomStreams,
    spec: Any,
    variant: Variant,
    inputs: Any,
) -> tuple[AdmittedPatients | None, ...]:
    """Per hospital: how its patients are matched and their twins' growth (None: no spec).

    The cohort (``cohort_size`` members) is generated once per hospital; with ``course:
    twins`` and ``twin.calibrate``, each band's factor makes the twins of the members the
    band is matched to die at the disease's hospital fatality of the band
    (:mod:`~healthtwin.coupling.twin_calibration`; one death curve per twin settings).
    """
    age_groups = inputs.geography.age_groups
    target = hospital_fatality(parameters_for(spec, variant), len(age_groups))
    edges = age_band_edges(age_groups)
    curves: dict[Any, TwinDeathCurve] = {}
    out: list[AdmittedPatients | None] = []
    for site in country.hospitals:
        patients = country.patients_of(site)
        if patients is None:
            out.append(None)
            continue
        ages = multiplier = None
        if patients.cohort_size > 0:
            cohort = generate_cohort(
                patients.cohort_spec(),
                patients.cohort_size,
                seed=_seed(streams, f"world/{country.name}/cohort/{site.name}"),
            )
            ages = np.asarray(cohort.columns["age_years"], dtype=float)
            multiplier = covariate_multiplier(
                ages,
                *(cohort.columns.get(k) for k in ("diabetes", "hypertension")),
            )
        admitted = AdmittedPatients(
            partial(_ages_stream, streams, f"world/{country.name}/ages/{site.name}"),
            np.ones(len(age_groups)),
            ages,
            multiplier,
            edges,
        )
        if patients.course == "twins" and patients.twin.calibrate:
            settings = patients.twin.settings()
            if settings not in curves:
                curves[settings] = death_curve(settings)
            calibration = calibrate_age_factors(curves[settings], target, admitted.pools())
            admitted = replace(admitted, age_factor=calibration.age_factor)
        out.append(admitted)
    return tuple(out)


def _ages_stream(streams: RandomStreams, name: str, rep: int) -> np.random.Generator:
    return streams.generator(f"{name}/rep{rep}")


def _growth(
    country: CountryWorld,
    admitted: tuple[AdmittedPatients | None, ...],
    rep: int,
    h: int,
    by_day_band: IntArray,
) -> FloatArray | None:
    """Twin growth multipliers of hospital ``h``'s patients (None without twins)."""
    patients = admitted[h] if admitted else None
    spec = country.patients_of(country.hospitals[h])
    if patients is None or spec is None or spec.course != "twins":
        return None
    return patients.growth(*patients.match(rep, by_day_band))


def _prefetch_twins(
    country: CountryWorld,
    streams: RandomStreams,
    admitted: tuple[AdmittedPatients | None, ...],
    ages: IntArray,
    cache: dict[tuple[int, int, int], Any],
) -> None:
    """Integrate together the twins every hospital and replicate will ask the cache for.

    ``ages`` is ``(reps, days, A, H)``: the admissions so far. The twins are those the
    runs of :func:`_simulate_site` create (same seeds, course streams and growth).
    """
    by_settings: dict[TwinCourseSettings, list[tuple[int, int, FloatArray]]] = {}
    for h, site in enumerate(country.hospitals):
        spec = country.patients_of(site)
        if spec is None or spec.course != "twins":
            continue
        seed = _seed(streams, f"world/{country.name}/hospital/{site.name}")
        for rep in range(ages.shape[0]):
            growth = _growth(country, admitted, rep, h, ages[rep, :, :, h])
            if growth is None or not growth.size:
                continue
            course_rng = RandomStreams(seed).generator(f"hospital/rep{rep}/course")
            courses = by_settings.setdefault(spec.twin.settings(), [])
            courses.append((seed, replication_entropy(course_rng), growth))
    for settings, courses in by_settings.items():
        prefetch_twins(settings, courses, cache)


def _patients(
    country: CountryWorld,
    streams: RandomStreams,
    admitted: tuple[AdmittedPatients | None, ...],
    pairs: list[list[tuple[HospitalRun, PatientStays]]],
    admitted_ages: IntArray,
    age_groups: tuple[str, ...],
) -> tuple[dict[str, Any] | None, ...]:
    """Per hospital: its admitted patients' summary (None without a ``patients`` section).

    With a cohort, each admitted patient is matched to a member of the same age band
    (:mod:`~healthtwin.scenarios.ages`; ``admitted_ages`` is ``(reps, days, A, H)``), or to
    member ``p mod size`` when the age groups have no numeric bands. ``by_age_band``
    gives each band's patients, the deaths their routes end in (with twins, the twins'
    prognosis, also after the run's end) and the twins' growth factor.
    """
    edges = age_band_edges(age_groups)
    out: list[dict[str, Any] | None] = []
    for h, site in enumerate(country.hospitals):
        spec = country.patients_of(site)
        patients = admitted[h] if admitted else None
        if spec is None or patients is None:
            out.append(None)
            continue
        summary: dict[str, Any] = dict(summarise_stays([row[h][1] for row in pairs], spec.course))
        matched = [patients.match(rep, admitted_ages[rep, :, :, h]) for rep in range(len(pairs))]
        bands = np.concatenate([b for b, _ in matched])
        died = np.concatenate([row[h][1].died for row in pairs])
        summary["by_age_band"] = {
            label: {
                "patients": int((bands == b).sum()),
                "deaths": int(died[bands == b].sum()) if died.size == bands.size else None,
                "twin_growth_factor": float(patients.age_factor[b]),
            }
            for b, label in enumerate(age_groups)
        }
        if patients.member_ages is not None:
            cohort = generate_cohort(
                spec.cohort_spec(),
                spec.cohort_size,
                seed=_seed(streams, f"world/{country.name}/cohort/{site.name}"),
            )
            member = np.concatenate([m for _, m in matched if m is not None])
            summary["admitted_cohort"] = {
                k: float(cohort.columns[k][member].mean()) if member.size else None
                for k in ("age_years", "female", "hypertension", "diabetes")
            }
            if edges is not None:
                own = np.searchsorted(edges, patients.member_ages[member], side="right") - 1
                share: float | None = float((own == bands).mean()) if bands.size else None
            else:
                share = None
            summary["admitted_cohort"]["age_band_matched_share"] = share
            if site.prognosis is not None:
                stays = [row[h][1] for row in pairs]
                summary["prognosis_check"] = _prognosis_check(
                    site, cohort.columns, [m for _, m in matched], stays
                )
        out.append(summary)
    return tuple(out)


def _prognosis_check(
    site: HospitalSite,
    columns: Mapping[str, Any],
    members: list[IntArray | None],
    stays: list[PatientStays],
) -> dict[str, Any]:
    """The hospital's prognosis model on its own admitted patients, checked against them.

    Each admitted patient's ICU-transfer risk comes from the features of the cohort member
    they were matched to; their simulated stay says whether they reached the ICU. Reported:
    patients, mean predicted risk against the observed ICU share (calibration in the
    large), Brier score and AUROC (discrimination), pooled over replicates.
    """
    assert site.prognosis is not None
    risk, reached = [], []
    for chosen, stay in zip(members, stays, strict=True):
        if chosen is None or chosen.size != stay.visited_icu.size:
            continue
        x = icu_features(*(np.asarray(columns[k])[chosen] for k in _ICU_COLUMNS))
        risk.append(site.prognosis.predict(x))
        reached.append(np.asarray(stay.visited_icu, dtype=bool))
    p = np.concatenate(risk) if risk else np.zeros(0)
    y = np.concatenate(reached) if reached else np.zeros(0, dtype=bool)
    return {
        "version": site.prognosis.version,
        "patients": int(p.size),
        "mean_predicted_icu": float(p.mean()) if p.size else None,
        "observed_icu_share": float(y.mean()) if y.size else None,
        "brier": float(np.mean((p - y) ** 2)) if p.size else None,
        "auroc": _auroc(p, y),
    }


#: Cohort columns of the prognosis model's features, in the order of ``icu_features``.
_ICU_COLUMNS = ("age_years", "female", "bmi_kg_m2", "diabetes", "hypertension")


def _auroc(score: FloatArray, label: npt.NDArray[np.bool_]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties halved); None without both classes.

    Examples
    --------
    >>> _auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    0.75
    """
    positives, negatives = int(label.sum()), int((~label).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = stats.rankdata(score)
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _seed(streams: RandomStreams, name: str) -> int:
    return int(streams.sequence(name).generate_state(1)[0])


def _region_index(country: CountryWorld, region: str, regions: tuple[str, ...]) -> int:
    if region not in regions:
        raise InvalidInputError(
            f"country {country.name!r}: a hospital serves region {region!r}, which the "
            f"geography does not have; regions are {list(regions)[:10]}"
        )
    return regions.index(region)


def _controller(
    world: WorldScenario,
    country: CountryWorld,
    spec: Any,
    variant: Variant,
    inputs: Any,
    beds: FloatArray,
    loop: HospitalLoop | None,
) -> Controller | None:
    """The country's interventions, occupancy trigger (or hospital loop) and vaccine campaign."""
    parts: list[Controller] = []
    plan = plan_for(spec, variant, inputs)
    if plan.interventions:
        parts.append(plan.controller(world.replicates))
    n_settings = len(inputs.contacts.settings)
    line = world.feedback.occupancy_line
    if loop is not None:
        parts.append(loop)
    elif line is not None:
        parts.append(
            OccupancyTrigger(
                beds,
                line=line.line,
                contact_scale=line.contact_scale,
                n_settings=n_settings,
                n_ages=inputs.geography.n_ages,
            )
        )
    national = country.national
    if national is not None and national.vaccine_daily_doses:
        parts.append(
            VaccineCampaign(
                national.vaccine_daily_doses,
                np.asarray(inputs.geography.population, dtype=float),
                tuple(national.days),
                n_settings,
                start_day=national.vaccine_start_day,
            )
        )
    if len(parts) <= 1:
        return parts[0] if parts else None
    return partial(_combined, tuple(parts))


def _combined(parts: tuple[Controller, ...], observed: Observed) -> DayControls | None:
    """Controllers together: multipliers multiply, isolations compound, doses add."""
    controls = [c for c in (part(observed) for part in parts) if c is not None]
    if not controls:
        return None
    kept = [np.prod([np.asarray(getattr(c, k)) for c in controls], axis=0) for k in
            ("contact_scale", "mobility_scale")]  # fmt: skip
    escape = np.prod([1.0 - np.asarray(c.isolation) for c in controls], axis=0)
    return DayControls(
        contact_scale=kept[0],
        mobility_scale=kept[1],
        isolation=1.0 - escape,
        vaccine_doses=np.sum([np.asarray(c.vaccine_doses) for c in controls], axis=0),
    )
