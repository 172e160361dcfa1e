"""The :class:`Store`: one object for resources, observations, twin states and audit.

Each method runs in its own transaction (writes take the write lock up front on SQLite,
see :mod:`healthtwin.store.engine`); :meth:`Store.write_transaction` groups writes into one.
Nothing in the signatures is a FHIR-library or SQLAlchemy object: resources are JSON
dicts, observations are :class:`~healthtwin.interop.records.ObservationRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any

import numpy.typing as npt
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from healthtwin.errors import InvalidParameterError, TwinError
from healthtwin.governance.audit_chain import Checkpoint, VerifyReport
from healthtwin.governance.signing import PublicKey, SigningKey
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.store import audit, bulk, observations, resources, twin_states
from healthtwin.store.audit import AuditEntry
from healthtwin.store.engine import create_store_engine, database_errors, default_url, writer
from healthtwin.store.migrate import ensure_schema
from healthtwin.store.operations import (
    CreateResource,
    Operation,
    UpdateResource,
    apply_operation,
    at_entry,
    describe,
)
from healthtwin.store.oversight import StoreOversight
from healthtwin.store.resources import ResourcePage, ResourceVersion
from healthtwin.store.twin_states import TwinStateSnapshot

__all__ = ["Store", "open_store"]

JSONDict = dict[str, Any]


def open_store(
    url: str | None = None, *, upgrade: bool = True, busy_timeout_s: float = 30.0
) -> Store:
    """Open (and create or migrate) a store.

    Parameters
    ----------
    url : str, optional
        Database URL; default ``$HEALTHTWIN_DATABASE_URL``, else a SQLite file in the
        user's data directory (:func:`~healthtwin.store.engine.default_url`).
    upgrade : bool
        Migrate an empty or older database to the current schema; with ``False`` such a
        database raises ``StoreError`` instead.
    busy_timeout_s : float
        How long a SQLite writer waits for another writer before failing.

    Raises
    ------
    StoreError
        If the database cannot be reached or its schema is newer than this healthtwin's.

    Examples
    --------
    >>> with open_store("sqlite://") as store:
    ...     stored = store.create({"resourceType": "Patient", "id": "p1"})
    ...     stored["meta"]["versionId"], store.read("Patient", "p1")["id"]
    ('1', 'p1')
    """
    engine = create_store_engine(url or default_url(), busy_timeout_s=busy_timeout_s)
    try:
        ensure_schema(engine, upgrade=upgrade)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


class Store:
    """Persistent resources, observations, twin states and audit events.

    Create with :func:`open_store`; close with :meth:`close` or a ``with`` block.

    Examples
    --------
    Versions and optimistic concurrency:

    >>> from datetime import UTC, datetime
    >>> import numpy as np
    >>> store = open_store("sqlite://")
    >>> _ = store.create({"resourceType": "Patient", "id": "p1", "gender": "female"})
    >>> patient = {"resourceType": "Patient", "id": "p1"}
    >>> store.update(patient, expected_version=1)["meta"]["versionId"]
    '2'
    >>> store.update(patient, expected_version=1)
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConflictError: Patient/p1 is at version 2, not the expected version 1: ...
    >>> [v.version_id for v in store.history("Patient", "p1")]
    [2, 1]

    A failing transaction entry writes nothing:

    >>> from healthtwin.store import CreateResource
    >>> store.write_transaction([CreateResource({"resourceType": "Patient", "id": "p2"}),
    ...                          CreateResource({"resourceType": "Patient", "id": "p1"})])
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConflictError: transaction entry 1 (create Patient/p1): Patient/p1 already ...
    >>> [p["id"] for p in store.iter_resources("Patient")]
    ['p1']

    Twin states as of a time, and the audit log:

    >>> t0 = datetime(2024, 5, 1, 8, tzinfo=UTC)
    >>> _ = store.save_twin_state("twin-1", model="hovorka", model_version="1", valid_time=t0,
    ...                           arrays={"x": np.zeros((3, 2))})
    >>> store.twin_state_as_of("twin-1", t0.replace(hour=9)).arrays["x"].shape
    (3, 2)
    >>> _ = store.record_audit(actor="Practitioner/dr1", action="read", purpose="TREAT",
    ...                        resource_refs=["Patient/p1"])
    >>> [e.actor for e in store.audit_events(resource_ref="Patient/p1")]
    ['Practitioner/dr1']
    >>> store.close()
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._audit_key: SigningKey | None = None
        self._checkpoint_every: int | None = None

    def __repr__(self) -> str:
        return f"Store({self._engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for migrations and diagnostics, not for writing)."""
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _session(self, what: str, *, write: bool = False) -> Iterator[Session]:
        engine = self._writer if write else self._engine
        with (
            database_errors(what),
            Session(engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    # -- resources ---------------------------------------------------------------------

    def create(self, resource: Mapping[str, Any]) -> JSONDict:
        """Store a new resource; see :func:`~healthtwin.store.resources.create_resource`."""
        with self._session(describe(CreateResource(resource)), write=True) as s:
            return resources.create_resource(s, resource)

    def read(self, resource_type: str, resource_id: str) -> JSONDict:
        """The current version; ``NotFoundError`` if missing or deleted."""
        with self._session(f"reading {resource_type}/{resource_id}") as s:
            return resources.read_resource(s, resource_type, resource_id)

    def update(
        self,
        resource: Mapping[str, Any],
        *,
        expected_version: int | str | None = None,
        upsert: bool = False,
    ) -> JSONDict:
        """A new version; see :func:`~healthtwin.store.resources.update_resource`."""
        with self._session(describe(UpdateResource(resource)), write=True) as s:
            return resources.update_resource(
                s, resource, expected_version=expected_version, upsert=upsert
            )

    def delete(
        self, resource_type: str, resource_id: str, *, expected_version: int | str | None = None
    ) -> int:
        """Delete; return the deletion's version id (see ``resources.delete_resource``)."""
        with self._session(f"deleting {resource_type}/{resource_id}", write=True) as s:
            return resources.delete_resource(
                s, resource_type, resource_id, expected_version=expected_version
            )

    def read_many(self, resource_type: str, ids: Sequence[str]) -> list[JSONDict]:
        """Current versions of resources of one type, in the order of ``ids``.

        Missing and deleted resources are left out; the ids are looked up 500 at a time.

        Examples
        --------
        >>> with open_store("sqlite://") as store:
        ...     _ = store.create({"resourceType": "Patient", "id": "a"})
        ...     _ = store.create({"resourceType": "Patient", "id": "b"})
        ...     _ = store.delete("Patient", "b")
        ...     [p["id"] for p in store.read_many("Patient", ["b", "zz", "a"])]
        ['a']
        """
        with self._session(f"reading {len(ids)} {resource_type} resources") as s:
            return bulk.read_many(s, resource_type, ids)

    def history(self, resource_type: str, resource_id: str) -> list[ResourceVersion]:
        """Every version, newest first; ``NotFoundError`` if it never existed."""
        with self._session(f"reading the history of {resource_type}/{resource_id}") as s:
            return resources.resource_history(s, resource_type, resource_id)

    def vread(self, resource_type: str, resource_id: str, version_id: int | str) -> JSONDict:
        """One version; ``NotFoundError`` if there is none or it is a deletion."""
        with self._session(f"reading {resource_type}/{resource_id}/_history/{version_id}") as s:
            return resources.read_version(s, resource_type, resource_id, version_id)

    def resource_page(
        self,
        resource_type: str,
        *,
        after_id: str | None = None,
        limit: int = 100,
        updated_since: datetime | None = None,
    ) -> ResourcePage:
        """One keyset page of current resources of a type, in id order."""
        with self._session(f"listing {resource_type} resources") as s:
            return resources.resource_page(
                s, resource_type, after_id=after_id, limit=limit, updated_since=updated_since
            )

    def iter_resources(
        self,
        resource_type: str,
        *,
        page_size: int = 500,
        after_id: str | None = None,
        updated_since: datetime | None = None,
    ) -> Iterator[JSONDict]:
        """Every current resource of a type, in id order, read one page per transaction."""
        while True:
            page = self.resource_page(
                resource_type, after_id=after_id, limit=page_size, updated_since=updated_since
            )
            yield from page.resources
            if page.next_after_id is None:
                return
            after_id = page.next_after_id

    def write_transaction(self, operations: Sequence[Operation]) -> list[object]:
        """Apply operations in order, all or nothing; return each one's result.

        Consecutive plain upserts (``UpdateResource`` with ``upsert=True`` and no expected
        version) are written together by
        :func:`~healthtwin.store.bulk.upsert_resources`, with the same results.

        Raises
        ------
        TwinError
            The failing entry's error, same class, its message led by
            ``"transaction entry <index> (<operation>)"``; nothing was written.
        """
        results: list[object] = []
        with self._session(f"a transaction of {len(operations)} entries", write=True) as s:
            index = 0
            while index < len(operations):
                run = _upsert_run(operations, index)
                if run > 1:
                    results += _upsert(s, operations, index, run)
                    index += run
                    continue
                operation = operations[index]
                try:
                    with database_errors(describe(operation)):
                        results.append(apply_operation(s, operation))
                except TwinError as err:
                    raise at_entry(err, index, operation) from err
                index += 1
        return results

    # -- observations ------------------------------------------------------------------

    def add_observations(
        self, records: Iterable[ObservationRecord], *, batch_size: int = 10_000
    ) -> int:
        """Bulk-insert observations in one transaction; return how many were added."""
        with self._session("adding observations", write=True) as s:
            return observations.add_observations(s, records, batch_size=batch_size)

    def observations(
        self,
        patient_id: str,
        code: str | Coding | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> list[ObservationRecord]:
        """One patient's observations with ``start <= effective < end``, in time order."""
        with self._session(f"reading observations of patient {patient_id}") as s:
            return observations.query_observations(
                s,
                patient_id,
                code=code,
                start=start,
                end=end,
                limit=limit,
                newest_first=newest_first,
            )

    def observation_bodies(
        self,
        patient_id: str,
        code: str | Coding | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[JSONDict]:
        """The stored Observation resources of :meth:`observations`' rows, in time order.

        One query joins the series' index range to the resource bodies; rows whose
        Observation is not stored (or was deleted) are left out.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> with open_store("sqlite://") as store:
        ...     _ = store.create({"resourceType": "Observation", "id": "g1", "status": "final"})
        ...     glucose = Coding(system="http://loinc.org", code="105272-9")
        ...     _ = store.add_observations(
        ...         ObservationRecord(id=i, patient_id="p1", code=glucose, value=6.0,
        ...                           effective=datetime(2024, 5, 1, 8, tzinfo=UTC))
        ...         for i in ("g1", "g2"))
        ...     [o["id"] for o in store.observation_bodies("p1", glucose)]
        ['g1']
        """
        with self._session(f"reading the observations of patient {patient_id}") as s:
            return bulk.observation_bodies(s, patient_id, code, start, end)

    def delete_observations(self, ids: Iterable[str]) -> int:
        """Remove observations by id; return how many were removed."""
        with self._session("deleting observations", write=True) as s:
            return observations.delete_observations(s, ids)

    # -- twin states -------------------------------------------------------------------

    def save_twin_state(
        self,
        twin_id: str,
        *,
        model: str,
        model_version: str,
        valid_time: datetime,
        arrays: Mapping[str, npt.ArrayLike],
        metadata: Mapping[str, Any] | None = None,
        recorded_time: datetime | None = None,
    ) -> TwinStateSnapshot:
        """Save a state snapshot; see :func:`~healthtwin.store.twin_states.save_twin_state`."""
        with self._session(f"saving a state of twin {twin_id}", write=True) as s:
            return twin_states.save_twin_state(
                s,
                twin_id,
                model=model,
                model_version=model_version,
                valid_time=valid_time,
                arrays=arrays,
                metadata=metadata,
                recorded_time=recorded_time,
            )

    def twin_state_as_of(
        self, twin_id: str, t: datetime, *, recorded_at: datetime | None = None
    ) -> TwinStateSnapshot:
        """The state valid at ``t``; see :func:`~healthtwin.store.twin_states.twin_state_as_of`."""
        with self._session(f"reading the state of twin {twin_id}") as s:
            return twin_states.twin_state_as_of(s, twin_id, t, recorded_at=recorded_at)

    def twin_state_history(self, twin_id: str) -> list[TwinStateSnapshot]:
        """Every snapshot of a twin, by valid time then recorded time."""
        with self._session(f"reading the state history of twin {twin_id}") as s:
            return twin_states.twin_state_history(s, twin_id)

    def twin_state_ids(self, prefix: str = "") -> list[str]:
        """Ids of the twins with saved states that start with ``prefix``, sorted.

        See :func:`~healthtwin.store.twin_states.twin_state_ids`.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> store = open_store("sqlite://")
        >>> for twin_id in ("job.b", "job.a", "JOB.c", "twin-1", "job.a"):
        ...     _ = store.save_twin_state(twin_id, model="m", model_version="1",
        ...                               valid_time=datetime(2024, 1, 1, tzinfo=UTC), arrays={})
        >>> store.twin_state_ids("job."), store.twin_state_ids()
        (['job.a', 'job.b'], ['JOB.c', 'job.a', 'job.b', 'twin-1'])
        >>> store.close()
        """
        with self._session("listing the ids of saved twin states") as s:
            return twin_states.twin_state_ids(s, prefix)

    # -- audit -------------------------------------------------------------------------

    def record_audit(
        self,
        *,
        actor: str,
        action: str,
        outcome: str = "success",
        purpose: str | None = None,
        resource_refs: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
        time: datetime | None = None,
        patient: str | None = None,
        query: str | None = None,
    ) -> AuditEntry:
        """Append an audit event to the chain; see :func:`~healthtwin.store.audit.record_audit`.

        With :meth:`configure_audit_checkpoints` set, a signed checkpoint is written in the
        same transaction once ``every`` events have been appended since the last one.
        """
        with self._session(f"recording audit event {action}", write=True) as s:
            entry = audit.record_audit(
                s,
                actor=actor,
                action=action,
                outcome=outcome,
                purpose=purpose,
                resource_refs=resource_refs,
                details=details,
                time=time,
                patient=patient,
                query=query,
            )
            every = self._checkpoint_every
            if (
                self._audit_key is not None
                and every is not None
                and entry.sequence - audit.last_checkpoint_sequence(s) >= every
            ):
                audit.record_checkpoint(s, self._audit_key)
            return entry

    def audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource_ref: str | None = None,
        patient: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Audit events matching every filter given, oldest first."""
        with self._session("reading audit events") as s:
            return audit.query_audit(
                s,
                actor=actor,
                action=action,
                resource_ref=resource_ref,
                patient=patient,
                start=start,
                end=end,
                limit=limit,
            )

    def configure_audit_checkpoints(self, key: SigningKey | None, *, every: int = 1000) -> None:
        """Sign a checkpoint of the audit chain every ``every`` events (``None``: stop).

        Examples
        --------
        >>> from healthtwin.governance.signing import signing_key_from_seed
        >>> key = signing_key_from_seed(bytes(32))
        >>> with open_store("sqlite://") as store:
        ...     store.configure_audit_checkpoints(key, every=2)
        ...     for _ in range(5):
        ...         _ = store.record_audit(actor="Device/x", action="read")
        ...     [c.sequence for c in store.audit_checkpoints()], store.verify_audit().ok
        ([2, 4], True)
        """
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidParameterError(
                f"checkpoint interval must be a positive number of events, got {every!r}"
            )
        self._audit_key = key
        self._checkpoint_every = every if key is not None else None

    def audit_checkpoint(self, key: SigningKey | None = None) -> Checkpoint | None:
        """Sign and store a checkpoint at the chain head now (``None`` if the log is empty).

        Raises
        ------
        InvalidParameterError
            If no key is given and none was configured.
        """
        signer = key or self._audit_key
        if signer is None:
            raise InvalidParameterError(
                "no signing key for audit checkpoints: pass one, or call "
                "configure_audit_checkpoints(key) first"
            )
        with self._session("signing an audit checkpoint", write=True) as s:
            return audit.record_checkpoint(s, signer)

    def audit_checkpoints(self) -> list[Checkpoint]:
        """Every signed checkpoint, by sequence."""
        with self._session("reading audit checkpoints") as s:
            return audit.audit_checkpoints(s)

    def verify_audit(
        self, trusted_keys: Mapping[str, PublicKey] | None = None, *, batch_size: int = 5000
    ) -> VerifyReport:
        """Verify the audit chain and its checkpoints, in one read transaction.

        ``trusted_keys`` defaults to the public key of the configured checkpoint key.
        """
        if trusted_keys is None and self._audit_key is not None:
            public = self._audit_key.public_key
            trusted_keys = {public.key_id: public}
        with self._session("verifying the audit chain") as s:
            return audit.verify_audit(s, trusted_keys, batch_size=batch_size)

    # -- oversight ---------------------------------------------------------------------

    def oversight(self) -> StoreOversight:
        """Recommendations, clinicians' decisions and kill switches kept in this store.

        Every proposal, decision and switch change is audited in its own transaction.
        """
        return StoreOversight(
            reader=lambda what: self._session(what),
            writer=lambda what: self._session(what, write=True),
        )


def _is_plain_upsert(operation: object) -> bool:
    return (
        isinstance(operation, UpdateResource)
        and operation.upsert
        and operation.expected_version is None
    )


def _upsert_run(operations: Sequence[Operation], start: int) -> int:
    """How many plain upserts follow one another from ``start``."""
    end = start
    while end < len(operations) and _is_plain_upsert(operations[end]):
        end += 1
    return end - start


def _upsert(
    session: Session, operations: Sequence[Operation], start: int, run: int
) -> list[object]:
    """Apply ``run`` plain upserts from ``start`` in bulk; errors name their entry."""
    bodies: list[JSONDict] = []
    for index in range(start, start + run):
        operation = operations[index]
        assert isinstance(operation, UpdateResource)
        try:
            bodies.append(resources.check_resource(operation.resource, need_id=True))
        except TwinError as err:
            raise at_entry(err, index, operation) from err
    try:
        with database_errors(f"updating {run} resources"):
            return list(bulk.upsert_resources(session, bodies))
    except TwinError as err:
        # A bulk statement cannot say which row failed: name the first entry of the run.
        raise at_entry(err, start, operations[start]) from err
