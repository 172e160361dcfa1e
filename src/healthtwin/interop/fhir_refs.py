"""FHIR references: which forms are valid, and what they point at.

A ``Reference.reference`` is one of (FHIR R4, section 2.3.0 "Resource references"):

- relative, ``Type/id`` or ``Type/id/_history/version``;
- absolute, a URL ending in ``Type/id`` (optionally with ``/_history/version``);
- a ``urn:uuid:`` or ``urn:oid:`` URI, which resolves only to the ``fullUrl`` of an entry
  in the same Bundle;
- ``#id``, a resource contained in the referring one (``#`` alone is the container).

``Type`` must be a FHIR resource type and ``id`` matches ``[A-Za-z0-9\\-.]{1,64}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from healthtwin.errors import ResourceValidationError
from healthtwin.interop.fhir_json import resource_class

__all__ = ["ParsedReference", "is_resource_type", "parse_reference"]

ReferenceKind = Literal["relative", "absolute", "urn", "contained"]

_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE = re.compile(rf"(?P<type>[A-Z][A-Za-z]+)/(?P<id>{_ID})(?:/_history/(?P<version>{_ID}))?")
_ABSOLUTE = re.compile(
    rf"https?://[^\s/]+(?:/[^\s/]+)*?/(?P<type>[A-Z][A-Za-z]+)/(?P<id>{_ID})"
    rf"(?:/_history/(?P<version>{_ID}))?"
)
_URN = re.compile(
    r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+"
)
_CONTAINED = re.compile(r"#[A-Za-z0-9\-.]{0,64}")


@dataclass(frozen=True)
class ParsedReference:
    """A valid reference, taken apart (``resource_type``/``id`` are None for URNs)."""

    reference: str
    kind: ReferenceKind
    resource_type: str | None = None
    id: str | None = None
    version: str | None = None


def is_resource_type(name: str) -> bool:
    """Whether ``name`` is a concrete FHIR resource type.

    Examples
    --------
    >>> is_resource_type("Patient"), is_resource_type("Patients")
    (True, False)
    """
    try:
        resource_class(name)
    except ResourceValidationError:
        return False
    return True


def parse_reference(reference: str) -> ParsedReference | None:
    """Take a reference apart, or return None when it has none of the valid forms.

    Examples
    --------
    >>> ref = parse_reference("Patient/123")
    >>> ref.kind, ref.resource_type, ref.id
    ('relative', 'Patient', '123')
    >>> parse_reference("https://fhir.example.org/r4/Observation/o1/_history/2").version
    '2'
    >>> parse_reference("urn:uuid:6f2a1d3e-9c47-5b8a-a1f0-2d4e6c8b0a17").kind
    'urn'
    >>> parse_reference("#med1").kind
    'contained'
    >>> parse_reference("patient 123") is None, parse_reference("Patients/1") is None
    (True, True)
    """
    if _URN.fullmatch(reference):
        return ParsedReference(reference, "urn")
    if _CONTAINED.fullmatch(reference):
        return ParsedReference(reference, "contained", id=reference[1:] or None)
    for kind, pattern in (("relative", _RELATIVE), ("absolute", _ABSOLUTE)):
        match = pattern.fullmatch(reference)
        if match and is_resource_type(match["type"]):
            return ParsedReference(
                reference,
                "relative" if kind == "relative" else "absolute",
                match["type"],
                match["id"],
                match["version"],
            )
    return None
