"""Region -> hospitals: the epidemic's daily admissions as the hospitals' arrival stream.

Each day's hospital admissions of a region (whole people, from the chain-binomial engine)
are split over the region's hospitals by catchment shares with a multinomial draw, so
every admission goes to exactly one hospital. Within a day the admission times are
uniform (the population model resolves days, the hospital model hours: day ``d`` covers
hours ``[24 d, 24 d + 24)``).

The hospital package draws its arrivals from periodic rate tables (hour of day x day of
week), which cannot follow an epidemic curve. So :func:`simulate_routed` keeps the
hospital's own compiled model and fast event loop, but replaces the drawn arrivals by the
routed ones: every other random quantity (route through the units, length of stay,
deteriorations) is drawn as :func:`healthtwin.hospital.model.draw_patients` draws it,
from streams named ``hospital/rep{r}/...`` under the seed. The hospital's own arrival
streams and electives (background, non-epidemic patients) are left out in this increment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.engine_fast import run_fast
from healthtwin.hospital.model import (
    DISCHARGE,
    MAX_VISITS,
    CapacityChange,
    CompiledModel,
    PatientDraws,
    compile_model,
)

__all__ = [
    "Catchment",
    "HospitalRun",
    "admission_hours",
    "route_admissions",
    "routed_draws",
    "run_by_day",
    "simulate_routed",
]

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Catchment:
    """Which hospitals serve which regions, and in what shares.

    Attributes
    ----------
    regions, hospitals
        Labels of the region axis ``R`` and the hospital axis ``H``.
    shares : ndarray, shape (R, H)
        Share of a region's admissions that go to each hospital; each row sums to 1.

    Examples
    --------
    >>> c = Catchment(("city",), ("north", "south"), np.array([[0.25, 0.75]]))
    >>> c.shares.shape
    (1, 2)
    """

    regions: tuple[str, ...]
    hospitals: tuple[str, ...]
    shares: FloatArray

    def __post_init__(self) -> None:
        s = np.asarray(self.shares, dtype=float)
        if s.shape != (len(self.regions), len(self.hospitals)):
            raise ShapeError(
                f"catchment shares have shape {s.shape}; expected (regions, hospitals) = "
                f"{(len(self.regions), len(self.hospitals))}"
            )
        if not np.isfinite(s).all() or (s < 0).any():
            raise InvalidInputError("catchment shares must be finite and >= 0")
        sums = s.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-9)
        if bad.size:
            raise InvalidInputError(
                f"catchment shares of region {self.regions[bad[0]]!r} sum to "
                f"{sums[bad[0]]:g}; give shares summing to 1 over its hospitals"
            )
        object.__setattr__(self, "shares", s)


def route_admissions(
    admissions: FloatArray, catchment: Catchment, rng: np.random.Generator
) -> IntArray:
    """Split each region's daily admissions over its hospitals (multinomial, exact totals).

    Parameters
    ----------
    admissions : ndarray, shape (reps, days, R) or (reps, days, R, A)
        Whole people admitted per day and region (and age group).
    catchment
        Catchment shares ``(R, H)``.
    rng
        Generator of the split.

    Returns
    -------
    ndarray of int64, shape (reps, days, R, H) or (reps, days, R, A, H)
        Admissions by region (and age) and hospital; summing the last axis gives back
        ``admissions`` exactly.

    Raises
    ------
    ShapeError
        The region axis does not match the catchment.
    InvalidInputError
        Counts that are negative or not whole numbers (run the stochastic engine).

    Examples
    --------
    >>> c = Catchment(("city",), ("a", "b"), np.array([[0.5, 0.5]]))
    >>> routed = route_admissions(np.array([[[7.0], [3.0]]]), c, np.random.default_rng(0))
    >>> routed.sum(axis=-1).tolist()
    [[[7], [3]]]
    """
    counts = np.asarray(admissions, dtype=float)
    if counts.ndim not in (3, 4) or counts.shape[2] != len(catchment.regions):
        raise ShapeError(
            f"admissions have shape {counts.shape}; expected (reps, days, R[, A]) with "
            f"R = {len(catchment.regions)} regions of the catchment"
        )
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.rint(counts)).any():
        raise InvalidInputError(
            "admissions must be whole, non-negative people per day; run the epidemic with "
            "engine='stochastic' to route them to hospitals"
        )
    whole = counts.astype(np.int64)
    # Move the region axis last so its shares broadcast over every other axis.
    moved = np.moveaxis(whole, 2, -1)
    pvals = np.broadcast_to(catchment.shares, (*moved.shape, len(catchment.hospitals)))
    routed = rng.multinomial(moved, pvals)
    return np.asarray(np.moveaxis(routed, -2, 2), dtype=np.int64)


def admission_hours(counts_per_day: IntArray, rng: np.random.Generator) -> FloatArray:
    """Sorted admission times in hours, uniform within each day.

    Parameters
    ----------
    counts_per_day : ndarray of int, shape (days,)
        Admissions on each day.

    Returns
    -------
    ndarray, shape (sum(counts_per_day),)
        Hours since the start of day 0; day ``d``'s admissions lie in ``[24 d, 24 d + 24)``.

    Examples
    --------
    >>> t = admission_hours(np.array([2, 0, 1]), np.random.default_rng(0))
    >>> (t // 24).tolist()
    [0.0, 0.0, 2.0]
    """
    counts = np.asarray(counts_per_day, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any():
        raise InvalidInputError(f"counts_per_day must be 1-D and >= 0; got shape {counts.shape}")
    day = np.repeat(np.arange(counts.size, dtype=float), counts)
    return np.sort((day + rng.random(day.size)) * HOURS_PER_DAY)


@dataclass(frozen=True)
class HospitalRun:
    """One replication of one hospital fed with routed admissions.

    Attributes
    ----------
    units
        Unit names, the axis ``U``.
    beds : ndarray of int, shape (U,)
        Beds per unit.
    admissions : ndarray of int, shape (days,)
        Patients who arrived each day.
    occupancy : ndarray, shape (days, U)
        Mean beds occupied in each unit over each day.
    arrived, discharged, died, refused, in_hospital
        Patient totals over the whole run (``arrived = discharged + died + in_hospital``).
    deaths_per_day, discharges_per_day : ndarray of int, shape (days,)
        Patients who died / were discharged each day (their sums are ``died`` and
        ``discharged``, except in a run stitched from several capacities, see
        :func:`~healthtwin.scenarios.hospital_runs.simulate_hospital`).
    queue_days : ndarray, shape (days, U)
        Mean number of patients waiting for a bed in each unit over each day (those
        blocked in their previous unit included): people-days of waiting per day.
    """

    units: tuple[str, ...]
    beds: IntArray
    admissions: IntArray
    occupancy: FloatArray
    arrived: int
    discharged: int
    died: int
    refused: int
    in_hospital: int
    deaths_per_day: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    discharges_per_day: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    queue_days: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def unit_occupancy(self, unit: str) -> FloatArray:
        """Mean beds occupied per day in ``unit``, shape ``(days,)``."""
        if unit not in self.units:
            raise InvalidInputError(f"unknown unit {unit!r}; units are {list(self.units)}")
        return np.asarray(self.occupancy[:, self.units.index(unit)])


def simulate_routed(
    config: HospitalConfig,
    counts_per_day: Sequence[int] | IntArray,
    *,
    entry_unit: str,
    seed: int,
    replication: int = 0,
) -> HospitalRun:
    """Run the hospital with the routed admissions as its only arrivals.

    Parameters
    ----------
    config
        The hospital (its own arrival streams and electives are not used).
    counts_per_day : shape (days,)
        Routed admissions per day; the run lasts ``days`` days.
    entry_unit
        The unit admitted patients enter (for example the ward).
    seed, replication
        Root seed and replication number of the hospital's random streams.

    Returns
    -------
    HospitalRun

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ward": {"kind": "ward", "beds": 5,
    ...                        "los_hours": {"dist": "fixed", "mean": 30.0}}},
    ...     "pathways": {"ward": {"discharge": 1.0}}})
    >>> run = simulate_routed(cfg, [2, 0, 1], entry_unit="ward", seed=0)
    >>> run.arrived, run.discharged, run.in_hospital
    (3, 2, 1)
    """
    counts = np.asarray(counts_per_day, dtype=np.int64)
    if counts.ndim != 1 or counts.size == 0:
        raise InvalidParameterError(
            f"counts_per_day must be one count per day (at least one day); got {counts.shape}"
        )
    if entry_unit not in config.units:
        raise InvalidInputError(
            f"entry_unit {entry_unit!r} is not a unit of the hospital; units are "
            f"{sorted(config.units)}"
        )
    model = compile_model(config)
    streams = RandomStreams(seed)
    arrival = admission_hours(counts, streams.generator(f"hospital/rep{replication}/admissions"))
    draws = routed_draws(model, arrival, model.names.index(entry_unit), streams, replication)
    return run_by_day(model, draws, counts)


def run_by_day(
    model: CompiledModel,
    draws: PatientDraws,
    counts: IntArray,
    capacity_changes: tuple[CapacityChange, ...] = (),
) -> HospitalRun:
    """Run the fast engine on ``draws`` over ``days = counts.size`` days, measured daily.

    The event loop is the same up to any horizon, so the run of the patients who arrived
    by the end of day ``d``, warmed up to its start, measures day ``d`` alone (occupancy,
    waiting), and its cumulative deaths and discharges give the day's by difference.
    ``capacity_changes`` (:func:`~healthtwin.hospital.engine_fast.run_fast`) hold in every
    one of those runs, so the days add up to the whole run with them.
    """
    days = counts.size
    changes = capacity_changes
    totals = run_fast(model, draws, days * HOURS_PER_DAY, capacity_changes=changes)
    beds = np.asarray(model.beds, dtype=np.int64)
    occupancy = np.zeros((days, beds.size))
    queue_days = np.zeros((days, beds.size))
    exits = np.zeros((days, 2), dtype=np.int64)
    arrived_by = np.cumsum(counts)
    for d in range(days):
        upto = replace(draws, arrival_hours=draws.arrival_hours[: int(arrived_by[d])])
        waited = [0.0] * beds.size
        day = run_fast(
            model,
            upto,
            (d + 1) * HOURS_PER_DAY,
            d * HOURS_PER_DAY,
            queue_hours=waited,
            capacity_changes=changes,
        )
        occupancy[d] = [
            day[f"occupancy.{u}"] if b else 0.0 for u, b in zip(model.names, beds, strict=True)
        ]
        queue_days[d] = np.asarray(waited) / HOURS_PER_DAY
        exits[d] = day["patients.died"], day["patients.discharged"]
    daily = np.diff(exits, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return HospitalRun(
        units=model.names,
        beds=beds,
        admissions=counts,
        occupancy=np.nan_to_num(occupancy) * beds,
        arrived=int(totals["patients.arrived"]),
        discharged=int(totals["patients.discharged"]),
        died=int(totals["patients.died"]),
        refused=int(totals["patients.refused"]),
        in_hospital=int(totals["patients.in_system"]),
        deaths_per_day=np.asarray(daily[:, 0], dtype=np.int64),
        discharges_per_day=np.asarray(daily[:, 1], dtype=np.int64),
        queue_days=queue_days,
    )


def routed_draws(
    model: CompiledModel,
    arrival: FloatArray,
    entry: int,
    streams: RandomStreams,
    replication: int,
) -> PatientDraws:
    """The draws of ``draw_patients`` for patients arriving at given times in one unit.

    Streams are named after the replicate (``hospital/rep{k}/...``), so a hospital run
    with patient twins (:mod:`healthtwin.scenarios.hospital_runs`) routes the same
    patients the same way as one without.
    """

    def rng(name: str) -> np.random.Generator:
        return streams.generator(f"hospital/rep{replication}/{name}")

    n = arrival.size
    uniforms = rng("routing").random((n, MAX_VISITS))
    path = np.full((n, MAX_VISITS + 1), DISCHARGE, dtype=np.int64)
    path[:, 0] = entry
    for p in range(n):
        for k in range(MAX_VISITS):
            nxt = model.next_unit(int(path[p, k]), 1, float(uniforms[p, k]))
            path[p, k + 1] = nxt
            if nxt < 0:
                path[p, k + 2 :] = nxt
                break
    used = MAX_VISITS + 1
    visits = used - 1
    los = np.zeros((n, visits))
    for u, name in enumerate(model.names):
        mask = path[:, :visits] == u
        los[mask] = model.config.units[name].los_hours.sample(rng(f"los/{name}"), int(mask.sum()))
    hazard = np.append(np.asarray(model.hazard_per_hour), 0.0)
    on_path = np.where(path[:, :visits] >= 0, path[:, :visits], len(model.names))
    det = rng("deterioration").poisson(hazard[on_path] * los)
    late = rng("alerts").binomial(det, 1.0 - model.config.safety.alert_sensitivity)
    interval = np.append(np.asarray(model.obs_interval), 1.0)
    obs = np.where(path[:, :visits] >= 0, los / interval[on_path], 0.0)
    times = arrival.tolist()
    return PatientDraws(
        n_census=0,
        visits=visits,
        arrival_hours=times,
        origin_hours=list(times),
        priority=[1] * n,
        path=path.ravel().tolist(),
        los_hours=los.ravel().tolist(),
        deteriorations=det.ravel().tolist(),
        caught_late=late.ravel().tolist(),
        observations=obs.ravel().tolist(),
        route_uniform=uniforms,
    )
