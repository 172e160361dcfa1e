"""Stress tests of health-system capacity: surges, supply shocks and staff absence.

A stress test lays a capacity timeline ``C[s, t, r]`` over simulated demand ``D[s, t, r]``
(ICU or hospital occupancy from the epidemic ensemble, one path per replicate ``s``) and
reports, per region:

- the **time to capacity breach**: the first day with ``D > C`` (never = ``inf``), with its
  distribution over paths and the probability of a breach within the horizon;
- the **unmet demand** ``sum_t max(D - C, 0)`` in people-days;
- the **deaths attributable to overflow**: each unmet people-day carries the excess daily
  death risk of a patient who needs the bed and does not get it,
  ``(p_death_without - p_death_with) / mean_stay_days`` (both probabilities are scenario
  assumptions the report repeats, since the literature gives wide ranges).

The capacity timeline starts from the beds per region, loses a share of them during supply
shocks (a ward closed, oxygen or ventilators short), and loses staffed beds when staff are
absent: absence is a baseline share plus the share of the population currently ill
(new cases over the last ``absence_days`` days divided by the population), scaled by
``staff_absence_multiplier`` (health workers are more exposed than the population).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["StaffAbsence", "StressReport", "SupplyShock", "capacity_timeline", "stress_test"]


@dataclass(frozen=True, kw_only=True)
class SupplyShock:
    """A share of capacity lost from ``start_day`` for ``duration_days`` in some regions."""

    start_day: int
    duration_days: int
    fraction_lost: float
    regions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.start_day < 0 or self.duration_days < 1:
            raise InvalidParameterError(
                f"a supply shock needs start_day >= 0 and duration_days >= 1; got "
                f"{self.start_day}, {self.duration_days}"
            )
        if not 0.0 <= self.fraction_lost <= 1.0:
            raise InvalidParameterError(
                f"fraction_lost must be between 0 and 1; got {self.fraction_lost}"
            )


@dataclass(frozen=True, kw_only=True)
class StaffAbsence:
    """Staff absence: a baseline share plus the share of people ill, times a multiplier."""

    baseline: float = 0.0
    absence_days: int = 7
    staff_absence_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.baseline < 1.0:
            raise InvalidParameterError(f"baseline must be in [0, 1); got {self.baseline}")
        if self.absence_days < 1 or self.staff_absence_multiplier < 0:
            raise InvalidParameterError(
                "absence_days must be >= 1 and staff_absence_multiplier >= 0"
            )


@dataclass(frozen=True)
class StressReport:
    """Per-path and per-region results of a stress test.

    Attributes
    ----------
    breach_day
        First day with demand above capacity, shape ``(S, R)``; ``inf`` where never.
    unmet
        Unmet people-days, shape ``(S, R)``.
    overflow_deaths
        Deaths attributable to overflow, shape ``(S, R)``.
    capacity
        The capacity timeline used, shape ``(S, T, R)``.
    """

    breach_day: FloatArray
    unmet: FloatArray
    overflow_deaths: FloatArray
    capacity: FloatArray
    regions: tuple[str, ...] = field(default=())

    def breach_probability(self, within_days: int | None = None) -> FloatArray:
        """Share of paths with a breach (within ``within_days``), per region ``(R,)``."""
        horizon = self.capacity.shape[1] if within_days is None else within_days
        return np.asarray((self.breach_day < horizon).mean(axis=0), dtype=float)

    def breach_day_quantiles(self, levels: Sequence[float] = (0.1, 0.5, 0.9)) -> FloatArray:
        """Quantiles of the breach day over paths, ``(len(levels), R)`` (``inf`` = none)."""
        return np.asarray(
            np.quantile(self.breach_day, levels, axis=0, method="inverted_cdf"), dtype=float
        )

    def summary(self) -> dict[str, object]:
        """National figures: breach probability, median first breach, unmet, deaths."""
        first = self.breach_day.min(axis=1)
        return {
            "paths": int(self.unmet.shape[0]),
            "probability_any_breach": float(np.isfinite(first).mean()),
            # None (JSON null) when most paths never breach.
            "median_first_breach_day": _finite_or_none(
                float(np.quantile(first, 0.5, method="inverted_cdf"))
            ),
            "unmet_people_days_mean": float(self.unmet.sum(axis=1).mean()),
            "overflow_deaths_mean": float(self.overflow_deaths.sum(axis=1).mean()),
            "overflow_deaths_90pct": [
                float(q) for q in np.quantile(self.overflow_deaths.sum(axis=1), [0.05, 0.95])
            ],
        }


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


def capacity_timeline(
    beds: FloatArray,
    *,
    paths: int,
    days: int,
    shocks: Sequence[SupplyShock] = (),
    absence: StaffAbsence | None = None,
    cases: FloatArray | None = None,
    population: FloatArray | None = None,
) -> FloatArray:
    """Usable capacity per path, day and region, shape ``(paths, days, R)``.

    Examples
    --------
    >>> cap = capacity_timeline(np.array([10.0, 20.0]), paths=1, days=4,
    ...                         shocks=[SupplyShock(start_day=1, duration_days=2,
    ...                                             fraction_lost=0.5, regions=(1,))])
    >>> cap[0].tolist()
    [[10.0, 20.0], [10.0, 10.0], [10.0, 10.0], [10.0, 20.0]]
    """
    b = np.asarray(beds, dtype=float)
    if b.ndim != 1 or (b < 0).any() or not np.isfinite(b).all():
        raise InvalidInputError("beds must be one finite, non-negative number per region")
    n_regions = b.size
    keep = np.ones((days, n_regions))
    for shock in shocks:
        where = list(range(n_regions)) if shock.regions is None else list(shock.regions)
        if any(not 0 <= r < n_regions for r in where):
            raise InvalidInputError(f"a supply shock names regions {where}; there are {n_regions}")
        end = min(days, shock.start_day + shock.duration_days)
        keep[shock.start_day : end, where] *= 1.0 - shock.fraction_lost
    capacity = np.broadcast_to(b * keep, (paths, days, n_regions)).copy()
    if absence is not None:
        capacity *= 1.0 - _absent_share(absence, cases, population, paths, days, n_regions)
    return capacity


def stress_test(
    demand: FloatArray,
    capacity: FloatArray,
    *,
    p_death_with_care: float,
    p_death_without_care: float,
    mean_stay_days: float,
    regions: Sequence[str] = (),
) -> StressReport:
    """Breach days, unmet demand and overflow deaths of ``demand`` against ``capacity``.

    Parameters
    ----------
    demand, capacity
        Shape ``(S, T, R)`` (capacity may also be ``(T, R)`` or ``(R,)``).
    p_death_with_care, p_death_without_care
        Death risk of a patient who needs the bed, with and without it.
    mean_stay_days
        Mean length of stay in the bed, days.

    Examples
    --------
    >>> d = np.array([[[1.0], [3.0], [5.0], [2.0]]])
    >>> r = stress_test(d, np.array([2.0]), p_death_with_care=0.3,
    ...                 p_death_without_care=0.8, mean_stay_days=10)
    >>> r.breach_day.tolist(), r.unmet.tolist(), r.overflow_deaths.round(3).tolist()
    ([[1.0]], [[4.0]], [[0.2]])
    """
    d = np.asarray(demand, dtype=float)
    if d.ndim != 3:
        raise ShapeError(f"demand must have shape (paths, days, regions); got {d.shape}")
    if not np.isfinite(d).all() or (d < 0).any():
        raise InvalidInputError("demand must be finite and >= 0")
    try:
        cap = np.broadcast_to(np.asarray(capacity, dtype=float), d.shape)
    except ValueError as err:
        raise ShapeError(
            f"capacity of shape {np.shape(capacity)} does not fit demand of shape {d.shape}"
        ) from err
    risks = {"p_death_with_care": p_death_with_care, "p_death_without_care": p_death_without_care}
    for name, p in risks.items():
        if not 0.0 <= p <= 1.0:
            raise InvalidParameterError(f"{name} must be a probability; got {p}")
    if p_death_without_care < p_death_with_care:
        raise InvalidParameterError(
            "p_death_without_care must be >= p_death_with_care (care does not raise the risk)"
        )
    if not mean_stay_days > 0:
        raise InvalidParameterError(f"mean_stay_days must be > 0; got {mean_stay_days}")
    over = d > cap
    days = np.arange(d.shape[1], dtype=float)[None, :, None]
    breach = np.where(over, days, np.inf).min(axis=1)
    unmet = np.maximum(d - cap, 0.0).sum(axis=1)
    excess_per_day = (p_death_without_care - p_death_with_care) / mean_stay_days
    return StressReport(breach, unmet, unmet * excess_per_day, np.array(cap), tuple(regions))


def _absent_share(
    absence: StaffAbsence,
    cases: FloatArray | None,
    population: FloatArray | None,
    paths: int,
    days: int,
    n_regions: int,
) -> FloatArray:
    share = np.full((paths, days, n_regions), absence.baseline)
    if cases is None:
        return share
    c = np.asarray(cases, dtype=float)
    if c.shape != (paths, days, n_regions):
        raise ShapeError(f"cases must have shape {(paths, days, n_regions)}; got {c.shape}")
    if population is None:
        raise InvalidInputError("staff absence driven by cases needs the population per region")
    pop = np.asarray(population, dtype=float)
    if pop.shape != (n_regions,) or (pop <= 0).any():
        raise InvalidInputError(f"population must be {n_regions} positive numbers")
    window = np.cumsum(c, axis=1)
    lagged = np.zeros_like(window)
    k = absence.absence_days
    lagged[:, k:] = window[:, :-k] if k < days else 0.0
    ill = (window - lagged) / pop[None, None, :]
    return np.asarray(np.clip(share + absence.staff_absence_multiplier * ill, 0.0, 1.0))
