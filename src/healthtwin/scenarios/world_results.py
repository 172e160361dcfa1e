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
from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import merge_results
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.scenarios.ages import AdmittedPatients
from healthtwin.scenarios.federated import FederatedWorld
from healthtwin.scenarios.hospital_loop import Review
from healthtwin.scenarios.hospital_runs import PatientStays
from healthtwin.scenarios.world import WorldScenario
from healthtwin.surveillance.monitor import MonitorReport

__all__ = ["LEVELS", "CountryPart", "CountryResult", "WorldResult", "icu_queues", "merge_parts"]

#: The quantiles every band of a world run reports.
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
        Per hospital, its ICU bed changes ``(day, beds)`` (the same for every replicate).
    plans
        The national planner's plans ``(reallocation, beds per hospital)``; only a part
        holding every replicate has a planner (it pools them).
    admitted
        Per hospital, how its patients are matched (deterministic: the same in every part).
    """

    replicate_ids: tuple[int, ...]
    epidemic: EpidemicResult
    routed_ages: IntArray
    pairs: tuple[tuple[tuple[HospitalRun, PatientStays], ...], ...]
    reviews: tuple[Review, ...]
    icu_changes: tuple[tuple[tuple[int, int], ...], ...]
    plans: tuple[tuple[IcuReallocation, IntArray], ...]
    admitted: tuple[AdmittedPatients | None, ...]


def merge_parts(parts: Sequence[CountryPart]) -> CountryPart:
    """The parts of one country's run stacked in replicate order, as one unsplit part.

    Raises
    ------
    InvalidInputError
        No parts, the same replicate twice, or a part with a national plan among others
        (a planner pools every replicate, so its country is never split).
    """
    if not parts:
        raise InvalidInputError("a country's run needs at least one part to merge; got none")
    if len(parts) == 1:
        return parts[0]
    ids = [i for p in parts for i in p.replicate_ids]
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"parts overlap: replicates {sorted(ids)} appear twice")
    if any(p.plans for p in parts):
        raise InvalidInputError(
            "a national planner pools every replicate; its country cannot be split into parts"
        )
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
        icu_changes=first.icu_changes,
        plans=(),
        admitted=first.admitted,
    )


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
