"""Chronic-disease trends: a microsimulation of type-2 diabetes in an ageing population.

Every person ("patient twin" at population scale) has an age, a sex and a stage
(:data:`~healthtwin.population.chronic_rates.STAGES`, or dead). Time advances in steps of
``1 / steps_per_year`` years; within a step the hazards of :class:`ChronicRates` are held
at the person's age at the start of the step (background mortality at its average over
the step), and the person's path inside the step is drawn exactly: up to four competing-
risk jumps, each after an exponential waiting time. The expected stage occupancy is
therefore the cohort (Markov) calculation ``p_{k+1} = p_k expm(Q_k dt)``, which the
validation tests check. Arrays are ``(replicates, people)``; the only Python loops are
over steps and the four jumps.

A :class:`PreventionProgramme` offers people with prediabetes a lifestyle programme that
multiplies their progression hazard by a rate ratio (0.42 in the Diabetes Prevention
Program lifestyle arm: Knowler et al., N Engl J Med 2002; 346:393-403). Replicate ``r`` of
two projections with the same seed uses the same random numbers (common random numbers),
so :meth:`ChronicProjection.compare` measures the programme, not the noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import (
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.population.chronic_population import AgePyramid, Population, synthetic_population
from healthtwin.population.chronic_rates import (
    STAGES,
    ChronicRates,
    load_t2d_rates,
)

__all__ = [
    "AgePyramid",
    "ChronicProjection",
    "Population",
    "PreventionProgramme",
    "ProgrammeComparison",
    "project_prevalence",
    "project_t2d_programme",
    "synthetic_population",
]

DEAD = len(STAGES)
NONE, PREDIABETES, DIABETES, COMPLICATED = range(len(STAGES))
#: Transitions counted in :attr:`ChronicProjection.transitions`, in axis order.
TRANSITIONS: tuple[str, ...] = (
    "none->prediabetes",
    "none->diabetes",
    "prediabetes->diabetes",
    "diabetes->complicated",
)
_TARGET = np.array([PREDIABETES, DIABETES, DIABETES, COMPLICATED, DEAD])
_MAX_JUMPS = 4


@dataclass(frozen=True, kw_only=True)
class PreventionProgramme:
    """A lifestyle programme offered once to people with prediabetes in an age range.

    Parameters
    ----------
    uptake
        Probability in [0, 1] that an eligible person, offered the programme, joins.
    start_year
        Calendar year from which eligible people are offered it (each step, people newly
        eligible are offered it too).
    rate_ratio
        Multiplier of the prediabetes -> diabetes hazard while in the programme (0.42:
        DPP lifestyle arm, 58 % reduction, Knowler et al. 2002).
    min_age, max_age
        Eligible ages, ``[min_age, max_age)``.
    waning_half_life_years
        If given, the effect ``1 - rate_ratio`` halves every this many years after joining.
    cost_per_participant
        Cost counted once when a person joins, in any currency unit.

    Examples
    --------
    >>> PreventionProgramme(uptake=0.3, start_year=2026).rate_ratio
    0.42
    """

    uptake: float
    start_year: float
    rate_ratio: float = 0.42
    min_age: float = 18.0
    max_age: float = math.inf
    waning_half_life_years: float | None = None
    cost_per_participant: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.uptake <= 1:
            raise InvalidParameterError(f"uptake must be in [0, 1], got {self.uptake!r}")
        if not (math.isfinite(self.rate_ratio) and self.rate_ratio >= 0):
            raise InvalidParameterError(f"rate_ratio must be >= 0, got {self.rate_ratio!r}")
        if not self.min_age < self.max_age:
            raise InvalidParameterError(
                f"min_age {self.min_age} must be below max_age {self.max_age}"
            )
        half_life = self.waning_half_life_years
        if half_life is not None and not half_life > 0:
            raise InvalidParameterError(f"waning_half_life_years must be > 0, got {half_life}")
        if not self.cost_per_participant >= 0:
            raise InvalidParameterError(
                f"cost_per_participant must be >= 0, got {self.cost_per_participant!r}"
            )

    def multiplier(self, years_in_programme: FloatArray) -> FloatArray:
        """Hazard multiplier after ``years_in_programme`` (same shape)."""
        if self.waning_half_life_years is None:
            return np.full_like(years_in_programme, self.rate_ratio)
        kept = np.exp(-math.log(2) * years_in_programme / self.waning_half_life_years)
        return np.asarray(1 - (1 - self.rate_ratio) * kept, dtype=float)


#: Names accepted by :meth:`ChronicProjection.quantiles`.
METRICS: tuple[str, ...] = (
    "prevalence",
    "incidence",
    "deaths",
    "person_years",
    "participants",
    "cost",
)


@dataclass(frozen=True)
class ChronicProjection:
    """Yearly results of a projection, replicate by replicate.

    Attributes
    ----------
    calendar_years : ndarray of int64, shape (Y,)
        The year each row covers (results at its end, or flows during it).
    band_labels : tuple of str
        Age bands of the rates.
    occupancy : ndarray of float64, shape (R, Y + 1, 5)
        People by stage (:data:`STAGES`, then dead) at the start and at each year's end.
    transitions : ndarray of float64, shape (R, Y, 4)
        Transitions during each year, in :data:`TRANSITIONS` order.
    deaths_by_stage : ndarray of float64, shape (R, Y, 4)
        Deaths during each year, by the stage people died in.
    person_years_by_stage : ndarray of float64, shape (R, Y, 4)
        Person-years lived in each stage during each year.
    prevalence_by_band : ndarray of float64, shape (R, Y, B)
        Share of the living in each rate band with diabetes (with or without
        complication) at each year's end; NaN for empty bands.
    participants, cost : ndarray of float64, shape (R, Y)
        People joining the programme and its cost during each year (zeros without one).
    """

    calendar_years: IntArray
    band_labels: tuple[str, ...]
    occupancy: FloatArray
    transitions: FloatArray
    deaths_by_stage: FloatArray
    person_years_by_stage: FloatArray
    prevalence_by_band: FloatArray
    participants: FloatArray
    cost: FloatArray

    @property
    def prevalence(self) -> FloatArray:
        """Share of the living with diabetes at each year's end, shape (R, Y)."""
        end = self.occupancy[:, 1:]
        alive = end[..., :DEAD].sum(axis=-1)
        return np.asarray((end[..., DIABETES] + end[..., COMPLICATED]) / alive, dtype=float)

    @property
    def incidence(self) -> FloatArray:
        """New cases of diabetes during each year, shape (R, Y)."""
        return np.asarray(self.transitions[..., 1] + self.transitions[..., 2], dtype=float)

    @property
    def deaths(self) -> FloatArray:
        """Deaths during each year, shape (R, Y)."""
        return np.asarray(self.deaths_by_stage.sum(axis=-1), dtype=float)

    @property
    def person_years(self) -> FloatArray:
        """Person-years lived during each year, shape (R, Y)."""
        return np.asarray(self.person_years_by_stage.sum(axis=-1), dtype=float)

    def quantiles(self, metric: str, levels: Sequence[float] = (0.05, 0.5, 0.95)) -> FloatArray:
        """Quantiles across replicates of a yearly metric, shape (len(levels), Y).

        Raises
        ------
        UnknownModelError
            ``metric`` is not one of :data:`METRICS`.
        """
        if metric not in METRICS:
            raise UnknownModelError(f"unknown metric {metric!r}; choose one of {METRICS}")
        values = np.asarray(getattr(self, metric), dtype=float)
        return np.asarray(np.quantile(values, list(levels), axis=0), dtype=float)

    def compare(self, baseline: ChronicProjection) -> ProgrammeComparison:
        """Effects of this projection (with a programme) against ``baseline`` (without).

        Both must come from the same population, years and seed, so that replicate ``r``
        of each shares its random numbers.

        Raises
        ------
        ShapeError
            The projections cover different years or replicate counts.
        """
        if self.occupancy.shape != baseline.occupancy.shape or not np.array_equal(
            self.calendar_years, baseline.calendar_years
        ):
            raise ShapeError(
                f"cannot compare projections of shapes {self.occupancy.shape} and "
                f"{baseline.occupancy.shape}; run both with the same population, years, "
                "replicates and seed"
            )
        return ProgrammeComparison(
            calendar_years=self.calendar_years,
            cases_averted=baseline.incidence - self.incidence,
            deaths_averted=baseline.deaths - self.deaths,
            life_years_gained=self.person_years - baseline.person_years,
            participants=self.participants - baseline.participants,
            cost=self.cost - baseline.cost,
        )


