"""Database engines: the default location, SQLite settings, write transactions, errors.

With no URL the store is a SQLite file in the user's data directory (zero set-up); the
environment variable ``HEALTHTWIN_DATABASE_URL`` or an explicit URL selects another file or
a PostgreSQL server (``postgresql+psycopg://user@host/db``).

SQLite is opened in write-ahead-log mode (readers never block the writer), with foreign
keys on, ``synchronous=NORMAL`` (durable at checkpoints, safe against corruption) and a busy
timeout, so that concurrent writers wait for the lock instead of failing. Writes begin with
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can deadlock with
another writer and fail at once whatever the timeout, an immediate one queues for the
write lock. PostgreSQL transactions are plain read-committed ones; writers that read first
take row locks (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from healthtwin.errors import (
    ConflictError,
    InvalidInputError,
    MissingDependencyError,
    StoreError,
)

__all__ = [
    "DATABASE_URL_ENV",
    "WRITE_OPTION",
    "create_store_engine",
    "database_errors",
    "default_url",
    "parse_url",
    "writer",
]

#: Environment variable naming the database when ``open_store`` gets no URL.
DATABASE_URL_ENV = "HEALTHTWIN_DATABASE_URL"
#: Execution option marking a connection whose transactions write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "healthtwin_write"
_BACKENDS = ("sqlite", "postgresql")


def default_url() -> str:
    """The database used when none is named.

    Returns
    -------
    str
        ``$HEALTHTWIN_DATABASE_URL`` if set, else a SQLite file ``healthtwin.sqlite`` in
        ``platformdirs.user_data_dir("healthtwin")`` (the folder is created if missing).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {DATABASE_URL_ENV: "postgresql://db.example/twins"}):
    ...     default_url()
    'postgresql://db.example/twins'
    """
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return configured
    folder = Path(platformdirs.user_data_dir("healthtwin"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'healthtwin.sqlite'}"


def parse_url(url: str) -> URL:
    """Parse and check a database URL; ``postgresql://`` gets the psycopg 3 driver.

    Raises
    ------
    InvalidInputError
        If the URL cannot be parsed or names a backend other than SQLite or PostgreSQL.
    MissingDependencyError
        If it names PostgreSQL and psycopg is not installed.

    Examples
    --------
    >>> parse_url("postgresql://u@localhost/twins").drivername
    'postgresql+psycopg'
    >>> parse_url("sqlite://").get_backend_name()
    'sqlite'
    """
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise InvalidInputError(
            f"cannot parse database URL {url!r}: {err}; use for example "
            "'sqlite:///path/to/file.sqlite' or 'postgresql+psycopg://user@host:5432/db'"
        ) from err
    backend = parsed.get_backend_name()
    if backend not in _BACKENDS:
        raise InvalidInputError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} names backend "
            f"{backend!r}; healthtwin stores support {list(_BACKENDS)}"
        )
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if importlib.util.find_spec("psycopg") is None:
            raise MissingDependencyError(
                "PostgreSQL needs the psycopg driver: pip install 'healthtwin[postgres]'"
            )
    return parsed


def create_store_engine(url: str | URL, *, busy_timeout_s: float = 30.0) -> Engine:
    """An engine with the store's connection settings (see the module docstring).

    Parameters
    ----------
    url : str or URL
        SQLite or PostgreSQL URL (``sqlite://`` is a private in-memory database).
    busy_timeout_s : float
        How long a SQLite writer waits for the write lock before failing.

    Examples
    --------
    >>> engine = create_store_engine("sqlite://")
    >>> with engine.connect() as connection:
    ...     connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    1
    >>> engine.dispose()
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        options["poolclass"] = StaticPool
    else:
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **options)
    _configure_sqlite(engine, busy_timeout_ms=round(busy_timeout_s * 1000), wal=not in_memory)
    return engine


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, decides when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions take the write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def database_errors(what: str) -> Iterator[None]:
    """Turn driver errors raised while doing ``what`` into healthtwin errors.

    Integrity violations (a duplicate key written by a concurrent writer) become
    :class:`ConflictError`; every other database failure becomes :class:`StoreError`.

    Examples
    --------
    >>> from sqlalchemy.exc import OperationalError
    >>> with database_errors("reading Patient/p1"):
    ...     raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))
    Traceback (most recent call last):
    ...
    healthtwin.errors.StoreError: database failure while reading Patient/p1: ...
    """
    try:
        yield
    except IntegrityError as err:
        raise ConflictError(
            f"{what} conflicts with data already stored ({_reason(err)}); read the current "
            "state and retry"
        ) from err
    except DBAPIError as err:
        raise StoreError(
            f"database failure while {what}: {_reason(err)}; check that the database is "
            "reachable, not full, and not locked for longer than the busy timeout"
        ) from err
    except SQLAlchemyError as err:
        raise StoreError(f"database failure while {what}: {err}") from err


def _reason(err: DBAPIError) -> str:
    return str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
