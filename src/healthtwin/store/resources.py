"""FHIR resources as versioned JSON documents: create, read, update, delete, history.

A resource is a plain JSON dict with ``resourceType`` and ``id`` (no FHIR library object
crosses this boundary). Every write makes a new version: the current one lives in
``resources``, every version (deletions too) in ``resource_history``. The store sets
``meta.versionId`` (``"1"``, ``"2"``, ...) and ``meta.lastUpdated`` (UTC, milliseconds) in the
stored body. Optimistic concurrency: a write that names the version it expects to replace
fails with :class:`ConflictError` if another writer got there first. These functions work
inside a caller's session; :class:`~healthtwin.store.Store` supplies the transactions.
Their counterparts for many resources at once are in :mod:`healthtwin.store.bulk`.

On PostgreSQL bodies are JSONB: a number keeps its decimal value but not its Python spelling
(``3.602879701896397e+16`` reads back as the int ``36028797018963970``, as JSON means it),
and object keys come back in JSONB's order. Strings may not contain NUL (FHIR strings
exclude control characters, and JSONB cannot hold it), on every backend alike.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.interop.records import require_utc
from healthtwin.store.schema import ResourceHistoryRow, ResourceRow

__all__ = [
    "ResourcePage",
    "ResourceVersion",
    "check_resource",
    "check_type_and_id",
    "create_resource",
    "delete_resource",
    "now_utc",
    "read_resource",
    "read_version",
    "resource_history",
    "resource_page",
    "update_resource",
    "version_number",
]

_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# An escaped NUL in JSON text: "\u0000" after an even number of backslashes.
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

JSONDict = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ResourceVersion:
    """One version of a resource; a deletion has ``deleted=True`` and ``body=None``."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    body: JSONDict | None


@dataclass(frozen=True, kw_only=True)
class ResourcePage:
    """One page of resources in id order; pass ``next_after_id`` to get the next page."""

    resources: tuple[JSONDict, ...]
    next_after_id: str | None


def now_utc() -> datetime:
    """The current UTC time to the millisecond (the precision written to ``lastUpdated``)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def check_type_and_id(resource_type: str, resource_id: str | None) -> None:
    """Refuse a resource type or logical id that FHIR's grammar does not allow."""
    if not isinstance(resource_type, str) or not _TYPE.fullmatch(resource_type):
        raise InvalidInputError(
            f"resource type {resource_type!r} is not a FHIR resource type name; use the "
            "type's name as FHIR spells it, for example 'Patient' or 'Observation'"
        )
    if resource_id is not None and (
        not isinstance(resource_id, str) or not _ID.fullmatch(resource_id)
    ):
        raise InvalidInputError(
            f"{resource_type} id {resource_id!r} is not a FHIR id; ids are 1 to 64 letters, "
            "digits, '-' or '.'"
        )


def check_resource(resource: Mapping[str, Any], *, need_id: bool) -> JSONDict:
    """A plain-JSON copy of ``resource`` after checking its type, id and JSON content.

    Raises
    ------
    InvalidInputError
        If ``resource`` is not a mapping, lacks ``resourceType`` (or ``id`` when
        ``need_id``), has a malformed type or id, or holds values JSON cannot represent.

    Examples
    --------
    >>> check_resource({"resourceType": "Patient", "id": "p1"}, need_id=True)["id"]
    'p1'
    >>> check_resource({"resourceType": "Patient"}, need_id=True)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: Patient has no 'id'; ...
    """
    if not isinstance(resource, Mapping):
        raise InvalidInputError(
            f"a resource must be a JSON object (dict), got {type(resource).__name__}"
        )
    resource_type = resource.get("resourceType")
    check_type_and_id(resource_type, resource.get("id"))  # type: ignore[arg-type]
    if need_id and "id" not in resource:
        raise InvalidInputError(
            f"{resource_type} has no 'id'; give the logical id of the resource to update"
        )
    try:
        text = json.dumps(resource, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{resource_type}/{resource.get('id')} cannot be stored as JSON ({err}); use only "
            "strings, finite numbers, booleans, null, lists and objects"
        ) from err
    if "\\u0000" in text and _NUL.search(text):
        # FHIR strings exclude control characters, and PostgreSQL's JSONB cannot hold NUL.
        raise InvalidInputError(
            f"{resource_type}/{resource.get('id')} holds a NUL character (\\u0000) in a "
            "string; remove it (FHIR strings may not contain control characters)"
        )
    body: JSONDict = json.loads(text)
    return body


