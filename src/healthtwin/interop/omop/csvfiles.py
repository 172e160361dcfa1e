"""OMOP tables as CSV files: one ``<table>.csv`` per table, CDM column names as header.

Values are written as OHDSI's CSV exports write them: dates ``YYYY-MM-DD``, times
``YYYY-MM-DD HH:MM:SS[.ffffff]`` (UTC, no zone, as the CDM stores them), numbers as plain
decimals, a missing value as an empty field. Reading uses each column's CDM type, so an
empty text field reads back as missing.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import Column, Date, DateTime, Integer, Numeric

from healthtwin.errors import InvalidInputError
from healthtwin.interop.omop.tables import cdm_table

__all__ = ["read_table", "write_table"]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_table(folder: Path, table: str, rows: Sequence[Mapping[str, object]]) -> Path:
    """Write ``rows`` of CDM table ``table`` to ``folder/<table>.csv`` (all CDM columns)."""
    columns = [c.name for c in cdm_table(table).columns]
    path = folder / f"{table}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_text(row.get(name)) for name in columns])
    return path


def _value(column: Column[object], text: str, where: str) -> object:
    if text == "":
        return None
    kind = column.type
    try:
        if isinstance(kind, DateTime):
            return datetime.fromisoformat(text)
        if isinstance(kind, Date):
            return date.fromisoformat(text)
        if isinstance(kind, Integer):
            return int(text)
        if isinstance(kind, Numeric):
            return Decimal(text)
    except (ValueError, InvalidOperation) as err:
        raise InvalidInputError(
            f"{where}: {column.name} {text!r} is not a valid {kind}; fix the value"
        ) from err
    return text


def read_table(folder: Path, table: str) -> list[dict[str, object]] | None:
    """The rows of ``folder/<table>.csv`` typed by CDM column, or None if there is no file.

    Raises
    ------
    InvalidInputError
        If the header names a column the table does not have, or a value does not parse.
    """
    path = folder / f"{table}.csv"
    if not path.exists():
        return None
    columns = {c.name: c for c in cdm_table(table).columns}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        unknown = sorted(set(reader.fieldnames or ()) - set(columns))
        if unknown:
            raise InvalidInputError(
                f"{path} has columns {unknown} that OMOP CDM 5.4 table {table} does not have; "
                f"expected some of {list(columns)}"
            )
        return [
            {
                name: _value(columns[name], text or "", f"{path} line {line}")
                for name, text in row.items()
            }
            for line, row in enumerate(reader, start=2)
        ]
