"""Shared rules for reading FHIR resources into records: times, references, codes.

Times: records hold UTC. A FHIR ``dateTime`` with a time always has a zone (the library
refuses one without); a date alone (``2024-03-01``) or a partial date (``2024``,
``2024-03``) has none, so it is read as the start of that day, month or year in the
caller's ``default_zone``, and refused when none is given: the same calendar day starts
at different instants in Auckland and Honolulu.

References: a :class:`ReadContext` resolves a reference to the logical id of what it
points at. Outside a Bundle, ``Type/id`` and absolute URLs ending in ``Type/id`` resolve
to ``id``; a Bundle supplies its own resolver (``urn:uuid:`` fullUrls, versions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, NoReturn

from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.fhir_refs import parse_reference
from healthtwin.interop.records import Coding

__all__ = [
    "ReadContext",
    "fail",
    "issue_error",
    "plain_resolver",
    "read_coding",
    "read_quantity",
    "reference_id",
    "to_utc",
]

#: Resolves a reference string to (resource type, logical id), or None when it points nowhere.
Resolver = Callable[[str], "tuple[str, str] | None"]


def plain_resolver(reference: str) -> tuple[str, str] | None:
    """Resolve ``Type/id`` (or a URL ending in it) to ``(Type, id)``; anything else to None.

    Examples
    --------
    >>> plain_resolver("Patient/p1"), plain_resolver("urn:uuid:0f4b9b8e-7a10-4d8e-9c53-1d2b3c4d5e6f")
    (('Patient', 'p1'), None)
    """  # noqa: E501
    parsed = parse_reference(reference)
    if parsed is None or parsed.resource_type is None or parsed.id is None:
        return None
    return parsed.resource_type, parsed.id


@dataclass(frozen=True, kw_only=True)
class ReadContext:
    """How resources are read into records.

    Attributes
    ----------
    default_zone
        Zone of dates without a time (``None``: refuse them).
    resolve
        Reference resolver (default :func:`plain_resolver`).
    medications
        Codes of Medication resources by reference (``"Medication/m1"``, ``"#m1"`` is read
        from ``contained``), for ``medicationReference``.
    path
        Prefix of issue paths (``"Bundle.entry[3].resource"``); empty: the resource type.
    """

    default_zone: tzinfo | None = None
    resolve: Resolver = plain_resolver
    medications: Mapping[str, Coding] = field(default_factory=dict)
    path: str = ""

    def where(self, resource_type: str, element: str = "") -> str:
        """The issue path of ``element`` of the resource being read.

        Examples
        --------
        >>> ReadContext(path="Bundle.entry[2].resource").where("Observation", "code")
        'Bundle.entry[2].resource.code'
        """
        root = self.path or resource_type
        return f"{root}.{element}" if element else root


def issue_error(message: str, path: str, code: str = "invalid") -> ResourceValidationError:
    """A :class:`ResourceValidationError` with one issue at ``path``.

    Examples
    --------
    >>> issue_error("needs a code", "Observation.code", "required").issues[0].code
    'required'
    """
    return ResourceValidationError(
        f"{path}: {message}", (ValidationIssue(path=path, message=message, code=code),)
    )


def fail(message: str, path: str, code: str = "invalid") -> NoReturn:
    """Raise :func:`issue_error`.

    Examples
    --------
    >>> fail("needs a code", "Observation.code", "required")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: Observation.code: needs a code
    """
    raise issue_error(message, path, code)


def to_utc(value: object, path: str, context: ReadContext) -> datetime:
    """A FHIR date, partial date or dateTime as an aware UTC datetime.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> to_utc("2024-03", "Observation.effectiveDateTime",
    ...        ReadContext(default_zone=ZoneInfo("Europe/Berlin")))
    datetime.datetime(2024, 2, 29, 23, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc(date(2024, 3, 1), "Observation.effectiveDateTime", ReadContext())
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: Observation.effectiveDateTime: 2024-03-01 has ...
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(UTC)
        local = value
    elif isinstance(value, date):
        local = datetime.combine(value, time())
    elif isinstance(value, str) and _is_partial(value):
        local = datetime(int(value[:4]), int(value[5:7] or 1), 1)
    else:
        fail(f"{value!r} is not a FHIR date or dateTime", path, "value")
    if context.default_zone is None:
        fail(
            f"{value} has no time zone, so the instant it starts is unknown; give a full "
            "dateTime with an offset, or read with a default_zone (the source's zone, for "
            "example ZoneInfo('Europe/Paris'))",
            path,
            "value",
        )
    return local.replace(tzinfo=context.default_zone).astimezone(UTC)


def _is_partial(value: str) -> bool:
    if len(value) == 4:
        return value.isdigit()
    return len(value) == 7 and value[:4].isdigit() and value[4] == "-" and value[5:].isdigit()


def reference_id(
    reference: Any,
    expected: str | tuple[str, ...],
    path: str,
    context: ReadContext,
) -> str:
    """The logical id a Reference points at, which must be of an ``expected`` type.

    Raises
    ------
    ResourceValidationError
        ``required`` without a reference, ``not-found`` when it cannot be resolved,
        ``invalid`` when it points at another type.

    Examples
    --------
    >>> from fhir.resources.R4B.reference import Reference
    >>> reference_id(Reference(reference="Patient/p1"), "Patient", "Observation.subject",
    ...              ReadContext())
    'p1'
    """
    wanted = (expected,) if isinstance(expected, str) else expected
    text = getattr(reference, "reference", None)
    if not text:
        fail(
            f"needs a literal reference to a {' or '.join(wanted)} (Type/id); an identifier "
            "or display alone cannot be followed",
            path,
            "required",
        )
    target = context.resolve(text)
    if target is None:
        fix = (
            "a urn: reference resolves only to the fullUrl of an entry in the same Bundle"
            if text.startswith("urn:")
            else f"include the {' or '.join(wanted)} in the Bundle"
        )
        fail(
            f"reference {text!r} points at no resource that can be found here; {fix}",
            f"{path}.reference",
            "not-found",
        )
    if target[0] not in wanted:
        fail(
            f"must refer to a {' or '.join(wanted)}, got a reference to a {target[0]}",
            f"{path}.reference",
        )
    return target[1]


def read_coding(concept: Any, path: str, *, prefer: tuple[str, ...] = ()) -> Coding:
    """The first coding with a system and a code (those of ``prefer`` systems first).

    Raises
    ------
    ResourceValidationError
        ``required`` when the concept has no coding with both a system and a code.

    Examples
    --------
    >>> from fhir.resources.R4B.codeableconcept import CodeableConcept
    >>> concept = CodeableConcept.model_validate(
    ...     {"coding": [{"system": "urn:local", "code": "hr"},
    ...                 {"system": "http://loinc.org", "code": "8867-4"}]})
    >>> read_coding(concept, "Observation.code", prefer=("http://loinc.org",)).code
    '8867-4'
    """
    codings = [c for c in getattr(concept, "coding", None) or () if c.system and c.code]
    codings.sort(key=lambda c: prefer.index(c.system) if c.system in prefer else len(prefer))
    if not codings:
        fail(
            "needs a coding with a system and a code (text alone cannot be mapped); add the "
            "standard code (LOINC, SNOMED CT, RxNorm, ICD-10)",
            path,
            "required",
        )
    first = codings[0]
    return Coding(system=str(first.system), code=str(first.code), display=first.display)


def read_quantity(quantity: Any) -> tuple[float | None, str | None]:
    """(value, unit) of a Quantity: the UCUM code when given, else the display unit."""
    if quantity is None:
        return None, None
    value = None if quantity.value is None else float(quantity.value)
    return value, quantity.code or quantity.unit
