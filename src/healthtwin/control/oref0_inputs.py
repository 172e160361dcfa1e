"""What an OpenAPS rig computes before ``determine-basal``: glucose status and the IOB array.

* :func:`glucose_status` ports openaps/oref0 ``lib/glucose-get-last.js``: the latest CGM
  value (averaged with readings within 2.5 minutes of it) and three trends in mg/dL per
  5 min, each the mean of ``(now - then) / minutes * 5`` over the readings ~5 minutes ago
  (``delta``), 2.5-17.5 minutes ago (``short_avgdelta``) and 17.5-42.5 minutes ago
  (``long_avgdelta``).
* :func:`iob_array` follows ``lib/iob/index.js`` with ``lib/iob/total.js``: 48 ticks, one
  every 5 minutes from now, of insulin on board and activity from the doses given up to
  each tick, each with its zero-temp twin (the same history plus a 4-hour zero temp from
  one minute after now, as ``lib/iob/history.js`` adds it). As in ``history.js`` the
  running temp is cut at now, so the ticks project only insulin already given.

Two simplifications, both stated where they apply: the dose history is given as doses
(net basal of each delivery interval relative to the scheduled rate, and boluses), where
oref0 rebuilds it from pump records and splits temps into 0.05 U pieces; and the zero
temp is a -basal x 5 min dose every 5 minutes rather than 0.05 U pieces per 30 minutes.

Attribution: after openaps/oref0, MIT licence; see :mod:`healthtwin.control.oref0_iob`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from healthtwin.control.oref0_iob import (
    INSULIN_CURVES,
    IobData,
    LastTemp,
    _js_round,
    _math_round,
    insulin_activity,
)
from healthtwin.control.oref0_types import GlucoseStatus
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["glucose_status", "iob_array"]

#: Ticks of oref0's IOB array: 4 hours every 5 minutes.
N_TICKS = 48
TICK_MIN = 5.0
ZERO_TEMP_MIN = 240.0


def glucose_status(
    times_min: npt.ArrayLike, glucose_mg_dl: npt.ArrayLike, *, epoch_ms: float = 0.0
) -> GlucoseStatus:
    """The latest CGM reading and its trends, as ``glucose-get-last.js`` computes them.

    Parameters
    ----------
    times_min
        Reading times, minutes, oldest first, shape ``(k,)`` with ``k >= 1``; the last
        is "now".
    glucose_mg_dl
        CGM values, shape ``(k,)``; older values at or below 38 mg/dL (sensor errors)
        are skipped, as oref0 skips them.
    epoch_ms
        Milliseconds since the Unix epoch at minute 0 (sets ``date``).

    Returns
    -------
    GlucoseStatus
        ``glucose``, ``delta``, ``short_avgdelta`` and ``long_avgdelta`` rounded to 0.01,
        and ``date`` in ms (no ``noise``).

    Raises
    ------
    InvalidInputError
        Empty, mismatched or non-finite inputs.

    Examples
    --------
    >>> gs = glucose_status([0, 5, 10, 15, 20], [100, 104, 108, 112, 116])
    >>> gs.glucose, gs.delta, gs.short_avgdelta, gs.long_avgdelta
    (116.0, 4.0, 4.0, 4.0)
    """
    times = np.atleast_1d(np.asarray(times_min, dtype=np.float64))
    values = np.atleast_1d(np.asarray(glucose_mg_dl, dtype=np.float64))
    if times.ndim != 1 or times.shape != values.shape or times.size == 0:
        raise InvalidInputError(
            f"glucose_status needs matching 1-d times and values with at least one reading, "
            f"got shapes {times.shape} and {values.shape}"
        )
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(values))):
        raise InvalidInputError("CGM times and values must be finite; drop missing readings")
    now_glucose = float(values[-1])
    now_date = epoch_ms + float(times[-1]) * 60000.0
    last: list[float] = []
    short: list[float] = []
    long: list[float] = []
    for then_min, then_glucose in zip(times[-2::-1], values[-2::-1], strict=True):
        if not then_glucose > 38:
            continue
        then_date = epoch_ms + float(then_min) * 60000.0
        minutes_ago = _math_round((now_date - then_date) / 60000.0)
        avg_delta = (now_glucose - float(then_glucose)) / minutes_ago * 5 if minutes_ago else 0.0
        if -2 < minutes_ago < 2.5:
            # Readings within 2.5 minutes are averaged into "now".
            now_glucose = (now_glucose + float(then_glucose)) / 2
            now_date = (now_date + then_date) / 2
        elif 2.5 < minutes_ago < 17.5:
            short.append(avg_delta)
            if minutes_ago < 7.5:
                last.append(avg_delta)
        elif 17.5 < minutes_ago < 42.5:
            long.append(avg_delta)

    def mean(deltas: list[float]) -> float:
        return _js_round(sum(deltas) / len(deltas), 2) if deltas else 0.0

    return GlucoseStatus(
        glucose=_js_round(now_glucose, 2),
        delta=mean(last),
        short_avgdelta=mean(short),
        long_avgdelta=mean(long),
        date=now_date,
    )


def _totals(
    tick_min: FloatArray,
    dose_min: FloatArray,
    dose_u: FloatArray,
    dia_h: float,
    curve: str,
    peak_min: float | None,
) -> tuple[FloatArray, FloatArray]:
    """IOB and activity at each tick from the doses at or before it (``total.js``)."""
    elapsed = tick_min[:, None] - dose_min[None, :]
    counted = (elapsed >= 0) & (elapsed < dia_h * 60)
    # total.js rounds the minutes since each dose before the curve sees them.
    minutes = np.where(counted, np.floor(elapsed + 0.5), 0.0)
    iob, activity = insulin_activity(
        minutes, np.where(counted, dose_u, 0.0), curve, peak_min, dia_h
    )
    return iob.sum(axis=1), activity.sum(axis=1)


def iob_array(
    dose_times_min: npt.ArrayLike,
    doses_u: npt.ArrayLike,
    now_min: float,
    *,
    basal_u_per_h: float,
    bolus: npt.ArrayLike | None = None,
    curve: str = "rapid-acting",
    dia_h: float = 5.0,
    peak_min: float | None = None,
    last_temp: LastTemp | None = None,
) -> list[IobData]:
    """oref0's 4-hour IOB array from a dose history, each tick with its zero-temp twin.

    Parameters
    ----------
    dose_times_min
        When each dose was given, minutes, shape ``(k,)`` (doses after ``now_min`` are
        ignored, as ``history.js`` ignores future records).
    doses_u
        Each dose, U, shape ``(k,)``: boluses, and net basal (delivered minus scheduled,
        negative below the schedule).
    now_min
        The time of the first tick, minutes.
    basal_u_per_h
        Scheduled basal rate, U/h (the zero temp removes it).
    bolus
        Which doses are boluses (bool, shape ``(k,)``); the rest count as basal
        (``basaliob``). None: doses under 0.1 U are basal, as ``total.js`` decides.
    curve, dia_h, peak_min
        Insulin curve as in :func:`~healthtwin.control.oref0_iob.iob_from_doses`; DIA
        is raised to 3 h, or 5 h for the exponential curves, as ``total.js`` does.
    last_temp
        Set as ``lastTemp`` of the first tick.

    Returns
    -------
    list of IobData
        48 ticks, 5 minutes apart: ``iob``, ``basaliob``, ``bolusiob`` rounded to
        0.001 U, ``activity`` to 0.0001 U/min, and ``iob_with_zero_temp``.

    Raises
    ------
    InvalidParameterError
        Mismatched or non-finite inputs, a negative basal, or a bad curve.

    Examples
    --------
    >>> ticks = iob_array([0.0], [2.0], 60.0, basal_u_per_h=1.0)
    >>> len(ticks), ticks[0].iob, ticks[0].iob_with_zero_temp.iob
    (48, 1.528, 1.528)
    >>> ticks[12].iob_with_zero_temp.iob < ticks[12].iob
    True
    """
    times = np.atleast_1d(np.asarray(dose_times_min, dtype=np.float64))
    doses = np.atleast_1d(np.asarray(doses_u, dtype=np.float64))
    is_bolus = doses >= 0.1 if bolus is None else np.atleast_1d(np.asarray(bolus, dtype=bool))
    if times.ndim != 1 or not (times.shape == doses.shape == is_bolus.shape):
        raise InvalidParameterError(
            f"dose times, doses and bolus flags need the same 1-d shape, got {times.shape}, "
            f"{doses.shape} and {is_bolus.shape}"
        )
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(doses)) and math.isfinite(now_min)):
        raise InvalidParameterError("dose times, doses and now_min must be finite")
    if not (math.isfinite(basal_u_per_h) and basal_u_per_h >= 0):
        raise InvalidParameterError(f"basal_u_per_h must be >= 0 U/h, got {basal_u_per_h}")
    if curve not in INSULIN_CURVES:
        raise InvalidParameterError(f"unknown curve {curve!r}; use one of {sorted(INSULIN_CURVES)}")
    dia = max(3.0, dia_h) if INSULIN_CURVES[curve] is None else max(5.0, dia_h)
    past = times <= now_min
    times, doses, is_bolus = times[past], doses[past], is_bolus[past]
    ticks = now_min + TICK_MIN * np.arange(N_TICKS, dtype=np.float64)
    # The zero temp starts a minute after now, as history.js adds it.
    zero_times = now_min + 1.0 + TICK_MIN * np.arange(ZERO_TEMP_MIN / TICK_MIN, dtype=np.float64)
    zero_doses = np.full(zero_times.shape, -basal_u_per_h * TICK_MIN / 60.0)
    basal_iob, _ = _totals(ticks, times[~is_bolus], doses[~is_bolus], dia, curve, peak_min)
    bolus_iob, _ = _totals(ticks, times[is_bolus], doses[is_bolus], dia, curve, peak_min)
    iob, activity = _totals(ticks, times, doses, dia, curve, peak_min)
    zt_times, zt_doses = np.concatenate([times, zero_times]), np.concatenate([doses, zero_doses])
    zt_iob, zt_activity = _totals(ticks, zt_times, zt_doses, dia, curve, peak_min)

    def u(x: float) -> float:
        return _math_round(float(x) * 1000) / 1000

    def u_per_min(x: float) -> float:
        return _math_round(float(x) * 10000) / 10000

    return [
        IobData(
            iob=u(iob[i]),
            activity=u_per_min(activity[i]),
            basaliob=u(basal_iob[i]),
            bolusiob=u(bolus_iob[i]),
            iob_with_zero_temp=IobData(iob=u(zt_iob[i]), activity=u_per_min(zt_activity[i])),
            last_temp=last_temp if i == 0 else None,
        )
        for i in range(N_TICKS)
    ]
