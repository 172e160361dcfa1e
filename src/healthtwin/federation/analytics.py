"""Federated analytics: statistics across sites from aggregates only.

A coordinator sends a query (:mod:`~healthtwin.federation.analytics_queries`) to every
site; each site answers with local sufficient statistics under its own disclosure policy
(:mod:`~healthtwin.federation.analytics_site`: OpenDP noise charged to its own privacy
ledger, small-cell suppression); the coordinator combines them here:

- **counts** ("how many patients with X per country"): per site and pooled;
- **moments**: ``n``, ``sum (x - c)``, ``sum (x - c)**2`` per site (``c`` a public shift)
  give the pooled mean and variance exactly (``var = (Q - S**2/n) / (n - 1)``);
- **histograms** on agreed edges or categories: cell sums;
- **quantiles** from the merged histogram: with ``C_i`` the pooled count below edge
  ``e_i``, the pooled quantile ``Q_q = inf{x : F_n(x) >= q}`` is at least ``e_i`` when
  ``C_i < q n`` and at most ``e_i`` when ``C_i >= q n``; the answer is the bracketing
  edges (``lower``, ``upper``, the bin width when exact) and a linear interpolation inside.
  With DP the same holds for the noisy counts widened by their accuracies;
- **Kaplan-Meier** curves pooled and by site, with Greenwood intervals
  (:mod:`~healthtwin.federation.analytics_km`).

Stated error with DP: sites report each cell's noise mechanism and scale; the coordinator
bounds every number it derives (a pooled total, a cumulative count, a risk set) from the
exact distribution of its noise terms (:mod:`~healthtwin.federation.analytics_bounds`) and
splits ``alpha`` over the numbers a result rests on (union bound), so all of a result's
stated bounds hold together with probability at least ``1 - alpha`` (its ``confidence``).

Failures are data: a site that refuses (budget spent, column missing), does not reply or
whose cells are suppressed is listed in ``coverage.missing`` with its reason, and the
answer goes on over the remaining sites; a hidden value is never used in a pooled number,
so pooled results cannot be differenced to recover it.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.federation.analytics_bounds import Noise
from healthtwin.federation.analytics_km import (
    SurvivalCurve,
    event_table,
    kaplan_meier,
    merge_event_tables,
)
from healthtwin.federation.analytics_queries import (
    CountQuery,
    HistogramQuery,
    MomentsQuery,
    Query,
    SiteAnswer,
    SurvivalQuery,
    Where,
)
from healthtwin.federation.analytics_site import AnalyticsSite, SitePolicy

__all__ = [
    "AnalyticsSite",
    "CountQuery",
    "Coverage",
    "FederatedAnalytics",
    "GroupedCount",
    "Histogram",
    "HistogramQuery",
    "InProcessSites",
    "Moments",
    "MomentsQuery",
    "Quantile",
    "SiteAnswer",
    "SitePolicy",
    "SurvivalCurve",
    "SurvivalQuery",
    "SurvivalResult",
    "Transport",
    "Where",
    "combine_counts",
    "combine_histograms",
    "combine_moments",
    "combine_survival",
    "histogram_quantiles",
]


class Transport(Protocol):
    """How queries reach the sites: in process, or over a Flower grid."""

    def site_names(self) -> Sequence[str]:
        """The sites that will be asked."""

    def ask(self, query: Query) -> list[SiteAnswer]:
        """One answer per site (a refusal for a site that did not reply)."""


@dataclass(frozen=True)
class InProcessSites:
    """Plain in-process calls to :class:`AnalyticsSite` objects (tests, one machine)."""

    sites: Sequence[AnalyticsSite]

    def site_names(self) -> Sequence[str]:
        """Names of the sites."""
        return [s.name for s in self.sites]

    def ask(self, query: Query) -> list[SiteAnswer]:
        """Each site's answer."""
        return [site.answer(query) for site in self.sites]


