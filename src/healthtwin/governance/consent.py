"""FHIR R4 Consent evaluation: may this request touch this patient's data?

A Consent applies when its ``status`` is ``active`` and its ``scope`` covers the purpose
(``patient-privacy`` covers every purpose, ``research`` the purposes under ``HRESCH``; the
``treatment`` and ``adr`` scopes are not about data access and are ignored). Its rules are
the provision tree (FHIR R4 Consent: "provision: an exception to the base policy of this
consent"; nested provisions are "rules which provide exceptions to the base rule or
subrules"; ``provision.type`` is "not permitted in root rule, required in all nested
rules"). We evaluate it as follows:

- The root's decision is its ``type`` when present (tolerated, as several published
  examples carry one), else the ``policyRule``: ``OPTIN``/``OPTINR`` permit,
  ``OPTOUT``/``OPTOUTE`` deny, anything else no decision of its own.
- A provision *matches* when every condition it states holds: ``period`` contains the
  request time, ``actor`` names the caller (its reference, its organisation, or
  ``Group/<role>`` for one of its roles), ``action`` includes the request's action
  (read/search = ``access``/``use``/``disclose``; create = ``collect``/``correct``; update
  and delete = ``correct``), ``purpose`` contains the request purpose or a generalisation
  of it, ``class`` (system ``http://hl7.org/fhir/resource-types``) names the resource type,
  ``data`` references the resource, ``dataPeriod`` contains the resource's clinical time.
- The most specific matching provision applies: a matching provision's decision is that
  of its matching children, if any decide, else its own. The FHIR page does not say how
  matching siblings combine; we take *deny overrides*: one denying child makes the parent
  deny. Hence a deny matching at the same or a deeper level than a permit always wins,
  and adding a deny provision never widens access.
- Conditions that cannot be decided (``code`` and ``securityLabel``, a ``class`` outside the
  resource-types system, and ``data``/``dataPeriod`` when no resource is at hand) are
  resolved toward refusal: such a provision contributes a deny when it would deny if it
  matched, and nothing otherwise.
- Several consents of one patient: deny if any applicable consent denies, else permit if
  any permits, else the default for the purpose (:class:`ConsentDefaults`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.governance.policy import AccessRequest
from healthtwin.governance.purpose import ancestors, is_specialisation, parse_purpose

__all__ = [
    "RESOURCE_TYPES_SYSTEM",
    "CompiledConsent",
    "ConsentDefaults",
    "ConsentOutcome",
    "Provision",
    "RequestFacts",
    "compile_consent",
    "evaluate_consent",
    "resource_patient",
]

RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
Outcome = Literal["permit", "deny"]
NONE, PERMIT, DENY = 0, 1, 2
_CODE = {None: NONE, "permit": PERMIT, "deny": DENY}
_BASE: Mapping[str, Outcome] = {
    "OPTIN": "permit",
    "OPTINR": "permit",
    "OPTOUT": "deny",
    "OPTOUTE": "deny",
}
_CONSENT_ACTIONS = MappingProxyType(
    {
        "r": frozenset({"access", "use", "disclose"}),
        "s": frozenset({"access", "use", "disclose"}),
        "c": frozenset({"collect", "correct"}),
        "u": frozenset({"correct"}),
        "d": frozenset({"correct"}),
    }
)
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_TIME_FIELDS = (
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "onsetDateTime",
    "recordedDate",
    "authoredOn",
    "occurrenceDateTime",
    "issued",
    "period",
)
_AUTHOR_FIELDS = ("author", "performer", "recorder", "asserter", "requester", "informationSource")


def _instant(value: object, where: str, *, end: bool = False) -> float:
    """Epoch seconds of a FHIR date/dateTime; a partial ``end`` means the end of that unit."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: {value!r} is not a FHIR date or dateTime")
    match = _DATE.match(value)
    try:
        if match is None:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError("a dateTime with a time needs a time zone")
            return parsed.timestamp()
        year, month, day = (int(g) if g else None for g in match.groups())
        start = datetime(year or 1, month or 1, day or 1, tzinfo=UTC)
        if not end:
            return start.timestamp()
        if day is not None:
            return (start + timedelta(days=1)).timestamp()
        if month is not None:
            return start.replace(year=start.year + (month == 12), month=month % 12 + 1).timestamp()
        return start.replace(year=start.year + 1).timestamp()
    except ValueError as err:
        raise InvalidInputError(
            f"{where}: {value!r} is not a valid FHIR date/dateTime: {err}"
        ) from err


