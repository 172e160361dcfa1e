"""The governance layer of the twin API: every ``/api/v1`` request authenticated, decided, audited.

:class:`ApiGovernance` is ASGI middleware doing for ``/api/v1`` what
:class:`~healthtwin.api.governance_layer.GovernanceLayer` does for ``/fhir``, with the same
configuration (:class:`~healthtwin.api.security.SecurityConfig`):

1. the bearer token is validated (``401`` otherwise) and the client's rate-limit bucket
   spent (``429``);
2. the purpose of use comes from the purpose header (or the configured default) and must be
   among the token's ``purpose_of_use`` claim when it has one (``403``);
3. :func:`classify_v1` maps method and path to a SMART action on a FHIR resource type and
   names the patient the request touches (a twin's patient, the ``patient_id`` of a twin
   being created, a recommendation's patient); the
   :class:`~healthtwin.governance.access.AccessController` decides with that patient's
   consents, or the policy alone when no patient is touched (``403`` on refusal);
4. one audit event per request (actor, interaction, purpose, outcome, patient, decision)
   is written before the first byte of the answer leaves, streams included; if it cannot
   be written the answer is ``503``.

Resource types and actions (the policy's vocabulary):

============================================  =========================  ======
request                                       resource type              action
============================================  =========================  ======
``GET /twins``                                Patient                    s
``POST /twins``                               Observation                c
``GET /twins/{id}[/state|/forecast|/stream]`` Observation                r
``GET /twins/{id}/vitals|news2``              Observation                r
``POST /twins/{id}/observations|events``      Observation                c
``POST /twins/{id}/vitals``                   Observation                c
``POST /twins/{id}/what-if``                  Observation                r
``GET|POST /twins/{id}/recommendations``      GuidanceResponse           s / c
``GET /recommendations/{id}``                 GuidanceResponse           r
``POST /recommendations/{id}/accept|override`` GuidanceResponse          u
``/jobs``, ``/scenarios``, ``/regions``       Task                       s, r, c, u
``/alarms``                                   DetectedIssue              s / c
``/hospitals``                                Location                   s, r, c, u
``/federated-runs``                           Task                       s, r, c
``/worlds`` (world scenario runs)             Task                       s, r, c
``/education`` (virtual patients)              Task                       r, c, u
``/governance/audit``                         AuditEvent                 s
``/governance/cards``                         Library                    s
``/governance/consents``                      Consent                    s
============================================  =========================  ======
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from healthtwin.api.asgi_body import read_body, replay_body
from healthtwin.api.consent_source import ConsentSource
from healthtwin.api.hardening import ASGIApp, Message, RateLimiter, Receive, Scope, Send
from healthtwin.api.security import (
    AuthenticationError,
    Principal,
    SecurityConfig,
    bearer_token,
    principal_from_claims,
    validate_token,
)
from healthtwin.errors import InvalidInputError, TwinError
from healthtwin.governance.access import AccessController
from healthtwin.governance.policy import AccessRequest, Decision, Policy, parse_scopes
from healthtwin.governance.purpose import ancestors, parse_purpose
from healthtwin.store import Store

__all__ = ["PREFIX", "ApiGovernance", "PatientResolver", "V1Interaction", "classify_v1"]

PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
_LOG = logging.getLogger(__name__)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: What the twin layer knows about whose data a request touches: (kind, id) -> patient id.
PatientResolver = Callable[[str, str], str | None]


@dataclass(frozen=True)
class V1Interaction:
    """What an ``/api/v1`` request does: a name, a SMART action, a type, whose data."""

    kind: str
    action: str
    resource_type: str | None
    target: tuple[str, str] | None = None


_COLLECTIONS = {
    "jobs": "Task",
    "scenarios": "Task",
    "regions": "Task",
    "alarms": "DetectedIssue",
    # A hospital twin is about beds and units (aggregate flow), no one patient's data.
    "hospitals": "Location",
    "federated-runs": "Task",
    # A world run simulates populations and hospitals: no one patient's data.
    "worlds": "Task",
    # Training sessions play virtual patients: no real patient's data is touched.
    "education": "Task",
}
_ACTIONS = {"GET": "r", "POST": "c", "PUT": "u", "PATCH": "u", "DELETE": "d"}


def classify_v1(method: str, path: str) -> V1Interaction:
    """The interaction of ``method`` on ``path`` (below ``/api/v1``).

    Examples
    --------
    >>> classify_v1("POST", "/api/v1/twins/t1/observations")
    V1Interaction(kind='observe', action='c', resource_type='Observation', target=('twin', 't1'))
    >>> classify_v1("POST", "/api/v1/recommendations/r9/accept").action
    'u'
    >>> classify_v1("GET", "/api/v1/jobs/j1").resource_type
    'Task'
    """
    parts = [p for p in path.removeprefix(PREFIX).strip("/").split("/") if p]
    method = method.upper()
    if not parts:
        return V1Interaction("other", "r", None)
    head, rest = parts[0], parts[1:]
    if head == "twins":
        return _classify_twins(method, rest)
    if head == "recommendations" and rest:
        action = "u" if len(rest) > 1 and method == "POST" else "r"
        return V1Interaction(
            "decide" if action == "u" else "read",
            action,
            "GuidanceResponse",
            ("recommendation", rest[0]),
        )
    if head in _COLLECTIONS:
        action = _ACTIONS.get(method, "r")
        action = "s" if action == "r" and not rest else action
        action = "u" if method == "POST" and len(rest) > 1 else action
        return V1Interaction(head, action, _COLLECTIONS[head])
    if head == "governance" and rest:
        rtype = {"audit": "AuditEvent", "cards": "Library", "consents": "Consent"}.get(rest[0])
        return V1Interaction("governance", "s", rtype)
    return V1Interaction("other", "r", None)


def _classify_twins(method: str, rest: list[str]) -> V1Interaction:
    if not rest:
        if method == "POST":
            return V1Interaction("create-twin", "c", "Observation")
        return V1Interaction("list-twins", "s", "Patient")
    target = ("twin", rest[0])
    sub = rest[1] if len(rest) > 1 else "state"
    if sub == "observations" and method == "POST":
        return V1Interaction("observe", "c", "Observation", target)
    if sub == "vitals" and method == "POST":
        return V1Interaction("observe-vitals", "c", "Observation", target)
    if sub == "recommendations":
        action = "c" if method == "POST" else "s"
        return V1Interaction("recommend", action, "GuidanceResponse", target)
    if method == "POST" and sub != "what-if":
        return V1Interaction(f"{sub}-write", "c", "Observation", target)
    return V1Interaction(sub, "r", "Observation", target)


class ApiGovernance:
    """ASGI middleware enforcing authentication, access, consent and audit on ``/api/v1``.

    Parameters
    ----------
    app : ASGI application
    config : SecurityConfig
        An enabled configuration (production or development).
    store : Store
        Where consents are read and audit events written.
    resolve_patient : PatientResolver
        ``(kind, id) -> patient id`` for twins and recommendations.
    consents : ConsentSource, optional
        The consents on file, shared with the ``/fhir`` layer (default: a new source over
        ``store`` and ``config.consents``); kept up to date as Consents are written.

    Notes
    -----
    The routes see ``request.state.may_read_patient``: ``patient id -> bool``, the decision
    a read of that patient's twin would get (so ``GET /twins`` lists only those).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: SecurityConfig,
        store: Store,
        resolve_patient: PatientResolver,
        consents: ConsentSource | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.store = store
        self.resolve_patient = resolve_patient
        self.consents = consents or ConsentSource(store, config.consents)
        self.policy = config.policy or Policy()
        self.limiter = RateLimiter(config.rate_per_s, config.burst)
        self._header = config.purpose_header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        try:
            principal = self._authenticate(headers)
        except AuthenticationError as err:
            await self._unauthenticated(scope, send, err)
            return
        wait = self.limiter.take(f"client:{principal.client_id}")
        if wait > 0:
            retry = [(b"retry-after", RateLimiter.retry_after(wait).encode())]
            await _problem(send, 429, "rate limit exceeded", "retry later", retry)
            return
        interaction = classify_v1(scope["method"], path)
        body = await read_body(receive) if scope["method"] in ("POST", "PUT", "PATCH") else b""
        call = _Call(principal, interaction)
        try:
            call.purpose = self._purpose(headers)
            call.patient = await run_in_threadpool(self._patient, interaction, body)
            decision = await run_in_threadpool(self._decide, call)
        except TwinError as err:
            await self._refuse(send, call, 400, "invalid request", str(err))
            return
        call.decision = decision
        if not decision.allowed:
            reason = f"access refused ({decision.failed_check or 'policy'}): {decision.reason}"
            await self._refuse(send, call, 403, "forbidden", reason[:500])
            return
        inner = dict(scope)
        inner["headers"] = [(k, v) for k, v in scope.get("headers", []) if k != b"x-actor"] + [
            (b"x-actor", principal.actor[:255].encode("utf-8", errors="replace"))
        ]
        inner["state"] = {**scope.get("state", {}), "may_read_patient": self._reader(call)}
        await self.app(inner, replay_body(body, receive), self._audited_send(send, call))

    async def _unauthenticated(self, scope: Scope, send: Send, err: AuthenticationError) -> None:
        client = scope.get("client") or ("unknown", 0)
        wait = self.limiter.take(f"address:{client[0]}")
        if wait > 0:
            retry = [(b"retry-after", RateLimiter.retry_after(wait).encode())]
            await _problem(send, 429, "too many failed authentications", "retry later", retry)
            return
        details = {"status": 401, "reason": str(err)[:300], "address": str(client[0]), "api": "v1"}
        try:
            await run_in_threadpool(
                lambda: self.store.record_audit(
                    actor="unauthenticated",
                    action="authenticate",
                    outcome="minor-failure",
                    details=details,
                )
            )
        except TwinError:
            _LOG.exception("could not audit a refused authentication")
        challenge = err.www_authenticate().encode("latin-1")
        await _problem(send, 401, "unauthenticated", str(err), [(b"www-authenticate", challenge)])

    def _authenticate(self, headers: Mapping[bytes, bytes]) -> Principal:
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1") or None)
        principal = principal_from_claims(validate_token(token, self.config))
        try:
            parse_scopes(principal.scopes)
        except InvalidInputError as err:
            raise AuthenticationError(f"the token's scope claim is malformed: {err}") from err
        return principal

    def _purpose(self, headers: Mapping[bytes, bytes]) -> str:
        raw = headers.get(self._header, b"").decode("latin-1").strip()
        raw = raw or self.config.default_purpose or ""
        if not raw:
            raise InvalidInputError(
                f"no purpose of use; send the header {self.config.purpose_header}: <v3 "
                "ActReason code> (TREAT, HRESCH, PUBHLTH...)"
            )
        return parse_purpose(raw)

    def _patient(self, interaction: V1Interaction, body: bytes) -> str | None:
        if interaction.kind == "create-twin":
            try:
                data = json.loads(body) if body else {}
            except ValueError:
                return None
            patient = data.get("patient_id") if isinstance(data, dict) else None
            return str(patient) if patient else None
        if interaction.target is None:
            return None
        return self.resolve_patient(*interaction.target)

    def _decide(self, call: _Call) -> Decision:
        p, it = call.principal, call.interaction
        if p.purposes:
            allowed = {parse_purpose(x) for x in p.purposes}
            if not allowed.intersection(ancestors(call.purpose)):
                return Decision.deny(
                    "request",
                    f"purpose {call.purpose} is not among the token's purposes {sorted(allowed)}",
                )
        if it.resource_type is None:
            return Decision(True, "authenticated; no resource is touched")
        request = AccessRequest(
            actor=p.actor,
            roles=p.roles,
            scopes=parse_scopes(p.scopes),
            purpose=call.purpose,
            action=it.action,
            resource_type=it.resource_type,
            patient_id=call.patient or p.patient_id,
            project=p.project,
            organization=p.organization,
            token_patient_id=p.patient_id,
        )
        if call.patient is None:
            return self.policy.decide(request)
        # The source looks at the store first: a Consent written by any path counts at once.
        consents = self.consents.index()
        return AccessController(self.policy, consents, self.config.optouts).decide(request)

    def _reader(self, call: _Call) -> Callable[[str], bool]:
        """Whether the caller may read a patient's twin (``GET /twins/{id}``'s decision)."""
        verdicts: dict[str, bool] = {}

        def may_read(patient_id: str) -> bool:
            if patient_id not in verdicts:
                read = V1Interaction("state", "r", "Observation", ("twin", "?"))
                one = _Call(call.principal, read, call.purpose, patient_id)
                verdicts[patient_id] = self._decide(one).allowed
            return verdicts[patient_id]

        return may_read

    def _audited_send(self, send: Send, call: _Call) -> Send:
        state = {"blocked": False}

        async def audited(message: Message) -> None:
            if state["blocked"]:
                return
            if message["type"] == "http.response.start":
                try:
                    await run_in_threadpool(self._audit, call, int(message["status"]))
                except TwinError:
                    _LOG.exception("could not write the audit event; the answer is withheld")
                    state["blocked"] = True
                    await _problem(send, 503, "audit log unavailable", "retry later")
                    return
            await send(message)

        return audited

    async def _refuse(self, send: Send, call: _Call, status: int, title: str, detail: str) -> None:
        try:
            await run_in_threadpool(self._audit, call, status)
        except TwinError:
            _LOG.exception("could not audit a refused request")
            status, title, detail = 503, "audit log unavailable", "retry later"
        await _problem(send, status, title, detail)

    def _audit(self, call: _Call, status: int) -> None:
        outcome = (
            "success" if status < 400 else ("serious-failure" if status >= 500 else "minor-failure")
        )
        details: dict[str, Any] = {
            "status": status,
            "client": call.principal.client_id,
            "roles": list(call.principal.roles),
            "api": "v1",
        }
        if call.decision is not None:
            details.update(
                reason=call.decision.reason[:500],
                failed_check=call.decision.failed_check,
                rule=call.decision.matched_rule,
            )
        refs: tuple[str, ...] = ()
        target = call.interaction.target
        if target is not None and _ID.match(target[1]):
            ref_type = "Device" if target[0] == "twin" else "GuidanceResponse"
            refs = (f"{ref_type}/{target[1]}",)
        patient = call.patient if call.patient and _ID.match(call.patient) else None
        self.store.record_audit(
            actor=call.principal.actor[:255],
            action=call.interaction.kind,
            outcome=outcome,
            purpose=call.purpose or None,
            resource_refs=refs,
            details=details,
            patient=f"Patient/{patient}" if patient else None,
        )


@dataclass
class _Call:
    principal: Principal
    interaction: V1Interaction
    purpose: str = ""
    patient: str | None = None
    decision: Decision | None = None


async def _problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    )
    data = payload.encode()
    out = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(data)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": data})
