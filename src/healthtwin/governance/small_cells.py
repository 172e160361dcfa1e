"""Small-cell suppression of one-way count tables, with complementary suppression.

Counts below a threshold ``k`` (10 by default, the threshold of many statistical offices
and of the US CMS cell-size suppression policy) are not published (*primary*
suppression). When the table's total is published, one hidden cell could be recovered as
the total minus the published cells, and several small hidden cells could be pinned down
by their sum; so further cells are hidden (*complementary* suppression, smallest first)
until

- at least two cells are hidden, and
- the hidden cells' sum ``S`` leaves every one of them room to be ``k`` or more:
  ``S - (m - 1) * low >= k``, with ``m`` hidden cells and ``low`` the least value a hidden
  cell can take (1 when zeros are published, else 0).

Then the total and published cells only tell an intruder that each hidden cell lies in
``[low, S - (m - 1) low]``, an interval that reaches ``k``: no hidden value is recovered,
and no hidden cell is even known to be small. If no such set exists (every non-zero cell
is already hidden), the total is withheld too. Zero cells are published unless
``suppress_zero``: a zero says "nobody", which usually discloses nothing about a person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["DEFAULT_MIN_CELL", "SuppressedTable", "suppress_small_cells"]

DEFAULT_MIN_CELL = 10


@dataclass(frozen=True)
class SuppressedTable:
    """A one-way table after suppression.

    Attributes
    ----------
    labels : tuple of str
    counts : tuple of (int or None)
        Published counts; ``None`` where hidden.
    total : int or None
        The published total, ``None`` when it was withheld or not asked for.
    primary, complementary : tuple of int
        Indexes hidden because small, and hidden to protect them.
    k : int
        The threshold used.
    """

    labels: tuple[str, ...]
    counts: tuple[int | None, ...]
    total: int | None
    primary: tuple[int, ...]
    complementary: tuple[int, ...]
    k: int

    def as_dict(self) -> dict[str, int | None]:
        """Label -> published count (``None`` if hidden)."""
        return dict(zip(self.labels, self.counts, strict=True))


def suppress_small_cells(
    counts: Mapping[str, int] | Sequence[int],
    *,
    k: int = DEFAULT_MIN_CELL,
    publish_total: bool = True,
    suppress_zero: bool = False,
) -> SuppressedTable:
    """Hide counts below ``k`` and enough others that none can be recovered.

    Parameters
    ----------
    counts : mapping of str to int, or sequence of int
        The one-way table (labels are ``"0"``, ``"1"``... for a sequence).
    k : int
        Smallest count that may be published.
    publish_total : bool
        Whether the table's total is published (then complementary suppression applies).
    suppress_zero : bool
        Hide zero counts too.

    Returns
    -------
    SuppressedTable

    Examples
    --------
    >>> table = suppress_small_cells({"A": 120, "B": 3, "C": 45, "D": 60})
    >>> table.as_dict(), table.total
    ({'A': 120, 'B': None, 'C': None, 'D': 60}, 228)
    >>> suppress_small_cells([3, 4]).total is None
    True
    """
    labels, values = _table(counts)
    if not isinstance(k, int) or k < 2:
        raise InvalidParameterError(f"k must be an integer >= 2, got {k!r}")
    low = 0 if suppress_zero else 1
    primary = [i for i, c in enumerate(values) if c < k and (c > 0 or suppress_zero)]
    hidden = list(primary)
    total: int | None = sum(values) if publish_total else None
    if publish_total and hidden:
        candidates = sorted(
            (i for i, c in enumerate(values) if i not in hidden and c >= low and c > 0),
            key=lambda i: (values[i], i),
        )
        while not _protected(values, hidden, k, low) and candidates:
            hidden.append(candidates.pop(0))
        if not _protected(values, hidden, k, low):
            total = None
    published = tuple(None if i in hidden else c for i, c in enumerate(values))
    return SuppressedTable(
        labels, published, total, tuple(primary), tuple(hidden[len(primary) :]), k
    )


def _protected(values: Sequence[int], hidden: Sequence[int], k: int, low: int) -> bool:
    hidden_sum = sum(values[i] for i in hidden)
    return len(hidden) >= 2 and hidden_sum - (len(hidden) - 1) * low >= k


def _table(counts: Mapping[str, int] | Sequence[int]) -> tuple[tuple[str, ...], list[int]]:
    if isinstance(counts, Mapping):
        labels = tuple(str(label) for label in counts)
        raw = list(counts.values())
    else:
        raw = list(counts)
        labels = tuple(str(i) for i in range(len(raw)))
    values = []
    for label, value in zip(labels, raw, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(
                f"cell {label!r}: counts must be non-negative integers, got {value!r}"
            )
        values.append(int(value))
    if not values:
        raise InvalidInputError("the table has no cells; give at least one count")
    return labels, values
