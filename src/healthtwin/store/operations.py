"""Writes that can be grouped into one all-or-nothing transaction.

A FHIR transaction Bundle maps to a list of these operations; :meth:`Store.write_transaction
<healthtwin.store.Store.write_transaction>` applies them in order in one database
transaction, so that a failure in any entry writes nothing. The error of the failing entry
is re-raised as the same class with the entry's index and operation at the front of the
message (the original is chained as ``__cause__``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from healthtwin.errors import InvalidInputError, ResourceValidationError, TwinError
from healthtwin.interop.records import ObservationRecord
from healthtwin.store.audit import record_audit
from healthtwin.store.bulk import require_resources
from healthtwin.store.observations import add_observations, delete_observations
from healthtwin.store.resources import create_resource, delete_resource, update_resource

__all__ = [
    "AddObservations",
    "CreateResource",
    "DeleteObservations",
    "DeleteResource",
    "Operation",
    "RecordAudit",
    "RequireResources",
    "UpdateResource",
    "apply_operation",
    "at_entry",
    "describe",
]


@dataclass(frozen=True)
class CreateResource:
    """Create a resource (FHIR ``POST``); the result is the stored body."""

    resource: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateResource:
    """Replace a resource (FHIR ``PUT``); the result is the stored body."""

    resource: Mapping[str, Any]
    expected_version: int | str | None = None
    upsert: bool = False


@dataclass(frozen=True)
class DeleteResource:
    """Delete a resource (FHIR ``DELETE``); the result is the deletion's version id."""

    resource_type: str
    id: str
    expected_version: int | str | None = None


@dataclass(frozen=True)
class AddObservations:
    """Add observation rows to the time series; the result is how many were added."""

    records: Sequence[ObservationRecord]


@dataclass(frozen=True)
class DeleteObservations:
    """Remove observation rows by id; the result is how many were removed."""

    ids: Sequence[str]


@dataclass(frozen=True)
class RecordAudit:
    """Append an audit event in the same transaction as the writes it describes."""

    actor: str
    action: str
    outcome: str = "success"
    purpose: str | None = None
    resource_refs: Sequence[str] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequireResources:
    """Fail unless each referenced resource is stored (and lock it); the result is None.

    ``references`` maps where each reference was written (an issue path such as
    ``Observation.subject.reference``) to the ``Type/id`` it names. Placed after the
    writes of a transaction, it sees what they created or deleted; see
    :func:`~healthtwin.store.bulk.require_resources`.
    """

    references: Mapping[str, str]


Operation = (
    CreateResource
    | UpdateResource
    | DeleteResource
    | AddObservations
    | DeleteObservations
    | RecordAudit
    | RequireResources
)


def apply_operation(session: Session, operation: Operation) -> object:
    """Apply one operation inside ``session``'s transaction and return its result."""
    match operation:
        case CreateResource(resource=resource):
            return create_resource(session, resource)
        case UpdateResource(resource=resource, expected_version=expected, upsert=upsert):
            return update_resource(session, resource, expected_version=expected, upsert=upsert)
        case DeleteResource(resource_type=resource_type, id=resource_id, expected_version=v):
            return delete_resource(session, resource_type, resource_id, expected_version=v)
        case AddObservations(records=records):
            return add_observations(session, records)
        case DeleteObservations(ids=ids):
            return delete_observations(session, ids)
        case RequireResources(references=references):
            require_resources(session, references)
            return None
        case RecordAudit():
            return record_audit(
                session,
                actor=operation.actor,
                action=operation.action,
                outcome=operation.outcome,
                purpose=operation.purpose,
                resource_refs=operation.resource_refs,
                details=operation.details,
            )
    raise InvalidInputError(
        f"{type(operation).__name__} is not a store operation; use one of CreateResource, "
        "UpdateResource, DeleteResource, AddObservations, DeleteObservations, RecordAudit, "
        "RequireResources"
    )


def describe(operation: object) -> str:
    """A short name for an operation, for error messages.

    Examples
    --------
    >>> describe(DeleteResource("Patient", "p1"))
    'delete Patient/p1'
    """
    match operation:
        case CreateResource(resource=r) | UpdateResource(resource=r) if isinstance(r, Mapping):
            verb = "create" if isinstance(operation, CreateResource) else "update"
            return f"{verb} {r.get('resourceType')}/{r.get('id', '(new)')}"
        case DeleteResource(resource_type=resource_type, id=resource_id):
            return f"delete {resource_type}/{resource_id}"
        case AddObservations(records=records):
            return f"add {len(records)} observations"
        case DeleteObservations(ids=ids):
            return f"delete {len(ids)} observations"
        case RecordAudit(action=action):
            return f"audit {action}"
        case RequireResources(references=references):
            return f"require {len(references)} referenced resource(s)"
    return type(operation).__name__


def at_entry(err: TwinError, index: int, operation: object) -> TwinError:
    """``err`` again (same class, same issues), its message led by the failing entry.

    Examples
    --------
    >>> from healthtwin.errors import ConflictError
    >>> str(at_entry(ConflictError("Patient/p1 already exists"), 2, CreateResource({})))
    'transaction entry 2 (create None/(new)): Patient/p1 already exists'
    """
    message = f"transaction entry {index} ({describe(operation)}): {err}"
    if isinstance(err, ResourceValidationError):
        return ResourceValidationError(message, err.issues)
    return type(err)(message)
