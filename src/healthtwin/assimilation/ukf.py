"""Square-root unscented Kalman filter over sigma-point members, batched over twins.

Each twin is carried as its ``2L + 1`` sigma points (``L`` = the view's size): the model
advances them as ordinary members, and each update turns them back into a mean and a
lower-triangular square root ``S`` of the covariance (``P = S S'``), then spreads new
sigma points from the posterior. Covariances are formed by QR factorizations of weighted
deviations, never by subtracting matrices, so they stay positive definite (van der Merwe &
Wan, ICASSP 2001). The weights (Julier & Uhlmann 2004; Wan & van der Merwe 2000) must be
non-negative (the defaults alpha = 1, beta = 2, kappa = 0 give ``W0 = 2``, ``Wi = 1/2L``
for the covariance), which lets the square root come from one QR without Cholesky
downdates. The posterior square root uses the Joseph form with the statistically
linearized observation matrix ``H = Pxy' P^-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from healthtwin.assimilation.readings import readings_per_twin, screen_readings
from healthtwin.assimilation.view import StateView
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["UKFAnalysis", "UnscentedKalmanFilter"]

S = TypeVar("S")


@dataclass(frozen=True)
class UKFAnalysis(Generic[S]):
    """One update: new sigma points, the posterior mean and square root, and innovations."""

    state: S
    mean: FloatArray  # (n_twins, L)
    sqrt_cov: FloatArray  # (n_twins, L, L), lower triangular
    innovation: FloatArray  # (n_twins, k)
    innovation_sd: FloatArray  # (n_twins, k)
    used: BoolArray
    flagged: BoolArray


def _lower_root(rows: FloatArray) -> FloatArray:
    """``S`` lower triangular with ``S S' = rows' rows`` (rows: (t, r, L)), via QR."""
    _, r = np.linalg.qr(rows)
    s = r.transpose(0, 2, 1)
    signs = np.sign(np.diagonal(s, axis1=1, axis2=2))
    signs = np.where(signs == 0, 1.0, signs)
    result: FloatArray = s * signs[:, None, :]
    return result


class UnscentedKalmanFilter:
    """Square-root UKF; members are each twin's ``2L + 1`` sigma points.

    Parameters
    ----------
    view
        What the filter estimates (``L = view.size``).
    alpha, beta, kappa
        Sigma-point spread and weights; the covariance weights must be non-negative.
    process_sd
        Additive process noise per view component and update (its SD), or ``None``.
    outlier_sigma
        Normalized innovation above which a reading is refused (``None``: never).
    """

    def __init__(
        self,
        view: StateView,
        *,
        alpha: float = 1.0,
        beta: float = 2.0,
        kappa: float = 0.0,
        process_sd: FloatArray | None = None,
        outlier_sigma: float | None = 10.0,
    ) -> None:
        size = view.size
        lam = alpha**2 * (size + kappa) - size
        if not size + lam > 0:
            raise InvalidParameterError(f"need L + lambda > 0, got {size + lam}")
        wm = np.full(2 * size + 1, 0.5 / (size + lam))
        wm[0] = lam / (size + lam)
        wc = wm.copy()
        wc[0] += 1.0 - alpha**2 + beta
        if np.any(wc < 0):
            raise InvalidParameterError(
                f"the covariance weights must be >= 0 (W0 = {wc[0]:.3g}); use e.g. alpha=1, "
                "beta=2, kappa=0"
            )
        self.view = view
        self.gamma = float(np.sqrt(size + lam))
        self.wm, self.wc = wm, wc
        q = np.zeros(size) if process_sd is None else np.asarray(process_sd, dtype=np.float64)
        if q.shape != (size,) or np.any(q < 0):
            raise InvalidParameterError(f"process_sd must be {size} values >= 0")
        self.process_sd = q
        self.outlier_sigma = outlier_sigma

    @property
    def members_per_twin(self) -> int:
        return 2 * self.view.size + 1

    def sigma_points(self, mean: FloatArray, sqrt_cov: FloatArray) -> FloatArray:
        """Sigma points ``(t, 2L + 1, L)``: the mean, then ``mean +/- gamma S[:, j]``."""
        cols = self.gamma * sqrt_cov.transpose(0, 2, 1)  # (t, L, L): row j = column j of S
        return np.concatenate(
            [mean[:, None, :], mean[:, None, :] + cols, mean[:, None, :] - cols], axis=1
        )

    def initialise(self, template: Any, mean: FloatArray, cov: FloatArray) -> Any:
        """A state of sigma points for prior ``mean`` (t, L) and ``cov`` (t, L, L).

        ``template`` is a state of ``t * (2L + 1)`` members; its other fields are kept.
        """
        mean = np.atleast_2d(np.asarray(mean, dtype=np.float64))
        cov = np.asarray(cov, dtype=np.float64).reshape(-1, mean.shape[1], mean.shape[1])
        root = np.asarray(np.linalg.cholesky(cov), dtype=np.float64)
        z = self.sigma_points(mean, root)
        return self.view.unpack(template, z.reshape(-1, self.view.size))

    def update(self, state: S, y: FloatArray, obs: Any, rng: np.random.Generator) -> S:
        """The new sigma points (the :class:`Assimilator` protocol)."""
        return self.analyse(state, y, obs, rng).state

    def analyse(
        self, state: S, y: FloatArray, obs: Any, rng: np.random.Generator
    ) -> UKFAnalysis[S]:
        size = self.view.size
        twins, m, y, sd = readings_per_twin(state, y, obs, self.members_per_twin, "UKF")
        n, k = twins * m, sd.size
        z = self.view.pack(state).reshape(twins, m, size)
        hx = np.asarray(obs.predict(state), dtype=np.float64).reshape(twins, m, k)
        x_mean = np.einsum("i,tiq->tq", self.wm, z)
        y_mean = np.einsum("i,tik->tk", self.wm, hx)
        dz = (z - x_mean[:, None, :]) * np.sqrt(self.wc)[None, :, None]
        dy = (hx - y_mean[:, None, :]) * np.sqrt(self.wc)[None, :, None]
        noise = np.broadcast_to(np.diag(self.process_sd), (twins, size, size))
        s_x = _lower_root(np.concatenate([dz, noise], axis=1))
        if np.any(self.process_sd > 0):
            # Additive process noise: spread fresh sigma points that carry it, and read them.
            z = self.sigma_points(x_mean, s_x)
            redrawn = self.view.unpack(state, z.reshape(n, size))
            hx = np.asarray(obs.predict(redrawn), dtype=np.float64).reshape(twins, m, k)
            y_mean = np.einsum("i,tik->tk", self.wm, hx)
            dz = (z - x_mean[:, None, :]) * np.sqrt(self.wc)[None, :, None]
            dy = (hx - y_mean[:, None, :]) * np.sqrt(self.wc)[None, :, None]
        p_x = s_x @ s_x.transpose(0, 2, 1)
        innovation = y - y_mean
        p_yy = dy.transpose(0, 2, 1) @ dy + np.diag(sd**2)
        innovation_sd = np.sqrt(np.diagonal(p_yy, axis1=1, axis2=2))
        used, flagged = screen_readings(y, innovation, innovation_sd, self.outlier_sigma)
        mask = used[:, None, :].astype(np.float64)
        p_xy = (dz.transpose(0, 2, 1) @ dy) * mask  # unused readings carry no information
        p_yy = p_yy * (mask.transpose(0, 2, 1) * mask) + np.diag(sd**2) * (1 - mask)
        gain = np.linalg.solve(p_yy, p_xy.transpose(0, 2, 1)).transpose(0, 2, 1)  # (t, L, k)
        new_mean = x_mean + np.einsum("tqk,tk->tq", gain, np.where(used, innovation, 0.0))
        h = np.linalg.solve(p_x, p_xy).transpose(0, 2, 1)  # statistical linearization (t,k,L)
        ikh = np.eye(size) - gain @ h
        rows = np.concatenate(
            [(ikh @ s_x).transpose(0, 2, 1), (gain * sd[None, None, :]).transpose(0, 2, 1)], axis=1
        )
        s_post = _lower_root(rows)
        points = self.sigma_points(new_mean, s_post)
        new_state = self.view.unpack(state, points.reshape(n, size))
        return UKFAnalysis(new_state, new_mean, s_post, innovation, innovation_sd, used, flagged)