@dataclass(frozen=True)
class Coverage:
    """Which sites a result covers, which are missing and why, and what it cost.

    Attributes
    ----------
    answered : tuple of str
        Sites whose aggregates entered the pooled result.
    missing : tuple of (str, str)
        ``(site, reason)`` for each site left out.
    epsilon : dict of str to float
        Privacy loss each answering site spent on this query.
    confidence : float
        Probability that every stated DP bound holds (1 without DP).
    """

    answered: tuple[str, ...]
    missing: tuple[tuple[str, str], ...] = ()
    epsilon: dict[str, float] = field(default_factory=dict)
    confidence: float = 1.0

    def note(self) -> str:
        """One sentence for a report.

        Examples
        --------
        >>> Coverage(("a", "b"), (("c", "budget spent"),)).note()
        '2 of 3 sites answered; missing: c (budget spent)'
        """
        n = len(self.answered) + len(self.missing)
        text = f"{len(self.answered)} of {n} sites answered"
        if self.missing:
            text += "; missing: " + ", ".join(f"{s} ({why})" for s, why in self.missing)
        return text


def _coverage(
    answers: Sequence[SiteAnswer],
    used: Sequence[SiteAnswer],
    reasons: dict[str, str],
    alpha: float,
) -> Coverage:
    missing = [(a.site, str(a.refusal)) for a in answers if a.refusal is not None]
    missing += list(reasons.items())
    noisy = any(a.noise for a in used)
    return Coverage(
        tuple(a.site for a in used),
        tuple(missing),
        {a.site: a.epsilon for a in used},
        1.0 - alpha if noisy else 1.0,
    )


def _noise(answer: SiteAnswer, name: str) -> Noise:
    return Noise.cell(*answer.noise[name]) if name in answer.noise else Noise()


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}")


def _answered(answers: Sequence[SiteAnswer]) -> list[SiteAnswer]:
    return [a for a in answers if a.refusal is None]


@dataclass(frozen=True)
class GroupedCount:
    """Patients matching a condition, per site and pooled.

    ``by_site`` holds ``None`` for a suppressed site; ``total`` sums the published sites
    only; ``|total - true total| <= total_error`` with ``coverage.confidence``.
    """

    by_site: dict[str, float | None]
    total: float
    total_error: float
    coverage: Coverage


def combine_counts(answers: Sequence[SiteAnswer], alpha: float = 0.05) -> GroupedCount:
    """Per-site and pooled counts of a :class:`CountQuery`.

    Examples
    --------
    >>> answers = [SiteAnswer("a", {"count": (12.0,)}), SiteAnswer("b", {"count": (None,)})]
    >>> result = combine_counts(answers)
    >>> result.by_site, result.total, result.coverage.note()
    ({'a': 12.0, 'b': None}, 12.0, '1 of 2 sites answered; missing: b (suppressed: fewer than k)')
    """
    by_site: dict[str, float | None] = {}
    used, reasons = [], {}
    for answer in _answered(answers):
        value = answer.vector("count")[0]
        by_site[answer.site] = value
        if value is None:
            reasons[answer.site] = "suppressed: fewer than k"
        else:
            used.append(answer)
    _check_alpha(alpha)
    total = sum(float(a.vector("count")[0] or 0.0) for a in used)
    noise = sum((_noise(a, "count") for a in used), Noise())
    coverage = _coverage(answers, used, reasons, alpha)
    return GroupedCount(by_site, total, noise.bound(alpha), coverage)


@dataclass(frozen=True)
class Moments:
    """Pooled count, mean and variance (``ddof=1``) of a column.

    ``mean_lower``/``mean_upper`` bound the noise-free mean (of values clamped to the
    query's bounds) with the stated confidence; without DP they equal ``mean``.
    """

    n: float
    mean: float
    variance: float
    mean_lower: float
    mean_upper: float
    n_error: float
    coverage: Coverage


