"""The FastAPI application: the FHIR facade over a store, its limits and its one error handler.

Every error, ours or the framework's (unknown route, wrong method, bad path parameter),
leaves through :func:`_problem` as an ``OperationOutcome`` with the status of
:func:`healthtwin.api.outcome.http_status`; unexpected errors are logged and answered 500
without details, and the server keeps serving.

Security (:class:`~healthtwin.api.security.SecurityConfig`) wraps the routes, outermost
first: security headers and the ``_count`` cap (:mod:`healthtwin.api.hardening`), the CORS
allow-list, the body-size limit, then the governance layer (tokens, access, consent,
audit: :mod:`healthtwin.api.governance_layer`). In production the OpenAPI document is not
served.

The twin API under ``/api/v1`` (:mod:`~healthtwin.api.twins`, :mod:`~healthtwin.api.jobs`,
:mod:`~healthtwin.api.regions`, :mod:`~healthtwin.api.alarms`,
:mod:`~healthtwin.api.hospitals`, :mod:`~healthtwin.api.federated_runs`,
:mod:`~healthtwin.api.world_runs`,
:mod:`~healthtwin.api.governance_routes`) answers errors as RFC 9457 problem details
(``application/problem+json``; each invalid part of a request is an ``errors[]`` entry
whose ``pointer`` is an RFC 6901 JSON Pointer rooted at the request part, such as
``#/query/horizon_min`` or ``#/body/value/bolus_u``) and is governed by
:mod:`healthtwin.api.v1_governance`. Its OpenAPI document declares exactly that
(:mod:`healthtwin.api.openapi_doc`): problem responses instead of FastAPI's 422, the bearer
security scheme and the purpose-of-use header.
The dashboard's pages (``/dashboard``) are mounted when Jinja2 and plotly are installed
(the ``dashboard`` extra); they hold no data and read everything from ``/api/v1``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware

from healthtwin.api.alarms import AlarmBoard, alarms_router
from healthtwin.api.consent_source import ConsentSource
from healthtwin.api.education import EducationRegistry, education_router
from healthtwin.api.federated_runs import LiveRounds, federated_runs_router
from healthtwin.api.fhir_routes import fhir_router
from healthtwin.api.governance_layer import GovernanceLayer
from healthtwin.api.governance_routes import governance_router
from healthtwin.api.hardening import SecurityHeaders, cors_options
from healthtwin.api.hospitals import HospitalRegistry, hospitals_router
from healthtwin.api.jobs import JobRunner, jobs_router
from healthtwin.api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from healthtwin.api.openapi_doc import (
    PROBLEM_JSON,
    describe_v1,
    json_pointer,
    request_error,
    v1_responses,
)
from healthtwin.api.outcome import FHIR_JSON, http_status, operation_outcome
from healthtwin.api.regions import regions_router
from healthtwin.api.security import AuthenticationError, SecurityConfig
from healthtwin.api.twin_sessions import TwinRegistry
from healthtwin.api.twins import restorer, twins_router
from healthtwin.api.v1_governance import PREFIX as V1_PREFIX
from healthtwin.api.v1_governance import ApiGovernance
from healthtwin.api.world_runs import world_runs_router
from healthtwin.errors import InvalidParameterError, TwinError, ValidationIssue
from healthtwin.governance.signing import SigningKey
from healthtwin.interop.fhir_json import DEFAULT_MAX_DEPTH
from healthtwin.store import Store

__all__ = ["DEFAULT_MAX_ENTRIES", "create_app"]

#: Most entries accepted in one Bundle sent to the API (bulk loads: ``healthtwin data import``).
DEFAULT_MAX_ENTRIES = 10_000
_LOG = logging.getLogger(__name__)
_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly"}


def _problem_details(status: int, body: dict[str, Any], error: Exception) -> JSONResponse:
    """An error as RFC 9457 problem details (the ``/api/v1`` form).

    Each invalid part of the request becomes an ``errors[]`` entry whose ``pointer`` is an
    RFC 6901 JSON Pointer (:func:`~healthtwin.api.openapi_doc.json_pointer`).
    """
    if isinstance(error, RequestValidationError):
        errors = [
            dict(zip(("pointer", "detail"), request_error(e), strict=True)) for e in error.errors()
        ]
    else:
        errors = [
            {
                "pointer": json_pointer(tuple(".".join(i["expression"]).split(".")))
                if i.get("expression")
                else "",
                "detail": str(i.get("diagnostics", "")),
            }
            for i in body.get("issue") or [{}]
        ]
    detail = "; ".join(
        f"{e['pointer']}: {e['detail']}" if e["pointer"] else e["detail"] for e in errors
    )
    problem: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error",
        "status": status,
        "detail": detail or "error",
    }
    if any(e["pointer"] for e in errors):
        problem["errors"] = [e for e in errors if e["pointer"]]
    return JSONResponse(problem, status_code=status, media_type=PROBLEM_JSON)


async def _problem(request: Request, error: Exception) -> Response:
    """Any error as an OperationOutcome response (the one exception handler).

    Under ``/api/v1`` the same error is answered as RFC 9457 problem details, and an
    invalid body is a ``400`` (the FHIR facade's ``422`` for a resource that parses but
    breaks a rule, such as a vital sign out of range, is not part of the twin API). Under
    ``/dashboard`` a person reads it: a small HTML page with the same status.
    """
    response = await _outcome_response(request, error)
    path = request.url.path
    if (path == "/dashboard" or path.startswith("/dashboard/")) and _dashboard_installed():
        from healthtwin.dashboard.pages import error_page

        issues = json.loads(bytes(response.body)).get("issue") or [{}]
        message = "; ".join(str(i.get("diagnostics", "")) for i in issues) or "error"
        return error_page(request, response.status_code, message)
    if path == V1_PREFIX or path.startswith(V1_PREFIX + "/"):
        body = json.loads(bytes(response.body))
        status = 400 if response.status_code == 422 else response.status_code
        problem = _problem_details(status, body, error)
        for name in ("www-authenticate",):
            if name in response.headers:
                problem.headers[name] = response.headers[name]
        return problem
    return response


async def _outcome_response(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, AuthenticationError):
        body = operation_outcome(str(error), code="login")
        headers = {"WWW-Authenticate": error.www_authenticate()}
        return JSONResponse(body, status_code=401, media_type=FHIR_JSON, headers=headers)
    if isinstance(error, RequestValidationError):
        issues = tuple(
            ValidationIssue(".".join(str(p) for p in e.get("loc", ())), str(e.get("msg")))
            for e in error.errors()
        )
        status, body = 400, operation_outcome("invalid request", issues)
    elif isinstance(error, HTTPException):
        message = f"{request.method} {request.url.path}: {error.detail}"
        status = error.status_code
        body = operation_outcome(message, code=_CODES.get(status, "invalid"))
    else:
        if not isinstance(error, TwinError):
            _LOG.error(
                "unexpected error serving %s %s", request.method, request.url.path, exc_info=error
            )
        status, body = http_status(error)
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def create_app(
    store: Store,
    *,
    base_url: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    security: SecurityConfig | None = None,
    provenance_key: SigningKey | None = None,
) -> FastAPI:
    """The web application serving the FHIR facade under ``/fhir``.

    Parameters
    ----------
    store
        Where resources, observations and audit events live (the caller closes it).
    base_url
        Public base of the FHIR endpoint (``https://host/fhir``) used in links and
        ``Location``; default: taken from each request.
    max_body_bytes, max_depth, max_entries
        Request limits: body size (413 beyond it), JSON nesting and Bundle entries (400).
    security
        Tokens, access policy, consents, audit, CORS, rate limits and headers; ``None``
        means :meth:`SecurityConfig.disabled` (no tokens: tests and trusted embedding
        only; ``healthtwin serve`` always passes a production or development config).
    provenance_key
        Ed25519 key that signs the provenance of every forecast of the twin API; without
        one, provenance records carry hashes but no signature.

    Raises
    ------
    InvalidParameterError
        If a limit is not positive.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> store = open_store("sqlite://")
    >>> app = create_app(store, base_url="https://example.org/fhir/")
    >>> app.state.base_url, app.state.limits["max_entries"], app.state.security.mode
    ('https://example.org/fhir', 10000, 'disabled')
    >>> store.close()
    """
    for name, value in (
        ("max_body_bytes", max_body_bytes),
        ("max_depth", max_depth),
        ("max_entries", max_entries),
    ):
        if value < 1:
            raise InvalidParameterError(f"{name} must be at least 1, got {value}")
    security = security or SecurityConfig.disabled()
    production = security.mode == "production"
    app = FastAPI(
        lifespan=_lifespan,
        title="healthtwin FHIR facade",
        docs_url=None,
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    app.state.security = security
    # Signs the provenance of every forecast the twin API returns (none: hashed only).
    app.state.provenance_key = provenance_key
    app.state.store = store
    app.state.base_url = base_url.rstrip("/") if base_url else None
    app.state.limits = {
        "max_bytes": max_body_bytes,
        "max_depth": max_depth,
        "max_entries": max_entries,
    }
    app.include_router(fhir_router)
    for router in (
        twins_router,
        jobs_router,
        regions_router,
        alarms_router,
        governance_router,
        hospitals_router,
        federated_runs_router,
        education_router,
        world_runs_router,
    ):
        app.include_router(router, responses=v1_responses(security.enabled))
    _describe_openapi(app, security)
    # Twins not in memory (the service restarted) are re-created from the store on demand.
    app.state.twins = TwinRegistry(restore=restorer(store))
    app.state.education = EducationRegistry()
    app.state.jobs = JobRunner(store)
    app.state.alarms = AlarmBoard(store=store)
    app.state.hospitals = HospitalRegistry(store=store)
    app.state.federated_rounds = LiveRounds()
    app.state.stopping = threading.Event()
    dashboard = _dashboard_installed()
    if dashboard:
        from healthtwin.dashboard import dashboard_router

        app.include_router(dashboard_router)
        from healthtwin.dashboard.education import education_pages_router

        app.include_router(education_pages_router)
    for kind in (TwinError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, _problem)
    # add_middleware puts each new layer outside the previous ones.
    if security.enabled:
        # One consent source for both layers: a Consent written through /fhir counts on
        # /api/v1 at once, and the index is built once, not per layer or per request.
        consents = ConsentSource(store, security.consents)
        app.add_middleware(GovernanceLayer, config=security, store=store, consents=consents)
        app.add_middleware(
            ApiGovernance,
            config=security,
            store=store,
            resolve_patient=_patient_resolver(app.state.twins, store),
            consents=consents,
        )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if security.cors_origins:
        app.add_middleware(
            CORSMiddleware, **cors_options(security.cors_origins, security.purpose_header)
        )
    app.add_middleware(SecurityHeaders, production=production, max_count=security.max_count)
    if dashboard:
        from healthtwin.dashboard import DashboardHeaders

        app.add_middleware(DashboardHeaders)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, end live streams and cancel unfinished background jobs."""
    yield
    app.state.stopping.set()
    app.state.jobs.shutdown()


def _describe_openapi(app: FastAPI, security: SecurityConfig) -> None:
    """Serve FastAPI's document finished by :func:`~healthtwin.api.openapi_doc.describe_v1`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_v1(
                FastAPI.openapi(app),
                secured=security.enabled,
                purpose_header=security.purpose_header,
                purpose_required=security.default_purpose is None,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _dashboard_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("jinja2", "plotly"))


def _patient_resolver(twins: TwinRegistry, store: Store) -> Callable[[str, str], str | None]:
    """Whose data a twin or a recommendation is (for the ``/api/v1`` governance layer)."""

    def resolve(kind: str, identifier: str) -> str | None:
        if kind == "twin":
            return twins.patient_of(identifier)
        try:
            patient = store.oversight().recommendation(identifier).patient
        except TwinError:
            return None
        return patient.removeprefix("Patient/") if patient else None

    return resolve
