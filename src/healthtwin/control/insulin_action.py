"""Insulin on board: how much of a dose is still to act, by the exponential action curve.

The exponential curve of rapid-acting insulin (derived by D. Maksimovic for Loop and
OpenAPS, 2017) has activity ``A(t) = S / tau^2 * t * (1 - t / td) * exp(-t / tau)`` for
``0 <= t < td`` with peak time ``tp`` and duration ``td``::

    tau = tp (1 - tp / td) / (1 - 2 tp / td),  a = 2 tau / td,
    S   = 1 / (1 - a + (1 + a) exp(-td / tau))

and insulin on board ``IOB(t) = 1 - S (1 - a) ((t^2 / (tau td (1 - a)) - t / tau - 1)
exp(-t / tau) + 1)``, so that ``IOB(0) = 1``, ``IOB(td) = 0`` and ``-dIOB/dt = A``.

:func:`exponential_insulin` is the one implementation of the curve in the package; the
OpenAPS port (:mod:`healthtwin.control.oref0_iob`) uses it too, so its operations keep
the order of oref0's ``lib/iob/calculate.js`` (the dose multiplies first), which the
port needs to reproduce oref0's rounded outputs exactly.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["exponential_insulin", "insulin_activity", "insulin_on_board"]


def _shape(peak_min: float, duration_min: float) -> tuple[float, float, float]:
    if not 0 < 2 * peak_min < duration_min:
        raise InvalidParameterError(
            f"need 0 < 2 x peak < duration, got peak {peak_min} min, duration {duration_min} "
            "min; shorten the peak or lengthen the duration of action"
        )
    tau = peak_min * (1 - peak_min / duration_min) / (1 - 2 * peak_min / duration_min)
    a = 2 * tau / duration_min
    s = 1 / (1 - a + (1 + a) * math.exp(-duration_min / tau))
    return tau, a, s


def exponential_insulin(
    minutes_ago: npt.ArrayLike,
    dose_u: npt.ArrayLike = 1.0,
    peak_min: float = 75.0,
    duration_min: float = 300.0,
) -> tuple[FloatArray, FloatArray]:
    """Insulin on board and activity of doses given ``minutes_ago``, by the exponential curve.

    Parameters
    ----------
    minutes_ago
        Minutes since each dose; broadcast against ``dose_u``. Doses not given yet
        (``<= 0``) are all on board and not acting; doses ``>= duration_min`` ago are gone.
    dose_u
        Each dose, U (1 gives fractions of a dose).
    peak_min, duration_min
        Peak time ``tp`` and duration of action ``td``, minutes, ``0 < 2 tp < td``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(iob_u, activity_u_per_min)`` of the broadcast shape of the inputs.

    Raises
    ------
    InvalidParameterError
        The peak is not positive or not under half the duration.

    Examples
    --------
    >>> iob, act = exponential_insulin(np.array([0.0, 75.0, 300.0]), 2.0)
    >>> iob.round(3).tolist(), bool(act[1] > act[0])
    ([2.0, 1.345, 0.0], True)
    """
    t, dose = np.broadcast_arrays(
        np.asarray(minutes_ago, dtype=np.float64), np.asarray(dose_u, dtype=np.float64)
    )
    tau, a, s = _shape(peak_min, duration_min)
    end = duration_min
    decay = np.exp(-t / tau)
    activity = dose * (s / tau**2) * t * (1 - t / end) * decay
    iob = dose * (1 - s * (1 - a) * ((t**2 / (tau * end * (1 - a)) - t / tau - 1) * decay + 1))
    acting = (t > 0) & (t < end)
    iob = np.where(t <= 0, dose, np.where(acting, iob, 0.0))
    return np.asarray(iob), np.asarray(np.where(acting, activity, 0.0))


def insulin_on_board(
    minutes_ago: FloatArray | float, peak_min: float = 75.0, duration_min: float = 300.0
) -> FloatArray:
    """Fraction of a dose still on board ``minutes_ago`` after it was given.

    Examples
    --------
    >>> insulin_on_board(np.array([0.0, 300.0])).round(6).tolist()
    [1.0, 0.0]
    """
    return exponential_insulin(minutes_ago, 1.0, peak_min, duration_min)[0]


def insulin_activity(
    minutes_ago: FloatArray | float, peak_min: float = 75.0, duration_min: float = 300.0
) -> FloatArray:
    """Fraction of a dose acting per minute ``minutes_ago`` after it was given (1/min)."""
    return exponential_insulin(minutes_ago, 1.0, peak_min, duration_min)[1]
