"""Split an interval into segments on which every input is constant.

Models with discrete updates on a clock (a meal eaten minute by minute) also break at
their ticks, so that the continuous solver only ever sees held inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError

__all__ = ["HeldInputs", "hold_inputs", "segment_bounds", "ticks_at"]


def segment_bounds(t0: float, t1: float, inputs: Inputs, tick: float | None = None) -> FloatArray:
    """Boundaries ``t0 = b_0 < ... < b_s = t1`` at every input change and clock tick.

    Parameters
    ----------
    t0, t1
        Interval ends, ``t0 <= t1``.
    inputs
        Their change times and event times become boundaries.
    tick
        Period of the model's discrete clock (multiples of ``tick`` from 0), or ``None``.

    Examples
    --------
    >>> from healthtwin.core.inputs import Events
    >>> segment_bounds(0.0, 3.0, Inputs(events={"meal_g": Events([1.5], [10.0])}), 1.0).tolist()
    [0.0, 1.0, 1.5, 2.0, 3.0]
    """
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 < t0:
        raise InvalidInputError(f"need finite t0 <= t1, got t0={t0}, t1={t1}")
    pts = inputs.breakpoints(t0, t1)
    if tick is not None:
        k0, k1 = math.ceil(t0 / tick - 1e-9), math.floor(t1 / tick + 1e-9)
        pts = np.concatenate([pts, np.arange(k0, k1 + 1) * tick])
    pts = np.unique(np.clip(pts, t0, t1))
    # Merge boundaries closer than rounding noise so no segment is vanishingly short.
    keep = np.concatenate([[True], np.diff(pts) > 1e-9 * max(1.0, abs(t1))])
    out: FloatArray = np.array(pts[keep], dtype=np.float64)
    if out.size == 1 and t1 > t0:
        # An interval shorter than the tolerance is one segment; never lose its start.
        return np.array([t0, t1])
    out[-1] = t1
    return out


def ticks_at(times: FloatArray, tick: float) -> BoolArray:
    """Whether each time lies on the model's clock (a multiple of ``tick``)."""
    k = np.round(times / tick)
    on: BoolArray = np.abs(times - k * tick) <= 1e-9 * np.maximum(1.0, np.abs(times))
    return on


@dataclass(frozen=True)
class HeldInputs:
    """Inputs held over the segments of an interval.

    Attributes
    ----------
    starts, ends
        Segment ends, each ``(s,)``.
    rates
        Rate channel -> held value per member and segment, ``(n, s)``.
    events
        Event channel -> amount arriving at each segment's start, ``(n, s)``.
    """

    starts: FloatArray
    ends: FloatArray
    rates: Mapping[str, FloatArray]
    events: Mapping[str, FloatArray]

    @property
    def durations(self) -> FloatArray:
        return np.asarray(self.ends - self.starts)


def hold_inputs(
    inputs: Inputs,
    t0: float,
    t1: float,
    n: int,
    *,
    rate_channels: Iterable[str],
    event_channels: Iterable[str],
    tick: float | None = None,
    signed: Iterable[str] = (),
) -> HeldInputs:
    """Check ``inputs`` against a model's channels and hold them per segment of [t0, t1].

    Every channel must be non-negative unless named in ``signed``; a negative value is an
    :class:`InvalidInputError` naming the channel.

    Examples
    --------
    >>> from healthtwin.core.inputs import Events, Rate
    >>> plan = Inputs(rates={"insulin_u_per_min": Rate([0.0, 5.0], [0.01, 0.02])},
    ...               events={"meal_g": Events([2.5], [40.0])})
    >>> held = hold_inputs(plan, 0.0, 10.0, 1, rate_channels=["insulin_u_per_min"],
    ...                    event_channels=["meal_g"])
    >>> held.starts.tolist(), held.events["meal_g"].tolist()
    ([0.0, 2.5, 5.0], [[0.0, 40.0, 0.0]])
    """
    rate_channels, event_channels = list(rate_channels), list(event_channels)
    inputs.check(rate_channels, event_channels, n)
    bounds = segment_bounds(t0, t1, inputs, tick)
    starts, ends = bounds[:-1], bounds[1:]
    # Read each held rate at the segment's midpoint: a change that the merge tolerance
    # folded into the segment's start still governs (nearly) all of the segment.
    middles = 0.5 * (starts + ends)
    rates = {name: inputs.rate(name, middles, n) for name in rate_channels}
    events = {name: inputs.event_totals(name, starts, ends, n) for name in event_channels}
    allowed = set(signed)
    for name, values in (*rates.items(), *events.items()):
        if name not in allowed and values.size and float(values.min()) < 0:
            raise InvalidInputError(
                f"{name} must be >= 0, got minimum {float(values.min())}; remove negative "
                "entries from the plan"
            )
    return HeldInputs(starts, ends, MappingProxyType(rates), MappingProxyType(events))
