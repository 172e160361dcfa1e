"""Upper bounds of the Farrington methods from a fitted baseline model.

With ``mu0`` the predicted mean of the current week, ``v = Var(log mu0_hat)`` the
variance of its linear predictor, ``phi`` the dispersion and ``z`` the ``1 - alpha``
standard normal quantile:

* ``delta`` (Farrington et al. 1996): the prediction error ``y0 - mu0`` has variance
  ``tau = phi mu0 + mu0^2 v``; on the scale of the power transform ``y^q`` (``q`` = 2/3,
  1/2 or 1) the delta method gives ``U = (mu0^q + z q mu0^(q-1) sqrt(tau))^(1/q)``.
* ``nbPlugin`` (Noufaily et al. 2013): the ``1 - alpha`` quantile of a negative binomial
  with mean ``mu0`` and variance ``phi mu0`` (Poisson when ``phi = 1``).
* ``muan``: the same quantile with ``mu0`` replaced by the upper ``1 - alpha`` limit of
  its asymptotic normal distribution on the log scale, ``exp(log mu0 + z sqrt(v))``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from healthtwin.core.types import FloatArray

__all__ = ["POWERS", "delta_bound", "negative_binomial_quantile"]

POWERS = {"2/3": 2.0 / 3.0, "1/2": 0.5, "none": 1.0}


def delta_bound(mu0: FloatArray, tau: FloatArray, z: float, powertrans: str) -> FloatArray:
    """Upper bound of the delta method on the power-transformed scale.

    Examples
    --------
    >>> import numpy as np
    >>> float(delta_bound(np.array(4.0), np.array(4.0), 2.0, "none"))
    8.0
    """
    q = POWERS[powertrans]
    with np.errstate(divide="ignore", invalid="ignore"):
        base = mu0**q + z * q * mu0 ** (q - 1.0) * np.sqrt(tau)
        return np.asarray(np.where(base > 0, base, 0.0) ** (1.0 / q), dtype=float)


def negative_binomial_quantile(mean: FloatArray, phi: FloatArray, level: float) -> FloatArray:
    """The ``level`` quantile of a count with this mean and variance ``phi * mean``.

    Examples
    --------
    >>> import numpy as np
    >>> negative_binomial_quantile(np.array([2.0, 2.0]), np.array([1.0, 3.0]), 0.95).tolist()
    [5.0, 7.0]
    """
    mean = np.asarray(mean, dtype=float)
    phi = np.asarray(phi, dtype=float)
    poisson = phi <= 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        size = mean / np.where(poisson, 1.0, phi - 1.0)
        nb = stats.nbinom.ppf(level, size, size / (size + mean))
    return np.asarray(np.where(poisson, stats.poisson.ppf(level, mean), nb), dtype=float)
