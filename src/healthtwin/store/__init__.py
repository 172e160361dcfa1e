"""Persistence: FHIR resources, observation time series, twin states and the audit log.

SQLAlchemy 2 over SQLite by default (a file in the user's data directory, nothing to set
up) or PostgreSQL for servers (``postgresql+psycopg://...``). The schema is created and
upgraded only by the Alembic migrations shipped in ``migrations/``; :func:`open_store`
applies them. Four kinds of data:

- **resources**: FHIR resources as JSON documents, versioned (every write is a new
  ``meta.versionId``, all versions kept), with optimistic concurrency and all-or-nothing
  transactions (:meth:`Store.write_transaction`);
- **observations**: :class:`~healthtwin.interop.records.ObservationRecord` rows indexed by
  ``(patient, code, time)``, bulk-loaded (``executemany`` on SQLite, ``COPY`` on
  PostgreSQL);
- **twin states**: named arrays (npz) by valid time and recorded time, so a twin can be
  asked what it knew about time ``t`` (bitemporal history);
- **audit events**: append-only (the database refuses updates and deletes).

SQLite runs in write-ahead-log mode with a busy timeout and immediate write transactions,
so threads and processes can write one file concurrently.

Examples
--------
>>> from datetime import UTC, datetime
>>> from healthtwin.interop.records import Coding, ObservationRecord
>>> store = open_store("sqlite://")
>>> glucose = Coding(system="http://loinc.org", code="105272-9")
>>> t0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
>>> store.add_observations(
...     ObservationRecord(id=f"g{i}", patient_id="p1", code=glucose,
...                       effective=t0.replace(minute=5 * i), value=6.0 + i, unit="mmol/L")
...     for i in range(3)
... )
3
>>> [o.value for o in store.observations("p1", "105272-9", start=t0.replace(minute=5))]
[7.0, 8.0]
>>> store.close()
"""

from __future__ import annotations

from healthtwin.store.audit import OUTCOMES, AuditEntry
from healthtwin.store.engine import DATABASE_URL_ENV, default_url
from healthtwin.store.migrate import current_revision, head_revision
from healthtwin.store.operations import (
    AddObservations,
    CreateResource,
    DeleteObservations,
    DeleteResource,
    Operation,
    RecordAudit,
    UpdateResource,
)
from healthtwin.store.resources import ResourcePage, ResourceVersion
from healthtwin.store.store import Store, open_store
from healthtwin.store.twin_states import TwinStateSnapshot

__all__ = [
    "DATABASE_URL_ENV",
    "OUTCOMES",
    "AddObservations",
    "AuditEntry",
    "CreateResource",
    "DeleteObservations",
    "DeleteResource",
    "Operation",
    "RecordAudit",
    "ResourcePage",
    "ResourceVersion",
    "Store",
    "TwinStateSnapshot",
    "UpdateResource",
    "current_revision",
    "default_url",
    "head_revision",
    "open_store",
]
