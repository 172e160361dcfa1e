"""How well a depth-of-anaesthesia controller holds BIS: time in band, nadir, settling, errors.

Every function takes sample times ``t`` (shape ``(T,)``) and BIS per member ``bis``
(shape ``(n, T)``) and returns one value per member.

- Time in band: the share of time with BIS in ``[40, 60]``, the adequate hypnosis range
  (Liu et al., Anesthesiology 104:686, 2006, report it for their closed loop). Each
  sample holds until the next one.
- Nadir and undershoot: the lowest BIS and how far it falls below the band, and the
  settling time: the time after which BIS stays in the band to the end (``BIS_NADIR``,
  ``US`` and ``ST20`` of Ionescu et al., IEEE Trans Biomed Eng 55:2161, 2008).
- Performance error ``PE = 100 (BIS - setpoint) / setpoint`` summarized as the median
  (MDPE, bias), the median absolute (MDAPE, inaccuracy) and the median absolute deviation
  from MDPE (wobble) of Varvel, Donoho & Shafer (J Pharmacokinet Biopharm 20:63, 1992).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "BisMetrics",
    "bis_metrics",
    "nadir",
    "performance_errors",
    "settling_time",
    "time_in_band",
    "undershoot",
]


def _checked(t: FloatArray, bis: FloatArray) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(t, dtype=np.float64)
    y = np.atleast_2d(np.asarray(bis, dtype=np.float64))
    if t.ndim != 1 or y.shape[1] != t.size or t.size < 2:
        raise ShapeError(f"give times (T,) with T >= 2 and BIS (n, T); got {t.shape}, {y.shape}")
    if np.any(np.diff(t) <= 0):
        raise ShapeError("sample times must be strictly increasing")
    return t, y


def _band(low: float, high: float) -> None:
    if not low < high:
        raise InvalidParameterError(f"need low < high for the BIS band, got [{low}, {high}]")


def time_in_band(
    t: FloatArray, bis: FloatArray, low: float = 40.0, high: float = 60.0
) -> FloatArray:
    """Percent of ``[t[0], t[-1]]`` with BIS in ``[low, high]``, shape ``(n,)``.

    Examples
    --------
    >>> time_in_band(np.arange(5.0), np.array([[70.0, 55.0, 45.0, 30.0, 50.0]])).tolist()
    [50.0]
    """
    t, y = _checked(t, bis)
    _band(low, high)
    inside = (y[:, :-1] >= low) & (y[:, :-1] <= high)
    return np.asarray(100.0 * (inside @ np.diff(t)) / (t[-1] - t[0]))


def nadir(bis: FloatArray) -> FloatArray:
    """Lowest BIS per member, shape ``(n,)``."""
    return np.asarray(np.atleast_2d(np.asarray(bis, dtype=np.float64)).min(axis=1))


def undershoot(bis: FloatArray, low: float = 40.0) -> FloatArray:
    """How far the lowest BIS falls below ``low`` (0 if it never does), shape ``(n,)``.

    Examples
    --------
    >>> undershoot(np.array([[60.0, 37.5, 45.0], [50.0, 41.0, 48.0]])).tolist()
    [2.5, 0.0]
    """
    return np.asarray(np.maximum(0.0, low - nadir(bis)))


def settling_time(
    t: FloatArray, bis: FloatArray, low: float = 40.0, high: float = 60.0
) -> FloatArray:
    """Time from ``t[0]`` after which BIS stays in ``[low, high]`` to the end; NaN if the
    last sample is outside the band. Shape ``(n,)``.

    Examples
    --------
    >>> y = np.array([[90.0, 58.0, 38.0, 45.0, 50.0], [90.0, 70.0, 50.0, 55.0, 65.0]])
    >>> settling_time(np.arange(5.0), y).tolist()
    [3.0, nan]
    """
    t, y = _checked(t, bis)
    _band(low, high)
    outside = (y < low) | (y > high)
    # Index of the last sample outside the band (-1 when there is none).
    last = np.where(outside.any(axis=1), t.size - 1 - np.argmax(outside[:, ::-1], axis=1), -1)
    settled = t[np.minimum(last + 1, t.size - 1)] - t[0]
    return np.asarray(np.where(last == t.size - 1, np.nan, settled))


@dataclass(frozen=True)
class PerformanceErrors:
    """Varvel's MDPE, MDAPE and wobble in percent, each shape ``(n,)``."""

    mdpe: FloatArray
    mdape: FloatArray
    wobble: FloatArray


def performance_errors(bis: FloatArray, setpoint: float = 50.0) -> PerformanceErrors:
    """Varvel performance errors of BIS against ``setpoint``.

    Examples
    --------
    >>> e = performance_errors(np.array([[45.0, 50.0, 60.0]]))
    >>> e.mdpe.tolist(), e.mdape.tolist(), e.wobble.tolist()
    ([0.0], [10.0], [10.0])
    """
    if not setpoint > 0:
        raise InvalidParameterError(f"the BIS setpoint must be > 0, got {setpoint}")
    pe = 100.0 * (np.atleast_2d(np.asarray(bis, dtype=np.float64)) - setpoint) / setpoint
    mdpe = np.median(pe, axis=1)
    return PerformanceErrors(
        mdpe=np.asarray(mdpe),
        mdape=np.asarray(np.median(np.abs(pe), axis=1)),
        wobble=np.asarray(np.median(np.abs(pe - mdpe[:, None]), axis=1)),
    )


@dataclass(frozen=True)
class BisMetrics:
    """Per member: time in band (%), nadir, undershoot below the band, settling time
    (NaN if never settled) and Varvel's errors."""

    time_in_band_pct: FloatArray
    nadir: FloatArray
    undershoot: FloatArray
    settling_time: FloatArray
    errors: PerformanceErrors


def bis_metrics(
    t: FloatArray,
    bis: FloatArray,
    *,
    setpoint: float = 50.0,
    low: float = 40.0,
    high: float = 60.0,
) -> BisMetrics:
    """Every metric of this module for one record.

    Examples
    --------
    >>> m = bis_metrics(np.arange(4.0), np.array([[90.0, 52.0, 39.0, 48.0]]))
    >>> m.undershoot.tolist(), m.settling_time.tolist()
    ([1.0], [3.0])
    """
    return BisMetrics(
        time_in_band_pct=time_in_band(t, bis, low, high),
        nadir=nadir(bis),
        undershoot=undershoot(bis, low),
        settling_time=settling_time(t, bis, low, high),
        errors=performance_errors(bis, setpoint),
    )
