"""Twin states over time, bitemporal: when a state is valid, and when it was recorded.

A twin's state is a set of named arrays (an ensemble's ``to_array()`` view, its
parameters) saved as numpy ``.npz`` bytes, loaded back without pickle; small JSON metadata
(assimilated observation ids, settings) rides along. ``valid_time`` is the time the state
describes; ``recorded_time`` is when it was saved. A late observation makes a twin
re-estimate a past state: the new snapshot has the same valid time and a later recorded
time, and nothing is overwritten. "The state as of ``t``" is the latest valid time at or
before ``t`` (as known at ``recorded_at``, if given: what the twin believed then).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthtwin.errors import InvalidInputError, NotFoundError, ReplayError
from healthtwin.interop.records import require_utc
from healthtwin.store.resources import check_type_and_id, now_utc
from healthtwin.store.schema import TwinStateRow

__all__ = [
    "TwinStateSnapshot",
    "decode_arrays",
    "encode_arrays",
    "save_twin_state",
    "twin_state_as_of",
    "twin_state_history",
    "twin_state_ids",
]

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_KINDS = "biufcM m?"  # numbers, booleans, datetimes; never objects (they would need pickle)


@dataclass(frozen=True, kw_only=True, eq=False)
class TwinStateSnapshot:
    """One saved state of a twin (``arrays`` by name, ``metadata`` plain JSON)."""

    twin_id: str
    model: str
    model_version: str
    valid_time: datetime
    recorded_time: datetime
    arrays: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def encode_arrays(arrays: Mapping[str, npt.ArrayLike]) -> bytes:
    """Named numeric arrays as ``.npz`` bytes.

    Raises
    ------
    InvalidInputError
        If a name is not 1-128 letters, digits, ``_ . -``, or an array holds objects.

    Examples
    --------
    >>> data = encode_arrays({"x": np.arange(3.0)})
    >>> decode_arrays(data)["x"]
    array([0., 1., 2.])
    """
    checked: dict[str, npt.NDArray[Any]] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInputError(
                f"state array name {name!r} is not allowed; use 1-128 letters, digits, '_', "
                "'.' or '-'"
            )
        array = np.asarray(value)
        if array.dtype.kind not in _KINDS:
            raise InvalidInputError(
                f"state array {name!r} has dtype {array.dtype}; store numbers, booleans or "
                "datetimes (convert objects and strings to numbers or to metadata)"
            )
        checked[name] = array
    buffer = io.BytesIO()
    np.savez(buffer, **checked)  # type: ignore[arg-type]
    return buffer.getvalue()


def decode_arrays(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """The arrays of :func:`encode_arrays` (loaded with ``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        copy: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{what} cannot be stored as JSON ({err}); use strings, finite numbers, booleans, "
            "null, lists and objects (put arrays in the state)"
        ) from err
    return copy


def _text(value: str, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInputError(
            f"{what} must be a non-empty string of at most {max_length} characters, got {value!r}"
        )
    return value


def save_twin_state(
    session: Session,
    twin_id: str,
    *,
    model: str,
    model_version: str,
    valid_time: datetime,
    arrays: Mapping[str, npt.ArrayLike],
    metadata: Mapping[str, Any] | None = None,
    recorded_time: datetime | None = None,
) -> TwinStateSnapshot:
    """Save a snapshot (``recorded_time`` defaults to now); return it as stored."""
    check_type_and_id("Twin", twin_id)
    row = TwinStateRow(
        twin_id=twin_id,
        model=_text(model, "model", 128),
        model_version=_text(model_version, "model_version", 64),
        valid_time=require_utc(valid_time, "valid_time"),
        recorded_time=require_utc(recorded_time, "recorded_time") if recorded_time else now_utc(),
        state=encode_arrays(arrays),
        state_metadata=_json_object(metadata, f"metadata of twin {twin_id}"),
    )
    session.add(row)
    session.flush()
    return _snapshot(row)


def twin_state_as_of(
    session: Session, twin_id: str, t: datetime, *, recorded_at: datetime | None = None
) -> TwinStateSnapshot:
    """The latest snapshot valid at or before ``t`` (known at ``recorded_at`` if given).

    Among snapshots with the same valid time, the one recorded last wins.

    Raises
    ------
    NotFoundError
        If nothing was ever saved for ``twin_id``.
    ReplayError
        If the twin has no snapshot valid at or before ``t`` (as known at ``recorded_at``).
    """
    t = require_utc(t, "t")
    query = select(TwinStateRow).where(
        TwinStateRow.twin_id == twin_id, TwinStateRow.valid_time <= t
    )
    if recorded_at is not None:
        query = query.where(TwinStateRow.recorded_time <= require_utc(recorded_at, "recorded_at"))
    order = (
        TwinStateRow.valid_time.desc(),
        TwinStateRow.recorded_time.desc(),
        TwinStateRow.row_id.desc(),
    )
    row = session.scalars(query.order_by(*order).limit(1)).first()
    if row is not None:
        return _snapshot(row)
    first = session.scalar(
        select(func.min(TwinStateRow.valid_time)).where(TwinStateRow.twin_id == twin_id)
    )
    if first is None:
        raise NotFoundError(f"no state was ever saved for twin {twin_id!r}")
    known = f" as recorded by {recorded_at.isoformat()}" if recorded_at else ""
    raise ReplayError(
        f"twin {twin_id!r} has no state valid at or before {t.isoformat()}{known}; its "
        f"earliest state is valid at {first.isoformat()}: ask for a later time"
    )


def twin_state_history(session: Session, twin_id: str) -> list[TwinStateSnapshot]:
    """Every snapshot of a twin, by valid time then recorded time.

    Raises
    ------
    NotFoundError
        If nothing was ever saved for ``twin_id``.
    """
    rows = session.scalars(
        select(TwinStateRow)
        .where(TwinStateRow.twin_id == twin_id)
        .order_by(TwinStateRow.valid_time, TwinStateRow.recorded_time, TwinStateRow.row_id)
    ).all()
    if not rows:
        raise NotFoundError(f"no state was ever saved for twin {twin_id!r}")
    return [_snapshot(row) for row in rows]


def twin_state_ids(session: Session, prefix: str = "") -> list[str]:
    """The ids of the twins with at least one saved state that start with ``prefix``, sorted.

    The match is exact and case-sensitive on every backend (SQLite's ``LIKE`` ignores
    case, so its answer is filtered again).

    Raises
    ------
    InvalidInputError
        If ``prefix`` is not a string of at most 64 characters.
    """
    if not isinstance(prefix, str) or len(prefix) > 64:
        raise InvalidInputError(
            f"a twin id prefix must be a string of at most 64 characters, got {prefix!r}"
        )
    query = select(TwinStateRow.twin_id).distinct()
    if prefix:
        query = query.where(TwinStateRow.twin_id.startswith(prefix, autoescape=True))
    found = session.scalars(query).all()
    return sorted(i for i in found if i.startswith(prefix))


def _snapshot(row: TwinStateRow) -> TwinStateSnapshot:
    return TwinStateSnapshot(
        twin_id=row.twin_id,
        model=row.model,
        model_version=row.model_version,
        valid_time=row.valid_time,
        recorded_time=row.recorded_time,
        arrays=decode_arrays(row.state),
        metadata=dict(row.state_metadata),
    )
