"""Ensemble Kalman filters, batched over twins: stochastic (perturbed observations) and
ensemble transform (ETKF).

Members are grouped as ``n_twins x members_per_twin`` along the leading axis and every
twin is updated in one array operation. The filter changes only what its
:class:`~healthtwin.assimilation.view.StateView` exposes: chosen states and log-parameters.

- Multiplicative inflation ``rho`` widens the prior anomalies of the *states* (and of the
  predicted observations, exact for observations linear in the states); parameters are not
  inflated, since inflating them makes their spread grow without bound.
- Relaxation to prior spread (RTPS, Whitaker & Hamill 2012) keeps part of the parameters'
  prior spread after each update: ``a <- a (1 + alpha (s_b - s_a) / s_a)``.
- Missing components (NaN in ``y``) and outliers (normalized innovation above
  ``outlier_sigma``) are not assimilated for that twin; the analysis reports which.

ETKF follows Hunt, Kostelich & Szunyogh (Physica D 230:112, 2007); the stochastic form
Burgers, van Leeuwen & Evensen (MWR 126:1719, 1998).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from healthtwin.assimilation.readings import readings_per_twin, screen_readings
from healthtwin.assimilation.view import StateView
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["EnKFAnalysis", "EnsembleKalmanFilter"]

S = TypeVar("S")


@dataclass(frozen=True)
class EnKFAnalysis(Generic[S]):
    """One update: the analysis state and what happened to each observed component.

    Attributes
    ----------
    state
        The updated ensemble.
    innovation
        ``y`` minus the ensemble-mean prediction, ``(n_twins, k)``.
    innovation_sd
        Its expected spread ``sqrt(var(prediction) + noise_sd^2)``, ``(n_twins, k)``.
    used
        Components assimilated, ``(n_twins, k)``.
    flagged
        Components refused as outliers, ``(n_twins, k)``.
    """

    state: S
    innovation: FloatArray
    innovation_sd: FloatArray
    used: BoolArray
    flagged: BoolArray


class EnsembleKalmanFilter:
    """An ensemble Kalman filter over any model with ``x``/``theta`` states.

    Parameters
    ----------
    view
        What the filter may change.
    members_per_twin
        Members of each twin (the leading axis is twins x members); all members form one
        twin when omitted.
    form
        ``"etkf"`` (deterministic square root) or ``"stochastic"``.
    inflation
        Multiplicative inflation of state anomalies (>= 1).
    rtps
        Relaxation-to-prior-spread factor for parameters, in ``[0, 1]``.
    outlier_sigma
        Normalized innovation above which a reading is refused (``None``: never).
    """

    def __init__(
        self,
        view: StateView,
        *,
        members_per_twin: int | None = None,
        form: str = "etkf",
        inflation: float = 1.0,
        rtps: float = 0.0,
        outlier_sigma: float | None = 10.0,
    ) -> None:
        if form not in ("etkf", "stochastic"):
            raise InvalidParameterError(f"form must be 'etkf' or 'stochastic', got {form!r}")
        if not inflation >= 1.0:
            raise InvalidParameterError(f"inflation must be >= 1, got {inflation}")
        if not 0.0 <= rtps <= 1.0:
            raise InvalidParameterError(f"rtps must be in [0, 1], got {rtps}")
        if members_per_twin is not None and members_per_twin < 2:
            raise InvalidParameterError("an ensemble needs at least 2 members per twin")
        if outlier_sigma is not None and not outlier_sigma > 0:
            raise InvalidParameterError(f"outlier_sigma must be > 0, got {outlier_sigma}")
        self.view = view
        self.members_per_twin = members_per_twin
        self.form = form
        self.inflation = float(inflation)
        self.rtps = float(rtps)
        self.outlier_sigma = outlier_sigma

    def update(self, state: S, y: FloatArray, obs: Any, rng: np.random.Generator) -> S:
        """The analysis ensemble (the :class:`Assimilator` protocol)."""
        return self.analyse(state, y, obs, rng).state

    def analyse(
        self, state: S, y: FloatArray, obs: Any, rng: np.random.Generator
    ) -> EnKFAnalysis[S]:
        """Update ``state`` with observation ``y`` and report the innovations."""
        twins, m, y, sd = readings_per_twin(state, y, obs, self.members_per_twin, "EnKF")
        n, k = twins * m, sd.size
        z = self.view.pack(state).reshape(twins, m, -1)
        hx = np.asarray(obs.predict(state), dtype=np.float64).reshape(twins, m, k)
        z_mean, hx_mean = z.mean(axis=1, keepdims=True), hx.mean(axis=1, keepdims=True)
        za, ya = z - z_mean, hx - hx_mean
        ns = self.view.n_states
        za[:, :, :ns] *= self.inflation
        ya = ya * self.inflation
        innovation = y - hx_mean[:, 0, :]
        innovation_sd = np.sqrt(np.var(ya, axis=1, ddof=1) + sd**2)
        used, flagged = screen_readings(y, innovation, innovation_sd, self.outlier_sigma)
        d = np.where(used, innovation, 0.0)
        ya = np.where(used[:, None, :], ya, 0.0)
        if self.form == "etkf":
            post = self._etkf(za, ya, d, sd, m)
        else:
            post = self._stochastic(za, ya, hx_mean, y, used, sd, m, rng)
        shift, anomalies = self._relax_parameters(za, post, ns)
        # A twin with nothing to assimilate keeps its ensemble exactly.
        touched = np.asarray(used.any(axis=1))[:, None, None]
        z_new = np.where(touched, z_mean + shift + anomalies, z)
        new_state = self.view.unpack(state, z_new.reshape(n, -1))
        return EnKFAnalysis(new_state, innovation, innovation_sd, used, flagged)

    @staticmethod
    def _etkf(za: FloatArray, ya: FloatArray, d: FloatArray, sd: FloatArray, m: int) -> FloatArray:
        """Analysis deviations from the prior mean, in O(m k^2) per twin.

        With ``S = Y' / sd`` (m x k) and its thin SVD ``U s V'``, the ensemble-space matrix
        ``(m-1) I + S S'`` has eigenvalues ``m-1+s^2`` on ``U`` and ``m-1`` elsewhere, so
        its inverse and symmetric square root need no m x m factorization.
        """
        s = ya / sd  # (t, m, k)
        u, sig, _ = np.linalg.svd(s, full_matrices=False)  # u (t, m, r), sig (t, r)
        big = (m - 1) + sig**2
        v = s @ (d / sd)[:, :, None]  # (t, m, 1)
        utv = u.transpose(0, 2, 1) @ v
        w_mean = v / (m - 1) + u @ ((1.0 / big - 1.0 / (m - 1))[:, :, None] * utv)
        root = np.sqrt((m - 1) / big) - 1.0  # W = I + U diag(root) U'
        shift = w_mean.transpose(0, 2, 1) @ za  # (t, 1, q)
        result: FloatArray = za + u @ (root[:, :, None] * (u.transpose(0, 2, 1) @ za)) + shift
        return result

    @staticmethod
    def _stochastic(
        za: FloatArray,
        ya: FloatArray,
        hx_mean: FloatArray,
        y: FloatArray,
        used: BoolArray,
        sd: FloatArray,
        m: int,
        rng: np.random.Generator,
    ) -> FloatArray:
        pzy = za.transpose(0, 2, 1) @ ya / (m - 1)  # (t, q, k)
        pyy = ya.transpose(0, 2, 1) @ ya / (m - 1) + np.diag(sd**2)
        noise = rng.standard_normal(ya.shape) * sd
        perturbed = np.where(used[:, None, :], y[:, None, :] + noise - (hx_mean + ya), 0.0)
        gain_t = np.linalg.solve(pyy, pzy.transpose(0, 2, 1))  # (t, k, q)
        result: FloatArray = za + perturbed @ gain_t
        return result

    def _relax_parameters(
        self, prior: FloatArray, posterior: FloatArray, ns: int
    ) -> tuple[FloatArray, FloatArray]:
        """Split the analysis into its mean shift and anomalies, relaxing parameter spread."""
        shift = posterior.mean(axis=1, keepdims=True)
        anomalies = posterior - shift
        if self.rtps > 0 and prior.shape[2] > ns:
            sb = prior[:, :, ns:].std(axis=1, ddof=1, keepdims=True)
            sa = anomalies[:, :, ns:].std(axis=1, ddof=1, keepdims=True)
            factor = 1.0 + self.rtps * np.where(sa > 0, (sb - sa) / np.where(sa > 0, sa, 1), 0)
            anomalies[:, :, ns:] *= factor
        return shift, anomalies
