"""The OpenAPI document of the twin API: the errors, security and headers it really has.

FastAPI's generated document would promise a ``422 HTTPValidationError`` the service never
sends (invalid input is a ``400`` RFC 9457 problem) and say nothing of the governance layer.
:func:`v1_responses` is the shared ``responses=`` every ``/api/v1`` router is included with
(a ``Problem`` schema under ``application/problem+json`` for 400 and 429, every other
status as ``default``, and 401/403 when security is on); declaring ``default`` also keeps
FastAPI from adding its 422. The statuses only some operations can answer are declared
where they can happen: ``409`` by the routes whose state can conflict (``responses=``
:func:`problems` ``(409)``: an id taken, a decision already made, a result asked for before
its job succeeded), and, by :func:`describe_v1`, ``404`` on every operation with a path
id and ``413`` on every operation that takes a body (a route whose body names a resource
that may not exist declares its own ``404``). :func:`describe_v1` also finishes the
document: the ``Problem`` component, the HTTP bearer security scheme on every ``/api/v1``
operation, and the purpose-of-use header (``X-Purpose-Of-Use`` unless configured
otherwise; required when the service has no default purpose).

Success bodies are declared by each route (``responses=`` :func:`~healthtwin.api.schemas.success`
with a model of :mod:`healthtwin.api.schemas`); the handlers' answers are not re-validated,
so the document describes the bodies without changing them. :func:`describe_v1` keeps only
the model's ``$ref`` as the schema of such a body (FastAPI would merge it with the untyped
object of the handler's ``dict[str, Any]`` annotation).

The FHIR facade's operations (``/fhir``) are described too: FastAPI would declare a
``422 HTTPValidationError`` there as well, but an invalid request is a ``400``
``OperationOutcome`` (``application/fhir+json``); a resource that parses but breaks a rule
is a ``422`` ``OperationOutcome`` on create and update.

Error pointers (``errors[].pointer``) are JSON Pointers (RFC 6901) in URI fragment form,
rooted at the part of the request that was wrong: ``#/body/value/bolus_u``,
``#/query/horizon_min``, ``#/path/twin_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Discriminator

__all__ = [
    "BATCH",
    "PROBLEM_JSON",
    "PROBLEM_SCHEMA",
    "SINGLE",
    "describe_v1",
    "json_pointer",
    "problems",
    "request_error",
    "single_or_batch",
    "v1_responses",
]

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


#: A FHIR OperationOutcome, as the ``/fhir`` facade answers its errors.
OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "type": "object",
    "description": "FHIR R4 OperationOutcome: one issue per problem found.",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_FHIR_JSON = "application/fhir+json"
_OUTCOME_REF = {"$ref": "#/components/schemas/OperationOutcome"}
_FHIR_STATUSES: dict[str, str] = {
    "400": "Invalid request (parameters or a body that is not a FHIR resource).",
    "401": "No valid bearer token.",
    "403": "Refused by the policy, the token's scopes or the patient's consent.",
    "404": "No such resource (or resource type).",
    "409": "Conflict with the current state.",
    "412": "The If-Match version is not the current one.",
    "413": "Request body over the size limit.",
    "422": "The resource parses but breaks a rule (a profile, a reference, a range).",
    "429": "Rate limit exceeded (see Retry-After).",
    "default": "Any other error.",
}
#: Statuses only some methods can answer: a body's (POST, PUT), a change's (and DELETE).
_BODY_STATUSES = frozenset({"413", "422"})
_CHANGE_STATUSES = frozenset({"409", "412"})


#: Statuses only some ``/api/v1`` operations can answer (see :func:`problems`).
_WHERE_THEY_CAN = frozenset({404, 409, 413})


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Problem-details responses for ``statuses`` (for a route's ``responses=``).

    Examples
    --------
    >>> answer = problems(409)
    >>> list(answer), answer[409]["content"][PROBLEM_JSON]["schema"]
    ([409], {'$ref': '#/components/schemas/Problem'})
    """
    return {
        status: {"description": _STATUSES[status], "content": {PROBLEM_JSON: {"schema": _REF}}}
        for status in statuses
    }


def v1_responses(secured: bool) -> dict[int | str, dict[str, Any]]:
    """The error responses every ``/api/v1`` operation can answer (401/403 when ``secured``).

    ``404``, ``409`` and ``413`` are declared only where they can happen (:func:`problems`,
    :func:`describe_v1`).

    Examples
    --------
    >>> sorted(map(str, v1_responses(secured=True)))
    ['400', '401', '403', '429', 'default']
    >>> 401 in v1_responses(secured=False)
    False
    """
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": _REF}}}
        for status, text in _STATUSES.items()
        if status not in _WHERE_THEY_CAN and (secured or status not in (401, 403))
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


#: The tags of a body that is one item or a batch (:func:`single_or_batch`); they name the
#: shape pydantic validated and are kept out of error pointers.
SINGLE = "(single)"
BATCH = "(batch)"


