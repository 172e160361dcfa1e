"""Farrington (1996) and Farrington flexible (Noufaily et al. 2013) outbreak detection.

For each monitored week ``t`` a quasi-Poisson log-linear model is fitted to the reference
weeks (see :mod:`healthtwin.surveillance.reference_weeks`)::

    log E[y_j] = a + b (j - t) + gamma_period(j),      Var(y_j) = phi E[y_j]

1. Fit (trend if ``trend``; a period factor if ``no_periods > 1``) and estimate the
   dispersion ``phi`` (floored at 1).
2. Reweight past outbreaks: with Anscombe residuals
   ``s_j = 3/2 (y_j^(2/3) - mu_j^(2/3)) / (mu_j^(1/6) sqrt(phi (1 - h_jj)))`` the weight is
   ``c s_j^-2`` when ``s_j > weights_threshold`` and ``c`` otherwise, ``c`` making them sum
   to ``n``; refit with these prior weights and re-estimate ``phi``.
3. Keep the trend only if its p-value is below ``p_threshold_trend`` and the prediction
   does not exceed the largest reference count; otherwise repeat 1-2 without it (only
   for the fits that drop it).
4. Bound ``U`` by ``threshold_method`` (:mod:`healthtwin.surveillance.thresholds`) with
   ``alpha`` one-sided; alarm when ``y_t > U``.
5. The limit54 rule: no alarm, and no bound, when fewer than ``limit54[0]`` cases were
   reported in the ``limit54[1]`` weeks up to and including ``t``.

All fits of a chunk of series and monitored weeks run together
(:func:`healthtwin.surveillance.glm.fit_period_trend`).

R compatibility (``r_compat=True``, the default). Each point was found by probing R
``surveillance`` 1.20.3 ``farringtonFlexible`` as a black box (its help pages and its
outputs on synthetic and real series, never its source); with them expected values, bounds
and scores agree with R to about 1e-13 relative on every shipped series and setting
(``tests/validation/test_surveillance_vs_r.py``):

* The GLM is iterated exactly as R's ``glm.fit`` (start ``mu = y + 0.1``, stop when the
  relative deviance change is below 1e-8), so it stops at the same iterate.
* ``phi`` (for the Anscombe residuals and the ``nbPlugin``/``muan``/``delta`` bounds) is
  ``max(1, sum_j w_j (y_j - mu_j)^2 / mu_j^2 / (n - p))`` with ``w_j = prior_j mu_j'`` the
  working weights of the last iteration (``mu'`` the means that iteration started from):
  R's ``summary.glm`` dispersion. The exact MLE with Pearson's statistic differs by up to
  1e-5 relative because of R's stopping rule.
* The dispersion behind the standard error of the prediction (``delta``, ``muan``) and
  the trend test uses the *prior* weights in place of the working weights:
  ``sum_j prior_j (y_j - mu_j)^2 / mu_j^2 / (n - p)``, not floored.
* The score is ``(y_t - mu0) / (U - mu0)`` for ``delta`` (Farrington's exceedance score) and
  ``(y_t - log mu0) / (U - log mu0)`` for ``nbPlugin`` and ``muan`` (R centres it on the
  linear predictor). It is reported also in weeks the limit54 rule silences.

``r_compat=False`` uses Pearson's dispersion ``max(1, sum prior (y - mu)^2 / mu / (n - p))``
of the final fit throughout (the papers' definition) and the score
``(y_t - mu0) / (U - mu0)`` for every threshold method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.surveillance.controls import FarringtonControl
from healthtwin.surveillance.glm import PeriodTrendFit, fit_period_trend
from healthtwin.surveillance.reference_weeks import ReferenceLayout, reference_layout
from healthtwin.surveillance.result import NOT_ENOUGH_HISTORY, Detection, empty_detection
from healthtwin.surveillance.thresholds import delta_bound, negative_binomial_quantile

__all__ = ["farrington"]

# Fits per chunk (monitored weeks x series x reference weeks) to bound memory.
_CHUNK_CELLS = 100_000


def farrington(
    observed: FloatArray,
    monitored: IntArray,
    *,
    dates: NDArray[np.datetime64] | None,
    control: FarringtonControl,
    method: str = "farrington-flexible",
) -> Detection:
    """Run the Farrington method on many series at once.

    Parameters
    ----------
    observed : ndarray of float64, shape (n_series, n_weeks)
        Counts, ``NaN`` where missing.
    monitored : ndarray of int64, shape (n_monitored,)
        1-based weeks.
    dates : ndarray of datetime64[D], shape (n_weeks,), or None
        Mondays for date-based reference weeks; None for index-based (52 a year).
    control : FarringtonControl
    method : str
        Name stored in the result.

    Returns
    -------
    Detection

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y = rng.poisson(10.0, size=(1, 300)).astype(float)
    >>> y[0, -1] = 40
    >>> d = farrington(y, np.array([299, 300]), dates=None, control=FarringtonControl())
    >>> d.alarm.tolist()
    [[False, True]]
    """
    out = empty_detection(method, monitored, observed.shape[0])
    layout = reference_layout(
        monitored,
        dates=dates,
        b=control.b,
        w=control.w,
        no_periods=control.no_periods,
        weeks_left_out=control.weeks_left_out,
    )
    out.reason[:, ~layout.enough] = NOT_ENOUGH_HISTORY
    groups = np.flatnonzero(layout.enough)
    if groups.size == 0:
        return out
    n_ref = layout.index.shape[1]
    step = max(1, _CHUNK_CELLS // max(1, groups.size * n_ref))
    for start in range(0, observed.shape[0], step):
        rows = slice(start, start + step)
        _run_chunk(out, observed, rows, monitored, groups, layout, control)
    return out


def _run_chunk(
    out: Detection,
    observed: FloatArray,
    rows: slice,
    monitored: IntArray,
    groups: IntArray,
    layout: ReferenceLayout,
    control: FarringtonControl,
) -> None:
    index, valid = layout.index[groups], layout.valid[groups]
    n_groups, n_ref = index.shape
    n_series = observed[rows].shape[0]
    shape = (n_groups, n_series, n_ref)
    y = observed[rows][:, index].transpose(1, 0, 2)  # (n_groups, n_series, n_ref)
    prior = (valid[:, None, :] & np.isfinite(y)).astype(float).reshape(-1, n_ref)
    y = np.where(prior > 0, y.reshape(-1, n_ref), 0.0)
    weeks = (index - (monitored[groups, None] - 1)).astype(float)
    x = np.broadcast_to(weeks[:, None, :], shape).reshape(-1, n_ref)
    period = np.broadcast_to(layout.period[groups][:, None, :], shape).reshape(-1, n_ref)
    data = _FitData(y, prior, x, period, control.no_periods)
    model = _model(data, np.full(y.shape[0], control.trend), control)
    if control.trend:
        largest = np.max(np.where(prior > 0, y, -np.inf), axis=1)
        drop = ~((model.trend_p < control.p_threshold_trend) & (model.mu0 <= largest))
        if drop.any():
            refit = _model(data.subset(drop), np.zeros(int(drop.sum()), bool), control)
            model = model.replace(drop, refit)
    current = observed[rows][:, monitored[groups] - 1].T  # (n_groups, n_series)
    model = model.reshape(n_groups, n_series)
    _threshold(out, rows, groups, model, current, observed[rows], monitored[groups], control)


class _FitData:
    """The reference weeks of every (monitored week, series) fit, one row per fit."""

    def __init__(
        self, y: FloatArray, prior: FloatArray, x: FloatArray, period: IntArray, n_periods: int
    ) -> None:
        self.y, self.prior, self.x, self.period = y, prior, x, period
        self.n_periods = n_periods

    def subset(self, which: BoolArray) -> _FitData:
        return _FitData(
            self.y[which], self.prior[which], self.x[which], self.period[which], self.n_periods
        )


@dataclass(frozen=True)
class _Model:
    """The final fit of each (week, series) pair and the quantities the bounds need."""

    mu0: FloatArray
    var_eta: FloatArray
    phi: FloatArray
    trend_p: FloatArray
    converged: BoolArray

    def replace(self, which: BoolArray, other: _Model) -> _Model:
        """This model with the fits ``which`` replaced by ``other``'s (in order)."""
        return _Model(
            _put(self.mu0, which, other.mu0),
            _put(self.var_eta, which, other.var_eta),
            _put(self.phi, which, other.phi),
            _put(self.trend_p, which, other.trend_p),
            _put(self.converged, which, other.converged),
        )

    def reshape(self, *shape: int) -> _Model:
        return _Model(
            self.mu0.reshape(shape),
            self.var_eta.reshape(shape),
            self.phi.reshape(shape),
            self.trend_p.reshape(shape),
            self.converged.reshape(shape),
        )


