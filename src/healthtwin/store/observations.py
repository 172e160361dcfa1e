"""Observations as an indexed time series: bulk insert and range queries per patient.

Each :class:`~healthtwin.interop.records.ObservationRecord` is one row of
``observations``, keyed by its logical id, with a composite index on ``(patient_id, code,
effective)``: "patient p's CGM readings of the last 24 h" is one index range scan, already
in time order. Bulk inserts go in batches straight to the driver's ``executemany`` on
SQLite and through ``COPY ... FROM STDIN`` on PostgreSQL (see ``benchmarks/store.py`` for the
speed of each).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any, cast

from sqlalchemy import Select, Table, delete, select
from sqlalchemy.orm import Session

from healthtwin.errors import ConflictError, InvalidInputError, StoreError
from healthtwin.interop.records import (
    Coding,
    ObservationComponent,
    ObservationRecord,
    require_utc,
)
from healthtwin.store.schema import ID_LENGTH, ObservationRow

__all__ = ["add_observations", "delete_observations", "query_observations"]

_TABLE = cast(Table, ObservationRow.__table__)
_COLUMNS = (
    "id",
    "patient_id",
    "code_system",
    "code",
    "code_display",
    "effective",
    "value",
    "unit",
    "status",
    "category",
    "encounter_id",
    "components",
)


def _checked(record: ObservationRecord) -> ObservationRecord:
    if not isinstance(record, ObservationRecord):
        raise InvalidInputError(
            f"add_observations takes ObservationRecord objects, got {type(record).__name__}; "
            "map resources to records with healthtwin.interop first"
        )
    if len(record.id) > ID_LENGTH or len(record.patient_id) > ID_LENGTH:
        raise InvalidInputError(
            f"observation {record.id[:80]!r} of patient {record.patient_id[:80]!r}: ids are at "
            f"most {ID_LENGTH} characters"
        )
    if _too_long(record):
        _refuse_long_texts(record)
    if record.value is not None and not math.isfinite(record.value):
        raise InvalidInputError(
            f"observation {record.id!r} has value {record.value}; store finite values only "
            "(leave value None for a missing measurement)"
        )
    return record


def _text_fields(record: ObservationRecord) -> dict[str, tuple[str | None, int]]:
    return {
        "code.system": (record.code.system, 255),
        "code.code": (record.code.code, 64),
        "code.display": (record.code.display, 255),
        "unit": (record.unit, 64),
        "status": (record.status, 32),
        "category": (record.category, 64),
        "encounter_id": (record.encounter_id, ID_LENGTH),
    }


def _too_long(record: ObservationRecord) -> bool:
    """Quick test of the column widths (PostgreSQL enforces them, SQLite would not)."""
    return (
        len(record.code.system) > 255
        or len(record.code.code) > 64
        or len(record.code.display or "") > 255
        or len(record.unit or "") > 64
        or len(record.status) > 32
        or len(record.category or "") > 64
        or len(record.encounter_id or "") > ID_LENGTH
    )


def _refuse_long_texts(record: ObservationRecord) -> None:
    for name, (value, limit) in _text_fields(record).items():
        if value is not None and len(value) > limit:
            raise InvalidInputError(
                f"observation {record.id!r}: {name} {value[:40]!r}... has {len(value)} "
                f"characters; the store keeps at most {limit}"
            )


def _components(record: ObservationRecord) -> str | None:
    """A panel's components as JSON text (``None`` for a single value)."""
    if not record.components:
        return None
    return json.dumps(
        [
            {
                "system": c.code.system,
                "code": c.code.code,
                "display": c.code.display,
                "value": c.value,
                "unit": c.unit,
            }
            for c in record.components
        ]
    )


def _sqlite_time(t: datetime) -> str:
    """A time as SQLAlchemy's SQLite ``DATETIME`` writes it: naive UTC, always microseconds.

    Bulk rows bypass SQLAlchemy's per-value processing (2.5 times faster), so they must
    match its text exactly for its bound query parameters to compare correctly.
    """
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    return t.isoformat(" ", "microseconds")[:26]


