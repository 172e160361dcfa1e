"""Probabilistic forecast of ICU demand per region from what a nation observes.

A national planner sees, per region and day, the hospital admissions, the new ICU
admissions and the ICU occupancy so far; it does not see the epidemic's future. This
module turns those series into forecast paths of ICU occupancy, the input of
:func:`~healthtwin.population.allocation.allocate`:

1. **Growth** of daily hospital admissions over the last ``window_days`` days, per
   region, from a Poisson log-linear model ``E[y_t] = L exp(r t)`` (``t = 0`` the last
   day). The growth rate ``r`` is the posterior mode under a normal prior centred on the
   *national* growth rate (the same fit on the nation's summed admissions) with SD
   ``between_region_sd_per_day``: a region with few admissions borrows the nation's
   trend instead of extrapolating its own noise (partial pooling), and a region with
   many keeps its own. Its posterior SD, inflated by the series' Pearson dispersion
   (quasi-Poisson, at least 1), is the growth uncertainty; the level ``L`` is the
   profile estimate ``(sum y + 1/2) / sum exp(r t)``, uncertain as a Gamma with that
   count.
2. **ICU admissions** are a share ``rho`` of admissions: per region
   ``(icu + k rho_nation) / (admissions + k)`` over the window with ``k =
   pooling_admissions`` (shrunk to the nation's share, itself shrunk to ``icu_share_prior``
   when the nation has seen few admissions).
3. **Paths**: each path draws ``r`` and ``L``, damps the growth by ``damping_per_day``
   a day (a damped trend: an epidemic does not grow for ever; growth halves in about
   ``log 0.5 / log damping`` days), draws Poisson ICU admissions each day, and keeps
   each ICU patient a geometric number of days with mean ``icu_stay_days`` (the current
   occupancy too). Occupancy is counted at the end of each day, as the epidemic reports it.

The forecast is checked for calibration against the epidemic model's own future in
``tests/validation/test_icu_planner.py`` (90 % bands cover 0.88-0.95 a week ahead).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> days = np.arange(21)
>>> admissions = rng.poisson(5.0 * np.exp(0.08 * days))[None, :, None].astype(float)
>>> icu = rng.binomial(admissions.astype(int), 0.2).astype(float)
>>> occupancy = np.full_like(admissions, 8.0)
>>> f = forecast_icu_demand(admissions, icu, occupancy, days_ahead=10, icu_stay_days=8.0,
...                         icu_share_prior=0.2, paths=200, rng=rng)
>>> f.paths.shape, bool(0.03 < f.growth_per_day[0, 0] < 0.13)
((1, 200, 10, 1), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["IcuForecast", "forecast_icu_demand", "pooled_growth"]

_NEWTON_STEPS = 30


@dataclass(frozen=True)
class IcuForecast:
    """Forecast paths of ICU occupancy and the estimates behind them.

    Attributes
    ----------
    paths : ndarray, shape (S, K, days_ahead, R)
        ICU occupancy (people at the end of each day) per series, path, day and region.
    growth_per_day, growth_sd_per_day : ndarray, shape (S, R)
        Posterior mode and SD of each region's admissions growth rate (per day).
    icu_share : ndarray, shape (S, R)
        Share of admissions that need intensive care, shrunk to the nation's.
    """

    paths: FloatArray
    growth_per_day: FloatArray
    growth_sd_per_day: FloatArray
    icu_share: FloatArray

    def quantile(self, q: float | npt.ArrayLike) -> FloatArray:
        """Quantiles over the paths, shape ``(S, days_ahead, R)`` (or ``(Q, S, ...)``)."""
        return np.asarray(np.quantile(self.paths, np.asarray(q, dtype=float), axis=1))


def pooled_growth(
    counts: npt.ArrayLike,
    *,
    prior_mean: npt.ArrayLike = 0.0,
    prior_sd: float = 0.2,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Growth rate of daily counts under ``E[y_t] = L exp(r t)`` with a normal prior on ``r``.

    Parameters
    ----------
    counts : ndarray, shape (..., W)
        Daily counts over a window, the last day last (``t = -(W-1) .. 0``).
    prior_mean : float or ndarray broadcastable to ``counts.shape[:-1]``
        Prior mean of ``r`` (per day).
    prior_sd
        Prior SD of ``r`` (per day, > 0).

    Returns
    -------
    growth, sd, dispersion : ndarray, shape ``counts.shape[:-1]``
        Posterior mode of ``r``, its SD (from the curvature, times the square root of the
        dispersion) and the Pearson dispersion of the fit (at least 1).

    Examples
    --------
    >>> y = np.round(100 * np.exp(0.1 * np.arange(-13, 1)))
    >>> r, sd, _ = pooled_growth(y)
    >>> round(float(r), 3), bool(sd < 0.01)
    (0.1, True)
    """
    y = np.asarray(counts, dtype=float)
    if y.ndim < 1 or y.shape[-1] < 2:
        raise ShapeError(f"counts need a window of >= 2 days on the last axis; got {y.shape}")
    if not np.isfinite(y).all() or (y < 0).any():
        raise InvalidInputError("counts must be finite and >= 0")
    if not prior_sd > 0:
        raise InvalidParameterError(f"prior_sd must be > 0; got {prior_sd}")
    w = y.shape[-1]
    t = np.arange(-(w - 1), 1, dtype=float)
    total = y.sum(axis=-1)
    t_bar_y = np.divide((y * t).sum(axis=-1), total, out=np.zeros_like(total), where=total > 0)
    mean = np.broadcast_to(np.asarray(prior_mean, dtype=float), total.shape)
    precision = 1.0 / prior_sd**2
    r = mean.copy()
    curvature = np.full_like(total, precision)
    for _ in range(_NEWTON_STEPS):
        weights = np.exp(r[..., None] * t)
        weights /= weights.sum(axis=-1, keepdims=True)
        t_bar = (weights * t).sum(axis=-1)
        var_t = (weights * t**2).sum(axis=-1) - t_bar**2
        gradient = total * (t_bar_y - t_bar) - precision * (r - mean)
        curvature = total * var_t + precision
        step = gradient / curvature
        r = r + np.clip(step, -0.5, 0.5)
        if np.all(np.abs(step) < 1e-10):
            break
    weights = np.exp(r[..., None] * t)
    level = (total + 0.5) / weights.sum(axis=-1)
    fitted = level[..., None] * weights
    pearson = ((y - fitted) ** 2 / fitted).sum(axis=-1) / max(w - 2, 1)
    dispersion = np.clip(pearson, 1.0, 10.0)
    return r, np.sqrt(dispersion / curvature), dispersion


