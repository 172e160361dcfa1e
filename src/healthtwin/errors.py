"""The whole exception tree of healthtwin.

Every error raised on purpose by healthtwin is a :class:`TwinError`. Each leaf also
inherits the built-in exception a caller would naturally catch, so ``except ValueError``
keeps working around our code::

    TwinError
    ├── InvalidParameterError (ValueError)     a parameter or setting is out of its domain
    ├── InvalidInputError (ValueError)         user data (schedules, files, CLI text) is malformed
    │   └── ResourceValidationError            a resource or bundle breaks rules (issues listed)
    ├── ShapeError (ValueError)                arrays do not share the expected leading axis
    ├── MemberIndexError (IndexError)          a member index is outside the ensemble
    ├── UnknownModelError (KeyError)           a name is not in a registry (valid names listed)
    ├── MissingDependencyError (ImportError)   an optional extra is not installed (extra named)
    ├── SolverError (ArithmeticError)          an integration failed or went non-finite
    ├── ReplayError (LookupError)              the twin's history has no state at the time asked
    ├── NotFoundError (LookupError)            a stored record or referenced resource is missing
    ├── ConflictError (RuntimeError)           a write lost a race (version mismatch, duplicate id)
    ├── StoreError (RuntimeError)              the database failed or is not at the expected schema
    └── ConsentError (PermissionError)         data use is not covered by consent or purpose

Messages say what was wrong, the value received, and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConflictError",
    "ConsentError",
    "InvalidInputError",
    "InvalidParameterError",
    "MemberIndexError",
    "MissingDependencyError",
    "NotFoundError",
    "ReplayError",
    "ResourceValidationError",
    "ShapeError",
    "SolverError",
    "StoreError",
    "TwinError",
    "UnknownModelError",
    "ValidationIssue",
]


class TwinError(Exception):
    """Root of every error raised on purpose by healthtwin."""


class InvalidParameterError(TwinError, ValueError):
    """A parameter or setting is outside its valid domain."""


class InvalidInputError(TwinError, ValueError):
    """User-supplied data (an input schedule, a file, CLI text) is malformed."""


class ShapeError(TwinError, ValueError):
    """Arrays do not share the leading member axis or the expected trailing shape."""


class MemberIndexError(TwinError, IndexError):
    """A member index is outside the ensemble."""


class UnknownModelError(TwinError, KeyError):
    """A name is not in the registry it was looked up in.

    ``KeyError`` quotes its argument when printed; ``__str__`` is overridden so that the
    message reads as a sentence.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(TwinError, ImportError):
    """An optional extra is needed; the message names the ``pip install`` command."""


class SolverError(TwinError, ArithmeticError):
    """An ODE integration failed (non-finite state, step size underflow)."""


class ReplayError(TwinError, LookupError):
    """A twin was asked for its state at a time its history does not cover."""


class ConsentError(TwinError, PermissionError):
    """The requested use of data is not covered by consent or declared purpose."""


@dataclass(frozen=True)
class ValidationIssue:
    """One broken rule in a resource: where (a FHIRPath-like ``path``) and what.

    ``code`` is a FHIR ``IssueType`` code (``required``, ``value``, ``code-invalid``,
    ``invalid``, ``not-found``, ``structure``, ``too-costly``...), so an API can turn the
    issue into an ``OperationOutcome.issue`` without translation.
    """

    path: str
    message: str
    code: str = "invalid"
    severity: str = "error"


class ResourceValidationError(InvalidInputError):
    """A FHIR resource, bundle or mapped record breaks one or more rules.

    ``issues`` lists every broken rule found (not just the first), each with its path.
    """

    def __init__(self, message: str, issues: tuple[ValidationIssue, ...] = ()) -> None:
        super().__init__(message)
        self.issues = issues


class NotFoundError(TwinError, LookupError):
    """A stored record, or a resource a reference points at, does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConflictError(TwinError, RuntimeError):
    """A write conflicts with the stored state (version mismatch, duplicate identity)."""


class StoreError(TwinError, RuntimeError):
    """The database failed, or its schema is not the one this version of healthtwin expects."""
