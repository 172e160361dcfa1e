"""The closed loop between the population twin and outbreak detection.

The population twin simulates an endemic infection (waning immunity keeps it circulating),
of which a share is reported each week; outbreaks of ``Poisson(k x SD)`` cases spread by a
log-normal delay are injected into those reported series, and the detectors are scored on
finding them (:func:`healthtwin.surveillance.evaluation.evaluate_closed_loop`). Unlike the
Noufaily design, the background here is a mechanistic epidemic, with its own correlation
and irregularity from week to week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import synthetic_contacts
from healthtwin.surveillance.evaluation import ScenarioScores, evaluate_closed_loop

__all__ = ["EndemicSetting", "closed_loop_scores", "endemic_background"]

AGES = ("0-19", "20-59", "60+")


@dataclass(frozen=True, kw_only=True)
class EndemicSetting:
    """An endemic infection in one population, and what share of its cases is reported.

    ``r0`` above 1 and ``immunity_days`` of waning keep it endemic; the first
    ``burn_in_years`` (the approach to the endemic level) are dropped. Seven kept years give
    the Farrington methods their five years of history before a year of monitored weeks.
    """

    population: float = 2e6
    r0: float = 1.5
    immunity_days: float = 365.0
    ascertainment: float = 0.05
    years: int = 7
    burn_in_years: int = 2
    initial_infected: float = 500.0

    def __post_init__(self) -> None:
        if self.population <= 0 or self.initial_infected <= 0:
            raise InvalidParameterError("population and initial_infected must be > 0")
        if not 0 < self.ascertainment <= 1:
            raise InvalidParameterError(
                f"ascertainment must be in (0, 1]; got {self.ascertainment}"
            )
        if self.years < 1 or self.burn_in_years < 0:
            raise InvalidParameterError("years must be >= 1 and burn_in_years >= 0")


def endemic_background(setting: EndemicSetting, *, replicates: int, seed: int = 0) -> FloatArray:
    """Weekly reported cases of the endemic infection, shape ``(replicates, 52 * years)``.

    Examples
    --------
    >>> weekly = endemic_background(EndemicSetting(years=1, burn_in_years=1), replicates=2)
    >>> weekly.shape, bool((weekly > 0).all())
    ((2, 52), True)
    """
    shares = np.array([0.25, 0.55, 0.20])
    geo = Geography(
        regions=("country",), age_groups=AGES, population=setting.population * shares[None, :]
    )
    days = 7 * 52 * (setting.years + setting.burn_in_years)
    result = simulate_epidemic(
        geo,
        synthetic_contacts(AGES),
        EpidemicParameters(r0=setting.r0, immunity_waning_per_day=1.0 / setting.immunity_days),
        days=days,
        replicates=replicates,
        seed=seed,
        initial_infected={"country": setting.initial_infected},
    )
    cases = result.get("cases")[:, :, 0]
    weekly = cases.reshape(replicates, -1, 7).sum(axis=2)[:, 52 * setting.burn_in_years :]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    return np.asarray(rng.binomial(weekly.astype(np.int64), setting.ascertainment), dtype=float)


def closed_loop_scores(
    methods: Sequence[str],
    setting: EndemicSetting | None = None,
    *,
    replicates: int = 20,
    monitored_weeks: int = 49,
    k: float | Sequence[float] = (3.0, 5.0, 10.0),
    seed: int = 0,
) -> dict[str, ScenarioScores]:
    """Score detectors on outbreaks injected into the population twin's endemic series.

    Every method sees the same background and the same injected outbreaks (common random
    numbers); the last ``monitored_weeks`` weeks are monitored.
    """
    setting = EndemicSetting() if setting is None else setting
    background = endemic_background(setting, replicates=replicates, seed=seed)
    n_weeks = background.shape[1]
    if not 0 < monitored_weeks < n_weeks:
        raise InvalidParameterError(
            f"monitored_weeks must be between 1 and {n_weeks - 1}; got {monitored_weeks}"
        )
    monitored = np.arange(n_weeks - monitored_weeks + 1, n_weeks + 1)
    return {
        method: evaluate_closed_loop(
            background,
            method=method,
            monitored=monitored,
            rng=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,))),
            k=k,
        )
        for method in methods
    }
