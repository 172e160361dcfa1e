"""Resolve references between the entries of a Bundle, as FHIR R4 section 2.36.4.1 says.

- An absolute URL or a ``urn:uuid:``/``urn:oid:`` matches the ``fullUrl`` of an entry
  (``.../_history/2`` the entry whose ``meta.versionId`` is 2).
- A relative reference ``Type/id`` from an entry whose fullUrl is RESTful
  (``http://server/fhir/Observation/1``) is read against the same base
  (``http://server/fhir/Type/id``); from an entry with a ``urn:uuid:`` fullUrl or none, it
  matches the entry whose resource is of that type with that id.
- A resource without an id takes the uuid of its ``urn:uuid:`` fullUrl (or the id of a
  RESTful fullUrl) as its logical id: transaction bundles that create resources carry none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from healthtwin.interop.fhir_refs import parse_reference

__all__ = ["BundleIndex", "IndexedEntry"]

_RESTFUL = re.compile(
    r"(?P<base>https?://.+/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
)


@dataclass(frozen=True)
class IndexedEntry:
    """One entry with a resource: where it is, its type and its logical id (None if none)."""

    index: int
    resource: Any
    resource_type: str
    id: str | None
    full_url: str | None


class BundleIndex:
    """The entries of a Bundle, and reference resolution between them.

    Examples
    --------
    >>> from healthtwin.interop.fhir_json import parse_resource
    >>> bundle = parse_resource({"resourceType": "Bundle", "type": "transaction", "entry": [
    ...     {"fullUrl": "urn:uuid:4e2f3d1c-0b5a-4c7e-9f8d-2a1b3c4d5e6f",
    ...      "resource": {"resourceType": "Patient"},
    ...      "request": {"method": "POST", "url": "Patient"}}]})
    >>> index = BundleIndex(bundle)
    >>> index.resolve("urn:uuid:4e2f3d1c-0b5a-4c7e-9f8d-2a1b3c4d5e6f", None)
    ('Patient', '4e2f3d1c-0b5a-4c7e-9f8d-2a1b3c4d5e6f')
    """

    def __init__(self, bundle: Bundle) -> None:
        entries: list[IndexedEntry] = []
        by_url: dict[str, IndexedEntry] = {}
        by_type_id: dict[str, IndexedEntry | None] = {}
        for index, entry in enumerate(bundle.entry or ()):
            resource = entry.resource
            if resource is None:
                continue
            rtype = resource.get_resource_type()
            found = IndexedEntry(
                index, resource, rtype, _logical_id(resource, entry.fullUrl), entry.fullUrl
            )
            entries.append(found)
            if entry.fullUrl:
                by_url.setdefault(entry.fullUrl, found)
                meta = resource.meta
                if meta is not None and meta.versionId:
                    by_url[f"{entry.fullUrl}/_history/{meta.versionId}"] = found
            if found.id is not None:
                key = f"{rtype}/{found.id}"
                # Two resources with the same type and id (versions): neither is guessed.
                by_type_id[key] = None if key in by_type_id else found
        self.entries: tuple[IndexedEntry, ...] = tuple(entries)
        self._by_url = MappingProxyType(by_url)
        self._by_type_id = MappingProxyType(by_type_id)

    def find(self, reference: str, full_url: str | None) -> IndexedEntry | None:
        """The entry ``reference`` (written in the entry with ``full_url``) points at."""
        if reference in self._by_url:
            return self._by_url[reference]
        parsed = parse_reference(reference)
        if parsed is None or parsed.kind != "relative":
            return None
        base = _RESTFUL.fullmatch(full_url or "")
        if base is not None:
            return self._by_url.get(base["base"] + reference)
        plain = f"{parsed.resource_type}/{parsed.id}"
        return self._by_type_id.get(plain)

    def resolve(self, reference: str, full_url: str | None) -> tuple[str, str] | None:
        """``(type, id)`` of what ``reference`` points at, or None when it is not here."""
        found = self.find(reference, full_url)
        if found is None or found.id is None:
            return None
        return found.resource_type, found.id


def _logical_id(resource: Any, full_url: str | None) -> str | None:
    if resource.id:
        return str(resource.id)
    if full_url and full_url.startswith("urn:uuid:"):
        return full_url.removeprefix("urn:uuid:")
    match = _RESTFUL.fullmatch(full_url or "")
    return match["id"] if match is not None else None
