"""Checks every incoming resource passes before it is stored, and the writes it becomes.

A resource is validated twice: by the ``fhir.resources`` R4B model (structure, primitive
formats) and by our own rules (:func:`healthtwin.interop.fhir_checks.validate_resource`:
required codes, vital-sign units, plausible values). A write then becomes a list of store
operations applied in one transaction: the resource itself, its row in the observation
time series (an Observation must map to an
:class:`~healthtwin.interop.records.ObservationRecord`, so that searches by patient use the
index), and an audit event. The Patient a resource points at (:data:`PATIENT_REFERENCES`)
must be stored when the transaction commits: :func:`required_patient` names it for a
:class:`~healthtwin.store.operations.RequireResources` check inside that transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.observation import Observation

from healthtwin.api.capability import SUPPORTED_TYPES
from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_json import parse_resource
from healthtwin.interop.fhir_records import observation_to_record
from healthtwin.interop.fhir_refs import parse_reference
from healthtwin.store import (
    AddObservations,
    CreateResource,
    DeleteObservations,
    DeleteResource,
    Operation,
    UpdateResource,
)

__all__ = [
    "PATIENT_REFERENCES",
    "WritePlan",
    "check_type",
    "checked_resource",
    "new_id",
    "plan_create",
    "plan_delete",
    "plan_update",
    "reprefixed",
    "required_patient",
]

JSONDict = dict[str, Any]

#: The element of each type that must point at a stored Patient (checked on every write).
PATIENT_REFERENCES: dict[str, str] = {
    "Observation": "subject",
    "Condition": "subject",
    "MedicationAdministration": "subject",
    "MedicationRequest": "subject",
    "Encounter": "subject",
    "RiskAssessment": "subject",
    "Consent": "patient",
}


@dataclass(frozen=True)
class WritePlan:
    """The store operations of one write; ``operations[0]`` gives the response body."""

    operations: tuple[Operation, ...]
    resource_type: str
    id: str


def new_id() -> str:
    """A fresh server-assigned logical id.

    Examples
    --------
    >>> len(new_id())
    36
    """
    return str(uuid.uuid4())


def check_type(resource_type: str) -> str:
    """Return ``resource_type`` if the facade serves it; raise otherwise.

    Raises
    ------
    ResourceValidationError
        With code ``not-supported`` (HTTP 400) listing the supported types.

    Examples
    --------
    >>> check_type("Patient")
    'Patient'
    >>> check_type("Spaceship")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: resource type 'Spaceship' is not served here; ...
    """
    if resource_type not in SUPPORTED_TYPES:
        message = (
            f"resource type {resource_type!r} is not served here; use one of "
            f"{', '.join(SUPPORTED_TYPES)}"
        )
        raise ResourceValidationError(
            message, (ValidationIssue("resourceType", message, "not-supported"),)
        )
    return resource_type


def reprefixed(err: ResourceValidationError, prefix: str, message: str) -> ResourceValidationError:
    """``err`` with every issue path moved under ``prefix`` (the resource type replaced).

    Examples
    --------
    >>> err = ResourceValidationError("x", (ValidationIssue("Patient.gender", "bad"),))
    >>> reprefixed(err, "Bundle.entry[2].resource", "entry 2").issues[0].path
    'Bundle.entry[2].resource.gender'
    """
    issues = tuple(
        ValidationIssue(
            prefix + (i.path[i.path.index(".") :] if "." in i.path else ""),
            i.message,
            i.code,
            i.severity,
        )
        for i in err.issues
    )
    return ResourceValidationError(f"{message}: {err}", issues)


def checked_resource(
    body: Mapping[str, Any], resource_type: str, *, in_bundle: bool = False
) -> JSONDict:
    """Validate ``body`` as a ``resource_type`` (model and our rules); return it as a dict.

    Raises
    ------
    ResourceValidationError
        Listing every broken rule with its path.

    Examples
    --------
    >>> checked_resource({"resourceType": "Patient", "gender": "female"}, "Patient")["gender"]
    'female'
    """
    if body.get("resourceType") != resource_type:
        message = (
            f"the body's resourceType is {body.get('resourceType')!r}, but the request is for "
            f"{resource_type}; send a {resource_type} or use the {body.get('resourceType')} URL"
        )
        raise ResourceValidationError(
            message, (ValidationIssue("resourceType", message, "structure"),)
        )
    model = parse_resource(body, types=(resource_type,))
    validate_resource(model, in_bundle=in_bundle)
    return dict(body)


def _observation_records(resource: JSONDict) -> AddObservations:
    model = Observation.model_validate({k: v for k, v in resource.items() if k != "resourceType"})
    return AddObservations((observation_to_record(model),))


def patient_reference(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(element, patient id)`` of the Patient a resource must point at, if it names one.

    Examples
    --------
    >>> patient_reference({"resourceType": "Condition", "subject": {"reference": "Patient/p1"}})
    ('subject', 'p1')
    """
    element = PATIENT_REFERENCES.get(str(resource.get("resourceType")))
    value = resource.get(element) if element else None
    text = value.get("reference") if isinstance(value, Mapping) else None
    parsed = parse_reference(text) if isinstance(text, str) else None
    if element is None or parsed is None or parsed.resource_type != "Patient" or not parsed.id:
        return None
    return element, parsed.id


def required_patient(resource: Mapping[str, Any], root: str) -> dict[str, str]:
    """``{path: "Patient/id"}`` for the Patient a resource points at, empty if it names none.

    The write checks it inside its transaction (a
    :class:`~healthtwin.store.operations.RequireResources` operation after the writes),
    so a Patient created in the same transaction counts and one deleted concurrently does
    not.

    Examples
    --------
    >>> obs = {"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}
    >>> required_patient(obs, "Bundle.entry[2].resource")
    {'Bundle.entry[2].resource.subject.reference': 'Patient/p1'}
    >>> required_patient({"resourceType": "Patient"}, "Patient")
    {}
    """
    found = patient_reference(resource)
    if found is None:
        return {}
    element, patient_id = found
    return {f"{root}.{element}.reference": f"Patient/{patient_id}"}


def plan_create(resource: JSONDict) -> WritePlan:
    """The operations that create ``resource`` (an id is assigned when it has none)."""
    body = {**resource, "id": resource.get("id") or new_id()}
    ops: list[Operation] = [CreateResource(body)]
    if body["resourceType"] == "Observation":
        ops.append(_observation_records(body))
    return WritePlan(tuple(ops), body["resourceType"], body["id"])


def plan_update(resource: JSONDict, expected_version: str | None) -> WritePlan:
    """The operations that replace (or create) ``resource``, keeping the time series in sync."""
    ops: list[Operation] = [UpdateResource(resource, expected_version, upsert=True)]
    if resource["resourceType"] == "Observation":
        ops += [DeleteObservations((resource["id"],)), _observation_records(resource)]
    return WritePlan(tuple(ops), resource["resourceType"], resource["id"])


def plan_delete(resource_type: str, resource_id: str, expected_version: str | None) -> WritePlan:
    """The operations that delete a resource (and its time-series row)."""
    ops: list[Operation] = [DeleteResource(resource_type, resource_id, expected_version)]
    if resource_type == "Observation":
        ops.append(DeleteObservations((resource_id,)))
    return WritePlan(tuple(ops), resource_type, resource_id)
