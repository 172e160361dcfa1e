"""A real FHIR server for the API tests: uvicorn on a free loopback port, in a thread.

One server per backend (SQLite file, PostgreSQL database) for the whole session; tests
use fresh ids so they do not see each other's data. ``fhir`` is a ``fhirpy`` client on
it, ``http`` a raw ``httpx`` client for bad input.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fhirpy import SyncFHIRClient
from tests.conftest import BACKENDS, postgres_database

from healthtwin.api.app import create_app
from healthtwin.store import Store, open_store

#: Small limits so the bad-input tests stay fast.
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_ENTRIES = 200


@dataclass(frozen=True)
class Server:
    """A running server: its FHIR base URL and the store behind it."""

    base: str
    store: Store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A uvicorn server over a fresh store on each backend."""
    urls: Iterator[str]
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{tmp_path_factory.mktemp('api') / 'store.sqlite'}"])
    else:
        urls = postgres_database(request.getfixturevalue("postgres_admin"))
    url = next(urls)
    store = open_store(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    app = create_app(store, base_url=base, max_body_bytes=MAX_BODY_BYTES, max_entries=MAX_ENTRIES)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="critical", lifespan="off", ws="none"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn test server did not start within 20 s")
        time.sleep(0.01)
    try:
        yield Server(base, store)
    finally:
        running.should_exit = True
        thread.join(10)
        store.close()
        for _ in urls:  # drop the PostgreSQL database
            pass


@pytest.fixture
def fhir(server: Server) -> SyncFHIRClient:
    """A fhirpy client on the test server."""
    return SyncFHIRClient(server.base, extra_headers={"X-Actor": "Practitioner/tester"})


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """A raw HTTP client on the test server's FHIR base."""
    with httpx.Client(base_url=server.base, timeout=30) as client:
        yield client


def unique(prefix: str) -> str:
    """A fresh id for one test's resources."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
