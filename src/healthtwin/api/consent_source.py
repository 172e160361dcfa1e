"""The consents on file for the governance layers: one cached index, updated as Consents change.

Both governance layers (``/fhir`` and ``/api/v1``) decide with one :class:`ConsentSource`.
Rebuilding a :class:`~healthtwin.governance.consent_index.ConsentIndex` from every stored
Consent costs about 0.5 s at 2,000 consents, so the source keeps the compiled consents by
id and, before each decision, asks the store one cheap question (how many Consent rows,
deleted ones included, and when the newest was written; both answered from the
``(resource_type, last_updated)`` index). When the answer changed, only the Consents
written since the last look are read and compiled again (a deleted one is dropped) and the
index is rebuilt from the compiled consents. A Consent written by any path (the ``/fhir``
routes, a transaction, another process on the same database) therefore counts from the
next decision on.

A Consent that cannot be compiled is replaced by an opt-out of everything for its patient
(fail closed), and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from healthtwin.errors import InvalidInputError
from healthtwin.governance.consent import CompiledConsent, compile_consent, resource_patient
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.store import Store
from healthtwin.store.schema import ResourceRow

__all__ = ["ConsentSource"]

_LOG = logging.getLogger(__name__)
#: (rows of type Consent, deleted ones included; newest ``last_updated``)
_Mark = tuple[int, datetime | None]


class ConsentSource:
    """The consents on file: given once, or read from the store and kept up to date.

    Parameters
    ----------
    store : Store
        Where Consent resources live.
    index : ConsentIndex, optional
        A fixed index (the store's Consents are then never read).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     source = ConsentSource(store)
    ...     before = source.index().n_consents
    ...     _ = store.create({"resourceType": "Consent", "id": "c1", "status": "active",
    ...         "scope": {"coding": [{"code": "patient-privacy"}]},
    ...         "patient": {"reference": "Patient/a"},
    ...         "policyRule": {"coding": [{"code": "OPTOUT"}]}})
    ...     after = source.index().n_consents
    ...     _ = store.delete("Consent", "c1")
    ...     before, after, source.index().n_consents
    (0, 1, 0)
    """

    def __init__(self, store: Store, index: ConsentIndex | None = None) -> None:
        self._store = store
        self._fixed = index is not None
        self._index = index
        self._mark: _Mark | None = None
        self._since: datetime | None = None
        self._compiled: dict[str, list[CompiledConsent]] = {}
        self._lock = threading.Lock()

    def mark_stale(self) -> None:
        """Look at the store again before the next decision (after a Consent write)."""
        if not self._fixed:
            self._mark = None

    def index(self) -> ConsentIndex:
        """The current index (brought up to date first if the store's Consents changed)."""
        if self._fixed and self._index is not None:
            return self._index
        mark = self._read_mark()
        index = self._index
        if index is not None and mark == self._mark:
            return index
        with self._lock:
            if self._index is None or self._mark != mark:
                self._update(self._since if self._index is not None else None)
                # The mark read before the update: a write racing with it is seen next time.
                self._mark = mark
            assert self._index is not None
            return self._index

    def _read_mark(self) -> _Mark:
        query = select(func.count(), func.max(ResourceRow.last_updated)).where(
            ResourceRow.resource_type == "Consent"
        )
        with self._store.engine.connect() as connection:
            count, newest = connection.execute(query).one()
        return int(count), newest

    def _update(self, since: datetime | None) -> None:
        query = select(
            ResourceRow.id, ResourceRow.deleted, ResourceRow.body, ResourceRow.last_updated
        ).where(ResourceRow.resource_type == "Consent")
        if since is not None:
            # ">=": rows written in the same clock tick as the last look are read again.
            query = query.where(ResourceRow.last_updated >= since)
        else:
            self._compiled, self._since = {}, None
        with self._store.engine.connect() as connection:
            rows = connection.execute(query).all()
        for consent_id, deleted, body, written in rows:
            self._since = written if self._since is None else max(self._since, written)
            if deleted or body is None:
                self._compiled.pop(consent_id, None)
            else:
                self._compiled[consent_id] = _compile(body)
        self._index = ConsentIndex([c for group in self._compiled.values() for c in group])


def _compile(resource: Mapping[str, Any]) -> list[CompiledConsent]:
    try:
        return [compile_consent(resource)]
    except InvalidInputError as err:
        patient = resource_patient(resource)
        _LOG.warning("Consent/%s refused (%s); its patient is denied", resource.get("id"), err)
        if patient is None:
            return []
        return [compile_consent(_deny_all(str(resource.get("id")), patient))]


def _deny_all(consent_id: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": f"{consent_id}-unreadable",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "patient": {"reference": f"Patient/{patient}"},
        "policyRule": {"coding": [{"code": "OPTOUT"}]},
    }
