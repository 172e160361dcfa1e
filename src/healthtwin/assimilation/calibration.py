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

from healthtwin.assimilation.view import StateView
from healthtwin.core.inputs import Inputs
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["MapFit", "ensemble_from_fit", "fit_map"]

_FD_STEP = 1e-4  # finite-difference step in log-parameter space


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


def _predictions(
    model: Any,
    state: Any,
    times: FloatArray,
    inputs: Inputs,
    obs: Any,
    column: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Readings predicted at ``times`` for every member, ``(n, T)``."""
    out = np.empty((state.n_members, times.size))
    t_prev = 0.0
    for j, t in enumerate(times):
        state = model.advance(state, t_prev, float(t), inputs, rng)
        t_prev = float(t)
        out[:, j] = np.asarray(obs.predict(state))[:, column]
    return out


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
        Inputs shared by the patients (or per patient on the member axis is not supported
        here: give every patient the same schedule).
    prior_log_mean, prior_log_sd
        Gaussian prior of the log-parameters.
    starts
        Starts per patient: the prior mean, then draws from the prior.
    """
    if view.n_states:
        raise InvalidParameterError("fit_map estimates parameters: give a view without states")
    size = view.n_parameters
    mu = np.asarray(prior_log_mean, dtype=np.float64)
    sigma = np.asarray(prior_log_sd, dtype=np.float64)
    if mu.shape != (size,) or sigma.shape != (size,) or np.any(sigma <= 0):
        raise InvalidParameterError(f"give {size} prior log means and {size} positive log SDs")
    times = np.asarray(times, dtype=np.float64)
    readings = np.atleast_2d(np.asarray(readings, dtype=np.float64))
    patients = template.n_members
    if readings.shape != (patients, times.size):
        raise ShapeError(f"readings must be ({patients}, {times.size}), got {readings.shape}")
    if np.any(np.diff(times) <= 0) or times[0] <= 0:
        raise InvalidInputError("reading times must be positive and strictly increasing")
    sd = float(np.asarray(obs.noise_sd)[0])
    observed = np.isfinite(readings)
    problems = patients * starts
    theta = mu + sigma * rng.standard_normal((problems, size))
    theta[::starts] = mu  # the first start of every patient is the prior mean
    damping = np.full(problems, 1e-2)
    base = template.take(np.repeat(np.arange(patients), starts * (size + 1)))
    y = np.repeat(readings, starts, axis=0)
    mask = np.repeat(observed, starts, axis=0)

    def evaluate(log_theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        points = np.repeat(log_theta, size + 1, axis=0).reshape(problems, size + 1, size)
        points[:, 1:, :] += _FD_STEP * np.eye(size)
        state = view.unpack(base, points.reshape(-1, size))
        pred = _predictions(model, state, times, inputs, obs, 0, rng)
        pred = pred.reshape(problems, size + 1, times.size)
        resid = np.where(mask, (y - pred[:, 0, :]) / sd, 0.0)
        jac = np.where(
            mask[:, :, None],
            -(pred[:, 1:, :] - pred[:, :1, :]).transpose(0, 2, 1) / (_FD_STEP * sd),
            0.0,
        )  # d resid / d log theta, (problems, T, L)
        prior_resid = (log_theta - mu) / sigma
        objective = 0.5 * (np.sum(resid**2, axis=1) + np.sum(prior_resid**2, axis=1))
        return (
            objective,
            np.concatenate([resid, prior_resid], axis=1),
            np.concatenate(
                [jac, np.broadcast_to(np.diag(1.0 / sigma), (problems, size, size))], axis=1
            ),
        )

    objective, resid, jac = evaluate(theta)
    change = np.full(problems, np.inf)
    for _ in range(max_iterations):
        jtj = jac.transpose(0, 2, 1) @ jac
        grad = np.einsum("tkl,tk->tl", jac, resid)
        step = -np.linalg.solve(jtj + damping[:, None, None] * np.eye(size), grad[:, :, None])
        candidate = theta + step[:, :, 0]
        new_objective, new_resid, new_jac = evaluate(candidate)
        better = new_objective < objective
        change = np.where(
            better, (objective - new_objective) / np.maximum(objective, 1e-12), change
        )
        theta = np.where(better[:, None], candidate, theta)
        objective = np.where(better, new_objective, objective)
        resid = np.where(better[:, None], new_resid, resid)
        jac = np.where(better[:, None, None], new_jac, jac)
        damping = np.where(better, damping / 3.0, damping * 4.0)
        if np.all(change < 1e-8):
            break
    jtj = jac.transpose(0, 2, 1) @ jac
    cov = np.linalg.inv(jtj)
    best = objective.reshape(patients, starts).argmin(axis=1)
    pick = np.arange(patients) * starts + best
    return MapFit(
        log_estimate=theta[pick],
        log_sd=np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[pick],
        prior_log_sd=sigma,
        objective=objective[pick],
        converged=change[pick] < 1e-6,
        names=tuple(names) or tuple(f"p{i}" for i in range(size)),
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
