"""A uvicorn server for the ``/api/v1`` and dashboard tests: a real HTTP server in a thread.

:func:`running` serves an app built by :func:`healthtwin.api.app.create_app` on a free
loopback port and yields its root URL; on exit it stops live streams, cancels jobs, stops
the server and closes the store.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
