"""Batched Poisson-family GLM (log link) by iteratively reweighted least squares.

Many fits share a few designs: fit ``(g, s)`` has the design ``X[g]`` (shape ``(n, p)``,
one per monitored week ``g``) and its own responses ``y[g, s]`` and prior weights
``prior[g, s]`` (series ``s``; a zero weight drops a row, which is how padding and missing
weeks are handled). With ``O[g, i] = vec(x_i x_i^T)`` every normal-equation matrix is one
matrix product, ``A[g, s] = (prior * mu)[g, s] @ O[g]``, so all fits advance together with
dense linear algebra and no Python loop over fits.

The iteration is the textbook Fisher scoring for a log-linear model, started from
``mu = y + 0.1`` and stopped per fit when the relative change of the deviance falls below
``tol`` (McCullagh & Nelder 1989, sec. 2.5; the same start and stopping rule as R's
``glm.control``). A column can be switched off per fit (``active`` False), which drops a
trend term or a factor level without data. The returned ``cov_unscaled`` is the inverse of
the last weighted normal-equation matrix, as in R's ``summary.glm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray

__all__ = ["GlmFit", "fit_loglinear"]


@dataclass(frozen=True)
class GlmFit:
    """Result of :func:`fit_loglinear` for ``(n_groups, n_series)`` fits.

    Attributes
    ----------
    beta : ndarray, shape (n_groups, n_series, p)
    mu : ndarray, shape (n_groups, n_series, n)
        Fitted means.
    working_weights : ndarray, shape (n_groups, n_series, n)
        ``prior * mu`` of the last iteration (the weights behind ``cov_unscaled``).
    cov_unscaled : ndarray, shape (n_groups, n_series, p, p)
        ``(X^T W X)^{-1}``; rows and columns of inactive terms are zero.
    rank : ndarray of int, shape (n_groups, n_series)
        Number of active terms.
    converged : ndarray of bool, shape (n_groups, n_series)
    """

    beta: FloatArray
    mu: FloatArray
    working_weights: FloatArray
    cov_unscaled: FloatArray
    rank: np.ndarray
    converged: BoolArray


def fit_loglinear(
    design: FloatArray,
    y: FloatArray,
    prior: FloatArray,
    active: BoolArray,
    *,
    max_iter: int = 25,
    tol: float = 1e-8,
) -> GlmFit:
    """Fit ``log E[y] = X beta`` with prior weights for many fits at once.

    Parameters
    ----------
    design : ndarray, shape (n_groups, n, p)
        One design per group, shared by the group's series.
    y : ndarray, shape (n_groups, n_series, n)
        Responses (any value where ``prior`` is 0).
    prior : ndarray, shape (n_groups, n_series, n)
        Prior weights; 0 drops a row.
    active : ndarray of bool, shape (n_groups, n_series, p)
        Terms in the model for each fit.
    max_iter, tol : int, float
        Iteration limit and relative deviance tolerance.

    Returns
    -------
    GlmFit

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((1, 4, 1))
    >>> y = np.array([[[1.0, 2.0, 3.0, 2.0]]])
    >>> fit = fit_loglinear(X, y, np.ones_like(y), np.ones((1, 1, 1), bool))
    >>> round(float(np.exp(fit.beta[0, 0, 0])), 6)
    2.0
    """
    n_groups, n_rows, p = design.shape
    outer = (design[:, :, :, None] * design[:, :, None, :]).reshape(n_groups, n_rows, p * p)
    y = np.where(prior > 0, y, 0.0)
    # matmul takes the BLAS path only for contiguous operands.
    design_t = np.ascontiguousarray(design.transpose(0, 2, 1))
    on = active.astype(float)
    pinned = np.eye(p)[None, None] * (1.0 - on)[..., None]
    mask = on[..., :, None] * on[..., None, :]
    mu = y + 0.1
    eta = np.log(mu)
    dev = _deviance(y, mu, prior)
    beta = np.zeros(active.shape)
    cov = np.zeros((*active.shape, p))
    weights = prior * mu
    converged = np.zeros(active.shape[:2], dtype=bool)
    for _ in range(max_iter):
        work = prior * mu
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = np.where(prior > 0, eta + (y - mu) / mu, 0.0)
        normal = np.matmul(work, outer).reshape(*work.shape[:2], p, p) * mask + pinned
        rhs = np.matmul(work * z, design) * on
        inverse = np.linalg.inv(normal) * mask
        new_beta = np.einsum("gspq,gsq->gsp", inverse, rhs)
        new_eta = np.matmul(new_beta, design_t)
        with np.errstate(over="ignore"):
            new_mu = np.exp(new_eta)
        new_dev = _deviance(y, new_mu, prior)
        live = ~converged
        beta = np.where(live[..., None], new_beta, beta)
        cov = np.where(live[..., None, None], inverse, cov)
        weights = np.where(live[..., None], work, weights)
        eta = np.where(live[..., None], new_eta, eta)
        mu = np.where(live[..., None], new_mu, mu)
        change = np.abs(new_dev - dev) / (np.abs(new_dev) + 0.1)
        dev = np.where(live, new_dev, dev)
        converged = converged | (live & (change < tol))
        if converged.all():
            break
    return GlmFit(beta, mu, weights, cov, active.sum(axis=-1), converged)


def _deviance(y: FloatArray, mu: FloatArray, prior: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
    return np.asarray(2.0 * np.sum(prior * term, axis=-1), dtype=float)