def _period(value: object, where: str) -> tuple[float, float]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{where} must be a Period object, got {value!r}")
    start = _instant(value["start"], f"{where}.start") if "start" in value else -np.inf
    stop = _instant(value["end"], f"{where}.end", end=True) if "end" in value else np.inf
    return float(start), float(stop)


@dataclass(frozen=True)
class Provision:
    """One compiled provision (node of the rule tree); empty condition sets mean "any".

    ``uncertain`` names the conditions that can never be decided here (``code``,
    ``securityLabel``, ``class`` outside the resource types); ``data`` holds
    ``(meaning, reference)`` pairs.
    """

    type: Outcome | None
    path: str
    period: tuple[float, float] = (-np.inf, np.inf)
    actors: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    resource_types: frozenset[str] = frozenset()
    data: tuple[tuple[str, str], ...] = ()
    data_period: tuple[float, float] | None = None
    uncertain: tuple[str, ...] = ()
    children: tuple[Provision, ...] = ()

    @property
    def needs_resource(self) -> bool:
        """Whether a condition of this provision depends on the resource at hand."""
        return bool(self.data) or self.data_period is not None

    def walk(self) -> Iterator[Provision]:
        """This provision and its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class CompiledConsent:
    """A Consent reduced to what enforcement needs."""

    consent_id: str
    patient_id: str
    active: bool
    scope: Literal["patient-privacy", "research", "other"]
    root: Provision
    needs_resource: bool = False

    def applies_to(self, purpose: str) -> bool:
        """Whether this consent is in force for a request with ``purpose``."""
        if not self.active:
            return False
        return self.scope == "patient-privacy" or (
            self.scope == "research" and is_specialisation(purpose, "HRESCH")
        )


def _codings(value: object, where: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidInputError(f"{where} must be a list of objects, got {value!r}")
    return value


def _concept_codes(value: object, where: str) -> set[str]:
    return {
        str(c.get("code"))
        for concept in _codings(value, where)
        for c in _codings(concept.get("coding"), f"{where}.coding")
    }


def _compile_provision(node: Mapping[str, Any], path: str, consent: str) -> Provision:
    where = f"Consent/{consent} {path}"
    kind = node.get("type")
    if kind not in (None, "permit", "deny") or (kind is None and path != "provision"):
        raise InvalidInputError(
            f"{where}.type is {kind!r}; nested provisions need type 'permit' or 'deny'"
        )
    actors = frozenset(
        str((a.get("reference") or {}).get("reference"))
        for a in _codings(node.get("actor"), f"{where}.actor")
    )
    purposes = frozenset(
        parse_purpose(c) for c in _codings(node.get("purpose"), f"{where}.purpose")
    )
    classes = _codings(node.get("class"), f"{where}.class")
    types = frozenset(
        str(c.get("code")) for c in classes if c.get("system") == RESOURCE_TYPES_SYSTEM
    )
    uncertain = [name for name in ("code", "securityLabel") if node.get(name)]
    if len(types) < len(classes):
        uncertain.append("class")
    data = tuple(
        (str(d.get("meaning")), str((d.get("reference") or {}).get("reference")))
        for d in _codings(node.get("data"), f"{where}.data")
    )
    children = tuple(
        _compile_provision(child, f"{path}.provision[{i}]", consent)
        for i, child in enumerate(_codings(node.get("provision"), f"{where}.provision"))
    )
    return Provision(
        type=kind,
        path=path,
        period=_period(node["period"], f"{where}.period")
        if "period" in node
        else (-np.inf, np.inf),
        actors=actors,
        actions=frozenset(_concept_codes(node.get("action"), f"{where}.action")),
        purposes=purposes,
        resource_types=types if len(types) == len(classes) else frozenset(),
        data=data,
        data_period=_period(node["dataPeriod"], f"{where}.dataPeriod")
        if "dataPeriod" in node
        else None,
        uncertain=tuple(uncertain),
        children=children,
    )


def compile_consent(resource: Mapping[str, Any]) -> CompiledConsent:
    """Compile a FHIR R4 Consent (a dict) for evaluation.

    Raises
    ------
    InvalidInputError
        If it is not a Consent, has no patient, or a provision is malformed (the path is
        named).

    Examples
    --------
    >>> c = compile_consent({"resourceType": "Consent", "id": "c1", "status": "active",
    ...     "scope": {"coding": [{"code": "research"}]}, "patient": {"reference": "Patient/p1"},
    ...     "policyRule": {"coding": [{"code": "OPTIN"}]}})
    >>> c.patient_id, c.scope, c.root.type
    ('p1', 'research', 'permit')
    """
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Consent":
        raise InvalidInputError(f"expected a FHIR Consent resource (a dict), got {resource!r:.80}")
    consent_id = str(resource.get("id", "?"))
    reference = str((resource.get("patient") or {}).get("reference", ""))
    if not reference.startswith("Patient/") or len(reference) <= len("Patient/"):
        raise InvalidInputError(
            f"Consent/{consent_id} has patient reference {reference!r}; enforcement needs "
            "'Patient/<id>'"
        )
    scope_codes = _concept_codes([resource.get("scope") or {}], f"Consent/{consent_id} scope")
    scope: Literal["patient-privacy", "research", "other"] = (
        "patient-privacy"
        if "patient-privacy" in scope_codes
        else "research"
        if "research" in scope_codes
        else "other"
    )
    root = _compile_provision(resource.get("provision") or {}, "provision", consent_id)
    if root.type is None:
        base = _concept_codes(
            [resource.get("policyRule") or {}], f"Consent/{consent_id} policyRule"
        )
        kinds = {_BASE[code] for code in base if code in _BASE}
        kind: Outcome | None = "deny" if "deny" in kinds else "permit" if kinds else None
        root = dataclasses.replace(root, type=kind)
    return CompiledConsent(
        consent_id=consent_id,
        patient_id=reference.removeprefix("Patient/"),
        active=resource.get("status") == "active",
        scope=scope,
        root=root,
        needs_resource=any(p.needs_resource for p in root.walk()),
    )


@dataclass(frozen=True)
class RequestFacts:
    """What consent evaluation needs of a request, computed once per request."""

    purpose: str
    purposes: frozenset[str]
    actors: frozenset[str]
    actions: frozenset[str]
    resource_type: str
    at_s: float

    @classmethod
    def of(cls, request: AccessRequest) -> RequestFacts:
        """Facts of ``request`` (its time defaults to now)."""
        actors = {request.actor, *(f"Group/{role}" for role in request.roles)}
        if request.organization:
            actors.add(request.organization)
        return cls(
            purpose=request.purpose,
            purposes=frozenset(ancestors(request.purpose)),
            actors=frozenset(actors),
            actions=_CONSENT_ACTIONS[request.action],
            resource_type=request.resource_type,
            at_s=request.time().timestamp(),
        )


@dataclass(frozen=True)
class _ResourceFacts:
    reference: str
    references: frozenset[str]
    authors: frozenset[str]
    time_s: float | None


def _references(value: object) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _resource_facts(resource: Mapping[str, Any]) -> _ResourceFacts:
    time_s: float | None = None
    for name in _TIME_FIELDS:
        value = resource.get(name)
        if isinstance(value, Mapping):
            value = value.get("start")
        if isinstance(value, str):
            try:
                time_s = _instant(value, name)
            except InvalidInputError:
                time_s = None
            break
    return _ResourceFacts(
        reference=f"{resource.get('resourceType')}/{resource.get('id')}",
        references=frozenset(_references(resource)),
        authors=frozenset(
            ref for name in _AUTHOR_FIELDS for ref in _references(resource.get(name))
        ),
        time_s=time_s,
    )


def _known_match(node: Provision, facts: RequestFacts) -> bool:
    return (
        node.period[0] <= facts.at_s < node.period[1]
        and (not node.actors or not node.actors.isdisjoint(facts.actors))
        and (not node.actions or not node.actions.isdisjoint(facts.actions))
        and (not node.purposes or not node.purposes.isdisjoint(facts.purposes))
        and (not node.resource_types or facts.resource_type in node.resource_types)
    )


def _resource_match(node: Provision, resource: _ResourceFacts | None) -> bool | None:
    """True/False when the resource decides the data conditions; None when unknown."""
    if resource is None:
        return None if node.needs_resource else True
    if node.data and not any(_data_hit(meaning, ref, resource) for meaning, ref in node.data):
        return False
    if node.data_period is not None:
        if resource.time_s is None:
            return None
        return node.data_period[0] <= resource.time_s < node.data_period[1]
    return True


def _data_hit(meaning: str, reference: str, resource: _ResourceFacts) -> bool:
    if meaning == "authoredby":
        return reference in resource.authors
    if meaning == "instance":
        return reference == resource.reference
    return reference == resource.reference or reference in resource.references


def _evaluate(
    node: Provision, facts: RequestFacts, resource: _ResourceFacts | None
) -> tuple[int, str]:
    """(NONE | PERMIT | DENY, path of the deciding provision)."""
    if not _known_match(node, facts):
        return NONE, ""
    matched = _resource_match(node, resource)
    if matched is False:
        return NONE, ""
    results = [_evaluate(child, facts, resource) for child in node.children]
    deny = next((r for r in results if r[0] == DENY), None)
    permit = next((r for r in results if r[0] == PERMIT), None)
    outcome = deny or permit or (_CODE[node.type], node.path)
    if matched is None or node.uncertain:
        # Undecidable conditions resolve toward refusal: keep a deny, drop anything else.
        return outcome if outcome[0] == DENY else (NONE, "")
    return outcome


@dataclass(frozen=True)
class ConsentOutcome:
    """The decision of one patient's consents for a request, and what decided it."""

    decision: Outcome | None
    consent_id: str | None = None
    provision: str | None = None


