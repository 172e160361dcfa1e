"""Run the metapopulation epidemic model: :func:`simulate_epidemic` and its result.

The model (compartments in :mod:`~healthtwin.population.compartments`, force of infection
in :mod:`~healthtwin.population.force_of_infection`) runs either as a chain-binomial
stochastic simulation (``engine="stochastic"``, integer people, one generator per
replicate) or as its ODE limit (``engine="ode"``). Each day the engine summarises the day
just finished as :class:`~healthtwin.population.controls.Observed` and asks the
controller for the next day's :class:`~healthtwin.population.controls.DayControls`;
before day 0 the controller sees the initial state (``day = -1``, zero flows), so an
intervention can act from the first day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
)
from healthtwin.population.chain_binomial import ChainBinomial, replicate_generators
from healthtwin.population.compartments import COMPARTMENTS, DAILY_FLOWS, ICU, D, E, H, S
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.force_of_infection import Mixing, mobility_fraction
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import ContactMatrices
from healthtwin.population.ode import EpidemicOde

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["QUANTITIES", "EpidemicResult", "simulate_epidemic"]

#: Daily outputs of a run, each ``(reps, days, R)`` (and ``(reps, days, R, A)`` by age).
QUANTITIES: tuple[str, ...] = (
    "incidence",  # new infections
    "cases",  # new symptomatic cases
    "admissions",  # new hospital (ward) admissions
    "icu_admissions",  # new ICU admissions
    "hospital_occupancy",  # ward + ICU at the end of the day
    "icu_occupancy",  # ICU at the end of the day
    "deaths",  # deaths that day
    "vaccinated",  # cumulative first doses given
)
ENGINES = ("stochastic", "ode")
Controller = Callable[[Observed], DayControls | None]


@dataclass(frozen=True, eq=False)
class EpidemicResult:
    """Daily outputs of :func:`simulate_epidemic`.

    Attributes
    ----------
    regions, age_groups
        Labels of the region axis ``R`` and the age axis ``A``.
    replicate_ids
        Which replicates (seed children) were run, in the order of the leading axis.
    engine
        ``"stochastic"`` or ``"ode"``.
    series
        Quantity (:data:`QUANTITIES`) -> array ``(reps, days, R)``.
    by_age
        The same per age group, ``(reps, days, R, A)``, when run with ``keep_ages=True``.
    final_state
        Compartments at the end, ``(reps, C, R, A)`` in the order of ``compartments``.
    compartments
        Compartment names (:data:`~healthtwin.population.compartments.COMPARTMENTS`).
    """

    regions: tuple[str, ...]
    age_groups: tuple[str, ...]
    replicate_ids: tuple[int, ...]
    engine: str
    series: Mapping[str, FloatArray]
    by_age: Mapping[str, FloatArray] | None
    final_state: npt.NDArray[Any]
    compartments: tuple[str, ...] = COMPARTMENTS

    @property
    def n_days(self) -> int:
        """Number of simulated days."""
        return int(self.series["incidence"].shape[1])

    def get(self, name: str, *, by_age: bool = False) -> FloatArray:
        """One daily quantity, ``(reps, days, R)`` (``(reps, days, R, A)`` by age)."""
        table = self.by_age if by_age else self.series
        if by_age and table is None:
            raise InvalidInputError("ages were not kept; run simulate_epidemic(keep_ages=True)")
        assert table is not None
        if name not in table:
            raise InvalidInputError(f"unknown quantity {name!r}; known: {list(QUANTITIES)}")
        return table[name]

    @property
    def incidence(self) -> FloatArray:
        """New infections per day, ``(reps, days, R)``."""
        return self.get("incidence")

    @property
    def cases(self) -> FloatArray:
        """New symptomatic cases per day, ``(reps, days, R)``."""
        return self.get("cases")

    @property
    def admissions(self) -> FloatArray:
        """New hospital admissions per day, ``(reps, days, R)``."""
        return self.get("admissions")

    @property
    def icu_admissions(self) -> FloatArray:
        """New ICU admissions per day, ``(reps, days, R)``."""
        return self.get("icu_admissions")

    @property
    def hospital_occupancy(self) -> FloatArray:
        """People in hospital (ward + ICU) at the end of each day, ``(reps, days, R)``."""
        return self.get("hospital_occupancy")

    @property
    def icu_occupancy(self) -> FloatArray:
        """People in ICU at the end of each day, ``(reps, days, R)``."""
        return self.get("icu_occupancy")

    @property
    def deaths(self) -> FloatArray:
        """Deaths per day, ``(reps, days, R)``."""
        return self.get("deaths")

    @property
    def vaccinated(self) -> FloatArray:
        """Cumulative doses given, ``(reps, days, R)``."""
        return self.get("vaccinated")

    def quantiles(self, name: str, levels: Sequence[float]) -> FloatArray:
        """Quantiles over replicates, ``(len(levels), days, R)``.

        Raises
        ------
        InvalidParameterError
            If a level is outside [0, 1].
        """
        q = np.asarray(levels, dtype=float)
        if q.ndim != 1 or not np.all((q >= 0) & (q <= 1)):
            raise InvalidParameterError(f"quantile levels must be in [0, 1]; got {list(levels)}")
        return np.asarray(np.quantile(self.get(name), q, axis=0))

    def national(self, name: str) -> FloatArray:
        """A quantity summed over regions, ``(reps, days)``."""
        return np.asarray(self.get(name).sum(axis=2))

    def to_frame(self) -> pd.DataFrame:
        """Long table with columns ``replicate, day, region, quantity, value``."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - pandas is a core dependency here
            raise MissingDependencyError(
                "to_frame needs pandas; install it with pip install pandas"
            ) from err
        reps, days, n_regions = self.series["incidence"].shape
        rep_col = np.repeat(np.asarray(self.replicate_ids), days * n_regions)
        day_col = np.tile(np.repeat(np.arange(days), n_regions), reps)
        region_col = np.tile(np.asarray(self.regions, dtype=object), reps * days)
        parts = [
            pd.DataFrame(
                {
                    "replicate": rep_col,
                    "day": day_col,
                    "region": region_col,
                    "quantity": name,
                    "value": self.series[name].reshape(-1),
                }
            )
            for name in QUANTITIES
        ]
        return pd.concat(parts, ignore_index=True)


