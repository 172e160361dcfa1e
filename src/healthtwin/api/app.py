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
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware

from healthtwin.api.fhir_routes import fhir_router
from healthtwin.api.governance_layer import GovernanceLayer
from healthtwin.api.hardening import SecurityHeaders, cors_options
from healthtwin.api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from healthtwin.api.outcome import FHIR_JSON, http_status, operation_outcome
from healthtwin.api.security import AuthenticationError, SecurityConfig
from healthtwin.errors import InvalidParameterError, TwinError, ValidationIssue
from healthtwin.interop.fhir_json import DEFAULT_MAX_DEPTH
from healthtwin.store import Store

__all__ = ["DEFAULT_MAX_ENTRIES", "create_app"]

#: Most entries accepted in one Bundle sent to the API (bulk loads: ``healthtwin data import``).
DEFAULT_MAX_ENTRIES = 10_000
_LOG = logging.getLogger(__name__)
_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly"}


async def _problem(request: Request, error: Exception) -> JSONResponse:
    """Any error as an OperationOutcome response (the one exception handler)."""
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
        title="healthtwin FHIR facade",
        docs_url=None,
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    app.state.security = security
    app.state.store = store
    app.state.base_url = base_url.rstrip("/") if base_url else None
    app.state.limits = {
        "max_bytes": max_body_bytes,
        "max_depth": max_depth,
        "max_entries": max_entries,
    }
    app.include_router(fhir_router)
    for kind in (TwinError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, _problem)
    # add_middleware puts each new layer outside the previous ones.
    if security.enabled:
        app.add_middleware(GovernanceLayer, config=security, store=store)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if security.cors_origins:
        app.add_middleware(
            CORSMiddleware, **cors_options(security.cors_origins, security.purpose_header)
        )
    app.add_middleware(SecurityHeaders, production=production, max_count=security.max_count)
    return app
