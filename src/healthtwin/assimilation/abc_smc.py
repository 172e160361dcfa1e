"""Approximate Bayesian computation by sequential Monte Carlo (ABC-SMC), on any simulator.

ABC replaces the likelihood by a simulation: a parameter ``theta`` is kept when the summaries
``s`` it simulates lie within a tolerance ``eps`` of the observed ones, ``rho(s, s_obs) <=
eps``. The SMC sampler (Toni, Welch, Strelkowa, Ipsen & Stumpf 2009, J R Soc Interface
6:187; Beaumont, Cornuet, Marin & Robert 2009, Biometrika 96:983) moves a weighted
population through decreasing tolerances:

1. generation 0 draws ``n`` particles from the prior (tolerance: the largest distance kept);
2. generation ``t`` sets ``eps_t`` to the ``quantile`` (default the median) of the previous
   generation's weighted distances (adaptive tolerances as in Del Moral, Doucet & Jasra
   2012, Stat Comput 22:1009, and pyABC), proposes ``theta* ~ sum_j w_j N(theta_j, Sigma)``
   with ``Sigma`` twice the weighted covariance (Beaumont et al. 2009), keeps proposals
   within ``eps_t`` and weighs them ``w_i ∝ pi(theta_i) / sum_j w_j N(theta_i; theta_j,
   Sigma)`` (population Monte Carlo weights).

The simulator receives a whole batch ``(m, d)`` of parameters and returns ``(m, k)``
summaries, so one call covers many particles. Non-finite distances count as rejections.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from healthtwin.assimilation.priors import (
    GammaPrior,
    IndependentPrior,
    LogUniformPrior,
    NormalPrior,
    Prior,
    UniformPrior,
)
from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = [
    "AbcPosterior",
    "GammaPrior",
    "IndependentPrior",
    "LogUniformPrior",
    "NormalPrior",
    "PredictiveCheck",
    "Prior",
    "UniformPrior",
    "abc_smc",
    "euclidean_distance",
    "posterior_predictive",
    "predictive_check",
    "scaled_euclidean",
]

Simulator = Callable[[FloatArray, np.random.Generator], FloatArray]
Distance = Callable[[FloatArray, FloatArray], FloatArray]
# Rows of the (new x old) kernel matrix computed at once: bounds memory to ~chunk * n * d.
KERNEL_CHUNK = 256
# Proposals falling outside the prior are not simulated; give up after this many per
# allowed simulation rather than loop forever on a kernel that leaves the support.
PROPOSAL_LIMIT = 100


def euclidean_distance(summaries: FloatArray, observed: FloatArray) -> FloatArray:
    """Euclidean distance of each row of ``summaries`` (n, k) to ``observed`` (k,).

    Examples
    --------
    >>> euclidean_distance(np.array([[3.0, 4.0], [0.0, 0.0]]), np.zeros(2)).tolist()
    [5.0, 0.0]
    """
    return np.asarray(np.sqrt(np.sum((summaries - observed) ** 2, axis=1)), dtype=np.float64)


def scaled_euclidean(scale: ArrayLike) -> Distance:
    """Euclidean distance after dividing each summary by ``scale`` (k,), e.g. its sd.

    Examples
    --------
    >>> distance = scaled_euclidean([1.0, 10.0])
    >>> distance(np.array([[3.0, 40.0]]), np.zeros(2)).tolist()
    [5.0]
    """
    weights = np.asarray(scale, dtype=np.float64)
    if weights.ndim != 1 or not (np.isfinite(weights) & (weights > 0)).all():
        raise InvalidParameterError(f"scale must be finite and > 0 per summary, got {weights}")

    def distance(summaries: FloatArray, observed: FloatArray) -> FloatArray:
        return euclidean_distance(summaries / weights, observed / weights)

    return distance


@dataclass(frozen=True)
class AbcPosterior:
    """The last ABC-SMC population and the history of the run.

    Attributes
    ----------
    particles : ndarray of float64, shape (n_particles, d)
    weights : ndarray of float64, shape (n_particles,)
        Normalised importance weights (sum to 1).
    distances : ndarray of float64, shape (n_particles,)
        Distance of each particle's simulation to the observed summaries.
    tolerances : ndarray of float64, shape (n_generations,)
        ``eps_t`` per generation (generation 0: the largest accepted distance).
    acceptance_rates : ndarray of float64, shape (n_generations,)
    simulations : ndarray of int64, shape (n_generations,)
        Simulations run per generation (proposals outside the prior are not simulated).
    stop_reason : str
        ``n_generations``, ``final_tolerance``, ``min_acceptance_rate``,
        ``max_simulations`` or ``no_progress``.
    names : tuple of str or None
    """

    particles: FloatArray
    weights: FloatArray
    distances: FloatArray
    tolerances: FloatArray
    acceptance_rates: FloatArray
    simulations: IntArray
    stop_reason: str
    names: tuple[str, ...] | None = None

    @property
    def n_simulations(self) -> int:
        """Total simulations over all generations."""
        return int(self.simulations.sum())

    @property
    def ess(self) -> float:
        """Effective sample size ``1 / sum w_i^2`` (Kong, Liu & Wong 1994)."""
        return float(1.0 / np.sum(self.weights**2))

    def mean(self) -> FloatArray:
        """Weighted posterior mean, shape (d,)."""
        return np.asarray(self.weights @ self.particles, dtype=np.float64)

    def cov(self) -> FloatArray:
        """Weighted posterior covariance, shape (d, d)."""
        return _weighted_cov(self.particles, self.weights)

    def sd(self) -> FloatArray:
        """Weighted posterior standard deviation, shape (d,)."""
        return np.sqrt(np.diag(self.cov()))

    def resample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` equally weighted draws (multinomial), shape (n, d)."""
        return self.particles[rng.choice(self.weights.size, size=n, p=self.weights)]