def simulate_epidemic(
    geography: Geography,
    contacts: ContactMatrices,
    parameters: EpidemicParameters,
    *,
    days: int,
    replicates: int = 10,
    seed: int = 0,
    mobility: Any = None,
    initial_infected: Mapping[str, float] | npt.ArrayLike | None = None,
    controller: Controller | None = None,
    engine: Literal["stochastic", "ode"] = "stochastic",
    steps_per_day: int = 1,
    keep_ages: bool = False,
    replicate_ids: Sequence[int] | None = None,
) -> EpidemicResult:
    """Simulate the age-structured metapopulation epidemic for ``days`` days.

    Parameters
    ----------
    geography
        Regions and their population by age group ``(R, A)``. The stochastic engine
        rounds populations to whole people.
    contacts
        Contact matrices by setting; their age groups must be the geography's.
    parameters
        Disease parameters (per-age arrays of length ``A`` or scalars).
    days
        Number of days, >= 1.
    replicates
        Number of replicates (ignored when ``replicate_ids`` is given).
    seed
        Root seed; replicate ``r`` uses ``SeedSequence(seed, spawn_key=(r,))``, so its
        trajectory does not depend on which other replicates run.
    mobility
        ``None`` (no travel), an ``(R, R)`` row-stochastic array, or an object with a
        ``fraction`` attribute (``MobilityMatrix``).
    initial_infected
        Exposed people at day 0: region name -> number (spread over ages in proportion to
        population), or an array ``(R, A)``. ``None`` seeds 10 people in the most populous
        region.
    controller
        Called with each day's :class:`Observed` (and once before day 0); returns the next
        day's :class:`DayControls`, or ``None`` for no intervention.
    engine
        ``"stochastic"`` (chain binomial) or ``"ode"`` (deterministic limit).
    steps_per_day
        Sub-steps per day of the stochastic engine.
    keep_ages
        Also keep the daily outputs by age group.
    replicate_ids
        Run exactly these replicates (for splitting an ensemble across workers).

    Returns
    -------
    EpidemicResult

    Raises
    ------
    InvalidInputError
        Age groups of contacts and geography differ, unknown or over-full seeding
        regions, a bad mobility matrix.
    InvalidParameterError
        ``days < 1``, bad replicate counts, an unknown engine.

    Examples
    --------
    >>> geo = Geography(regions=("a", "b"), age_groups=("all",),
    ...                 population=np.array([[10_000.0], [5_000.0]]))
    >>> cm = ContactMatrices(settings=("all",), age_groups=("all",),
    ...                      matrices=np.array([[[10.0]]]))
    >>> res = simulate_epidemic(geo, cm, EpidemicParameters(r0=2.0), days=30,
    ...                         replicates=3, initial_infected={"a": 20})
    >>> res.incidence.shape
    (3, 30, 2)
    >>> float(res.incidence[:, :, 1].sum())  # no travel: region b stays free
    0.0
    """
    n_days = _positive_int("days", days)
    steps = _positive_int("steps_per_day", steps_per_day)
    ids = _replicate_ids(replicates, replicate_ids)
    if engine not in ENGINES:
        raise InvalidParameterError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    if tuple(contacts.age_groups) != tuple(geography.age_groups):
        raise InvalidInputError(
            f"contact matrices have age groups {list(contacts.age_groups)} but the geography "
            f"has {list(geography.age_groups)}; use matrices for the same age groups"
        )
    _check_mobility_regions(mobility, geography)
    fraction = mobility_fraction(mobility, geography.n_regions)
    rates = parameters.rates(contacts.total())
    stochastic = engine == "stochastic"
    mixing = Mixing.build(
        contacts.matrices,
        fraction,
        beta=rates.beta,
        susceptibility=rates.susceptibility,
        single_precision_travel=stochastic,
    )
    seeds = seed_array(geography, initial_infected, integer=stochastic)
    # Without a controller every ODE replicate is the same: integrate one and copy it.
    n_run = 1 if (not stochastic and controller is None) else len(ids)
    run_engine: ChainBinomial | EpidemicOde
    if stochastic:
        run_engine = ChainBinomial(rates, mixing, replicate_generators(seed, ids), steps)
    else:
        run_engine = EpidemicOde(rates, mixing)
    state = initial_state(geography, seeds, n_run, integer=stochastic)
    series, by_age, final = _run(
        run_engine, state, n_days, controller, len(contacts.settings), keep_ages
    )
    if n_run != len(ids):
        series = {k: np.repeat(v, len(ids), axis=0) for k, v in series.items()}
        by_age = (
            None if by_age is None else {k: np.repeat(v, len(ids), 0) for k, v in by_age.items()}
        )
        final = np.repeat(final, len(ids), axis=0)
    return EpidemicResult(
        regions=geography.regions,
        age_groups=geography.age_groups,
        replicate_ids=tuple(ids),
        engine=engine,
        series=series,
        by_age=by_age,
        final_state=final,
    )


