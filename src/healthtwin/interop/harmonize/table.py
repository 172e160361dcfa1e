"""A source export as rows of cells: from a CSV file, a list of dicts or a data frame.

Rows are numbered from 1, the first row after the header (in a CSV file without quoted
line breaks, row ``n`` is line ``n + 1``). A cell is ``None`` when missing (empty, one of
the mapping's missing markers, or NaN/NaT in a data frame); text cells are stripped.
A CSV line with the wrong number of fields is kept as a malformed row, to be reported.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from healthtwin.errors import InvalidInputError
from healthtwin.interop.harmonize.mapping_spec import CsvOptions

__all__ = ["FrameLike", "SourceRow", "SourceTable", "TableLike", "check_columns", "read_table"]


class FrameLike(Protocol):
    """What is used of a pandas DataFrame (pandas itself is not imported)."""

    @property
    def columns(self) -> Iterable[object]: ...

    def to_dict(self, orient: Any) -> Any: ...


TableLike = str | Path | Sequence[Mapping[str, object]] | FrameLike


@dataclass(frozen=True)
class SourceRow:
    """One data row: its number, its cells by column (``None`` if malformed), raw text."""

    number: int
    cells: Mapping[str, object] | None
    raw: str

    @property
    def key(self) -> tuple[object, ...]:
        """The row's content, to find exact duplicates."""
        return tuple(self.cells.values()) if self.cells is not None else (self.raw,)


@dataclass(frozen=True)
class SourceTable:
    """The header and rows of one export."""

    columns: tuple[str, ...]
    rows: tuple[SourceRow, ...]
    origin: str


def _missing(value: object, markers: frozenset[str]) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in markers
    # NaN and pandas' NaT are the values not equal to themselves.
    return bool(value != value)


def _clean(value: object, markers: frozenset[str]) -> object:
    if _missing(value, markers):
        return None
    return value.strip() if isinstance(value, str) else value


def read_table(table: TableLike, options: CsvOptions) -> SourceTable:
    """Read a source export into rows of cells.

    Parameters
    ----------
    table
        A CSV file path, a sequence of row dicts, or a pandas DataFrame.
    options
        The CSV dialect and missing-value markers of the source.

    Raises
    ------
    InvalidInputError
        If the file cannot be read or decoded, has no header, or repeats a column name.

    Examples
    --------
    >>> t = read_table([{"id": "p1", "hr": "72"}, {"id": "p2", "hr": "NA"}], CsvOptions())
    >>> t.columns, t.rows[1].cells
    (('id', 'hr'), {'id': 'p2', 'hr': None})
    """
    markers = frozenset(options.missing)
    if isinstance(table, str | Path):
        return _read_csv(Path(table), options, markers)
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        columns = tuple(str(c) for c in table.columns)
        records = table.to_dict(orient="records")
        return _from_records(columns, records, markers, "data frame")
    if isinstance(table, Sequence) and not isinstance(table, str):
        columns = tuple(dict.fromkeys(str(k) for record in table for k in record))
        return _from_records(columns, table, markers, "rows")
    raise InvalidInputError(
        f"cannot read a table from {type(table).__name__}; give a CSV path, a list of row "
        "dicts or a pandas DataFrame"
    )


def _from_records(
    columns: tuple[str, ...],
    records: Sequence[Mapping[Any, object]],
    markers: frozenset[str],
    origin: str,
) -> SourceTable:
    rows = tuple(
        SourceRow(
            i,
            {c: _clean(record.get(c), markers) for c in columns},
            repr(dict(record)),
        )
        for i, record in enumerate(records, start=1)
    )
    return SourceTable(columns, rows, origin)


def _read_csv(path: Path, options: CsvOptions, markers: frozenset[str]) -> SourceTable:
    try:
        with path.open(encoding=options.encoding, newline="") as handle:
            lines = list(csv.reader(handle, delimiter=options.delimiter))
    except OSError as err:
        raise InvalidInputError(f"cannot read {str(path)!r}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise InvalidInputError(
            f"{str(path)!r} is not {options.encoding} text ({err.reason} at byte {err.start}); "
            "set csv.encoding in the mapping (for example 'cp1252' or 'latin-1')"
        ) from err
    if not lines or not any(lines[0]):
        raise InvalidInputError(f"{str(path)!r} has no header line")
    columns = tuple(name.strip() for name in lines[0])
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise InvalidInputError(f"{str(path)!r} repeats the columns {repeated}; names must differ")
    rows = []
    for number, fields in enumerate(lines[1:], start=1):
        raw = options.delimiter.join(fields)
        if len(fields) != len(columns) and any(f.strip() for f in fields):
            rows.append(SourceRow(number, None, raw))
            continue
        padded = list(fields) + [""] * (len(columns) - len(fields))
        cells = {c: _clean(v, markers) for c, v in zip(columns, padded, strict=True)}
        rows.append(SourceRow(number, cells, raw))
    return SourceTable(columns, tuple(rows), str(path))


def check_columns(table: SourceTable, wanted: Iterable[str]) -> None:
    """Raise if a column the mapping reads is not in the table (naming close matches)."""
    absent = [c for c in wanted if c not in table.columns]
    if not absent:
        return
    folded = {c.casefold(): c for c in table.columns}
    hints = []
    for name in absent:
        close = difflib.get_close_matches(name.casefold(), folded, 1, 0.6)
        hint = f" (did you mean {folded[close[0]]!r}?)" if close else ""
        hints.append(f"{name!r}{hint}")
    raise InvalidInputError(
        f"{table.origin} lacks the mapped columns {', '.join(hints)}; its header is "
        f"{list(table.columns)}. Fix the column names in the mapping or the export"
    )
