"""What-if analysis: outcomes of several plans and their paired differences.

The twin forecasts every plan with common random numbers: member ``i`` has the same
parameters, initial state and noise under every plan, so plan B minus plan A is computed
member by member and its spread is the uncertainty of the *difference*, far narrower than
the two plans' own spreads when they share their uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from healthtwin.core.forecast import Forecast
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError, UnknownModelError

__all__ = ["Outcome", "PlanDifference", "PlanOutcome", "WhatIf", "time_in_band"]

#: A scalar outcome per member of a forecast, ``(n,)``.
Outcome = Callable[[Forecast], FloatArray]


def time_in_band(channel: str, low: float, high: float) -> Outcome:
    """Outcome: percent of the forecast window with ``low <= channel <= high``, per member.

    Examples
    --------
    >>> from healthtwin.core.protocols import Channel
    >>> fc = Forecast(np.arange(4.0), np.array([[[60.0], [80.0], [150.0], [200.0]]]),
    ...               (Channel("glucose_mg_dl", "mg/dL"),), "min")
    >>> time_in_band("glucose_mg_dl", 70.0, 180.0)(fc).tolist()
    [50.0]
    """

    def outcome(forecast: Forecast) -> FloatArray:
        values = forecast.channel(channel)
        return np.asarray(100.0 * np.mean((values >= low) & (values <= high), axis=1))

    outcome.__name__ = f"percent of time {low:g} <= {channel} <= {high:g}"
    return outcome


@dataclass(frozen=True)
class PlanOutcome:
    """An outcome's distribution over members under one plan."""

    plan: str
    mean: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class PlanDifference:
    """``outcome(b) - outcome(a)`` member by member: mean, interval, P(b > a)."""

    a: str
    b: str
    mean: float
    low: float
    high: float
    level: float
    probability_b_higher: float

    def __str__(self) -> str:
        return (
            f"{self.b} vs {self.a}: {self.mean:+.2f} ({self.level:.0%} interval "
            f"{self.low:+.2f} to {self.high:+.2f}; P(higher) {self.probability_b_higher:.2f})"
        )


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be in (0, 1), got {level}")


class WhatIf(Mapping[str, Forecast]):
    """Forecasts per named plan (a read-only mapping), with outcome summaries.

    Examples
    --------
    >>> from healthtwin.core.protocols import Channel
    >>> ch = (Channel("glucose_mg_dl", "mg/dL"),)
    >>> t = np.arange(2.0)
    >>> a = Forecast(t, np.array([[[100.0], [190.0]], [[90.0], [200.0]]]), ch, "min", "a")
    >>> b = Forecast(t, np.array([[[100.0], [150.0]], [[90.0], [195.0]]]), ch, "min", "b")
    >>> tir = time_in_band("glucose_mg_dl", 70.0, 180.0)
    >>> WhatIf({"a": a, "b": b}).difference("a", "b", tir, level=0.5).mean
    25.0
    """

    def __init__(self, forecasts: Mapping[str, Forecast]) -> None:
        if not forecasts:
            raise InvalidInputError("a what-if needs at least one plan")
        sizes = {f.n_members for f in forecasts.values()}
        if len(sizes) != 1:
            raise ShapeError(f"plans must share their members (common random numbers): {sizes}")
        self._forecasts = dict(forecasts)

    def __getitem__(self, plan: str) -> Forecast:
        try:
            return self._forecasts[plan]
        except KeyError as err:
            raise UnknownModelError(f"no plan {plan!r}; plans: {list(self._forecasts)}") from err

    def __iter__(self) -> Iterator[str]:
        return iter(self._forecasts)

    def __len__(self) -> int:
        return len(self._forecasts)

    def outcomes(self, outcome: Outcome) -> dict[str, FloatArray]:
        """The outcome per member under each plan."""
        values = {}
        for name, forecast in self._forecasts.items():
            v = np.asarray(outcome(forecast), dtype=np.float64)
            if v.shape != (forecast.n_members,):
                raise ShapeError(f"an outcome gives one value per member, got {v.shape}")
            values[name] = v
        return values

    def summary(self, outcome: Outcome, level: float = 0.9) -> dict[str, PlanOutcome]:
        """Mean and central ``level`` interval of the outcome under each plan."""
        _check_level(level)
        q = ((1 - level) / 2, (1 + level) / 2)
        result = {}
        for name, v in self.outcomes(outcome).items():
            lo, hi = np.quantile(v, q)
            result[name] = PlanOutcome(name, float(v.mean()), float(lo), float(hi), level)
        return result

    def difference(self, a: str, b: str, outcome: Outcome, level: float = 0.9) -> PlanDifference:
        """``b - a`` member by member (common random numbers)."""
        _check_level(level)
        values = self.outcomes(outcome)
        for name in (a, b):
            if name not in values:
                raise UnknownModelError(f"no plan {name!r}; plans: {list(values)}")
        d = values[b] - values[a]
        lo, hi = np.quantile(d, ((1 - level) / 2, (1 + level) / 2))
        return PlanDifference(
            a, b, float(d.mean()), float(lo), float(hi), level, float(np.mean(d > 0))
        )
