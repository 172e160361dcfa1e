"""What a world run leaves: every scale of each country, and the world's monitor.

:class:`CountryResult` holds one country's epidemic, its hospitals' runs, the national
planner's reallocations and the admitted patients' summaries, with the accessors that
sum them into one source of truth per level (nation = regions = hospitals + community);
a country run cut into replicate chunks (:func:`~healthtwin.scenarios.run.run_world` on
Dask) leaves one :class:`CountryPart` per chunk, which :func:`merge_parts` stacks back in
replicate order before the country's result is finished; :class:`WorldResult` adds
the cross-border monitor and the federation, and its
:meth:`~WorldResult.summary` is the ``summary.json`` of :mod:`~healthtwin.scenarios.outputs`.
Built by :func:`~healthtwin.scenarios.run.run_world`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.hospital_region import to_regions
from healthtwin.coupling.nation import NationalSeries, aggregate
from healthtwin.coupling.national_allocation import IcuReallocation
from healthtwin.coupling.region_hospital import HospitalRun
from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.population.ensemble import merge_results
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.scenarios.ages import AdmittedPatients
from healthtwin.scenarios.federated import FederatedWorld
from healthtwin.scenarios.hospital_loop import Review
from healthtwin.scenarios.hospital_runs import PatientStays
from healthtwin.scenarios.world import CountryWorld, HospitalSite, WorldScenario, world_warnings
from healthtwin.surveillance.monitor import MonitorReport

__all__ = [
    "LEVELS",
    "QUANTILE_MIN_REPLICATES",
    "CountryPart",
    "CountryResult",
    "ReplicateBand",
    "WorldResult",
    "growth_at_horizon",
    "icu_queues",
    "merge_parts",
    "population",
    "waiting",
]

#: The quantiles of a band over at least :data:`QUANTILE_MIN_REPLICATES` replicates.
LEVELS = (0.05, 0.5, 0.95)


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
    icu_schedule : ndarray of int, shape (reps, days, R)
        ICU beds per replicate, day and region after the national planner's reallocations.
    reallocations
        ``reallocations[rep]``: that replicate's planner's reallocations, in day order.
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
    reallocations: tuple[tuple[IcuReallocation, ...], ...] = ()
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
        return icu_queues(self.hospital_runs, self.icu_units)

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


@dataclass(frozen=True)
class CountryPart:
    """What one task of a country's run leaves: some of its replicates, before pooling.

    Everything here is per replicate (the pooled numbers, such as the patients' summaries
    and the prognosis check, are computed from the merged parts).

    Attributes
    ----------
    replicate_ids
        The replicates, in the order of every leading axis below.
    epidemic
        The epidemic of these replicates.
    routed_ages : ndarray of int, shape (reps, days, R, A, H)
        Admissions routed to each hospital, by age group.
    pairs
        ``pairs[rep][h]``: hospital ``h``'s run and its patients' stays.
    reviews
        The hospital loop's reviews (occupancy and regions above the line of these
        replicates).
    icu_changes
        ``icu_changes[rep][h]``: hospital ``h``'s ICU bed changes ``(day, beds)``.
    plans
        ``plans[rep]``: that replicate's planner's plans ``(reallocation, beds per
        hospital)`` in day order (empty without a planner).
    admitted
        Per hospital, how its patients are matched (deterministic: the same in every part).
    """

    replicate_ids: tuple[int, ...]
    epidemic: EpidemicResult
    routed_ages: IntArray
    pairs: tuple[tuple[tuple[HospitalRun, PatientStays], ...], ...]
    reviews: tuple[Review, ...]
    icu_changes: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]
    plans: tuple[tuple[tuple[IcuReallocation, IntArray], ...], ...]
    admitted: tuple[AdmittedPatients | None, ...]


def merge_parts(parts: Sequence[CountryPart]) -> CountryPart:
    """The parts of one country's run stacked in replicate order, as one unsplit part.

    Raises
    ------
    InvalidInputError
        No parts, or the same replicate twice.
    """
    if not parts:
        raise InvalidInputError("a country's run needs at least one part to merge; got none")
    if len(parts) == 1:
        return parts[0]
    ids = [i for p in parts for i in p.replicate_ids]
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"parts overlap: replicates {sorted(ids)} appear twice")
    order = np.argsort(ids, kind="stable")
    first = parts[0]
    pairs = [row for p in parts for row in p.pairs]
    reviews = tuple(
        Review(
            day=r.day,
            occupancy=np.concatenate([p.reviews[k].occupancy for p in parts])[order],
            above=np.concatenate([p.reviews[k].above for p in parts])[order],
        )
        for k, r in enumerate(first.reviews)
    )
    return CountryPart(
        replicate_ids=tuple(int(ids[i]) for i in order),
        epidemic=merge_results([p.epidemic for p in parts]),
        routed_ages=np.concatenate([p.routed_ages for p in parts])[order],
        pairs=tuple(pairs[i] for i in order),
        reviews=reviews,
        icu_changes=tuple(_rows(parts, "icu_changes")[i] for i in order),
        plans=tuple(_rows(parts, "plans")[i] for i in order),
        admitted=first.admitted,
    )


def _rows(parts: Sequence[CountryPart], name: str) -> list[Any]:
    """The per-replicate rows of attribute ``name`` of every part, in the parts' order."""
    return [row for p in parts for row in getattr(p, name)]


