"""Kaplan-Meier curves from the sites' event tables, with Greenwood intervals and DP bounds.

Each site sends, at its time points ``t_j`` (its own distinct times, or a public grid),
events ``d_j``, censorings ``c_j`` and its total ``N``; at any time ``t`` its number at risk
is ``N - sum_{t_j < t} (d_j + c_j)``. Summed over sites at the pooled distinct times this
is exactly the pooled risk set, so the federated curve equals the pooled Kaplan-Meier
estimate (Kaplan & Meier, JASA 1958)::

    S(t) = prod_{t_j <= t} (1 - d_j / n_j)
    Var S(t) = S(t)**2 sum_{t_j <= t} d_j / (n_j (n_j - d_j))      (Greenwood 1926)

with the pointwise interval on the log(-log) scale (Kalbfleisch & Prentice 2002, as
lifelines reports it) or on the plain scale. With DP noise each factor is
``r_j / (d_j + r_j)`` with ``r_j = n_j - d_j`` the patients who stay at risk; it falls with
``d_j`` and rises with ``r_j``, so when every noisy cell lies within its accuracy (which
holds with the stated confidence) the true curve of the coarsened data lies between the
products of the factors' extreme values. Those bounds are ``dp_lower``/``dp_upper``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.federation.analytics_bounds import Noise
from healthtwin.federation.analytics_queries import SiteAnswer

__all__ = ["EventTable", "SurvivalCurve", "event_table", "kaplan_meier", "merge_event_tables"]


@dataclass(frozen=True)
class EventTable:
    """Events and risk sets at time points, with the DP noise in each.

    Attributes
    ----------
    time : ndarray, shape (m,)
    events, stay : ndarray, shape (m,)
        ``d_j`` and ``r_j = n_j - d_j`` (those at risk who do not have the event at ``t_j``).
    events_noise, stay_noise : tuple of Noise, length m
        The DP noise terms in ``d_j`` and ``r_j`` (empty without DP).
    complete : bool
        False when suppression cut the table short (the site's curve ends there).
    """

    time: FloatArray
    events: FloatArray
    stay: FloatArray
    events_noise: tuple[Noise, ...] = ()
    stay_noise: tuple[Noise, ...] = ()
    complete: bool = True

    @property
    def at_risk(self) -> FloatArray:
        """``n_j = d_j + r_j``, shape ``(m,)``."""
        return np.asarray(self.events + self.stay, np.float64)

    @property
    def noisy(self) -> bool:
        """Whether any count carries DP noise."""
        return any(not n.is_zero for n in (*self.events_noise, *self.stay_noise))


def event_table(answer: SiteAnswer) -> EventTable:
    """One site's event table, cut before its first suppressed cell.

    Raises
    ------
    InvalidInputError
        If the site withheld its total (then no risk set can be computed).

    Examples
    --------
    >>> answer = SiteAnswer("a", {"time": (1.0, 2.0), "events": (1.0, 1.0),
    ...                           "censored": (1.0, 0.0), "total": (3.0,)})
    >>> event_table(answer).at_risk.tolist()
    [3.0, 1.0]
    """
    total = answer.vector("total")[0]
    if total is None:
        raise InvalidInputError(
            f"site {answer.site!r} withheld its total: its survival table cannot be used"
        )
    time = np.asarray(answer.vector("time"), np.float64)
    events, censored = answer.vector("events"), answer.vector("censored")
    usable = _usable_points(events, censored)
    d = np.array(events[:usable], np.float64)
    c = np.array(censored[:usable], np.float64)
    before = np.concatenate([[0.0], np.cumsum(d + c)[:-1]]) if usable else np.zeros(0)
    stay = total - before - d
    cell = Noise.cell(*answer.noise["events"]) if "events" in answer.noise else Noise()
    # The total is the sum of the released cells (beyond the grid included), so r_j carries
    # the noise of every cell after d_j: c_j, then d and c of each later point, then beyond.
    n_points = len(events)
    stay_noise = tuple(cell * (2 * (n_points - j)) for j in range(usable))
    complete = usable == n_points
    return EventTable(time[:usable], d, stay, (cell,) * usable, stay_noise, complete)


def _usable_points(events: Sequence[float | None], censored: Sequence[float | None]) -> int:
    """Points before the first hidden event count or after the first hidden censoring."""
    for j, (d, c) in enumerate(zip(events, censored, strict=True)):
        if d is None:
            return j
        if c is None:
            return j + 1
    return len(events)


def merge_event_tables(tables: Sequence[EventTable]) -> EventTable:
    """The pooled event table at the union of the sites' time points.

    A site's risk set at a time between its own points is its risk set at its next point
    (or 0 after its last), and its events there are 0. Tables cut short by suppression
    limit the pooled table to the earliest cut. Noisy tables must share their time points
    (a public grid).

    Examples
    --------
    >>> a = EventTable(*(np.array(v) for v in ([1.0, 3.0], [1.0, 1.0], [2.0, 0.0])))
    >>> b = EventTable(*(np.array(v) for v in ([2.0], [1.0], [1.0])))
    >>> merged = merge_event_tables([a, b])
    >>> merged.time.tolist(), merged.at_risk.tolist(), merged.events.tolist()
    ([1.0, 2.0, 3.0], [5.0, 3.0, 1.0], [1.0, 1.0, 1.0])
    """
    if not tables:
        raise InvalidInputError("no site sent a survival table; nothing to merge")
    time = np.unique(np.concatenate([t.time for t in tables]))
    cuts = [float(t.time[-1]) if t.time.size else -math.inf for t in tables if not t.complete]
    time = time[time <= min(cuts, default=math.inf)]
    if any(t.noisy for t in tables):
        return _merge_on_grid(tables, time)
    events, stay = np.zeros(time.size), np.zeros(time.size)
    for table in tables:
        if not table.time.size:
            continue
        index = np.searchsorted(table.time, time, side="left")
        inside = index < table.time.size
        at = np.minimum(index, table.time.size - 1)
        own = inside & (table.time[at] == time)
        d = np.where(own, table.events[at], 0.0)
        events += d
        stay += np.where(inside, table.at_risk[at], 0.0) - d
    return EventTable(time, events, stay)


def _merge_on_grid(tables: Sequence[EventTable], time: FloatArray) -> EventTable:
    m = time.size
    for table in tables:
        if table.time.size < m or not np.array_equal(table.time[:m], time):
            raise InvalidInputError(
                "noisy survival tables must share one public time grid; ask every site "
                "with the same SurvivalQuery(grid=...)"
            )
    events = np.sum([t.events[:m] for t in tables], axis=0)
    stay = np.sum([t.stay[:m] for t in tables], axis=0)
    events_noise = tuple(sum((t.events_noise[j] for t in tables), Noise()) for j in range(m))
    stay_noise = tuple(sum((t.stay_noise[j] for t in tables), Noise()) for j in range(m))
    return EventTable(time, events, stay, events_noise, stay_noise)


@dataclass(frozen=True)
class SurvivalCurve:
    """A Kaplan-Meier curve at its time points.

    Attributes
    ----------
    time, at_risk, events : ndarray, shape (m,)
    survival : ndarray, shape (m,)
        ``S(t_j)``.
    greenwood_variance : ndarray, shape (m,)
        Greenwood's variance of ``S(t_j)``.
    ci_lower, ci_upper : ndarray, shape (m,)
        Pointwise ``1 - ci_alpha`` interval (``ci_method``: ``"log-log"`` or ``"plain"``).
    dp_lower, dp_upper : ndarray, shape (m,)
        Bounds on the noise-free curve that hold together with probability at least
        ``1 - dp_alpha`` (equal to ``survival`` without DP).
    """

    time: FloatArray
    at_risk: FloatArray
    events: FloatArray
    survival: FloatArray
    greenwood_variance: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    dp_lower: FloatArray
    dp_upper: FloatArray
    ci_method: str = "log-log"
    ci_alpha: float = 0.05
    dp_alpha: float = 0.05


def kaplan_meier(
    table: EventTable,
    *,
    ci_alpha: float = 0.05,
    ci_method: str = "log-log",
    dp_alpha: float = 0.05,
) -> SurvivalCurve:
    """The Kaplan-Meier curve, Greenwood variance and intervals of an event table.

    Noisy counts are clipped at 0 for the estimate (post-processing); a factor with
    nobody at risk is 1.

    Examples
    --------
    >>> table = EventTable(np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.array([3.0, 1.0]))
    >>> curve = kaplan_meier(table)
    >>> curve.survival.tolist(), curve.greenwood_variance.round(6).tolist()
    ([0.75, 0.375], [0.046875, 0.082031])
    """
    if ci_method not in {"log-log", "plain"}:
        raise InvalidParameterError(f"ci_method = {ci_method!r}; choose 'log-log' or 'plain'")
    if not 0 < ci_alpha < 1:
        raise InvalidParameterError(f"ci_alpha must be in (0, 1), got {ci_alpha!r}")
    d = np.maximum(table.events, 0.0)
    r = np.maximum(table.stay, 0.0)
    survival = _cumprod(_factor(d, r))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, d / ((d + r) * r), 0.0)
    greenwood = np.cumsum(terms)
    variance = survival**2 * greenwood
    z = float(stats.norm.ppf(1 - ci_alpha / 2))
    lower, upper = _interval(survival, greenwood, variance, z, ci_method)
    # Union bound over the 2m noisy numbers d_j and r_j.
    delta = dp_alpha / max(2 * table.time.size, 1)
    d_error = np.array([n.bound(delta) for n in table.events_noise] or np.zeros(d.size))
    r_error = np.array([n.bound(delta) for n in table.stay_noise] or np.zeros(d.size))
    d_lo = np.maximum(table.events - d_error, 0.0)
    d_hi = np.maximum(table.events + d_error, 0.0)
    r_lo = np.maximum(table.stay - r_error, 0.0)
    r_hi = np.maximum(table.stay + r_error, 0.0)
    dp_lower = _cumprod(_factor(d_hi, r_lo))
    dp_upper = _cumprod(_factor(d_lo, r_hi))
    return SurvivalCurve(
        table.time, d + r, d, survival, variance, lower, upper, dp_lower, dp_upper,
        ci_method, ci_alpha, dp_alpha,
    )  # fmt: skip


def _cumprod(factors: FloatArray) -> FloatArray:
    return np.asarray(np.cumprod(factors), np.float64)


def _factor(d: FloatArray, r: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d + r > 0, r / (d + r), 1.0)


def _interval(
    survival: FloatArray, greenwood: FloatArray, variance: FloatArray, z: float, method: str
) -> tuple[FloatArray, FloatArray]:
    if method == "plain":
        half = z * np.sqrt(variance)
        return np.clip(survival - half, 0.0, 1.0), np.clip(survival + half, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        spread = z * np.sqrt(greenwood) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    # Where S is 1 (or 0) the transform is undefined; lifelines reports 1 there too.
    return np.nan_to_num(lower, nan=1.0), np.nan_to_num(upper, nan=1.0)
