"""Length-of-stay distributions: sampling, and the residual stay given the time already spent.

A stay of a patient already in a bed for ``e`` hours is drawn from the conditional law
``X - e | X > e`` by inverting the distribution function on ``(F(e), 1)``; this is what
starting from today's census needs (the residual life of a renewal process, Cox 1962).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from scipy import stats

__all__ = ["LosSpec"]


class LosSpec(BaseModel):
    """A length-of-stay distribution in hours.

    ``lognormal`` and ``gamma`` take ``mean`` and ``cv`` (coefficient of variation),
    ``exponential`` and ``fixed`` take ``mean``, ``empirical`` takes ``values`` (resampled).

    Examples
    --------
    >>> spec = LosSpec(dist="lognormal", mean=48.0, cv=0.8)
    >>> x = spec.sample(np.random.default_rng(0), 100_000)
    >>> round(float(x.mean()) / 48.0, 1)
    1.0
    >>> bool((spec.sample_residual(np.random.default_rng(1), np.full(5, 100.0)) > 0).all())
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dist: Literal["lognormal", "exponential", "gamma", "fixed", "empirical"]
    mean: float | None = None
    cv: float | None = None
    values: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> LosSpec:
        if self.dist == "empirical":
            if not self.values or min(self.values) < 0:
                raise ValueError(
                    f"an empirical stay needs a non-empty list of hours >= 0 in 'values', "
                    f"got {self.values!r}"
                )
            return self
        if self.mean is None or not math.isfinite(self.mean) or self.mean < 0:
            raise ValueError(f"{self.dist} stay needs 'mean' >= 0 (hours), got {self.mean!r}")
        if self.dist != "fixed" and self.mean == 0:
            raise ValueError(f"{self.dist} stay needs 'mean' > 0 (hours), got 0")
        if self.dist in ("lognormal", "gamma") and (self.cv is None or not self.cv > 0):
            raise ValueError(f"{self.dist} stay needs 'cv' > 0, got {self.cv!r}")
        return self

    def mean_hours(self) -> float:
        """The mean stay in hours."""
        if self.values is not None and self.dist == "empirical":
            return float(np.mean(self.values))
        return float(self.mean or 0.0)

    def _frozen(self) -> stats.rv_continuous:
        m = float(self.mean or 0.0)
        if self.dist == "exponential":
            return stats.expon(scale=m)
        cv = float(self.cv or 0.0)
        if self.dist == "lognormal":
            sigma = math.sqrt(math.log1p(cv * cv))
            return stats.lognorm(s=sigma, scale=m * math.exp(-0.5 * sigma * sigma))
        shape = 1.0 / (cv * cv)
        return stats.gamma(a=shape, scale=m / shape)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` stays in hours, shape ``(n,)``."""
        m = float(self.mean or 0.0)
        if self.dist == "fixed":
            return np.full(n, m)
        if self.dist == "empirical":
            return rng.choice(np.asarray(self.values, dtype=float), size=n)
        if self.dist == "exponential":
            return rng.exponential(m, size=n)
        cv = float(self.cv or 0.0)
        if self.dist == "lognormal":
            sigma = math.sqrt(math.log1p(cv * cv))
            return rng.lognormal(math.log(m) - 0.5 * sigma * sigma, sigma, size=n)
        shape = 1.0 / (cv * cv)
        return rng.gamma(shape, m / shape, size=n)

    def sample_residual(self, rng: np.random.Generator, elapsed_hours: np.ndarray) -> np.ndarray:
        """Remaining stays of patients who have been in for ``elapsed_hours``, shape ``(n,)``."""
        e = np.asarray(elapsed_hours, dtype=float)
        if self.dist == "fixed":
            return np.maximum(float(self.mean or 0.0) - e, 0.0)
        if self.dist == "empirical":
            v = np.sort(np.asarray(self.values, dtype=float))
            out = np.zeros(e.shape)
            for i, ei in enumerate(e):
                longer = v[v > ei]
                out[i] = rng.choice(longer) - ei if longer.size else 0.0
            return out
        if self.dist == "exponential":
            return rng.exponential(float(self.mean or 0.0), size=e.shape)
        law = self._frozen()
        u = rng.random(e.shape)
        tail = law.sf(e)
        x = law.isf(u * tail)
        # Far in the tail isf loses precision; the stay then simply ends soon.
        return np.where(np.isfinite(x) & (x > e), x - e, 0.0)
