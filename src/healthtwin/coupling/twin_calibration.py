"""Patient twins that read their patient and die at the disease's hospital fatality.

Covariates (a mapping chosen here, not from a paper)
    A patient's twin (:class:`~healthtwin.coupling.hospital_course.TwinCourse`) grows its
    pathogen ``m`` times faster than the twin of a reference patient with the same
    random draws, where

    ``m = a_b * exp(AGE_LOG_GROWTH_PER_DECADE * (age - 60) / 10
    + DIABETES_LOG_GROWTH * diabetes + HYPERTENSION_LOG_GROWTH * hypertension)``

    (:func:`covariate_multiplier` is the exponential; ``age``, ``diabetes`` and
    ``hypertension`` are the matched cohort member's) and ``a_b`` is the *age factor*
    of the patient's age band ``b`` (the band the epidemic admitted them in). Faster
    growth moves a twin towards the Reynolds model's death basins, so older and
    comorbid patients die and deteriorate more often.

Calibration (:func:`calibrate_age_factors`)
    The age factors are chosen so that each band's share of twins that die (damage
    reaches ``death_damage`` within ``horizon_hours``) equals the disease's hospital
    fatality of the band (:func:`hospital_fatality`: ``(1 - icu) * ward_death + icu *
    icu_death``, the population model's ward and ICU branches). Only the initial load
    ``P(0)`` and the growth ``k_pg`` vary between twins, and for a given load a twin
    dies exactly when its growth is above a critical growth ``k*(P(0))`` (checked on a
    grid in the tests), so:

    1. :func:`death_curve` finds ``k*`` at loads spanning +-4 sigma of the load
       distribution by a batched bracketing search (a few hundred twins integrated with
       :func:`~healthtwin.coupling.hospital_course.integrate_twins`, deterministic);
    2. a twin with draws ``(z_load, z_growth)`` and multiplier ``m`` dies when
       ``log m >= log k*(P(0)) - log k_pg``, its *critical log multiplier*, so a band's
       fatality at factor ``a`` is the mean over ``n_draws`` fixed draws and over the
       band's members ``j`` of ``1[log a + log c_j >= critical]`` (``c_j`` the members'
       covariate multipliers), a non-decreasing step function of ``a`` whose root is
       found by bisection on ``log a``. No twin is integrated in this step.

    The fatality reached is that of the twins' own prognosis; patients still in hospital
    at the end of a run have not died yet, so a run's deaths fall short of it by the
    deaths after its horizon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.coupling.hospital_course import (
    TwinCourseSettings,
    integrate_twins,
    twin_initial_state,
)
from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.population.epidemic_parameters import EpidemicParameters

__all__ = [
    "AGE_LOG_GROWTH_PER_DECADE",
    "DIABETES_LOG_GROWTH",
    "HYPERTENSION_LOG_GROWTH",
    "TwinCalibration",
    "TwinDeathCurve",
    "calibrate_age_factors",
    "covariate_multiplier",
    "death_curve",
    "hospital_fatality",
]

#: Log growth multiplier per decade of age from 60 (within the band's calibrated factor).
AGE_LOG_GROWTH_PER_DECADE = 0.05
#: Log growth multiplier of diabetes.
DIABETES_LOG_GROWTH = 0.10
#: Log growth multiplier of hypertension.
HYPERTENSION_LOG_GROWTH = 0.05
_REFERENCE_AGE_YEARS = 60.0
#: Growth rates (1/h) searched for the critical growth: below, every twin lives; above,
#: every twin dies (loads too high to clear die at any growth: their ``k*`` is the floor).
_GROWTH_RANGE = (1e-4, 30.0)
_LOG_FACTOR_RANGE = (-12.0, 12.0)


def covariate_multiplier(
    age_years: FloatArray,
    diabetes: FloatArray | None = None,
    hypertension: FloatArray | None = None,
) -> FloatArray:
    """Growth multiplier of each patient's covariates (module docstring), shape ``(n,)``.

    Missing comorbidities count as absent.

    Examples
    --------
    >>> covariate_multiplier(np.array([60.0, 80.0]), np.array([0.0, 1.0])).round(4).tolist()
    [1.0, 1.2214]
    """
    age = np.asarray(age_years, dtype=float).reshape(-1)
    log_m = AGE_LOG_GROWTH_PER_DECADE * (age - _REFERENCE_AGE_YEARS) / 10.0
    for values, weight in (
        (diabetes, DIABETES_LOG_GROWTH),
        (hypertension, HYPERTENSION_LOG_GROWTH),
    ):
        if values is not None:
            flags = np.asarray(values, dtype=float).reshape(-1)
            if flags.shape != age.shape:
                raise ShapeError(
                    f"covariates must have one value per patient ({age.size}); got {flags.size}"
                )
            log_m = log_m + weight * flags
    if not np.isfinite(log_m).all():
        raise InvalidParameterError("covariates must be finite; got a NaN or infinite value")
    return np.asarray(np.exp(log_m))


def hospital_fatality(parameters: EpidemicParameters, n_ages: int) -> FloatArray:
    """Share of admitted patients who die, per age group, shape ``(A,)``.

    ``(1 - icu_fraction) * ward_death_fraction + icu_fraction * icu_death_fraction``: the
    population model's ward and ICU branches
    (:class:`~healthtwin.population.epidemic_parameters.EpidemicParameters`).

    Examples
    --------
    >>> p = EpidemicParameters(r0=2.0, icu_fraction=[0.1, 0.5])
    >>> hospital_fatality(p, 2).round(4).tolist()
    [0.12, 0.2]
    """
    icu = parameters.age_values("icu_fraction", n_ages)
    ward = parameters.age_values("ward_death_fraction", n_ages)
    icu_death = parameters.age_values("icu_death_fraction", n_ages)
    return np.asarray((1.0 - icu) * ward + icu * icu_death)


@dataclass(frozen=True)
class TwinDeathCurve:
    """The critical growth ``k*`` of twins as a function of their initial load.

    Attributes
    ----------
    settings
        The twins' settings (distributions, thresholds, numerics).
    log_loads : ndarray, shape (L,)
        Log initial loads, increasing.
    log_critical_growth : ndarray, shape (L,)
        ``log k*`` at each load: twins with a higher growth die.
    """

    settings: TwinCourseSettings
    log_loads: FloatArray
    log_critical_growth: FloatArray

    def critical_log_multiplier(self, z_load: FloatArray, z_growth: FloatArray) -> FloatArray:
        """``log k*(P(0)) - log k_pg`` of twins with these standard-normal draws, ``(n,)``.

        A twin with growth multiplier ``m`` dies when ``log m`` is at least this value.
        """
        s = self.settings
        log_load = math.log(s.pathogen_median) + s.pathogen_sigma * np.asarray(z_load, float)
        log_growth = math.log(s.growth_median) + s.growth_sigma * np.asarray(z_growth, float)
        critical = np.interp(log_load, self.log_loads, self.log_critical_growth)
        return np.asarray(critical - log_growth)


def death_curve(
    settings: TwinCourseSettings, *, n_loads: int = 25, candidates: int = 8, rounds: int = 4
) -> TwinDeathCurve:
    """Critical growth at ``n_loads`` loads over +-4 sigma of the load distribution.

    Each round integrates ``candidates`` growths per load spread evenly (in log) inside
    the load's bracket and keeps the bracket around the first that dies: the bracket
    shrinks ``candidates + 1``-fold per round, from ``1e-4..30`` per hour (to +-0.1 % in
    ``k*`` after 4 rounds of 8; 3 rounds leave +-0.9 %, which biased the fatality of a
    14 % target by -0.3 points). Deterministic (no random draws); about 200 twins a round.

    Examples
    --------
    >>> curve = death_curve(TwinCourseSettings(horizon_hours=240.0), n_loads=3, rounds=2)
    >>> bool(np.all(np.diff(curve.log_critical_growth) <= 0))  # higher loads die sooner
    True
    """
    s = settings
    if n_loads < 2 or candidates < 1 or rounds < 1:
        raise InvalidParameterError(
            f"need n_loads >= 2, candidates >= 1, rounds >= 1; got {n_loads}, {candidates}, "
            f"{rounds}"
        )
    z_load = np.linspace(-4.0, 4.0, n_loads)
    lo = np.full(n_loads, math.log(_GROWTH_RANGE[0]))
    hi = np.full(n_loads, math.log(_GROWTH_RANGE[1]))
    steps = np.arange(1, candidates + 1) / (candidates + 1)
    for _ in range(rounds):
        log_k = lo[:, None] + (hi - lo)[:, None] * steps[None, :]  # (L, C)
        died = _dies(s, np.repeat(z_load, candidates), log_k.ravel()).reshape(log_k.shape)
        first = np.where(died.any(axis=1), np.argmax(died, axis=1), candidates)
        rows = np.arange(n_loads)
        padded = np.column_stack([lo, log_k, hi])
        lo, hi = padded[rows, first], padded[rows, first + 1]
    log_loads = math.log(s.pathogen_median) + s.pathogen_sigma * z_load
    return TwinDeathCurve(s, log_loads, 0.5 * (lo + hi))


def _dies(settings: TwinCourseSettings, z_load: FloatArray, log_growth: FloatArray) -> BoolArray:
    """Whether twins with these loads and growth rates die within the horizon."""
    s = settings
    multiplier = np.exp(log_growth) / s.growth_median
    x0, theta = twin_initial_state(s, z_load, np.zeros(z_load.size), multiplier)
    _, died = integrate_twins(x0, theta, s, keep_states=False)
    return died


@dataclass(frozen=True)
class TwinCalibration:
    """Age factors of the twins and the fatality they give, per age band.

    Attributes
    ----------
    age_factor : ndarray, shape (A,)
        ``a_b``: the growth multiplier of band ``b`` (before covariates).
    target : ndarray, shape (A,)
        The hospital fatality aimed at.
    fatality : ndarray, shape (A,)
        The twins' death share with these factors (on the calibration's draws).
    """

    age_factor: FloatArray
    target: FloatArray
    fatality: FloatArray


def calibrate_age_factors(
    curve: TwinDeathCurve,
    target_fatality: FloatArray,
    member_multipliers: Sequence[FloatArray],
    *,
    seed: int = 0,
    n_draws: int = 100_000,
) -> TwinCalibration:
    """Age factors giving each band's twins the target fatality (module docstring).

    Parameters
    ----------
    curve
        The twins' critical growth (:func:`death_curve`).
    target_fatality : ndarray, shape (A,)
        Death share to reach per band, in [0, 1].
    member_multipliers : sequence of A arrays
        Covariate multipliers (:func:`covariate_multiplier`) of the cohort members each
        band's patients are matched to, used equally often (empty or missing: ``[1.0]``).
    seed, n_draws
        The fixed twin draws the fatality is computed on.

    Examples
    --------
    >>> curve = death_curve(TwinCourseSettings(), n_loads=9, rounds=2)
    >>> cal = calibrate_age_factors(curve, np.array([0.05, 0.3]), [np.ones(1), np.ones(1)])
    >>> bool(np.abs(cal.fatality - cal.target).max() < 1e-3), bool(cal.age_factor[1] > 1)
    (True, True)
    """
    target = np.asarray(target_fatality, dtype=float).reshape(-1)
    if not ((target >= 0) & (target <= 1)).all():
        raise InvalidParameterError(f"target fatality must be in [0, 1]; got {target.tolist()}")
    if len(member_multipliers) != target.size:
        raise ShapeError(
            f"one set of member multipliers per band ({target.size}); got {len(member_multipliers)}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, n_draws]))
    z = rng.standard_normal((2, n_draws))
    critical = np.sort(curve.critical_log_multiplier(z[0], z[1]))
    factors, reached = np.ones(target.size), np.zeros(target.size)
    for b, goal in enumerate(target):
        log_c = np.log(np.asarray(member_multipliers[b], dtype=float).reshape(-1))
        log_c = log_c if log_c.size else np.zeros(1)

        def share(log_a: float, log_c: FloatArray = log_c) -> float:
            dying = np.searchsorted(critical, log_a + log_c, side="right")
            return float(dying.mean() / critical.size)

        lo, hi = _LOG_FACTOR_RANGE
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if share(mid) < goal else (lo, mid)
        factors[b], reached[b] = math.exp(hi), share(hi)
    return TwinCalibration(factors, target, reached)
