"""What an OMOP export wrote, which codes found no concept, and which records it left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from healthtwin.errors import ValidationIssue

__all__ = ["OmopExportReport", "UnmappedCode"]


@dataclass(frozen=True, kw_only=True)
class UnmappedCode:
    """A source code written with concept_id 0 (its code kept in ``*_source_value``).

    ``column`` is the concept column that got 0 (``measurement_concept_id``,
    ``unit_concept_id``...); ``count`` how many rows carry it.
    """

    table: str
    column: str
    system: str | None
    code: str
    count: int


@dataclass(frozen=True, kw_only=True)
class OmopExportReport:
    """The outcome of :func:`~healthtwin.interop.omop.export_omop` (or its CSV twin).

    Attributes
    ----------
    rows
        Rows written per CDM table (lineage rows under ``healthtwin_source_record``).
    unmapped
        Codes without a concept in the vocabulary, with their row counts.
    skipped
        Records not written and why: ``severity="information"`` for records whose status
        is ``entered-in-error``, ``"error"`` for invalid records dropped with
        ``strict=False``.
    person_ids
        The ``person_id`` given to each patient id.

    Examples
    --------
    >>> report = OmopExportReport(rows={"person": 2}, unmapped=(), skipped=(), person_ids={})
    >>> report.total_rows, report.unmapped_rows
    (2, 0)
    """

    rows: Mapping[str, int]
    unmapped: tuple[UnmappedCode, ...]
    skipped: tuple[ValidationIssue, ...]
    person_ids: Mapping[str, int]

    @property
    def total_rows(self) -> int:
        """Rows written in all CDM tables (lineage rows excluded)."""
        return sum(n for table, n in self.rows.items() if table != "healthtwin_source_record")

    @property
    def unmapped_rows(self) -> int:
        """Rows that carry at least one concept_id 0 for a code (counted per column)."""
        return sum(u.count for u in self.unmapped)

    def summary(self) -> str:
        """One line per table, then the unmapped codes and the skipped records."""
        lines = [f"{table}: {n} rows" for table, n in self.rows.items()]
        lines += [
            f"unmapped {u.table}.{u.column}: {u.system or '?'}|{u.code} x{u.count}"
            for u in self.unmapped
        ]
        lines += [f"skipped {i.path}: {i.message}" for i in self.skipped]
        return "\n".join(lines)