def _run(
    engine: ChainBinomial | EpidemicOde,
    state: npt.NDArray[Any],
    n_days: int,
    controller: Controller | None,
    n_settings: int,
    keep_ages: bool,
) -> tuple[dict[str, FloatArray], dict[str, FloatArray] | None, npt.NDArray[Any]]:
    reps, _, n_regions, n_ages = state.shape
    no_controls = DayControls.none(reps=reps, regions=n_regions, settings=n_settings, ages=n_ages)
    if controller is None:
        state, daily = engine.run_days(state, no_controls, n_days, by_age=keep_ages)
        values = _daily_values(daily)
        if not keep_ages:
            return values, None, state
        return {q: v.sum(axis=3) for q, v in values.items()}, values, state
    shape_ra = (reps, n_days, n_regions, n_ages)
    by_age = {q: np.zeros(shape_ra) for q in QUANTITIES} if keep_ages else None
    series = {q: np.zeros(shape_ra[:3]) for q in QUANTITIES}
    doses_so_far = np.zeros((reps, 1, n_regions, n_ages))
    start = {name: np.zeros((reps, 1, n_regions, n_ages)) for name in (*DAILY_FLOWS, "doses")}
    start["ward"] = np.asarray(state[:, H][:, None], dtype=float)
    start["icu"] = np.asarray(state[:, ICU][:, None], dtype=float)
    controls = _ask(controller, state, _daily_values(start), -1, no_controls)
    for day in range(n_days):
        state, daily = engine.run_days(state, controls, 1)
        values = _daily_values(daily, doses_so_far)
        doses_so_far = values["vaccinated"]
        for q in QUANTITIES:
            if by_age is not None:
                by_age[q][:, day] = values[q][:, 0]
            series[q][:, day] = values[q][:, 0].sum(axis=2)
        controls = _ask(controller, state, values, day, no_controls)
    return series, by_age, state


def _daily_values(
    daily: Mapping[str, npt.NDArray[Any]], doses_before: FloatArray | None = None
) -> dict[str, FloatArray]:
    """Engine output ``(reps, days, R[, A])`` -> the quantities of :data:`QUANTITIES`."""
    values = {q: np.asarray(daily[q], dtype=float) for q in DAILY_FLOWS}
    values["hospital_occupancy"] = np.asarray(daily["ward"] + daily["icu"], dtype=float)
    values["icu_occupancy"] = np.asarray(daily["icu"], dtype=float)
    vaccinated = np.cumsum(np.asarray(daily["doses"], dtype=float), axis=1)
    values["vaccinated"] = vaccinated if doses_before is None else vaccinated + doses_before
    return values


