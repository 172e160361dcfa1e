"""The FHIR REST routes under ``/fhir``: read, vread, history, create, update, delete,
search, transaction/batch, ``$everything`` and ``metadata``.

Handlers are thin: they read the body within limits (:func:`read_body`), then run the
store work in a worker thread (the store is synchronous) through :mod:`healthtwin.api.service`,
:mod:`healthtwin.api.search`, :mod:`healthtwin.api.transactions` and
:mod:`healthtwin.api.everything`. Errors propagate to the one handler in
:mod:`healthtwin.api.app`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from healthtwin.api import service
from healthtwin.api.actors import request_actor
from healthtwin.api.capability import capability_statement
from healthtwin.api.checks import check_type
from healthtwin.api.everything import everything
from healthtwin.api.outcome import FHIR_JSON
from healthtwin.api.search import search, searchset
from healthtwin.api.transactions import process_bundle
from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.fhir_json import parse_json_safely
from healthtwin.store import Store

__all__ = ["fhir_router", "read_body"]

JSONDict = dict[str, Any]
_TOTAL_PARAMETERS = ("_total", "_totalMethod")
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")

fhir_router = APIRouter(prefix="/fhir")


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _base(request: Request) -> str:
    configured: str | None = request.app.state.base_url
    return configured or str(request.base_url).rstrip("/") + "/fhir"


def _fhir(body: JSONDict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers, media_type=FHIR_JSON)


def _version_headers(request: Request, body: JSONDict) -> dict[str, str]:
    version = body["meta"]["versionId"]
    location = f"{_base(request)}/{body['resourceType']}/{body['id']}/_history/{version}"
    return {"ETag": f'W/"{version}"', "Location": location}


async def read_body(request: Request) -> JSONDict:
    """The request's JSON object, refused if not JSON, malformed, too deep or too big.

    Raises
    ------
    ResourceValidationError
        ``structure`` (HTTP 400) for a wrong content type or malformed JSON, ``too-costly``
        for nesting or Bundle entries past the limits.
    """
    content_type = request.headers.get("content-type", FHIR_JSON).split(";")[0].strip()
    if content_type not in _JSON_TYPES:
        message = (
            f"content type {content_type!r} is not FHIR JSON; send {FHIR_JSON} "
            "(application/json is accepted too)"
        )
        raise ResourceValidationError(message, (ValidationIssue("", message, "structure"),))
    raw = await request.body()
    limits = request.app.state.limits
    return await run_in_threadpool(parse_json_safely, raw, **limits)


@fhir_router.get("/metadata")
async def metadata(request: Request) -> Response:
    """The server's CapabilityStatement."""
    return _fhir(capability_statement(_base(request)))


@fhir_router.post("")
@fhir_router.post("/", include_in_schema=False)
async def transaction(request: Request) -> Response:
    """A transaction or batch Bundle; the response Bundle lists each entry's outcome."""
    body = await read_body(request)
    if body.get("resourceType") != "Bundle":
        message = f"POST /fhir takes a Bundle, got a {body.get('resourceType')!r}"
        raise ResourceValidationError(
            message, (ValidationIssue("resourceType", message, "not-supported"),)
        )
    result = await run_in_threadpool(
        process_bundle, _store(request), body, actor=request_actor(request)
    )
    return _fhir(result)


@fhir_router.get("/Patient/{patient_id}/$everything")
async def patient_everything(request: Request, patient_id: str) -> Response:
    """The patient and every stored resource that refers to it."""
    return _fhir(await run_in_threadpool(everything, _store(request), patient_id, _base(request)))


async def _search(request: Request, resource_type: str, params: list[tuple[str, str]]) -> Response:
    check_type(resource_type)
    # The total is always given, so the ways of asking for it are accepted and ignored.
    params = [(k, v) for k, v in params if k not in _TOTAL_PARAMETERS]
    query, found = await run_in_threadpool(search, _store(request), resource_type, params)
    return _fhir(searchset(_base(request), resource_type, params, query, found))


@fhir_router.get("/{resource_type}")
async def search_type(request: Request, resource_type: str) -> Response:
    """Search with the query string."""
    return await _search(request, resource_type, request.query_params.multi_items())


@fhir_router.post("/{resource_type}/_search")
async def search_post(request: Request, resource_type: str) -> Response:
    """Search with form-encoded parameters (and any in the query string)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    params = [*request.query_params.multi_items(), *parse_qsl(raw, keep_blank_values=True)]
    return await _search(request, resource_type, params)


@fhir_router.get("/{resource_type}/{resource_id}")
async def read(request: Request, resource_type: str, resource_id: str) -> Response:
    """The current version of a resource (404 if missing or deleted)."""
    check_type(resource_type)
    body = await run_in_threadpool(_store(request).read, resource_type, resource_id)
    return _fhir(body, headers=_version_headers(request, body))


@fhir_router.get("/{resource_type}/{resource_id}/_history/{version_id}")
async def vread(
    request: Request, resource_type: str, resource_id: str, version_id: str
) -> Response:
    """One version of a resource."""
    check_type(resource_type)
    body = await run_in_threadpool(_store(request).vread, resource_type, resource_id, version_id)
    return _fhir(body, headers=_version_headers(request, body))


@fhir_router.get("/{resource_type}/{resource_id}/_history")
async def history(request: Request, resource_type: str, resource_id: str) -> Response:
    """Every version, newest first, as a history Bundle."""
    check_type(resource_type)
    versions = await run_in_threadpool(_store(request).history, resource_type, resource_id)
    base = _base(request)
    entries = [
        {
            "fullUrl": f"{base}/{resource_type}/{resource_id}",
            **({"resource": v.body} if v.body is not None else {}),
            "request": {
                "method": "DELETE" if v.deleted else ("POST" if v.version_id == 1 else "PUT"),
                "url": f"{resource_type}/{resource_id}",
            },
            "response": {
                "status": "204" if v.deleted else ("201" if v.version_id == 1 else "200"),
                "etag": f'W/"{v.version_id}"',
            },
        }
        for v in versions
    ]
    bundle = {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries}
    return _fhir(bundle)


@fhir_router.post("/{resource_type}")
async def create(request: Request, resource_type: str) -> Response:
    """Create; the server assigns the id (201 with Location and ETag)."""
    check_type(resource_type)
    body = await read_body(request)
    stored = await run_in_threadpool(
        service.create_resource, _store(request), resource_type, body, actor=request_actor(request)
    )
    return _fhir(stored, 201, _version_headers(request, stored))


@fhir_router.put("/{resource_type}/{resource_id}")
async def update(request: Request, resource_type: str, resource_id: str) -> Response:
    """Update or create (If-Match for optimistic concurrency: 412 on mismatch)."""
    check_type(resource_type)
    body = await read_body(request)
    stored, created = await run_in_threadpool(
        lambda: service.update_resource(
            _store(request),
            resource_type,
            resource_id,
            body,
            actor=request_actor(request),
            if_match=request.headers.get("if-match"),
        )
    )
    return _fhir(stored, 201 if created else 200, _version_headers(request, stored))


@fhir_router.delete("/{resource_type}/{resource_id}")
async def delete(request: Request, resource_type: str, resource_id: str) -> Response:
    """Delete (the history keeps every version)."""
    version = await run_in_threadpool(
        lambda: service.delete_resource(
            _store(request),
            resource_type,
            resource_id,
            actor=request_actor(request),
            if_match=request.headers.get("if-match"),
        )
    )
    return Response(status_code=204, headers={"ETag": f'W/"{version}"'})