def combine_moments(
    answers: Sequence[SiteAnswer], query: MomentsQuery, alpha: float = 0.05
) -> Moments:
    """Pooled moments from the sites' shifted sums.

    Examples
    --------
    >>> answers = [SiteAnswer("a", {"n": (2.0,), "sum": (3.0,), "sum_sq": (5.0,)}),
    ...            SiteAnswer("b", {"n": (1.0,), "sum": (3.0,), "sum_sq": (9.0,)})]
    >>> m = combine_moments(answers, MomentsQuery("x"))
    >>> m.n, m.mean, m.variance
    (3.0, 2.0, 1.0)
    """
    used, reasons = [], {}
    for answer in _answered(answers):
        if answer.vector("n")[0] is None:
            reasons[answer.site] = "suppressed: fewer than k patients"
        else:
            used.append(answer)
    if not used:
        raise InvalidInputError(
            f"no site released moments of {query.column!r}: "
            f"{[(a.site, a.refusal) for a in answers]}"
        )
    n, s, q = (sum(float(a.vector(k)[0] or 0.0) for a in used) for k in ("n", "sum", "sum_sq"))
    _check_alpha(alpha)
    # Two numbers carry the mean's bound: the pooled n and the pooled sum.
    a_n, a_s = (sum((_noise(a, k) for a in used), Noise()).bound(alpha / 2) for k in ("n", "sum"))
    centre = query.centre
    mean = s / n + centre if n > 0 else math.nan
    variance = max((q - s * s / n) / (n - 1), 0.0) if n > 1 else math.nan
    lower, upper = _ratio_bounds(s, a_s, n, a_n)
    return Moments(
        n,
        mean,
        variance,
        lower + centre,
        upper + centre,
        a_n,
        _coverage(answers, used, reasons, alpha),
    )


def _ratio_bounds(s: float, a_s: float, n: float, a_n: float) -> tuple[float, float]:
    if a_s == 0 and a_n == 0:
        return (s / n, s / n) if n > 0 else (math.nan, math.nan)
    if n - a_n <= 0:
        return -math.inf, math.inf
    corners = [x / m for x in (s - a_s, s + a_s) for m in (n - a_n, n + a_n)]
    return min(corners), max(corners)


@dataclass(frozen=True)
class Histogram:
    """Pooled counts per cell of a :class:`HistogramQuery` and per site.

    ``counts`` and ``errors`` have one entry per label (every cell within its error, with
    ``coverage.confidence``); ``by_site`` keeps each site's published cells (``None``
    where hidden). Sites with any hidden cell are left out of the pooled counts (listed in
    ``coverage.missing``). ``noise`` holds each pooled cell's noise terms.
    """

    labels: tuple[str, ...]
    counts: FloatArray
    errors: FloatArray
    by_site: dict[str, tuple[float | None, ...]]
    coverage: Coverage
    edges: tuple[float, ...] | None = None
    noise: tuple[Noise, ...] = ()
    alpha: float = 0.05


def combine_histograms(
    answers: Sequence[SiteAnswer], query: HistogramQuery, alpha: float = 0.05
) -> Histogram:
    """Sum the sites' cells.

    Examples
    --------
    >>> q = HistogramQuery("x", edges=(0.0, 1.0))
    >>> answers = [SiteAnswer("a", {"counts": (1.0, 2.0, 3.0)}),
    ...            SiteAnswer("b", {"counts": (0.0, 5.0, 0.0)})]
    >>> combine_histograms(answers, q).counts.tolist()
    [1.0, 7.0, 3.0]
    """
    _check_alpha(alpha)
    labels = query.labels()
    counts = np.zeros(len(labels))
    noise = [Noise()] * len(labels)
    by_site, used, reasons = {}, [], {}
    for answer in _answered(answers):
        cells = answer.vector("counts")
        if len(cells) != len(labels):
            raise InvalidInputError(
                f"site {answer.site!r} sent {len(cells)} cells for {len(labels)} labels"
            )
        by_site[answer.site] = cells
        if any(c is None for c in cells):
            reasons[answer.site] = "suppressed cells"
            continue
        used.append(answer)
        counts += np.array(cells, np.float64)
        noise = [n + _noise(answer, "counts") for n in noise]
    errors = np.array([n.bound(alpha / len(labels)) for n in noise])
    coverage = _coverage(answers, used, reasons, alpha)
    return Histogram(labels, counts, errors, by_site, coverage, query.edges, tuple(noise), alpha)


