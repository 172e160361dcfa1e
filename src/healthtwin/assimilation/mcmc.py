"""Full posteriors by ensemble MCMC, batched over patients.

The affine-invariant stretch move of Goodman & Weare (CAMCoS 2010), as in emcee
(Foreman-Mackey et al., PASP 2013): each half of the walkers moves along lines through a
random walker of the other half. Here the walkers of every patient move at once, so one
model run of ``patients x walkers / 2`` members evaluates a whole half-step. emcee itself
is the test oracle (same target, same moments).

Convergence is judged by the integrated autocorrelation time (Sokal's automatic window,
``c = 5``); a chain shorter than ~50 autocorrelation times is flagged. The posterior's
contraction against the prior is the identifiability report, and
:func:`ensemble_from_samples` turns the draws into a twin's online prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.assimilation.calibration import MapFit
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.assimilation.view import StateView
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "PosteriorSamples",
    "ensemble_from_samples",
    "integrated_time",
    "sample_posterior",
    "stretch_sampler",
]


def _autocorrelation(x: FloatArray) -> FloatArray:
    """Normalized autocorrelation of ``x`` (steps, chains) along axis 0, chain-averaged."""
    n = x.shape[0]
    size = 1 << (2 * n - 1).bit_length()
    centred = x - x.mean(axis=0)
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    acf = np.fft.irfft(spectrum * np.conjugate(spectrum), n=size, axis=0)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = acf / acf[0]
    return np.asarray(np.nan_to_num(acf, nan=0.0).mean(axis=1))


def integrated_time(chain: FloatArray, c: float = 5.0) -> float:
    """Integrated autocorrelation time of ``chain`` (steps, walkers) in steps.

    Sokal's automatic window: the smallest ``M`` with ``M >= c tau(M)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(integrated_time(rng.standard_normal((4000, 8))), 1)
    1.0
    """
    chain = np.asarray(chain, dtype=np.float64)
    if chain.ndim == 1:
        chain = chain[:, None]
    if chain.ndim != 2 or chain.shape[0] < 2:
        raise ShapeError(f"need a chain of shape (steps >= 2, walkers), got {chain.shape}")
    taus = 2.0 * np.cumsum(_autocorrelation(chain)) - 1.0
    window = np.arange(taus.size) < c * taus
    m = int(np.argmin(window)) if not np.all(window) else taus.size - 1
    return float(max(taus[m], 1.0))


def stretch_sampler(
    log_prob: Any,
    start: FloatArray,
    steps: int,
    rng: np.random.Generator,
    *,
    a: float = 2.0,
) -> tuple[FloatArray, FloatArray]:
    """Run the stretch move for ``steps`` from ``start`` (patients, walkers, L).

    ``log_prob`` maps ``(patients, k, L)`` to ``(patients, k)`` (``-inf`` outside the
    support). Returns the chain ``(patients, steps, walkers, L)`` and the acceptance
    fraction per patient.
    """
    x = np.array(start, dtype=np.float64)
    patients, walkers, size = x.shape
    if walkers % 2 or walkers < 2 * size:
        raise InvalidParameterError(
            f"need an even number of walkers >= 2 x parameters ({2 * size}), got {walkers}"
        )
    if a <= 1:
        raise InvalidParameterError(f"the stretch scale a must be > 1, got {a}")
    lp = np.asarray(log_prob(x))
    if not np.all(np.isfinite(lp)):
        raise InvalidParameterError("every walker must start where the posterior is positive")
    half = walkers // 2
    groups = (np.arange(half), np.arange(half, walkers))
    chain = np.empty((patients, steps, walkers, size))
    accepted = np.zeros(patients)
    rows = np.arange(patients)[:, None]
    for step in range(steps):
        for g in (0, 1):
            moving, other = groups[g], groups[1 - g]
            partner = other[rng.integers(0, half, (patients, half))]
            z = ((a - 1.0) * rng.random((patients, half)) + 1.0) ** 2 / a
            anchor = x[rows, partner]
            proposal = anchor + z[:, :, None] * (x[:, moving] - anchor)
            lp_new = np.asarray(log_prob(proposal))
            log_accept = (size - 1) * np.log(z) + lp_new - lp[:, moving]
            take = np.log(rng.random((patients, half))) < log_accept
            x[:, moving] = np.where(take[:, :, None], proposal, x[:, moving])
            lp[:, moving] = np.where(take, lp_new, lp[:, moving])
            accepted += take.sum(axis=1)
        chain[:, step] = x
    return chain, accepted / (steps * walkers)


@dataclass(frozen=True)
class PosteriorSamples:
    """MCMC draws of log-parameters per patient, with convergence and identifiability.

    Attributes
    ----------
    chain
        Every walker's position after burn-in, ``(patients, steps, walkers, L)``.
    acceptance
        Acceptance fraction per patient (0.2-0.5 is healthy for the stretch move).
    prior_log_sd
        The prior's SD in log space, ``(L,)``.
    names
        Parameter names.
    """

    chain: FloatArray
    acceptance: FloatArray
    prior_log_sd: FloatArray
    names: tuple[str, ...]

    @property
    def draws(self) -> FloatArray:
        """All post-burn-in draws pooled over walkers, ``(patients, steps x walkers, L)``."""
        p, s, w, size = self.chain.shape
        return self.chain.reshape(p, s * w, size)

    @property
    def log_mean(self) -> FloatArray:
        return np.asarray(self.draws.mean(axis=1))

    @property
    def log_sd(self) -> FloatArray:
        return np.asarray(self.draws.std(axis=1, ddof=1))

    def quantiles(self, q: tuple[float, ...] = (0.05, 0.5, 0.95)) -> FloatArray:
        """Posterior quantiles in natural units, ``(patients, len(q), L)``."""
        return np.asarray(np.exp(np.quantile(self.draws, q, axis=1)).transpose(1, 0, 2))

    @property
    def autocorrelation_time(self) -> FloatArray:
        """Integrated autocorrelation time in steps, ``(patients, L)``."""
        p, _, _, size = self.chain.shape
        return np.asarray(
            [[integrated_time(self.chain[i, :, :, j]) for j in range(size)] for i in range(p)]
        )

    @property
    def effective_size(self) -> FloatArray:
        """Effective number of independent draws, ``(patients, L)``."""
        _, s, w, _ = self.chain.shape
        return np.asarray(s * w / self.autocorrelation_time)

    def converged(self, factor: float = 50.0) -> FloatArray:
        """Whether the chain is longer than ``factor`` autocorrelation times, per patient."""
        steps = self.chain.shape[1]
        return np.asarray(np.all(steps > factor * self.autocorrelation_time, axis=1))

    @property
    def contraction(self) -> FloatArray:
        """Posterior contraction ``1 - var_post / var_prior``, ``(patients, L)``."""
        return np.asarray(1.0 - (self.log_sd / self.prior_log_sd) ** 2)

    def identifiability(self, threshold: float = 0.5) -> dict[str, bool]:
        """Parameter -> whether the data inform it (median contraction above ``threshold``)."""
        median = np.median(self.contraction, axis=0)
        return {n: bool(c > threshold) for n, c in zip(self.names, median, strict=True)}


def sample_posterior(
    problem: CalibrationProblem,
    *,
    rng: np.random.Generator,
    walkers: int = 32,
    steps: int = 1000,
    burn: int | None = None,
    start: MapFit | None = None,
) -> PosteriorSamples:
    """Sample every patient's posterior of ``problem`` with the batched stretch move.

    Walkers start in a small ball around ``start`` (a MAP fit; its Laplace SD / 10) or
    around the prior mean (prior SD / 10). ``burn`` steps (default half) are dropped.
    """
    burn = steps // 2 if burn is None else burn
    if steps < 2 or not 0 <= burn < steps - 1:
        raise InvalidParameterError(
            f"need steps >= 2 and 0 <= burn < steps - 1, got {steps}, {burn}"
        )
    patients, size = problem.n_patients, problem.n_parameters
    lower = np.log(np.asarray(problem.view.lower))
    upper = np.log(np.asarray(problem.view.upper))
    if start is None:
        centre = np.broadcast_to(problem.prior_log_mean, (patients, size))
        spread = np.broadcast_to(problem.prior_log_sd, (patients, size))
    else:
        centre, spread = start.log_estimate, start.log_sd
    ball = centre[:, None, :] + 0.1 * spread[:, None, :] * rng.standard_normal(
        (patients, walkers, size)
    )
    ball = np.clip(ball, lower + 1e-9, upper - 1e-9)

    def log_prob(theta: FloatArray) -> FloatArray:
        p, k, _ = theta.shape
        flat = theta.reshape(p * k, size)
        inside = np.all((flat > lower) & (flat < upper), axis=1)
        rows = np.repeat(np.arange(p), k)
        value = np.full(p * k, -np.inf)
        if np.any(inside):
            value[inside] = -problem.neg_log_posterior(rows[inside], flat[inside], rng)
        return value.reshape(p, k)

    chain, acceptance = stretch_sampler(log_prob, ball, steps, rng)
    return PosteriorSamples(chain[:, burn:], acceptance, problem.prior_log_sd, problem.names)


def ensemble_from_samples(
    samples: PosteriorSamples,
    template: Any,
    view: StateView,
    members: int,
    rng: np.random.Generator,
) -> Any:
    """The online prior: ``members`` posterior draws per patient (without replacement).

    ``template`` has one member per patient; the result has ``patients x members``.
    """
    draws = samples.draws
    patients, available, _ = draws.shape
    if template.n_members != patients:
        raise ShapeError(f"template must have one member per patient ({patients})")
    if members > available:
        raise InvalidParameterError(f"only {available} draws per patient, asked for {members}")
    pick = np.stack([rng.choice(available, members, replace=False) for _ in range(patients)])
    chosen = np.take_along_axis(draws, pick[:, :, None], axis=1)
    state = template.take(np.repeat(np.arange(patients), members))
    return view.unpack(state, chosen.reshape(patients * members, -1))
