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
section each replicate's national planner reallocates ICU beds at given days from a
forecast of ICU demand (by default from that replicate's admissions, ICU admissions and
ICU occupancy so far, :mod:`~healthtwin.population.icu_forecast`; ``forecast:
ensemble`` is the replicate's own future, an oracle for comparison), pushed down to the
hospitals' ICUs for the rest of the run, so the ICU queues of step 3 are those of the
reallocated beds. Unmet ICU bed-days (the epidemic's ICU demand above the beds: the
planner's view) are reported with and without the reallocation (same epidemic: common
random numbers), next to the hospitals' simulated ICU queue (``icu_queue_days``).

Each country runs as one task, or, on a cluster, as tasks of a few replicates each
(:func:`world_tasks`): every draw above comes from a stream named after its replicate
(the epidemic's ``SeedSequence(seed, spawn_key=(r,))``, the routing's
``world/<country>/routing/rep<r>[/day<d>]``, the hospitals' replication ``r``, the
patients' ``ages/<hospital>/rep<r>``, the planner's forecast
``world/<country>/planner/rep<r>/day<d>``; twins are integrated each on its own), so a task of
replicates ``[a, b)`` computes exactly those replicates of the whole run, and the parts
are merged in replicate order (:func:`~healthtwin.scenarios.world_results.merge_parts`)
before the pooled numbers (patients' summaries, the prognosis check, overflow deaths) are
computed.

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

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.global_monitor import alarming_countries, monitor_countries
from healthtwin.coupling.hospital_region import (
    OccupancyTrigger,
    queue_overflow_deaths,
    to_regions,
)
from healthtwin.coupling.national_allocation import (
    VaccineCampaign,
    capacity_schedule,
)
from healthtwin.coupling.region_hospital import (
    Catchment,
    HospitalRun,
    route_admissions,
)
from healthtwin.errors import InvalidInputError
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.scenario import Variant
from healthtwin.population.scenario_build import build_inputs, parameters_for, plan_for
from healthtwin.scenarios.ages import AdmittedPatients
from healthtwin.scenarios.distributed import (
    CountryTask,
    check_cluster,
    default_replicates_per_task,
    executor_for,
    world_tasks,
)
from healthtwin.scenarios.federated import (
    share_back,
    train_federation,
)
from healthtwin.scenarios.hospital_loop import PLAN_OBSERVES, HospitalLoop
from healthtwin.scenarios.hospital_runs import PatientStays, TriageOrders, simulate_hospital
from healthtwin.scenarios.national_planner import NationalPlanner, icu_changes
from healthtwin.scenarios.world import CountryWorld, WorldScenario
from healthtwin.scenarios.world_patients import (
    admitted_patients,
    hospital_triage,
    patients_summary,
    prefetch_world_twins,
    triage_columns,
    twin_growth,
    twin_settings,
    world_seed,
)
from healthtwin.scenarios.world_results import (
    LEVELS,
    CountryPart,
    CountryResult,
    WorldResult,
    icu_queues,
    merge_parts,
)
from healthtwin.surveillance.monitor import MonitorConfig

__all__ = [
    "LEVELS",
    "CountryResult",
    "CountryTask",
    "WorldResult",
    "default_replicates_per_task",
    "run",
    "run_world",
    "world_tasks",
]

Controller = Callable[[Observed], DayControls | None]


def run_world(
    world: WorldScenario,
    *,
    cluster: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    replicates_per_task: int | None = None,
    on_steps: Callable[[int], None] | None = None,
) -> WorldResult:
    """Run a world scenario end to end (see the module docstring).

    Parameters
    ----------
    world
        The validated world scenario.
    cluster
        None (in this process, the default), ``"local"`` (a Dask LocalCluster of
        ``workers`` processes) or ``"tcp://host:port"`` (an existing scheduler); results
        are identical wherever they run (:mod:`~healthtwin.scenarios.distributed`).
    workers
        Workers of the local cluster.
    progress
        Called with the label of each finished step (``"federation"``, a country's name,
        or ``"<country> replicates a-b"`` for a chunk).
    replicates_per_task
        Cut each country's run into tasks of this many replicates
        (:func:`world_tasks`). Default: one task per country in process; on a cluster,
        chunks that give each worker about one task (:func:`default_replicates_per_task`).
    on_steps
        Called once, before anything runs, with the number of progress steps.

    Raises
    ------
    InvalidInputError
        A hospital serves a region the country's geography does not have; a bad cluster.

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
    >>> split = run_world(world, replicates_per_task=1)  # two tasks, the same numbers
    >>> split.summary() == result.summary()
    True
    """
    streams = RandomStreams(world.seed)
    # Federated training first (its model is shared back to the hospitals), then the
    # countries' tasks (whole countries or replicate chunks), in process or on Dask,
    # merged per country in replicate order.
    check_cluster(cluster, workers)
    if replicates_per_task is not None and replicates_per_task < 1:
        raise InvalidInputError(
            f"replicates_per_task = {replicates_per_task}; give at least 1 (or nothing for "
            "the default)"
        )
    federation = None
    if world.federation is not None:
        world, federation = share_back(world, train_federation(world, streams))
        if progress is not None:
            progress("federation")
    tasks: list[CountryTask] = []
    done = None if progress is None else (lambda i: progress(tasks[i].label))
    with executor_for(cluster, workers, on_done=done) as executor:
        size = replicates_per_task
        if size is None and cluster is not None:
            size = default_replicates_per_task(world, executor.slots)
        tasks.extend(world_tasks(world, size))
        if on_steps is not None:
            on_steps(len(tasks) + (world.federation is not None))
        # A split country's cohorts and twin calibration are computed once, here, and
        # sent to its tasks (a whole country's task computes its own, in parallel).
        split = {t.country for t in tasks if len(t.replicate_ids) < world.replicates}
        admitted = {k: _admitted(world, world.countries[k], streams) for k in sorted(split)}
        parts = executor.map(
            _run_part,
            [world] * len(tasks),
            [world.countries[t.country] for t in tasks],
            [streams] * len(tasks),
            [t.replicate_ids for t in tasks],
            [admitted.get(t.country) for t in tasks],
        )
    countries = tuple(
        _finish_country(
            world,
            country,
            streams,
            merge_parts([p for t, p in zip(tasks, parts, strict=True) if t.country == k]),
        )
        for k, country in enumerate(world.countries)
    )
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


def _run_part(
    world: WorldScenario,
    country: CountryWorld,
    streams: RandomStreams,
    replicate_ids: Sequence[int],
    admitted: tuple[AdmittedPatients | None, ...] | None = None,
) -> CountryPart:
    """Replicates ``replicate_ids`` of one country: epidemic, routing and hospitals.

    ``admitted`` is the country's :func:`_admitted` when already computed.
    """
    ids = tuple(int(i) for i in replicate_ids)
    spec = country.population_scenario(world)
    inputs = build_inputs(spec)
    geography = inputs.geography
    variant = Variant(name="baseline")
    hospital_region = _hospital_regions(country, geography.regions)
    catchment = _catchment(country, geography.regions, hospital_region, geography.n_regions)
    beds, icu_beds = _beds(country, hospital_region, geography.n_regions)
    planner = _planner(world, country, streams, spec, variant, icu_beds, hospital_region, ids)
    # Twins simulated once per part: the loop's reviews and the final runs share them.
    cache: dict[tuple[int, int, int], Any] = {}
    if admitted is None:
        admitted = admitted_patients(world, country, streams, spec, variant, inputs)
    loop = _hospital_loop(
        world, country, streams, catchment, hospital_region, beds, planner, cache, admitted, ids
    )
    controller = _controller(world, country, spec, variant, inputs, beds, loop, len(ids))
    epidemic = simulate_epidemic(
        geography,
        inputs.contacts,
        parameters_for(spec, variant),
        days=world.days,
        replicates=world.replicates,
        seed=world_seed(streams, f"world/{country.name}/epidemic"),
        mobility=inputs.mobility,
        initial_infected=inputs.initial_infected,
        controller=controller,
        keep_ages=True,
        replicate_ids=ids,
    )
    if loop is not None:
        # Routed and planned day by day while the epidemic ran (the reviews saw these).
        routed_ages = loop.routed_ages
        changes = loop.icu_changes
    else:
        # Routed with their age groups (reps, days, R, A, H), so that hospitals know ages;
        # each replicate from its own stream, so that a chunk routes as the whole run does.
        by_age = epidemic.get("admissions", by_age=True)
        routed_ages = np.concatenate(
            [
                route_admissions(
                    by_age[i : i + 1],
                    catchment,
                    streams.generator(f"world/{country.name}/routing/rep{rep}"),
                )
                for i, rep in enumerate(ids)
            ]
        )
        if planner is not None:
            planner.plan_all({q: epidemic.get(q) for q in PLAN_OBSERVES})
        start = [h.icu_beds() for h in country.hospitals]
        changes = [
            icu_changes(start, [] if planner is None else planner.plans[i]) for i in range(len(ids))
        ]
    admitted_ages = np.asarray(routed_ages.sum(axis=2), dtype=np.int64)  # (reps, days, A, H)
    per_hospital = np.asarray(routed_ages.sum(axis=(2, 3)), dtype=np.int64)  # (reps, days, H)
    prefetch_world_twins(country, streams, admitted, admitted_ages, cache, ids)
    triaging = triage_columns(country, streams, admitted)
    pairs = tuple(
        tuple(
            _simulate_site(
                country,
                streams,
                rep,
                h,
                per_hospital[i, :, h],
                changes[i][h],
                cache,
                twin_growth(country, admitted, rep, h, admitted_ages[i, :, :, h]),
                hospital_triage(country, admitted, triaging, rep, h, admitted_ages[i, :, :, h]),
            )
            for h in range(len(country.hospitals))
        )
        for i, rep in enumerate(ids)
    )
    return CountryPart(
        replicate_ids=ids,
        epidemic=epidemic,
        routed_ages=np.asarray(routed_ages, dtype=np.int64),
        pairs=pairs,
        reviews=() if loop is None else tuple(loop.reviews),
        icu_changes=tuple(tuple(tuple(c) for c in row) for row in changes),
        plans=tuple(() for _ in ids) if planner is None else tuple(map(tuple, planner.plans)),
        admitted=admitted,
    )


def _planner(
    world: WorldScenario,
    country: CountryWorld,
    streams: RandomStreams,
    spec: Any,
    variant: Variant,
    icu_beds: FloatArray,
    hospital_region: IntArray,
    ids: tuple[int, ...],
) -> NationalPlanner | None:
    """Each replicate's national ICU planner, with a forecast stream per replicate and day."""
    if country.national is None:
        return None
    params = parameters_for(spec, variant)

    def planner_streams(i: int, day: int) -> np.random.Generator:
        return streams.generator(f"world/{country.name}/planner/rep{ids[i]}/day{day}")

    return NationalPlanner(
        country.national,
        np.array([h.icu_beds() for h in country.hospitals], dtype=np.int64),
        icu_beds,
        hospital_region,
        replicates=len(ids),
        days=world.days,
        icu_stay_days=float(params.icu_stay_days),
        icu_share=float(np.mean(params.icu_fraction)),
        streams=planner_streams,
    )


def _admitted(
    world: WorldScenario, country: CountryWorld, streams: RandomStreams
) -> tuple[AdmittedPatients | None, ...]:
    """The country's admitted-patient matching (cohorts, calibrated twin growth)."""
    spec = country.population_scenario(world)
    variant = Variant(name="baseline")
    return admitted_patients(world, country, streams, spec, variant, build_inputs(spec))


def _finish_country(
    world: WorldScenario, country: CountryWorld, streams: RandomStreams, part: CountryPart
) -> CountryResult:
    """A country's result from all its replicates (the pooled numbers are computed here)."""
    if part.replicate_ids != tuple(range(world.replicates)):
        raise InvalidInputError(
            f"country {country.name!r}: the merged parts hold replicates "
            f"{list(part.replicate_ids)}, not 0..{world.replicates - 1}"
        )
    epidemic = part.epidemic
    n_regions = len(epidemic.regions)
    hospital_region = _hospital_regions(country, epidemic.regions)
    catchment = _catchment(country, epidemic.regions, hospital_region, n_regions)
    _, icu_beds = _beds(country, hospital_region, n_regions)
    routed = np.asarray(part.routed_ages.sum(axis=3), dtype=np.int64)
    admitted_ages = np.asarray(part.routed_ages.sum(axis=2), dtype=np.int64)
    schedule = np.stack(
        [
            capacity_schedule(
                np.rint(icu_beds).astype(np.int64), [(p.day, p.after) for p, _ in plans], world.days
            )
            for plans in part.plans
        ]
    )
    o = world.feedback.icu_overflow
    runs = tuple(tuple(run for run, _ in row) for row in part.pairs)
    icu_units = tuple(site.icu_unit for site in country.hospitals)
    extra = queue_overflow_deaths(
        icu_queues(runs, icu_units),
        p_death_with_care=o.p_death_with_care,
        p_death_without_care=o.p_death_without_care,
        mean_stay_days=o.mean_stay_days,
    )
    pairs = [list(row) for row in part.pairs]
    return CountryResult(
        name=country.name,
        epidemic=part.epidemic,
        hospitals=catchment.hospitals,
        hospital_region=hospital_region,
        routed=routed,
        hospital_runs=runs,
        icu_beds=icu_beds,
        overflow_deaths=to_regions(extra, hospital_region, n_regions),
        icu_schedule=schedule,
        reallocations=tuple(tuple(plan for plan, _ in plans) for plans in part.plans),
        patients=patients_summary(
            country, streams, part.admitted, pairs, admitted_ages, epidemic.age_groups
        ),
        hospital_overflow_deaths=extra,
        icu_units=icu_units,
        reviews=part.reviews,
    )


def _hospital_regions(country: CountryWorld, regions: tuple[str, ...]) -> IntArray:
    return np.array([_region_index(country, h.region, regions) for h in country.hospitals])


def _catchment(
    country: CountryWorld, regions: tuple[str, ...], hospital_region: IntArray, n_regions: int
) -> Catchment:
    shares = np.zeros((n_regions, len(country.hospitals)))
    for h, site in enumerate(country.hospitals):
        shares[hospital_region[h], h] = site.catchment_share
    return Catchment(regions, tuple(h.name for h in country.hospitals), shares)


def _beds(
    country: CountryWorld, hospital_region: IntArray, n_regions: int
) -> tuple[FloatArray, FloatArray]:
    """Beds (all units) and ICU beds of each region's hospitals, ``(R,)`` each."""
    beds = to_regions(
        np.array([h.total_beds() for h in country.hospitals]), hospital_region, n_regions
    )
    icu_beds = to_regions(
        np.array([h.icu_beds() for h in country.hospitals]), hospital_region, n_regions
    )
    return beds, icu_beds


def _simulate_site(
    country: CountryWorld,
    streams: RandomStreams,
    rep: int,
    h: int,
    counts: IntArray,
    changes: Sequence[tuple[int, int]],
    twin_cache: dict[tuple[int, int, int], Any] | None = None,
    twin_growth: FloatArray | None = None,
    triage: TriageOrders | None = None,
) -> tuple[HospitalRun, PatientStays]:
    """Hospital ``h`` of replicate ``rep`` on its admissions per day (``counts``)."""
    site = country.hospitals[h]
    return simulate_hospital(
        site.config,
        counts,
        entry_unit=site.entry_unit,
        icu_unit=site.icu_unit,
        seed=world_seed(streams, f"world/{country.name}/hospital/{site.name}"),
        replication=rep,
        twins=twin_settings(country, site),
        icu_beds=[(d, b) for d, b in changes if d < counts.size],
        twin_cache=twin_cache,
        twin_growth=twin_growth,
        triage=triage,
    )


def _hospital_loop(
    world: WorldScenario,
    country: CountryWorld,
    streams: RandomStreams,
    catchment: Catchment,
    hospital_region: IntArray,
    beds: FloatArray,
    planner: NationalPlanner | None,
    cache: dict[tuple[int, int, int], Any],
    admitted: tuple[AdmittedPatients | None, ...],
    ids: tuple[int, ...],
) -> HospitalLoop | None:
    """The co-simulation of hospitals and epidemic, when the occupancy line watches hospitals.

    The loop's replicate ``i`` is the world's replicate ``ids[i]``.
    """
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
    triaging = triage_columns(country, streams, admitted)

    def simulate(i: int, h: int, counts: IntArray, changes: Sequence[tuple[int, int]]) -> Any:
        if counts.size != reviewed_days[0]:
            # A new review: every hospital's new twins integrated at once.
            reviewed_days[0] = counts.size
            ages = loop.routed_ages[:, : counts.size].sum(axis=2)
            prefetch_world_twins(country, streams, admitted, ages, cache, ids)
        # The patients so far, matched as the whole run matches them (prefix-consistent).
        by_day_band = loop.routed_ages[i, : counts.size, :, :, h].sum(axis=1)
        growth = twin_growth(country, admitted, ids[i], h, by_day_band)
        triage = hospital_triage(country, admitted, triaging, ids[i], h, by_day_band)
        return _simulate_site(country, streams, ids[i], h, counts, changes, cache, growth, triage)[
            0
        ]

    def routing(i: int, day: int) -> np.random.Generator:
        return streams.generator(f"world/{country.name}/routing/rep{ids[i]}/day{day}")

    loop = HospitalLoop(
        catchment,
        hospital_region,
        beds,
        days=world.days,
        replicates=len(ids),
        n_ages=inputs.geography.n_ages,
        n_settings=len(inputs.contacts.settings),
        routing=routing,
        simulate=simulate,
        line=line.line,
        contact_scale=line.contact_scale,
        review_every_days=line.review_every_days,
        plan_days=() if planner is None else tuple(planner.spec.days),
        plan=None if planner is None else planner.plan,
    )
    return loop


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
    reps: int,
) -> Controller | None:
    """The country's interventions, occupancy trigger (or hospital loop) and vaccine campaign."""
    parts: list[Controller] = []
    plan = plan_for(spec, variant, inputs)
    if plan.interventions:
        parts.append(plan.controller(reps))
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
