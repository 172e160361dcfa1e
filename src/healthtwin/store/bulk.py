"""Resources many at a time: bulk reads and upserts, reference checks, series bodies.

The single-resource functions of :mod:`healthtwin.store.resources` run a query (and a
flush) per resource; these do the same work for many resources with a query per 500 ids
and one multi-row statement per table, inside the caller's session:

- :func:`read_many`: current versions by id, in the order asked;
- :func:`upsert_resources`: new versions of many resources (what
  :meth:`Store.write_transaction <healthtwin.store.Store.write_transaction>` uses for a
  run of plain upserts, such as a whole imported Bundle);
- :func:`require_resources`: fail, with each reference's path, unless the referenced
  resources are stored, locking them until the transaction ends;
- :func:`observation_bodies`: one patient's time-series index range joined to the stored
  Observation bodies in one query (what the API's search by patient reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from healthtwin.errors import ConflictError, ResourceValidationError, StoreError, ValidationIssue
from healthtwin.interop.records import Coding
from healthtwin.store.observations import _query as _series_query
from healthtwin.store.observations import _sqlite_time
from healthtwin.store.resources import (
    _ID,
    _last_updated,
    _stamped,
    check_type_and_id,
    now_utc,
)
from healthtwin.store.schema import ObservationRow, ResourceRow

__all__ = ["observation_bodies", "read_many", "require_resources", "upsert_resources"]

JSONDict = dict[str, Any]
#: Ids per ``IN (...)`` list: far below every backend's limit on bound parameters.
_CHUNK = 500
_RESOURCES = cast(Table, ResourceRow.__table__)
_SERIES = cast(Table, ObservationRow.__table__)
# Bulk update of current rows (parameters prefixed: they may not share a column's name).
_UPDATE_CURRENT = (
    update(_RESOURCES)
    .where(_RESOURCES.c.resource_type == bindparam("k_type"), _RESOURCES.c.id == bindparam("k_id"))
    .values(
        version_id=bindparam("k_version"),
        last_updated=bindparam("k_updated"),
        body=bindparam("k_body"),
        deleted=False,
    )
)


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def read_many(
    session: Session, resource_type: str, ids: Sequence[str], *, lock: bool = False
) -> list[JSONDict]:
    """The current versions of several resources of one type, in the order of ``ids``.

    Missing and deleted resources are left out, and so are ids that are not FHIR ids (no
    stored resource has one: the time series may hold such ids); a repeated id gives its
    resource once per mention. The ids are looked up in chunks of 500 (one ``IN`` query
    each).

    Parameters
    ----------
    session : Session
        The caller's session (inside its transaction).
    resource_type : str
        The FHIR type of every resource asked for.
    ids : sequence of str
        Logical ids.
    lock : bool
        Lock the rows found against concurrent updates and deletions until the
        transaction ends (``FOR SHARE`` on PostgreSQL; a SQLite write transaction holds
        the database's write lock already).

    Raises
    ------
    InvalidInputError
        If ``resource_type`` is not a FHIR type name.
    """
    check_type_and_id(resource_type, None)
    wanted = sorted({i for i in ids if isinstance(i, str) and _ID.fullmatch(i)})
    found: dict[str, JSONDict] = {}
    for chunk in _chunks(wanted):
        query = select(ResourceRow.id, ResourceRow.body).where(
            ResourceRow.resource_type == resource_type,
            ResourceRow.id.in_(chunk),
            ResourceRow.deleted.is_(False),
        )
        rows = session.execute(query.with_for_update(read=True) if lock else query)
        found.update((row_id, body) for row_id, body in rows)
    return [dict(found[i]) for i in ids if i in found]


def observation_bodies(
    session: Session,
    patient_id: str,
    code: str | Coding | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[JSONDict]:
    """The stored Observations behind one patient's series rows, in time order.

    The rows are those of :func:`~healthtwin.store.observations.query_observations`
    (``start <= effective < end``, by time then id); each is joined to the current body
    of the Observation with its id in one query. Rows without a stored (or with a
    deleted) Observation are left out.
    """
    rows = _series_query(patient_id, code, start, end)
    joined = rows.with_only_columns(ResourceRow.body).select_from(
        _SERIES.join(
            _RESOURCES,
            (_RESOURCES.c.resource_type == "Observation") & (_RESOURCES.c.id == _SERIES.c.id),
        )
    )
    query = joined.where(ResourceRow.deleted.is_(False)).order_by(_SERIES.c.effective, _SERIES.c.id)
    return [dict(body) for body in session.scalars(query)]


def require_resources(session: Session, references: Mapping[str, str]) -> None:
    """Fail unless every referenced resource is stored and not deleted, and lock those found.

    Run inside a write transaction after its writes, it sees what they created or
    deleted, and (``FOR SHARE`` on PostgreSQL, the write lock on SQLite) no concurrent
    transaction can delete a found resource before this one commits.

    Parameters
    ----------
    references : mapping of str to str
        Where each reference was written (an issue path such as
        ``Observation.subject.reference``) to the ``Type/id`` it names.

    Raises
    ------
    ResourceValidationError
        With one ``not-found`` issue, at its path, per reference to nothing stored.
    """
    wanted: dict[str, set[str]] = {}
    for reference in references.values():
        resource_type, _, resource_id = reference.partition("/")
        check_type_and_id(resource_type, resource_id)
        wanted.setdefault(resource_type, set()).add(resource_id)
    present: set[str] = set()
    for resource_type, ids in wanted.items():
        for chunk in _chunks(sorted(ids)):
            query = select(ResourceRow.id).where(
                ResourceRow.resource_type == resource_type,
                ResourceRow.id.in_(chunk),
                ResourceRow.deleted.is_(False),
            )
            found = session.scalars(query.with_for_update(read=True))
            present.update(f"{resource_type}/{i}" for i in found)
    issues = tuple(
        ValidationIssue(path, _dangling(reference), "not-found")
        for path, reference in references.items()
        if reference not in present
    )
    if issues:
        listed = "; ".join(f"{i.path}: {i.message}" for i in issues[:5])
        raise ResourceValidationError(f"{len(issues)} dangling reference(s): {listed}", issues)


def _dangling(reference: str) -> str:
    kind = reference.partition("/")[0]
    return (
        f"reference {reference!r} points at no stored {kind}; create the {kind} first (or in "
        "the same transaction) or correct the reference"
    )


def upsert_resources(session: Session, bodies: Sequence[JSONDict]) -> list[JSONDict]:
    """Store a new version of each resource (creating it if missing), in bulk, in order.

    The result equals :func:`~healthtwin.store.resources.update_resource` with
    ``upsert=True`` called on each body in turn (a body repeated in ``bodies`` makes one
    version per mention, a deleted resource is revived), but the rows are found with one
    query per 500 ids and written with one multi-row statement per table, instead of a
    query and a flush per resource.

    Parameters
    ----------
    bodies : sequence of dict
        Bodies already checked by :func:`~healthtwin.store.resources.check_resource` with
        ``need_id=True`` (stored as given, with ``meta`` stamped on copies).

    Returns
    -------
    list of dict
        The stored bodies, in the order of ``bodies``.
    """
    session.flush()
    keys = [(str(b["resourceType"]), str(b["id"])) for b in bodies]
    versions = _current_versions(session, keys)
    existing = set(versions)
    when = now_utc()
    stamp = _last_updated(when)
    sqlite = session.connection().dialect.name == "sqlite"
    written: datetime | str = _sqlite_time(when) if sqlite else when
    stored: list[JSONDict] = []
    history: list[tuple[Any, ...]] = []
    latest: dict[tuple[str, str], tuple[JSONDict, str]] = {}
    for key, body in zip(keys, bodies, strict=True):
        versions[key] = versions.get(key, 0) + 1
        stamped = _stamped(body, versions[key], stamp)
        text = json.dumps(stamped)  # once, for both tables
        stored.append(stamped)
        latest[key] = (stamped, text)
        history.append((*key, versions[key], written, text, False))
    new = [
        (*k, versions[k], written, t, False) for k, (_, t) in latest.items() if k not in existing
    ]
    old = [
        {"k_type": k[0], "k_id": k[1], "k_version": versions[k], "k_updated": when, "k_body": b}
        for k, (b, _) in latest.items()
        if k in existing
    ]
    _insert_rows(session, "resources", new)
    if old:
        session.connection().execute(_UPDATE_CURRENT, old)
    _insert_rows(session, "resource_history", history)
    for row_object in list(session.identity_map.values()):
        # Bulk statements bypass the identity map: reload what an earlier write loaded.
        if (
            isinstance(row_object, ResourceRow)
            and (row_object.resource_type, row_object.id) in latest
        ):
            session.expire(row_object)
    return stored


_ROW_COLUMNS = "resource_type, id, version_id, last_updated, body, deleted"


def _insert_rows(session: Session, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows of ``resources`` or ``resource_history`` with the driver's bulk call.

    Bodies go as JSON text (serialised once for both tables) and SQLite times as the text
    SQLAlchemy writes (:func:`~healthtwin.store.observations._sqlite_time`), bypassing
    its per-value processing; PostgreSQL gets them by ``COPY``.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        statement = f"INSERT INTO {table} ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
        connection.exec_driver_sql(statement, rows)
        return
    import psycopg

    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({_ROW_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    except psycopg.errors.UniqueViolation as err:
        raise ConflictError(
            f"writing {len(rows)} resources conflicts with data already stored "
            f"({err.diag.message_detail}); another writer created one of them: retry"
        ) from err
    except psycopg.Error as err:
        raise StoreError(f"PostgreSQL refused {len(rows)} rows of {table}: {err}") from err


def _current_versions(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The current version (deletions included) of each stored key, rows locked for update."""
    by_type: dict[str, set[str]] = {}
    for resource_type, resource_id in keys:
        by_type.setdefault(resource_type, set()).add(resource_id)
    versions: dict[tuple[str, str], int] = {}
    for resource_type, ids in by_type.items():
        for chunk in _chunks(sorted(ids)):
            rows = session.execute(
                select(ResourceRow.id, ResourceRow.version_id)
                .where(ResourceRow.resource_type == resource_type, ResourceRow.id.in_(chunk))
                .with_for_update()
            )
            versions.update(((resource_type, i), v) for i, v in rows)
    return versions
