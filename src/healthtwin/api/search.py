"""Search: parse the query, find the matches, and page them into a searchset Bundle.

An Observation search naming one ``patient`` goes through the store's indexed time series
(``(patient, code, time)``): the patient, a LOINC ``code`` and the ``date`` bounds select
candidates with one index range scan joined to their bodies in the same query
(:meth:`Store.observation_bodies <healthtwin.store.Store.observation_bodies>`), then the
full FHIR semantics of :func:`~healthtwin.interop.fhir_search.matches` filter them, so the
answer is the same as a scan's. Every other search scans the type's resources page by
page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from healthtwin.interop.codes import LOINC
from healthtwin.interop.fhir_refs import parse_reference
from healthtwin.interop.fhir_search import (
    Criterion,
    SearchQuery,
    matches,
    parse_date_range,
    parse_search,
    sort_key,
)
from healthtwin.interop.records import Coding
from healthtwin.store import Store

__all__ = ["read_resources", "search", "searchset"]

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class _IndexQuery:
    patient_id: str
    code: Coding | None
    start: datetime | None
    end: datetime | None


def read_resources(store: Store, resource_type: str, ids: Sequence[str]) -> list[JSONDict]:
    """The current bodies of these resources, in the order of ``ids`` (missing ones left out).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     _ = store.create({"resourceType": "Patient", "id": "a"})
    ...     [r["id"] for r in read_resources(store, "Patient", ["a", "zz"])]
    ['a']
    """
    return store.read_many(resource_type, ids)


def _single(query: SearchQuery, name: str) -> Criterion | None:
    found = [c for c in query.criteria if c.parameter.name == name]
    if len(found) != 1 or found[0].modifier is not None or len(found[0].values) != 1:
        return None
    return found[0]


def _index_query(query: SearchQuery) -> _IndexQuery | None:
    """The index range that holds every match of an Observation search, if there is one."""
    if query.resource_type != "Observation":
        return None
    patient = _single(query, "patient") or _single(query, "subject")
    if patient is None:
        return None
    parsed = parse_reference(patient.values[0])
    if parsed is None:
        parsed = parse_reference(f"Patient/{patient.values[0]}")
    if parsed is None or parsed.resource_type != "Patient" or parsed.id is None:
        return None
    code = _single(query, "code")
    coding = None
    if code is not None and code.values[0].startswith(f"{LOINC}|"):
        coding = Coding(system=LOINC, code=code.values[0].split("|", 1)[1])
    start, end = _date_bounds(query)
    return _IndexQuery(parsed.id, coding, start, end)


def _date_bounds(query: SearchQuery) -> tuple[datetime | None, datetime | None]:
    start: datetime | None = None
    end: datetime | None = None
    for criterion in query.criteria:
        if criterion.parameter.name != "date" or criterion.modifier or len(criterion.values) > 1:
            continue
        value = criterion.values[0]
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        bounds = parse_date_range(text)
        low = {"ge": bounds.low, "gt": bounds.low, "eq": bounds.low, "sa": bounds.high}
        high = {"le": bounds.high, "lt": bounds.high, "eq": bounds.high, "eb": bounds.low}
        if prefix in low:
            start = max(start, low[prefix]) if start else low[prefix]
        if prefix in high:
            end = min(end, high[prefix]) if end else high[prefix]
    return start, end


def _candidates(store: Store, query: SearchQuery) -> Iterable[JSONDict]:
    index = _index_query(query)
    if index is None:
        return store.iter_resources(query.resource_type)
    return store.observation_bodies(index.patient_id, index.code, index.start, index.end)


def search(
    store: Store, resource_type: str, params: Sequence[tuple[str, str]]
) -> tuple[SearchQuery, list[JSONDict]]:
    """Every match of a search, sorted by its ``_sort`` (then by id).

    Raises
    ------
    ResourceValidationError
        For an unsupported type, parameter, modifier or value (each with its path).
    """
    query = parse_search(resource_type, params)
    found = [r for r in _candidates(store, query) if matches(r, query)]
    found.sort(key=lambda r: str(r.get("id")))
    for name, descending in reversed(query.sort):
        keys = {id(r): sort_key(r, query, name) for r in found}
        found.sort(key=lambda r: keys[id(r)], reverse=descending)
        if descending:
            # Missing values sort last whatever the direction.
            found.sort(key=lambda r: keys[id(r)][0])
    return query, found


def searchset(
    base: str,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    query: SearchQuery,
    found: Sequence[JSONDict],
) -> JSONDict:
    """The searchset Bundle of one page, with ``self``, ``first``, ``previous``, ``next``.

    Examples
    --------
    >>> q = parse_search("Patient", [("_count", "1")])
    >>> page = searchset("http://x/fhir", "Patient", [("_count", "1")], q,
    ...                  [{"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "b"}])
    >>> page["total"], [link["relation"] for link in page["link"]]
    (2, ['self', 'first', 'next'])
    """  # noqa: E501
    kept = [(k, v) for k, v in params if k not in ("_offset", "_count")]

    def url(offset: int) -> str:
        items = [*kept, ("_count", str(query.count)), ("_offset", str(offset))]
        return f"{base}/{resource_type}?{urlencode(items)}"

    links = [("self", query.offset), ("first", 0)]
    if query.offset > 0:
        links.append(("previous", max(0, query.offset - query.count)))
    if query.offset + query.count < len(found):
        links.append(("next", query.offset + query.count))
    page = found[query.offset : query.offset + query.count]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": rel, "url": url(offset)} for rel, offset in links],
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in page
        ],
    }
