"""Bayesian dose individualization: fit a patient's PK from drug levels, then redose.

Idea
----
Measured concentrations (times, values, an assay error model) and the doses already given
are fitted by maximum a posteriori estimation of the patient's PK parameters under their
log-normal population distribution (the Bayesian forecasting of Sheiner et al., Clin
Pharmacol Ther 26:294, 1979), using the batched Levenberg-Marquardt fits of
:mod:`healthtwin.assimilation`. The posterior is approximated by a Gaussian in log space
at the MAP (Laplace; covariance ``(J^T J)^{-1}`` of the whitened residuals, prior rows
included). An additive assay error compares concentrations, a proportional one their
logarithms.

:func:`individualize` then draws members from that posterior and chooses each patient
the regimen with the highest expected share of time in the target concentration window
(:func:`~healthtwin.control.regimen.choose_regimen`), which also gives that share's
credible interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.assimilation.calibration import fit_problem
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.assimilation.view import StateView, view_for
from healthtwin.control.regimen import RegimenChoice, RegimenSearch, choose_regimen
from healthtwin.core.inputs import Inputs
from healthtwin.core.protocols import Model
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "AssayError",
    "Individualization",
    "PatientFit",
    "PopulationPrior",
    "fit_patients",
    "individualize",
]

_FLOOR = 1e-12  # concentrations below this count as this for log-scale residuals


@dataclass(frozen=True)
class PopulationPrior:
    """Log-normal population distribution: median and coefficient of variation by name.

    Examples
    --------
    >>> prior = PopulationPrior({"k10": 0.1}, {"k10": 0.3})
    >>> round(float(prior.log_sd[0]), 4)
    0.2936
    """

    median: Mapping[str, float]
    cv: Mapping[str, float]

    def __post_init__(self) -> None:
        if set(self.median) != set(self.cv) or not self.median:
            raise InvalidParameterError(
                f"give a median and a CV for the same parameters, got {sorted(self.median)} "
                f"and {sorted(self.cv)}"
            )
        for name in self.median:
            if not (self.median[name] > 0 and self.cv[name] > 0):
                raise InvalidParameterError(
                    f"{name}: median and CV must be > 0, got {self.median[name]}, {self.cv[name]}"
                )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.median)

    @property
    def log_mean(self) -> FloatArray:
        return np.log(np.array([self.median[k] for k in self.names], dtype=np.float64))

    @property
    def log_sd(self) -> FloatArray:
        cv = np.array([self.cv[k] for k in self.names], dtype=np.float64)
        return np.asarray(np.sqrt(np.log1p(cv**2)), dtype=np.float64)

    def view(self, model: Any) -> StateView:
        """The model's parameters, bounded to 8 prior SDs around the median."""
        bounds = {
            k: (float(np.exp(mu - 8 * sd)), float(np.exp(mu + 8 * sd)))
            for k, mu, sd in zip(self.names, self.log_mean, self.log_sd, strict=True)
        }
        return view_for(model, states=[], parameters=bounds)


@dataclass(frozen=True)
class AssayError:
    """Gaussian assay error: ``sd`` in concentration units, or on the log scale (about the
    CV) when ``proportional``."""

    sd: float
    proportional: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise InvalidParameterError(f"assay sd must be > 0, got {self.sd}")


class _AssayObservation:
    """One output channel, on the log scale for a proportional error."""

    def __init__(self, model: Model[Any], output: str, assay: AssayError) -> None:
        names = list(model.outputs)
        if output not in names:
            raise InvalidParameterError(f"model {model.name!r} has no output {output!r}: {names}")
        self.model, self.column, self.assay = model, names.index(output), assay
        self.noise_sd = np.array([assay.sd])

    def transform(self, conc: FloatArray) -> FloatArray:
        if self.assay.proportional:
            return np.log(np.maximum(conc, _FLOOR))
        return conc

    def predict(self, state: Any) -> FloatArray:
        return self.transform(np.asarray(self.model.observe(state))[:, [self.column]])


@dataclass(frozen=True)
class PatientFit:
    """MAP log-parameters ``(patients, L)`` and their Laplace covariance ``(patients, L, L)``."""

    log_estimate: FloatArray
    log_covariance: FloatArray
    names: tuple[str, ...]
    view: StateView
    converged: BoolArray

    @property
    def estimate(self) -> FloatArray:
        """MAP parameters in natural units, ``(patients, L)``."""
        return np.asarray(np.exp(self.log_estimate))

    def draws(self, template: Any, n_draws: int, rng: np.random.Generator) -> Any:
        """``n_draws`` posterior members per patient (patient-major) from ``template``."""
        patients, size = self.log_estimate.shape
        chol = np.linalg.cholesky(self.log_covariance + 1e-12 * np.eye(size))
        z = rng.standard_normal((patients, n_draws, size))
        log_theta = self.log_estimate[:, None, :] + np.einsum("pij,pdj->pdi", chol, z)
        state = template.take(np.repeat(np.arange(patients), n_draws))
        return self.view.unpack(state, log_theta.reshape(patients * n_draws, size))


