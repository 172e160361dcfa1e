"""Input schedules: piecewise-constant rates and impulse events per named channel.

A rate channel (insulin infusion in U/min, say) holds each value from its change time
until the next change (zero-order hold); before its first change time it is zero. An
event channel (an announced meal in g, a bolus in U) carries amounts at instants. Values
have a leading member axis of length 1 (shared by all members) or n.

Events at time ``t`` belong to the interval that starts at ``t``: advancing over
``[t0, t1)`` then ``[t1, t2)`` applies every event exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["Events", "Inputs", "Rate"]


def _as_times(times: Iterable[float] | FloatArray, what: str) -> FloatArray:
    arr = np.atleast_1d(np.array(times, dtype=np.float64))
    if arr.ndim != 1:
        raise ShapeError(f"{what} times must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} times must be finite, got {arr.tolist()}")
    return arr


def _as_values(values: Iterable[float] | FloatArray, k: int, what: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim <= 1:
        arr = np.broadcast_to(arr, (k,)).reshape(1, k) if arr.size in (1, k) else arr
    if arr.ndim != 2 or arr.shape[1] != k:
        raise ShapeError(
            f"{what} values must have shape (k,) or (n, k) with k={k} change times, "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} values must be finite")
    # A copy, locked: a frozen schedule must not change when the caller's array does.
    out = np.array(arr, dtype=np.float64, order="C")
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Rate:
    """A piecewise-constant rate: ``values[:, j]`` holds from ``times[j]`` to ``times[j+1]``.

    Parameters
    ----------
    times
        Change times, strictly increasing, shape ``(k,)``.
    values
        Rates, shape ``(k,)`` (shared) or ``(n, k)`` (per member).
    """

    times: FloatArray
    values: FloatArray

    def __post_init__(self) -> None:
        times = _as_times(self.times, "rate")
        if times.size > 1 and np.any(np.diff(times) <= 0):
            raise InvalidInputError(
                f"rate change times must be strictly increasing, got {times.tolist()}"
            )
        times.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", _as_values(self.values, times.size, "rate"))

    @classmethod
    def constant(cls, value: float | FloatArray, start: float = -np.inf) -> Rate:
        """A rate that holds ``value`` (scalar or per member ``(n,)``) from ``start`` on."""
        start = float(start) if np.isfinite(start) else -1e300
        return cls(np.array([start]), np.reshape(np.asarray(value, dtype=np.float64), (-1, 1)))

    def at(self, t: FloatArray) -> FloatArray:
        """Values at times ``t`` (shape ``(s,)``), shape ``(m, s)``; zero before the first."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if self.times.size == 0:
            return np.zeros((self.values.shape[0], t.size))
        idx = np.searchsorted(self.times, t, side="right") - 1
        out = self.values[:, np.clip(idx, 0, None)]
        out[:, idx < 0] = 0.0
        return out

    @property
    def n_members(self) -> int:
        return int(self.values.shape[0])


@dataclass(frozen=True)
class Events:
    """Impulse amounts at instants: ``amounts[:, j]`` arrives at ``times[j]``.

    Parameters
    ----------
    times
        Event times, non-decreasing, shape ``(e,)``.
    amounts
        Amounts, shape ``(e,)`` (shared) or ``(n, e)`` (per member).
    """

    times: FloatArray
    amounts: FloatArray

    def __post_init__(self) -> None:
        times = _as_times(self.times, "event")
        order = np.argsort(times, kind="stable")
        amounts = _as_values(self.amounts, times.size, "event")
        sorted_times = times[order]
        sorted_times.setflags(write=False)
        sorted_amounts = np.array(amounts[:, order], order="C")
        sorted_amounts.setflags(write=False)
        object.__setattr__(self, "times", sorted_times)
        object.__setattr__(self, "amounts", sorted_amounts)

    def within(self, a: float, b: float) -> FloatArray:
        """Summed amounts of events in ``[a, b)``, shape ``(m,)``."""
        mask = (self.times >= a) & (self.times < b)
        return np.asarray(self.amounts[:, mask].sum(axis=1), dtype=np.float64)

    @property
    def n_members(self) -> int:
        return int(self.amounts.shape[0])


