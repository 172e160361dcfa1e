"""Access policies as data: who may do what, on which resources, for which purpose.

A request (:class:`AccessRequest`) passes three checks, in this order, and the first that
fails names itself in the :class:`Decision`:

1. ``scope``: the caller's token scopes (SMART App Launch v2, with v1 ``read``/``write``
   accepted) grant the action on the resource type; a ``patient/`` scope only reaches the
   token's own patient (the patient-compartment rule).
2. ``policy``: a rule of the :class:`Policy` permits the request (role or client, action,
   resource type, purpose with its specialisations) and no rule denies it. Deny rules win;
   nothing permitted is denied (default deny).
3. ``permit``: a request made under a project, or matched by a rule that requires one, is
   covered by that project's data permit (EHDS art. 68-style: purposes, datasets, holders,
   validity); expired or not yet valid permits grant nothing.

Consent and opt-out (per patient) come after these, in :mod:`healthtwin.governance.access`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.purpose import ancestors, parse_purpose

__all__ = [
    "ACTIONS",
    "AccessRequest",
    "DataPermit",
    "Decision",
    "Policy",
    "PolicyRule",
    "SmartScope",
    "load_policy",
    "parse_scope",
    "parse_scopes",
]

#: Request actions, in SMART v2 order: create, read, update, delete, search.
ACTIONS = "cruds"
Check = Literal["request", "scope", "policy", "permit", "opt-out", "consent"]
_V1 = {"read": "rs", "write": "cud", "*": ACTIONS}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Z][A-Za-z]*|\*)\.([a-z*]+)(?:\?(.*))?$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


@dataclass(frozen=True)
class SmartScope:
    """One SMART clinical scope, ``<context>/<resource type>.<permissions>[?query]``.

    Attributes
    ----------
    context : {"patient", "user", "system"}
    resource_type : str
        A FHIR resource type or ``"*"``.
    permissions : str
        The letters granted, a subsequence of ``"cruds"``.
    query : tuple of (str, str)
        SMART v2 search-parameter constraints; the scope reaches only requests restricted
        to all of them.
    """

    context: Literal["patient", "user", "system"]
    resource_type: str
    permissions: str
    query: tuple[tuple[str, str], ...] = ()

    def grants(self, action: str, resource_type: str) -> bool:
        """Whether this scope allows ``action`` on ``resource_type`` (context aside)."""
        return action in self.permissions and self.resource_type in ("*", resource_type)


def parse_scope(text: str) -> SmartScope | None:
    """Parse one scope; ``None`` for non-clinical scopes (``openid``, ``launch/patient``...).

    Raises
    ------
    InvalidInputError
        If a clinical scope is malformed (unknown letters, letters out of ``cruds`` order).

    Examples
    --------
    >>> parse_scope("patient/Observation.rs")
    SmartScope(context='patient', resource_type='Observation', permissions='rs', query=())
    >>> parse_scope("user/*.write").permissions
    'cud'
    >>> parse_scope("openid") is None
    True
    """
    text = text.strip()
    if not text.startswith(("patient/", "user/", "system/")):
        return None
    match = _SCOPE.match(text)
    letters = match.group(3) if match else ""
    permissions = _V1.get(letters, letters)
    if match is None or not permissions or not _in_order(permissions):
        raise InvalidInputError(
            f"malformed SMART scope {text!r}; write '<patient|user|system>/<Type|*>."
            "<permissions>' with permissions a subsequence of 'cruds' (v2, e.g. 'rs') or "
            "'read', 'write', '*' (v1)"
        )
    query = tuple(
        (name, value)
        for name, _, value in (part.partition("=") for part in (match.group(4) or "").split("&"))
        if name
    )
    context: Literal["patient", "user", "system"] = match.group(1)  # type: ignore[assignment]
    return SmartScope(context, match.group(2), permissions, query)


def _in_order(letters: str) -> bool:
    position = -1
    for letter in letters:
        found = ACTIONS.find(letter, position + 1)
        if found < 0:
            return False
        position = found
    return True


def parse_scopes(scopes: str | Sequence[str | SmartScope]) -> tuple[SmartScope, ...]:
    """Parse a space-separated scope string or a sequence; non-clinical scopes are dropped.

    Examples
    --------
    >>> [s.resource_type for s in parse_scopes("openid patient/Observation.rs user/*.r")]
    ['Observation', '*']
    """
    items = scopes.split() if isinstance(scopes, str) else scopes
    parsed = (item if isinstance(item, SmartScope) else parse_scope(item) for item in items)
    return tuple(scope for scope in parsed if scope is not None)


@dataclass(frozen=True, kw_only=True)
class AccessRequest:
    """One request for data, as the service sees it after authenticating the caller.

    Attributes
    ----------
    actor : str
        Who asks, as a reference (``"Practitioner/13"``) or a client id.
    roles : tuple of str
        The caller's roles (``"clinician"``, ``"researcher"``...).
    scopes : tuple of SmartScope
        The token's clinical scopes (strings are parsed on construction).
    purpose : str
        A PurposeOfUse code (codes, tokens and Codings are parsed on construction).
    action : str
        One of ``c r u d s``.
    resource_type : str
        The FHIR resource type touched.
    patient_id : str or None
        The patient whose data is touched; ``None`` for a query across patients.
    project : str or None
        The project (data permit) the request is made under.
    organization : str or None
        The caller's organisation reference (consents may name it as actor).
    token_patient_id : str or None
        The patient a ``patient/`` token was issued for (SMART launch context).
    query : tuple of (str, str)
        Search constraints the request is restricted to (for scopes with ``?query``).
    at : datetime or None
        When the request is made (UTC-aware); ``None`` means now.
    """

    actor: str
    roles: tuple[str, ...] = ()
    scopes: tuple[SmartScope, ...] = ()
    purpose: str
    action: str
    resource_type: str
    patient_id: str | None = None
    project: str | None = None
    organization: str | None = None
    token_patient_id: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.actor, str) or not self.actor.strip():
            raise InvalidInputError(f"request actor must be a non-empty string, got {self.actor!r}")
        if not isinstance(self.action, str) or len(self.action) != 1 or self.action not in ACTIONS:
            raise InvalidInputError(
                f"request action {self.action!r} is not one of c, r, u, d, s (create, read, "
                "update, delete, search)"
            )
        if not isinstance(self.resource_type, str) or not _RESOURCE_TYPE.match(self.resource_type):
            raise InvalidInputError(
                f"request resource type {self.resource_type!r} is not a FHIR resource type "
                "name such as 'Observation'"
            )
        if self.at is not None and (self.at.tzinfo is None or self.at.utcoffset() is None):
            raise InvalidInputError(
                f"request time {self.at.isoformat()} has no time zone; give an aware datetime"
            )
        object.__setattr__(self, "roles", tuple(self.roles))
        object.__setattr__(self, "scopes", parse_scopes(self.scopes))
        object.__setattr__(self, "purpose", parse_purpose(self.purpose))
        object.__setattr__(self, "query", tuple(self.query))

    def time(self) -> datetime:
        """The request time, now when not given."""
        return datetime.now(UTC) if self.at is None else self.at


@dataclass(frozen=True)
class Decision:
    """The answer to a request: allowed or not, why, and by what.

    ``failed_check`` names the check that refused (``scope``, ``policy``, ``permit``,
    ``opt-out``, ``consent``) and is ``None`` when allowed; ``matched_rule`` is the policy
    rule (or consent provision) that decided.
    """

    allowed: bool
    reason: str
    matched_rule: str | None = None
    failed_check: Check | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def deny(cls, check: Check, reason: str, matched_rule: str | None = None) -> Decision:
        """A refusal by ``check``."""
        return cls(False, reason, matched_rule, check)


def _codes(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(parse_purpose(value) for value in values)


def _letters(value: str | Sequence[str]) -> str:
    letters = "".join(value)
    bad = sorted(set(letters) - set(ACTIONS))
    if bad or not letters:
        raise ValueError(f"actions {value!r} must be letters of 'cruds', got {bad or 'none'}")
    return "".join(letter for letter in ACTIONS if letter in letters)


def _types(values: Sequence[str]) -> tuple[str, ...]:
    for value in values:
        if value != "*" and not _RESOURCE_TYPE.match(value):
            raise ValueError(f"{value!r} is not a FHIR resource type name or '*'")
    return tuple(values)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyRule(_Frozen):
    """One rule: ``effect`` for these roles or clients, actions, resource types, purposes.

    ``roles`` and ``clients`` accept ``"*"`` (any authenticated caller); ``purposes`` cover
    their specialisations (``TREAT`` covers ``ETREAT``).
    """

    id: str = Field(min_length=1)
    effect: Literal["permit", "deny"] = "permit"
    roles: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    actions: str = Field(min_length=1)
    resource_types: tuple[str, ...] = Field(min_length=1)
    purposes: tuple[str, ...] = Field(min_length=1)
    requires_permit: bool = False

    @field_validator("actions", mode="before")
    @classmethod
    def _check_actions(cls, value: str | Sequence[str]) -> str:
        return _letters(value)

    @field_validator("resource_types")
    @classmethod
    def _check_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _types(value)

    @field_validator("purposes")
    @classmethod
    def _check_purposes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _codes(value)

    @model_validator(mode="after")
    def _someone(self) -> PolicyRule:
        if not self.roles and not self.clients:
            raise ValueError(
                f"rule {self.id!r} names no roles and no clients; it would never apply"
            )
        return self

    def applies(self, request: AccessRequest) -> bool:
        """Whether the rule's conditions all hold for ``request``."""
        who = (
            "*" in self.roles
            or "*" in self.clients
            or request.actor in self.clients
            or any(role in self.roles for role in request.roles)
        )
        return (
            who
            and request.action in self.actions
            and ("*" in self.resource_types or request.resource_type in self.resource_types)
            and any(code in self.purposes for code in ancestors(request.purpose))
        )


