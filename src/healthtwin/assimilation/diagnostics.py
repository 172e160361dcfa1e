"""Is a filter honest? Consistency and calibration scores, vectorized over cases.

- NIS and NEES: the innovation ``v`` (or error ``e``) weighted by the covariance the filter
  claims, ``vᵀ S⁻¹ v``; for a consistent filter each is chi-square with ``k`` degrees of
  freedom, so the mean of ``n`` of them lies in :func:`chi2_interval` (Bar-Shalom, Li &
  Kirubarajan, Estimation with Applications to Tracking and Navigation, 2001, §5.4).
- Rank histogram: the truth's rank among the ``m`` members is uniform on ``0..m`` for a
  calibrated ensemble (Anderson, J. Climate 1996; Hamill, MWR 2001).
- Spread-skill: the ensemble spread, scaled by ``sqrt((m + 1) / m)``, equals the RMSE of
  the ensemble mean for a calibrated ensemble (Fortin et al., J. Hydrometeorology 2014).
- CRPS ``E|X - y| - ½ E|X - X'|`` of an ensemble, in ``O(m log m)`` by sorting, and in
  closed form for a Gaussian (Gneiting & Raftery, JASA 2007); the fair version
  (Ferro, QJRMS 2014) does not reward small ensembles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = [
    "SpreadSkill",
    "chi2_interval",
    "crps_ensemble",
    "crps_gaussian",
    "interval_coverage",
    "nees",
    "nis",
    "rank_histogram",
    "spread_skill",
]


class SpreadSkill(NamedTuple):
    """Ensemble spread (corrected for ensemble size) and RMSE of the ensemble mean."""

    spread: float
    rmse: float


def nis(innovation: FloatArray, innovation_cov: FloatArray) -> FloatArray:
    """Normalized innovation squared ``vᵀ S⁻¹ v`` per case.

    Parameters
    ----------
    innovation
        Observation minus predicted observation, shape ``(..., k)``.
    innovation_cov
        Predicted innovation covariance ``S``, shape ``(..., k, k)`` (broadcast).

    Returns
    -------
    FloatArray
        Shape ``(...)``; chi-square with ``k`` degrees of freedom if the filter is right.

    Examples
    --------
    >>> nis(np.array([[2.0, 0.0], [0.0, 3.0]]), np.diag([4.0, 9.0])).tolist()
    [1.0, 1.0]
    """
    return _normalized_squared(innovation, innovation_cov, "innovation")


def nees(error: FloatArray, cov: FloatArray) -> FloatArray:
    """Normalized estimation error squared ``eᵀ P⁻¹ e`` per case.

    Parameters
    ----------
    error
        Estimate minus truth, shape ``(..., d)``.
    cov
        Covariance ``P`` the filter reports, shape ``(..., d, d)`` (broadcast).

    Returns
    -------
    FloatArray
        Shape ``(...)``; chi-square with ``d`` degrees of freedom if the filter is right.

    Examples
    --------
    >>> float(nees(np.array([1.0, 1.0]), np.eye(2)))
    2.0
    """
    return _normalized_squared(error, cov, "error")


def chi2_interval(dof: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval for the mean of ``n`` independent chi-square(``dof``) values.

    ``n * mean`` is chi-square with ``n * dof`` degrees of freedom, so a consistent
    filter's mean NIS or NEES falls in this interval with probability ``level``.

    Examples
    --------
    >>> lo, hi = chi2_interval(1, 100)
    >>> round(lo, 2), round(hi, 2)
    (0.74, 1.3)
    """
    if dof < 1 or n < 1:
        raise InvalidParameterError(f"need dof >= 1 and n >= 1, got dof={dof}, n={n}")
    if not 0.0 < level < 1.0:
        raise InvalidParameterError(f"level must be in (0, 1), got {level!r}")
    tail = (1.0 - level) / 2.0
    lo, hi = stats.chi2.ppf([tail, 1.0 - tail], n * dof) / n
    return float(lo), float(hi)


def rank_histogram(
    ensemble: FloatArray, truth: FloatArray, rng: np.random.Generator | None = None
) -> IntArray:
    """Counts of the truth's rank among the members, over cases.

    Parameters
    ----------
    ensemble
        Members per case, shape ``(n_cases, m)``.
    truth
        Verifying value per case, shape ``(n_cases,)``.
    rng
        Breaks ties between the truth and equal members at random; needed only if ties
        occur.

    Returns
    -------
    IntArray
        Counts of ranks ``0..m``, shape ``(m + 1,)``; flat for a calibrated ensemble.

    Examples
    --------
    >>> rank_histogram(np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]), np.array([0, 1.5, 3]))
    array([1, 1, 1])
    """
    ens, y = _cases(ensemble, truth)
    below = np.sum(ens < y[:, None], axis=1)
    ties = np.sum(ens == y[:, None], axis=1)
    if np.any(ties):
        if rng is None:
            raise InvalidParameterError("the truth ties with members; pass rng to break ties")
        below = below + rng.integers(0, ties + 1)
    return np.bincount(below, minlength=ens.shape[1] + 1).astype(np.int64)