def fit_patients(
    model: Model[Any],
    template: Any,
    given: Inputs,
    times: FloatArray,
    levels: FloatArray,
    *,
    output: str,
    assay: AssayError,
    prior: PopulationPrior,
    rng: np.random.Generator,
    starts: int = 2,
    max_iterations: int = 60,
) -> PatientFit:
    """MAP fit of ``prior``'s parameters for every patient, with the Laplace covariance.

    Parameters
    ----------
    model, template
        The PK model and a state of one member per patient at time 0 (its other parameters
        are kept; covariates go there).
    given
        The doses given, shared by the patients.
    times, levels
        Sampling times ``(T,)`` after 0 and measured concentrations ``(patients, T)``
        (NaN where a patient has no level at that time).
    output, assay, prior
        The measured output channel, the assay error and the population prior.

    Examples
    --------
    A patient with half the typical volume: two levels after a 1000 mg infusion.

    >>> from healthtwin.core.inputs import Rate
    >>> from healthtwin.physiology.pkpd import PkPdModel, PkPdParameters
    >>> model = PkPdModel(PkPdParameters(v1_l=50.0, k10=0.0013), n_compartments=1)
    >>> given = Inputs(rates={"infusion_mg_per_min": Rate([0.0, 60.0], [1000 / 60, 0.0])})
    >>> prior = PopulationPrior({"v1_l": 50.0, "k10": 0.0013}, {"v1_l": 0.4, "k10": 0.4})
    >>> rng = np.random.default_rng(0)
    >>> fit = fit_patients(model, model.initial_state(1, rng), given, np.array([90.0, 600.0]),
    ...                    np.array([[34.0, 15.0]]), output="plasma_mg_l",
    ...                    assay=AssayError(0.1, proportional=True), prior=prior, rng=rng)
    >>> round(float(fit.estimate[0, 0]))  # litres, pulled from 50 toward the data
    28
    """
    obs = _AssayObservation(model, output, assay)
    values = np.atleast_2d(np.asarray(levels, dtype=np.float64))
    if assay.proportional and np.any(values[np.isfinite(values)] <= 0):
        raise InvalidInputError("a proportional assay error needs positive levels; drop zeros")
    problem = CalibrationProblem(
        model,
        template,
        prior.view(model),
        np.asarray(times, dtype=np.float64),
        obs.transform(values),
        obs,
        given,
        prior.log_mean,
        prior.log_sd,
        prior.names,
    )
    fit = fit_problem(problem, starts=starts, max_iterations=max_iterations, rng=rng)
    patients = np.arange(problem.n_patients)
    free = list(range(problem.n_parameters))
    _, jac = problem.residuals_and_jacobian(patients, fit.log_estimate, free, rng)
    cov = np.asarray(np.linalg.inv(jac.transpose(0, 2, 1) @ jac), dtype=np.float64)
    return PatientFit(fit.log_estimate, cov, prior.names, problem.view, fit.converged)


@dataclass(frozen=True)
class Individualization:
    """The patients' fit and the regimen chosen on its posterior draws."""

    fit: PatientFit
    choice: RegimenChoice


def individualize(
    model: Model[Any],
    template: Any,
    given: Inputs,
    times: FloatArray,
    levels: FloatArray,
    *,
    assay: AssayError,
    prior: PopulationPrior,
    search: RegimenSearch,
    start: float,
    end: float,
    rng: np.random.Generator,
    n_draws: int = 64,
) -> Individualization:
    """Fit the patients' levels (:func:`fit_patients`), draw ``n_draws`` members per patient
    from the Laplace posterior and choose each a regimen from ``start`` judged on
    ``[start, end]`` (:func:`~healthtwin.control.regimen.choose_regimen`).

    Examples
    --------
    The patient of :func:`fit_patients`, redosed from 12 h to stay in 10-20 mg/L.

    >>> from healthtwin.core.inputs import Rate
    >>> from healthtwin.physiology.pkpd import PkPdModel, PkPdParameters
    >>> model = PkPdModel(PkPdParameters(v1_l=50.0, k10=0.0013), n_compartments=1)
    >>> given = Inputs(rates={"infusion_mg_per_min": Rate([0.0, 60.0], [1000 / 60, 0.0])})
    >>> prior = PopulationPrior({"v1_l": 50.0, "k10": 0.0013}, {"v1_l": 0.4, "k10": 0.4})
    >>> search = RegimenSearch("infusion_mg_per_min", "plasma_mg_l", (10.0, 20.0),
    ...                        doses=[250.0, 500.0, 750.0, 1000.0], intervals=[480.0, 720.0],
    ...                        infusion_duration=60.0, step=15.0)
    >>> rng = np.random.default_rng(0)
    >>> plan = individualize(model, model.initial_state(1, rng), given, np.array([90.0, 600.0]),
    ...                      np.array([[34.0, 15.0]]), assay=AssayError(0.1, proportional=True),
    ...                      prior=prior, search=search, start=720.0, end=4320.0, rng=rng)
    >>> dose, interval, _ = plan.choice.regimen.arrays()
    >>> float(dose[0]), float(interval[0])  # the typical patient would get 500 mg q8h
    (250.0, 480.0)
    """
    fit = fit_patients(
        model,
        template,
        given,
        times,
        levels,
        output=search.output,
        assay=assay,
        prior=prior,
        rng=rng,
    )
    draws = fit.draws(template, n_draws, rng)
    choice = choose_regimen(model, draws, n_draws, given, search, start=start, end=end, rng=rng)
    return Individualization(fit, choice)
