"""Offline calibration feeding the online filter: batched multi-start MAP fits.

For each patient, the parameters chosen by a :class:`StateView` (log space) are fitted to a
record of readings by maximizing the posterior ``log p(y | theta) + log p(theta)`` with a
Gaussian prior in log space. All patients and all starts are fitted together: each
Levenberg-Marquardt iteration runs the model once for ``patients x starts x (L + 1)``
members (the base point and one finite-difference perturbation per parameter), so the
Jacobian costs one batched simulation.

The Laplace approximation at the optimum gives posterior standard deviations; their ratio
to the prior's is the identifiability report (posterior contraction ``1 - var_post /
var_prior``: near 1 the data pin the parameter down, near 0 they say nothing about it).
:func:`ensemble_from_fit` turns the posterior into the online twin's prior ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.assimilation.least_squares import levenberg_marquardt
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.assimilation.view import StateView
from healthtwin.core.inputs import Inputs
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["MapFit", "ensemble_from_fit", "fit_map", "fit_problem"]


@dataclass(frozen=True)
class MapFit:
    """Per patient: the MAP estimate, its Laplace spread and the identifiability report.

    Attributes
    ----------
    log_estimate
        MAP log-parameters, ``(patients, L)``.
    log_sd
        Laplace posterior SD in log space, ``(patients, L)``.
    prior_log_sd
        The prior's SD in log space, ``(L,)``.
    objective
        Negative log posterior at the optimum (up to a constant), ``(patients,)``.
    converged
        Whether the best start's last step changed the objective by < 1e-6 relative.
    names
        Parameter names.
    """

    log_estimate: FloatArray
    log_sd: FloatArray
    prior_log_sd: FloatArray
    objective: FloatArray
    converged: BoolArray
    names: tuple[str, ...]

    @property
    def estimate(self) -> FloatArray:
        """MAP parameters in natural units, ``(patients, L)``."""
        return np.asarray(np.exp(self.log_estimate))

    @property
    def contraction(self) -> FloatArray:
        """Posterior contraction ``1 - var_post / var_prior`` per patient and parameter."""
        return np.asarray(1.0 - (self.log_sd / self.prior_log_sd) ** 2)

    def identifiability(self, threshold: float = 0.5) -> dict[str, bool]:
        """Parameter -> whether the data inform it (median contraction above ``threshold``)."""
        median = np.median(self.contraction, axis=0)
        return {name: bool(c > threshold) for name, c in zip(self.names, median, strict=True)}


def fit_map(
    model: Any,
    template: Any,
    view: StateView,
    times: FloatArray,
    readings: FloatArray,
    obs: Any,
    inputs: Inputs,
    *,
    prior_log_mean: Sequence[float],
    prior_log_sd: Sequence[float],
    starts: int = 4,
    max_iterations: int = 25,
    rng: np.random.Generator,
    names: Sequence[str] = (),
) -> MapFit:
    """Multi-start MAP fit of ``view``'s parameters for every patient at once.

    Parameters
    ----------
    model
        The model; ``template`` is a state of one member per patient (their initial
        states and fixed parameters; the view's parameters are overwritten).
    view
        Must select parameters only (no states): the fit is over parameters.
    times, readings
        Reading times ``(T,)`` from 0 and readings per patient ``(patients, T)`` of the
        observation's first output (NaN = missing).
    obs
        A Gaussian observation model (``noise_sd``).
    inputs
        Inputs shared by the patients.
    prior_log_mean, prior_log_sd
        Gaussian prior of the log-parameters.
    starts
        Starts per patient: the prior mean, then draws from the prior.
    """
    problem = CalibrationProblem(
        model,
        template,
        view,
        times,
        readings,
        obs,
        inputs,
        np.asarray(prior_log_mean, dtype=np.float64),
        np.asarray(prior_log_sd, dtype=np.float64),
        tuple(names),
    )
    return fit_problem(problem, starts=starts, max_iterations=max_iterations, rng=rng)


def fit_problem(
    problem: CalibrationProblem,
    *,
    starts: int = 4,
    max_iterations: int = 25,
    rng: np.random.Generator,
) -> MapFit:
    """Multi-start MAP fit of a :class:`CalibrationProblem` (see :func:`fit_map`)."""
    if starts < 1:
        raise InvalidParameterError(f"starts must be >= 1, got {starts}")
    patients, size = problem.n_patients, problem.n_parameters
    mu, sigma = problem.prior_log_mean, problem.prior_log_sd
    theta = mu + sigma * rng.standard_normal((patients * starts, size))
    theta[::starts] = mu  # the first start of every patient is the prior mean
    rows = np.repeat(np.arange(patients), starts)
    result = levenberg_marquardt(problem, rows, theta, rng, max_iterations=max_iterations)
    cov = result.covariance()
    best = result.objective.reshape(patients, starts).argmin(axis=1)
    pick = np.arange(patients) * starts + best
    return MapFit(
        log_estimate=result.log_theta[pick],
        log_sd=np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[pick],
        prior_log_sd=sigma,
        objective=result.objective[pick],
        converged=result.change[pick] < 1e-6,
        names=problem.names,
    )


def ensemble_from_fit(
    fit: MapFit, template: Any, view: StateView, members: int, rng: np.random.Generator
) -> Any:
    """The online prior: ``members`` per patient drawn from the Laplace posterior.

    ``template`` has one member per patient; the result has ``patients x members``.
    """
    patients = fit.log_estimate.shape[0]
    if template.n_members != patients:
        raise ShapeError(f"template must have one member per patient ({patients})")
    draws = fit.log_estimate[:, None, :] + fit.log_sd[:, None, :] * rng.standard_normal(
        (patients, members, fit.log_estimate.shape[1])
    )
    state = template.take(np.repeat(np.arange(patients), members))
    return view.unpack(state, draws.reshape(patients * members, -1))
