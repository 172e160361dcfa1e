"""The governance layer: every FHIR request authenticated, authorised, consent-filtered, audited.

:class:`GovernanceLayer` is ASGI middleware around the FHIR routes. For each request under
``/fhir`` (``/fhir/metadata`` stays public, as SMART requires) it

1. validates the bearer token (:mod:`healthtwin.api.security`; ``401`` otherwise) and
   spends one token of the client's rate-limit bucket (``429`` with ``Retry-After``);
2. reads the purpose of use from the ``X-Purpose-Of-Use`` header (a v3 ActReason code),
   which must be among the token's ``purpose_of_use`` claim when it has one;
3. builds an :class:`~healthtwin.governance.policy.AccessRequest` per touched patient
   (:func:`classify` maps method and path to the SMART action: GET read ``r``, search
   ``s``, POST ``c``, PUT ``u``, DELETE ``d``) and asks the
   :class:`~healthtwin.governance.access.AccessController` (scopes with the patient
   compartment, policy, permit, opt-out, consent); a refusal is ``403``;
4. checks what comes back: a read is re-decided for the patient the resource belongs to
   (a token for patient A never reads patient B), and every Bundle (search, history,
   ``$everything``, batch) loses the entries of patients whose consent refuses the
   request; a governed searchset carries no ``total`` (it would count withheld entries);
5. records one audit event per request (actor, action, purpose, outcome, patient, query,
   decision reason, failed check, entries withheld) before any byte of the answer leaves;
   if the audit cannot be written the answer is ``503`` and no data leaves.

The caller's identity replaces any ``X-Actor`` header, so the store's own write events
name the authenticated actor too.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.concurrency import run_in_threadpool

from healthtwin.api.asgi_body import read_body, replay_body
from healthtwin.api.consent_source import ConsentSource
from healthtwin.api.hardening import ASGIApp, Message, RateLimiter, Receive, Scope, Send
from healthtwin.api.outcome import FHIR_JSON, http_status, operation_outcome
from healthtwin.api.security import (
    AuthenticationError,
    Principal,
    SecurityConfig,
    VerifiedTokens,
    bearer_token,
)
from healthtwin.errors import InvalidInputError, NotFoundError, TwinError
from healthtwin.governance.access import AccessController
from healthtwin.governance.consent import resource_patient
from healthtwin.governance.policy import AccessRequest, Decision, Policy, SmartScope, parse_scopes
from healthtwin.governance.purpose import ancestors, parse_purpose
from healthtwin.store import Store

__all__ = ["ConsentSource", "GovernanceLayer", "Interaction", "classify", "search_patient"]

JSONDict = dict[str, Any]
_LOG = logging.getLogger(__name__)
_READS = ("read", "vread", "history")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_BUNDLES = ("search", "history", "everything", "transaction")


@dataclass(frozen=True)
class Interaction:
    """What a request does: its FHIR interaction, SMART action, type and id."""

    kind: str
    action: str
    resource_type: str | None = None
    resource_id: str | None = None


def classify(method: str, path: str) -> Interaction:
    """The interaction of ``method`` on ``path`` (below ``/fhir``).

    Examples
    --------
    >>> classify("GET", "/fhir/Observation/o1")
    Interaction(kind='read', action='r', resource_type='Observation', resource_id='o1')
    >>> classify("POST", "/fhir/Observation/_search").kind
    'search'
    >>> classify("GET", "/fhir/Patient/p1/$everything").action
    'r'
    """
    parts = [unquote(p) for p in path.removeprefix("/fhir").strip("/").split("/") if p]
    method = method.upper()
    if not parts:
        return Interaction("transaction", "c") if method == "POST" else Interaction("other", "r")
    if parts == ["metadata"]:
        return Interaction("metadata", "r")
    kind_type, rid = parts[0], parts[1] if len(parts) > 1 else None
    table: dict[tuple[str, int, str | None], tuple[str, str]] = {
        ("GET", 1, None): ("search", "s"),
        ("POST", 1, None): ("create", "c"),
        ("POST", 2, "_search"): ("search", "s"),
        ("GET", 2, None): ("read", "r"),
        ("PUT", 2, None): ("update", "u"),
        ("PATCH", 2, None): ("update", "u"),
        ("DELETE", 2, None): ("delete", "d"),
        ("GET", 3, "$everything"): ("everything", "r"),
        ("GET", 3, "_history"): ("history", "r"),
        ("GET", 4, "_history"): ("vread", "r"),
    }
    marker = parts[-1] if len(parts) == 2 and parts[-1] == "_search" else None
    marker = parts[2] if len(parts) >= 3 else marker
    found = table.get((method, len(parts), marker))
    if found is None:
        return Interaction("other", "r", kind_type, rid)
    kind, action = found
    return Interaction(kind, action, kind_type, None if kind == "search" else rid)


def _patient_value(value: str) -> str | None:
    values = {v.strip() for v in value.split(",") if v.strip()}
    if len(values) != 1:
        return None
    text = values.pop().split("/_history")[0]
    if "/" in text:
        kind, _, pid = text.rpartition("/")
        return pid if kind.rsplit("/", 1)[-1] == "Patient" else None
    return text


def search_patient(resource_type: str, params: Iterable[tuple[str, str]]) -> str | None:
    """The one patient a search is restricted to (``patient``, ``subject`` or ``_id``).

    Examples
    --------
    >>> search_patient("Observation", [("subject", "Patient/7"), ("code", "x")])
    '7'
    >>> search_patient("Patient", [("_id", "7")]), search_patient("Observation", [])
    ('7', None)
    """
    names = ("_id",) if resource_type == "Patient" else ("patient", "subject", "subject:Patient")
    found = {_patient_value(v) for k, v in params if k in names}
    if len(found) != 1:
        return None
    return found.pop()


@dataclass
class _Call:
    """One request in flight: who, why, what, and what was decided."""

    principal: Principal
    scopes: tuple[SmartScope, ...]
    purpose: str
    interaction: Interaction
    params: list[tuple[str, str]]
    body: Any = None
    patient: str | None = None
    decision: Decision | None = None
    n_removed: int = 0
    withheld: Decision | None = None
    refs: list[str] = field(default_factory=list)

    def request(
        self, resource_type: str, patient: str | None, action: str | None = None
    ) -> AccessRequest:
        p = self.principal
        return AccessRequest(
            actor=p.actor,
            roles=p.roles,
            scopes=self.scopes,
            purpose=self.purpose,
            action=action or self.interaction.action,
            resource_type=resource_type,
            patient_id=patient,
            project=p.project,
            organization=p.organization,
            token_patient_id=p.patient_id,
            query=tuple(self.params),
        )


class _AuditFailedError(Exception):
    """The audit event could not be written (answered 503, no data leaves)."""


class _RefusedError(Exception):
    """A decision refused the request (answered 403)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