@dataclass(frozen=True)
class ProgrammeComparison:
    """Yearly differences, programme minus baseline arm, per replicate (shape (R, Y)).

    ``cases_averted`` and ``deaths_averted`` are baseline minus programme;
    ``life_years_gained``, ``participants`` and ``cost`` are programme minus baseline.
    """

    calendar_years: IntArray
    cases_averted: FloatArray
    deaths_averted: FloatArray
    life_years_gained: FloatArray
    participants: FloatArray
    cost: FloatArray

    def summary(self, levels: Sequence[float] = (0.05, 0.5, 0.95)) -> dict[str, list[float]]:
        """Quantiles across replicates of the totals over all years, by quantity."""
        quantities = ("cases_averted", "deaths_averted", "life_years_gained", "participants")
        table = {
            name: np.quantile(getattr(self, name).sum(axis=1), list(levels)).tolist()
            for name in (*quantities, "cost")
        }
        averted = self.cases_averted.sum(axis=1)
        per_case = np.where(averted > 0, self.cost.sum(axis=1) / np.maximum(averted, 1), np.nan)
        table["cost_per_case_averted"] = np.quantile(per_case, list(levels)).tolist()
        return table


def project_prevalence(
    population: Population,
    rates: ChronicRates,
    *,
    years: int,
    programme: PreventionProgramme | None = None,
    replicates: int = 10,
    seed: int = 0,
    start_year: int = 0,
    steps_per_year: int = 1,
    on_year: Callable[[int], None] | None = None,
) -> ChronicProjection:
    """Age a population for ``years`` and record stages, cases and deaths by year.

    Parameters
    ----------
    population
        The people at ``start_year`` (a closed cohort: nobody enters).
    rates
        Hazards by age band and sex, and background mortality.
    years
        Number of calendar years to project, >= 1.
    programme
        Optional prevention programme.
    replicates
        Independent runs, >= 1; replicate ``r`` uses the same random numbers in every
        projection with the same ``seed``.
    seed
        Root seed.
    start_year
        Calendar year of the first row.
    steps_per_year
        Steps per year (hazards are held at the age at each step's start).
    on_year
        Called with the number of years projected (all replicates) at each year's end;
        it only observes.

    Returns
    -------
    ChronicProjection

    Raises
    ------
    InvalidParameterError
        ``years``, ``replicates`` or ``steps_per_year`` below 1.

    Examples
    --------
    >>> rates = load_t2d_rates()
    >>> pyramid = AgePyramid(age_lower=(40,), age_upper=(70,), female=(1,), male=(1,))
    >>> pop = synthetic_population(2000, age_pyramid=pyramid, rates=rates, seed=1)
    >>> base = project_prevalence(pop, rates, years=5, replicates=4, seed=2, start_year=2025)
    >>> dpp = PreventionProgramme(uptake=0.5, start_year=2025, cost_per_participant=500.0)
    >>> arm = project_prevalence(pop, rates, years=5, programme=dpp, replicates=4, seed=2,
    ...                          start_year=2025)
    >>> base.prevalence.shape, base.calendar_years.tolist()[:2]
    ((4, 5), [2025, 2026])
    >>> bool(arm.compare(base).cases_averted.sum(axis=1).mean() > 0)
    True
    """
    for name, value in (("years", years), ("replicates", replicates)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}")
    if not isinstance(steps_per_year, (int, np.integer)) or steps_per_year < 1:
        raise InvalidParameterError(f"steps_per_year must be an integer >= 1: {steps_per_year!r}")
    sim = _Simulation(population, rates, programme, int(replicates), int(years), seed)
    for step in range(int(years) * int(steps_per_year)):
        sim.step(start_year + step / steps_per_year, step // steps_per_year, 1 / steps_per_year)
        if (step + 1) % steps_per_year == 0:
            sim.record_year_end(step // steps_per_year)
            if on_year is not None:
                on_year(step // steps_per_year + 1)
    return ChronicProjection(
        calendar_years=np.arange(start_year, start_year + int(years), dtype=np.int64),
        band_labels=rates.band_labels,
        occupancy=sim.occupancy,
        transitions=sim.transitions,
        deaths_by_stage=sim.deaths,
        person_years_by_stage=sim.person_years,
        prevalence_by_band=sim.prevalence_by_band,
        participants=sim.participants,
        cost=sim.cost,
    )


class _Simulation:
    """Mutable working state of one projection (never exposed)."""

    def __init__(
        self,
        population: Population,
        rates: ChronicRates,
        programme: PreventionProgramme | None,
        replicates: int,
        years: int,
        seed: int,
    ) -> None:
        shape = (replicates, population.n)
        self.rates, self.programme = rates, programme
        self.age = np.broadcast_to(population.age_years, shape).copy()
        self.sex = population.sex[None, :]
        self.stage = np.broadcast_to(population.stage, shape).copy()
        self.offered = np.zeros(shape, dtype=bool)
        self.enrolled = np.zeros(shape, dtype=bool)
        self.enrol_time = np.zeros(shape)
        streams = [s.spawn(2) for s in np.random.SeedSequence(seed).spawn(replicates)]
        self.dynamics = [np.random.default_rng(s[0]) for s in streams]
        self.uptake = [np.random.default_rng(s[1]) for s in streams]
        n_stages = len(STAGES)
        self.occupancy = np.zeros((replicates, years + 1, n_stages + 1))
        self.transitions = np.zeros((replicates, years, len(TRANSITIONS)))
        self.deaths = np.zeros((replicates, years, n_stages))
        self.person_years = np.zeros((replicates, years, n_stages))
        self.prevalence_by_band = np.full((replicates, years, rates.n_bands), np.nan)
        self.participants = np.zeros((replicates, years))
        self.cost = np.zeros((replicates, years))
        self.occupancy[:, 0] = self._counts()

    def _counts(self) -> FloatArray:
        return np.stack([(self.stage == s).sum(axis=1) for s in range(DEAD + 1)], axis=-1)

    def _enrol(self, time: float, year: int) -> FloatArray:
        programme = self.programme
        if programme is None:
            return np.ones(self.stage.shape)
        draws = np.stack([g.random(self.stage.shape[1]) for g in self.uptake])
        if time >= programme.start_year - 1e-9:
            eligible = (
                (self.stage == PREDIABETES)
                & ~self.offered
                & (self.age >= programme.min_age)
                & (self.age < programme.max_age)
            )
            joined = eligible & (draws < programme.uptake)
            self.offered |= eligible
            self.enrolled |= joined
            self.enrol_time = np.where(joined, time, self.enrol_time)
            self.participants[:, year] += joined.sum(axis=1)
            self.cost[:, year] += joined.sum(axis=1) * programme.cost_per_participant
        effect = programme.multiplier(time - self.enrol_time)
        return np.where(self.enrolled, effect, 1.0)

    def _hazards(self, multiplier: FloatArray, dt: float) -> tuple[FloatArray, ...]:
        rates = self.rates
        band = rates.band_of(self.age)
        index = (np.maximum(band, 0), np.broadcast_to(self.sex, band.shape))
        adult = band >= 0

        def look(table: FloatArray) -> FloatArray:
            return np.where(adult, np.asarray(table)[index], 0.0)

        mortality = rates.mortality.cumulative_hazard(self.age, self.sex, dt) / dt
        return (
            look(rates.prediabetes_onset_per_year),
            look(rates.diabetes_onset_per_year),
            look(rates.progression_per_year) * multiplier,
            look(rates.complication_per_year),
            mortality,
        )

    def step(self, time: float, year: int, dt: float) -> None:
        onset_pre, onset_diab, progression, complication, mortality = self._hazards(
            self._enrol(time, year), dt
        )
        draws = np.stack([g.random((_MAX_JUMPS, 2, self.stage.shape[1])) for g in self.dynamics])
        clock = np.zeros(self.stage.shape)
        done = self.stage == DEAD
        for jump in range(_MAX_JUMPS):
            stage = self.stage
            hr = np.asarray(self.rates.mortality_hr)[np.minimum(stage, DEAD - 1)]
            events = np.stack(
                [
                    onset_pre * (stage == NONE),
                    onset_diab * (stage == NONE),
                    progression * (stage == PREDIABETES),
                    complication * (stage == DIABETES),
                    mortality * hr * (stage != DEAD),
                ]
            )
            total = events.sum(axis=0)
            with np.errstate(divide="ignore"):
                wait = np.where(total > 0, -np.log1p(-draws[:, jump, 0]) / total, np.inf)
            remaining = dt - clock
            active = ~done
            moves = active & (wait < remaining)
            stay = np.where(moves, wait, remaining) * active
            for s in range(DEAD):
                self.person_years[:, year, s] += (stay * (stage == s)).sum(axis=1)
            share = np.cumsum(events, axis=0) / np.where(total > 0, total, 1.0)
            event = np.minimum((share < draws[None, :, jump, 1]).sum(axis=0), len(_TARGET) - 1)
            for e in range(len(TRANSITIONS)):
                self.transitions[:, year, e] += (moves & (event == e)).sum(axis=1)
            died = moves & (event == len(TRANSITIONS))
            for s in range(DEAD):
                self.deaths[:, year, s] += (died & (stage == s)).sum(axis=1)
            self.stage = np.where(moves, _TARGET[event], stage)
            clock = clock + np.where(moves, wait, 0.0)
            done = done | (active & ~moves)
        self.age = self.age + dt

    def record_year_end(self, year: int) -> None:
        self.occupancy[:, year + 1] = self._counts()
        band = self.rates.band_of(self.age)
        alive = self.stage != DEAD
        sick = alive & ((self.stage == DIABETES) | (self.stage == COMPLICATED))
        for b in range(self.rates.n_bands):
            in_band = band == b
            living = (alive & in_band).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.prevalence_by_band[:, year, b] = (sick & in_band).sum(axis=1) / living


def project_t2d_programme(
    *,
    n: int = 10_000,
    years: int = 20,
    start_year: int = 2025,
    uptake: float = 0.3,
    rate_ratio: float = 0.42,
    cost_per_participant: float = 0.0,
    replicates: int = 10,
    seed: int = 0,
    age_pyramid: AgePyramid | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[ChronicProjection, ChronicProjection, ProgrammeComparison]:
    """Baseline and programme projections with the published US rates (for the CLI).

    The population defaults to US adults 18-99 with a flat pyramid by 5-year band
    (replace it with :meth:`AgePyramid.from_geography` for a real region).
    ``on_progress`` is called with ``(years projected, 2 x years)`` over both arms.

    Returns
    -------
    baseline, with_programme, comparison

    Examples
    --------
    >>> base, arm, effect = project_t2d_programme(n=1000, years=3, replicates=3, uptake=0.5)
    >>> sorted(effect.summary())[:2]
    ['cases_averted', 'cost']
    """
    rates = load_t2d_rates()
    if age_pyramid is None:
        lower = tuple(float(a) for a in range(18, 100, 5))
        upper = (*lower[1:], 100.0)
        weights = np.ones(len(lower))
        age_pyramid = AgePyramid(lower, upper, weights, weights)
    population = synthetic_population(n, age_pyramid=age_pyramid, rates=rates, seed=seed)
    programme = PreventionProgramme(
        uptake=uptake,
        start_year=start_year,
        rate_ratio=rate_ratio,
        cost_per_participant=cost_per_participant,
    )

    def on_year(offset: int) -> Callable[[int], None] | None:
        if on_progress is None:
            return None
        return lambda done: on_progress(offset + done, 2 * years)

    baseline, with_programme = (
        project_prevalence(
            population,
            rates,
            years=years,
            programme=arm,
            replicates=replicates,
            seed=seed,
            start_year=start_year,
            on_year=on_year(offset),
        )
        for arm, offset in ((None, 0), (programme, years))
    )
    return baseline, with_programme, with_programme.compare(baseline)
