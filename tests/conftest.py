"""Shared test helpers.

``HEALTHTWIN_FULL_TESTS=1`` (set by ``.ci/run``) turns every skip for a missing optional
dependency or service into a failure, so CI cannot pass by skipping.

PostgreSQL for the store and API tests comes from ``HEALTHTWIN_POSTGRES_URL`` (``.ci/run``
starts a server and sets it; the role needs CREATEDB), else from a throwaway server started
here when the Debian server binaries are installed (see ``tests/store/postgres_cluster.py``),
else the PostgreSQL half is skipped with the reason, except under ``HEALTHTWIN_FULL_TESTS=1``,
where it fails instead. Each test gets a fresh database (SQLite: a new file; PostgreSQL:
``CREATE DATABASE``).
"""

from __future__ import annotations

import importlib
import os
import pwd
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy.linalg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from tests.store.postgres_cluster import server_binaries, start_cluster

FULL = os.environ.get("HEALTHTWIN_FULL_TESTS") == "1"

# The GPL test oracle python-anesthesia-simulator pins python-control 0.9.4, which imports
# ``numpy.linalg.linalg``, a module NumPy 2 no longer ships: alias it before any test
# imports the oracle (whichever test module comes first).
sys.modules.setdefault("numpy.linalg.linalg", numpy.linalg)


@pytest.fixture(autouse=True)
def _healthtwin_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh ``HEALTHTWIN_HOME`` per test: the shared privacy ledger lives there, and a
    test must neither spend the user's budget nor inherit another test's spends."""
    home = tmp_path_factory.mktemp("healthtwin-home")
    monkeypatch.setenv("HEALTHTWIN_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _worlds_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``healthtwin run`` in process unless a test asks for a cluster: a LocalCluster per
    command-line test would cost seconds each (tests/cli/test_run_cluster.py and
    tests/scenarios/test_distributed.py test the clusters themselves)."""
    monkeypatch.setenv("HEALTHTWIN_CLUSTER", "none")


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or skip (fail under HEALTHTWIN_FULL_TESTS=1) naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        message = f"{module} is not installed: pip install 'healthtwin[{extra}]'"
        if FULL:
            pytest.fail(f"{message} (HEALTHTWIN_FULL_TESTS=1 forbids skipping): {err}")
        pytest.skip(message)


BACKENDS = ("sqlite", "postgresql")


def _unavailable(reason: str) -> NoReturn:
    if FULL:
        pytest.fail(f"{reason} (HEALTHTWIN_FULL_TESTS=1 forbids skipping the PostgreSQL tests)")
    pytest.skip(reason)


@contextmanager
def _throwaway_server() -> Iterator[str]:
    binaries = server_binaries()
    if binaries is None:
        _unavailable(
            "PostgreSQL tests need HEALTHTWIN_POSTGRES_URL or the server binaries in "
            "/usr/lib/postgresql/<version>/bin (apt-get install postgresql)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root needs the 'postgres' OS user to start PostgreSQL")
    try:
        cluster = start_cluster(binaries)
    except (RuntimeError, OSError) as err:
        _unavailable(f"could not start a throwaway PostgreSQL server: {err}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL server, for creating test databases."""
    configured = os.environ.get("HEALTHTWIN_POSTGRES_URL", "").strip()
    with ExitStack() as cleanup:
        url = make_url(configured or cleanup.enter_context(_throwaway_server()))
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        cleanup.callback(engine.dispose)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as err:
            _unavailable(f"cannot connect to PostgreSQL at {url!r}: {err}")
        yield engine


def postgres_database(admin: Engine) -> Iterator[str]:
    name = f"healthtwin_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)


def _drop_database(admin: Engine, name: str, tries: int = 20) -> None:
    """Drop a test database, closing what is still connected to it.

    ``WITH (FORCE)`` terminates the other sessions on the database, which a role that is
    not a superuser may only do for sessions of its own role: an autovacuum worker that
    happens to be on the database makes it fail ("must be a member of the role whose
    process is being terminated"). The worker is gone within moments, so try again.
    """
    for attempt in range(tries):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except SQLAlchemyError:
            if attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    yield from postgres_database(request.getfixturevalue("postgres_admin"))
