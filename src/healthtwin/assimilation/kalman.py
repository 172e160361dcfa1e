"""The exact Kalman filter and smoother for linear-Gaussian systems, batched: the references.

Pure functions on means ``(b, d)`` and covariances ``(b, d, d)`` (a leading batch axis of
independent filters), as in the ``particles`` library's Kalman module.
:func:`rts_smoother` is the Rauch-Tung-Striebel fixed-interval smoother (Rauch, Tung &
Striebel, AIAA J 3:1445, 1965), the exact posterior the ensemble smoother is tested against.
"""

from __future__ import annotations

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["kalman_predict", "kalman_update", "rts_smoother"]


def kalman_predict(
    mean: FloatArray, cov: FloatArray, f: FloatArray, q: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Prior ``F m`` and ``F P F' + Q`` for every batch member.

    Examples
    --------
    >>> m, p = kalman_predict(np.zeros((1, 1)), np.eye(1)[None], np.eye(1) * 2, np.eye(1))
    >>> float(p[0, 0, 0])
    5.0
    """
    mean = np.atleast_2d(mean)
    return mean @ f.T, f @ cov @ f.T + q


def kalman_update(
    mean: FloatArray, cov: FloatArray, y: FloatArray, h: FloatArray, r: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and covariance after observing ``y = H x + N(0, R)``.

    Parameters
    ----------
    mean, cov
        Prior, shapes ``(b, d)`` and ``(b, d, d)``.
    y
        Observations, ``(b, k)`` or ``(k,)``.
    h, r
        Observation matrix ``(k, d)`` and noise covariance ``(k, k)``.

    Examples
    --------
    >>> m, p = kalman_update(np.zeros((1, 1)), np.eye(1)[None], np.ones(1), np.eye(1), np.eye(1))
    >>> float(m[0, 0]), float(p[0, 0, 0])
    (0.5, 0.5)
    """
    mean = np.atleast_2d(mean)
    if cov.shape != (mean.shape[0], mean.shape[1], mean.shape[1]):
        raise ShapeError(f"cov must be {(mean.shape[0], mean.shape[1], mean.shape[1])}")
    innovation = np.broadcast_to(y, (mean.shape[0], h.shape[0])) - mean @ h.T
    s = h @ cov @ h.T + r
    gain = np.linalg.solve(s, h @ cov).transpose(0, 2, 1)
    new_mean = mean + np.einsum("bdk,bk->bd", gain, innovation)
    eye = np.eye(mean.shape[1])
    ikh = eye - gain @ h
    # Joseph form: stays symmetric and positive semi-definite.
    new_cov = ikh @ cov @ ikh.transpose(0, 2, 1) + gain @ r @ gain.transpose(0, 2, 1)
    return new_mean, new_cov


def rts_smoother(
    y: FloatArray,
    mean0: FloatArray,
    cov0: FloatArray,
    f: FloatArray,
    q: FloatArray,
    h: FloatArray,
    r: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Smoothed means and covariances of ``x_t`` given all readings (Rauch-Tung-Striebel).

    The model is ``x_0 ~ N(mean0, cov0)``, ``x_{t+1} = F x_t + N(0, Q)`` and
    ``y_t = H x_t + N(0, R)`` for steps ``t = 0 .. T-1`` (the first reading sees ``x_0``).
    A missing reading component (NaN) is left out exactly, by a zero row of ``H`` for it.

    Parameters
    ----------
    y
        Readings ``(b, T, k)`` (or ``(T, k)`` for one series), NaN where missing.
    mean0, cov0
        Prior of ``x_0``, ``(d,)`` and ``(d, d)``.
    f, q
        Transition ``(d, d)`` and its noise covariance ``(d, d)``.
    h, r
        Observation matrix ``(k, d)`` and noise covariance ``(k, k)`` (diagonal where
        readings may be missing one component at a time).

    Returns
    -------
    tuple of ndarray
        Smoothed means ``(b, T, d)`` and covariances ``(b, T, d, d)``.

    Raises
    ------
    ShapeError
        When the matrices and readings do not fit together.
    InvalidInputError
        For infinite readings.

    Examples
    --------
    A random walk read at steps 0 and 2: the unread middle is their average.

    >>> y = np.array([[0.0], [np.nan], [2.0]])
    >>> m, p = rts_smoother(y, np.zeros(1), np.eye(1) * 1e6, np.eye(1), np.eye(1), np.eye(1),
    ...                     np.eye(1) * 1e-9)
    >>> round(float(m[0, 1, 0]), 6), round(float(p[0, 1, 0, 0]), 6)
    (1.0, 0.5)
    """
    obs = np.asarray(y, dtype=np.float64)
    obs = obs[None] if obs.ndim == 2 else obs
    d, k = np.shape(f)[0], np.shape(h)[0]
    shapes = {"mean0": (np.shape(mean0), (d,)), "cov0": (np.shape(cov0), (d, d))}
    shapes |= {"f": (np.shape(f), (d, d)), "q": (np.shape(q), (d, d))}
    shapes |= {"h": (np.shape(h), (k, d)), "r": (np.shape(r), (k, k))}
    wrong = {name: got for name, (got, want) in shapes.items() if got != want}
    if wrong or obs.ndim != 3 or obs.shape[2] != k:
        raise ShapeError(
            f"need y (b, T, {k}), mean0 ({d},), cov0/f/q ({d}, {d}), h ({k}, {d}), "
            f"r ({k}, {k}); got y {obs.shape} and {wrong}"
        )
    if np.isinf(obs).any():
        raise InvalidInputError("readings must be finite or NaN (missing), got an infinity")
    b, n_t = obs.shape[:2]
    pred_m, pred_p = np.empty((b, n_t, d)), np.empty((b, n_t, d, d))
    filt_m, filt_p = np.empty((b, n_t, d)), np.empty((b, n_t, d, d))
    mean = np.broadcast_to(np.asarray(mean0, dtype=np.float64), (b, d))
    cov = np.broadcast_to(np.asarray(cov0, dtype=np.float64), (b, d, d))
    for t in range(n_t):
        if t:
            mean, cov = kalman_predict(mean, cov, f, q)
        pred_m[:, t], pred_p[:, t] = mean, cov
        seen = np.isfinite(obs[:, t])  # (b, k)
        h_t = np.where(seen[:, :, None], h, 0.0)  # a missing component reads nothing
        innovation = np.where(seen, obs[:, t], 0.0) - np.einsum("bkd,bd->bk", h_t, mean)
        s = h_t @ cov @ h_t.transpose(0, 2, 1) + r
        gain = np.linalg.solve(s, h_t @ cov).transpose(0, 2, 1)  # (b, d, k)
        mean = mean + np.einsum("bdk,bk->bd", gain, innovation)
        ikh = np.eye(d) - gain @ h_t
        cov = ikh @ cov @ ikh.transpose(0, 2, 1) + gain @ r @ gain.transpose(0, 2, 1)
        filt_m[:, t], filt_p[:, t] = mean, cov
    smooth_m, smooth_p = filt_m.copy(), filt_p.copy()
    for t in range(n_t - 2, -1, -1):
        # G = P_f F' P_p(t+1)^-1, by a solve with the symmetric predicted covariance.
        g = np.linalg.solve(pred_p[:, t + 1], f @ filt_p[:, t]).transpose(0, 2, 1)
        smooth_m[:, t] += np.einsum("bij,bj->bi", g, smooth_m[:, t + 1] - pred_m[:, t + 1])
        smooth_p[:, t] += g @ (smooth_p[:, t + 1] - pred_p[:, t + 1]) @ g.transpose(0, 2, 1)
    return smooth_m, smooth_p