def evaluate_consent(
    consents: Iterable[CompiledConsent],
    request: AccessRequest | RequestFacts,
    resource: Mapping[str, Any] | None = None,
) -> ConsentOutcome:
    """Combine the patient's applicable consents: deny overrides permit; None if none decide.

    Parameters
    ----------
    consents : iterable of CompiledConsent
        The consents of one patient.
    request : AccessRequest or RequestFacts
    resource : dict, optional
        The resource about to be returned; when given, ``data`` and ``dataPeriod`` are
        decided exactly, otherwise toward refusal.

    Examples
    --------
    >>> optout = compile_consent({"resourceType": "Consent", "id": "c1", "status": "active",
    ...     "scope": {"coding": [{"code": "patient-privacy"}]},
    ...     "patient": {"reference": "Patient/p1"},
    ...     "provision": {"type": "deny", "provision": [{"type": "permit",
    ...         "purpose": [{"code": "TREAT"}]}]}})
    >>> def ask(purpose):
    ...     return AccessRequest(actor="Practitioner/1", purpose=purpose, action="r",
    ...                          resource_type="Observation", patient_id="p1")
    >>> evaluate_consent([optout], ask("ETREAT")).decision
    'permit'
    >>> evaluate_consent([optout], ask("HRESCH")).decision
    'deny'
    """
    facts = request if isinstance(request, RequestFacts) else RequestFacts.of(request)
    found = _resource_facts(resource) if resource is not None else None
    permit: ConsentOutcome | None = None
    for consent in consents:
        if not consent.applies_to(facts.purpose):
            continue
        code, path = _evaluate(consent.root, facts, found)
        if code == DENY:
            return ConsentOutcome("deny", consent.consent_id, path)
        if code == PERMIT and permit is None:
            permit = ConsentOutcome("permit", consent.consent_id, path)
    return permit or ConsentOutcome(None)