def _check_series(admissions: FloatArray, *others: FloatArray) -> None:
    if admissions.ndim != 3 or admissions.shape[1] < 1:
        raise ShapeError(f"admissions must be (series, days >= 1, regions); got {admissions.shape}")
    for other in others:
        if other.shape != admissions.shape:
            raise ShapeError(
                f"every series must have the admissions' shape {admissions.shape}; "
                f"got {other.shape}"
            )
    for values in (admissions, *others):
        if not np.isfinite(values).all() or (values < 0).any():
            raise InvalidInputError("observed series must be finite and >= 0")


def forecast_icu_demand(
    admissions: npt.ArrayLike,
    icu_admissions: npt.ArrayLike,
    icu_occupancy: npt.ArrayLike,
    *,
    days_ahead: int,
    icu_stay_days: float,
    icu_share_prior: float,
    paths: int,
    rng: np.random.Generator,
    window_days: int = 14,
    damping_per_day: float = 0.95,
    between_region_sd_per_day: float = 0.05,
    pooling_admissions: float = 20.0,
) -> IcuForecast:
    """Forecast paths of each region's ICU occupancy from the series observed so far.

    Parameters
    ----------
    admissions, icu_admissions, icu_occupancy : ndarray, shape (S, T, R)
        Observed daily hospital admissions, new ICU admissions and ICU occupancy (end of
        day) per series (for example one per replicate), day and region.
    days_ahead
        Days to forecast after the last observed day (>= 1).
    icu_stay_days
        Mean ICU stay (days, >= 1).
    icu_share_prior
        Share of admissions needing intensive care before any is seen, in [0, 1].
    paths
        Forecast paths per series (>= 1).
    rng
        Source of the paths.
    window_days
        Days of admissions the growth is fitted on (>= 2; fewer when less is observed).
    damping_per_day
        Factor on the growth rate per forecast day, in (0, 1].
    between_region_sd_per_day
        Prior SD of a region's growth around the nation's (> 0).
    pooling_admissions
        Pseudo-admissions that shrink a region's ICU share to the nation's (>= 0).

    Returns
    -------
    IcuForecast

    Raises
    ------
    ShapeError, InvalidInputError, InvalidParameterError
        Mismatched or negative series, or a parameter out of its range.
    """
    adm = np.asarray(admissions, dtype=float)
    icu = np.asarray(icu_admissions, dtype=float)
    occ = np.asarray(icu_occupancy, dtype=float)
    _check_series(adm, icu, occ)
    if days_ahead < 1 or paths < 1 or window_days < 2:
        raise InvalidParameterError(
            f"days_ahead and paths must be >= 1 and window_days >= 2; got {days_ahead}, "
            f"{paths} and {window_days}"
        )
    if not icu_stay_days >= 1.0 or not 0.0 <= icu_share_prior <= 1.0:
        raise InvalidParameterError(
            f"icu_stay_days must be >= 1 and icu_share_prior in [0, 1]; got {icu_stay_days} "
            f"and {icu_share_prior}"
        )
    if not 0.0 < damping_per_day <= 1.0 or pooling_admissions < 0:
        raise InvalidParameterError(
            f"damping_per_day must be in (0, 1] and pooling_admissions >= 0; got "
            f"{damping_per_day} and {pooling_admissions}"
        )
    n_series, n_days, n_regions = adm.shape
    if n_days < 2:
        # One day seen: no trend yet; the growth is the prior's (flat).
        adm = np.concatenate([adm, adm], axis=1)
        icu = np.concatenate([icu, icu], axis=1)
    window = adm[:, -window_days:]
    nation_r, _, _ = pooled_growth(window.sum(axis=2))
    r, sd, _ = pooled_growth(
        np.moveaxis(window, 1, 2),
        prior_mean=nation_r[:, None],
        prior_sd=between_region_sd_per_day,
    )
    seen = window.sum(axis=1)
    seen_icu = icu[:, -window_days:].sum(axis=1)
    nation_share = (seen_icu.sum(axis=1) + pooling_admissions * icu_share_prior) / (
        seen.sum(axis=1) + pooling_admissions
    )
    share = (seen_icu + pooling_admissions * nation_share[:, None]) / (seen + pooling_admissions)
    # Paths: growth and level per path, damped trend, Poisson ICU arrivals, geometric stays.
    t = np.arange(-(window.shape[1] - 1), 1, dtype=float)
    growth = r[:, None] + sd[:, None] * rng.standard_normal((n_series, paths, n_regions))
    weights = np.exp(r[..., None] * t).sum(axis=-1)  # (S, R)
    level = rng.gamma(seen + 0.5, 1.0, size=(paths, n_series, n_regions)).transpose(1, 0, 2)
    level = level / weights[:, None, :]
    damping = np.cumsum(damping_per_day ** np.arange(1, days_ahead + 1))  # (D,)
    rate = (share[:, None, None, :] * level[:, :, None, :]) * np.exp(
        growth[:, :, None, :] * damping[None, None, :, None]
    )
    stay = float(np.exp(-1.0 / icu_stay_days))
    current = np.broadcast_to(np.rint(occ[:, -1])[:, None, :], (n_series, paths, n_regions))
    current = current.astype(np.int64)
    out = np.empty((n_series, paths, days_ahead, n_regions))
    for d in range(days_ahead):
        current = rng.binomial(current, stay) + rng.poisson(np.minimum(rate[:, :, d], 1e7))
        out[:, :, d] = current
    return IcuForecast(out, r, sd, share)
