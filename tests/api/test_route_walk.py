"""Every route of the app, walked: each answers what the OpenAPI document declares.

The routes come from the application itself (``app.routes``), not from a list kept here,
so a new route is walked as soon as it exists. On a secured server every ``/api/v1``
route answers ``401`` without a token, and the document declares it; on an open server a
malformed body is a declared ``400`` and an unknown id a declared ``404`` (``/api/v1``
problem details, ``/fhir`` OperationOutcomes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from tests.api.security_fixtures import Keys, config
from tests.api.v1_server import running

UNKNOWN = "no-such-id-0"
_PARAM = re.compile(r"\{[^}]+\}")


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, descending into included routers (FastAPI >= 0.13x wraps them)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _operations(app: FastAPI, prefix: str) -> list[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every documented route under ``prefix``.

    The routers are included without a prefix of their own, so a route's path is its URL.
    """
    found = []
    for route in _routes(app.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if not (route.path == prefix or route.path.startswith(prefix + "/")):
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append((method, route.path, route))
    return found


def _declared(spec: dict[str, Any], method: str, path: str) -> set[str]:
    return set(spec["paths"][path][method.lower()]["responses"])


def _url(path: str) -> str:
    """``path`` with every parameter an unknown id (a version is a number)."""
    return _PARAM.sub(UNKNOWN, path.replace("{version_id}", "1"))


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    keys = Keys.make()
    with running(tmp_path_factory.mktemp("walk-secured"), config(keys)) as (root, _, app):
        yield root, app


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    with running(tmp_path_factory.mktemp("walk-open")) as (root, _, app):
        yield root, app


def test_every_v1_route_answers_a_declared_401_without_a_token(
    secured: tuple[str, FastAPI],
) -> None:
    root, app = secured
    spec = app.openapi()  # a production server does not serve it; its routes are the same
    operations = _operations(app, "/api/v1")
    assert len(operations) >= 50, len(operations)
    wrong = []
    with httpx.Client(base_url=root, timeout=30) as client:
        for method, path, _ in operations:
            response = client.request(method, _url(path), params={"max_s": 1})
            if response.status_code != 401 or "401" not in _declared(spec, method, path):
                wrong.append((method, path, response.status_code))
            elif not response.headers["www-authenticate"].startswith("Bearer"):
                wrong.append((method, path, "no WWW-Authenticate"))
    assert wrong == []


def _has_body(route: APIRoute) -> bool:
    return route.body_field is not None


def test_a_malformed_body_is_a_declared_400(open_server: tuple[str, FastAPI]) -> None:
    root, app = open_server
    spec = httpx.get(f"{root}/openapi.json").json()
    walked = [
        (method, path)
        for prefix in ("/api/v1", "/fhir")
        for method, path, route in _operations(app, prefix)
        if _has_body(route) or (prefix == "/fhir" and method in ("POST", "PUT"))
    ]
    assert len(walked) >= 25, len(walked)
    wrong = []
    with httpx.Client(base_url=root, timeout=30) as client:
        for method, path in walked:
            response = client.request(
                method,
                _url(path),
                content=b'{"broken": ',
                headers={"content-type": "application/json"},
            )
            if response.status_code != 400 or "400" not in _declared(spec, method, path):
                wrong.append((method, path, response.status_code))
    assert wrong == []


def test_an_unknown_id_is_a_declared_404(open_server: tuple[str, FastAPI]) -> None:
    root, app = open_server
    spec = httpx.get(f"{root}/openapi.json").json()
    walked = [
        (method, path)
        for prefix in ("/api/v1", "/fhir")
        for method, path, route in _operations(app, prefix)
        if method in ("GET", "DELETE") and "{" in path and "{resource_type}" not in path
    ]
    # FHIR routes by type: a known type with an unknown id.
    walked += [
        (method, path)
        for method, path, _ in _operations(app, "/fhir")
        if method in ("GET", "DELETE") and "{resource_id}" in path
    ]
    assert len(walked) >= 20, len(walked)
    wrong = []
    with httpx.Client(base_url=root, timeout=30) as client:
        for method, path in walked:
            url = _url(path.replace("{resource_type}", "Patient"))
            response = client.request(method, url, params={"max_s": 1})
            if response.status_code != 404 or "404" not in _declared(spec, method, path):
                wrong.append((method, path, response.status_code))
    assert wrong == []