@dataclass(frozen=True)
class ConsentDefaults:
    """The decision when no consent decides, per purpose (its most specific entry wins).

    The default: treatment, patient requests, payment, operations and public health are
    permitted (implied consent for care, legal duties); research, marketing, training and
    system development are denied unless a consent permits them (express consent).

    Examples
    --------
    >>> ConsentDefaults().allows("ETREAT"), ConsentDefaults().allows("CLINTRCH")
    (True, False)
    """

    by_purpose: Mapping[str, bool] = field(
        default_factory=lambda: MappingProxyType(
            {
                "TREAT": True,
                "PATRQT": True,
                "HPAYMT": True,
                "HOPERAT": True,
                "PUBHLTH": True,
                "HRESCH": False,
                "HMARKT": False,
                "TRAIN": False,
                "SYSDEV": False,
            }
        )
    )
    otherwise: bool = False

    def __post_init__(self) -> None:
        checked = {parse_purpose(code): bool(v) for code, v in self.by_purpose.items()}
        object.__setattr__(self, "by_purpose", MappingProxyType(checked))

    def allows(self, purpose: str) -> bool:
        """Whether ``purpose`` is permitted when no consent decides."""
        for code in ancestors(purpose):
            if code in self.by_purpose:
                return self.by_purpose[code]
        return self.otherwise


def resource_patient(resource: Mapping[str, Any]) -> str | None:
    """The id of the patient a resource belongs to (``None`` for non-patient resources).

    Examples
    --------
    >>> resource_patient({"resourceType": "Observation", "subject": {"reference": "Patient/7"}})
    '7'
    """
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    for name in ("subject", "patient", "beneficiary"):
        value = resource.get(name)
        reference = value.get("reference") if isinstance(value, Mapping) else None
        if isinstance(reference, str) and reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    return None
