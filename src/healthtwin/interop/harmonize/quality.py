"""The data-quality report of one harmonised source: nothing is dropped silently.

Every input row ends in exactly one state — ``mapped`` (all its cells mapped or missing),
``partial`` (records made, some cells reported), ``rejected`` (no record, problem
reported), ``duplicate`` (same cells as an earlier row) or ``empty`` — and every cell of
every mapped column in exactly one outcome: ``mapped``, ``missing``, a reported problem,
or ``skipped`` (unused because its row or record failed on another cell, or its row is a
duplicate, malformed or empty). The two accounting identities,

::

    rows = mapped + partial + rejected + duplicate + empty
    rows = cells mapped + missing + with a problem + skipped      (per column)

hold by construction and are checked by :meth:`QualityReport.accounted`.

Completeness of a column is the share of present cells among the rows that were read
(duplicate, malformed and empty rows excluded). Implausible values are those outside the
vital's physiological range of :mod:`healthtwin.interop.codes` after unit conversion.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

__all__ = [
    "ColumnQuality",
    "Problem",
    "ProblemKind",
    "QualityRecorder",
    "QualityReport",
    "RowStatus",
]

ProblemKind = Literal[
    "missing_required",
    "unparseable_number",
    "unparseable_date",
    "nonexistent_time",
    "implausible",
    "unmapped_code",
    "unknown_unit",
    "incompatible_unit",
    "conflicting_value",
    "duplicate_row",
    "malformed_row",
]
RowStatus = Literal["mapped", "partial", "rejected", "duplicate", "empty"]
CellOutcome = Literal["mapped", "missing", "skipped"]
_ROW_STATES: tuple[RowStatus, ...] = ("mapped", "partial", "rejected", "duplicate", "empty")


@dataclass(frozen=True)
class Problem:
    """One reported problem: the row (1 = first after the header), column, cell text."""

    row: int
    column: str | None
    kind: ProblemKind
    value: str
    message: str


@dataclass(frozen=True)
class ColumnQuality:
    """Cell outcomes of one mapped column; ``unmapped`` counts each unmapped local value."""

    column: str
    element: str
    n_rows: int
    n_mapped: int
    n_missing: int
    n_problems: int
    n_skipped: int
    problems_by_kind: tuple[tuple[str, int], ...] = ()
    unmapped: tuple[tuple[str, int], ...] = ()

    @property
    def completeness(self) -> float:
        """Share of present cells among the rows read (1.0 when none were read)."""
        read = self.n_mapped + self.n_missing + self.n_problems
        present = self.n_mapped + self.n_problems
        return present / read if read else 1.0

    @property
    def accounted(self) -> bool:
        """Whether every row has exactly one outcome in this column."""
        return self.n_rows == self.n_mapped + self.n_missing + self.n_problems + self.n_skipped


@dataclass(frozen=True)
class QualityReport:
    """Per-source and per-column quality of a harmonisation, with every problem listed."""

    source: str
    n_rows: int
    rows: tuple[tuple[RowStatus, int], ...]
    columns: tuple[ColumnQuality, ...]
    problems: tuple[Problem, ...]
    ignored_columns: tuple[str, ...] = ()
    records: tuple[tuple[str, int], ...] = ()

    def count(self, status: RowStatus) -> int:
        """How many rows ended in ``status``."""
        return dict(self.rows).get(status, 0)

    def rows_with(self, kind: ProblemKind, column: str | None = None) -> tuple[int, ...]:
        """Row numbers with a problem of ``kind`` (in ``column`` when given), sorted."""
        return tuple(
            sorted({p.row for p in self.problems if p.kind == kind and column in (None, p.column)})
        )

    def column(self, name: str) -> ColumnQuality:
        """The quality of one column, by its name in the export."""
        for quality in self.columns:
            if quality.column == name:
                return quality
        raise KeyError(f"no mapped column {name!r}; columns: {[c.column for c in self.columns]}")

    @property
    def unmapped_codes(self) -> dict[str, int]:
        """Each unmapped local code or label, with how many cells had it."""
        counts: Counter[str] = Counter()
        for quality in self.columns:
            counts.update(dict(quality.unmapped))
        return dict(counts)

    @property
    def accounted(self) -> bool:
        """Whether both accounting identities hold (rows, and cells of every column)."""
        return sum(n for _, n in self.rows) == self.n_rows and all(
            c.accounted and c.n_rows == self.n_rows for c in self.columns
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data (JSON-ready), with completeness per column."""
        return {
            "source": self.source,
            "n_rows": self.n_rows,
            "rows": dict(self.rows),
            "records": dict(self.records),
            "ignored_columns": list(self.ignored_columns),
            "columns": [
                {
                    **asdict(c),
                    "problems_by_kind": dict(c.problems_by_kind),
                    "unmapped": dict(c.unmapped),
                    "completeness": c.completeness,
                }
                for c in self.columns
            ],
            "problems": [asdict(p) for p in self.problems],
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """A short table: row states, then one line per column, then the first problems."""
        states = ", ".join(f"{status} {n}" for status, n in self.rows if n)
        lines = [f"source {self.source}: {self.n_rows} rows ({states})"]
        width = max([len(c.column) for c in self.columns] + [6])
        lines.append(
            f"{'column':<{width}}  complete  mapped  missing  problems  skipped  problem kinds"
        )
        for c in self.columns:
            kinds = ", ".join(f"{k} {n}" for k, n in c.problems_by_kind)
            lines.append(
                f"{c.column:<{width}}  {c.completeness:8.1%}  {c.n_mapped:6d}  {c.n_missing:7d}"
                f"  {c.n_problems:8d}  {c.n_skipped:7d}  {kinds}"
            )
        if self.ignored_columns:
            lines.append(f"ignored columns (not in the mapping): {', '.join(self.ignored_columns)}")
        shown = self.problems[:20]
        lines.extend(f"row {p.row} {p.column or '-'}: {p.kind}: {p.message}" for p in shown)
        if len(self.problems) > len(shown):
            lines.append(f"... and {len(self.problems) - len(shown)} more problems")
        return "\n".join(lines)


class QualityRecorder:
    """Collects row states and cell outcomes while a source is mapped, then reports."""

    def __init__(self, source: str, elements: Mapping[str, str], ignored: tuple[str, ...]) -> None:
        self._source = source
        self._elements = dict(elements)
        self._ignored = ignored
        self._states: Counter[str] = Counter()
        self._cells: dict[str, Counter[str]] = {c: Counter() for c in elements}
        self._unmapped: dict[str, Counter[str]] = {c: Counter() for c in elements}
        self._problems: list[Problem] = []

    def add_row(
        self,
        status: RowStatus,
        outcomes: Mapping[str, CellOutcome | Problem],
        problems: tuple[Problem, ...] = (),
    ) -> None:
        """Record one row: its state, one outcome per mapped column (default skipped).

        A column whose outcome is a :class:`Problem` counts that problem; ``problems``
        are further row-level problems (malformed or duplicate rows).
        """
        self._states[status] += 1
        for column, counter in self._cells.items():
            outcome = outcomes.get(column, "skipped")
            if isinstance(outcome, Problem):
                counter["problem"] += 1
                counter[f"kind:{outcome.kind}"] += 1
                self._problems.append(outcome)
                if outcome.kind == "unmapped_code":
                    self._unmapped[column][outcome.value] += 1
            else:
                counter[outcome] += 1
        self._problems.extend(problems)

    def report(self, records: Mapping[str, int]) -> QualityReport:
        """The finished report (problems sorted by row, then column)."""
        n_rows = sum(self._states.values())
        columns = tuple(
            ColumnQuality(
                column=name,
                element=self._elements[name],
                n_rows=n_rows,
                n_mapped=counter["mapped"],
                n_missing=counter["missing"],
                n_problems=counter["problem"],
                n_skipped=counter["skipped"],
                problems_by_kind=tuple(
                    sorted(
                        (k.removeprefix("kind:"), n) for k, n in counter.items() if k[:5] == "kind:"
                    )
                ),
                unmapped=tuple(sorted(self._unmapped[name].items())),
            )
            for name, counter in self._cells.items()
        )
        problems = sorted(self._problems, key=lambda p: (p.row, p.column or ""))
        return QualityReport(
            source=self._source,
            n_rows=n_rows,
            rows=tuple((s, self._states[s]) for s in _ROW_STATES),
            columns=columns,
            problems=tuple(problems),
            ignored_columns=self._ignored,
            records=tuple(records.items()),
        )
