"""Turn the FHIR library's validation errors into our issues, one per broken rule.

pydantic reports a location as a tuple (``("entry", 3, "resource", "status")``); FHIR
tools speak FHIRPath (``Bundle.entry[3].resource.status``). Each error type is given the
FHIR ``IssueType`` code an ``OperationOutcome`` would carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from healthtwin.errors import ValidationIssue

__all__ = ["fhir_path", "issues_from_validation_error"]

_REQUIRED = frozenset({"missing", "model_field_validation.missing"})
_HINTS = {
    "required": "add the element",
    "structure": "remove it or check the spelling of the element name against the FHIR "
    "R4 specification",
    "value": "correct the value's type or format",
}


def fhir_path(root: str, loc: Sequence[int | str]) -> str:
    """A FHIRPath-like path from a root name and a pydantic location.

    Examples
    --------
    >>> fhir_path("Bundle", ("entry", 3, "resource", "status"))
    'Bundle.entry[3].resource.status'
    >>> fhir_path("Observation", ())
    'Observation'
    """
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path = f"{path}.resourceType" if path else "resourceType"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def issues_from_validation_error(err: ValidationError, root: str) -> tuple[ValidationIssue, ...]:
    """One :class:`~healthtwin.errors.ValidationIssue` per error pydantic reported.

    Examples
    --------
    >>> from fhir.resources.R4B.patient import Patient
    >>> try:
    ...     Patient.model_validate({"birthDate": "1999-13-01", "colour": "blue"})
    ... except ValidationError as err:
    ...     for issue in issues_from_validation_error(err, "Patient"):
    ...         print(issue.path, issue.code)
    Patient.birthDate value
    Patient.colour structure
    """
    issues = []
    for error in err.errors(include_url=False):
        code = _issue_code(str(error["type"]), str(error["msg"]))
        message = " ".join(str(error["msg"]).removeprefix("Value error, ").split())
        if code not in ("required",):
            message += f"; received {_describe(error.get('input'))}"
        if code in _HINTS:
            message += f"; {_HINTS[code]}"
        issues.append(
            ValidationIssue(path=fhir_path(root, error["loc"]), message=message, code=code)
        )
    return tuple(issues)


def _issue_code(error_type: str, message: str) -> str:
    if error_type in _REQUIRED:
        return "required"
    if error_type == "extra_forbidden":
        return "structure"
    if error_type.endswith(("_type", "_parsing")) or "regex" in message:
        return "value"
    return "invalid"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
