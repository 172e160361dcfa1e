"""Our own checks of FHIR resources: the rules ``fhir.resources`` does not enforce.

The library validates structure and primitive formats but not code bindings
(``Observation.status = "not-a-status"`` parses) nor clinical sense. These checks add,
for every resource in a tree (Bundle entries and contained resources included):

- required value sets (:mod:`healthtwin.interop.fhir_valuesets`): statuses, gender,
  Condition clinical/verification status, Bundle type and request methods, and the
  required bindings of data types (HumanName.use, Quantity.comparator, ...);
- vital signs and glucose (:data:`healthtwin.interop.codes.VITALS_BY_CODE`, LOINC): a
  ``valueQuantity`` (or a ``dataAbsentReason``) in UCUM with the expected unit code, whose
  value is physiologically possible (``Vital.plausible``); a blood-pressure panel
  (85354-9) has systolic and diastolic components;
- references of a valid form (:mod:`healthtwin.interop.fhir_refs`); ``urn:uuid:``
  references resolve to the ``fullUrl`` of an entry of the enclosing Bundle and ``#id`` to
  a contained resource; fullUrls are unique; transaction and batch entries carry a request;
- periods that do not end before they start.

Units: a vital's value must be in its UCUM unit or in one :mod:`healthtwin.interop.ucum`
converts to it (``[degF]`` for ``Cel``, ``kPa`` for ``mm[Hg]``); the plausible range is
checked after conversion. Mass and molar concentrations are not mixed: a LOINC code names
one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel

from healthtwin.errors import InvalidInputError, ResourceValidationError, ValidationIssue
from healthtwin.interop import ucum
from healthtwin.interop.codes import BP_PANEL, LOINC, UCUM, VITALS_BY_CODE, Vital
from healthtwin.interop.fhir_refs import parse_reference
from healthtwin.interop.fhir_valuesets import CODE_RULES, CONCEPT_RULES, DATATYPE_RULES

__all__ = ["check_resource", "validate_resource"]

R = TypeVar("R", bound=Resource)
_BP_PARTS = ("8480-6", "8462-4")
_NO_VALUE_STATUSES = frozenset({"cancelled", "entered-in-error"})


@dataclass(frozen=True)
class _Scope:
    """What references can resolve to where a node sits."""

    bundle_urls: frozenset[str] | None
    contained_ids: frozenset[str]
    in_bundle: bool


def check_resource(resource: Resource, *, in_bundle: bool = False) -> tuple[ValidationIssue, ...]:
    """Every rule the resource (and the resources inside it) breaks.

    Parameters
    ----------
    resource
        Any parsed ``fhir.resources.R4B`` resource; a Bundle is checked entry by entry.
    in_bundle
        The resource is an entry of a Bundle checked elsewhere, so its ``urn:uuid:``
        references are left to that check.

    Returns
    -------
    tuple[ValidationIssue, ...]
        Empty when nothing is wrong; warnings have ``severity="warning"``.

    Examples
    --------
    >>> from healthtwin.interop.fhir_json import parse_resource
    >>> obs = parse_resource({
    ...     "resourceType": "Observation", "status": "not-a-status",
    ...     "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    ...     "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-05-01T08:00:00Z",
    ...     "valueQuantity": {"value": 72, "unit": "beats/min",
    ...                       "system": "http://unitsofmeasure.org", "code": "/min"}})
    >>> [(i.path, i.code) for i in check_resource(obs)]
    [('Observation.status', 'code-invalid')]
    """
    issues: list[ValidationIssue] = []
    root = _Scope(bundle_urls=None, contained_ids=frozenset(), in_bundle=in_bundle)
    stack: list[tuple[BaseModel, str, _Scope]] = [(resource, resource.get_resource_type(), root)]
    while stack:
        node, path, scope = stack.pop()
        if isinstance(node, Resource):
            scope = _enter_resource(node, path, scope, issues)
        _check_datatype(node, path, scope, issues)
        stack.extend(reversed(list(_children(node, path, scope))))
    return tuple(issues)


def validate_resource(resource: R, *, in_bundle: bool = False) -> R:
    """Return ``resource`` when :func:`check_resource` finds no error; raise otherwise.

    Raises
    ------
    ResourceValidationError
        Listing every error-severity issue (warnings do not raise).

    Examples
    --------
    >>> from healthtwin.interop.fhir_json import parse_resource
    >>> validate_resource(parse_resource({"resourceType": "Patient", "gender": "F"}))
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: Patient breaks 1 rule(s): Patient.gender: ...
    """
    issues = tuple(
        i for i in check_resource(resource, in_bundle=in_bundle) if i.severity in ("error", "fatal")
    )
    if issues:
        listed = "; ".join(f"{i.path}: {i.message}" for i in issues)
        raise ResourceValidationError(
            f"{resource.get_resource_type()} breaks {len(issues)} rule(s): {listed}", issues
        )
    return resource


def _enter_resource(
    resource: Resource, path: str, scope: _Scope, issues: list[ValidationIssue]
) -> _Scope:
    rtype = resource.get_resource_type()
    for rule_type, element, codes in CODE_RULES:
        if rule_type == rtype:
            for where, value in _values_at(resource, element, path):
                if value not in codes:
                    issues.append(_not_in(where, value, codes))
    for rule_type, element, system, codes in CONCEPT_RULES:
        if rule_type == rtype:
            for where, concept in _values_at(resource, element, path):
                issues.extend(_concept_issues(concept, where, system, codes))
    if isinstance(resource, Observation):
        issues.extend(_observation_issues(resource, path))
    if isinstance(resource, Bundle):
        issues.extend(_bundle_issues(resource, path))
        urls = frozenset(e.fullUrl for e in resource.entry or () if e.fullUrl)
        scope = _Scope(bundle_urls=urls, contained_ids=frozenset(), in_bundle=False)
    if isinstance(resource, DomainResource) and not _is_contained(path):
        ids = frozenset(c.id for c in resource.contained or () if c.id)
        scope = _Scope(scope.bundle_urls, ids, scope.in_bundle)
    return scope


def _is_contained(path: str) -> bool:
    return path.rsplit(".", 1)[-1].startswith("contained[")


def _children(node: BaseModel, path: str, scope: _Scope) -> Iterator[tuple[BaseModel, str, _Scope]]:
    fields = type(node).model_fields
    for name, value in node.__dict__.items():
        if value is None or name == "fhir_comments":
            continue
        element = f"{path}.{fields[name].alias or name}" if name in fields else f"{path}.{name}"
        if isinstance(value, BaseModel):
            yield value, element, scope
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield item, f"{element}[{index}]", scope


def _values_at(node: Any, dotted: str, path: str) -> Iterator[tuple[str, Any]]:
    """The values at a dotted element path, through lists, with their full paths."""
    head, _, rest = dotted.partition(".")
    value = getattr(node, head, None)
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    for index, item in items:
        if item is None:
            continue
        where = f"{path}.{head}" + ("" if index is None else f"[{index}]")
        if rest:
            yield from _values_at(item, rest, where)
        else:
            yield where, item


def _not_in(path: str, value: object, codes: frozenset[str]) -> ValidationIssue:
    return ValidationIssue(
        path=path,
        message=f"{value!r} is not in the required value set; use one of "
        f"{', '.join(sorted(codes))}",
        code="code-invalid",
    )


def _concept_issues(
    concept: Any, path: str, system: str, codes: frozenset[str]
) -> Iterator[ValidationIssue]:
    codings = [(i, c) for i, c in enumerate(concept.coding or ()) if c.system == system]
    if not codings:
        yield ValidationIssue(
            path=path,
            message=f"has no coding from {system} (required binding); add one with a code "
            f"from {', '.join(sorted(codes))}",
            code="code-invalid",
        )
    for index, coding in codings:
        if coding.code not in codes:
            yield _not_in(f"{path}.coding[{index}].code", coding.code, codes)


def _check_datatype(
    node: BaseModel, path: str, scope: _Scope, issues: list[ValidationIssue]
) -> None:
    names = {cls.__name__ for cls in type(node).__mro__}
    for type_name, element, codes in DATATYPE_RULES:
        value = getattr(node, element, None) if type_name in names else None
        if value is not None and value not in codes:
            issues.append(_not_in(f"{path}.{element}", value, codes))
    if isinstance(node, Reference) and node.reference is not None:
        issue = _reference_issue(node.reference, f"{path}.reference", scope)
        if issue is not None:
            issues.append(issue)
    if isinstance(node, Period):
        start, end = node.start, node.end
        if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
            issues.append(
                ValidationIssue(
                    path=path,
                    message=f"the period ends ({end.isoformat()}) before it starts "
                    f"({start.isoformat()}); swap or correct the times",
                    code="invariant",
                )
            )


def _reference_issue(reference: str, path: str, scope: _Scope) -> ValidationIssue | None:
    parsed = parse_reference(reference)
    if parsed is None and reference.startswith(("http://", "https://")):
        # FHIR allows any URL; only one ending in Type/id can be resolved as a resource.
        return ValidationIssue(
            path=path,
            message=f"absolute reference {reference!r} does not end in Type/id, so it "
            "cannot be resolved as a FHIR resource",
            code="value",
            severity="warning",
        )
    if parsed is None:
        return ValidationIssue(
            path=path,
            message=f"reference {reference!r} is not of a valid form; write Type/id (for "
            "example 'Patient/123'), an absolute URL ending in Type/id, a urn:uuid: of a "
            "Bundle entry's fullUrl, or #id of a contained resource",
            code="value",
        )
    if parsed.kind == "urn" and not scope.in_bundle and reference not in (scope.bundle_urls or ()):
        where = "this Bundle" if scope.bundle_urls is not None else "a Bundle around it"
        return ValidationIssue(
            path=path,
            message=f"reference {reference!r} points at no entry of {where}; add the "
            "resource with that fullUrl or refer to it as Type/id",
            code="not-found",
        )
    if parsed.kind == "contained" and parsed.id and parsed.id not in scope.contained_ids:
        return ValidationIssue(
            path=path,
            message=f"reference {reference!r} points at no contained resource; add a "
            f"contained resource with id {parsed.id!r} or correct the reference",
            code="not-found",
        )
    return None


def _bundle_issues(bundle: Bundle, path: str) -> Iterator[ValidationIssue]:
    seen: dict[tuple[str, str | None], int] = {}
    for index, entry in enumerate(bundle.entry or ()):
        where = f"{path}.entry[{index}]"
        if entry.fullUrl and bundle.type != "history":
            # bdl-7: the same fullUrl may recur only as different versions of a resource.
            meta = entry.resource.meta if entry.resource is not None else None
            key = (entry.fullUrl, meta.versionId if meta is not None else None)
            if key in seen:
                yield ValidationIssue(
                    path=f"{where}.fullUrl",
                    message=f"fullUrl {entry.fullUrl!r} is also the fullUrl of entry "
                    f"{seen[key]} (same version); each entry needs its own",
                    code="duplicate",
                )
            seen.setdefault(key, index)
        if bundle.type in ("transaction", "batch") and entry.request is None:
            yield ValidationIssue(
                path=f"{where}.request",
                message=f"an entry of a {bundle.type} needs a request (method and url)",
                code="required",
            )


def _observation_issues(obs: Observation, path: str) -> Iterator[ValidationIssue]:
    absent = obs.dataAbsentReason is not None or obs.status in _NO_VALUE_STATUSES
    yield from _vital_value_issues(obs, path, absent)
    codes = {c.code for c in obs.code.coding or () if c.system == LOINC}
    if BP_PANEL in codes and obs.status not in _NO_VALUE_STATUSES:
        present = {
            c.code
            for comp in obs.component or ()
            for c in comp.code.coding or ()
            if c.system == LOINC
        }
        missing = [code for code in _BP_PARTS if code not in present]
        if missing:
            yield ValidationIssue(
                path=f"{path}.component",
                message=f"a blood-pressure panel ({BP_PANEL}) needs components with LOINC "
                f"{' and '.join(_BP_PARTS)}; missing {', '.join(missing)}",
                code="required",
            )
    for index, comp in enumerate(obs.component or ()):
        comp_absent = absent or comp.dataAbsentReason is not None
        yield from _vital_value_issues(comp, f"{path}.component[{index}]", comp_absent)


def _vital_of(concept: Any) -> Vital | None:
    for coding in concept.coding or ():
        if coding.system == LOINC and coding.code in VITALS_BY_CODE:
            return VITALS_BY_CODE[coding.code]
    return None


def _vital_value_issues(part: Any, path: str, absent: bool) -> Iterator[ValidationIssue]:
    vital = _vital_of(part.code)
    if vital is None:
        return
    others = [
        name
        for name in type(part).model_fields
        if name.startswith("value")
        and not name.endswith("__ext")
        and name != "valueQuantity"
        and getattr(part, name) is not None
    ]
    quantity: Quantity | None = part.valueQuantity
    if others:
        yield ValidationIssue(
            path=f"{path}.{others[0]}",
            message=f"{vital.display} ({vital.code}) must be a valueQuantity in "
            f"{vital.unit!r}, not {others[0]}",
            code="value",
        )
    elif quantity is None:
        if not absent:
            yield ValidationIssue(
                path=f"{path}.value[x]",
                message=f"{vital.display} ({vital.code}) has neither a valueQuantity nor a "
                "dataAbsentReason; give one",
                code="required",
            )
    else:
        yield from _quantity_issues(quantity, f"{path}.valueQuantity", vital)


def _quantity_issues(quantity: Quantity, path: str, vital: Vital) -> Iterator[ValidationIssue]:
    name = f"{vital.display} ({vital.code})"
    if quantity.system != UCUM:
        yield ValidationIssue(
            path=f"{path}.system",
            message=f"{name} needs a UCUM unit (system {UCUM!r}), got system {quantity.system!r}",
            code="code-invalid",
        )
    value = None if quantity.value is None else float(quantity.value)
    if quantity.code != vital.unit:
        if quantity.code is None or not _convertible(quantity.code, vital.unit):
            yield ValidationIssue(
                path=f"{path}.code",
                message=f"{name} must be in UCUM {vital.unit!r} or a unit convertible to "
                f"it, got unit code {quantity.code!r}; convert the value to {vital.unit}",
                code="code-invalid",
            )
            return
        value = None if value is None else ucum.convert(value, quantity.code, vital.unit)
    if value is None:
        yield ValidationIssue(
            path=f"{path}.value",
            message=f"{name} has a valueQuantity without a value; give the value or a "
            "dataAbsentReason instead",
            code="required",
        )
    elif not vital.plausible[0] <= value <= vital.plausible[1]:
        low, high = vital.plausible
        yield ValidationIssue(
            path=f"{path}.value",
            message=f"{name} {quantity.value} {quantity.code} is implausible (possible range "
            f"{low:g} to {high:g} {vital.unit}); check the value and its unit",
            code="value",
        )


def _convertible(unit: str, target: str) -> bool:
    try:
        return ucum.commensurable(unit, target)
    except InvalidInputError:
        return False