def spread_skill(ensemble: FloatArray, truth: FloatArray) -> SpreadSkill:
    """Ensemble spread and the RMSE of the ensemble mean over cases.

    The spread is ``sqrt((m + 1) / m * mean(var))`` (member variance with ``ddof=1``), so
    that it equals the RMSE in expectation when truth and members are exchangeable.

    Parameters
    ----------
    ensemble
        Members per case, shape ``(n_cases, m)`` with ``m >= 2``.
    truth
        Verifying value per case, shape ``(n_cases,)``.

    Examples
    --------
    >>> spread_skill(np.array([[0.0, 2.0], [0.0, 2.0]]), np.array([1.0, 1.0])).rmse
    0.0
    """
    ens, y = _cases(ensemble, truth)
    m = ens.shape[1]
    if m < 2:
        raise ShapeError(f"spread needs at least 2 members, got {m}")
    variance = float(np.mean(np.var(ens, axis=1, ddof=1)))
    rmse = float(np.sqrt(np.mean((ens.mean(axis=1) - y) ** 2)))
    return SpreadSkill(spread=float(np.sqrt((m + 1) / m * variance)), rmse=rmse)


def crps_ensemble(ensemble: FloatArray, truth: FloatArray, *, fair: bool = False) -> FloatArray:
    """Continuous ranked probability score of an ensemble forecast, per case.

    ``CRPS = E|X - y| - ½ E|X - X'|`` with the members as the distribution of ``X``; the
    second term comes from the sorted members, ``Σ x_(i) (2i - m - 1)``, in ``O(m log m)``.

    Parameters
    ----------
    ensemble
        Members per case, shape ``(n_cases, m)``.
    truth
        Verifying value per case, shape ``(n_cases,)``.
    fair
        Divide the second term by ``m (m - 1)`` instead of ``m²`` (Ferro 2014): unbiased
        for the CRPS of the distribution the members are drawn from.

    Returns
    -------
    FloatArray
        CRPS per case, shape ``(n_cases,)``, in the unit of ``truth``; lower is better.

    Examples
    --------
    >>> crps_ensemble(np.array([[0.0, 1.0]]), np.array([0.0])).tolist()
    [0.25]
    """
    ens, y = _cases(ensemble, truth)
    m = ens.shape[1]
    if fair and m < 2:
        raise ShapeError(f"the fair CRPS needs at least 2 members, got {m}")
    ordered = np.sort(ens, axis=1)
    ranks = 2.0 * np.arange(1, m + 1) - m - 1
    spread_term = np.sum(ordered * ranks, axis=1) / (m * (m - 1) if fair else m * m)
    return np.asarray(np.mean(np.abs(ens - y[:, None]), axis=1) - spread_term)


def crps_gaussian(mean: ArrayLike, sd: ArrayLike, truth: ArrayLike) -> FloatArray:
    """CRPS of a Gaussian forecast ``N(mean, sd²)`` in closed form (broadcast).

    ``sd * (z (2 Φ(z) - 1) + 2 φ(z) - 1 / √π)`` with ``z = (truth - mean) / sd``.

    Examples
    --------
    >>> round(float(crps_gaussian(0.0, 1.0, 0.0)), 4)
    0.2337
    """
    sd = np.asarray(sd, dtype=np.float64)
    if np.any(~(sd > 0)):
        raise InvalidParameterError(f"sd must be positive, got {sd.tolist()}")
    z = (np.asarray(truth, dtype=np.float64) - np.asarray(mean, dtype=np.float64)) / sd
    return np.asarray(
        sd * (z * (2.0 * stats.norm.cdf(z) - 1.0) + 2.0 * stats.norm.pdf(z) - 1.0 / np.sqrt(np.pi))
    )


def interval_coverage(lower: ArrayLike, upper: ArrayLike, truth: ArrayLike) -> float:
    """Fraction of cases whose truth lies in ``[lower, upper]`` (arrays broadcast).

    Examples
    --------
    >>> interval_coverage(np.zeros(4), np.ones(4), np.array([0.5, 1.0, 2.0, -1.0]))
    0.5
    """
    lo, hi, y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, truth))
    try:
        lo, hi, y = np.broadcast_arrays(lo, hi, y)
    except ValueError as err:
        raise ShapeError(f"lower, upper and truth do not broadcast: {err}") from err
    if y.size == 0 or not np.all(np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)):
        raise InvalidInputError("coverage needs at least one case and finite bounds and truth")
    if np.any(lo > hi):
        raise InvalidInputError(f"{int(np.sum(lo > hi))} interval(s) have lower > upper")
    return float(np.mean((lo <= y) & (y <= hi)))


def _normalized_squared(vector: FloatArray, cov: FloatArray, name: str) -> FloatArray:
    v = np.asarray(vector, dtype=np.float64)
    c = np.asarray(cov, dtype=np.float64)
    if v.ndim < 1 or c.ndim < 2 or c.shape[-2:] != (v.shape[-1], v.shape[-1]):
        raise ShapeError(
            f"{name} (..., k) and covariance (..., k, k) do not match: {v.shape} and {c.shape}"
        )
    try:
        solved = np.linalg.solve(c, v[..., None])[..., 0]
    except np.linalg.LinAlgError as err:
        raise InvalidInputError(f"the covariance is singular: {err}") from err
    return np.asarray(np.sum(v * solved, axis=-1))


def _cases(ensemble: FloatArray, truth: FloatArray) -> tuple[FloatArray, FloatArray]:
    ens = np.asarray(ensemble, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if ens.ndim != 2 or ens.shape[1] < 1 or y.shape != (ens.shape[0],):
        raise ShapeError(
            f"ensemble must be (n_cases, m) and truth (n_cases,), got {ens.shape} and {y.shape}"
        )
    if not (np.all(np.isfinite(ens)) and np.all(np.isfinite(y))):
        raise InvalidInputError("ensemble and truth must be finite")
    return ens, y
