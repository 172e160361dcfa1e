"""Errors as FHIR ``OperationOutcome`` resources and HTTP status codes, in one place."""

from __future__ import annotations

from typing import Any

from healthtwin.errors import (
    ConflictError,
    ConsentError,
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
    ResourceValidationError,
    StoreError,
    TwinError,
    UnknownModelError,
    ValidationIssue,
)

__all__ = [
    "FHIR_JSON",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "http_status",
    "operation_outcome",
]

FHIR_JSON = "application/fhir+json"


class PayloadTooLargeError(InvalidInputError):
    """A request body is larger than the server accepts."""


def operation_outcome(
    message: str, issues: tuple[ValidationIssue, ...] = (), *, code: str = "invalid"
) -> dict[str, Any]:
    """An ``OperationOutcome`` with one issue per validation issue (or one for ``message``).

    Examples
    --------
    >>> issue = ValidationIssue("Patient.gender", "bad code", "code-invalid")
    >>> outcome = operation_outcome("bad", (issue,))
    >>> outcome["issue"][0]["expression"], outcome["issue"][0]["code"]
    (['Patient.gender'], 'code-invalid')
    """
    entries = [
        {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.message,
            **({"expression": [issue.path]} if issue.path else {}),
        }
        for issue in issues
    ] or [{"severity": "error", "code": code, "diagnostics": message}]
    return {"resourceType": "OperationOutcome", "issue": entries}


def _status_and_code(error: BaseException) -> tuple[int, str]:
    if isinstance(error, PayloadTooLargeError):
        return 413, "too-costly"
    if isinstance(error, PreconditionFailedError):
        return 412, "conflict"
    if isinstance(error, NotFoundError):
        return 404, "not-found"
    if isinstance(error, ConflictError):
        return 409, "conflict"
    if isinstance(error, ConsentError):
        return 403, "forbidden"
    if isinstance(error, ResourceValidationError):
        codes = {issue.code for issue in error.issues}
        return (422 if codes - {"structure", "not-supported", "too-costly"} else 400), "invalid"
    if isinstance(error, InvalidInputError | InvalidParameterError | UnknownModelError):
        return 400, "invalid"
    if isinstance(error, StoreError):
        return 503, "transient"
    return 500, "exception"


def http_status(error: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and ``OperationOutcome`` body for an error raised while serving.

    Client mistakes are 4xx with every issue listed; our own failures are 500 with a
    generic message (details go to the server log, not to the client).
    """
    status, code = _status_and_code(error)
    if not isinstance(error, TwinError):
        return status, operation_outcome("internal server error", code=code)
    issues = error.issues if isinstance(error, ResourceValidationError) else ()
    if status == 413:
        issues = tuple(ValidationIssue(i.path, i.message, "too-costly") for i in issues)
    return status, operation_outcome(str(error), issues, code=code)


class PreconditionFailedError(ConflictError):
    """An ``If-Match`` version is not the resource's current version (HTTP 412)."""
