"""The offline calibration problem: a batched log posterior over patients' parameters.

A :class:`CalibrationProblem` holds one record of readings per patient and evaluates, for
any batch of (patient, log-parameter vector) pairs, the predicted readings, the whitened
residuals and the negative log posterior with a Gaussian prior in log space; the batch is
one ensemble run of the model, whatever the calibration method (MAP, profile likelihood,
MCMC) asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from healthtwin.assimilation.view import StateView
from healthtwin.core.inputs import Inputs
from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["CalibrationProblem"]

_FD_STEP = 1e-4  # finite-difference step in log-parameter space


@dataclass(frozen=True)
class CalibrationProblem:
    """Readings of many patients, a model, and a Gaussian prior on log-parameters.

    Parameters
    ----------
    model
        The model; ``template`` is a state of one member per patient (their initial states
        and fixed parameters; the view's parameters are overwritten).
    view
        Must select parameters only (no states).
    times, readings
        Reading times ``(T,)`` after 0 and readings per patient ``(patients, T)`` of the
        observation's first output (NaN = missing).
    obs
        A Gaussian observation model (``noise_sd``, ``predict``).
    inputs
        Inputs shared by the patients.
    prior_log_mean, prior_log_sd
        Gaussian prior of the log-parameters.
    names
        Parameter names for reports.
    """

    model: Any
    template: Any
    view: StateView
    times: FloatArray
    readings: FloatArray
    obs: Any
    inputs: Inputs
    prior_log_mean: FloatArray
    prior_log_sd: FloatArray
    names: tuple[str, ...] = ()
    observed: BoolArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.view.n_states:
            raise InvalidParameterError(
                "calibration estimates parameters: give a view without states"
            )
        size = self.view.n_parameters
        mu = np.asarray(self.prior_log_mean, dtype=np.float64)
        sigma = np.asarray(self.prior_log_sd, dtype=np.float64)
        if mu.shape != (size,) or sigma.shape != (size,) or np.any(sigma <= 0):
            raise InvalidParameterError(f"give {size} prior log means and {size} positive log SDs")
        times = np.asarray(self.times, dtype=np.float64)
        readings = np.atleast_2d(np.asarray(self.readings, dtype=np.float64))
        patients = self.template.n_members
        if readings.shape != (patients, times.size):
            raise ShapeError(f"readings must be ({patients}, {times.size}), got {readings.shape}")
        if times.size == 0 or np.any(np.diff(times) <= 0) or times[0] <= 0:
            raise InvalidInputError("reading times must be positive and strictly increasing")
        names = tuple(self.names) or tuple(f"p{i}" for i in range(size))
        if len(names) != size:
            raise ShapeError(f"give {size} parameter names, got {len(names)}")
        object.__setattr__(self, "prior_log_mean", mu)
        object.__setattr__(self, "prior_log_sd", sigma)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "readings", readings)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "observed", np.isfinite(readings))

    @property
    def n_patients(self) -> int:
        return int(self.readings.shape[0])

    @property
    def n_parameters(self) -> int:
        return self.view.n_parameters

    @property
    def noise_sd(self) -> float:
        return float(np.asarray(self.obs.noise_sd)[0])

    def index(self, name: str) -> int:
        """Position of parameter ``name``; unknown names list the valid ones."""
        if name not in self.names:
            raise InvalidParameterError(f"unknown parameter {name!r}; estimated: {self.names}")
        return self.names.index(name)

    def predict(
        self, patients: IntArray, log_theta: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        """Predicted readings ``(n, T)`` for patient ``patients[i]`` at ``log_theta[i]``."""
        state = self.view.unpack(self.template.take(np.asarray(patients)), log_theta)
        out = np.empty((state.n_members, self.times.size))
        t_prev = 0.0
        for j, t in enumerate(self.times):
            state = self.model.advance(state, t_prev, float(t), self.inputs, rng)
            t_prev = float(t)
            out[:, j] = np.asarray(self.obs.predict(state))[:, 0]
        return out

    def residuals(
        self, patients: IntArray, log_theta: FloatArray, predicted: FloatArray
    ) -> FloatArray:
        """Whitened data residuals ``(y - prediction) / sd``, 0 where missing, ``(n, T)``."""
        y = self.readings[patients]
        return np.where(self.observed[patients], (y - predicted) / self.noise_sd, 0.0)

    def prior_residuals(self, log_theta: FloatArray) -> FloatArray:
        return np.asarray((log_theta - self.prior_log_mean) / self.prior_log_sd)

    def neg_log_posterior(
        self,
        patients: IntArray,
        log_theta: FloatArray,
        rng: np.random.Generator,
        *,
        include_prior: bool = True,
    ) -> FloatArray:
        """``-log p(y | theta) - log p(theta)`` up to a constant, ``(n,)``."""
        log_theta = np.asarray(log_theta, dtype=np.float64)
        resid = self.residuals(patients, log_theta, self.predict(patients, log_theta, rng))
        value = 0.5 * np.sum(resid**2, axis=1)
        if include_prior:
            value = value + 0.5 * np.sum(self.prior_residuals(log_theta) ** 2, axis=1)
        return np.asarray(value)

    def residuals_and_jacobian(
        self,
        patients: IntArray,
        log_theta: FloatArray,
        free: Sequence[int],
        rng: np.random.Generator,
        *,
        include_prior: bool = True,
    ) -> tuple[FloatArray, FloatArray]:
        """Stacked residuals ``(n, T [+ L])`` and their Jacobian in the ``free`` columns.

        The Jacobian comes from forward differences: one batched run of ``n x (1 + |free|)``
        members.
        """
        n, size = log_theta.shape
        k = len(free)
        points = np.repeat(log_theta, k + 1, axis=0).reshape(n, k + 1, size)
        for j, col in enumerate(free):
            points[:, j + 1, col] += _FD_STEP
        pred = self.predict(np.repeat(patients, k + 1), points.reshape(-1, size), rng)
        pred = pred.reshape(n, k + 1, -1)
        mask = self.observed[patients]
        resid = self.residuals(patients, log_theta, pred[:, 0, :])
        jac = np.where(
            mask[:, :, None],
            -(pred[:, 1:, :] - pred[:, :1, :]).transpose(0, 2, 1) / (_FD_STEP * self.noise_sd),
            0.0,
        )  # (n, T, k)
        if not include_prior:
            return resid, jac
        prior_jac = np.zeros((n, size, k))
        for j, col in enumerate(free):
            prior_jac[:, col, j] = 1.0 / self.prior_log_sd[col]
        return (
            np.concatenate([resid, self.prior_residuals(log_theta)], axis=1),
            np.concatenate([jac, prior_jac], axis=1),
        )
