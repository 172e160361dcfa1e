"""Batched Poisson-family GLM with a period factor and a linear trend, by IRLS.

Every Farrington model has the same form: for the reference weeks ``j`` of one fit,

    log mu_j = a_{k(j)} + b x_j

with ``k(j)`` the period of week ``j`` (one level when ``no_periods == 1``), ``x_j`` the
week relative to the monitored week and ``b`` the trend (fixed at 0 when the fit has no
trend). This is R's design ``intercept + trend + factor(period)`` reparametrised with one
intercept per period, so the column space, the fitted means and every iterate of iteratively
reweighted least squares (IRLS) are the same; ``a_0`` (the period of the current week) is
R's intercept.

With period sums of the working weights ``w`` and working responses ``z``,
``S0_k = sum w``, ``S1_k = sum w x``, ``S2_k = sum w x^2``, ``T0_k = sum w z``,
``T1_k = sum w x z``, the weighted normal equations are an arrowhead system solved in
closed form (Schur complement):

    D = sum_k (S2_k - S1_k^2 / S0_k),   b = sum_k (T1_k - S1_k T0_k / S0_k) / D,
    a_k = (T0_k - S1_k b) / S0_k,

and the unscaled covariance gives ``Var(a_0) = 1/S0_0 + (S1_0/S0_0)^2 / D``,
``Var(b) = 1/D`` and the leverages ``h_j = w_j (1/S0_k + (x_j - S1_k/S0_k)^2 / D)``.
Period sums are ``np.bincount`` over a flat (fit, period) index. After the first
iteration ``T0`` and ``T1`` need no pass over the rows: ``w z = w eta - w + prior y`` and
``eta = a_k + b x``, so ``T0_k = a_k S0_k + b S1_k - S0_k + sum prior y`` (likewise
``T1_k``). An iteration is then three bincounts, one ``exp`` and a few products per row,
whatever the number of periods.

The iteration is Fisher scoring for the log link (McCullagh & Nelder 1989, sec. 2.5)
started from ``mu = y + 0.1`` and stopped per fit when the relative change of the deviance
``|D_new - D_old| / (|D_new| + 0.1)`` falls below ``tol`` -- the start and stopping rule of
R's ``glm.fit``, so the fits stop at the same iterate as R's. Converged fits leave the
batch. ``working_weights`` are the weights of the last iteration (computed from the means
*before* its update), as R's ``glm`` object holds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray, IntArray

__all__ = ["PeriodTrendFit", "fit_period_trend"]

# Compact the batch when fewer than this fraction of its fits are still iterating.
_COMPACT_BELOW = 0.85
# A trend whose Schur complement is below this fraction of sum w x^2 is aliased.
_ALIASED = 1e-9


@dataclass(frozen=True)
class PeriodTrendFit:
    """Result of :func:`fit_period_trend` for ``n_fits`` fits of ``n`` rows.

    Attributes
    ----------
    intercept : ndarray, shape (n_fits,)
        ``a_0``, the log mean of period 0 at ``x = 0``.
    slope : ndarray, shape (n_fits,)
        ``b`` (0 without trend).
    mu : ndarray, shape (n_fits, n)
        Fitted means.
    working_weights : ndarray, shape (n_fits, n)
        ``prior * mu`` of the means the last iteration started from.
    var_intercept, var_slope : ndarray, shape (n_fits,)
        Unscaled variances of ``a_0`` and ``b`` (``NaN`` for ``b`` without trend).
    hat : ndarray, shape (n_fits, n)
        Leverages.
    rank : ndarray of int, shape (n_fits,)
        Estimated parameters (periods with data, plus the trend).
    converged : ndarray of bool, shape (n_fits,)
    """

    intercept: FloatArray
    slope: FloatArray
    mu: FloatArray
    working_weights: FloatArray
    var_intercept: FloatArray
    var_slope: FloatArray
    hat: FloatArray
    rank: IntArray
    converged: BoolArray


def fit_period_trend(
    y: FloatArray,
    prior: FloatArray,
    x: FloatArray,
    period: IntArray,
    trend: BoolArray,
    n_periods: int,
    *,
    max_iter: int = 25,
    tol: float = 1e-8,
) -> PeriodTrendFit:
    """Fit ``log E[y_j] = a_{period_j} + b x_j`` with prior weights, many fits at once.

    Parameters
    ----------
    y : ndarray, shape (n_fits, n)
        Counts (any finite value where ``prior`` is 0).
    prior : ndarray, shape (n_fits, n)
        Prior weights; 0 drops a row.
    x : ndarray, shape (n_fits, n)
        Trend covariate (weeks relative to the monitored week).
    period : ndarray of int, shape (n_fits, n)
        Period of each row, in ``0..n_periods-1``.
    trend : ndarray of bool, shape (n_fits,)
        Fits that include the trend.
    n_periods : int
    max_iter, tol : int, float
        Iteration limit and relative deviance tolerance (R's ``glm.control``).

    Returns
    -------
    PeriodTrendFit

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[2.0, 4.0, 6.0, 10.0]])
    >>> fit = fit_period_trend(y, np.ones_like(y), np.zeros_like(y),
    ...                        np.array([[0, 0, 1, 1]]), np.array([False]), 2)
    >>> round(float(np.exp(fit.intercept[0])), 6), fit.mu[0].round(6).tolist()
    (3.0, [3.0, 3.0, 8.0, 8.0])
    """
    n_fits = y.shape[0]
    k = n_periods
    y = np.where(prior > 0, y, 0.0)
    weighted_y = prior * y
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(y), 0.0)
    constant = np.sum(prior * (ylogy - y), axis=1)
    fits = _Batch(y, k)
    live = np.arange(n_fits)
    rows = _Rows(weighted_y, prior, x, period, k, None)
    mu = y + 0.1
    eta = np.log(mu)
    dev_old = 2.0 * (constant - _rowdot(weighted_y, eta) + _rowdot(prior, mu))
    spare = np.empty_like(mu)
    scratch = np.empty_like(mu)
    a = b = None
    for iteration in range(max_iter):
        w = np.multiply(rows.prior, mu, out=mu)
        s0 = rows.sums(w)
        s1 = rows.sums(np.multiply(w, rows.x, out=scratch))
        s2 = rows.sums(np.multiply(w, rows.x_squared, out=scratch))
        if a is None or b is None:
            # The start (log(y + 0.1)) is not of the model's form: sum w z row by row.
            wz = np.multiply(w, eta, out=eta)
            wz -= w
            wz += rows.weighted_y
            t0 = rows.sums(wz)
            t1 = rows.sums(np.multiply(wz, rows.x, out=scratch))
        else:
            # w z = w eta - w + prior y with eta = a_k + b x, so its period sums follow
            # from s0, s1, s2 without another pass over the rows.
            t0 = a * s0 + b[:, None] * s1 - s0 + rows.py_sums
            t1 = a * s1 + b[:, None] * s2 - s1 + rows.pyx_sums
        a, b, _ = _solve(s0, s1, s2, t0, t1, trend[live])
        eta = np.take(a.reshape(-1), rows.flat, out=eta)
        eta += np.multiply(b[:, None], rows.x, out=scratch)
        with np.errstate(over="ignore"):
            mu = np.exp(eta, out=spare)
        fitted_log = np.sum(a * rows.py_sums + b[:, None] * rows.pyx_sums, axis=1)
        dev = 2.0 * (constant[live] - fitted_log + _rowdot(rows.prior, mu))
        # Fits that converged earlier but are still in the batch are not updated.
        fresh = ~fits.converged[live]
        done = (np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < tol) | ~fresh
        fits.record(live[fresh], a[fresh], b[fresh], s0[fresh], s1[fresh], s2[fresh])
        finished = (done | (iteration == max_iter - 1)) & fresh
        fits.finish(live[finished], mu[finished], w[finished])
        fits.converged[live] = done
        dev_old = dev
        spare = w
        if done.all():
            break
        if done.mean() > 1.0 - _COMPACT_BELOW:
            keep = ~done
            live, dev_old, mu, eta = live[keep], dev_old[keep], mu[keep], eta[keep]
            a, b = a[keep], b[keep]
            spare, scratch = np.empty_like(mu), np.empty_like(mu)
            rows = _Rows(weighted_y, prior, x, period, k, live)
    return fits.result(x, period, trend)


def _rowdot(u: FloatArray, v: FloatArray) -> FloatArray:
    return np.asarray(np.einsum("ij,ij->i", u, v), dtype=float)


class _Rows:
    """The rows of the fits still iterating, with their flat (fit, period) bin index."""

    def __init__(
        self,
        weighted_y: FloatArray,
        prior: FloatArray,
        x: FloatArray,
        period: IntArray,
        n_periods: int,
        live: IntArray | None,
    ) -> None:
        self.n_periods = n_periods
        if live is not None:
            weighted_y, prior, x, period = weighted_y[live], prior[live], x[live], period[live]
        self.n_live = weighted_y.shape[0]
        self.weighted_y, self.prior, self.x = weighted_y, prior, x
        self.x_squared = x * x
        self.flat = period + n_periods * np.arange(self.n_live)[:, None]
        self.py_sums = self.sums(self.weighted_y)
        self.pyx_sums = self.sums(self.weighted_y * self.x)

    def sums(self, values: FloatArray) -> FloatArray:
        """Per-fit, per-period sums, shape (n_live, n_periods)."""
        total = np.bincount(
            self.flat.reshape(-1),
            weights=values.reshape(-1),
            minlength=self.n_live * self.n_periods,
        )
        return np.asarray(total, dtype=float).reshape(self.n_live, self.n_periods)


def _solve(
    s0: FloatArray,
    s1: FloatArray,
    s2: FloatArray,
    t0: FloatArray,
    t1: FloatArray,
    trend: BoolArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The arrowhead normal equations: period intercepts, slope and Schur complement."""
    has = s0 > 0
    safe = np.where(has, s0, 1.0)
    schur = np.sum(np.where(has, s2 - s1 * s1 / safe, 0.0), axis=1)
    score = np.sum(np.where(has, t1 - s1 * t0 / safe, 0.0), axis=1)
    scale = np.sum(s2, axis=1)
    sloped = trend & (schur > _ALIASED * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(sloped, score / np.where(sloped, schur, 1.0), 0.0)
    a = np.where(has, (t0 - s1 * b[:, None]) / safe, 0.0)
    return a, b, np.where(sloped, schur, np.nan)


class _Batch:
    """Per-fit state: parameters, the last period sums, final means and working weights."""

    def __init__(self, y: FloatArray, n_periods: int) -> None:
        n_fits = y.shape[0]
        self.a = np.zeros((n_fits, n_periods))
        self.b = np.zeros(n_fits)
        self.s0 = np.zeros((n_fits, n_periods))
        self.s1 = np.zeros((n_fits, n_periods))
        self.s2 = np.zeros((n_fits, n_periods))
        self.mu = np.zeros_like(y)
        self.working_weights = np.zeros_like(y)
        self.converged = np.zeros(n_fits, dtype=bool)

    def record(
        self,
        live: IntArray,
        a: FloatArray,
        b: FloatArray,
        s0: FloatArray,
        s1: FloatArray,
        s2: FloatArray,
    ) -> None:
        self.a[live], self.b[live] = a, b
        self.s0[live], self.s1[live], self.s2[live] = s0, s1, s2

    def finish(self, which: IntArray, mu: FloatArray, working_weights: FloatArray) -> None:
        """Keep the final means and working weights of fits that stop iterating."""
        self.mu[which] = mu
        self.working_weights[which] = working_weights

    def result(self, x: FloatArray, period: IntArray, trend: BoolArray) -> PeriodTrendFit:
        flat = period + self.a.shape[1] * np.arange(x.shape[0])[:, None]
        work = self.working_weights
        has = self.s0 > 0
        safe = np.where(has, self.s0, 1.0)
        _, _, schur = _solve(self.s0, self.s1, self.s2, self.s0, self.s1, trend)
        sloped = np.isfinite(schur)
        centre = self.s1 / safe
        with np.errstate(divide="ignore", invalid="ignore"):
            var_intercept = 1.0 / self.s0[:, 0] + np.where(sloped, centre[:, 0] ** 2 / schur, 0.0)
            leverage = np.take((1.0 / safe).reshape(-1), flat)
            if sloped.any():
                spread = x - np.take(centre.reshape(-1), flat)
                spread *= spread
                spread /= np.where(sloped, schur, np.inf)[:, None]
                leverage += spread
            hat = work * leverage
        rank = has.sum(axis=1) + sloped
        return PeriodTrendFit(
            intercept=self.a[:, 0],
            slope=self.b,
            mu=self.mu,
            working_weights=work,
            var_intercept=var_intercept,
            var_slope=1.0 / schur,
            hat=hat,
            rank=rank.astype(np.int64),
            converged=self.converged,
        )