@dataclass(frozen=True)
class Quantile:
    """A quantile from a merged histogram and the interval that contains the pooled one.

    ``lower <= Q_q <= upper`` holds for the pooled data's quantile
    ``Q_q = inf{x : F_n(x) >= level}`` always without DP, and for all levels together
    with probability at least ``1 - alpha`` of the histogram with DP; ``value``
    interpolates linearly inside.
    """

    level: float
    value: float
    lower: float
    upper: float


def histogram_quantiles(histogram: Histogram, levels: Sequence[float]) -> tuple[Quantile, ...]:
    """Quantiles of a merged numeric histogram (module docstring).

    Examples
    --------
    >>> q = HistogramQuery("x", edges=(0.0, 10.0, 20.0))
    >>> h = combine_histograms([SiteAnswer("a", {"counts": (0.0, 4.0, 4.0, 0.0)})], q)
    >>> histogram_quantiles(h, [0.25])
    (Quantile(level=0.25, value=5.0, lower=0.0, upper=10.0),)
    """
    if histogram.edges is None:
        raise InvalidParameterError("quantiles need a numeric histogram (edges=...)")
    edges = np.asarray(histogram.edges, np.float64)
    cells = np.maximum(histogram.counts, 0.0)
    below = np.cumsum(cells)[: edges.size]
    # Union bound over the counts below each edge and the total.
    delta = histogram.alpha / (edges.size + 1)
    noise = histogram.noise or (Noise(),) * cells.size
    running = list(itertools.accumulate(noise))
    below_error = np.array([running[i].bound(delta) for i in range(edges.size)])
    n, n_error = float(cells.sum()), running[-1].bound(delta)
    results = []
    for level in levels:
        if not 0 < level < 1:
            raise InvalidParameterError(f"quantile levels must be in (0, 1), got {level!r}")
        surely_below = below + below_error < level * (n - n_error)
        surely_above = below - below_error >= level * (n + n_error)
        lower = float(edges[surely_below].max()) if surely_below.any() else -math.inf
        upper = float(edges[surely_above].min()) if surely_above.any() else math.inf
        value = float(np.clip(_interpolate(edges, cells, below, level * n), lower, upper))
        results.append(Quantile(float(level), value, lower, upper))
    return tuple(results)


def _interpolate(edges: FloatArray, cells: FloatArray, below: FloatArray, rank: float) -> float:
    i = int(np.searchsorted(below, rank, side="right")) - 1
    if i < 0:
        return float(edges[0])
    if i >= edges.size - 1:
        return float(edges[-1])
    width, inside = edges[i + 1] - edges[i], cells[i + 1]
    return float(edges[i] + (rank - below[i]) / inside * width) if inside > 0 else float(edges[i])


@dataclass(frozen=True)
class SurvivalResult:
    """The pooled Kaplan-Meier curve and one curve per site ("survival by site")."""

    pooled: SurvivalCurve
    by_site: dict[str, SurvivalCurve]
    coverage: Coverage
    exact: bool