def single_or_batch(key: str) -> Discriminator:
    """The shape of a body that is one item or a batch (an object with ``key``).

    Use it on a union of ``Annotated[Batch, Tag(BATCH)]`` and ``Annotated[One, Tag(SINGLE)]``:
    the shape is decided from the body before validation, so an invalid body is answered
    with the errors of the shape it was sent in, not of both (as a plain union would).

    Examples
    --------
    >>> from typing import Annotated
    >>> from pydantic import Tag, TypeAdapter
    >>> class One(BaseModel):
    ...     x: int
    >>> class Many(BaseModel):
    ...     items: list[One]
    >>> body = Annotated[
    ...     Annotated[Many, Tag(BATCH)] | Annotated[One, Tag(SINGLE)], single_or_batch("items")
    ... ]
    >>> adapter = TypeAdapter(body)
    >>> type(adapter.validate_python({"items": [{"x": 1}]})).__name__
    'Many'
    >>> try:
    ...     adapter.validate_python({"items": [{"x": "a"}]})
    ... except ValueError as err:
    ...     print([e["loc"] for e in err.errors()])
    [('(batch)', 'items', 0, 'x')]
    """

    def shape(value: Any) -> str | None:
        if isinstance(value, Mapping):
            return BATCH if key in value else SINGLE
        if isinstance(value, BaseModel):
            return BATCH if hasattr(value, key) else SINGLE
        return None

    return Discriminator(
        shape,
        custom_error_type="object_type",
        custom_error_message=f"the body must be a JSON object: one item, or a batch "
        f"{{{key!r}: [...]}}",
    )


def request_error(error: Mapping[str, Any]) -> tuple[str, str]:
    """The JSON Pointer into the request as sent, and the message, of one pydantic error.

    The shape tags of :func:`single_or_batch` are dropped from the pointer, and malformed
    JSON points at the whole body (pydantic puts the character offset in ``loc``).

    Examples
    --------
    >>> request_error({"loc": ("body", BATCH, "observations", 2, "glucose_mg_dl"),
    ...                "msg": "Input should be greater than or equal to 10"})
    ('#/body/observations/2/glucose_mg_dl', 'Input should be greater than or equal to 10')
    >>> request_error({"type": "json_invalid", "loc": ("body", 6), "msg": "JSON decode error",
    ...                "ctx": {"error": "Expecting value"}})
    ('#/body', 'malformed JSON at character 6: Expecting value')
    """
    location = tuple(error.get("loc", ()))
    message = str(error.get("msg"))
    if error.get("type") == "json_invalid":
        where = f" at character {location[1]}" if len(location) > 1 else ""
        reason = (error.get("ctx") or {}).get("error", message)
        return json_pointer(location[:1]), f"malformed JSON{where}: {reason}"
    if len(location) > 1 and location[0] == "body" and location[1] in (SINGLE, BATCH):
        location = (location[0], *location[2:])
    return json_pointer(location), message


def describe_v1(
    spec: dict[str, Any], *, secured: bool, purpose_header: str, purpose_required: bool
) -> dict[str, Any]:
    """Finish ``spec`` (FastAPI's document) for ``/api/v1`` and ``/fhir``; return it.

    ``spec`` is changed in place.

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
    _describe_fhir(spec, secured=secured)
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
            _declare_v1(path, operation)
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


def _declare_v1(path: str, operation: dict[str, Any]) -> None:
    """Statuses by what an operation has (a path id: 404, a body: 413); success bodies."""
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    added = []
    if "{" in path:
        added.append(404)
    if "requestBody" in operation:
        added.append(413)
    for status, response in problems(*added).items():
        responses.setdefault(str(status), response)
    for status, response in responses.items():
        if not str(status).startswith("2"):
            continue
        for media in response.get("content", {}).values():
            schema = media.get("schema", {})
            if "$ref" in schema:
                media["schema"] = {"$ref": schema["$ref"]}


def _describe_fhir(spec: dict[str, Any], *, secured: bool) -> None:
    """Declare the ``OperationOutcome`` errors the ``/fhir`` operations really answer."""
    fhir = {
        path: operations
        for path, operations in spec.get("paths", {}).items()
        if path == "/fhir" or path.startswith("/fhir/")
    }
    if not fhir:
        return
    spec["components"].setdefault("schemas", {})["OperationOutcome"] = OUTCOME_SCHEMA
    for operations in fhir.values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            has_body = method in ("post", "put")
            for status, text in _FHIR_STATUSES.items():
                if status in _BODY_STATUSES and not has_body:
                    continue
                if status in _CHANGE_STATUSES and not (has_body or method == "delete"):
                    continue
                if status in ("401", "403") and not secured:
                    continue
                responses.setdefault(
                    status,
                    {"description": text, "content": {_FHIR_JSON: {"schema": _OUTCOME_REF}}},
                )


def _drop_unused(schemas: dict[str, Any], spec: dict[str, Any]) -> None:
    """Remove FastAPI's validation-error schemas once nothing refers to them."""
    for name in ("HTTPValidationError", "ValidationError"):
        if name not in schemas:
            continue
        kept = {k: v for k, v in schemas.items() if k != name}
        text = repr({**spec, "components": {**spec["components"], "schemas": kept}})
        if f"#/components/schemas/{name}'" not in text:
            del schemas[name]
