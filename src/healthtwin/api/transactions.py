"""Transaction and batch Bundles (``POST /fhir``).

A **transaction** is all or nothing: every entry is checked first (model, our rules),
``urn:uuid:`` fullUrls are rewritten to the ids the server assigns, and every write goes
into one :meth:`Store.write_transaction <healthtwin.store.Store.write_transaction>` with
one audit event. The Patients the entries point at are checked in that same database
transaction, after its writes (so Patients the Bundle creates count, and a concurrent
deletion cannot slip in); any failure writes nothing and is reported with the failing
entry's path. ``GET`` entries are read after the writes. A **batch** runs each entry on
its own; a failing entry gets its own status and ``OperationOutcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from healthtwin.api.checks import (
    WritePlan,
    check_type,
    checked_resource,
    new_id,
    plan_create,
    plan_delete,
    plan_update,
    reprefixed,
    required_patient,
)
from healthtwin.api.outcome import http_status
from healthtwin.api.service import (
    audit_failure,
    create_resource,
    delete_resource,
    update_resource,
    version_of,
)
from healthtwin.errors import ResourceValidationError, TwinError, ValidationIssue
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_json import parse_resource
from healthtwin.store import Operation, RecordAudit, Store
from healthtwin.store.operations import RequireResources

__all__ = ["process_bundle"]

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class _Entry:
    index: int
    method: str
    resource_type: str
    id: str | None
    resource: JSONDict | None
    if_match: str | None


def _fail(message: str, path: str, code: str = "invalid") -> ResourceValidationError:
    return ResourceValidationError(message, (ValidationIssue(path, message, code),))


def _entry(index: int, raw: JSONDict) -> _Entry:
    where = f"Bundle.entry[{index}]"
    request = raw.get("request") or {}
    method = str(request.get("method", "")).upper()
    url = str(request.get("url", "")).split("?", 1)[0].strip("/")
    parts = url.split("/")
    resource = raw.get("resource")
    if method not in ("POST", "PUT", "DELETE", "GET"):
        raise _fail(f"method {method!r} is not one of POST, PUT, DELETE, GET", f"{where}.request")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise _fail(f"a {method} entry needs a resource", f"{where}.resource", "required")
    if method == "POST":
        resource_type, resource_id = str(resource["resourceType"]), None  # type: ignore[index]
    elif len(parts) == 2 and all(parts):
        resource_type, resource_id = parts
    else:
        raise _fail(
            f"request url {url!r} is not Type/id; a {method} entry names the resource",
            f"{where}.request.url",
        )
    try:
        check_type(resource_type)
    except ResourceValidationError as err:
        raise reprefixed(err, f"{where}.request", f"entry {index}") from err
    return _Entry(index, method, resource_type, resource_id, resource, request.get("ifMatch"))


def _rewrite(node: Any, ids: dict[str, str]) -> Any:
    """A copy of ``node`` with every reference to a Bundle fullUrl replaced by ``Type/id``."""
    stack: list[Any] = [node := _copy(node)]
    while stack:
        item = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict) and isinstance(item.get("reference"), str):
            item["reference"] = ids.get(item["reference"], item["reference"])
        stack.extend(c for c in children if isinstance(c, dict | list))
    return node


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


@dataclass(frozen=True)
class _Plans:
    entries: list[_Entry]
    plans: list[WritePlan | None]
    #: ``{issue path: "Patient/id"}`` of every Patient the entries point at.
    required: dict[str, str]


def _plans(bundle: JSONDict) -> _Plans:
    raw = bundle.get("entry") or []
    entries = [_entry(i, e) for i, e in enumerate(raw)]
    entries = [replace(e, id=new_id()) if e.method == "POST" else e for e in entries]
    ids = {
        str(raw_entry["fullUrl"]): f"{entry.resource_type}/{entry.id}"
        for entry, raw_entry in zip(entries, raw, strict=True)
        if entry.method in ("POST", "PUT") and raw_entry.get("fullUrl")
    }
    plans: list[WritePlan | None] = []
    required: dict[str, str] = {}
    issues: list[ValidationIssue] = []
    for entry in entries:
        where = f"Bundle.entry[{entry.index}].resource"
        if entry.method == "GET":
            plans.append(None)
            continue
        if entry.method == "DELETE":
            assert entry.id is not None
            plans.append(plan_delete(entry.resource_type, entry.id, version_of(entry.if_match)))
            continue
        resource = {**_rewrite(entry.resource, ids), "id": entry.id}
        try:
            checked = checked_resource(resource, entry.resource_type, in_bundle=True)
        except ResourceValidationError as err:
            issues.extend(reprefixed(err, where, "").issues)
            plans.append(None)
            continue
        required.update(required_patient(checked, where))
        if entry.method == "POST":
            plans.append(plan_create(checked))
        else:
            plans.append(plan_update(checked, version_of(entry.if_match)))
    if issues:
        listed = "; ".join(f"{i.path}: {i.message}" for i in issues[:5])
        raise ResourceValidationError(f"the transaction writes nothing: {listed}", tuple(issues))
    return _Plans(entries, plans, required)


def _response(status: str, body: JSONDict | None, version: str | None = None) -> JSONDict:
    response: JSONDict = {"status": status}
    if body is not None and "meta" in body:
        response["location"] = (
            f"{body['resourceType']}/{body['id']}/_history/{body['meta']['versionId']}"
        )
        response["etag"] = f'W/"{body["meta"]["versionId"]}"'
    if version is not None:
        response["etag"] = f'W/"{version}"'
    return {"response": response, **({"resource": body} if body is not None else {})}


#: ``owner`` of the operation that checks references: its issues carry full paths.
_REFERENCES = -2


def _transaction(store: Store, bundle: JSONDict, actor: str) -> JSONDict:
    planned = _plans(bundle)
    entries = planned.entries
    ops: list[Operation] = []
    first_op: dict[int, int] = {}
    owner: list[int] = []
    for entry, plan in zip(entries, planned.plans, strict=True):
        if plan is not None:
            first_op[entry.index] = len(ops)
            ops.extend(plan.operations)
            owner.extend([entry.index] * len(plan.operations))
    if planned.required:
        ops.append(RequireResources(planned.required))
        owner.append(_REFERENCES)
    refs = [f"{e.resource_type}/{e.id}" for e in entries if e.id]
    ops.append(RecordAudit(actor=actor, action="transaction", resource_refs=refs[:1000]))
    owner.append(-1)
    try:
        results = store.write_transaction(ops)
    except TwinError as err:
        audit_failure(store, actor, "transaction", "Bundle", err)
        cause = err.__cause__ if isinstance(err.__cause__, TwinError) else err
        index = _failed_op(str(err), owner)
        if index == _REFERENCES and isinstance(cause, ResourceValidationError):
            message = f"the transaction writes nothing: {cause}"
            raise ResourceValidationError(message, cause.issues) from err
        where = f"Bundle.entry[{index}]" if index >= 0 else "Bundle"
        message = f"{where} failed, the transaction wrote nothing: {cause}"
        if isinstance(cause, ResourceValidationError):
            raise reprefixed(cause, f"{where}.resource", message) from err
        raise type(cause)(message) from err
    out = []
    for entry in entries:
        if entry.method == "GET":
            assert entry.id is not None
            out.append(_response("200 OK", store.read(entry.resource_type, entry.id)))
            continue
        result = results[first_op[entry.index]]
        if entry.method == "DELETE":
            out.append(_response("204 No Content", None, str(result)))
        else:
            assert isinstance(result, dict)
            created = entry.method == "POST" or result["meta"]["versionId"] == "1"
            out.append(_response("201 Created" if created else "200 OK", result))
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": out}


def _failed_op(message: str, owner: list[int]) -> int:
    prefix = "transaction entry "
    if not message.startswith(prefix):
        return -1
    digits = message[len(prefix) :].split(" ", 1)[0]
    return owner[int(digits)] if digits.isdigit() and int(digits) < len(owner) else -1


def _batch_entry(store: Store, index: int, raw: JSONDict, actor: str) -> JSONDict:
    try:
        entry = _entry(index, raw)
        if entry.method == "GET":
            assert entry.id is not None
            return _response("200 OK", store.read(entry.resource_type, entry.id))
        if entry.method == "DELETE":
            assert entry.id is not None
            version = delete_resource(
                store, entry.resource_type, entry.id, actor=actor, if_match=entry.if_match
            )
            return _response("204 No Content", None, str(version))
        assert entry.resource is not None
        if entry.method == "POST":
            return _response(
                "201 Created",
                create_resource(store, entry.resource_type, entry.resource, actor=actor),
            )
        assert entry.id is not None
        body, created = update_resource(
            store,
            entry.resource_type,
            entry.id,
            entry.resource,
            actor=actor,
            if_match=entry.if_match,
        )
        return _response("201 Created" if created else "200 OK", body)
    except TwinError as err:
        status, outcome = http_status(err)
        return {"response": {"status": str(status), "outcome": outcome}}


def process_bundle(store: Store, bundle: JSONDict, *, actor: str) -> JSONDict:
    """Run a transaction or batch Bundle and return its response Bundle.

    Raises
    ------
    ResourceValidationError
        If the Bundle is not a transaction or batch, or (transaction) any entry is invalid.
    TwinError
        A transaction's failing write (conflict, not found...), with the entry's path.
    """
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise _fail(
            f"POST /fhir takes a Bundle of type transaction or batch, got {kind!r}; "
            "store other Bundles with POST /fhir/Bundle",
            "Bundle.type",
            "not-supported",
        )
    if kind == "transaction":
        validate_resource(parse_resource(bundle, types=("Bundle",)))
        return _transaction(store, bundle, actor)
    run: Callable[[int, JSONDict], JSONDict] = lambda i, e: _batch_entry(store, i, e, actor)  # noqa: E731
    entries = [run(i, e) for i, e in enumerate(bundle.get("entry") or [])]
    return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
