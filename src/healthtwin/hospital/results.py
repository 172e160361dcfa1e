"""Replication outputs and their confidence intervals (Student t over replications)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from healthtwin.errors import InvalidParameterError, UnknownModelError

__all__ = ["MetricSummary", "SimulationResult", "t_interval"]


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Mean over replications with its two-sided t-interval."""

    mean: float
    low: float
    high: float
    level: float = 0.95


def t_interval(values: np.ndarray, level: float = 0.95) -> MetricSummary:
    """Mean and t-interval of independent replications (non-finite values dropped).

    Examples
    --------
    >>> s = t_interval(np.array([1.0, 2.0, 3.0]))
    >>> round(s.mean, 3), round(s.low, 3), round(s.high, 3)
    (2.0, -0.484, 4.484)
    """
    if not 0 < level < 1:
        raise InvalidParameterError(f"level must be in (0, 1), got {level!r}")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return MetricSummary(math.nan, math.nan, math.nan, level)
    mean = float(x.mean())
    if x.size < 2:
        return MetricSummary(mean, -math.inf, math.inf, level)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return MetricSummary(mean, mean - half, mean + half, level)


@dataclass(frozen=True)
class SimulationResult:
    """Per-replication metrics of one scenario.

    ``per_replication[metric]`` has shape ``(replications,)``; replication ``r`` used the
    random streams of ``(seed, r)``, so results of two configs with the same seed are paired.
    """

    per_replication: dict[str, np.ndarray]
    days: float
    warmup_days: float
    seed: int
    engine: str
    cpu_seconds: float

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names, in a stable order."""
        return tuple(self.per_replication)

    @property
    def replications(self) -> int:
        """Number of replications."""
        return len(next(iter(self.per_replication.values())))

    def values(self, metric: str) -> np.ndarray:
        """One value per replication, shape ``(replications,)``."""
        if metric not in self.per_replication:
            raise UnknownModelError(
                f"unknown metric {metric!r}; metrics are {list(self.per_replication)}"
            )
        return self.per_replication[metric]

    def summary(self, level: float = 0.95) -> dict[str, MetricSummary]:
        """Mean and t-interval of every metric."""
        return {m: t_interval(v, level) for m, v in self.per_replication.items()}
