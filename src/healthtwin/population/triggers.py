"""When an intervention is in force: by date, or by a threshold on an observed quantity.

A trigger answers, at the end of each simulated day, which (replicate, region) cells have the
intervention in force on the next day. Date triggers are the same everywhere; threshold
triggers watch one quantity of :class:`~healthtwin.population.controls.Observed` (ICU
occupancy, admissions, ...) per region or summed over the country, optionally per 100,000
people and after a reporting delay, and switch off again below a release level (hysteresis),
so that each stochastic replicate decides on its own epidemic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.population.controls import OBSERVED_QUANTITIES, Observed

__all__ = ["DateTrigger", "ThresholdTrigger", "Trigger", "TriggerState"]


@dataclass(frozen=True, kw_only=True)
class DateTrigger:
    """In force from day ``start_day`` (inclusive) to ``end_day`` (exclusive; None = to the end).

    Examples
    --------
    >>> t = DateTrigger(start_day=10, end_day=20)
    >>> t.active_on(9), t.active_on(10), t.active_on(20)
    (False, True, False)
    """

    start_day: int = 0
    end_day: int | None = None

    def __post_init__(self) -> None:
        if self.start_day < 0:
            raise InvalidParameterError(f"start_day must be >= 0; got {self.start_day}")
        if self.end_day is not None and self.end_day <= self.start_day:
            raise InvalidParameterError(
                f"end_day ({self.end_day}) must be after start_day ({self.start_day})"
            )

    def active_on(self, day: int) -> bool:
        """Whether the intervention is in force on ``day``."""
        return day >= self.start_day and (self.end_day is None or day < self.end_day)


@dataclass(frozen=True, kw_only=True)
class ThresholdTrigger:
    """In force once ``quantity`` rises above ``above``, until it falls below ``release_below``.

    Parameters
    ----------
    quantity
        One of :data:`~healthtwin.population.controls.OBSERVED_QUANTITIES`.
    above
        Switch-on level (strictly greater than).
    release_below
        Switch-off level; None keeps the intervention in force once triggered.
    scope
        ``"region"``: each region watches its own value; ``"national"``: the sum over
        regions switches every targeted region at once.
    per_100k
        Compare the quantity per 100,000 people (of the region, or of the country).
    delay_days
        Reporting delay: decide on the value observed ``delay_days`` days earlier.
    min_days
        Once on, stay on at least this many days.
    not_before_day
        Ignore the threshold before this day.

    Examples
    --------
    >>> t = ThresholdTrigger(quantity="icu_occupancy", above=10, release_below=5)
    >>> t.scope, t.per_100k
    ('region', False)
    """

    quantity: str
    above: float
    release_below: float | None = None
    scope: Literal["region", "national"] = "region"
    per_100k: bool = False
    delay_days: int = 0
    min_days: int = 0
    not_before_day: int = 0

    def __post_init__(self) -> None:
        if self.quantity not in OBSERVED_QUANTITIES:
            raise InvalidParameterError(
                f"unknown trigger quantity {self.quantity!r}; choose one of "
                f"{list(OBSERVED_QUANTITIES)}"
            )
        if not np.isfinite(self.above) or self.above < 0:
            raise InvalidParameterError(f"above must be finite and >= 0; got {self.above}")
        if self.release_below is not None and not 0 <= self.release_below <= self.above:
            raise InvalidParameterError(
                f"release_below must be between 0 and above ({self.above}); got "
                f"{self.release_below}"
            )
        if self.scope not in ("region", "national"):
            raise InvalidParameterError(f"scope must be 'region' or 'national'; got {self.scope!r}")
        for name in ("delay_days", "min_days", "not_before_day"):
            if getattr(self, name) < 0:
                raise InvalidParameterError(f"{name} must be >= 0; got {getattr(self, name)}")


Trigger = DateTrigger | ThresholdTrigger


@dataclass
class TriggerState:
    """The running state of one trigger over one simulation (not shared between runs).

    ``active`` has shape ``(reps, regions)``; :meth:`step` updates it from the day's
    observation and returns whether the intervention is in force on the next day, restricted
    to the ``targets`` mask of regions.
    """

    trigger: Trigger
    targets: BoolArray
    reps: int
    active: BoolArray = field(init=False)
    days_on: FloatArray = field(init=False)
    history: deque[FloatArray] = field(init=False)

    def __post_init__(self) -> None:
        regions = self.targets.size
        self.active = np.zeros((self.reps, regions), dtype=bool)
        self.days_on = np.zeros((self.reps, regions))
        delay = self.trigger.delay_days if isinstance(self.trigger, ThresholdTrigger) else 0
        self.history = deque(maxlen=delay + 1)

    def initial(self) -> BoolArray:
        """In force on day 0 (before anything was observed)."""
        if isinstance(self.trigger, DateTrigger) and self.trigger.active_on(0):
            return np.broadcast_to(self.targets, (self.reps, self.targets.size)).copy()
        return np.zeros((self.reps, self.targets.size), dtype=bool)

    def step(self, observed: Observed) -> BoolArray:
        """In force on day ``observed.day + 1``, shape ``(reps, regions)``."""
        trigger = self.trigger
        next_day = observed.day + 1
        if isinstance(trigger, DateTrigger):
            on = trigger.active_on(next_day)
            return np.broadcast_to(self.targets & on, (self.reps, self.targets.size)).copy()
        self.history.append(self._value(trigger, observed))
        if len(self.history) <= trigger.delay_days or next_day < trigger.not_before_day:
            return self.active & self.targets
        value = self.history[0]
        switch_on = value > trigger.above
        release = trigger.release_below
        switch_off = np.zeros_like(switch_on) if release is None else value < release
        switch_off &= self.days_on >= trigger.min_days
        self.active = (self.active & ~switch_off) | switch_on
        self.days_on = np.where(self.active, self.days_on + 1, 0.0)
        return self.active & self.targets

    def _value(self, trigger: ThresholdTrigger, observed: Observed) -> FloatArray:
        value = np.asarray(observed.get(trigger.quantity), dtype=float)
        population = np.asarray(observed.population, dtype=float)
        if trigger.scope == "national":
            mask = self.targets
            value = value[:, mask].sum(axis=1, keepdims=True)
            population = population[:, mask].sum(axis=1, keepdims=True)
        if trigger.per_100k:
            value = 1e5 * value / np.maximum(population, 1.0)
        return np.broadcast_to(value, (self.reps, self.targets.size)).copy()