class DataPermit(_Frozen):
    """A project's data permit: purposes, datasets, holders, actions and validity."""

    project: str = Field(min_length=1)
    purposes: tuple[str, ...] = Field(min_length=1)
    datasets: tuple[str, ...] = Field(min_length=1)
    holders: tuple[str, ...] = ()
    actions: str = "rs"
    valid_from: datetime | None = None
    expires: datetime

    @field_validator("actions", mode="before")
    @classmethod
    def _check_actions(cls, value: str | Sequence[str]) -> str:
        return _letters(value)

    @field_validator("purposes")
    @classmethod
    def _check_purposes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _codes(value)

    @field_validator("valid_from", "expires")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{value.isoformat()} has no time zone; write e.g. '...Z'")
        return value


class Policy(_Frozen):
    """Rules, datasets (name -> resource types) and project permits; default deny.

    Examples
    --------
    >>> policy = Policy.model_validate({"rules": [{"id": "care", "roles": ["clinician"],
    ...     "actions": "rs", "resource_types": ["Observation"], "purposes": ["TREAT"]}]})
    >>> request = AccessRequest(actor="Practitioner/1", roles=("clinician",),
    ...     scopes=("user/Observation.rs",), purpose="ETREAT", action="r",
    ...     resource_type="Observation")
    >>> policy.decide(request).allowed
    True
    >>> policy.decide(AccessRequest(actor="Practitioner/1", roles=("clinician",),
    ...     scopes=("user/Observation.rs",), purpose="HRESCH", action="r",
    ...     resource_type="Observation")).failed_check
    'policy'
    """

    version: Literal[1] = 1
    default: Literal["deny"] = "deny"
    rules: tuple[PolicyRule, ...] = ()
    datasets: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    permits: tuple[DataPermit, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for what, ids in (("rule", [r.id for r in self.rules]), ("permit", self._projects())):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {what} ids {duplicates}; give each a unique id")
        for permit in self.permits:
            missing = sorted(set(permit.datasets) - set(self.datasets))
            if missing:
                raise ValueError(
                    f"permit {permit.project!r} names datasets {missing} that the policy "
                    f"does not define (defined: {sorted(self.datasets)})"
                )
        for name, types in self.datasets.items():
            _types(types)
            if not types:
                raise ValueError(f"dataset {name!r} lists no resource types")
        return self

    def _projects(self) -> list[str]:
        return [permit.project for permit in self.permits]

    def permit_for(self, project: str) -> DataPermit | None:
        """The permit of ``project``, if the policy holds one."""
        return next((p for p in self.permits if p.project == project), None)

    def decide(self, request: AccessRequest) -> Decision:
        """Check scopes, rules and permit (in that order); the first failure is the reason."""
        refusal = _scope_refusal(request)
        if refusal is not None:
            return refusal
        applicable = [rule for rule in self.rules if rule.applies(request)]
        deny = next((rule for rule in applicable if rule.effect == "deny"), None)
        if deny is not None:
            return Decision.deny(
                "policy", f"policy rule {deny.id!r} denies {_what(request)}", deny.id
            )
        permit_rule = next((rule for rule in applicable if rule.effect == "permit"), None)
        if permit_rule is None:
            return Decision.deny(
                "policy", f"no policy rule permits {_what(request)} (default deny)"
            )
        if permit_rule.requires_permit or request.project is not None:
            refusal = self._permit_refusal(request, permit_rule.id)
            if refusal is not None:
                return refusal
        return Decision(
            True, f"policy rule {permit_rule.id!r} permits {_what(request)}", permit_rule.id
        )

    def _permit_refusal(self, request: AccessRequest, rule_id: str) -> Decision | None:
        if request.project is None:
            return Decision.deny(
                "permit",
                f"rule {rule_id!r} needs a project data permit; the request names none",
                rule_id,
            )
        permit = self.permit_for(request.project)
        problem = _permit_problem(permit, request, self.datasets)
        if problem is None:
            return None
        return Decision.deny("permit", f"project {request.project!r}: {problem}", rule_id)


def _what(request: AccessRequest) -> str:
    return (
        f"{request.action!r} on {request.resource_type} for {request.purpose} by "
        f"{request.actor} (roles {list(request.roles)})"
    )


def _scope_refusal(request: AccessRequest) -> Decision | None:
    for scope in request.scopes:
        if not scope.grants(request.action, request.resource_type):
            continue
        if not all(item in request.query for item in scope.query):
            continue
        if scope.context == "patient" and (
            request.patient_id is None or request.patient_id != request.token_patient_id
        ):
            continue
        return None
    patient_only = any(
        s.context == "patient" and s.grants(request.action, request.resource_type)
        for s in request.scopes
    )
    hint = (
        f"; its patient/ scopes reach only patient {request.token_patient_id!r}, the request "
        f"touches {request.patient_id!r}"
        if patient_only
        else ""
    )
    return Decision.deny(
        "scope",
        f"token scopes {[_text(s) for s in request.scopes]} do not grant {request.action!r} on "
        f"{request.resource_type}{hint}",
    )


def _text(scope: SmartScope) -> str:
    query = "&".join(f"{k}={v}" for k, v in scope.query)
    return f"{scope.context}/{scope.resource_type}.{scope.permissions}" + (
        f"?{query}" if query else ""
    )


def _permit_problem(
    permit: DataPermit | None, request: AccessRequest, datasets: Mapping[str, tuple[str, ...]]
) -> str | None:
    if permit is None:
        return "no data permit on file"
    at = request.time()
    if permit.valid_from is not None and at < permit.valid_from:
        return f"permit valid only from {permit.valid_from.isoformat()}"
    if at >= permit.expires:
        return f"permit expired at {permit.expires.isoformat()}"
    if permit.holders and request.actor not in permit.holders:
        return f"{request.actor} is not a holder of the permit (holders {list(permit.holders)})"
    if not any(code in permit.purposes for code in ancestors(request.purpose)):
        return f"purpose {request.purpose} is not among the permit's {list(permit.purposes)}"
    if request.action not in permit.actions:
        return f"action {request.action!r} is not among the permit's {permit.actions!r}"
    types = {t for name in permit.datasets for t in datasets[name]}
    if "*" not in types and request.resource_type not in types:
        return (
            f"{request.resource_type} is in none of the permit's datasets "
            f"{list(permit.datasets)} ({sorted(types)})"
        )
    return None


def load_policy(source: Path | str | Mapping[str, Any]) -> Policy:
    """Load a policy from a YAML/JSON file, YAML text or a mapping; validate it.

    Raises
    ------
    InvalidParameterError
        If the policy breaks its schema (every problem is listed with its location).
    InvalidInputError
        If the file cannot be read or is not YAML.

    Examples
    --------
    >>> load_policy("rules: []").decide(AccessRequest(actor="a", scopes=("system/*.rs",),
    ...     purpose="TREAT", action="r", resource_type="Patient")).reason
    "no policy rule permits 'r' on Patient for TREAT by a (roles []) (default deny)"
    """
    data: Any = source
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and source.endswith((".yaml", ".yml", ".json"))
    ):
        try:
            data = Path(source).read_text(encoding="utf-8")
        except OSError as err:
            raise InvalidInputError(f"cannot read policy file {str(source)!r}: {err}") from err
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as err:
            raise InvalidInputError(f"policy is not valid YAML/JSON: {err}") from err
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in err.errors()
        )
        raise InvalidParameterError(f"invalid access policy: {problems}") from err
