"""FHIR R4 JSON in and out, refusing hostile input before the models see it.

Resources are parsed with the R4B models of ``fhir.resources`` (FHIR 4.3, which reads
the R4 4.0.1 examples the library's default R5 models reject) and dumped back to
JSON-ready dictionaries. :func:`parse_json_safely` guards the edge: a body over a byte
limit, nesting deeper than a limit, a Bundle with too many entries, malformed JSON or an
unknown ``resourceType`` is refused with a :class:`~healthtwin.errors.ResourceValidationError`
whose issues say where (a FHIRPath-like path) and why, before any model is built. The
nesting depth is measured with an explicit stack, so a body nested 100,000 levels deep
is refused without a ``RecursionError``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, NoReturn, TypeVar

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.fhir_issues import issues_from_validation_error

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ENTRIES",
    "SUPPORTED_RESOURCE_TYPES",
    "build_resource",
    "dump_resource",
    "dumps_resource",
    "parse_json_safely",
    "parse_resource",
    "resource_class",
    "scan_json",
]

#: Resource types healthtwin parses, checks, maps or writes (any other FHIR type parses too).
SUPPORTED_RESOURCE_TYPES: tuple[str, ...] = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationAdministration",
    "MedicationRequest",
    "Encounter",
    "Location",
    "Organization",
    "Consent",
    "AuditEvent",
    "Provenance",
    "RiskAssessment",
    "Bundle",
)
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ENTRIES = 100_000
R = TypeVar("R", bound=Resource)


def resource_class(resource_type: object, path: str = "resourceType") -> type[Resource]:
    """The R4B model class of a FHIR resource type.

    Parameters
    ----------
    resource_type
        The ``resourceType`` value read from JSON (any value; non-strings are refused).
    path
        Where the value was found, for the issue.

    Returns
    -------
    type[Resource]
        The ``fhir.resources.R4B`` class.

    Raises
    ------
    ResourceValidationError
        With code ``not-supported`` when the value names no concrete FHIR resource type.

    Examples
    --------
    >>> resource_class("Observation").__name__
    'Observation'
    >>> resource_class("Spaceship")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: resourceType 'Spaceship' is not a FHIR R4 ...
    """
    cls: type[Any] | None = None
    if isinstance(resource_type, str) and resource_type.isidentifier():
        try:
            cls = get_fhir_model_class(resource_type)
        except ValueError:
            cls = None
    if (
        cls is None
        or not isinstance(cls, type)
        or not issubclass(cls, Resource)
        or cls in (Resource, DomainResource)
    ):
        message = (
            f"resourceType {resource_type!r} is not a FHIR R4 resource type; use a concrete "
            f"type such as {', '.join(SUPPORTED_RESOURCE_TYPES)} (spelled with capitals, "
            "as in the FHIR specification)"
        )
        issue = ValidationIssue(path=path, message=message, code="not-supported")
        raise ResourceValidationError(message, (issue,))
    return cls


def parse_json_safely(
    raw: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> dict[str, Any]:
    """Decode a FHIR JSON body into a dictionary, within limits.

    Parameters
    ----------
    raw
        The body, UTF-8 bytes (a byte order mark is tolerated) or text.
    max_bytes
        Largest body accepted, in bytes of UTF-8.
    max_depth
        Deepest nesting of objects and arrays accepted (a flat object has depth 1).
    max_entries
        Most ``entry`` elements accepted in all the Bundles of the body together.

    Returns
    -------
    dict
        The JSON object. Every nested ``resourceType`` names a FHIR resource type.

    Raises
    ------
    ResourceValidationError
        ``too-costly`` for a body over a limit, ``structure`` for malformed JSON (with line
        and column) or a body that is not a JSON object, ``not-supported`` for an unknown
        ``resourceType`` (with its path).

    Examples
    --------
    >>> parse_json_safely('{"resourceType": "Patient", "gender": "female"}')["gender"]
    'female'
    >>> parse_json_safely('{"resourceType": "Patient",}')
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: malformed JSON at line 1, column 28: Expecting ...
    """
    _check_size(raw, max_bytes)
    text = _decode(raw)
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        _fail(
            f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}; send one "
            "JSON object as described in the FHIR JSON format",
            "",
            "structure",
        )
    except RecursionError as err:
        # The C decoder guards its own recursion; anything that deep is far past the limit.
        raise _error(_depth_message(max_depth), "", "too-costly") from err
    except ValueError as err:
        _fail(f"malformed JSON: {err}", "", "structure")
    if not isinstance(data, dict):
        _fail(
            f"a FHIR resource must be a JSON object, got a JSON {type(data).__name__}; wrap "
            "the content in an object with a resourceType",
            "",
            "structure",
        )
    scan_json(data, max_depth=max_depth, max_entries=max_entries)
    return data


def scan_json(
    data: Mapping[str, Any],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> None:
    """Refuse JSON too deep, with too many Bundle entries, or not shaped as FHIR JSON.

    Walks with an explicit stack (no recursion). Besides the limits of
    :func:`parse_json_safely`, it refuses an unknown ``resourceType`` anywhere, empty
    objects and arrays and ``null`` element values (FHIR JSON never has them: leave the
    element out), and a Bundle entry, contained resource or parameter without a
    ``resourceType``.

    Examples
    --------
    >>> scan_json({"resourceType": "Bundle", "entry": [{}, {}]}, max_entries=1)
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: the body holds more than 1 Bundle entries; ...
    >>> scan_json({"resourceType": "Patient", "name": []})
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: Patient.name: empty arrays and objects ...
    """
    root = ""
    if "resourceType" in data:
        root = resource_class(data["resourceType"]).get_resource_type()
    stack: list[tuple[Any, int, str]] = [(data, 1, root)]
    n_entries = 0
    issues: list[ValidationIssue] = []
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            _fail(_depth_message(max_depth), path, "too-costly")
        if not node and node is not data:
            issues.append(
                _shape_issue(
                    path,
                    "empty arrays and objects are not allowed in FHIR JSON; leave the element out",
                    "structure",
                )
            )
        if isinstance(node, Mapping):
            if "resourceType" in node and node is not data:
                resource_class(node["resourceType"], _join(path, "resourceType"))
            elif node and _holds_resource(path):
                issues.append(
                    _shape_issue(
                        _join(path, "resourceType"),
                        "a resource here needs its resourceType",
                        "required",
                    )
                )
            n_entries += _bundle_entries(node, path, n_entries, max_entries)
            for key, value in node.items():
                if isinstance(value, (Mapping, list)):
                    stack.append((value, depth + 1, _join(path, str(key))))
                elif value is None:
                    # null is FHIR JSON only inside arrays of primitives (aligned with _name).
                    issues.append(
                        _shape_issue(
                            _join(path, str(key)),
                            "null is not allowed here; leave the element out",
                            "structure",
                        )
                    )
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, (Mapping, list)):
                    stack.append((value, depth + 1, f"{path}[{index}]"))
    if issues:
        issues.sort(key=lambda issue: issue.path)
        raise ResourceValidationError(
            "; ".join(f"{i.path}: {i.message}" for i in issues[:5]), tuple(issues)
        )


def _holds_resource(path: str) -> bool:
    """Whether the element at ``path`` is of type Resource (so names its resourceType)."""
    parent, _, last = path.rpartition(".")
    if last == "resource":
        # Bundle.entry.resource and Parameters.parameter(.part).resource; elsewhere an
        # element called resource is a Reference (Linkage.item, RequestGroup.action...).
        return parent.rpartition(".")[2].startswith(("entry[", "parameter[", "part["))
    return last.startswith("contained[") or path.endswith(".response.outcome")


def _bundle_entries(node: Mapping[str, Any], path: str, n_before: int, max_entries: int) -> int:
    entries = node.get("entry")
    if node.get("resourceType") != "Bundle" or not isinstance(entries, list):
        return 0
    if n_before + len(entries) > max_entries:
        _fail(
            f"the body holds more than {max_entries} Bundle entries; split it into several "
            "Bundles or raise the entry limit",
            _join(path, "entry"),
            "too-costly",
        )
    return len(entries)


def _shape_issue(path: str, message: str, code: str) -> ValidationIssue:
    return ValidationIssue(path=path, message=message, code=code)


def parse_resource(
    data: bytes | str | Mapping[str, Any],
    *,
    types: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    scanned: bool = False,
) -> Resource:
    """Parse FHIR R4 JSON into a ``fhir.resources.R4B`` model instance.

    Parameters
    ----------
    data
        A JSON body (bytes or text, checked by :func:`parse_json_safely`) or a decoded
        JSON object.
    types
        Resource types accepted at the top level (default: any FHIR resource type).
    max_bytes, max_depth, max_entries
        Limits, as in :func:`parse_json_safely`.
    scanned
        ``data`` is a mapping returned by :func:`parse_json_safely` (or checked by
        :func:`scan_json`) with these limits, so it is not walked again.

    Returns
    -------
    Resource
        The model of the type named by ``resourceType``.

    Raises
    ------
    ResourceValidationError
        With one issue per broken rule, each with a FHIRPath-like path such as
        ``Bundle.entry[3].resource.status``.

    Examples
    --------
    >>> obs = parse_resource(
    ...     '{"resourceType": "Observation", "status": "final", "code": {"text": "HR"}}'
    ... )
    >>> type(obs).__name__, obs.status
    ('Observation', 'final')
    >>> parse_resource({"resourceType": "Observation", "status": "final"})
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: Observation is not valid FHIR R4: ...
    """
    limits = {"max_depth": max_depth, "max_entries": max_entries}
    if isinstance(data, (bytes, str)):
        obj: Mapping[str, Any] = parse_json_safely(data, max_bytes=max_bytes, **limits)
    elif isinstance(data, Mapping):
        obj = data
        if not scanned:
            scan_json(obj, **limits)
    else:
        _fail(
            f"expected FHIR JSON as bytes, text or a mapping, got {type(data).__name__}",
            "",
            "structure",
        )
    if "resourceType" not in obj:
        _fail(
            "the JSON object has no resourceType; add one naming the FHIR resource type "
            '(for example "resourceType": "Patient")',
            "resourceType",
            "required",
        )
    cls = resource_class(obj["resourceType"])
    name = cls.get_resource_type()
    if types is not None and name not in types:
        _fail(
            f"resourceType {name!r} is not accepted here; send one of {', '.join(types)}",
            "resourceType",
            "not-supported",
        )
    # The scan refused every empty or null element, so there is nothing to prune.
    return _validated(cls, {**obj, "resourceType": name})


def build_resource(cls: type[R], data: Mapping[str, Any]) -> R:
    """Build a resource of class ``cls`` from FHIR JSON (or Python values: dates, floats).

    Elements that are None, empty lists or empty objects are left out first (FHIR JSON
    has no empty elements), so writers can build their dictionaries without guards.

    Raises
    ------
    ResourceValidationError
        With one issue per error, as :func:`parse_resource`.

    Examples
    --------
    >>> from fhir.resources.R4B.patient import Patient
    >>> build_resource(Patient, {"id": "p1", "gender": "male"}).gender
    'male'
    """
    return _validated(cls, {**_pruned(data), "resourceType": cls.get_resource_type()})


def _validated(cls: type[R], data: dict[str, Any]) -> R:
    name = cls.get_resource_type()
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        issues = issues_from_validation_error(err, name)
        raise ResourceValidationError(
            f"{name} is not valid FHIR R4: {'; '.join(f'{i.path}: {i.message}' for i in issues)}",
            issues,
        ) from err
    except (TypeError, KeyError) as err:
        # The library lets a few malformed shapes escape as plain Python errors.
        raise _error(f"{name} could not be read: {err!r}", name, "structure") from err


def _pruned(data: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = _pruned(value)
        elif isinstance(value, list):
            items = [_pruned(v) if isinstance(v, Mapping) else v for v in value]
            value = [v for v in items if v != {}]
        if value is not None and value != [] and value != {}:
            kept[key] = value
    return kept


def dump_resource(resource: Resource) -> dict[str, Any]:
    """A resource as a JSON-ready dictionary in FHIR's JSON names, without empty elements.

    Examples
    --------
    >>> obs = parse_resource({"resourceType": "Observation", "status": "final",
    ...                       "code": {"text": "HR"}, "valueQuantity": {"value": 61}})
    >>> dump_resource(obs)["valueQuantity"]
    {'value': 61}
    """
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)


def dumps_resource(resource: Resource, *, indent: int | None = None) -> str:
    """A resource as FHIR JSON text (see :func:`dump_resource`).

    Examples
    --------
    >>> dumps_resource(parse_resource({"resourceType": "Patient", "gender": "other"}))
    '{"resourceType":"Patient","gender":"other"}'
    """
    return resource.model_dump_json(by_alias=True, exclude_none=True, indent=indent)


def _check_size(raw: bytes | str, max_bytes: int) -> None:
    # A character is at least one UTF-8 byte and at most four: encode only when in doubt.
    size = len(raw)
    if isinstance(raw, str) and max_bytes // 4 < size <= max_bytes:
        size = len(raw.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        _fail(
            f"the body is {size} bytes or more, over the limit of {max_bytes} bytes; split "
            "it into smaller Bundles or raise the byte limit",
            "",
            "too-costly",
        )


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _error(
            f"the body is not UTF-8 (byte {err.start}: {err.reason}); FHIR JSON is always "
            "UTF-8 encoded",
            "",
            "structure",
        ) from err


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number; FHIR decimals must be finite")


def _depth_message(max_depth: int) -> str:
    return (
        f"the JSON is nested more than {max_depth} levels deep; FHIR resources are far "
        "shallower, so this is refused (raise the depth limit if it is intended)"
    )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _error(message: str, path: str, code: str) -> ResourceValidationError:
    return ResourceValidationError(
        message, (ValidationIssue(path=path, message=message, code=code),)
    )


def _fail(message: str, path: str, code: str) -> NoReturn:
    raise _error(message, path, code)