def _row(record: ObservationRecord, sqlite: bool) -> tuple[Any, ...]:
    r = _checked(record)
    return (
        r.id,
        r.patient_id,
        r.code.system,
        r.code.code,
        r.code.display,
        _sqlite_time(r.effective) if sqlite else r.effective,
        r.value,
        r.unit,
        r.status,
        r.category,
        r.encounter_id,
        _components(r),
    )


def _batches(
    records: Iterable[ObservationRecord], size: int, sqlite: bool
) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(records)
    while batch := [_row(r, sqlite) for r in islice(iterator, size)]:
        yield batch


def add_observations(
    session: Session, records: Iterable[ObservationRecord], *, batch_size: int = 10_000
) -> int:
    """Insert ``records`` in batches inside the caller's transaction; return how many.

    Raises
    ------
    InvalidInputError
        If an item is not an ObservationRecord, an id is too long, or a value not finite.
    ConflictError
        If an observation id is already stored (nothing is written: the caller's
        transaction rolls back).
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    count = 0
    for batch in _batches(records, batch_size, sqlite):
        if sqlite:
            connection.exec_driver_sql(_SQLITE_INSERT, batch)
        else:
            _copy(connection.connection.driver_connection, batch)
        count += len(batch)
    return count


_SQLITE_INSERT = (
    f"INSERT INTO observations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def _copy(driver_connection: Any, batch: list[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY: the fastest way in (JSON goes as text, which the server parses)."""
    import psycopg

    statement = f"COPY observations ({', '.join(_COLUMNS)}) FROM STDIN"
    try:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in batch:
                copy.write_row(row)
    except psycopg.errors.UniqueViolation as err:
        raise ConflictError(
            f"adding observations conflicts with data already stored ({err.diag.message_detail}); "
            "observation ids must be new"
        ) from err
    except psycopg.Error as err:
        raise StoreError(f"PostgreSQL refused the observations: {err}") from err


def _query(
    patient_id: str,
    code: str | Coding | None,
    start: datetime | None,
    end: datetime | None,
) -> Select[Any]:
    query = select(*(_TABLE.c[name] for name in _COLUMNS)).where(
        ObservationRow.patient_id == patient_id
    )
    if isinstance(code, Coding):
        query = query.where(ObservationRow.code == code.code)
        query = query.where(ObservationRow.code_system == code.system)
    elif code is not None:
        query = query.where(ObservationRow.code == code)
    if start is not None:
        query = query.where(ObservationRow.effective >= require_utc(start, "start"))
    if end is not None:
        query = query.where(ObservationRow.effective < require_utc(end, "end"))
    return query


def query_observations(
    session: Session,
    patient_id: str,
    *,
    code: str | Coding | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[ObservationRecord]:
    """One patient's observations with ``start <= effective < end``, in time order.

    ``code`` is a code (any system) or a :class:`Coding` (that system only); ``limit``
    keeps the first rows in the chosen order (``newest_first`` for the latest ones).
    """
    if limit is not None and limit < 0:
        raise InvalidInputError(f"limit must be non-negative, got {limit}")
    query = _query(patient_id, code, start, end)
    if newest_first:
        query = query.order_by(ObservationRow.effective.desc(), ObservationRow.id.desc())
    else:
        query = query.order_by(ObservationRow.effective, ObservationRow.id)
    if limit is not None:
        query = query.limit(limit)
    return [_record(row) for row in session.connection().execute(query)]


def _record(row: Sequence[Any]) -> ObservationRecord:
    (
        id_,
        patient_id,
        system,
        code,
        display,
        effective,
        value,
        unit,
        status,
        category,
        encounter_id,
        components,
    ) = row
    return ObservationRecord(
        id=id_,
        patient_id=patient_id,
        code=Coding(system=system, code=code, display=display),
        effective=effective,
        value=value,
        unit=unit,
        status=status,
        category=category,
        encounter_id=encounter_id,
        components=tuple(
            ObservationComponent(
                code=Coding(system=c["system"], code=c["code"], display=c.get("display")),
                value=c.get("value"),
                unit=c.get("unit"),
            )
            for c in components or ()
        ),
    )


def delete_observations(session: Session, ids: Iterable[str]) -> int:
    """Remove the observations with these ids; return how many were removed."""
    wanted = list(ids)
    removed = 0
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        result = session.connection().execute(delete(_TABLE).where(_TABLE.c.id.in_(chunk)))
        removed += result.rowcount
    return removed