_Array = TypeVar("_Array", FloatArray, BoolArray)


def _put(values: _Array, which: BoolArray, replacement: _Array) -> _Array:
    out = values.copy()
    out[which] = replacement
    return out


def _model(data: _FitData, trend: BoolArray, control: FarringtonControl) -> _Model:
    # A diverging fit (exploding counts, a cliff in the baseline) overflows; it ends as a
    # non-finite bound, reported as "could not be fitted" instead of a warning.
    with np.errstate(all="ignore"):
        return _fit_model(data, trend, control)


def _fit_model(data: _FitData, trend: BoolArray, control: FarringtonControl) -> _Model:
    fit = fit_period_trend(data.y, data.prior, data.x, data.period, trend, data.n_periods)
    n_obs = np.sum(data.prior > 0, axis=1)
    df = np.maximum(n_obs - fit.rank, 1).astype(float)
    phi = _dispersion(data.y, fit, data.prior, df, control.r_compat)
    weights = data.prior
    if control.reweight:
        weights = _outbreak_weights(data.y, data.prior, fit, phi, control.weights_threshold)
        fit = fit_period_trend(data.y, weights, data.x, data.period, trend, data.n_periods)
        phi = _dispersion(data.y, fit, weights, df, control.r_compat)
    phi_se = phi
    if control.r_compat:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            phi_se = np.sum(weights * (data.y - fit.mu) ** 2 / fit.mu**2, axis=1) / df
    var_eta = phi_se * fit.var_intercept
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_stat = fit.slope / np.sqrt(phi_se * fit.var_slope)
    trend_p = np.where(np.isfinite(t_stat), 2.0 * stats.t.sf(np.abs(t_stat), df), np.nan)
    return _Model(np.exp(fit.intercept), var_eta, phi, trend_p, fit.converged)


