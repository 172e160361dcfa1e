"""Differential privacy for federated updates: clipping, Gaussian noise and the epsilon spent.

DP-FedAvg (McMahan, Ramage, Talwar & Zhang 2018; after Abadi et al. 2016): each site's
update ``Delta_k = theta_k - theta`` is clipped to L2 norm ``C``; the server adds
``N(0, (sigma C)^2 I)`` to the sum of the ``m`` clipped updates and divides by ``m``. The
neighbouring relation is **one site added or removed** (all of a site's patients), so the
sensitivity of the sum is ``C`` and one round is a Gaussian mechanism with noise multiplier
``sigma``. Sampling is not assumed Poisson, so no amplification by sampling is claimed.

The epsilon after ``T`` rounds at a given ``delta`` is reported two ways:

- :func:`rdp_epsilon`, Renyi DP (Mironov 2017): ``T`` Gaussian rounds have RDP
  ``alpha T / (2 sigma^2)`` at every order ``alpha``; converted to ``(epsilon, delta)`` with
  the bound of Canonne, Kamath & Steinke (2020), optimised over ``alpha``. This equals the
  zCDP conversion with ``rho = T / (2 sigma^2)``.
- :func:`gaussian_epsilon`, exact: ``T`` Gaussian rounds compose to a single Gaussian
  mechanism with ``mu = sqrt(T) / sigma`` (Dong, Roth & Su 2022), whose privacy curve is
  the analytic Gaussian mechanism's (Balle & Wang 2018)
  ``delta(epsilon) = Phi(mu/2 - epsilon/mu) - e^epsilon Phi(-mu/2 - epsilon/mu)``.
  The RDP value is an upper bound on it; the exact value is what
  :meth:`DifferentialPrivacy.for_epsilon` calibrates ``sigma`` against.

Each site's own budget and audit trail are the governance layer's: a site passes a
:class:`PrivacyLedger` that ``coupling/`` backs with governance's privacy budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import optimize, special

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "DifferentialPrivacy",
    "PrivacyLedger",
    "clip_update",
    "gaussian_epsilon",
    "private_mean",
    "rdp_epsilon",
]


class PrivacyLedger(Protocol):
    """A site's privacy budget and audit log, supplied by ``coupling/`` from governance."""

    def spend(self, site: str, epsilon: float, delta: float, purpose: str) -> None:
        """Record a spend; raise ``ConsentError`` if it would exceed the site's budget."""
        ...


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0.0):
            raise InvalidParameterError(f"{name} = {value!r}; give a positive finite number")


def _check_delta(delta: float) -> None:
    if not 0.0 < delta < 1.0:
        raise InvalidParameterError(f"delta = {delta!r}; give a probability in (0, 1)")


def rdp_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon of ``rounds`` Gaussian rounds by Renyi DP (module docstring).

    Examples
    --------
    >>> round(rdp_epsilon(1.0, 1, 1e-5), 3)
    4.728
    """
    _check_positive(noise_multiplier=noise_multiplier, rounds=rounds)
    _check_delta(delta)
    rho = rounds / (2.0 * noise_multiplier**2)

    def bound(log_alpha_minus_1: float) -> float:
        alpha = 1.0 + math.exp(log_alpha_minus_1)
        return (
            alpha * rho
            + math.log1p(-1.0 / alpha)
            - (math.log(delta) + math.log(alpha)) / (alpha - 1.0)
        )

    best = optimize.minimize_scalar(bound, bounds=(-10.0, 12.0), method="bounded")
    return max(float(best.fun), 0.0)


def _gaussian_delta(mu: float, epsilon: float) -> float:
    def phi(z: float) -> float:
        return float(special.ndtr(z))

    # e^eps * Phi(x) overflows for large eps; use log-space for the second term.
    log_term = epsilon + float(special.log_ndtr(-mu / 2.0 - epsilon / mu))
    return phi(mu / 2.0 - epsilon / mu) - math.exp(log_term)


def gaussian_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Exact epsilon of ``rounds`` Gaussian rounds (analytic Gaussian mechanism).

    Examples
    --------
    >>> round(gaussian_epsilon(1.0, 1, 1e-5), 3)
    4.377
    """
    _check_positive(noise_multiplier=noise_multiplier, rounds=rounds)
    _check_delta(delta)
    mu = math.sqrt(rounds) / noise_multiplier
    if _gaussian_delta(mu, 0.0) <= delta:
        return 0.0
    upper = 1.0
    while _gaussian_delta(mu, upper) > delta:
        upper *= 2.0
    return float(optimize.brentq(lambda e: _gaussian_delta(mu, e) - delta, 0.0, upper))


