"""Arrival times: non-homogeneous Poisson streams by thinning, and scheduled electives.

Thinning (Lewis & Shedler 1979): draw a homogeneous Poisson process at the peak rate
``lambda_max`` and keep each point ``t`` with probability ``lambda(t) / lambda_max``; here
``lambda(t) = rate_per_hour[hour of day] x weekday_multiplier[day of week]``. Vectorized: one
Poisson count, sorted uniforms, one Bernoulli mask.
"""

from __future__ import annotations

import numpy as np

from healthtwin.hospital.config import ArrivalStream, ElectiveStream

__all__ = ["elective_times", "rate_at", "thinned_arrivals"]


def rate_at(stream: ArrivalStream, t_hours: np.ndarray, start_weekday: int = 0) -> np.ndarray:
    """Arrival rate per hour at times ``t_hours`` (hours since midnight of day 0)."""
    t = np.asarray(t_hours, dtype=float)
    hour = np.floor(t).astype(np.int64) % 24
    day = (np.floor(t / 24.0).astype(np.int64) + start_weekday) % 7
    rate: np.ndarray = np.asarray(stream.rate_per_hour)[hour]
    out: np.ndarray = rate * np.asarray(stream.weekday_multipliers)[day]
    return out


def thinned_arrivals(
    stream: ArrivalStream, horizon_hours: float, rng: np.random.Generator, start_weekday: int = 0
) -> np.ndarray:
    """Sorted arrival times in ``[0, horizon_hours)``, shape ``(n,)``.

    Examples
    --------
    >>> s = ArrivalStream(unit="ed", rate_per_hour=[2.0] * 12 + [6.0] * 12)
    >>> t = thinned_arrivals(s, 24 * 2000, np.random.default_rng(0))
    >>> round(len(t) / (24 * 2000), 1)
    4.0
    """
    peak = max(stream.rate_per_hour) * max(stream.weekday_multipliers)
    if peak <= 0 or horizon_hours <= 0:
        return np.empty(0)
    n = rng.poisson(peak * horizon_hours)
    t = np.sort(rng.random(n)) * horizon_hours
    keep = rng.random(n) * peak < rate_at(stream, t, start_weekday)
    return t[keep]


def elective_times(
    stream: ElectiveStream, horizon_hours: float, start_weekday: int = 0
) -> np.ndarray:
    """Scheduled admission times in ``[0, horizon_hours)``, shape ``(n,)``.

    Examples
    --------
    >>> e = ElectiveStream(unit="ward", per_weekday=(2, 0, 0, 0, 0, 0, 0), hour=8.0)
    >>> elective_times(e, 24 * 8).tolist()
    [8.0, 8.0, 176.0, 176.0]
    """
    days = int(np.ceil(horizon_hours / 24.0))
    out = []
    for d in range(days):
        t = d * 24.0 + stream.hour
        if t < horizon_hours:
            out.extend([t] * stream.per_weekday[(d + start_weekday) % 7])
    return np.asarray(out, dtype=float)