def _weighted_cov(particles: FloatArray, weights: FloatArray) -> FloatArray:
    centred = particles - weights @ particles
    return np.asarray((centred * weights[:, None]).T @ centred, dtype=np.float64)


def _weighted_quantile(values: FloatArray, weights: FloatArray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return float(values[order][min(index, values.size - 1)])


def _next_tolerance(
    population: _Population, quantile: float, previous: float, floor: float
) -> float | None:
    """The weighted quantile of the distances, or, when that does not shrink (discrete
    distances), the largest distance below ``previous``; None when nothing is smaller."""
    tolerance = max(_weighted_quantile(population.distances, population.weights, quantile), floor)
    if tolerance < previous:
        return tolerance
    smaller = population.distances[population.distances < previous]
    if smaller.size == 0 or max(float(smaller.max()), floor) >= previous:
        return None
    return max(float(smaller.max()), floor)


@dataclass(frozen=True)
class _Settings:
    simulate: Simulator
    observed: FloatArray
    prior: Prior
    distance: Distance
    n_particles: int
    generation_budget: int


@dataclass(frozen=True)
class _Population:
    particles: FloatArray
    weights: FloatArray
    distances: FloatArray
    simulations: int


def abc_smc(
    simulate: Simulator,
    observed: ArrayLike,
    prior: Prior,
    *,
    distance: Distance = euclidean_distance,
    n_particles: int = 1000,
    n_generations: int = 10,
    final_tolerance: float | None = None,
    quantile: float = 0.5,
    min_acceptance_rate: float = 0.01,
    max_simulations: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> AbcPosterior:
    """Sample an ABC posterior by SMC with adaptive tolerances (see the module docstring).

    Parameters
    ----------
    simulate : callable
        ``simulate(theta, rng)`` with ``theta`` (m, d) returns summaries (m, k); it is
        called with whole batches of particles.
    observed : array_like of float, shape (k,)
        Observed summaries.
    prior : Prior
        For example an :class:`IndependentPrior`.
    distance : callable
        ``distance(summaries (m, k), observed (k,)) -> (m,)``; default Euclidean.
    n_particles : int
        Particles per generation (>= 10).
    n_generations : int
        Most generations, generation 0 (the prior) included.
    final_tolerance : float, optional
        Stop after the first generation whose tolerance reaches it (tolerances never go
        below it).
    quantile : float
        Each tolerance is this weighted quantile of the previous generation's distances.
    min_acceptance_rate : float
        A generation that needs more than ``n_particles / min_acceptance_rate`` simulations
        is abandoned, and the previous population is returned.
    max_simulations : int, optional
        Total simulation budget; the generation that would exceed it is abandoned.
    seed : int or numpy.random.Generator, optional
        Source of every random draw (the simulator receives the same generator).

    Returns
    -------
    AbcPosterior

    Raises
    ------
    InvalidParameterError
        Settings out of range.
    InvalidInputError
        Non-finite observed summaries, or no finite distance among the prior draws.
    ShapeError
        The simulator, prior or distance returns arrays of the wrong shape.

    Examples
    --------
    A normal mean with known sd 1, one observation 0.5 and a N(0, 1) prior (exact
    posterior N(0.25, 0.5)):

    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(size=theta.shape)
    >>> post = abc_smc(simulate, [0.5], IndependentPrior((NormalPrior(0.0, 1.0),)),
    ...                n_particles=500, n_generations=6, seed=1)
    >>> bool(abs(post.mean()[0] - 0.25) < 0.15), bool(post.tolerances[-1] < 0.1)
    (True, True)
    """
    settings = _settings(
        simulate,
        observed,
        prior,
        distance,
        n_particles,
        n_generations,
        quantile,
        final_tolerance,
        min_acceptance_rate,
        max_simulations,
    )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    budget = math.inf if max_simulations is None else max_simulations
    population = _run_generation(settings, None, math.inf, rng, budget)
    if population is None:
        raise InvalidInputError(
            "the prior draws did not give n_particles finite distances within the simulation "
            "budget; check the simulator and raise max_simulations"
        )
    tolerances = [float(population.distances.max())]
    rates = [n_particles / population.simulations]
    counts = [population.simulations]
    floor = -math.inf if final_tolerance is None else final_tolerance
    stop = "n_generations"
    while len(tolerances) < n_generations:
        if tolerances[-1] <= floor:
            stop = "final_tolerance"
            break
        tolerance = _next_tolerance(population, quantile, tolerances[-1], floor)
        if tolerance is None:
            stop = "no_progress"
            break
        remaining = budget - sum(counts)
        following = _run_generation(settings, population, tolerance, rng, remaining)
        if following is None:
            stop = (
                "max_simulations"
                if remaining < settings.generation_budget
                else ("min_acceptance_rate")
            )
            break
        population = following
        tolerances.append(tolerance)
        rates.append(n_particles / population.simulations)
        counts.append(population.simulations)
    else:
        if tolerances[-1] <= floor:
            stop = "final_tolerance"
    return AbcPosterior(
        particles=population.particles,
        weights=population.weights,
        distances=population.distances,
        tolerances=np.asarray(tolerances),
        acceptance_rates=np.asarray(rates),
        simulations=np.asarray(counts, dtype=np.int64),
        stop_reason=stop,
        names=getattr(prior, "names", None),
    )


def _settings(
    simulate: Simulator,
    observed: ArrayLike,
    prior: Prior,
    distance: Distance,
    n_particles: int,
    n_generations: int,
    quantile: float,
    final_tolerance: float | None,
    min_acceptance_rate: float,
    max_simulations: int | None,
) -> _Settings:
    target = np.asarray(observed, dtype=np.float64)
    if target.ndim != 1 or target.size == 0 or not np.isfinite(target).all():
        raise InvalidInputError(
            f"observed summaries must be a non-empty finite 1-D array, got {target!r}"
        )
    checks = [
        (n_particles >= 10, f"n_particles must be >= 10, got {n_particles}"),
        (n_generations >= 1, f"n_generations must be >= 1, got {n_generations}"),
        (0 < quantile < 1, f"quantile must lie in (0, 1), got {quantile}"),
        (
            0 < min_acceptance_rate <= 1,
            f"min_acceptance_rate must lie in (0, 1], got {min_acceptance_rate}",
        ),
        (
            final_tolerance is None or final_tolerance >= 0,
            f"final_tolerance must be >= 0, got {final_tolerance}",
        ),
        (
            max_simulations is None or max_simulations >= n_particles,
            f"max_simulations must be >= n_particles ({n_particles}), got {max_simulations}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise InvalidParameterError(message)
    return _Settings(
        simulate=simulate,
        observed=target,
        prior=prior,
        distance=distance,
        n_particles=n_particles,
        generation_budget=math.ceil(n_particles / min_acceptance_rate),
    )


def _run_generation(
    settings: _Settings,
    previous: _Population | None,
    tolerance: float,
    rng: np.random.Generator,
    remaining: float,
) -> _Population | None:
    """Accept ``n_particles`` within ``tolerance``; None when a budget runs out first."""
    n = settings.n_particles
    budget = min(settings.generation_budget, remaining)
    kernel = None if previous is None else _kernel_cholesky(previous)
    kept_theta: list[FloatArray] = []
    kept_distance: list[FloatArray] = []
    accepted = simulations = proposed = 0
    while accepted < n:
        if simulations >= budget or proposed > PROPOSAL_LIMIT * budget:
            return None
        rate = max(accepted / simulations, 1.0 / budget) if simulations else 1.0
        batch = math.ceil((n - accepted) / rate)
        batch = int(min(max(batch, n // 10, 1), 20 * n, budget - simulations))
        if previous is None or kernel is None:
            theta = _prior_draws(settings.prior, batch, rng)
        else:
            theta = _proposals(settings.prior, previous, kernel, batch, rng)
        proposed += batch
        dist = _simulate_distances(settings, theta, rng)
        simulations += theta.shape[0]
        keep = np.isfinite(dist) & (dist <= tolerance)
        kept_theta.append(theta[keep])
        kept_distance.append(dist[keep])
        accepted += int(keep.sum())
    particles = np.concatenate(kept_theta)[:n]
    distances = np.concatenate(kept_distance)[:n]
    if previous is None or kernel is None:
        weights = np.full(n, 1.0 / n)
    else:
        weights = _pmc_weights(settings.prior, particles, previous, kernel)
    return _Population(particles, weights, distances, simulations)


def _prior_draws(prior: Prior, n: int, rng: np.random.Generator) -> FloatArray:
    theta = np.asarray(prior.sample(n, rng), dtype=np.float64)
    if theta.shape != (n, prior.dim):
        raise ShapeError(f"prior.sample({n}) returned {theta.shape}, expected ({n}, {prior.dim})")
    return theta


def _kernel_cholesky(population: _Population) -> FloatArray:
    cov = 2.0 * _weighted_cov(population.particles, population.weights)
    # A population collapsed in some direction still needs a proper kernel.
    scale = max(float(np.trace(cov)) / cov.shape[0], np.finfo(np.float64).tiny)
    jitter = 1e-10 * scale * np.eye(cov.shape[0])
    try:
        return np.linalg.cholesky(cov + jitter)
    except np.linalg.LinAlgError:
        return np.linalg.cholesky(np.diag(np.diag(cov)) + jitter)


def _proposals(
    prior: Prior,
    previous: _Population,
    chol: FloatArray,
    batch: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Perturbed draws from the previous population, only those inside the prior support."""
    parents = rng.choice(previous.weights.size, size=batch, p=previous.weights)
    noise = rng.standard_normal((batch, chol.shape[0])) @ chol.T
    theta = previous.particles[parents] + noise
    return theta[np.isfinite(prior.log_pdf(theta))]


def _simulate_distances(
    settings: _Settings, theta: FloatArray, rng: np.random.Generator
) -> FloatArray:
    if theta.shape[0] == 0:
        return np.zeros(0)
    summaries = np.asarray(settings.simulate(theta, rng), dtype=np.float64)
    expected = (theta.shape[0], settings.observed.size)
    if summaries.shape != expected:
        raise ShapeError(
            f"simulate returned summaries of shape {summaries.shape} for {theta.shape[0]} "
            f"parameter sets; expected {expected} (one row of k summaries per row of theta)"
        )
    with np.errstate(invalid="ignore"):
        dist = np.asarray(settings.distance(summaries, settings.observed), dtype=np.float64)
    if dist.shape != (theta.shape[0],):
        raise ShapeError(f"distance returned shape {dist.shape}, expected ({theta.shape[0]},)")
    return dist


def _pmc_weights(
    prior: Prior, particles: FloatArray, previous: _Population, chol: FloatArray
) -> FloatArray:
    """``pi(theta_i) / sum_j w_j K(theta_i | theta_j)``, normalised, in log space."""
    log_prev = np.log(previous.weights)
    log_mixture = np.empty(particles.shape[0])
    for start in range(0, particles.shape[0], KERNEL_CHUNK):
        block = particles[start : start + KERNEL_CHUNK]
        diff = block[:, None, :] - previous.particles[None, :, :]
        z = np.linalg.solve(chol, diff.reshape(-1, chol.shape[0]).T).T
        log_kernel = -0.5 * np.sum(z**2, axis=1).reshape(block.shape[0], -1)
        log_mixture[start : start + block.shape[0]] = special.logsumexp(
            log_kernel + log_prev[None, :], axis=1
        )
    log_w = prior.log_pdf(particles) - log_mixture
    log_w -= special.logsumexp(log_w)
    return np.exp(log_w)


def posterior_predictive(
    simulate: Simulator,
    posterior: AbcPosterior,
    n: int,
    seed: int | np.random.Generator | None = None,
) -> FloatArray:
    """Simulate summaries for ``n`` draws from the posterior, shape (n, k).

    Examples
    --------
    >>> post = AbcPosterior(np.array([[1.0], [2.0]]), np.array([1.0, 0.0]), np.zeros(2),
    ...                     np.zeros(1), np.ones(1), np.ones(1, dtype=np.int64), "n_generations")
    >>> posterior_predictive(lambda th, rng: th * 10.0, post, 3, seed=0).tolist()
    [[10.0], [10.0], [10.0]]
    """
    if n < 1:
        raise InvalidParameterError(f"n must be >= 1, got {n}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    theta = posterior.resample(n, rng)
    summaries = np.asarray(simulate(theta, rng), dtype=np.float64)
    if summaries.ndim != 2 or summaries.shape[0] != n:
        raise ShapeError(f"simulate returned shape {summaries.shape}, expected ({n}, k)")
    return summaries


@dataclass(frozen=True)
class PredictiveCheck:
    """Where the observed summaries fall in the posterior predictive distribution.

    Attributes
    ----------
    levels : ndarray of float64, shape (n_levels,)
        Central interval levels, e.g. 0.5 and 0.9.
    coverage : ndarray of float64, shape (n_levels,)
        Fraction of the ``k`` observed summaries inside each central predictive interval.
    inside : ndarray of bool, shape (n_levels, k)
    tail_probability : ndarray of float64, shape (k,)
        Two-sided predictive p-value ``min(1, 2 min(P(X <= y), P(X >= y)))`` per summary.
    """

    levels: FloatArray
    coverage: FloatArray
    inside: BoolArray
    tail_probability: FloatArray


def predictive_check(
    predictive: ArrayLike, observed: ArrayLike, levels: Sequence[float] = (0.5, 0.9)
) -> PredictiveCheck:
    """Coverage of the observed summaries by central predictive intervals.

    Parameters
    ----------
    predictive : array_like, shape (n, k)
        Posterior predictive draws (:func:`posterior_predictive`).
    observed : array_like, shape (k,)
    levels : sequence of float
        Central interval levels in (0, 1); quantiles by numpy's ``linear`` method.

    Examples
    --------
    >>> draws = np.tile(np.arange(101.0)[:, None], (1, 2))
    >>> check = predictive_check(draws, [50.0, 99.0], levels=(0.9,))
    >>> check.coverage.tolist(), check.tail_probability.round(3).tolist()
    ([0.5], [1.0, 0.04])
    """
    draws = np.asarray(predictive, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    probs = np.asarray(levels, dtype=np.float64)
    if draws.ndim != 2 or y.shape != (draws.shape[1],):
        raise ShapeError(
            f"predictive must be (n, k) and observed (k,), got {draws.shape} and {y.shape}"
        )
    if probs.ndim != 1 or not ((probs > 0) & (probs < 1)).all():
        raise InvalidParameterError(f"levels must lie in (0, 1), got {probs.tolist()}")
    lower = np.quantile(draws, (1 - probs) / 2, axis=0)
    upper = np.quantile(draws, (1 + probs) / 2, axis=0)
    inside = (lower <= y) & (y <= upper)
    tail = 2 * np.minimum(np.mean(draws <= y, axis=0), np.mean(draws >= y, axis=0))
    return PredictiveCheck(
        levels=probs,
        coverage=inside.mean(axis=1),
        inside=inside,
        tail_probability=np.minimum(tail, 1.0),
    )
