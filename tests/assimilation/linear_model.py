"""A linear-Gaussian test model and its exact Kalman filter, shared by the filter tests.

x_{k+1} = F x_k + w_k, w ~ N(0, Q) per unit time step; y = H x + v, v ~ N(0, R). The
state carries ``x`` and a one-column ``theta`` (unused by the dynamics) so that the
assimilation views apply to it as to every physiology model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core import ArrayState, Inputs
from healthtwin.core.protocols import channels
from healthtwin.core.types import FloatArray

F = np.array([[0.95, 0.10], [-0.10, 0.95]])
Q = np.diag([0.05, 0.02])
H = np.array([[1.0, 0.0]])
R_SD = np.array([0.4])
X0_MEAN = np.array([1.0, -0.5])
X0_COV = np.diag([1.0, 0.5])


@dataclass(frozen=True)
class LinearState(ArrayState):
    x: FloatArray
    theta: FloatArray


class LinearGaussian:
    """The model: one step of F and noise Q per unit of time (integer times only).

    ``noise=False`` leaves the noise out, for filters that add Q themselves (the UKF).
    """

    def __init__(self, noise: bool = True) -> None:
        self.noise = noise

    name = "linear-gaussian"
    time_unit = "step"
    rate_inputs = channels([])
    event_inputs = channels([])
    outputs = channels([("x0", "-", "first state")])
    states = channels([("x0", "-", ""), ("x1", "-", "")])

    def initial_state(self, n: int, rng: np.random.Generator) -> LinearState:
        x = rng.multivariate_normal(X0_MEAN, X0_COV, size=n)
        return LinearState(x, np.ones((n, 1)))

    def advance(
        self, state: LinearState, t0: float, t1: float, inputs: Inputs, rng: np.random.Generator
    ) -> LinearState:
        x = np.array(state.x)
        for _ in range(round(t1 - t0)):
            x = x @ F.T
            if self.noise:
                x = x + rng.multivariate_normal(np.zeros(2), Q, size=x.shape[0])
        return LinearState(x, state.theta)

    def observe(self, state: LinearState) -> FloatArray:
        return np.asarray(state.x @ H.T)

    def state_matrix(self, state: LinearState) -> FloatArray:
        return np.asarray(state.x)


class LinearObservation:
    """y = H x + N(0, R)."""

    noise_sd = R_SD

    def predict(self, state: LinearState) -> FloatArray:
        return np.asarray(state.x @ H.T)

    def log_likelihood(self, state: LinearState, y: FloatArray) -> FloatArray:
        z = (np.asarray(y) - self.predict(state)) / R_SD
        return np.asarray(-0.5 * np.sum(z * z, axis=1) - np.sum(np.log(R_SD * np.sqrt(2 * np.pi))))


def kalman_filter(ys: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Exact filtered means (T, 2) and covariances (T, 2, 2) after each y (one per step)."""
    mean, cov = X0_MEAN.copy(), X0_COV.copy()
    means, covs = [], []
    r = np.diag(R_SD**2)
    for k, y in enumerate(ys):
        if k > 0:
            mean, cov = F @ mean, F @ cov @ F.T + Q
        s = H @ cov @ H.T + r
        gain = cov @ H.T @ np.linalg.inv(s)
        mean = mean + gain @ (y - H @ mean)
        cov = (np.eye(2) - gain @ H) @ cov
        means.append(mean)
        covs.append(cov)
    return np.array(means), np.array(covs)


def simulate_truth(steps: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """A true trajectory (steps, 2) and its observations (steps, 1)."""
    x = rng.multivariate_normal(X0_MEAN, X0_COV)
    xs, ys = [], []
    for k in range(steps):
        if k > 0:
            x = F @ x + rng.multivariate_normal(np.zeros(2), Q)
        xs.append(x)
        ys.append(H @ x + rng.normal(0, R_SD))
    return np.array(xs), np.array(ys)