def icu_queues(
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
        """Key numbers with their bands over replicates (JSON values).

        Every band is ``[low, median, high]``: the range of the replicates below
        :data:`QUANTILE_MIN_REPLICATES` of them, else their 5 % and 95 % quantiles
        (``interval`` says which, :class:`ReplicateBand`). Cumulative totals run to day
        ``totals_to_day``.
        """
        band = ReplicateBand(self.world.replicates)
        out: dict[str, Any] = {
            "scenario": self.world.name,
            "seed": self.world.seed,
            "days": self.world.days,
            "replicates": self.world.replicates,
            "quantile_levels": list(band.levels),
            "interval": band.as_dict(),
            "totals_to_day": self.world.days,
            "alarming_countries": sorted(self.alarms),
            # Scales that disagree (e.g. a hospital's fatality far from the disease's).
            "warnings": list(world_warnings(self.world)),
            "countries": {},
        }
        sites = {c.name: c for c in self.world.countries}
        for c in self.countries:
            out["countries"][c.name] = _country_summary(c, sites.get(c.name), band)
        # W15b: the federation, and the model each hospital received.
        return out if self.federation is None else self.federation.annotate(out)


#: Replicates from which a band is the 5-95 % quantiles; with fewer it is their range.
QUANTILE_MIN_REPLICATES = 20


@dataclass(frozen=True)
class ReplicateBand:
    """How the spread of a number over ``replicates`` replicates is reported and labelled.

    Below :data:`QUANTILE_MIN_REPLICATES` replicates the 5 % and 95 % quantiles would only
    interpolate between the extreme values, so the band is the range (min, max); from
    that many on it is the 5-95 % quantiles. The summary, the CSV headers and the report
    all take their levels, column names and label from here.

    Examples
    --------
    >>> few = ReplicateBand(4)
    >>> few.label, few.columns, few.of(np.array([3.0, 1.0, 2.0, 10.0]))
    ('range of 4 replicates', ('min', 'median', 'max'), [1.0, 2.5, 10.0])
    >>> ReplicateBand(20).label, ReplicateBand(20).columns
    ('90 % interval of 20 replicates', ('q0.05', 'median', 'q0.95'))
    """

    replicates: int

    def __post_init__(self) -> None:
        if self.replicates < 1:
            raise InvalidInputError(f"a band needs at least one replicate; got {self.replicates}")

    @property
    def is_range(self) -> bool:
        """Whether the band is the range of the replicates (too few for quantiles)."""
        return self.replicates < QUANTILE_MIN_REPLICATES

    @property
    def levels(self) -> tuple[float, float, float]:
        """Quantile levels of ``[low, median, high]`` (0 and 1: the range)."""
        return (0.0, 0.5, 1.0) if self.is_range else (LEVELS[0], LEVELS[1], LEVELS[2])

    @property
    def columns(self) -> tuple[str, str, str]:
        """Column names of ``[low, median, high]`` in tables."""
        return ("min", "median", "max") if self.is_range else ("q0.05", "median", "q0.95")

    @property
    def label(self) -> str:
        """What ``[low, high]`` is, in words."""
        n = self.replicates
        if self.is_range:
            return f"range of {n} replicate{'' if n == 1 else 's'}"
        return f"90 % interval of {n} replicates"

    def of(self, values: FloatArray) -> list[float]:
        """``[low, median, high]`` of one value per replicate, ``(replicates,)``."""
        v = np.asarray(values, dtype=float)
        if v.shape != (self.replicates,):
            raise ShapeError(
                f"a band needs one value per replicate ({self.replicates},); got {v.shape}"
            )
        return [float(x) for x in np.quantile(v, self.levels)]

    def as_dict(self) -> dict[str, Any]:
        """The band's description as JSON values."""
        return {
            "kind": "range" if self.is_range else "quantiles",
            "levels": list(self.levels),
            "columns": list(self.columns),
            "replicates": self.replicates,
            "label": self.label,
        }


def waiting(c: CountryResult, sites: Sequence[HospitalSite] | None, unit: str) -> FloatArray:
    """Patients waiting for a bed (mean over each day), ``(reps, days, H)``.

    ``unit`` is ``"icu"`` (each hospital's ICU unit) or ``"ward"`` (every other unit).
    """
    if unit == "icu":
        return c.icu_queue_days()
    icu = c.icu_units or tuple(s.icu_unit for s in sites or ())

    def rest(run: HospitalRun, mine: str | None) -> FloatArray:
        keep = [k for k, u in enumerate(run.units) if u != mine]
        return np.asarray(run.queue_days[:, keep].sum(axis=1))

    return np.stack(
        [
            np.stack([rest(r, u) for r, u in zip(row, icu, strict=True)], -1)
            for row in c.hospital_runs
        ]
    )


def _reallocations(c: CountryResult, moved: FloatArray, band: ReplicateBand) -> list[Any]:
    """Each planning day: beds moved (band over replicates) and the regions' beds after."""
    if not c.reallocations or not c.reallocations[0]:
        return []
    out = []
    for k, first in enumerate(c.reallocations[0]):
        after = np.stack([plans[k].after for plans in c.reallocations])
        out.append(
            {
                "day": first.day,
                "moved": band.of(moved[:, k]),
                "after": np.median(after, axis=0).tolist(),
                "after_by_replicate": after.tolist(),
            }
        )
    return out


def _country_summary(
    c: CountryResult, country: CountryWorld | None, band: ReplicateBand
) -> dict[str, Any]:
    sites = tuple(country.hospitals) if country is not None else None
    died = c.hospital_deaths().sum(axis=1)
    ward_wait, icu_wait = waiting(c, sites, "ward").sum(axis=1), c.icu_queue_days().sum(axis=1)
    infections = np.asarray(c.epidemic.incidence, dtype=float).sum(axis=(1, 2))
    hospitals = _hospitals_summary(c, sites, band)
    moved = np.array([[r.moved for r in plans] for plans in c.reallocations], dtype=float)
    moved = moved.reshape(len(c.hospital_runs), -1)
    icu_adm = [
        None if not c.patients or p is None else p.get("icu_admissions_per_replicate")
        for p in (c.patients or (None,) * len(c.hospitals))
    ]
    return {
        "infections": band.of(infections),
        "attack_rate": band.of(infections / float(population(c).sum())),
        "admissions": band.of(c.national("admissions").cumulative()),
        # Hospitals' ICU admissions (their patients' routes), when every hospital records them.
        "icu_admissions": (
            band.of(np.sum([a for a in icu_adm if a is not None], axis=0))
            if all(a is not None for a in icu_adm)
            else None
        ),
        "deaths": band.of(c.national("deaths").cumulative()),
        "hospital_deaths": band.of(died.sum(axis=1)),
        "overflow_deaths": band.of(c.overflow_deaths.sum(axis=(1, 2))),
        "community_deaths": band.of(c.community_deaths().sum(axis=(1, 2))),
        "epidemic_deaths": band.of(c.epidemic.deaths.sum(axis=(1, 2))),
        "ward_queue_days": band.of(ward_wait.sum(axis=1)),
        "icu_queue_days": band.of(icu_wait.sum(axis=1)),
        "peak_icu_demand": band.of(c.national("icu_occupancy").totals.max(axis=1)),
        "icu_beds": float(c.icu_beds.sum()),
        "beds_moved": band.of(moved.sum(axis=1)),
        "unmet_icu_bed_days": band.of(c.unmet_icu_bed_days()),
        "unmet_icu_bed_days_without_reallocation": band.of(c.unmet_icu_bed_days(reallocated=False)),
        "growth_at_horizon": growth_at_horizon(np.asarray(c.epidemic.incidence), band),
        "reallocations": _reallocations(c, moved, band),
        "occupancy_reviews": [
            {
                "day": r.day,
                "share_of_replicates_above": dict(
                    zip(c.epidemic.regions, r.above.mean(axis=0).tolist(), strict=True)
                ),
            }
            for r in c.reviews
        ],
        "regions": _regions_summary(c, band),
        "hospitals": hospitals,
    }


def population(c: CountryResult) -> FloatArray:
    """People per region, ``(R,)`` (every compartment and age group at the end)."""
    return np.asarray(np.asarray(c.epidemic.final_state[0], dtype=float).sum(axis=(0, 2)))


def _regions_summary(c: CountryResult, band: ReplicateBand) -> dict[str, dict[str, Any]]:
    people = population(c)
    infected = np.asarray(c.epidemic.incidence, dtype=float).sum(axis=1)  # (reps, R)
    admissions = np.asarray(c.epidemic.admissions, dtype=float)
    icu = np.asarray(c.epidemic.icu_occupancy, dtype=float)
    doses = np.asarray(c.epidemic.vaccinated, dtype=float)[:, -1]
    out: dict[str, dict[str, Any]] = {}
    for r, name in enumerate(c.epidemic.regions):
        out[name] = {
            "population": float(people[r]),
            "infections": band.of(infected[:, r]),
            "attack_rate": band.of(infected[:, r] / people[r]),
            "admissions": band.of(admissions[:, :, r].sum(axis=1)),
            "peak_admissions_day": band.of(admissions[:, :, r].argmax(axis=1).astype(float)),
            "peak_icu_demand": band.of(icu[:, :, r].max(axis=1)),
            "vaccine_doses": band.of(doses[:, r]) if doses.any() else None,
            "hospitals": [h for h, k in zip(c.hospitals, c.hospital_region, strict=True) if k == r],
        }
    return out


def _hospitals_summary(
    c: CountryResult, sites: Sequence[HospitalSite] | None, band: ReplicateBand
) -> dict[str, dict[str, Any]]:
    admitted = c.hospital_admissions().sum(axis=1)
    died = c.hospital_deaths().sum(axis=1)
    overflow = np.asarray(c.hospital_overflow_deaths).sum(axis=1)
    queued = c.icu_queue_days().sum(axis=1)
    occupancy = c.hospital_occupancy()
    out: dict[str, dict[str, Any]] = {}
    for h, name in enumerate(c.hospitals):
        runs = [row[h] for row in c.hospital_runs]
        units = runs[0].units
        waited = np.stack([r.queue_days for r in runs])  # (reps, days, U)
        mine: dict[str, Any] = {
            "admissions": band.of(admitted[:, h]),
            "peak_occupancy": band.of(occupancy[:, :, h].max(axis=1)),
            "deaths": band.of(died[:, h]),
            "overflow_deaths": band.of(overflow[:, h]),
            "discharges": band.of(np.array([r.discharges_per_day.sum() for r in runs], float)),
            "icu_queue_days": band.of(queued[:, h]),
            "queue_days": {u: band.of(waited[:, :, k].sum(axis=1)) for k, u in enumerate(units)},
            "peak_waiting": {u: band.of(waited[:, :, k].max(axis=1)) for k, u in enumerate(units)},
        }
        if sites is not None:
            site = sites[h]
            mine["catchment"] = {"region": site.region, "share": site.catchment_share}
            mine["beds"] = {u: spec.beds for u, spec in site.config.units.items()}
            # ICU beds at the end of each replicate's run, after its planner's moves.
            k = units.index(site.icu_unit) if site.icu_unit in units else None
            after = np.array([0.0 if k is None else float(r.beds[k]) for r in runs])
            mine["icu_beds_moved"] = band.of(after - site.icu_beds())
        patients = c.patients[h] if c.patients else None
        if patients is not None:
            mine["patients"] = patients
            per_rep = patients.get("icu_admissions_per_replicate")
            if per_rep is not None and len(per_rep) == band.replicates:
                mine["icu_admissions"] = band.of(np.asarray(per_rep, dtype=float))
        out[name] = mine
    return out


def growth_at_horizon(incidence: FloatArray, band: ReplicateBand) -> dict[str, Any] | None:
    """Whether the epidemic still grows at the horizon: last week's infections vs the one before.

    ``incidence`` is ``(reps, days, R)``; None when the run is shorter than two weeks.

    Examples
    --------
    >>> x = np.zeros((2, 14, 1)); x[:, 7:] = 2.0; x[:, :7] = 1.0; x[1, 7:] = 0.5
    >>> g = growth_at_horizon(x, ReplicateBand(2))
    >>> g["share_of_replicates_growing"]
    0.5
    >>> g["note"].startswith("still growing at day 14 in 1 of 2 replicates")
    True
    """
    days = np.asarray(incidence).shape[1]
    if days < 14:
        return None
    weekly = np.asarray(incidence, dtype=float).sum(axis=2)
    last, before = weekly[:, -7:].sum(axis=1), weekly[:, -14:-7].sum(axis=1)
    growing = int((last > before).sum())
    return {
        "infections_last_week": band.of(last),
        "infections_week_before": band.of(before),
        "share_of_replicates_growing": growing / band.replicates,
        "note": (
            f"still growing at day {days} in {growing} of {band.replicates} replicates "
            "(last week's new infections above the week before's)"
            if growing
            else f"no longer growing at day {days} in any of the {band.replicates} replicates "
            "(last week's new infections at or below the week before's)"
        ),
    }
