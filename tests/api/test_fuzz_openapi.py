"""Bounded schemathesis fuzzing of the service against its own OpenAPI document.

The app runs in development mode (its OpenAPI document is served; production hides it)
over a SQLite store holding one patient, called in-process through ASGI with a valid demo
token. Every operation gets a few generated cases (paths, ids and query strings drawn from
the spec, fixed seed); each answer must not be a server error and must match the response
schema the spec declares. Deadlines are off: no timed assertions.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests.api.security_fixtures import patient

from healthtwin.api.app import create_app
from healthtwin.api.devmode import development_config
from healthtwin.store import Store, open_store


def _app() -> tuple[FastAPI, Store, str]:
    # Built at import: schemathesis reads the spec while collecting. Removed at exit.
    directory = Path(tempfile.mkdtemp(prefix="healthtwin-fuzz-"))
    security, token = development_config(directory)
    store = open_store(f"sqlite:///{directory / 'store.sqlite'}")
    atexit.register(shutil.rmtree, directory, True)
    atexit.register(store.close)
    store.create(patient("fuzz-1"))
    app = create_app(store, base_url="http://testserver/fhir", security=security)
    return app, store, token


APP, STORE, TOKEN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_schema_conformance(case: Any) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Purpose-Of-Use": "TREAT"}
    case.call_and_validate(
        headers=headers, checks=[not_a_server_error, response_schema_conformance]
    )


def test_fuzzed_requests_were_governed() -> None:
    """The cases above reached the governance layer: each left an audit event."""
    events = STORE.audit_events(actor="Practitioner/demo-user")
    assert len(events) >= 20
    assert {e.purpose for e in events} == {"TREAT"}
