"""What a coordinator may ask a site, and what a site answers: typed, JSON-serialisable.

A query names columns and *public* parameters agreed before anyone looks at the data
(histogram edges, a survival time grid, clamping bounds). An answer is a few named vectors
of aggregates (``None`` where a cell is suppressed), the per-cell DP error bound, what the
answer cost and, when the site declined, its reason. Both travel as JSON, in process or in
a Flower message, so the in-process and the deployed federation run the same code.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError

__all__ = [
    "CountQuery",
    "HistogramQuery",
    "MomentsQuery",
    "Query",
    "SiteAnswer",
    "SurvivalQuery",
    "Where",
    "query_from_json",
    "query_to_json",
]


@dataclass(frozen=True)
class Where:
    """A row filter: a categorical column equal to a value, or a numeric range.

    Attributes
    ----------
    column : str
    equals : str or None
        Rows whose value (as text) equals this.
    at_least, below : float or None
        Rows with ``at_least <= value < below`` (either end may be open).

    Examples
    --------
    >>> Where("sex", equals="F").mask({"sex": np.array(["F", "M", "F"])}).tolist()
    [True, False, True]
    >>> Where("age", at_least=60).mask({"age": np.array([50.0, 70.0])}).tolist()
    [False, True]
    """

    column: str
    equals: str | None = None
    at_least: float | None = None
    below: float | None = None

    def __post_init__(self) -> None:
        ranged = self.at_least is not None or self.below is not None
        if (self.equals is None) == (not ranged):
            raise InvalidParameterError(
                f"Where({self.column!r}) needs either equals= or a range (at_least=/below=), "
                f"got equals={self.equals!r}, at_least={self.at_least!r}, below={self.below!r}"
            )

    def mask(self, columns: Mapping[str, npt.NDArray[Any]]) -> BoolArray:
        """The rows of ``columns`` that match, shape ``(n,)``."""
        values = _column(columns, self.column)
        if self.equals is not None:
            return np.asarray(values.astype(str) == self.equals, dtype=np.bool_)
        numeric = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(numeric)
        if self.at_least is not None:
            keep &= numeric >= self.at_least
        if self.below is not None:
            keep &= numeric < self.below
        return keep


def _column(columns: Mapping[str, npt.NDArray[Any]], name: str) -> npt.NDArray[Any]:
    if name not in columns:
        raise InvalidInputError(
            f"column {name!r} is not held at this site; it has {sorted(columns)}"
        )
    return columns[name]


def _increasing(name: str, values: tuple[float, ...], minimum: int) -> None:
    if len(values) < minimum or any(not math.isfinite(v) for v in values):
        raise InvalidParameterError(
            f"{name} needs at least {minimum} finite public values, got {values!r}"
        )
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise InvalidParameterError(f"{name} must be strictly increasing, got {values!r}")


@dataclass(frozen=True)
class CountQuery:
    """How many patients match ``where`` (a two-cell table: matching, not matching)."""

    where: Where
    kind: str = field(default="count", init=False)

    def n_cells(self) -> int:
        """Noisy cells a DP answer releases."""
        return 2


@dataclass(frozen=True)
class MomentsQuery:
    """Count, sum and sum of squares of a numeric column (rows with missing values dropped).

    Sums are of ``x - shift``: a public shift near the mean keeps the variance exact in
    floating point. ``bounds`` (public) are needed when the site adds DP noise; values are
    then clamped to them. ``shift`` defaults to the bounds' midpoint, else 0.
    """

    column: str
    bounds: tuple[float, float] | None = None
    shift: float | None = None
    where: Where | None = None
    kind: str = field(default="moments", init=False)

    def __post_init__(self) -> None:
        if self.bounds is not None:
            _increasing("bounds", tuple(float(b) for b in self.bounds), 2)

    @property
    def centre(self) -> float:
        """The shift actually used."""
        if self.shift is not None:
            return float(self.shift)
        return 0.0 if self.bounds is None else (self.bounds[0] + self.bounds[1]) / 2

    def n_cells(self) -> int:
        """Noisy cells a DP answer releases."""
        return 3


@dataclass(frozen=True)
class HistogramQuery:
    """Counts on agreed bins of a numeric column, or on agreed categories.

    Numeric: cells are ``x < edges[0]``, ``[edges[j], edges[j+1])`` for each bin, then
    ``x >= edges[-1]``; missing values are not counted. Categorical: one cell per category,
    then one for every other value.
    """

    column: str
    edges: tuple[float, ...] | None = None
    categories: tuple[str, ...] | None = None
    where: Where | None = None
    kind: str = field(default="histogram", init=False)

    def __post_init__(self) -> None:
        if (self.edges is None) == (self.categories is None):
            raise InvalidParameterError(
                f"HistogramQuery({self.column!r}) needs exactly one of edges= (numeric) or "
                "categories= (categorical)"
            )
        if self.edges is not None:
            _increasing("edges", tuple(float(e) for e in self.edges), 2)
        elif not self.categories or len(set(self.categories)) != len(self.categories):
            raise InvalidParameterError(
                f"categories must be distinct public labels, got {self.categories!r}"
            )

    def labels(self) -> tuple[str, ...]:
        """One label per cell."""
        if self.categories is not None:
            return (*self.categories, "other")
        assert self.edges is not None
        inner = [f"[{a:g}, {b:g})" for a, b in zip(self.edges, self.edges[1:], strict=False)]
        return (f"< {self.edges[0]:g}", *inner, f">= {self.edges[-1]:g}")

    def n_cells(self) -> int:
        """Noisy cells a DP answer releases."""
        return len(self.labels())


@dataclass(frozen=True)
class SurvivalQuery:
    """Kaplan-Meier inputs: events and censorings per time point, and the site's total.

    With ``grid`` (public, increasing) each follow-up time is rounded *up* to the next grid
    point (times after the last point count only in the total): the answer is the exact
    Kaplan-Meier input of the coarsened data, safe to suppress and to noise. Without a grid
    the site sends its own distinct times (exact; this reveals event times, so sites
    answer it only with neither suppression nor DP).
    """

    time_column: str = "time"
    event_column: str = "event"
    grid: tuple[float, ...] | None = None
    where: Where | None = None
    kind: str = field(default="survival", init=False)

    def __post_init__(self) -> None:
        if self.grid is not None:
            _increasing("grid", tuple(float(g) for g in self.grid), 1)

    def n_cells(self) -> int:
        """Noisy cells a DP answer releases (events and censorings per point, and beyond)."""
        return 0 if self.grid is None else 2 * len(self.grid) + 1


Query = CountQuery | MomentsQuery | HistogramQuery | SurvivalQuery
_KINDS: dict[str, type[Query]] = {
    "count": CountQuery,
    "moments": MomentsQuery,
    "histogram": HistogramQuery,
    "survival": SurvivalQuery,
}


def query_to_json(query: Query) -> str:
    """The query as JSON text.

    Examples
    --------
    >>> text = query_to_json(CountQuery(Where("sex", equals="F")))
    >>> query_from_json(text) == CountQuery(Where("sex", equals="F"))
    True
    """
    return json.dumps(asdict(query), sort_keys=True)


def query_from_json(text: str) -> Query:
    """Read a query written by :func:`query_to_json`.

    Raises
    ------
    UnknownModelError
        If the query kind is not known.
    InvalidInputError
        If the text is not a query.
    """
    try:
        record = json.loads(text)
        kind = record.pop("kind")
    except (ValueError, KeyError, AttributeError) as err:
        raise InvalidInputError(f"not a query: {text[:200]!r} ({err})") from err
    if kind not in _KINDS:
        raise UnknownModelError(f"unknown query kind {kind!r}; known: {sorted(_KINDS)}")
    if record.get("where") is not None:
        record["where"] = Where(**record["where"])
    for name in ("edges", "categories", "grid", "bounds"):
        if record.get(name) is not None:
            record[name] = tuple(record[name])
    try:
        return _KINDS[kind](**record)
    except TypeError as err:
        raise InvalidInputError(f"query {text[:200]!r} has unexpected fields: {err}") from err


@dataclass(frozen=True)
class SiteAnswer:
    """One site's aggregates for one query.

    Attributes
    ----------
    site : str
    values : mapping of str to tuple of (float or None)
        Named vectors of aggregates; ``None`` marks a suppressed cell.
    noise : mapping of str to (str, float)
        For each noisy vector, the mechanism (``"discrete laplace"`` or ``"laplace"``) and
        scale of the independent noise in each of its cells. A ``total`` is the sum of
        the query's cells as released, so its noise is theirs.
    epsilon : float
        Privacy loss this answer cost the site (0 without DP).
    refusal : str or None
        Why the site did not answer (its budget is spent, a column is missing...).
    """

    site: str
    values: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)
    noise: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    epsilon: float = 0.0
    refusal: str | None = None

    def vector(self, name: str) -> tuple[float | None, ...]:
        """The named vector (raises :class:`InvalidInputError` naming what the answer has)."""
        if name not in self.values:
            raise InvalidInputError(
                f"answer of site {self.site!r} lacks {name!r}; it has {sorted(self.values)}"
            )
        return self.values[name]

    def to_json(self) -> str:
        """The answer as JSON text (``None`` as ``null``).

        Examples
        --------
        >>> answer = SiteAnswer("a", {"count": (12.0, None)}, {"count": ("laplace", 2.0)})
        >>> SiteAnswer.from_json(answer.to_json()) == answer
        True
        """
        record = asdict(self)
        record["values"] = {k: list(v) for k, v in self.values.items()}
        record["noise"] = {k: list(v) for k, v in self.noise.items()}
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SiteAnswer:
        """Read an answer written by :meth:`to_json`."""
        try:
            record = json.loads(text)
            return cls(
                site=str(record["site"]),
                values={k: tuple(v) for k, v in record["values"].items()},
                noise={k: (str(v[0]), float(v[1])) for k, v in record["noise"].items()},
                epsilon=float(record["epsilon"]),
                refusal=record["refusal"],
            )
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
            raise InvalidInputError(f"not a site answer: {text[:200]!r} ({err})") from err
