"""The FHIR interactions on one resource, as plain functions over a :class:`Store`.

Routes (:mod:`healthtwin.api.fhir_routes`) and batch Bundles
(:mod:`healthtwin.api.transactions`) both call these, so a resource written either way is
checked, indexed and audited alike. Every write is one store transaction holding the
resource, its time-series row, the check that the Patient it points at is stored (inside
the transaction, so a concurrent deletion cannot slip in between) and its audit event; a
failed write records a failure audit event on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from healthtwin.api.checks import (
    WritePlan,
    check_type,
    checked_resource,
    plan_create,
    plan_delete,
    plan_update,
    required_patient,
)
from healthtwin.api.outcome import PreconditionFailedError
from healthtwin.errors import (
    ConflictError,
    NotFoundError,
    ResourceValidationError,
    TwinError,
    ValidationIssue,
)
from healthtwin.store import Operation, RecordAudit, Store
from healthtwin.store.operations import RequireResources

__all__ = [
    "audit_failure",
    "create_resource",
    "delete_resource",
    "patient_exists",
    "run_plan",
    "update_resource",
    "version_of",
]

JSONDict = dict[str, Any]


def version_of(if_match: str | None) -> str | None:
    """The version id in an ``If-Match`` header (``W/"3"`` or ``"3"`` or ``3``).

    Examples
    --------
    >>> version_of('W/"3"'), version_of(None)
    ('3', None)
    """
    if not if_match:
        return None
    return if_match.strip().removeprefix("W/").strip('"')


def patient_exists(store: Store, patient_id: str) -> bool:
    """Whether a current (not deleted) Patient with this id is stored."""
    try:
        store.read("Patient", patient_id)
    except NotFoundError:
        return False
    return True


def _unwrapped(err: TwinError) -> TwinError:
    cause = err.__cause__
    return cause if isinstance(cause, TwinError) else err


def audit_failure(store: Store, actor: str, action: str, ref: str, err: TwinError) -> None:
    """Record a failed write (best effort: a failing audit never hides the real error)."""
    try:
        store.record_audit(
            actor=actor,
            action=action,
            outcome="minor-failure",
            resource_refs=(ref,) if "/" in ref else (),
            details={"error": str(err)[:500]},
        )
    except TwinError:
        return


def run_plan(
    store: Store,
    plan: WritePlan,
    *,
    actor: str,
    action: str,
    expected: str | None = None,
    required: Mapping[str, str] | None = None,
) -> JSONDict | int:
    """Apply a write plan with its audit event in one transaction; return the first result.

    ``required`` (``{issue path: "Type/id"}``) names resources that must be stored when
    the transaction commits; they are checked after the plan's writes, inside it.

    Raises
    ------
    PreconditionFailedError
        When ``expected`` (from ``If-Match``) is not the current version.
    ResourceValidationError
        When a required resource is not stored (code ``not-found``, at its path).
    TwinError
        The store's error for the write (conflict, not found, invalid).
    """
    ref = f"{plan.resource_type}/{plan.id}"
    operations: list[Operation] = list(plan.operations)
    if required:
        operations.append(RequireResources(dict(required)))
    operations.append(RecordAudit(actor=actor, action=action, resource_refs=(ref,)))
    try:
        results = store.write_transaction(operations)
    except TwinError as err:
        original = _unwrapped(err)
        audit_failure(store, actor, action, ref, original)
        if expected is not None and isinstance(original, ConflictError):
            raise PreconditionFailedError(f"If-Match failed: {original}") from original
        raise original from err
    first = results[0]
    assert isinstance(first, dict | int)
    return first


def create_resource(store: Store, resource_type: str, body: JSONDict, *, actor: str) -> JSONDict:
    """Validate and create a resource; the server assigns its id (any id sent is replaced)."""
    check_type(resource_type)
    resource = checked_resource(body, resource_type)
    resource.pop("id", None)
    stored = run_plan(
        store,
        plan_create(resource),
        actor=actor,
        action="create",
        required=required_patient(resource, resource_type),
    )
    assert isinstance(stored, dict)
    return stored


def update_resource(
    store: Store,
    resource_type: str,
    resource_id: str,
    body: JSONDict,
    *,
    actor: str,
    if_match: str | None = None,
) -> tuple[JSONDict, bool]:
    """Validate and replace (or create) a resource; return it and whether it was created.

    Raises
    ------
    ResourceValidationError
        If the body's id differs from ``resource_id`` (code ``structure``, HTTP 400), or the
        resource breaks a rule.
    """
    check_type(resource_type)
    if body.get("id") != resource_id:
        message = (
            f"the body's id {body.get('id')!r} differs from the id in the URL "
            f"{resource_id!r}; send the same id in both"
        )
        raise ResourceValidationError(
            message, (ValidationIssue(f"{resource_type}.id", message, "structure"),)
        )
    resource = checked_resource(body, resource_type)
    expected = version_of(if_match)
    stored = run_plan(
        store,
        plan_update(resource, expected),
        actor=actor,
        action="update",
        expected=expected,
        required=required_patient(resource, resource_type),
    )
    assert isinstance(stored, dict)
    return stored, stored["meta"]["versionId"] == "1"


def delete_resource(
    store: Store,
    resource_type: str,
    resource_id: str,
    *,
    actor: str,
    if_match: str | None = None,
) -> int:
    """Delete a resource (and its time-series row); return the deletion's version id."""
    check_type(resource_type)
    expected = version_of(if_match)
    version = run_plan(
        store,
        plan_delete(resource_type, resource_id, expected),
        actor=actor,
        action="delete",
        expected=expected,
    )
    assert isinstance(version, int)
    return version
