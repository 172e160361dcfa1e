"""Prior distributions for simulation-based calibration: densities and batched draws.

Each prior has ``dim``, ``log_pdf(theta (n, d)) -> (n,)`` (``-inf`` outside the support)
and ``sample(n, rng) -> (n, d)``; :class:`IndependentPrior` joins one-dimensional priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "GammaPrior",
    "IndependentPrior",
    "LogUniformPrior",
    "NormalPrior",
    "Prior",
    "UniformPrior",
]


class Prior(Protocol):
    """A prior over ``d`` parameters: a log density and a sampler, both batched."""

    @property
    def dim(self) -> int:
        """Number of parameters ``d``."""
        ...

    def log_pdf(self, theta: FloatArray) -> FloatArray:
        """Log density of ``theta`` (n, d), shape (n,); ``-inf`` outside the support."""
        ...

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` independent draws, shape (n, d)."""
        ...


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class UniformPrior:
    """Uniform on ``[low, high]``, one parameter.

    Examples
    --------
    >>> UniformPrior(0.0, 2.0).log_pdf(np.array([1.0, 3.0])).tolist()
    [-0.6931471805599453, -inf]
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise InvalidParameterError(
                f"uniform prior needs finite low < high, got [{self.low!r}, {self.high!r}]"
            )

    def log_pdf(self, x: FloatArray) -> FloatArray:
        """Log density, shape of ``x``."""
        inside = (x >= self.low) & (x <= self.high)
        return np.where(inside, -math.log(self.high - self.low), -np.inf)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` draws, shape (n,)."""
        return rng.uniform(self.low, self.high, size=n)


@dataclass(frozen=True)
class LogUniformPrior:
    """Density ``∝ 1/x`` on ``[low, high]`` with ``0 < low < high`` (uniform in log x).

    Examples
    --------
    >>> LogUniformPrior(1.0, 100.0).log_pdf(np.array([10.0, 1000.0])).round(6).tolist()
    [-3.829765, -inf]
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        _positive("log-uniform low", self.low)
        if not (math.isfinite(self.high) and self.high > self.low):
            raise InvalidParameterError(
                f"log-uniform prior needs 0 < low < high, got [{self.low!r}, {self.high!r}]"
            )

    def log_pdf(self, x: FloatArray) -> FloatArray:
        """Log density, shape of ``x``."""
        inside = (x >= self.low) & (x <= self.high)
        log_norm = math.log(math.log(self.high / self.low))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(inside, -np.log(np.where(inside, x, 1.0)) - log_norm, -np.inf)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` draws, shape (n,)."""
        return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=n))


@dataclass(frozen=True)
class NormalPrior:
    """Normal with ``mean`` and standard deviation ``sd``.

    Examples
    --------
    >>> round(float(NormalPrior(0.0, 1.0).log_pdf(np.array([0.0]))[0]), 6)
    -0.918939
    """

    mean: float
    sd: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise InvalidParameterError(f"normal prior mean must be finite, got {self.mean!r}")
        _positive("normal prior sd", self.sd)

    def log_pdf(self, x: FloatArray) -> FloatArray:
        """Log density, shape of ``x``."""
        z = (x - self.mean) / self.sd
        return np.asarray(-0.5 * z**2 - math.log(self.sd) - 0.5 * math.log(2 * math.pi))

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` draws, shape (n,)."""
        return rng.normal(self.mean, self.sd, size=n)


@dataclass(frozen=True)
class GammaPrior:
    """Gamma with ``shape`` and ``scale`` (mean ``shape * scale``).

    Examples
    --------
    >>> round(float(GammaPrior(1.0, 2.0).log_pdf(np.array([2.0]))[0]), 6)
    -1.693147
    """

    shape: float
    scale: float

    def __post_init__(self) -> None:
        _positive("gamma prior shape", self.shape)
        _positive("gamma prior scale", self.scale)

    def log_pdf(self, x: FloatArray) -> FloatArray:
        """Log density, shape of ``x``; ``-inf`` for ``x <= 0``."""
        positive = x > 0
        safe = np.where(positive, x, 1.0)
        log_density = (
            (self.shape - 1) * np.log(safe)
            - safe / self.scale
            - special.gammaln(self.shape)
            - self.shape * math.log(self.scale)
        )
        return np.where(positive, log_density, -np.inf)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` draws, shape (n,)."""
        return rng.gamma(self.shape, self.scale, size=n)


Component = UniformPrior | LogUniformPrior | NormalPrior | GammaPrior


@dataclass(frozen=True)
class IndependentPrior:
    """Independent one-dimensional priors, one per parameter (a :class:`Prior`).

    Examples
    --------
    >>> prior = IndependentPrior((UniformPrior(0.0, 1.0), GammaPrior(2.0, 1.0)),
    ...                          names=("rho", "beta_per_day"))
    >>> prior.sample(5, np.random.default_rng(0)).shape
    (5, 2)
    """

    components: tuple[Component, ...]
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.components:
            raise InvalidParameterError("IndependentPrior needs at least one component")
        if self.names is not None and len(self.names) != len(self.components):
            raise InvalidParameterError(
                f"{len(self.names)} names for {len(self.components)} prior components"
            )

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return len(self.components)

    def log_pdf(self, theta: FloatArray) -> FloatArray:
        """Sum of the components' log densities, shape (n,)."""
        values = _theta(theta, self.dim)
        total = np.zeros(values.shape[0])
        for column, component in enumerate(self.components):
            total = total + component.log_pdf(values[:, column])
        return total

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` draws, shape (n, d)."""
        return np.column_stack([c.sample(n, rng) for c in self.components])


def _theta(theta: ArrayLike, dim: int) -> FloatArray:
    values = np.asarray(theta, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != dim:
        raise ShapeError(f"parameters must be (n, {dim}), got shape {values.shape}")
    return values