class GovernanceLayer:
    """ASGI middleware enforcing authentication, access, consent and audit on ``/fhir``.

    Parameters
    ----------
    app : ASGI application
    config : SecurityConfig
        An enabled configuration (production or development).
    store : Store
        Where consents are read and audit events written.
    consents : ConsentSource, optional
        The consents on file, shared with the ``/api/v1`` layer (default: a new source
        over ``store`` and ``config.consents``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: SecurityConfig,
        store: Store,
        consents: ConsentSource | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.store = store
        self.consents = consents or ConsentSource(store, config.consents)
        self.policy = config.policy or Policy()
        self.limiter = RateLimiter(config.rate_per_s, config.burst)
        self.tokens = VerifiedTokens(config)
        self._header = config.purpose_header.lower().encode()

    def controller(self) -> AccessController:
        """The access controller over the current consents."""
        return AccessController(self.policy, self.consents.index(), self.config.optouts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/fhir" or path.startswith("/fhir/")):
            await self.app(scope, receive, send)
            return
        interaction = classify(scope["method"], path)
        if interaction.kind == "metadata" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            # HEAD would answer a read's status and ETag without the body the checks need.
            await _answer(send, 405, _outcome(f"{scope['method']} is not served", "not-supported"))
            return
        headers = dict(scope.get("headers", []))
        try:
            principal, scopes = self._authenticate(headers)
        except AuthenticationError as err:
            await self._unauthenticated(scope, send, err)
            return
        wait = self.limiter.take(f"client:{principal.client_id}")
        if wait > 0:
            await _answer(
                send,
                429,
                _outcome("rate limit exceeded; retry later", "throttled"),
                [(b"retry-after", RateLimiter.retry_after(wait).encode())],
            )
            return
        try:
            call = _Call(principal, scopes, "", interaction, [])
            await self._governed(scope, receive, send, call, headers)
        except TwinError as err:
            status, body = http_status(err)
            await _answer(send, status, body)

    def _authenticate(
        self, headers: Mapping[bytes, bytes]
    ) -> tuple[Principal, tuple[SmartScope, ...]]:
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1") or None)
        principal = self.tokens.principal(token)
        try:
            return principal, parse_scopes(principal.scopes)
        except InvalidInputError as err:
            raise AuthenticationError(f"the token's scope claim is malformed: {err}") from err

    async def _unauthenticated(self, scope: Scope, send: Send, err: AuthenticationError) -> None:
        client = scope.get("client") or ("unknown", 0)
        wait = self.limiter.take(f"address:{client[0]}")
        if wait > 0:
            await _answer(
                send,
                429,
                _outcome("too many failed authentications", "throttled"),
                [(b"retry-after", RateLimiter.retry_after(wait).encode())],
            )
            return
        details = {"status": 401, "reason": str(err)[:300], "address": str(client[0])}
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
        await _answer(send, 401, _outcome(str(err), "login"), [(b"www-authenticate", challenge)])

    def _purpose(self, headers: Mapping[bytes, bytes]) -> str:
        raw = (
            headers.get(self._header, b"").decode("latin-1").strip() or self.config.default_purpose
        )
        if raw is None:
            raise InvalidInputError(
                f"no purpose of use; send the header {self.config.purpose_header}: <v3 "
                "ActReason code> (TREAT, HRESCH, PUBHLTH...)"
            )
        return parse_purpose(raw)

    @staticmethod
    def _check_purpose(call: _Call) -> None:
        """The token's ``purpose_of_use`` claim, when present, bounds the request's purpose."""
        if not call.principal.purposes:
            return
        allowed = {parse_purpose(p) for p in call.principal.purposes}
        if not allowed.intersection(ancestors(call.purpose)):
            raise _RefusedError(
                Decision.deny(
                    "request",
                    f"purpose {call.purpose} is not among the token's purposes {sorted(allowed)}",
                )
            )

    async def _governed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        call: _Call,
        headers: Mapping[bytes, bytes],
    ) -> None:
        """Decide, run the request, check its answer and audit it, then answer.

        Work that may touch the store (consents, owners, the audit) runs on a worker
        thread, in as few hops as the order allows: the decisions before the request (on
        the event loop when they are policy-only), then the answer's checks and the audit
        in one hop.
        """
        interaction = call.interaction
        raw_body = await read_body(receive) if scope["method"] in ("POST", "PUT", "PATCH") else b""
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if interaction.kind == "search" and scope["method"] == "POST":
            params += parse_qsl(raw_body.decode("utf-8", errors="replace"), keep_blank_values=True)
        call.params, call.body = params, _json_or_none(raw_body)
        try:
            call.purpose = self._purpose(headers)
            self._check_purpose(call)
            if _policy_only(call):
                self._before(call)
            else:
                await run_in_threadpool(self._before, call)
        except _RefusedError as refused:
            call.decision = refused.decision
            await self._finish(send, call, 403, _refusal(refused.decision), [])
            return
        except TwinError as err:
            status, problem = http_status(err)
            await self._finish(send, call, status, json.dumps(problem).encode(), [])
            return
        inner_scope = dict(scope)
        inner_scope["headers"] = [
            (k, v) for k, v in scope.get("headers", []) if k != b"x-actor"
        ] + [(b"x-actor", call.principal.actor[:255].encode("utf-8", errors="replace"))]
        status, out_headers, body = await _capture(
            self.app, inner_scope, replay_body(raw_body, receive)
        )
        await self._finish(send, call, status, body, out_headers, check=True)

    def _decide(self, call: _Call, request: AccessRequest, *, consent: bool = True) -> Decision:
        decision = self.controller().decide(request) if consent else self.policy.decide(request)
        call.decision = decision
        if not decision.allowed:
            raise _RefusedError(decision)
        return decision

    def _owner(self, resource_type: str, resource_id: str) -> str | None:
        try:
            return resource_patient(self.store.read(resource_type, resource_id))
        except (NotFoundError, InvalidInputError):
            return None

    def _before(self, call: _Call) -> None:
        """Decide what can be decided before the request runs (raises :class:`_RefusedError`)."""
        it, token_patient = call.interaction, call.principal.patient_id
        if it.kind == "transaction":
            self._before_bundle(call)
            return
        rtype = it.resource_type or "Patient"
        if it.resource_id is not None and rtype != "Patient" and it.kind != "other":
            call.refs.append(f"{rtype}/{it.resource_id}")
        if it.kind == "search":
            call.patient = search_patient(rtype, call.params)
            patient = call.patient or token_patient
            self._decide(call, call.request(rtype, patient), consent=call.patient is not None)
        elif rtype == "Patient" and it.resource_id is not None:
            call.patient = it.resource_id
            call.refs.append(f"Patient/{it.resource_id}")
            self._decide(call, call.request("Patient", it.resource_id))
        elif it.kind in ("create", "update", "delete"):
            owners = {resource_patient(call.body) if isinstance(call.body, dict) else None}
            if it.resource_id is not None and it.kind != "create":
                owners.add(self._owner(rtype, it.resource_id))
            for owner in sorted(owners, key=str):
                call.patient = call.patient or owner
                self._decide(
                    call, call.request(rtype, owner or token_patient), consent=owner is not None
                )
        else:
            self._decide(call, call.request(rtype, token_patient), consent=False)

    def _before_bundle(self, call: _Call) -> None:
        entries = call.body.get("entry") if isinstance(call.body, dict) else None
        if not isinstance(entries, list):
            self._decide(
                call, call.request("Bundle", call.principal.patient_id, "c"), consent=False
            )
            return
        for entry in entries:
            request = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(request, dict):
                continue
            method = str(request.get("method", "")).upper()
            inner = classify(method, "/fhir/" + str(request.get("url", "")).split("?")[0])
            rtype = inner.resource_type or "Bundle"
            resource = entry.get("resource")
            owners = {resource_patient(resource) if isinstance(resource, dict) else None}
            if inner.resource_id is not None and method in ("PUT", "DELETE"):
                owners.add(self._owner(rtype, inner.resource_id))
            for owner in owners:
                request_ = call.request(rtype, owner or call.principal.patient_id, inner.action)
                self._decide(call, request_, consent=owner is not None)

    def _after(self, call: _Call, body: bytes) -> bytes:
        """Check and filter what the store answered (raises :class:`_RefusedError` for a read)."""
        data = json.loads(body)
        if call.interaction.kind in ("read", "vread"):
            owner = resource_patient(data)
            if owner is not None:
                call.patient = owner
                self._decide(call, call.request(str(data.get("resourceType")), owner))
            return body
        if not isinstance(data.get("entry"), list):
            return body
        data["entry"], call.n_removed = self._filter_entries(call, data["entry"])
        if call.interaction.kind == "history" and call.n_removed:
            # A history is one resource's: refuse it as its read would be refused.
            raise _RefusedError(call.withheld or Decision.deny("consent", "history withheld"))
        if data.get("type") in ("searchset", "history"):
            data.pop("total", None)
        return json.dumps(data, separators=(",", ":")).encode()

    def _filter_entries(self, call: _Call, entries: Sequence[Any]) -> tuple[list[Any], int]:
        controller = self.controller()
        action = "s" if call.interaction.kind == "search" else "r"
        verdicts: dict[tuple[str, str | None], bool] = {}
        kept, removed = [], 0
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                kept.append(entry)
                continue
            rtype, owner = str(resource.get("resourceType")), resource_patient(resource)
            key = (rtype, owner)
            if key not in verdicts:
                request = call.request(rtype, owner or call.principal.patient_id, action)
                decision = (controller if owner else self.policy).decide(request)
                verdicts[key] = decision.allowed
                call.withheld = call.withheld if decision.allowed else decision
            if verdicts[key]:
                kept.append(entry)
                continue
            removed += 1
            if call.interaction.kind == "transaction":
                stripped = {k: v for k, v in entry.items() if k != "resource"}
                kept.append({**stripped, "response": {"status": "403 Forbidden"}})
        return kept, removed

    async def _finish(
        self,
        send: Send,
        call: _Call,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        check: bool = False,
    ) -> None:
        """Audit the request (after checking the answer, with ``check``) and answer it.

        If the audit cannot be written the answer is ``503`` and no data leaves.
        """
        try:
            status, body, headers = await run_in_threadpool(
                self._checked_and_audited, call, status, body, headers, check
            )
        except _AuditFailedError:
            _LOG.exception("could not write the audit event; the answer is withheld")
            status, body, headers = (
                503,
                _outcome("audit log unavailable; retry later", "transient"),
                [],
            )
        await _answer(send, status, body, headers)

    def _checked_and_audited(
        self,
        call: _Call,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        check: bool,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """On a worker thread: the answer's checks (a refusal becomes ``403``), then the
        audit event (:class:`_AuditFailedError` if it cannot be written)."""
        if check and status < 300 and call.interaction.kind in (*_READS, *_BUNDLES):
            try:
                body = self._after(call, body)
            except _RefusedError as refused:
                call.decision = refused.decision
                status, body, headers = 403, _refusal(refused.decision), []
        if check and status < 300 and _touches_consent(call):
            self.consents.mark_stale()
        try:
            self._audit(call, status)
        except TwinError as err:
            raise _AuditFailedError(str(err)) from err
        return status, body, headers

    def _audit(self, call: _Call, status: int) -> None:
        decision = call.decision
        outcome = (
            "success" if status < 400 else ("serious-failure" if status >= 500 else "minor-failure")
        )
        details: dict[str, Any] = {
            "status": status,
            "client": call.principal.client_id,
            "roles": list(call.principal.roles),
            "scopes": list(call.principal.scopes),
            "n_removed": call.n_removed,
        }
        if decision is not None:
            details.update(
                reason=decision.reason[:500],
                failed_check=decision.failed_check,
                rule=decision.matched_rule,
            )
        refs = [r for r in dict.fromkeys(call.refs) if _FHIR_ID.match(r.partition("/")[2])]
        if len(refs) < len(call.refs) or (call.patient and not _FHIR_ID.match(call.patient)):
            details["unusable_ids"] = [r[:100] for r in (*call.refs, call.patient or "")][:3]
        patient = call.patient if call.patient and _FHIR_ID.match(call.patient) else None
        query = "&".join(f"{k}={v}" for k, v in call.params)[:8000]
        it = call.interaction
        self.store.record_audit(
            actor=call.principal.actor[:255],
            action=it.kind,
            outcome=outcome,
            purpose=call.purpose or None,
            resource_refs=tuple(refs[:20]),
            details=details,
            patient=f"Patient/{patient}" if patient else None,
            query=query if query.strip() else None,
        )


def _policy_only(call: _Call) -> bool:
    """Whether :meth:`GovernanceLayer._before` decides by the policy alone (no consent, no
    stored resource: nothing that waits on the store), as for the read of a resource by id
    other than a Patient, so it may run on the event loop."""
    it = call.interaction
    if it.kind in ("transaction", "search", "create", "update", "delete"):
        return False
    return not ((it.resource_type or "Patient") == "Patient" and it.resource_id is not None)


def _touches_consent(call: _Call) -> bool:
    if call.interaction.kind in ("create", "update", "delete"):
        return call.interaction.resource_type == "Consent"
    if call.interaction.kind != "transaction" or not isinstance(call.body, dict):
        return False
    return "Consent" in json.dumps(call.body.get("entry", []))


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _outcome(message: str, code: str) -> bytes:
    return json.dumps(operation_outcome(message, code=code)).encode()


def _refusal(decision: Decision) -> bytes:
    check = decision.failed_check or "policy"
    if check in ("consent", "opt-out"):
        message = f"access refused ({check}): the patient's {check} does not permit this use"
    else:
        # Never name another patient to the caller: the compartment refusal says only that.
        reason = decision.reason.split("; its patient/ scopes reach only")[0]
        if reason != decision.reason:
            reason += "; the data is outside the token's patient compartment"
        message = f"access refused ({check}): {reason}"
    return _outcome(message, "forbidden")


async def _capture(
    app: ASGIApp, scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status, headers, chunks = 500, [], []

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return status, headers, b"".join(chunks)


async def _answer(
    send: Send,
    status: int,
    body: bytes | Mapping[str, Any],
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    if not any(k.lower() == b"content-type" for k, _ in kept):
        kept.append((b"content-type", FHIR_JSON.encode()))
    kept.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": payload})
