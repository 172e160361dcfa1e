"""Calibrating the epidemic model to reported cases, admissions and deaths (ABC-SMC).

What is reported is not what happens: a share ``a_q`` of the true daily counts of quantity
``q`` (cases, admissions, deaths) is ascertained, and each is reported after a delay with
probabilities ``p_d`` (``d = 0, 1, ...`` days). The expected report on day ``t`` is
``mu_t = a_q sum_d p_d X_{t-d}`` and the report is drawn ``Poisson(mu_t)``.

Parameters are inferred by ABC-SMC (:func:`healthtwin.assimilation.abc_smc.abc_smc`) on
square-root weekly sums per region and quantity (a variance-stabilising transform of
counts). Fitted names: ``r0``; ``ascertainment.<quantity>``; and ``contact_change.<k>``,
the multiplier of all contacts from day ``change_days[k]`` on (the effect of an
intervention, or of behaviour). ``r0`` and the change-points act through the engine's
per-replicate contact multipliers (contacts scale the next-generation matrix linearly, so a
multiplier ``r0 / r0_ref`` on every setting turns a model built with ``r0_ref`` into one
with ``r0``): a whole batch of particles is one vectorised ensemble run, one replicate per
particle. Posterior predictive checks and forecasts re-simulate the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from healthtwin.assimilation.abc_smc import (
    AbcPosterior,
    PredictiveCheck,
    abc_smc,
    predictive_check,
)
from healthtwin.assimilation.priors import Component, IndependentPrior
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import ContactMatrices

__all__ = [
    "REPORTED_QUANTITIES",
    "EpidemicCalibration",
    "EpidemicSetting",
    "Reporting",
    "calibrate_epidemic",
    "expected_reports",
]

#: Quantities that can be observed and fitted.
REPORTED_QUANTITIES: tuple[str, ...] = ("cases", "admissions", "deaths", "icu_admissions")


@dataclass(frozen=True, kw_only=True)
class Reporting:
    """Ascertainment and reporting delay of one quantity (``delay_pmf[d]``: P(delay = d))."""

    ascertainment: float = 1.0
    delay_pmf: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if not 0.0 < self.ascertainment <= 1.0:
            raise InvalidParameterError(
                f"ascertainment must be in (0, 1]; got {self.ascertainment}"
            )
        pmf = np.asarray(self.delay_pmf, dtype=float)
        if pmf.ndim != 1 or pmf.size == 0 or (pmf < 0).any() or abs(pmf.sum() - 1.0) > 1e-9:
            raise InvalidParameterError(
                f"delay_pmf must be non-negative probabilities summing to 1; got {self.delay_pmf}"
            )


@dataclass(frozen=True)
class EpidemicSetting:
    """The fixed part of the model: where, who, the disease apart from ``r0``, the seeds."""

    geography: Geography
    contacts: ContactMatrices
    parameters: EpidemicParameters
    initial_infected: Mapping[str, float] | FloatArray | None = None
    mobility: object = None
    change_days: tuple[int, ...] = ()
    reporting: Mapping[str, Reporting] = field(default_factory=dict)
    engine: Literal["stochastic", "ode"] = "stochastic"


def expected_reports(
    true_counts: FloatArray, ascertainment: FloatArray, pmf: FloatArray
) -> FloatArray:
    """Expected reported counts ``a sum_d p_d X_{t-d}`` along the day axis.

    Parameters
    ----------
    true_counts
        Shape ``(n, days, R)``.
    ascertainment
        Shape ``(n,)`` (one share per member).
    pmf
        Delay probabilities ``(D,)``.

    Examples
    --------
    >>> x = np.array([[[10.0], [0.0], [20.0]]])
    >>> expected_reports(x, np.array([0.5]), np.array([0.5, 0.5]))[0, :, 0].tolist()
    [2.5, 2.5, 5.0]
    """
    x = np.asarray(true_counts, dtype=float)
    out = np.zeros_like(x)
    for d, p in enumerate(np.asarray(pmf, dtype=float)):
        if p == 0.0 or d >= x.shape[1]:
            continue
        out[:, d:] += p * x[:, : x.shape[1] - d]
    return np.asarray(out * np.asarray(ascertainment, dtype=float)[:, None, None])


@dataclass(frozen=True)
class EpidemicCalibration:
    """A fitted epidemic: the ABC posterior and how to simulate from it.

    Attributes
    ----------
    posterior
        The ABC-SMC posterior over :attr:`names`.
    names
        Fitted parameter names, in column order.
    observed
        The data fitted, quantity -> ``(days, R)``.
    check
        Posterior predictive check of the fitted weekly summaries.
    """

    setting: EpidemicSetting
    names: tuple[str, ...]
    posterior: AbcPosterior
    observed: Mapping[str, FloatArray]
    check: PredictiveCheck

    def summary(self) -> dict[str, dict[str, float]]:
        """Posterior mean, sd and 90 % interval of each parameter."""
        draws = self.posterior.resample(4000, np.random.default_rng(0))
        out = {}
        for k, name in enumerate(self.names):
            lo, hi = np.quantile(draws[:, k], [0.05, 0.95])
            out[name] = {
                "mean": float(self.posterior.mean()[k]),
                "sd": float(self.posterior.sd()[k]),
                "q05": float(lo),
                "q95": float(hi),
            }
        return out

    def predict(self, n: int, days: int, *, seed: int = 0) -> dict[str, FloatArray]:
        """Reported counts simulated from ``n`` posterior draws, quantity -> ``(n, days, R)``.

        ``days`` may exceed the fitted period: the extra days are the forecast.
        """
        rng = np.random.default_rng(seed)
        theta = self.posterior.resample(n, rng)
        return _simulate_reports(self.setting, self.names, theta, days, tuple(self.observed), rng)


def calibrate_epidemic(
    setting: EpidemicSetting,
    observed: Mapping[str, FloatArray],
    priors: Mapping[str, Component],
    *,
    n_particles: int = 200,
    n_generations: int = 6,
    seed: int = 0,
    min_acceptance_rate: float = 0.02,
) -> EpidemicCalibration:
    """Fit ``priors``' parameters to ``observed`` reported counts by ABC-SMC.

    Parameters
    ----------
    setting
        The model and the reporting of each observed quantity (``setting.reporting``
        gives fixed ascertainment and delays; a fitted ``ascertainment.<q>`` replaces the
        fixed share).
    observed
        Quantity (one of :data:`REPORTED_QUANTITIES`) -> reported counts ``(days, R)`` from
        day 0 of the simulation.
    priors
        Parameter name -> one-dimensional prior (``r0``, ``ascertainment.<q>``,
        ``contact_change.<k>``).

    Raises
    ------
    InvalidInputError, ShapeError
        Unknown quantities or parameters, data of the wrong shape, negative counts.
    """
    data = _check_observed(setting, observed)
    names = tuple(priors)
    _check_names(setting, names, tuple(data))
    days = next(iter(data.values())).shape[0]
    target = _summaries({q: v[None] for q, v in data.items()})[0]
    prior = IndependentPrior(tuple(priors[n] for n in names), names)

    def simulate(theta: FloatArray, rng: np.random.Generator) -> FloatArray:
        reports = _simulate_reports(setting, names, theta, days, tuple(data), rng)
        return _summaries(reports)

    posterior = abc_smc(
        simulate,
        target,
        prior,
        n_particles=n_particles,
        n_generations=n_generations,
        min_acceptance_rate=min_acceptance_rate,
        seed=seed,
    )
    rng = np.random.default_rng(seed + 1)
    predictive = simulate(posterior.resample(200, rng), rng)
    check = predictive_check(predictive, target, levels=(0.5, 0.9))
    return EpidemicCalibration(setting, names, posterior, data, check)


def _simulate_reports(
    setting: EpidemicSetting,
    names: Sequence[str],
    theta: FloatArray,
    days: int,
    quantities: Sequence[str],
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    n = theta.shape[0]
    values = {name: theta[:, k] for k, name in enumerate(names)}
    base_r0 = setting.parameters.r0
    scale_r0 = values["r0"] / base_r0 if "r0" in values and base_r0 else np.ones(n)
    changes = [
        values.get(f"contact_change.{k}", np.ones(n)) for k in range(len(setting.change_days))
    ]
    n_settings = len(setting.contacts.settings)
    n_regions, n_ages = setting.geography.n_regions, setting.geography.n_ages

    def controller(observed: Observed) -> DayControls:
        day = observed.day + 1
        factor = scale_r0.copy()
        for k, start in enumerate(setting.change_days):
            if day >= start:
                factor = factor * changes[k]
        return DayControls(
            contact_scale=np.broadcast_to(factor[:, None, None], (n, n_regions, n_settings)),
            mobility_scale=np.ones((n, n_regions)),
            isolation=np.zeros((n, n_regions)),
            vaccine_doses=np.zeros((n, n_regions, n_ages)),
        )

    result = simulate_epidemic(
        setting.geography,
        setting.contacts,
        setting.parameters,
        days=days,
        replicates=n,
        seed=int(rng.integers(2**62)),
        mobility=setting.mobility,
        initial_infected=setting.initial_infected,
        controller=controller,
        engine=setting.engine,
    )
    reports = {}
    for q in quantities:
        rep = setting.reporting.get(q, Reporting())
        share = values.get(f"ascertainment.{q}", np.full(n, rep.ascertainment))
        mu = expected_reports(result.get(q), share, np.asarray(rep.delay_pmf))
        reports[q] = rng.poisson(mu).astype(float)
    return reports


def _summaries(reports: Mapping[str, FloatArray]) -> FloatArray:
    """Square roots of weekly sums per quantity and region, ``(n, k)``."""
    parts = []
    for q in sorted(reports):
        x = np.asarray(reports[q], dtype=float)
        weeks = x.shape[1] // 7
        weekly = x[:, : weeks * 7].reshape(x.shape[0], weeks, 7, x.shape[2]).sum(axis=2)
        parts.append(np.sqrt(weekly).reshape(x.shape[0], -1))
    return np.concatenate(parts, axis=1)


def _check_observed(
    setting: EpidemicSetting, observed: Mapping[str, FloatArray]
) -> dict[str, FloatArray]:
    if not observed:
        raise InvalidInputError(f"give at least one observed quantity of {REPORTED_QUANTITIES}")
    data = {}
    days = None
    for q, values in observed.items():
        if q not in REPORTED_QUANTITIES:
            raise InvalidInputError(f"unknown observed quantity {q!r}; use {REPORTED_QUANTITIES}")
        x = np.asarray(values, dtype=float)
        if x.ndim != 2 or x.shape[1] != setting.geography.n_regions:
            raise ShapeError(
                f"observed {q} must be (days, regions = {setting.geography.n_regions}); "
                f"got {x.shape}"
            )
        if not np.isfinite(x).all() or (x < 0).any():
            raise InvalidInputError(
                f"observed {q} has negative or missing counts; fill or drop them"
            )
        if days is not None and x.shape[0] != days:
            raise ShapeError(
                f"observed quantities cover different numbers of days ({days}, {x.shape[0]})"
            )
        days = x.shape[0]
        data[q] = x
    assert days is not None
    if days < 14:
        raise InvalidInputError(f"calibration needs at least two weeks of data; got {days} days")
    return data


def _check_names(setting: EpidemicSetting, names: Sequence[str], quantities: Sequence[str]) -> None:
    known = ["r0"]
    known += [f"ascertainment.{q}" for q in quantities]
    known += [f"contact_change.{k}" for k in range(len(setting.change_days))]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(f"cannot fit {unknown}; fittable parameters here: {known}")
    if "r0" in names and setting.parameters.r0 is None:
        raise InvalidInputError("fitting r0 needs parameters built with r0= (not beta=)")
    if not names:
        raise InvalidInputError(f"give at least one parameter to fit of {known}")


def with_reporting(setting: EpidemicSetting, **reporting: Reporting) -> EpidemicSetting:
    """A copy of ``setting`` with the reporting of some quantities replaced."""
    return replace(setting, reporting={**setting.reporting, **reporting})
