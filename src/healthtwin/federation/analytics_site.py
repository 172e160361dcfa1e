"""The site side of federated analytics: local aggregates, DP noise, small-cell suppression.

A site answers a query from its own records with a few aggregates (see
:mod:`~healthtwin.federation.analytics_queries`) and applies its *own* disclosure policy
before anything leaves:

1. **Differential privacy** (optional, :class:`SitePolicy.epsilon_per_query`): the cells
   are released through :mod:`healthtwin.governance.dp` (OpenDP; discrete Laplace counts,
   Laplace sums of clamped values), each release charged to the site's own
   :class:`~healthtwin.governance.privacy_budget.PrivacyLedger` first. A site whose budget
   cannot cover a query refuses it, and nothing is computed. The neighbouring relation is
   one patient = one row of the site's table.
2. **Small-cell suppression** (optional, :class:`SitePolicy.min_cell`, default 10):
   counts below ``k`` are hidden with complementary suppression
   (:func:`healthtwin.governance.small_cells.suppress_small_cells`) on the query's table
   with its total published, so no hidden cell can be recovered from the total and the
   published cells. Moments of fewer than ``k`` patients are withheld. A survival table
   (events and censorings per grid point, and beyond the grid) is suppressed like any
   table; the coordinator cuts the site's curve at its first hidden cell.

Exact (grid-free) Kaplan-Meier inputs reveal event times; a site answers them only when
it applies neither suppression nor DP (a trusted research environment, or validation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.errors import ConsentError, InvalidParameterError, TwinError
from healthtwin.federation.analytics_queries import (
    CountQuery,
    HistogramQuery,
    MomentsQuery,
    Query,
    SiteAnswer,
    SurvivalQuery,
    Where,
    _column,
)
from healthtwin.governance.dp import dp_histogram, dp_sum
from healthtwin.governance.privacy_budget import BudgetAccount, PrivacyCost, PrivacyLedger
from healthtwin.governance.small_cells import suppress_small_cells

__all__ = ["AnalyticsSite", "SitePolicy", "site_tables_from_dataset"]

Columns = Mapping[str, npt.NDArray[Any]]
Cells = dict[str, tuple[float | None, ...]]


@dataclass(frozen=True)
class SitePolicy:
    """What a site applies to every answer (module docstring).

    Attributes
    ----------
    min_cell : int or None
        Suppression threshold ``k``; ``None`` turns suppression off.
    epsilon_per_query : float or None
        Pure-DP epsilon the site spends on each answer; ``None`` turns DP off.
    project : str
        The ledger project the spends are charged to.

    Examples
    --------
    >>> SitePolicy().min_cell
    10
    """

    min_cell: int | None = 10
    epsilon_per_query: float | None = None
    project: str = "federated-analytics"

    def __post_init__(self) -> None:
        if self.min_cell is not None and (not isinstance(self.min_cell, int) or self.min_cell < 2):
            raise InvalidParameterError(
                f"min_cell must be an integer >= 2 or None (no suppression), got {self.min_cell!r}"
            )
        eps = self.epsilon_per_query
        if eps is not None and not (math.isfinite(eps) and eps > 0):
            raise InvalidParameterError(
                f"epsilon_per_query must be finite and > 0 or None (no DP), got {eps!r}"
            )


class AnalyticsSite:
    """One site's records and disclosure policy; answers queries with aggregates only.

    Parameters
    ----------
    name : str
        The site's name (a hospital, region or country).
    columns : mapping of str to ndarray
        The site's table, one ``(n,)`` array per column (numeric as float with NaN for
        missing, categorical as strings).
    policy : SitePolicy
    ledger : PrivacyLedger or None
        The site's own privacy ledger, with a budget for ``policy.project`` and for the
        dataset ``name``; required when the policy adds DP noise.

    Examples
    --------
    >>> site = AnalyticsSite("a", {"sex": np.array(["F"] * 30 + ["M"] * 5)})
    >>> site.answer(CountQuery(Where("sex", equals="F"))).values
    {'count': (None,), 'other': (None,), 'total': (35.0,)}
    >>> site.answer(CountQuery(Where("age", equals="80"))).refusal
    "InvalidInputError: column 'age' is not held at this site; it has ['sex']"
    """

    def __init__(
        self,
        name: str,
        columns: Columns,
        policy: SitePolicy | None = None,
        ledger: PrivacyLedger | None = None,
    ) -> None:
        self.name = str(name)
        self.columns = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {k: v.shape for k, v in self.columns.items()}
        if len(set(lengths.values())) > 1 or any(len(s) != 1 for s in lengths.values()):
            raise InvalidParameterError(
                f"site {self.name!r}: every column must be 1-D of one length, got {lengths}"
            )
        self.policy = SitePolicy() if policy is None else policy
        if self.policy.epsilon_per_query is not None and ledger is None:
            raise InvalidParameterError(
                f"site {self.name!r} adds DP noise but has no privacy ledger; give one with "
                f"budgets for project {self.policy.project!r} and dataset {self.name!r}"
            )
        self.ledger = ledger

    @property
    def n_rows(self) -> int:
        """Rows (patients) held."""
        return next((int(v.shape[0]) for v in self.columns.values()), 0)

    def answer(self, query: Query) -> SiteAnswer:
        """Answer ``query`` under the site's policy; a refusal is an answer too.

        Returns
        -------
        SiteAnswer
            With ``refusal`` set (and no values) when the budget is spent, a column is
            missing or the query is not allowed under the policy.
        """
        try:
            return self._answer(query)
        except TwinError as err:
            # Failures are data: the coordinator records the reason and goes on.
            return SiteAnswer(self.name, refusal=f"{type(err).__name__}: {err}")

    def _answer(self, query: Query) -> SiteAnswer:
        rows = self._rows(query.where)
        epsilon = self.policy.epsilon_per_query
        exact_times = isinstance(query, SurvivalQuery) and query.grid is None
        if exact_times and (epsilon is not None or self.policy.min_cell is not None):
            raise ConsentError(
                f"site {self.name!r} does not release exact event times under "
                "suppression or DP; ask on a public time grid (SurvivalQuery(grid=...))"
            )
        if epsilon is not None:
            self._check_budget(epsilon)
        if isinstance(query, CountQuery):
            match = query.where.mask(self.columns)
            counts = np.array([match.sum(), (~match).sum()], np.float64)
            return self._table(query, counts, ("count", "other"))
        if isinstance(query, HistogramQuery):
            return self._table(query, _histogram(query, self.columns, rows))
        if isinstance(query, MomentsQuery):
            return self._moments(query, rows)
        return self._survival(query, rows)

    def _rows(self, where: Where | None) -> npt.NDArray[np.bool_]:
        if where is None:
            return np.ones(self.n_rows, np.bool_)
        return where.mask(self.columns)

    def _check_budget(self, epsilon: float) -> None:
        assert self.ledger is not None
        self.ledger.check(self.policy.project, self.name, PrivacyCost(epsilon=epsilon))

    def _account(self, query: Query) -> BudgetAccount:
        assert self.ledger is not None
        return BudgetAccount(self.ledger, self.policy.project, self.name, f"{query.kind} query")

    def _noisy_counts(
        self, query: Query, counts: npt.NDArray[np.float64], epsilon: float
    ) -> tuple[npt.NDArray[np.float64], tuple[str, float]]:
        """DP counts of the cells (one patient is in one cell) and their noise."""
        labels = [str(i) for i in range(counts.size)]
        values = np.repeat(np.array(labels), counts.astype(np.int64))
        release = dp_histogram(
            values.tolist(),
            categories=labels,
            epsilon=epsilon,
            account=self._account(query),
        )
        assert isinstance(release.value, tuple)
        # The last cell counts values outside the categories: always zero plus noise.
        return np.asarray(release.value[:-1], np.float64), (release.mechanism, release.scale)

    def _table(
        self,
        query: Query,
        counts: npt.NDArray[np.float64],
        names: tuple[str, ...] | None = None,
    ) -> SiteAnswer:
        """One vector ``counts``, or one single-cell vector per name, and the total."""
        epsilon = self.policy.epsilon_per_query
        noise: dict[str, tuple[str, float]] = {}
        if epsilon is not None:
            counts, cell_noise = self._noisy_counts(query, counts, epsilon)
            noise = dict.fromkeys(names or ("counts",), cell_noise)
        cells = _suppress(counts, self.policy.min_cell)
        if names is None:
            values: Cells = {"counts": cells[0]}
        else:
            values = {name: (cell,) for name, cell in zip(names, cells[0], strict=True)}
        values["total"] = (cells[1],)
        return SiteAnswer(self.name, values, noise, epsilon or 0.0)

    def _moments(self, query: MomentsQuery, rows: npt.NDArray[np.bool_]) -> SiteAnswer:
        x = np.asarray(_column(self.columns, query.column), np.float64)[rows]
        x = x[np.isfinite(x)] - query.centre
        epsilon = self.policy.epsilon_per_query
        if epsilon is None:
            n, total, squares = float(x.size), float(x.sum()), float((x * x).sum())
            noise: dict[str, tuple[str, float]] = {}
        else:
            n, total, squares, noise = self._noisy_moments(query, x, epsilon / 3)
        values: Cells = {"n": (n,), "sum": (total,), "sum_sq": (squares,)}
        k = self.policy.min_cell
        if k is not None and round(n) < k:
            values = dict.fromkeys(values, (None,))
        return SiteAnswer(self.name, values, noise, epsilon or 0.0)

    def _noisy_moments(
        self, query: MomentsQuery, x: npt.NDArray[np.float64], epsilon: float
    ) -> tuple[float, float, float, dict[str, tuple[str, float]]]:
        if query.bounds is None:
            raise InvalidParameterError(
                f"site {self.name!r} adds DP noise: the moments of {query.column!r} need "
                "public bounds (MomentsQuery(bounds=(low, high)))"
            )
        low, high = query.bounds[0] - query.centre, query.bounds[1] - query.centre
        square_low = 0.0 if low <= 0 <= high else min(low * low, high * high)
        square_high = max(low * low, high * high)
        account = self._account(query)
        n, n_noise = self._noisy_counts(query, np.array([float(x.size)]), epsilon)
        clamped = np.clip(x, low, high)
        total = dp_sum(clamped.tolist(), bounds=(low, high), epsilon=epsilon, account=account)
        squares = dp_sum(
            (clamped * clamped).tolist(),
            bounds=(square_low, square_high),
            epsilon=epsilon,
            account=account,
        )
        assert isinstance(total.value, float)
        assert isinstance(squares.value, float)
        noise = {
            "n": n_noise,
            "sum": (total.mechanism, total.scale),
            "sum_sq": (squares.mechanism, squares.scale),
        }
        return float(n[0]), total.value, squares.value, noise

    def _survival(self, query: SurvivalQuery, rows: npt.NDArray[np.bool_]) -> SiteAnswer:
        time = np.asarray(_column(self.columns, query.time_column), np.float64)[rows]
        event = np.asarray(_column(self.columns, query.event_column)).astype(np.bool_)[rows]
        known = np.isfinite(time)
        time, event = time[known], event[known]
        if query.grid is None:
            points = np.unique(time)
            index = np.searchsorted(points, time)
            n_points, beyond = points.size, 0.0
        else:
            points = np.asarray(query.grid, np.float64)
            index = np.searchsorted(points, time, side="left")
            n_points = points.size
        events = np.bincount(index[event], minlength=n_points + 1).astype(np.float64)
        censored = np.bincount(index[~event], minlength=n_points + 1).astype(np.float64)
        beyond = events[n_points] + censored[n_points]
        # Cells in release order: event and censoring per point, then beyond the grid.
        cells = np.append(np.column_stack([events[:n_points], censored[:n_points]]).ravel(), beyond)
        epsilon = self.policy.epsilon_per_query
        noise: dict[str, tuple[str, float]] = {}
        if epsilon is not None:
            cells, cell_noise = self._noisy_counts(query, cells, epsilon)
            noise = {"events": cell_noise, "censored": cell_noise}
        shown, total = _suppress(cells, self.policy.min_cell)
        values: Cells = {
            "time": tuple(float(p) for p in points),
            "events": shown[0 : 2 * n_points : 2],
            "censored": shown[1 : 2 * n_points : 2],
            "total": (total,),
        }
        return SiteAnswer(self.name, values, noise, epsilon or 0.0)


def _histogram(
    query: HistogramQuery, columns: Columns, rows: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    raw = _column(columns, query.column)
    if query.categories is not None:
        values = np.asarray(raw).astype(str)[rows]
        counts = [float((values == c).sum()) for c in query.categories]
        return np.array([*counts, values.size - sum(counts)], np.float64)
    assert query.edges is not None
    x = np.asarray(raw, np.float64)[rows]
    x = x[np.isfinite(x)]
    index = np.searchsorted(np.asarray(query.edges, np.float64), x, side="right")
    return np.bincount(index, minlength=len(query.edges) + 1).astype(np.float64)


def _suppress(
    counts: npt.NDArray[np.float64], k: int | None
) -> tuple[tuple[float | None, ...], float | None]:
    """Cells with those below ``k`` (and their complements) hidden, and the total."""
    total = float(counts.sum())
    if k is None:
        return tuple(float(c) for c in counts), total
    # Suppression decides on the (noisy) counts as published: rounded, at least 0.
    table = suppress_small_cells([max(0, round(float(c))) for c in counts], k=k)
    shown = tuple(
        None if s is None else float(c) for s, c in zip(table.counts, counts, strict=True)
    )
    return shown, None if table.total is None else total


def site_tables_from_dataset(
    name: str, by: str, *, columns: Sequence[str] | None = None
) -> dict[str, dict[str, npt.NDArray[Any]]]:
    """Split a shipped clinical data set into site tables by the values of column ``by``.

    Each table has the data set's features (categorical as strings, numeric as float),
    plus ``time`` and ``event`` for survival data.

    Examples
    --------
    >>> tables = site_tables_from_dataset("gbsg2", by="tgrade")
    >>> {site: len(t["time"]) for site, t in tables.items()}
    {'I': 81, 'II': 444, 'III': 161}
    """
    from healthtwin.prognosis.datasets import load_dataset

    dataset = load_dataset(name)
    frame = dataset.features
    if by not in frame.columns:
        raise InvalidParameterError(
            f"data set {name!r} has no column {by!r} to split by; it has {list(frame.columns)}"
        )
    table: dict[str, npt.NDArray[Any]] = {}
    for column in columns if columns is not None else list(frame.columns):
        series = frame[column]
        is_text = column in dataset.categorical
        table[column] = series.astype(str).to_numpy() if is_text else series.to_numpy(np.float64)
    if dataset.time is not None:
        table["time"] = np.asarray(dataset.time, np.float64)
        table["event"] = np.asarray(dataset.event, np.bool_)
    key = frame[by].astype(str).to_numpy()
    return {str(site): {k: v[key == site] for k, v in table.items()} for site in sorted(set(key))}
