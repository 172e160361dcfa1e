"""The exact Kalman filter for linear-Gaussian systems, batched: the reference filter.

Pure functions on means ``(b, d)`` and covariances ``(b, d, d)`` (a leading batch axis of
independent filters), as in the ``particles`` library's Kalman module.
"""

from __future__ import annotations

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import ShapeError

__all__ = ["kalman_predict", "kalman_update"]


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
