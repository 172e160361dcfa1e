"""Bootstrap particle filter for many twins at once, with parameter regularization.

Members are ``n_twins x members_per_twin`` along the leading axis. Each update weights
member ``i`` of a twin by ``w_i ∝ w_i^- p(y | x_i)`` (Gordon, Salmond & Smith, IEE Proc. F
1993), computes the effective sample size ``ESS = 1 / Σ w_i²`` (Kong, Liu & Wong, JASA
1994) and, where it falls below ``resample_threshold * m``, resamples
systematically with one uniform offset per twin (Kitagawa, JCGS 1996; Carpenter, Clifford &
Fearnhead, IEE Proc. Radar 1999). Resampled log-parameters may then be regularized by Liu &
West's kernel shrinkage (Liu & West, Sequential Monte Carlo Methods in Practice, 2001)::

    θ_i ← a θ_i + (1 - a) θ̄ + h s ε_i,   a = √(1 - h²),   ε_i ~ N(0, 1)

with ``h = jitter_scale`` and ``θ̄``, ``s`` the weighted mean and standard deviation of the
twin's log-parameters: diversity returns, the mean and variance stay.

Weights travel explicitly, never inside the filter: :meth:`ParticleFilter.analyse` takes the
previous ``log_weights`` and returns the new ones. :meth:`ParticleFilter.update` (the
:class:`~healthtwin.core.protocols.Assimilator` method) returns a bare state, so it
resamples every twin that a reading updated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Generic

import numpy as np
from scipy.special import ndtr

from healthtwin.assimilation.view import StateView
from healthtwin.core.protocols import ObservationModel, S
from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["ParticleAnalysis", "ParticleFilter", "systematic_resample"]


@dataclass(frozen=True)
class ParticleAnalysis(Generic[S]):
    """The result of one particle-filter update.

    Attributes
    ----------
    state
        The analysis ensemble, ``n`` members.
    log_weights
        Member log-weights, shape ``(n,)``, normalized within each twin; pass them to the
        next :meth:`ParticleFilter.analyse`.
    ess
        Effective sample size of each twin before resampling, shape ``(n_twins,)``.
    resampled
        Whether each twin was resampled, shape ``(n_twins,)``.
    outliers
        Readings flagged as outliers and left out, shape ``(n_twins, k)``.
    used
        Readings that entered the likelihood, shape ``(n_twins, k)``.
    """

    state: S
    log_weights: FloatArray
    ess: FloatArray
    resampled: BoolArray
    outliers: BoolArray
    used: BoolArray

    @property
    def weights(self) -> FloatArray:
        """Member weights, shape ``(n,)``; they sum to one within each twin."""
        return np.exp(self.log_weights)


def systematic_resample(weights: FloatArray, offsets: FloatArray) -> IntArray:
    """Systematic resampling of each row of ``weights``, vectorized over rows.

    Parameters
    ----------
    weights
        Normalized weights, shape ``(n_twins, m)``.
    offsets
        One uniform number in ``[0, 1)`` per row, shape ``(n_twins,)``.

    Returns
    -------
    IntArray
        Chosen member within each row, shape ``(n_twins, m)``, sorted.

    Examples
    --------
    >>> systematic_resample(np.array([[0.5, 0.25, 0.25, 0.0]]), np.array([0.5])).tolist()
    [[0, 0, 1, 2]]
    """
    n_twins, m = weights.shape
    cum = np.cumsum(weights, axis=1) * m
    cum[:, -1] = m  # rounding must not lose the last position
    # Member i takes the positions u + j (j = 0..m-1) that fall in [cum_{i-1}, cum_i).
    below = np.clip(np.ceil(cum - offsets[:, None]), 0, m).astype(np.int64)
    counts = np.diff(below, axis=1, prepend=0)
    chosen = np.repeat(np.tile(np.arange(m), n_twins), counts.ravel())
    return chosen.reshape(n_twins, m)


class ParticleFilter:
    """Bootstrap particle filter with systematic resampling, batched over twins.

    Parameters
    ----------
    members_per_twin
        Members of each twin; the ``n`` members are ``n // members_per_twin`` twins in
        consecutive blocks. ``None``: all members are one twin.
    resample_threshold
        Resample a twin when its ESS falls below this fraction of its members (0 to 1).
    jitter_view
        Which log-parameters to regularize after resampling (its state columns are ignored).
    jitter_scale
        Kernel width ``h`` in ``[0, 1]``, a fraction of each twin's weighted parameter
        spread; ``0`` turns regularization off.
    outlier_sigma
        A reading whose normalized innovation ``|y - E[h(x)]| / sqrt(Var[h(x)] + sd²)``
        exceeds this is flagged and left out for that twin; ``None`` keeps every reading.
        Needs the observation model's ``noise_sd``.

    Notes
    -----
    An observation model with a ``noise_sd`` attribute (scalar or ``(k,)``) is taken to
    have independent Gaussian noise; the likelihood then uses ``predict`` on the observed
    (non-NaN, non-outlier, ``noise_sd > 0``) readings only, for all twins at once. Without
    ``noise_sd`` the model's ``log_likelihood`` is used on whole rows (once per twin when
    ``y`` differs between twins), and a row may be entirely missing but not partly. Members
    whose likelihood is NaN (a failed solve) get zero weight.

    Each update draws one block of ``1 + m * p`` standard normals per twin, in twin order
    (resampling offset, then jitter of ``p`` parameters), so updating twins together equals
    updating them one after the other with the same generator.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from healthtwin.core import ArrayState
    >>> @dataclass(frozen=True)
    ... class Level(ArrayState):
    ...     x: np.ndarray
    >>> class Reading:
    ...     noise_sd = 1.0
    ...     def predict(self, state): return state.x
    ...     def log_likelihood(self, state, y): return -0.5 * ((y - state.x) ** 2).sum(axis=1)
    >>> rng = np.random.default_rng(0)
    >>> prior = Level(rng.normal(0.0, 1.0, size=(4000, 1)))
    >>> posterior = ParticleFilter().update(prior, np.array([1.0]), Reading(), rng)
    >>> round(float(posterior.x.mean()), 1), round(float(posterior.x.var()), 1)  # exact: 0.5
    (0.5, 0.5)
    """

    def __init__(
        self,
        members_per_twin: int | None = None,
        resample_threshold: float = 0.5,
        jitter_view: StateView | None = None,
        jitter_scale: float = 0.0,
        outlier_sigma: float | None = 10.0,
    ) -> None:
        count, sigma = members_per_twin, outlier_sigma
        _require(
            count is None
            or (isinstance(count, int | np.integer) and not isinstance(count, bool) and count >= 1),
            f"members_per_twin must be an integer >= 1 or None, got {count!r}",
        )
        _require(
            0.0 <= resample_threshold <= 1.0,
            f"resample_threshold must be in [0, 1], got {resample_threshold!r}",
        )
        _require(
            0.0 <= jitter_scale <= 1.0, f"jitter_scale must be in [0, 1], got {jitter_scale!r}"
        )
        _require(
            jitter_scale == 0 or (jitter_view is not None and jitter_view.n_parameters > 0),
            "jitter_scale > 0 needs a jitter_view with parameter columns to jitter",
        )
        _require(sigma is None or sigma > 0, f"outlier_sigma must be > 0 or None, got {sigma!r}")
        self.members_per_twin = None if members_per_twin is None else int(members_per_twin)
        self.resample_threshold = float(resample_threshold)
        self.jitter_view = jitter_view
        self.jitter_scale = float(jitter_scale)
        self.outlier_sigma = outlier_sigma

    def update(
        self, state: S, y: FloatArray, obs: ObservationModel[S], rng: np.random.Generator
    ) -> S:
        """The equally weighted analysis: every twin with a usable reading is resampled.

        Twins without one are returned unchanged. See :meth:`analyse` for the arguments.
        """
        return self._analyse(state, y, obs, rng, None, always=True).state

    def analyse(
        self,
        state: S,
        y: FloatArray,
        obs: ObservationModel[S],
        rng: np.random.Generator,
        *,
        log_weights: FloatArray | None = None,
    ) -> ParticleAnalysis[S]:
        """Weight, and where the ESS is low resample, each twin's members.

        Parameters
        ----------
        state
            Prior ensemble, ``n = n_twins * members_per_twin`` members.
        y
            Readings, shape ``(k,)`` shared by all twins or ``(n_twins, k)``; NaN = missing.
        obs
            Observation model; ``predict(state)`` has shape ``(n, k)``.
        rng
            Source of the resampling offsets and the jitter.
        log_weights
            Prior member log-weights, shape ``(n,)``, from the last analysis; equal if omitted.

        Returns
        -------
        ParticleAnalysis
            The new state with its weights, ESS, resampling flags and flagged readings.

        Raises
        ------
        ShapeError
            ``n`` is not a multiple of ``members_per_twin``; ``y``, ``log_weights`` or the
            predictions have the wrong shape.
        InvalidInputError
            ``y`` holds infinities, is partly missing without ``noise_sd``, or no member of
            a twin can explain its reading.
        """
        return self._analyse(state, y, obs, rng, log_weights, always=False)

    def _analyse(
        self,
        state: S,
        y: FloatArray,
        obs: ObservationModel[S],
        rng: np.random.Generator,
        log_weights: FloatArray | None,
        *,
        always: bool,
    ) -> ParticleAnalysis[S]:
        m = self.members_per_twin or state.n_members
        if state.n_members % m:
            raise ShapeError(f"{state.n_members} members do not split into twins of {m} members")
        n_twins = state.n_members // m
        prior = _prior_log_weights(log_weights, n_twins, m)
        predicted = np.asarray(obs.predict(state), dtype=np.float64)
        if predicted.ndim != 2 or predicted.shape[0] != n_twins * m:
            raise ShapeError(f"obs.predict must return ({n_twins * m}, k), got {predicted.shape}")
        k = predicted.shape[1]
        readings = _readings(y, n_twins, k)
        sd = _noise_sd(obs, k)
        if sd is None:
            loglik, used = _model_log_likelihood(state, readings, obs, n_twins, m)
            outliers = np.zeros((n_twins, k), dtype=np.bool_)
        else:
            pred = predicted.reshape(n_twins, m, k)
            outliers = _outliers(pred, _normalize(prior), readings, sd, self.outlier_sigma)
            used = np.isfinite(readings) & ~outliers & (sd > 0)
            z = np.where(
                used[:, None, :], (readings[:, None, :] - pred) / np.where(sd > 0, sd, 1), 0
            )
            with np.errstate(over="ignore"):  # an impossible reading weighs -inf
                loglik = -0.5 * np.sum(z * z, axis=2)
        loglik = np.where(np.isnan(loglik), -np.inf, loglik)  # members that failed weigh 0
        updated = np.asarray(np.any(used, axis=1))
        posterior = _normalize(prior + loglik)
        bad = ~np.all(np.isfinite(posterior) | (posterior == -np.inf), axis=1) & updated
        if bad.any():
            raise InvalidInputError(
                f"no member of twin(s) {np.flatnonzero(bad).tolist()} can explain its reading "
                "(every likelihood is zero); check the reading's unit or widen the ensemble"
            )
        ess = 1.0 / np.sum(np.exp(2 * posterior), axis=1)
        resampled = updated if always else ess < self.resample_threshold * m
        new_state, new_log_weights = self._resample(state, posterior, resampled, rng)
        return ParticleAnalysis(new_state, new_log_weights.ravel(), ess, resampled, outliers, used)

    def _resample(
        self, state: S, posterior: FloatArray, resampled: BoolArray, rng: np.random.Generator
    ) -> tuple[S, FloatArray]:
        n_twins, m = posterior.shape
        p = self.jitter_view.n_parameters if self.jitter_view and self.jitter_scale else 0
        normals = rng.standard_normal((n_twins, 1 + m * p))
        offsets = np.minimum(ndtr(normals[:, 0]), np.nextafter(1.0, 0.0))  # in [0, 1)
        chosen = np.where(
            resampled[:, None], systematic_resample(np.exp(posterior), offsets), np.arange(m)
        )
        rows = (np.arange(n_twins)[:, None] * m + chosen).ravel()
        new_state = state.take(rows)
        log_weights = np.where(resampled[:, None], -np.log(m), posterior)
        if p and resampled.any():
            new_state = self._jitter(state, new_state, posterior, resampled, normals[:, 1:])
        return new_state, log_weights

    def _jitter(
        self, prior: S, state: Any, posterior: FloatArray, resampled: BoolArray, eps: Any
    ) -> S:
        view = self.jitter_view
        assert view is not None  # only called with jitter on
        (n_twins, m), p, h = posterior.shape, view.n_parameters, self.jitter_scale
        w = np.exp(posterior)[:, :, None]
        before = view.pack(prior)[:, view.n_states :].reshape(n_twins, m, p)
        mean = np.sum(w * before, axis=1, keepdims=True)
        spread = np.sqrt(np.sum(w * (before - mean) ** 2, axis=1, keepdims=True))
        z = view.pack(state)
        a = np.sqrt(1.0 - h * h)
        theta = a * z[:, view.n_states :].reshape(n_twins, m, p) + (1.0 - a) * mean
        z[:, view.n_states :] = (theta + h * spread * eps.reshape(n_twins, m, p)).reshape(-1, p)
        moved = view.unpack(state, z)
        keep = np.repeat(resampled, m)[:, None]  # exp(log θ) may round: unmoved twins stay exact
        result: S = dataclasses.replace(moved, theta=np.where(keep, moved.theta, state.theta))
        return result


def _prior_log_weights(log_weights: FloatArray | None, n_twins: int, m: int) -> FloatArray:
    if log_weights is None:
        return np.full((n_twins, m), -np.log(m))
    lw = np.asarray(log_weights, dtype=np.float64)
    if lw.shape != (n_twins * m,):
        raise ShapeError(f"log_weights must have shape ({n_twins * m},), got {lw.shape}")
    lw = lw.reshape(n_twins, m)
    if np.any(np.isnan(lw) | (lw == np.inf)) or np.any(np.all(lw == -np.inf, axis=1)):
        raise InvalidInputError("log_weights must be finite or -inf, some finite in every twin")
    return lw


def _readings(y: FloatArray, n_twins: int, k: int) -> FloatArray:
    readings = np.asarray(y, dtype=np.float64)
    if readings.shape == (k,):
        readings = np.broadcast_to(readings, (n_twins, k))
    elif readings.shape != (n_twins, k):
        raise ShapeError(f"y must have shape ({k},) or ({n_twins}, {k}), got {readings.shape}")
    if np.any(np.isinf(readings)):
        raise InvalidInputError(f"y must be finite or NaN (missing), got {readings.tolist()}")
    return readings


def _noise_sd(obs: Any, k: int) -> FloatArray | None:
    raw = getattr(obs, "noise_sd", None)
    if raw is None:
        return None
    sd = np.asarray(raw, dtype=np.float64)
    if sd.ndim > 1 or sd.size not in (1, k):
        raise ShapeError(f"obs.noise_sd must be a scalar or have shape ({k},), got {sd.shape}")
    if np.any(~np.isfinite(sd) | (sd < 0)):
        raise InvalidParameterError(f"obs.noise_sd must be finite and >= 0, got {sd.tolist()}")
    return np.broadcast_to(sd, (k,))


def _model_log_likelihood(
    state: Any, readings: FloatArray, obs: Any, n_twins: int, m: int
) -> tuple[FloatArray, BoolArray]:
    missing = np.isnan(readings)
    partial = missing.any(axis=1) & ~missing.all(axis=1)
    if partial.any():
        raise InvalidInputError(
            f"twins {np.flatnonzero(partial).tolist()} have partly missing readings, which "
            "needs an observation model with noise_sd; give whole rows or NaN rows"
        )
    observed = np.asarray(~missing.all(axis=1))
    loglik = np.zeros((n_twins, m))
    if observed.all() and np.all(readings == readings[0]):
        loglik = np.asarray(obs.log_likelihood(state, readings[0]), dtype=np.float64)
        loglik = loglik.reshape(n_twins, m)
    else:
        for twin in np.flatnonzero(observed):
            members = state.take(slice(twin * m, (twin + 1) * m))
            loglik[twin] = obs.log_likelihood(members, readings[twin])
    if np.any(loglik == np.inf):
        raise InvalidInputError("obs.log_likelihood returned +inf; it must be a log density")
    return loglik, np.repeat(observed[:, None], readings.shape[1], axis=1)


def _normalize(log_weights: FloatArray) -> FloatArray:
    top = np.max(log_weights, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a twin with no weight: NaN
        total = np.log(np.sum(np.exp(log_weights - top), axis=1, keepdims=True))
        return np.asarray(log_weights - top - total)


def _outliers(pred: FloatArray, lw: FloatArray, y: FloatArray, sd: Any, sigma: Any) -> BoolArray:
    if sigma is None:
        return np.zeros(y.shape, dtype=np.bool_)
    w = np.exp(lw)[:, :, None]
    mean = np.sum(w * pred, axis=1)
    var = np.sum(w * (pred - mean[:, None, :]) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.abs(y - mean) / np.sqrt(var + sd**2)
    return np.asarray(np.isfinite(y) & (sd > 0) & (distance > sigma))


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidParameterError(message)
