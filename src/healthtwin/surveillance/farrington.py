"""Farrington (1996) and Farrington flexible (Noufaily et al. 2013) outbreak detection.

For each monitored week ``t`` a quasi-Poisson log-linear model is fitted to the reference
weeks (see :mod:`healthtwin.surveillance.reference_weeks`)::

    log E[y_j] = a + b (j - t) + gamma_period(j),      Var(y_j) = phi E[y_j]

1. Fit (trend if ``trend``; a period factor if ``no_periods > 1``); dispersion
   ``phi = max(1, sum w_j (y_j - mu_j)^2 / mu_j / (n - p))``.
2. Reweight past outbreaks: with Anscombe residuals
   ``s_j = 3/2 (y_j^(2/3) - mu_j^(2/3)) / (mu_j^(1/6) sqrt(phi (1 - h_jj)))`` the weight is
   ``c s_j^-2`` when ``s_j > weights_threshold`` and ``c`` otherwise, ``c`` making them sum
   to ``n``; refit with these prior weights and re-estimate ``phi``.
3. Keep the trend only if its p-value is below ``p_threshold_trend`` and the prediction
   does not exceed the largest reference count; otherwise repeat 1-2 without it.
4. Bound ``U`` by ``threshold_method`` (:mod:`healthtwin.surveillance.thresholds`) with
   ``alpha`` one-sided; alarm when ``y_t > U``.
5. The limit54 rule: no alarm, and no bound, when fewer than ``limit54[0]`` cases were
   reported in the ``limit54[1]`` weeks up to and including ``t``.

The score is ``(y_t - mu0) / (U - mu0)`` for ``delta`` (Farrington's exceedance score).

R compatibility (``r_compat=True``, the default; each point found by experiment against
R ``surveillance`` 1.20.3 ``farringtonFlexible``, see
``tests/validation/test_surveillance_vs_r.py``):

* The dispersion behind the standard error of the prediction (``delta``, ``muan``) and
  the trend test is R's after its prior weights have replaced the working weights:
  ``sum w_j (y_j - mu_j)^2 / mu_j^2 / (n - p)`` instead of the Pearson statistic above.
  With the Pearson value instead, R's delta bounds are missed by up to 1e-2 relative.
* Not reproduced yet: R's score for ``nbPlugin``/``muan`` (computed on another scale),
  R's choice of reference weeks by date (ours agrees on most weeks, not all), and a
  residual difference of up to 1e-4 relative in the delta bounds of some weeks.

``r_compat=False`` uses the Pearson dispersion throughout (the papers' definition).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.surveillance.controls import FarringtonControl
from healthtwin.surveillance.glm import GlmFit, fit_loglinear
from healthtwin.surveillance.reference_weeks import ReferenceLayout, reference_layout
from healthtwin.surveillance.result import NOT_ENOUGH_HISTORY, Detection, empty_detection
from healthtwin.surveillance.thresholds import delta_bound, negative_binomial_quantile

__all__ = ["farrington"]

# Fits per chunk (monitored weeks x series x reference weeks) to bound memory.
_CHUNK_CELLS = 2_000_000


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
    index = layout.index[groups]
    valid = layout.valid[groups]
    y = observed[rows][:, index].transpose(1, 0, 2)  # (n_groups, n_series, n_ref)
    prior = (valid[:, None, :] & np.isfinite(y)).astype(float)
    y = np.where(prior > 0, y, 0.0)
    design = _design(index, layout.period[groups], valid, monitored[groups], control.no_periods)
    active = np.broadcast_to(
        (np.einsum("gsn,gnp->gsp", prior, np.abs(design)) > 0), (*y.shape[:2], design.shape[2])
    ).copy()
    active[..., 1] &= control.trend
    model = _model(design, y, prior, active, control)
    if control.trend:
        keep = (model.trend_p < control.p_threshold_trend) & (model.mu0 <= y.max(axis=2))
        if not keep.all():
            active[..., 1] = keep
            refit = _model(design, y, prior, active, control)
            model = refit.where(~keep, model)
    current = observed[rows][:, monitored[groups] - 1].T  # (n_groups, n_series)
    _threshold(out, rows, groups, model, current, observed[rows], monitored[groups], control)


def _design(
    index: IntArray, period: IntArray, valid: BoolArray, t: IntArray, no_periods: int
) -> FloatArray:
    """Columns: intercept, weeks relative to ``t``, one dummy per period 1..no_periods-1."""
    n_groups, n_ref = index.shape
    design = np.zeros((n_groups, n_ref, 1 + no_periods))
    design[..., 0] = 1.0
    design[..., 1] = index - (t[:, None] - 1)
    for level in range(1, no_periods):
        design[..., 1 + level] = period == level
    return design * valid[..., None]


class _Model:
    """The final fit of each (week, series) pair and the quantities the bounds need."""

    def __init__(
        self,
        mu0: FloatArray,
        var_eta: FloatArray,
        phi: FloatArray,
        trend_p: FloatArray,
        converged: BoolArray,
    ) -> None:
        self.mu0 = mu0
        self.var_eta = var_eta
        self.phi = phi
        self.trend_p = trend_p
        self.converged = converged

    def where(self, condition: BoolArray, other: _Model) -> _Model:
        """Take this model where ``condition`` holds, ``other`` elsewhere."""
        return _Model(
            *(
                np.where(condition, mine, theirs)
                for mine, theirs in zip(self.fields(), other.fields(), strict=True)
            )
        )

    def fields(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
        return (self.mu0, self.var_eta, self.phi, self.trend_p, self.converged)


def _model(
    design: FloatArray,
    y: FloatArray,
    prior: FloatArray,
    active: BoolArray,
    control: FarringtonControl,
) -> _Model:
    fit = fit_loglinear(design, y, prior, active)
    n_obs = prior.sum(axis=2)
    df = np.maximum(n_obs - fit.rank, 1.0)
    phi = _pearson(y, fit.mu, prior, df)
    weights = prior
    if control.reweight:
        weights = _outbreak_weights(design, y, prior, fit, phi, control.weights_threshold)
        fit = fit_loglinear(design, y, weights, active)
        phi = _pearson(y, fit.mu, weights, df)
    phi_se = phi
    if control.r_compat:
        with np.errstate(divide="ignore", invalid="ignore"):
            phi_se = np.sum(weights * (y - fit.mu) ** 2 / fit.mu**2, axis=2) / df
    var_eta = phi_se * fit.cov_unscaled[..., 0, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = fit.beta[..., 1] / np.sqrt(phi_se * fit.cov_unscaled[..., 1, 1])
    trend_p = 2.0 * stats.t.sf(np.abs(t_stat), df)
    return _Model(np.exp(fit.beta[..., 0]), var_eta, phi, trend_p, fit.converged)


def _pearson(y: FloatArray, mu: FloatArray, weights: FloatArray, df: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.sum(weights * (y - mu) ** 2 / mu, axis=2)
    return np.asarray(np.maximum(1.0, chi2 / df), dtype=float)


def _outbreak_weights(
    design: FloatArray,
    y: FloatArray,
    prior: FloatArray,
    fit: GlmFit,
    phi: FloatArray,
    threshold: float,
) -> FloatArray:
    """Prior weights that shrink weeks with large Anscombe residuals (past outbreaks)."""
    p = design.shape[2]
    outer = (design[:, :, :, None] * design[:, :, None, :]).reshape(*design.shape[:2], p * p)
    quad = np.matmul(
        fit.cov_unscaled.reshape(*fit.cov_unscaled.shape[:2], p * p), outer.transpose(0, 2, 1)
    )
    hat = fit.working_weights * quad
    mu = fit.mu
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = (
            1.5
            * (y ** (2 / 3) - mu ** (2 / 3))
            / (mu ** (1 / 6) * np.sqrt(phi[..., None] * (1.0 - hat)))
        )
        raw = np.where(resid > threshold, resid**-2.0, 1.0) * prior
        scale = prior.sum(axis=2) / raw.sum(axis=2)
    return np.asarray(raw * scale[..., None], dtype=float)


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
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (current - mu0) / (upper - mu0)
    cases, weeks = control.limit54
    recent = _recent_cases(observed, t, weeks)  # (n_groups, n_series)
    few = recent < cases
    defined = np.isfinite(upper) & ~few
    sl = (rows, groups)
    block = np.ix_(np.arange(out.n_series)[rows], groups)
    del sl
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