@dataclass(frozen=True)
class DifferentialPrivacy:
    """DP-FedAvg settings: clip norm ``C``, noise multiplier ``sigma`` and ``delta``.

    Examples
    --------
    >>> dp = DifferentialPrivacy.for_epsilon(2.0, rounds=5, clip_norm=0.5)
    >>> round(dp.noise_multiplier, 2), round(dp.epsilon(5), 3)
    (4.46, 2.0)
    """

    clip_norm: float
    noise_multiplier: float
    delta: float = 1e-5

    def __post_init__(self) -> None:
        _check_positive(clip_norm=self.clip_norm, noise_multiplier=self.noise_multiplier)
        _check_delta(self.delta)

    @classmethod
    def for_epsilon(
        cls, epsilon: float, *, rounds: int, clip_norm: float = 1.0, delta: float = 1e-5
    ) -> DifferentialPrivacy:
        """The smallest noise that keeps ``rounds`` rounds within ``(epsilon, delta)``."""
        _check_positive(epsilon=epsilon, rounds=rounds)
        _check_delta(delta)
        low, high = 1e-3, 1.0
        while gaussian_epsilon(high, rounds, delta) > epsilon:
            high *= 2.0
        sigma = optimize.brentq(
            lambda s: gaussian_epsilon(s, rounds, delta) - epsilon, low, high, xtol=1e-10
        )
        return cls(clip_norm, float(sigma), delta)

    def epsilon(self, rounds: int) -> float:
        """Exact epsilon spent after ``rounds`` rounds."""
        return gaussian_epsilon(self.noise_multiplier, rounds, self.delta)

    def rdp_epsilon(self, rounds: int) -> float:
        """The Renyi-DP bound on the epsilon after ``rounds`` rounds."""
        return rdp_epsilon(self.noise_multiplier, rounds, self.delta)


def clip_update(update: FloatArray, clip_norm: float) -> tuple[FloatArray, bool]:
    """Scale ``update`` down to L2 norm ``clip_norm`` if longer; say whether it was.

    Examples
    --------
    >>> clipped, was = clip_update(np.array([3.0, 4.0]), 1.0)
    >>> np.round(clipped, 12).tolist(), was
    ([0.6, 0.8], True)
    """
    _check_positive(clip_norm=clip_norm)
    norm = float(np.linalg.norm(update))
    if norm <= clip_norm:
        return np.asarray(update, dtype=np.float64), False
    return np.asarray(update * (clip_norm / norm), dtype=np.float64), True


def private_mean(
    updates: FloatArray, dp: DifferentialPrivacy, rng: np.random.Generator
) -> tuple[FloatArray, int]:
    """Mean of clipped updates with Gaussian noise ``sigma C`` on their sum.

    Parameters
    ----------
    updates : ndarray, shape (m, p)
        One update per site.
    dp : DifferentialPrivacy
        Clip norm and noise multiplier.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    mean : ndarray, shape (p,)
    n_clipped : int
        How many updates were longer than the clip norm.

    Examples
    --------
    >>> dp = DifferentialPrivacy(clip_norm=1.0, noise_multiplier=1e-9)
    >>> mean, n = private_mean(np.array([[3.0, 4.0], [0.0, 0.5]]), dp, np.random.default_rng(0))
    >>> np.round(mean, 6).tolist(), n
    ([0.3, 0.65], 1)
    """
    updates = np.atleast_2d(np.asarray(updates, dtype=np.float64))
    if updates.ndim != 2 or updates.shape[0] == 0:
        raise ShapeError(f"updates have shape {updates.shape}; give (m, p) with m >= 1")
    clipped = [clip_update(u, dp.clip_norm) for u in updates]
    total = np.sum([c for c, _ in clipped], axis=0)
    noise = rng.normal(0.0, dp.noise_multiplier * dp.clip_norm, size=total.shape)
    return (total + noise) / updates.shape[0], sum(was for _, was in clipped)