def version_number(version: int | str | None) -> int | None:
    """``3``, ``"3"`` or ``None`` -> ``3`` or ``None``; anything else is refused.

    Examples
    --------
    >>> version_number("3"), version_number(None)
    (3, None)
    """
    if version is None:
        return None
    text = str(version).strip()
    if isinstance(version, bool) or not text.isdigit() or int(text) < 1:
        raise InvalidInputError(
            f"version {version!r} is not a version id; versions are whole numbers from 1"
        )
    return int(text)


def _last_updated(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stamped(body: JSONDict, version_id: int, last_updated: str) -> JSONDict:
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = last_updated
    return {**body, "meta": meta}


def _current(
    session: Session, resource_type: str, resource_id: str, *, lock: bool = False
) -> ResourceRow | None:
    query = select(ResourceRow).where(
        ResourceRow.resource_type == resource_type, ResourceRow.id == resource_id
    )
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def _write(
    session: Session, key: tuple[str, str], row: ResourceRow | None, body: JSONDict | None
) -> ResourceRow:
    """Add a version of ``key``: ``row`` is its current row, ``body`` None for a deletion."""
    when = now_utc()
    version_id = row.version_id + 1 if row else 1
    stored = _stamped(body, version_id, _last_updated(when)) if body is not None else None
    if row is None:
        assert stored is not None
        row = ResourceRow(resource_type=key[0], id=key[1], body=stored)
        session.add(row)
    elif stored is not None:
        row.body = stored
    row.version_id, row.last_updated, row.deleted = version_id, when, stored is None
    session.add(
        ResourceHistoryRow(
            resource_type=key[0],
            id=key[1],
            version_id=version_id,
            last_updated=when,
            body=stored,
            deleted=stored is None,
        )
    )
    session.flush()
    return row


def create_resource(session: Session, resource: Mapping[str, Any]) -> JSONDict:
    """Store a new resource (an id is generated if it has none); return the stored body.

    Raises
    ------
    ConflictError
        If a resource of that type and id exists (a deleted one is revived instead).
    """
    body = check_resource(resource, need_id=False)
    body.setdefault("id", str(uuid.uuid4()))
    key = (body["resourceType"], body["id"])
    row = _current(session, *key, lock=True)
    if row is not None and not row.deleted:
        raise ConflictError(
            f"{key[0]}/{key[1]} already exists (version {row.version_id}); update it instead, "
            "or create it without an id to get a new one"
        )
    return dict(_write(session, key, row, body).body)


def read_resource(session: Session, resource_type: str, resource_id: str) -> JSONDict:
    """The current version of a resource.

    Raises
    ------
    NotFoundError
        If there is no such resource, or it was deleted (the message says which).
    """
    check_type_and_id(resource_type, resource_id)
    row = _current(session, resource_type, resource_id)
    if row is None or row.deleted:
        raise NotFoundError(_missing(resource_type, resource_id, row))
    return dict(row.body)


def update_resource(
    session: Session,
    resource: Mapping[str, Any],
    *,
    expected_version: int | str | None = None,
    upsert: bool = False,
) -> JSONDict:
    """Store a new version of a resource; return the stored body.

    Parameters
    ----------
    resource : mapping
        The whole new body, with ``resourceType`` and ``id``.
    expected_version : int or str, optional
        The version the caller read; another current version raises ``ConflictError``.
    upsert : bool
        Create the resource if it does not exist (FHIR's update-as-create).

    Raises
    ------
    NotFoundError
        If the resource does not exist (or was deleted) and ``upsert`` is false.
    ConflictError
        If ``expected_version`` is not the current version.
    """
    body = check_resource(resource, need_id=True)
    expected = version_number(expected_version)
    resource_type, resource_id = body["resourceType"], body["id"]
    row = _current(session, resource_type, resource_id, lock=True)
    _check_expected(row, expected, resource_type, resource_id)
    if (row is None or row.deleted) and not upsert:
        raise NotFoundError(
            _missing(resource_type, resource_id, row) + "; create it, or update with upsert"
        )
    return dict(_write(session, (resource_type, resource_id), row, body).body)


def delete_resource(
    session: Session,
    resource_type: str,
    resource_id: str,
    *,
    expected_version: int | str | None = None,
) -> int:
    """Delete a resource (a new, empty version); return the deletion's version id.

    Deleting a deleted resource changes nothing and returns its current version.

    Raises
    ------
    NotFoundError
        If the resource never existed.
    ConflictError
        If ``expected_version`` is not the current version.
    """
    check_type_and_id(resource_type, resource_id)
    expected = version_number(expected_version)
    row = _current(session, resource_type, resource_id, lock=True)
    if row is None:
        raise NotFoundError(_missing(resource_type, resource_id, row))
    _check_expected(row, expected, resource_type, resource_id)
    if row.deleted:
        return row.version_id
    return _write(session, (resource_type, resource_id), row, None).version_id


def resource_history(
    session: Session, resource_type: str, resource_id: str
) -> list[ResourceVersion]:
    """Every version of a resource, newest first (FHIR ``_history`` order).

    Raises
    ------
    NotFoundError
        If the resource never existed.
    """
    check_type_and_id(resource_type, resource_id)
    rows = session.scalars(
        select(ResourceHistoryRow)
        .where(
            ResourceHistoryRow.resource_type == resource_type,
            ResourceHistoryRow.id == resource_id,
        )
        .order_by(ResourceHistoryRow.version_id.desc())
    ).all()
    if not rows:
        raise NotFoundError(_missing(resource_type, resource_id, None))
    return [
        ResourceVersion(
            resource_type=r.resource_type,
            id=r.id,
            version_id=r.version_id,
            last_updated=r.last_updated,
            deleted=r.deleted,
            body=dict(r.body) if r.body is not None else None,
        )
        for r in rows
    ]


def read_version(
    session: Session, resource_type: str, resource_id: str, version_id: int | str
) -> JSONDict:
    """One version of a resource (FHIR ``vread``).

    Raises
    ------
    NotFoundError
        If there is no such version, or that version is a deletion.
    """
    check_type_and_id(resource_type, resource_id)
    number = version_number(version_id)
    row = session.get(ResourceHistoryRow, (resource_type, resource_id, number))
    if row is None or row.body is None:
        what = "is a deletion" if row is not None else "does not exist"
        raise NotFoundError(
            f"version {number} of {resource_type}/{resource_id} {what}; list the versions "
            "with history()"
        )
    return dict(row.body)


def resource_page(
    session: Session,
    resource_type: str,
    *,
    after_id: str | None = None,
    limit: int = 100,
    updated_since: datetime | None = None,
) -> ResourcePage:
    """Current, undeleted resources of one type in id order, after ``after_id`` (keyset).

    ``updated_since`` keeps those last updated at or after that (timezone-aware) time.
    """
    check_type_and_id(resource_type, None)
    if limit < 1:
        raise InvalidInputError(f"page limit must be at least 1, got {limit}")
    query = select(ResourceRow.id, ResourceRow.body).where(
        ResourceRow.resource_type == resource_type, ResourceRow.deleted.is_(False)
    )
    if after_id is not None:
        query = query.where(ResourceRow.id > after_id)
    if updated_since is not None:
        since = require_utc(updated_since, "updated_since")
        query = query.where(ResourceRow.last_updated >= since)
    rows = session.execute(query.order_by(ResourceRow.id).limit(limit + 1)).all()
    more = len(rows) > limit
    page = rows[:limit]
    return ResourcePage(
        resources=tuple(dict(body) for _, body in page),
        next_after_id=page[-1][0] if more else None,
    )


def _check_expected(
    row: ResourceRow | None, expected: int | None, resource_type: str, resource_id: str
) -> None:
    if expected is None:
        return
    if row is None:
        raise NotFoundError(
            f"{resource_type}/{resource_id} does not exist, so it cannot be at the expected "
            f"version {expected}"
        )
    if row.version_id != expected:
        raise ConflictError(
            f"{resource_type}/{resource_id} is at version {row.version_id}, not the expected "
            f"version {expected}: someone changed it since you read it; read it again and "
            "reapply your change"
        )


def _missing(resource_type: str, resource_id: str, row: ResourceRow | None) -> str:
    if row is not None and row.deleted:
        return f"{resource_type}/{resource_id} was deleted (version {row.version_id})"
    return f"there is no {resource_type}/{resource_id}"