def _dispersion(
    y: FloatArray, fit: PeriodTrendFit, prior: FloatArray, df: FloatArray, r_compat: bool
) -> FloatArray:
    """``max(1, phi)``: R's summary.glm dispersion (r_compat) or Pearson's statistic."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if r_compat:
            chi2 = np.sum(fit.working_weights * (y - fit.mu) ** 2 / fit.mu**2, axis=1)
        else:
            chi2 = np.sum(prior * (y - fit.mu) ** 2 / fit.mu, axis=1)
    return np.asarray(np.maximum(1.0, chi2 / df), dtype=float)


def _outbreak_weights(
    y: FloatArray,
    prior: FloatArray,
    fit: PeriodTrendFit,
    phi: FloatArray,
    threshold: float,
) -> FloatArray:
    """Prior weights that shrink weeks with large Anscombe residuals (past outbreaks)."""
    # Powers through cube roots: y^(2/3) = cbrt(y)^2, mu^(1/6) = sqrt(cbrt(mu)); pow is slow.
    root_y = np.cbrt(y)
    root_mu = np.cbrt(fit.mu)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        resid = (
            1.5
            * (root_y * root_y - root_mu * root_mu)
            / np.sqrt(root_mu * phi[:, None] * (1.0 - fit.hat))
        )
        raw = np.where(resid > threshold, 1.0 / (resid * resid), 1.0) * prior
        scale = prior.sum(axis=1) / raw.sum(axis=1)
    return np.asarray(raw * scale[:, None], dtype=float)


def _threshold(
    out: Detection,
    rows: slice,
    groups: IntArray,
    model: _Model,
    current: FloatArray,
    observed: FloatArray,
    t: IntArray,
    control: FarringtonControl,
) -> None:
    z = float(stats.norm.ppf(1.0 - control.alpha))
    mu0, phi = model.mu0, model.phi
    if control.threshold_method == "delta":
        tau = phi * mu0 + mu0**2 * model.var_eta
        upper = delta_bound(mu0, tau, z, control.powertrans)
    else:
        mean = mu0
        if control.threshold_method == "muan":
            mean = np.exp(np.log(mu0) + z * np.sqrt(model.var_eta))
        upper = negative_binomial_quantile(mean, phi, 1.0 - control.alpha)
    centre = mu0
    if control.r_compat and control.threshold_method != "delta":
        # R centres the score of the quantile methods on the linear predictor log(mu0).
        centre = np.log(mu0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        score = (current - centre) / (upper - centre)
    cases, weeks = control.limit54
    recent = _recent_cases(observed, t, weeks)  # (n_groups, n_series)
    few = recent < cases
    defined = np.isfinite(upper) & ~few
    block = np.ix_(np.arange(out.n_series)[rows], groups)
    out.expected[block] = np.where(defined, mu0, np.nan).T
    out.upperbound[block] = np.where(defined, upper, np.nan).T
    out.score[block] = score.T
    out.alarm[block] = (defined & (current > upper)).T
    out.defined[block] = defined.T
    reason = np.where(
        few,
        f"limit54: fewer than {cases} cases in the {weeks} weeks up to t",
        np.where(np.isfinite(upper), "", "no bound: the model could not be fitted"),
    )
    out.reason[block] = reason.T


def _recent_cases(observed: FloatArray, t: IntArray, weeks: int) -> FloatArray:
    """Cases in the ``weeks`` weeks up to and including each ``t``, shape (n_t, n_series)."""
    cumulative = np.concatenate(
        [np.zeros((observed.shape[0], 1)), np.cumsum(np.nan_to_num(observed), axis=1)], axis=1
    )
    first = np.maximum(t - weeks, 0)
    return np.asarray((cumulative[:, t] - cumulative[:, first]).T, dtype=float)