def _ask(
    controller: Controller,
    state: npt.NDArray[Any],
    values: Mapping[str, FloatArray],
    day: int,
    default: DayControls,
) -> DayControls:
    observed = Observed(
        day=day,
        values={q: v[:, -1].sum(axis=2) for q, v in values.items()},
        population=np.asarray(state[:, :D].sum(axis=(1, 3)), dtype=float),
        by_age={q: v[:, -1] for q, v in values.items()},
    )
    controls = controller(observed)
    if controls is None:
        return default
    expected = {
        "contact_scale": default.contact_scale.shape,
        "mobility_scale": default.mobility_scale.shape,
        "isolation": default.isolation.shape,
        "vaccine_doses": default.vaccine_doses.shape,
    }
    for name, shape in expected.items():
        got = np.shape(getattr(controls, name))
        if got != shape:
            raise ShapeError(
                f"the controller returned DayControls.{name} of shape {got} on day {day + 1}; "
                f"this run needs {shape} (replicates, regions, ...)"
            )
    return controls


def seed_array(
    geography: Geography,
    initial_infected: Mapping[str, float] | npt.ArrayLike | None,
    *,
    integer: bool,
) -> FloatArray:
    """Initially exposed people per region and age, ``(R, A)``; validated.

    A number per region is spread over ages in proportion to population (whole people
    by largest remainders when ``integer``).

    Examples
    --------
    >>> geo = Geography(regions=("a", "b"), age_groups=("y", "o"),
    ...                 population=np.array([[300.0, 100.0], [50.0, 50.0]]))
    >>> seed_array(geo, {"a": 10}, integer=True).tolist()
    [[8.0, 2.0], [0.0, 0.0]]
    """
    pop = np.rint(geography.population) if integer else geography.population
    if initial_infected is None:
        initial_infected = {geography.regions[int(np.argmax(pop.sum(axis=1)))]: 10.0}
    if isinstance(initial_infected, Mapping):
        seeds = np.zeros_like(pop)
        for region, count in initial_infected.items():
            i = geography.index(str(region))
            c = _non_negative(f"initial_infected[{region!r}]", count)
            seeds[i] = _spread(c, pop[i], integer)
    else:
        seeds = np.array(initial_infected, dtype=float)
        if seeds.shape != pop.shape:
            raise ShapeError(
                f"initial_infected has shape {seeds.shape}; expected (regions, age groups) = "
                f"{pop.shape}, or a mapping region -> number"
            )
        if not np.all(np.isfinite(seeds)) or np.any(seeds < 0):
            raise InvalidInputError("initial_infected must be finite and >= 0")
        if integer:
            seeds = np.rint(seeds)
    over = seeds > pop + 1e-9
    if over.any():
        i, a = np.argwhere(over)[0]
        raise InvalidInputError(
            f"initial_infected in region {geography.regions[i]!r}, age group "
            f"{geography.age_groups[a]!r} is {seeds[i, a]:g}, more than its population "
            f"{pop[i, a]:g}; seed at most the people there"
        )
    return np.asarray(seeds)


def initial_state(
    geography: Geography, seeds: FloatArray, reps: int, *, integer: bool
) -> npt.NDArray[Any]:
    """State ``(reps, C, R, A)``: everyone susceptible except the exposed ``seeds``."""
    pop = np.rint(geography.population) if integer else np.asarray(geography.population)
    one = np.zeros((len(COMPARTMENTS), *pop.shape))
    one[S] = pop - seeds
    one[E] = seeds
    state = np.repeat(one[None], reps, axis=0)
    return state.astype(np.int64) if integer else state


def _spread(count: float, pop_by_age: FloatArray, integer: bool) -> FloatArray:
    total = float(pop_by_age.sum())
    if count > total + 1e-9:
        raise InvalidInputError(
            f"cannot seed {count:g} infected people in a region of {total:g}; seed fewer"
        )
    if total == 0:
        return np.zeros_like(pop_by_age)
    share = count * pop_by_age / total
    if not integer:
        return share
    whole = np.floor(share)
    left = round(count) - int(whole.sum())
    order = np.argsort(-(share - whole), kind="stable")
    whole[order[:left]] += 1
    return np.minimum(whole, pop_by_age)


def _check_mobility_regions(mobility: Any, geography: Geography) -> None:
    regions = getattr(mobility, "regions", None)
    if regions is not None and tuple(regions) != tuple(geography.regions):
        raise InvalidInputError(
            "the mobility matrix's regions differ from the geography's (names or order); "
            "build it for the same geography"
        )


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidParameterError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def _non_negative(name: str, value: object) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be a number; got {value!r}") from err
    if not np.isfinite(x) or x < 0:
        raise InvalidInputError(f"{name} must be finite and >= 0; got {value!r}")
    return x


def _replicate_ids(replicates: int, replicate_ids: Sequence[int] | None) -> list[int]:
    if replicate_ids is None:
        return list(range(_positive_int("replicates", replicates)))
    ids = [int(r) for r in replicate_ids]
    if not ids or any(r < 0 for r in ids) or len(set(ids)) != len(ids):
        raise InvalidParameterError(
            f"replicate_ids must be distinct integers >= 0, at least one; got {list(replicate_ids)}"
        )
    return ids
