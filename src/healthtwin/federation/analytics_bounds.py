"""Error bounds for sums of independent DP noise terms, as the coordinator states them.

A pooled count is a sum of noisy cells: one per site, or, for a cumulative count or a
risk set, many. Adding the cells' individual ``1 - alpha`` half-widths is valid but grows
linearly with the number of cells; here the bound of a sum of discrete Laplace terms is
computed from its exact distribution instead (the terms' probability mass functions
convolved, each truncated where its dropped tail mass is at most ``delta / (20 m)``, and
the dropped mass added to the tail, so the bound stays conservative). OpenDP's discrete
Laplace with scale ``b`` has ``P(k) ∝ exp(-|k| / b)``. Continuous Laplace terms (sums of
clamped values) are bounded one by one, ``b ln(1/delta_i)``, by the union bound.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["CONTINUOUS", "DISCRETE", "Noise"]

DISCRETE = "discrete laplace"
CONTINUOUS = "laplace"


@dataclass(frozen=True)
class Noise:
    """The independent noise terms in one released or derived number.

    Attributes
    ----------
    terms : tuple of (str, float, int)
        ``(mechanism, scale, count)``: ``count`` independent terms of that kind.

    Examples
    --------
    >>> one = Noise.cell(DISCRETE, 1.0)
    >>> one.bound(0.05), (one * 4).bound(0.05)  # four cells: 5, not 4 * 3
    (3.0, 5.0)
    >>> Noise().bound(0.05)
    0.0
    """

    terms: tuple[tuple[str, float, int], ...] = ()

    @classmethod
    def cell(cls, mechanism: str, scale: float) -> Noise:
        """One noise term (no noise when ``scale`` is 0)."""
        if mechanism not in {DISCRETE, CONTINUOUS}:
            raise InvalidParameterError(
                f"unknown noise mechanism {mechanism!r}; known: {DISCRETE!r}, {CONTINUOUS!r}"
            )
        return cls(((mechanism, float(scale), 1),)) if scale > 0 else cls()

    def __add__(self, other: Noise) -> Noise:
        counts: Counter[tuple[str, float]] = Counter()
        for mechanism, scale, count in (*self.terms, *other.terms):
            counts[mechanism, scale] += count
        return Noise(tuple((m, s, c) for (m, s), c in sorted(counts.items()) if c > 0))

    def __mul__(self, count: int) -> Noise:
        return Noise(tuple((m, s, c * int(count)) for m, s, c in self.terms if c * count > 0))

    @property
    def is_zero(self) -> bool:
        """Whether the number is exact."""
        return not self.terms

    def bound(self, delta: float) -> float:
        """A half-width ``t`` with ``P(|noise| > t) <= delta``."""
        if self.is_zero:
            return 0.0
        if not 0 < delta < 1:
            raise InvalidParameterError(f"delta must be in (0, 1), got {delta!r}")
        continuous = [(s, c) for m, s, c in self.terms if m == CONTINUOUS]
        discrete = [(s, c) for m, s, c in self.terms if m == DISCRETE]
        parts = sum(c for _, c in continuous) + (1 if discrete else 0)
        share = delta / parts
        total = sum(c * s * math.log(1 / share) for s, c in continuous)
        if discrete:
            total += _discrete_sum_bound(discrete, share)
        return total


def _discrete_sum_bound(terms: list[tuple[float, int]], delta: float) -> float:
    n_terms = sum(c for _, c in terms)
    pmf: FloatArray = np.ones(1)
    dropped = 0.0
    for scale, count in terms:
        ratio = math.exp(-1.0 / scale)
        half = math.ceil(scale * math.log(40 * n_terms / delta)) + 1
        k = np.arange(-half, half + 1)
        single = (1 - ratio) / (1 + ratio) * ratio ** np.abs(k)
        dropped += count * max(0.0, 1.0 - float(single.sum()))
        pmf = np.convolve(pmf, _power(single, count))
    centre = (pmf.size - 1) // 2
    # tail[t] = P(|S| > t) for t = 0, 1, ...; symmetric, so twice the upper tail.
    upper = np.cumsum(pmf[centre + 1 :][::-1])[::-1]
    tail = 2 * upper + dropped
    ok = np.flatnonzero(tail <= delta)
    return float(ok[0]) if ok.size else float(upper.size)


def _power(pmf: FloatArray, count: int) -> FloatArray:
    """``count``-fold convolution by repeated squaring."""
    result: FloatArray = np.ones(1)
    base = pmf
    while count:
        if count & 1:
            result = np.convolve(result, base)
        count >>= 1
        if count:
            base = np.convolve(base, base)
    return result
