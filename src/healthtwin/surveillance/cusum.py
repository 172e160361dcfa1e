"""Poisson CUSUM on standardised counts (Rossi, Lampugnani & Marchi 1999; Höhle & Paul 2008).

With in-control mean ``m``, the count ``y`` of a monitored week is standardised
(``trans``): ``standard`` ``x = (y - m) / sqrt(m)``; ``rossi``
``x = (y - 3m + 2 sqrt(y m)) / (2 sqrt(m))`` (Rossi's approximately normal transform);
``anscombe`` ``x = 3/2 (y^(2/3) - m^(2/3)) / m^(1/6)`` (the Poisson Anscombe residual);
``none`` ``x = y``. The one-sided CUSUM ``S_t = max(0, S_{t-1} + x_t - k)`` starts at 0
before the first monitored week. The upper bound of week ``t`` is the count that would make
``S_t`` reach ``h`` (the ``x`` equal to ``h + k - S_{t-1}``, transformed back).

``r_compat=True`` (the default) follows R ``surveillance`` 1.20.3 ``cusum`` (its help page,
and outputs checked in ``tests/validation/test_surveillance_vs_r.py``):

* ``m`` None: the mean of *all* weeks before the first monitored week (``baseline`` is
  ignored); ``m`` given: that value;
* an alarm when ``S_t >= h``, and the CUSUM is **not** reset after an alarm (alarms go on
  until ``S_t`` falls below ``h``);
* the ``standard`` bound is rounded up to a whole count, and bounds are at least 0.

``r_compat=False`` restarts the CUSUM at 0 after each alarm (Page's scheme as usually run
in practice), alarms when ``S_t > h``, keeps bounds continuous, and estimates ``m`` from the
``baseline`` weeks before the first monitored week, or from the monitored weeks themselves
when ``baseline`` is None. R's bound for ``trans="none"`` is not reproduced.
"""

from __future__ import annotations

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.surveillance.controls import CusumControl
from healthtwin.surveillance.result import NOT_ENOUGH_HISTORY, Detection, empty_detection

__all__ = ["cusum"]


def cusum(observed: FloatArray, monitored: IntArray, *, control: CusumControl) -> Detection:
    """Run the CUSUM on many series at once.

    Parameters
    ----------
    observed : ndarray of float64, shape (n_series, n_weeks)
    monitored : ndarray of int64, shape (n_monitored,)
        Consecutive or not, the CUSUM accumulates over them in order.
    control : CusumControl

    Returns
    -------
    Detection
        ``score`` is ``S_t``, ``expected`` the in-control mean.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[4.0, 4, 4, 4, 12, 12]])
    >>> d = cusum(y, np.arange(1, 7), control=CusumControl(m=4.0))
    >>> d.alarm.astype(int).tolist()
    [[0, 0, 0, 0, 1, 1]]
    """
    out = empty_detection("cusum", monitored, observed.shape[0])
    mean = _in_control_mean(observed, monitored, control)
    if mean is None:
        out.reason[:] = NOT_ENOUGH_HISTORY
        return out
    state = np.zeros(observed.shape[0])
    m = mean
    restart = not control.r_compat
    for j, t in enumerate(monitored.tolist()):
        y = observed[:, t - 1]
        x = _standardise(y, m, control.trans)
        total = np.maximum(0.0, state + np.nan_to_num(x) - control.k)
        alarm = total >= control.h if control.r_compat else total > control.h
        bound = _bound(m, control.h + control.k - state, control.trans)
        if control.r_compat:
            if control.trans == "standard":
                bound = np.ceil(bound)
            bound = np.maximum(bound, 0.0)
        out.upperbound[:, j] = bound
        out.expected[:, j] = m
        out.score[:, j] = total
        out.alarm[:, j] = alarm & np.isfinite(y)
        out.defined[:, j] = np.isfinite(m)
        state = np.where(alarm & restart, 0.0, total)
    out.reason[~out.defined] = "undefined: no in-control mean"
    return out


def _in_control_mean(
    observed: FloatArray, monitored: IntArray, control: CusumControl
) -> FloatArray | None:
    n_series = observed.shape[0]
    if control.m is not None:
        return np.full(n_series, control.m)
    first = int(monitored[0]) - 1
    if control.r_compat:
        if first < 1:
            return None
        values = observed[:, :first]
    elif control.baseline is None:
        values = observed[:, monitored - 1]
    else:
        if first < control.baseline:
            return None
        values = observed[:, first - control.baseline : first]
    with np.errstate(invalid="ignore"):
        mean = (
            np.nanmean(values, axis=1) if np.isfinite(values).any() else np.full(n_series, np.nan)
        )
    return np.where(mean > 0, mean, np.nan)


def _standardise(y: FloatArray, m: FloatArray, trans: str) -> FloatArray:
    if trans == "standard":
        return (y - m) / np.sqrt(m)
    if trans == "rossi":
        return (y - 3.0 * m + 2.0 * np.sqrt(y * m)) / (2.0 * np.sqrt(m))
    if trans == "anscombe":
        return np.asarray(1.5 * (np.cbrt(y) ** 2 - np.cbrt(m) ** 2) / m ** (1.0 / 6.0), dtype=float)
    return y


def _bound(m: FloatArray, room: FloatArray, trans: str) -> FloatArray:
    """The count ``y`` whose standardised value equals ``room``."""
    if trans == "standard":
        return m + np.sqrt(m) * room
    if trans == "anscombe":
        base = np.cbrt(m) ** 2 + room * m ** (1.0 / 6.0) / 1.5
        return np.asarray(np.maximum(base, 0.0) ** 1.5, dtype=float)
    if trans == "rossi":
        # Solve y + 2 sqrt(m) sqrt(y) - (3m + 2 sqrt(m) room) = 0 for sqrt(y) >= 0.
        c = 3.0 * m + 2.0 * np.sqrt(m) * room
        root = -np.sqrt(m) + np.sqrt(np.maximum(m + c, 0.0))
        return np.asarray(np.maximum(root, 0.0) ** 2, dtype=float)
    return np.asarray(room, dtype=float)
