"""The OpenAPI document of the twin API: the errors, security and headers it really has.

FastAPI's generated document would promise a ``422 HTTPValidationError`` the service never
sends (invalid input is a ``400`` RFC 9457 problem) and say nothing of the governance layer.
:func:`v1_responses` is the shared ``responses=`` every ``/api/v1`` router is included with
(a ``Problem`` schema under ``application/problem+json`` for 400, 404, 409, 413, 429, every
other status as ``default``, and 401/403 when security is on); declaring ``default`` also
keeps FastAPI from adding its 422. :func:`describe_v1` then finishes the document: the
``Problem`` component, the HTTP bearer security scheme on every ``/api/v1`` operation, and
the purpose-of-use header (``X-Purpose-Of-Use`` unless configured otherwise; required when
the service has no default purpose).

Error pointers (``errors[].pointer``) are JSON Pointers (RFC 6901) in URI fragment form,
rooted at the part of the request that was wrong: ``#/body/value/bolus_u``,
``#/query/horizon_min``, ``#/path/twin_id``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROBLEM_JSON", "PROBLEM_SCHEMA", "describe_v1", "json_pointer", "v1_responses"]

PROBLEM_JSON = "application/problem+json"
_REF = {"$ref": "#/components/schemas/Problem"}
#: RFC 9457 problem details as this service writes them.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the problem type."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "One entry per invalid part of the request.",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {
                        "type": "string",
                        "description": "RFC 6901 JSON Pointer, e.g. #/body/meal_g.",
                    },
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
_STATUSES: dict[int | str, str] = {
    400: "Invalid request (body, query, path or purpose of use).",
    401: "No valid bearer token.",
    403: "Refused by the policy, the token's purposes or the patient's consent.",
    404: "No such resource.",
    409: "Conflict with the current state (an id taken, a decision already made).",
    413: "Request body over the size limit.",
    429: "Rate limit exceeded (see Retry-After).",
    "default": "Any other error (for example 503 when the audit log is unavailable).",
}


def v1_responses(secured: bool) -> dict[int | str, dict[str, Any]]:
    """The error responses of every ``/api/v1`` operation (401/403 only when ``secured``).

    Examples
    --------
    >>> sorted(map(str, v1_responses(secured=True)))
    ['400', '401', '403', '404', '409', '413', '429', 'default']
    >>> 401 in v1_responses(secured=False)
    False
    """
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": _REF}}}
        for status, text in _STATUSES.items()
        if secured or status not in (401, 403)
    }


def json_pointer(location: tuple[Any, ...] | list[Any]) -> str:
    """An RFC 6901 pointer (URI fragment form) to ``location``, e.g. a pydantic ``loc``.

    Examples
    --------
    >>> json_pointer(("body", "plans", "a/b", 0))
    '#/body/plans/a~1b/0'
    >>> json_pointer(())
    '#'
    """
    tokens = [str(p).replace("~", "~0").replace("/", "~1") for p in location]
    return "#" + "".join(f"/{t}" for t in tokens)


def describe_v1(
    spec: dict[str, Any], *, secured: bool, purpose_header: str, purpose_required: bool
) -> dict[str, Any]:
    """Finish ``spec`` (FastAPI's document) for ``/api/v1``; return it (changed in place).

    Examples
    --------
    >>> spec = {"paths": {"/api/v1/x": {"get": {"responses": {"422": {}}}}}}
    >>> out = describe_v1(spec, secured=True, purpose_header="X-Purpose-Of-Use",
    ...                   purpose_required=True)
    >>> op = out["paths"]["/api/v1/x"]["get"]
    >>> "422" in op["responses"], op["security"], op["parameters"][0]["name"]
    (False, [{'bearer': []}], 'X-Purpose-Of-Use')
    """
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    if secured:
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT from the configured issuer (SMART scopes, roles, purposes).",
        }
    for path, operations in spec.get("paths", {}).items():
        if not (path == "/api/v1" or path.startswith("/api/v1/")):
            continue
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if not secured:
                continue
            operation["security"] = [{"bearer": []}]
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == purpose_header for p in parameters):
                parameters.append(
                    {
                        "name": purpose_header,
                        "in": "header",
                        "required": purpose_required,
                        "description": "Purpose of use: a v3 ActReason code (TREAT, HRESCH, "
                        "PUBHLTH...); it must be among the token's purpose_of_use claim.",
                        "schema": {"type": "string", "maxLength": 64},
                    }
                )
    _drop_unused(components.get("schemas", {}), spec)
    return spec


def _drop_unused(schemas: dict[str, Any], spec: dict[str, Any]) -> None:
    """Remove FastAPI's validation-error schemas once nothing refers to them."""
    for name in ("HTTPValidationError", "ValidationError"):
        if name not in schemas:
            continue
        kept = {k: v for k, v in schemas.items() if k != name}
        text = repr({**spec, "components": {**spec["components"], "schemas": kept}})
        if f"#/components/schemas/{name}'" not in text:
            del schemas[name]
