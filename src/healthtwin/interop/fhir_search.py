"""FHIR R4 search: parse a query string into typed criteria and match resources against them.

Implements the subset of http://hl7.org/fhir/R4/search.html that the REST facade offers:

- parameter types *token* (``system|code``, ``|code``, ``system|``, ``code``; modifier
  ``:not``), *string* (case- and accent-insensitive prefix match on any name part;
  modifiers ``:exact`` and ``:contains``), *date* (prefixes ``eq ne gt lt ge le sa eb ap``
  on the implicit range of a partial date, for example ``2024-03`` is the whole month) and
  *reference* (``Patient/123`` or ``123``);
- a comma inside one parameter is OR, a repeated parameter is AND;
- ``:missing=true|false`` on every parameter;
- result parameters ``_count`` (capped), ``_sort`` (comma list, ``-`` for descending) and
  ``_offset`` for paging links.

The supported parameters are declared in :data:`SEARCH_PARAMETERS`; an unknown parameter
or modifier is an error that lists the valid ones (FHIR servers may ignore unknown
parameters; silently ignoring a misspelt filter returns too much data, so we refuse).
Resources are plain JSON dictionaries: this module needs no FHIR library.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from healthtwin.errors import ResourceValidationError, ValidationIssue

__all__ = [
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "SEARCH_PARAMETERS",
    "Criterion",
    "DateRange",
    "SearchParameter",
    "SearchQuery",
    "extract_values",
    "matches",
    "parse_date_range",
    "parse_search",
    "sort_key",
]

ParamType = Literal["token", "string", "date", "reference"]
DEFAULT_COUNT = 50
MAX_COUNT = 1000
_DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_MODIFIERS: dict[ParamType, tuple[str, ...]] = {
    "token": ("not", "missing"),
    "string": ("exact", "contains", "missing"),
    "date": ("missing",),
    "reference": ("missing",),
}


@dataclass(frozen=True)
class SearchParameter:
    """A search parameter: its type and the dotted paths of the values it searches."""

    name: str
    type: ParamType
    paths: tuple[str, ...]


def _params(*items: SearchParameter) -> dict[str, SearchParameter]:
    return {p.name: p for p in items}


#: The search parameters of each resource type, with their FHIR R4 definitions' paths.
SEARCH_PARAMETERS: dict[str, dict[str, SearchParameter]] = {
    "Patient": _params(
        SearchParameter("_id", "token", ("id",)),
        SearchParameter("identifier", "token", ("identifier",)),
        SearchParameter(
            "name",
            "string",
            ("name.family", "name.given", "name.text", "name.prefix", "name.suffix"),
        ),
        SearchParameter("family", "string", ("name.family",)),
        SearchParameter("given", "string", ("name.given",)),
        SearchParameter("birthdate", "date", ("birthDate",)),
        SearchParameter("gender", "token", ("gender",)),
        SearchParameter("_lastUpdated", "date", ("meta.lastUpdated",)),
    ),
    "Observation": _params(
        SearchParameter("_id", "token", ("id",)),
        SearchParameter("patient", "reference", ("subject",)),
        SearchParameter("subject", "reference", ("subject",)),
        SearchParameter("code", "token", ("code",)),
        SearchParameter("category", "token", ("category",)),
        SearchParameter(
            "date", "date", ("effectiveDateTime", "effectivePeriod", "effectiveInstant")
        ),
        SearchParameter("status", "token", ("status",)),
        SearchParameter("_lastUpdated", "date", ("meta.lastUpdated",)),
    ),
}


@dataclass(frozen=True)
class DateRange:
    """The half-open interval ``[low, high)`` a partial date or dateTime stands for."""

    low: datetime
    high: datetime


@dataclass(frozen=True)
class Criterion:
    """One parameter occurrence: OR over ``values``; criteria of a query are ANDed."""

    parameter: SearchParameter
    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: filters, sort keys (name, descending) and the page asked for."""

    resource_type: str
    criteria: tuple[Criterion, ...]
    sort: tuple[tuple[str, bool], ...]
    count: int
    offset: int