def _frozen(d: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Inputs:
    """Everything fed to a model over time: rate channels and event channels by name.

    Examples
    --------
    >>> plan = Inputs(rates={"insulin_u_per_min": Rate.constant(0.02)},
    ...               events={"meal_g": Events([420.0, 720.0], [45.0, 70.0])})
    >>> plan.breakpoints(0.0, 1440.0).tolist()
    [0.0, 420.0, 720.0, 1440.0]
    """

    rates: Mapping[str, Rate] = field(default_factory=dict)
    events: Mapping[str, Events] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", _frozen(self.rates))
        object.__setattr__(self, "events", _frozen(self.events))
        for name, rate in self.rates.items():
            if not isinstance(rate, Rate):
                raise InvalidInputError(f"rate channel {name!r} must be a Rate, got {rate!r}")
        for name, ev in self.events.items():
            if not isinstance(ev, Events):
                raise InvalidInputError(f"event channel {name!r} must be Events, got {ev!r}")

    @property
    def channels(self) -> set[str]:
        return set(self.rates) | set(self.events)

    def check(self, rate_channels: Iterable[str], event_channels: Iterable[str], n: int) -> None:
        """Raise if a channel is unknown to the model or a member axis does not fit ``n``."""
        rate_ok, event_ok = set(rate_channels), set(event_channels)
        for name in self.rates:
            if name not in rate_ok:
                raise InvalidInputError(
                    f"unknown rate channel {name!r}; this model takes {sorted(rate_ok)}"
                )
        for name in self.events:
            if name not in event_ok:
                raise InvalidInputError(
                    f"unknown event channel {name!r}; this model takes {sorted(event_ok)}"
                )
        for name, m in [(k, r.n_members) for k, r in self.rates.items()] + [
            (k, e.n_members) for k, e in self.events.items()
        ]:
            if m not in (1, n):
                raise ShapeError(
                    f"channel {name!r} has values for {m} members but the state has {n}; "
                    "give one row (shared) or one per member"
                )

    def breakpoints(self, t0: float, t1: float) -> FloatArray:
        """Sorted unique times in ``[t0, t1]`` where any input changes, plus both ends."""
        pts = [np.array([t0, t1])]
        for rate in self.rates.values():
            pts.append(rate.times)
        for ev in self.events.values():
            pts.append(ev.times)
        allpts = np.concatenate(pts)
        return np.unique(allpts[(allpts >= t0) & (allpts <= t1)])

    def rate(self, name: str, t: FloatArray, n: int) -> FloatArray:
        """Held values of rate channel ``name`` at times ``t``, shape ``(n, s)``."""
        rate = self.rates.get(name)
        if rate is None:
            return np.zeros((n, np.size(t)))
        return np.asarray(np.broadcast_to(rate.at(np.asarray(t)), (n, np.size(t))))

    def event_totals(self, name: str, starts: FloatArray, ends: FloatArray, n: int) -> FloatArray:
        """Event amounts summed within each ``[starts[j], ends[j])``, shape ``(n, s)``."""
        ev = self.events.get(name)
        if ev is None or ev.times.size == 0:
            return np.zeros((n, starts.size))
        lo = np.searchsorted(ev.times, starts, side="left")
        hi = np.searchsorted(ev.times, ends, side="left")
        csum = np.concatenate([np.zeros((ev.n_members, 1)), np.cumsum(ev.amounts, axis=1)], 1)
        return np.asarray(np.broadcast_to(csum[:, hi] - csum[:, lo], (n, starts.size)))

    def merged(self, other: Inputs) -> Inputs:
        """Channels of both; a channel in both takes ``other``'s definition."""
        return Inputs({**self.rates, **other.rates}, {**self.events, **other.events})
