"""A uvicorn server for the ``/api/v1`` and dashboard tests: a real HTTP server in a thread.

:func:`running` serves an app built by :func:`healthtwin.api.app.create_app` on a free
loopback port and yields its root URL; on exit it stops live streams, cancels jobs, stops
the server and closes the store.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from healthtwin.api.app import create_app
from healthtwin.api.security import SecurityConfig
from healthtwin.store import Store, open_store


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """Serve ``app`` on ``port`` until the block ends; yield ``http://127.0.0.1:port``."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="critical",
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.stopping.set()
        app.state.jobs.shutdown()
        server.should_exit = True
        thread.join(10)


@contextmanager
def running(
    directory: Path, security: SecurityConfig | None = None
) -> Iterator[tuple[str, Store, FastAPI]]:
    """A server over a fresh SQLite store in ``directory``: (root URL, store, app)."""
    store = open_store(f"sqlite:///{directory / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=security)
    try:
        with serving(app, port) as root:
            yield root, store, app
    finally:
        store.close()


@contextmanager
def v1_client(directory: Path) -> Iterator[tuple[httpx.Client, Store]]:
    """A client on ``/api/v1`` of a server over a fresh SQLite store in ``directory``."""
    with (
        running(directory) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as client,
    ):
        yield client, store


def new_twin(client: httpx.Client, prefix: str = "t", **extra: Any) -> str:
    """Create a patient twin with 8 members (and ``extra`` fields); its id."""
    twin_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
    response = client.post("/twins", json={"twin_id": twin_id, "members": 8, **extra})
    assert response.status_code == 201, response.text
    return twin_id