def combine_survival(
    answers: Sequence[SiteAnswer],
    query: SurvivalQuery,
    *,
    ci_alpha: float = 0.05,
    ci_method: str = "log-log",
    alpha: float = 0.05,
) -> SurvivalResult:
    """Pooled and per-site Kaplan-Meier curves from the sites' event tables.

    Each curve's DP bounds hold together with probability at least ``1 - alpha``.
    """
    tables, used, reasons = {}, [], {}
    for answer in _answered(answers):
        try:
            tables[answer.site] = event_table(answer)
        except InvalidInputError as err:
            reasons[answer.site] = str(err)
            continue
        used.append(answer)
    if not tables:
        raise InvalidInputError(
            f"no site released a survival table: {[(a.site, a.refusal) for a in answers]}"
        )
    _check_alpha(alpha)
    curve = functools.partial(kaplan_meier, ci_alpha=ci_alpha, ci_method=ci_method, dp_alpha=alpha)
    pooled = curve(merge_event_tables(list(tables.values())))
    by_site = {site: curve(table) for site, table in tables.items()}
    coverage = _coverage(answers, used, reasons, alpha)
    return SurvivalResult(pooled, by_site, coverage, query.grid is None)


@dataclass(frozen=True)
class FederatedAnalytics:
    """The coordinator: asks every site through a transport and combines the answers.

    Parameters
    ----------
    transport : Transport
        :class:`InProcessSites`, or the Flower grid transport of
        :mod:`~healthtwin.federation.analytics_flower`.
    alpha : float
        Total probability that any stated DP bound fails (split over sites and cells).

    Examples
    --------
    >>> sites = [AnalyticsSite(name, {"x": np.arange(20.0) + shift}, SitePolicy(min_cell=None))
    ...          for name, shift in (("a", 0.0), ("b", 10.0))]
    >>> analytics = FederatedAnalytics(InProcessSites(sites))
    >>> m = analytics.moments("x")
    >>> m.n, m.mean
    (40.0, 14.5)
    """

    transport: Transport
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InvalidParameterError(f"alpha must be in (0, 1), got {self.alpha!r}")

    def ask(self, query: Query) -> list[SiteAnswer]:
        """Every site's answer to ``query``."""
        return self.transport.ask(query)

    def count(self, where: Where) -> GroupedCount:
        """How many patients match ``where``, per site and in all."""
        return combine_counts(self.ask(CountQuery(where)), self.alpha)

    def moments(
        self,
        column: str,
        *,
        bounds: tuple[float, float] | None = None,
        shift: float | None = None,
        where: Where | None = None,
    ) -> Moments:
        """Pooled count, mean and variance of ``column``."""
        query = MomentsQuery(column, bounds, shift, where)
        return combine_moments(self.ask(query), query, self.alpha)

    def histogram(
        self,
        column: str,
        *,
        edges: Sequence[float] | None = None,
        categories: Sequence[str] | None = None,
        where: Where | None = None,
    ) -> Histogram:
        """Pooled counts on agreed edges or categories."""
        query = HistogramQuery(
            column,
            None if edges is None else tuple(float(e) for e in edges),
            None if categories is None else tuple(str(c) for c in categories),
            where,
        )
        return combine_histograms(self.ask(query), query, self.alpha)

    def quantiles(
        self,
        column: str,
        *,
        edges: Sequence[float],
        levels: Sequence[float] = (0.25, 0.5, 0.75),
        where: Where | None = None,
    ) -> tuple[Quantile, ...]:
        """Quantiles of ``column`` from the histogram merged on ``edges``."""
        return histogram_quantiles(self.histogram(column, edges=edges, where=where), levels)

    def survival(
        self,
        *,
        grid: Sequence[float] | None = None,
        time_column: str = "time",
        event_column: str = "event",
        where: Where | None = None,
        ci_alpha: float = 0.05,
        ci_method: str = "log-log",
    ) -> SurvivalResult:
        """Kaplan-Meier curves, pooled and by site (on ``grid``, or exact without one)."""
        query = SurvivalQuery(
            time_column,
            event_column,
            None if grid is None else tuple(float(g) for g in grid),
            where,
        )
        return combine_survival(
            self.ask(query), query, ci_alpha=ci_alpha, ci_method=ci_method, alpha=self.alpha
        )