_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})"
    r"(:(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def parse_date_range(text: str, *, default_tz: Any = UTC) -> DateRange:
    """The implicit range of a FHIR date or dateTime of any precision.

    A value without a zone is read in ``default_tz`` (the server's zone, UTC here).

    Examples
    --------
    >>> r = parse_date_range("2024-02")
    >>> r.low.isoformat(), r.high.isoformat()
    ('2024-02-01T00:00:00+00:00', '2024-03-01T00:00:00+00:00')
    >>> parse_date_range("2024-02-29T10:00+02:00").low.isoformat()
    '2024-02-29T08:00:00+00:00'
    """
    match = _DATE_RE.match(text.strip())
    if match is None:
        raise _error(
            f"{text!r} is not a FHIR date; use YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDThh:mm[:ss][zone]",
            "date",
        )
    g = match.groupdict()
    tz = default_tz
    if g["tz"]:
        tz = UTC if g["tz"] == "Z" else datetime.strptime(g["tz"], "%z").tzinfo
    try:
        year, month, day = int(g["y"]), int(g["m"] or 1), int(g["d"] or 1)
        hour, minute = int(g["H"] or 0), int(g["M"] or 0)
        second = int(g["S"] or 0)
        micro = min(round(float(g["f"]) * 1e6), 999_999) if g["f"] else 0
        low = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as err:
        raise _error(f"{text!r} is not a calendar date: {err}", "date") from err
    if g["m"] is None:
        high = low.replace(year=year + 1)
    elif g["d"] is None:
        high = low.replace(year=year + month // 12, month=month % 12 + 1)
    elif g["H"] is None:
        high = low + timedelta(days=1)
    elif g["S"] is None:
        high = low + timedelta(minutes=1)
    elif g["f"] is None:
        high = low + timedelta(seconds=1)
    else:
        high = low + timedelta(microseconds=1)
    return DateRange(low.astimezone(UTC), high.astimezone(UTC))


def _error(message: str, path: str, code: str = "value") -> ResourceValidationError:
    return ResourceValidationError(message, (ValidationIssue(path, message, code),))


def parse_search(
    resource_type: str,
    params: Iterable[tuple[str, str]],
    *,
    max_count: int = MAX_COUNT,
) -> SearchQuery:
    """Parse query parameters (as ``(name, value)`` pairs, repeats kept) into a query.

    Raises
    ------
    ResourceValidationError
        For an unsupported resource type, parameter or modifier, a malformed value, or an
        unknown sort key; every problem is listed with the parameter as its path.

    Examples
    --------
    >>> q = parse_search("Observation", [("patient", "Patient/p1"), ("date", "ge2024-01-01"),
    ...                                  ("_sort", "-date"), ("_count", "10")])
    >>> [c.parameter.name for c in q.criteria], q.sort, q.count
    (['patient', 'date'], (('date', True),), 10)
    """
    if resource_type not in SEARCH_PARAMETERS:
        raise _error(
            f"search on {resource_type} is not supported; supported types are "
            f"{', '.join(SEARCH_PARAMETERS)}",
            resource_type,
            "not-supported",
        )
    known = SEARCH_PARAMETERS[resource_type]
    criteria: list[Criterion] = []
    sort: tuple[tuple[str, bool], ...] = ()
    count, offset = DEFAULT_COUNT, 0
    issues: list[ValidationIssue] = []
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        try:
            if name == "_count":
                count = min(_non_negative_int(raw_name, value), max_count)
            elif name == "_offset":
                offset = _non_negative_int(raw_name, value)
            elif name == "_sort":
                sort = _parse_sort(value, known)
            elif name == "_format":
                continue
            else:
                criteria.append(_criterion(known, resource_type, name, modifier or None, value))
        except ResourceValidationError as err:
            issues.extend(err.issues)
    if issues:
        raise ResourceValidationError("; ".join(i.message for i in issues), tuple(issues))
    return SearchQuery(resource_type, tuple(criteria), sort, count, offset)


def _non_negative_int(name: str, value: str) -> int:
    if not value.isdigit():
        raise _error(f"{name} must be a non-negative integer, got {value!r}", name)
    return int(value)


def _parse_sort(value: str, known: Mapping[str, SearchParameter]) -> tuple[tuple[str, bool], ...]:
    keys = []
    for item in value.split(","):
        descending = item.startswith("-")
        name = item.lstrip("-")
        if name not in known:
            raise _error(
                f"cannot sort by {name!r}; sortable parameters are {', '.join(known)}", "_sort"
            )
        keys.append((name, descending))
    return tuple(keys)


def _criterion(
    known: Mapping[str, SearchParameter],
    resource_type: str,
    name: str,
    modifier: str | None,
    value: str,
) -> Criterion:
    if name not in known:
        raise _error(
            f"{resource_type} has no search parameter {name!r}; supported are "
            f"{', '.join(known)}, _count, _offset, _sort",
            name,
            "not-supported",
        )
    parameter = known[name]
    if modifier is not None and modifier not in _MODIFIERS[parameter.type]:
        raise _error(
            f"modifier :{modifier} does not apply to {name} (a {parameter.type} parameter); "
            f"use one of {', '.join(':' + m for m in _MODIFIERS[parameter.type])}",
            f"{name}:{modifier}",
            "not-supported",
        )
    values = tuple(_split_values(value))
    if modifier == "missing":
        if value not in ("true", "false"):
            raise _error(f"{name}:missing takes true or false, got {value!r}", name)
    elif parameter.type == "date":
        for v in values:
            _date_bounds(v, name)
    if not values or any(v == "" for v in values):
        raise _error(f"{name} has an empty value", name)
    return Criterion(parameter, modifier, values)


def _split_values(value: str) -> list[str]:
    """Split on commas not escaped with a backslash, and unescape ``\\,``, ``\\|``, ``\\\\``."""
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _date_bounds(value: str, name: str) -> tuple[str, DateRange]:
    prefix = value[:2] if value[:2] in _DATE_PREFIXES else "eq"
    text = value[2:] if value[:2] in _DATE_PREFIXES else value
    try:
        return prefix, parse_date_range(text)
    except ResourceValidationError as err:
        raise _error(f"{name}: {err}", name) from err


# --- matching -------------------------------------------------------------------------


def _walk(node: Any, parts: Sequence[str]) -> list[Any]:
    if not parts:
        return [node]
    if isinstance(node, list):
        return [v for item in node for v in _walk(item, parts)]
    if isinstance(node, dict) and parts[0] in node:
        return _walk(node[parts[0]], parts[1:])
    return []


def extract_values(resource: Mapping[str, Any], parameter: SearchParameter) -> list[Any]:
    """The raw JSON values a parameter searches in ``resource`` (lists flattened)."""
    found: list[Any] = []
    for path in parameter.paths:
        for value in _walk(resource, path.split(".")):
            found.extend(value if isinstance(value, list) else [value])
    return [v for v in found if v is not None]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _tokens(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept or Identifier."""
    if isinstance(value, str | bool):
        return [(None, str(value).lower() if isinstance(value, bool) else value)]
    if isinstance(value, dict):
        if "coding" in value:
            return [(c.get("system"), c.get("code", "")) for c in value["coding"]]
        if "code" in value:
            return [(value.get("system"), value["code"])]
        if "value" in value:
            return [(value.get("system"), value["value"])]
    return []


def _token_matches(values: list[Any], query: str) -> bool:
    system, bar, code = query.partition("|")
    pairs = [p for v in values for p in _tokens(v)]
    if not bar:
        return any(c == query for _, c in pairs)
    if system and not code:
        return any(s == system for s, _ in pairs)
    want_system = system or None
    return any(c == code and s == want_system for s, c in pairs)


def _string_matches(values: list[Any], query: str, modifier: str | None) -> bool:
    texts = [v for v in values if isinstance(v, str)]
    if modifier == "exact":
        return query in texts
    folded = _fold(query)
    if modifier == "contains":
        return any(folded in _fold(t) for t in texts)
    return any(_fold(t).startswith(folded) for t in texts)


def _reference_matches(values: list[Any], query: str, target: str = "Patient") -> bool:
    want = query if "/" in query else f"{target}/{query}"
    return any(isinstance(v, dict) and v.get("reference") == want for v in values)


def _value_range(value: Any) -> DateRange | None:
    if isinstance(value, str):
        return parse_date_range(value)
    if isinstance(value, dict) and ("start" in value or "end" in value):
        low = parse_date_range(value["start"]).low if "start" in value else datetime.min
        high = parse_date_range(value["end"]).high if "end" in value else datetime.max
        return DateRange(low.replace(tzinfo=UTC), high.replace(tzinfo=UTC))
    return None


def _date_matches(values: list[Any], query: str, now: datetime) -> bool:
    prefix, search = _date_bounds(query, "date")
    for value in values:
        have = _value_range(value)
        if have is not None and _compare_dates(prefix, have, search, now):
            return True
    return False


def _compare_dates(prefix: str, have: DateRange, search: DateRange, now: datetime) -> bool:
    inside = search.low <= have.low and have.high <= search.high
    if prefix == "eq":
        return inside
    if prefix == "ne":
        return not inside
    if prefix in ("gt", "sa"):
        return have.high > search.high if prefix == "gt" else have.low >= search.high
    if prefix in ("lt", "eb"):
        return have.low < search.low if prefix == "lt" else have.high <= search.low
    if prefix == "ge":
        return have.high > search.low
    if prefix == "le":
        return have.low < search.high
    # ap: within 10 % of the distance between the value and now (the spec's suggestion).
    slack = abs(now - search.low) * 0.1
    return have.low < search.high + slack and have.high > search.low - slack


def matches(
    resource: Mapping[str, Any], query: SearchQuery, *, now: datetime | None = None
) -> bool:
    """Whether ``resource`` satisfies every criterion of ``query``.

    Examples
    --------
    >>> obs = {"resourceType": "Observation", "subject": {"reference": "Patient/p1"},
    ...        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    ...        "effectiveDateTime": "2024-01-02T08:00:00Z"}
    >>> q = parse_search("Observation", [("code", "http://loinc.org|8867-4"),
    ...                                  ("date", "gt2024-01-01")])
    >>> matches(obs, q)
    True
    """
    moment = now or datetime.now(UTC)
    for criterion in query.criteria:
        values = extract_values(resource, criterion.parameter)
        if criterion.modifier == "missing":
            if (not values) != (criterion.values[0] == "true"):
                return False
            continue
        if not any(_one_matches(values, criterion, v, moment) for v in criterion.values):
            if criterion.modifier != "not":
                return False
        elif criterion.modifier == "not":
            return False
    return True


def _one_matches(values: list[Any], criterion: Criterion, query: str, now: datetime) -> bool:
    kind = criterion.parameter.type
    if kind == "token":
        return _token_matches(values, query)
    if kind == "string":
        return _string_matches(values, query, criterion.modifier)
    if kind == "reference":
        return _reference_matches(values, query)
    return _date_matches(values, query, now)


def sort_key(resource: Mapping[str, Any], query: SearchQuery, name: str) -> tuple[bool, str]:
    """A sort key for one ``_sort`` parameter: missing values last, then the first value.

    Dates sort by their range's start; strings case-insensitively; tokens by code.
    """
    parameter = SEARCH_PARAMETERS[query.resource_type][name]
    values = extract_values(resource, parameter)
    if not values:
        return (True, "")
    first = values[0]
    if parameter.type == "date":
        found = _value_range(first)
        return (found is None, found.low.isoformat() if found else "")
    if parameter.type == "token":
        pairs = _tokens(first)
        return (not pairs, pairs[0][1] if pairs else "")
    if parameter.type == "reference":
        return (False, str(first.get("reference", "")) if isinstance(first, dict) else "")
    return (False, _fold(str(first)))
