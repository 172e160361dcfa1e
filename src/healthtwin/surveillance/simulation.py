"""The simulation design of Noufaily et al. (2013) for evaluating outbreak detectors.

Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A. An improved
algorithm for outbreak detection in multiple surveillance systems. Stat Med 2013;
32:1206-1222.

Baseline weekly counts ``y_t`` (``t = 1..624``, twelve 52-week years) are negative binomial
with mean ``mu_t`` and variance ``phi * mu_t`` (Poisson when ``phi = 1``)::

    log mu_t = theta + beta * t + sum_{j=1}^{m} [gamma1 cos(2 pi j t / 52)
                                                 + gamma2 sin(2 pi j t / 52)]

Seven parameter blocks ``(theta, beta, gamma1, gamma2, phi)`` are each crossed with trend
(``beta`` set to 0 or not) and seasonality ``m`` in {0 (none), 1 (annual), 2 (biannual)}:
42 scenarios, numbered block by block with trend outermost (scenario 14 is block 3,
no trend, annual seasonality). Outbreaks are added in the past (four, starting in weeks
313-575, ``k`` drawn from {2, 3, 5, 10}) and one in the current period (starting in one of
the 49 monitored weeks 576-624, ``k`` drawn from 1..10). An outbreak starting in week
``t0`` has ``Poisson(k * sd_t0)`` cases, ``sd_t0 = sqrt(phi * mu_t0)`` the standard
deviation of the baseline count in its start week, each case falling
``floor(LogNormal(0, 0.5))`` weeks after ``t0``; cases falling after the last week are not
observed.

Everything is drawn at once for ``(n_scenarios, n_reps, n_weeks)`` from one
``np.random.Generator``; the current outbreaks are drawn from a stream spawned apart from
the baseline, so the series without and with the current outbreak share their baseline
(common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "NOUFAILY_BLOCKS",
    "NOUFAILY_SCENARIOS",
    "NoufailyDesign",
    "NoufailyScenario",
    "SimulatedSurveillance",
    "inject_outbreaks",
    "lognormal_week_probabilities",
    "simulate_noufaily",
    "spread_outbreaks",
]

WEEKS_PER_YEAR = 52

# (theta, beta, gamma1, gamma2, phi) of the seven parameter blocks of Noufaily et al.
# (2013), Table I, as used by two independent re-implementations of the design (see
# docs/surveillance_evaluation.md for which values could be checked against what).
NOUFAILY_BLOCKS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.1, 0.0025, 0.6, 0.6, 1.5),
    (-2.0, 0.005, 0.1, 0.3, 2.0),
    (1.5, 0.003, 0.2, -0.4, 1.0),
    (0.5, 0.002, 0.5, 0.5, 5.0),
    (2.5, 0.001, 1.0, 0.1, 3.0),
    (3.75, 0.001, 0.1, -0.1, 1.1),
    (5.0, 0.0001, 0.05, 0.01, 1.2),
)


@dataclass(frozen=True, kw_only=True)
class NoufailyScenario:
    """One negative-binomial baseline: ``log mu_t`` linear in ``t`` plus ``m`` harmonics.

    Attributes
    ----------
    number : int
        1-based scenario number in the design (0 for a scenario made by hand).
    theta, beta, gamma1, gamma2 : float
        Intercept, weekly trend, cosine and sine amplitudes on the log scale.
    m : int
        Number of seasonal harmonics: 0 none, 1 annual, 2 biannual.
    phi : float
        Dispersion: variance / mean, at least 1 (1 is Poisson).
    """

    number: int = 0
    theta: float
    beta: float = 0.0
    gamma1: float = 0.0
    gamma2: float = 0.0
    m: int = 0
    phi: float = 1.0

    def __post_init__(self) -> None:
        if self.m not in (0, 1, 2):
            raise InvalidParameterError(
                f"seasonality order m must be 0, 1 or 2, got {self.m!r}; use 0 for none, "
                "1 for annual, 2 for biannual"
            )
        if not self.phi >= 1.0:
            raise InvalidParameterError(
                f"dispersion phi must be >= 1 (variance = phi * mean), got {self.phi!r}"
            )

    def mean_counts(self, n_weeks: int) -> NDArray[np.float64]:
        """Baseline mean ``mu_t`` for weeks ``t = 1..n_weeks``, shape ``(n_weeks,)``.

        Examples
        --------
        >>> NoufailyScenario(theta=math.log(3.0)).mean_counts(2).round(6).tolist()
        [3.0, 3.0]
        """
        t = np.arange(1, n_weeks + 1, dtype=float)
        log_mu = self.theta + self.beta * t
        for j in range(1, self.m + 1):
            angle = 2.0 * np.pi * j * t / WEEKS_PER_YEAR
            log_mu = log_mu + self.gamma1 * np.cos(angle) + self.gamma2 * np.sin(angle)
        return np.exp(log_mu)

    def sd_counts(self, n_weeks: int) -> NDArray[np.float64]:
        """Baseline standard deviation ``sqrt(phi * mu_t)``, shape ``(n_weeks,)``."""
        return np.sqrt(self.phi * self.mean_counts(n_weeks))


def _design() -> tuple[NoufailyScenario, ...]:
    scenarios: list[NoufailyScenario] = []
    for theta, beta, gamma1, gamma2, phi in NOUFAILY_BLOCKS:
        for trend in (False, True):
            for m in (0, 1, 2):
                scenarios.append(
                    NoufailyScenario(
                        number=len(scenarios) + 1,
                        theta=theta,
                        beta=beta if trend else 0.0,
                        gamma1=gamma1 if m else 0.0,
                        gamma2=gamma2 if m else 0.0,
                        m=m,
                        phi=phi,
                    )
                )
    return tuple(scenarios)


NOUFAILY_SCENARIOS: tuple[NoufailyScenario, ...] = _design()


@dataclass(frozen=True, kw_only=True)
class NoufailyDesign:
    """Lengths, windows and outbreak sizes of the design (defaults: the paper's).

    Attributes
    ----------
    n_weeks : int
        Length of each series (624: twelve 52-week years).
    n_current : int
        Monitored weeks at the end of each series (49: weeks 576-624).
    past_window : tuple of int
        First and last week (1-based, inclusive) where past outbreaks may start.
    n_past_outbreaks : int
        Past outbreaks per series.
    past_k : tuple of float
        Multipliers of the baseline SD drawn (uniformly) for past outbreaks.
    current_k : tuple of float
        Multipliers drawn (uniformly) for the current outbreak.
    delay_meanlog, delay_sdlog : float
        Log-normal spread of an outbreak's cases after its start week.
    """

    n_weeks: int = 624
    n_current: int = 49
    past_window: tuple[int, int] = (313, 575)
    n_past_outbreaks: int = 4
    past_k: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0)
    current_k: tuple[float, ...] = tuple(float(k) for k in range(1, 11))
    delay_meanlog: float = 0.0
    delay_sdlog: float = 0.5

    def __post_init__(self) -> None:
        first, last = self.past_window
        if not 0 < self.n_current < self.n_weeks:
            raise InvalidParameterError(
                f"n_current must be between 1 and n_weeks - 1 = {self.n_weeks - 1}, got "
                f"{self.n_current}"
            )
        if not 1 <= first <= last <= self.n_weeks:
            raise InvalidParameterError(
                f"past_window must satisfy 1 <= first <= last <= n_weeks = {self.n_weeks}, "
                f"got {self.past_window}"
            )
        if self.n_past_outbreaks < 0 or not self.past_k or not self.current_k:
            raise InvalidParameterError(
                "need n_past_outbreaks >= 0 and non-empty past_k and current_k, got "
                f"{self.n_past_outbreaks}, {self.past_k}, {self.current_k}"
            )
        if min(self.past_k + self.current_k) < 0 or self.delay_sdlog <= 0:
            raise InvalidParameterError(
                "outbreak multipliers k must be >= 0 and delay_sdlog > 0, got "
                f"past_k={self.past_k}, current_k={self.current_k}, "
                f"delay_sdlog={self.delay_sdlog}"
            )

    @property
    def monitored(self) -> NDArray[np.int64]:
        """1-based monitored weeks, shape ``(n_current,)`` (576..624 by default)."""
        return np.arange(self.n_weeks - self.n_current + 1, self.n_weeks + 1, dtype=np.int64)


@dataclass(frozen=True)
class SimulatedSurveillance:
    """Replicate series of many scenarios: baseline and outbreak cases kept apart.

    Attributes
    ----------
    scenarios : tuple of NoufailyScenario
        The ``n_scenarios`` scenarios simulated, in order.
    design : NoufailyDesign
        Lengths and windows used.
    baseline : ndarray of int64, shape (n_scenarios, n_reps, n_weeks)
        Negative-binomial baseline counts.
    past : ndarray of int64, shape (n_scenarios, n_reps, n_weeks)
        Cases of the past outbreaks.
    current : ndarray of int64, shape (n_scenarios, n_reps, n_weeks)
        Cases of the current outbreak.
    start : ndarray of bool, shape (n_scenarios, n_reps, n_weeks)
        True in the start week of every outbreak (past and current).
    current_start : ndarray of int64, shape (n_scenarios, n_reps)
        1-based start week of the current outbreak.
    current_k : ndarray of float64, shape (n_scenarios, n_reps)
        Its multiplier ``k``.
    """

    scenarios: tuple[NoufailyScenario, ...]
    design: NoufailyDesign
    baseline: NDArray[np.int64]
    past: NDArray[np.int64]
    current: NDArray[np.int64]
    start: NDArray[np.bool_]
    current_start: NDArray[np.int64]
    current_k: NDArray[np.float64]

    @property
    def null_counts(self) -> NDArray[np.int64]:
        """Baseline plus past outbreaks: the series without a current outbreak."""
        return self.baseline + self.past

    @property
    def observed(self) -> NDArray[np.int64]:
        """Baseline plus all outbreaks, shape ``(n_scenarios, n_reps, n_weeks)``."""
        return self.baseline + self.past + self.current


def lognormal_week_probabilities(
    meanlog: float = 0.0, sdlog: float = 0.5, tail: float = 1e-12
) -> NDArray[np.float64]:
    """Probability that a case falls ``d = 0, 1, ...`` weeks after its outbreak's start.

    ``P(d) = P(d <= X < d + 1)`` for ``X ~ LogNormal(meanlog, sdlog)``, i.e. the law of
    ``floor(X)``; the vector stops where the remaining mass is below ``tail`` and its last
    entry takes that remainder, so it sums to 1.

    Examples
    --------
    >>> p = lognormal_week_probabilities()
    >>> round(float(p[0]), 6), round(float(p.sum()), 12)
    (0.5, 1.0)
    """
    if sdlog <= 0 or not 0 < tail < 1:
        raise InvalidParameterError(
            f"need sdlog > 0 and 0 < tail < 1, got sdlog={sdlog!r}, tail={tail!r}"
        )
    z_tail = -float(special.ndtri(tail))
    n_bins = max(1, math.ceil(math.exp(meanlog + z_tail * sdlog)))
    edges = np.arange(1, n_bins, dtype=float)
    cdf = special.ndtr((np.log(edges) - meanlog) / sdlog)
    return np.diff(np.concatenate(([0.0], cdf, [1.0])))


def spread_outbreaks(
    sizes: ArrayLike,
    starts: ArrayLike,
    n_weeks: int,
    rng: np.random.Generator,
    *,
    meanlog: float = 0.0,
    sdlog: float = 0.5,
) -> NDArray[np.int64]:
    """Spread each outbreak's cases over the weeks after its start.

    Parameters
    ----------
    sizes : array_like of int, shape (n_outbreaks,)
        Cases of each outbreak.
    starts : array_like of int, shape (n_outbreaks,)
        1-based start week of each outbreak (1..n_weeks).
    n_weeks : int
        Length of the series; cases falling after it are dropped.
    rng : numpy.random.Generator
        Source of randomness.
    meanlog, sdlog : float
        The log-normal delay (weeks after the start) of each case, floored.

    Returns
    -------
    ndarray of int64, shape (n_outbreaks, n_weeks)
        Cases of each outbreak in each week.

    Examples
    --------
    >>> out = spread_outbreaks([10, 0], [2, 1], 6, np.random.default_rng(1))
    >>> int(out[0].sum()) <= 10, int(out[0, 0]), int(out[1].sum())
    (True, 0, 0)
    """
    sizes_arr = np.asarray(sizes, dtype=np.int64).reshape(-1)
    starts_arr = np.asarray(starts, dtype=np.int64).reshape(-1)
    if sizes_arr.shape != starts_arr.shape:
        raise ShapeError(
            f"sizes and starts differ in length ({sizes_arr.size} vs {starts_arr.size}); "
            "give one start week per outbreak"
        )
    if sizes_arr.size and (
        sizes_arr.min() < 0 or starts_arr.min() < 1 or starts_arr.max() > n_weeks
    ):
        raise InvalidParameterError(
            f"outbreak sizes must be >= 0 and starts within 1..{n_weeks}, got sizes "
            f"min {sizes_arr.min()}, starts {starts_arr.min()}..{starts_arr.max()}"
        )
    probs = lognormal_week_probabilities(meanlog, sdlog)
    by_delay = rng.multinomial(sizes_arr, probs) if sizes_arr.size else np.zeros((0, probs.size))
    out = np.zeros((sizes_arr.size, n_weeks + probs.size), dtype=np.int64)
    rows = np.arange(sizes_arr.size)[:, None]
    cols = (starts_arr - 1)[:, None] + np.arange(probs.size)[None, :]
    out[rows, cols] = by_delay
    return out[:, :n_weeks]


def inject_outbreaks(
    counts: ArrayLike,
    starts: ArrayLike,
    k: ArrayLike,
    rng: np.random.Generator,
    *,
    baseline_sd: ArrayLike | None = None,
    meanlog: float = 0.0,
    delay_sdlog: float = 0.5,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Add Noufaily-style outbreaks to any weekly count series (closed-loop evaluation).

    Use it on weekly cases from the population twin (or real data): outbreak ``i`` starts
    in week ``starts[i]`` of series ``i`` and has ``Poisson(k[i] * sd_i)`` cases spread by
    the log-normal delay, ``sd_i`` being the baseline standard deviation at its start.

    Parameters
    ----------
    counts : array_like, shape (n_series, n_weeks)
        Weekly counts (non-negative integers) of the background epidemic.
    starts : array_like of int, shape (n_series,)
        1-based start week of the outbreak in each series.
    k : array_like of float, shape (n_series,) or scalar
        Outbreak size in units of the baseline standard deviation.
    rng : numpy.random.Generator
        Source of randomness.
    baseline_sd : array_like, shape (n_series,), optional
        Baseline standard deviation at each start week. Default ``sqrt(max(y, 1))`` with
        ``y`` the count in the start week (a Poisson guess when no model is known).
    meanlog, delay_sdlog : float
        The log-normal delay of each case, in weeks after the start.

    Returns
    -------
    observed : ndarray of int64, shape (n_series, n_weeks)
        ``counts`` plus the outbreak cases.
    outbreak : ndarray of int64, shape (n_series, n_weeks)
        The outbreak cases alone.

    Examples
    --------
    >>> y, extra = inject_outbreaks([[5] * 10], [3], 4.0, np.random.default_rng(0))
    >>> bool((y - extra == 5).all()), int(extra[0, :2].sum())
    (True, 0)
    """
    base = np.asarray(counts, dtype=float)
    if base.ndim != 2:
        raise ShapeError(
            f"counts must be 2-D (n_series, n_weeks), got shape {base.shape}; use "
            "counts[None, :] for one series"
        )
    if not np.isfinite(base).all() or (base < 0).any() or (base != np.round(base)).any():
        raise InvalidParameterError(
            "counts must be finite non-negative integers; found "
            f"min {np.nanmin(base)!r} or non-integers"
        )
    n_series, n_weeks = base.shape
    starts_arr = np.broadcast_to(np.asarray(starts, dtype=np.int64), (n_series,))
    k_arr = np.broadcast_to(np.asarray(k, dtype=float), (n_series,))
    if ((starts_arr < 1) | (starts_arr > n_weeks)).any() or (k_arr < 0).any():
        raise InvalidParameterError(
            f"starts must lie in 1..{n_weeks} and k >= 0; got starts "
            f"{starts_arr.min()}..{starts_arr.max()}, k min {k_arr.min()}"
        )
    if baseline_sd is None:
        sd = np.sqrt(np.maximum(base[np.arange(n_series), starts_arr - 1], 1.0))
    else:
        sd = np.broadcast_to(np.asarray(baseline_sd, dtype=float), (n_series,))
    sizes = rng.poisson(k_arr * sd)
    outbreak = spread_outbreaks(sizes, starts_arr, n_weeks, rng, meanlog=meanlog, sdlog=delay_sdlog)
    return base.astype(np.int64) + outbreak, outbreak


def _negative_binomial(
    mu: NDArray[np.float64], phi: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.int64]:
    # Gamma-Poisson mixture: mean mu, variance phi * mu; Poisson where phi == 1.
    excess = phi - 1.0
    mixed = excess > 0
    scale = np.where(mixed, excess, 1.0)
    poisson_rate = np.where(mixed, rng.gamma(mu / scale, scale), mu)
    return rng.poisson(poisson_rate).astype(np.int64)


def _outbreak_cases(
    k_choices: Sequence[float],
    start_low: int,
    start_high: int,
    n_per_series: int,
    sd: NDArray[np.float64],
    design: NoufailyDesign,
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Cases ``(n_sc, n_reps, n_weeks)``, starts and k of ``n_per_series`` outbreaks each."""
    n_sc, n_reps, n_weeks = sd.shape
    shape = (n_sc, n_reps, n_per_series)
    starts = rng.integers(start_low, start_high + 1, size=shape)
    k = rng.choice(np.asarray(k_choices, dtype=float), size=shape)
    sd_start = np.take_along_axis(sd, starts - 1, axis=2)
    sizes = rng.poisson(k * sd_start)
    spread = spread_outbreaks(
        sizes.reshape(-1),
        starts.reshape(-1),
        n_weeks,
        rng,
        meanlog=design.delay_meanlog,
        sdlog=design.delay_sdlog,
    )
    cases = spread.reshape(n_sc, n_reps, n_per_series, n_weeks).sum(axis=2)
    return cases, starts, k


def simulate_noufaily(
    n_reps: int,
    seed: int | np.random.Generator,
    *,
    scenarios: Sequence[NoufailyScenario] | None = None,
    design: NoufailyDesign | None = None,
) -> SimulatedSurveillance:
    """Simulate replicate series of the Noufaily et al. (2013) design, all at once.

    Parameters
    ----------
    n_reps : int
        Replicate series per scenario.
    seed : int or numpy.random.Generator
        Seed (or generator) of the whole simulation; the same seed gives the same series.
    scenarios : sequence of NoufailyScenario, optional
        Scenarios to simulate (default all 42 of :data:`NOUFAILY_SCENARIOS`).
    design : NoufailyDesign, optional
        Lengths, windows and outbreak sizes (default the paper's).

    Returns
    -------
    SimulatedSurveillance
        Arrays of shape ``(n_scenarios, n_reps, n_weeks)``.

    Raises
    ------
    InvalidParameterError
        If ``n_reps < 1`` or no scenario is given.

    Examples
    --------
    >>> sim = simulate_noufaily(3, seed=1, scenarios=NOUFAILY_SCENARIOS[:2])
    >>> sim.observed.shape, int(sim.start[..., :312].sum())
    ((2, 3, 624), 0)
    >>> bool((sim.current[..., :575] == 0).all())
    True
    """
    chosen = tuple(NOUFAILY_SCENARIOS if scenarios is None else scenarios)
    design = NoufailyDesign() if design is None else design
    if n_reps < 1 or not chosen:
        raise InvalidParameterError(
            f"need n_reps >= 1 and at least one scenario, got n_reps={n_reps}, "
            f"{len(chosen)} scenarios"
        )
    root = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    baseline_rng, past_rng, current_rng = root.spawn(3)
    n_weeks = design.n_weeks
    mu = np.stack([s.mean_counts(n_weeks) for s in chosen])[:, None, :]
    phi = np.array([s.phi for s in chosen])[:, None, None]
    shape = (len(chosen), n_reps, n_weeks)
    mu_full = np.broadcast_to(mu, shape)
    baseline = _negative_binomial(mu_full, np.broadcast_to(phi, shape), baseline_rng)
    sd = np.broadcast_to(np.sqrt(phi * mu), shape)
    first, last = design.past_window
    past, past_starts, _ = _outbreak_cases(
        design.past_k, first, last, design.n_past_outbreaks, sd, design, past_rng
    )
    current, current_starts, current_k = _outbreak_cases(
        design.current_k, n_weeks - design.n_current + 1, n_weeks, 1, sd, design, current_rng
    )
    start = np.zeros(shape, dtype=bool)
    for starts in (past_starts, current_starts):
        np.put_along_axis(start, starts - 1, True, axis=2)
    return SimulatedSurveillance(
        scenarios=chosen,
        design=design,
        baseline=baseline,
        past=past,
        current=current,
        start=start,
        current_start=current_starts[..., 0].astype(np.int64),
        current_k=current_k[..., 0],
    )
