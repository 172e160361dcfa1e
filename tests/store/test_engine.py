"""Engines: the default database, SQLite settings, URL checks and error translation."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from healthtwin.errors import ConflictError, InvalidInputError, StoreError
from healthtwin.store import DATABASE_URL_ENV, Store, default_url, open_store
from healthtwin.store.engine import create_store_engine, database_errors, parse_url


def test_the_default_database_is_a_file_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = default_url()
    assert url == f"sqlite:///{tmp_path / 'data' / 'healthtwin' / 'healthtwin.sqlite'}"
    assert (tmp_path / "data" / "healthtwin").is_dir()
    with open_store() as store:
        store.create({"resourceType": "Patient", "id": "p1"})
    assert (tmp_path / "data" / "healthtwin" / "healthtwin.sqlite").is_file()


def test_the_environment_variable_names_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "nested" / "twins.sqlite"
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{target}")
    with open_store() as store:
        assert repr(store) == f"Store('sqlite:///{target}')"
    assert target.is_file()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with open_store(url, busy_timeout_s=2.5) as store, store.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert pragma("PRAGMA busy_timeout").scalar() == 2500
    # Another program sees write-ahead logging on the file itself.
    with sqlite3.connect(tmp_path / "s.sqlite") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def test_a_locked_database_becomes_a_store_error_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    with open_store(f"sqlite:///{path}", busy_timeout_s=0.2) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreError, match=r"database is locked.*busy timeout"):
                store.create({"resourceType": "Patient", "id": "p1"})
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        store.create({"resourceType": "Patient", "id": "p1"})


def test_in_memory_sqlite_is_one_database_across_threads() -> None:
    with open_store("sqlite://") as store:
        worker = threading.Thread(
            target=store.create, args=({"resourceType": "Patient", "id": "t"},)
        )
        worker.start()
        worker.join()
        assert store.read("Patient", "t")["id"] == "t"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "names backend 'mysql'; healthtwin stores support"),
        ("not a url", "cannot parse database URL 'not a url'"),
    ],
)
def test_unsupported_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        open_store(url)


def test_postgresql_urls_get_the_psycopg_driver_and_hide_passwords() -> None:
    parsed = parse_url("postgresql://twin:secret@db.internal:5432/twins")
    assert parsed.drivername == "postgresql+psycopg"
    engine = create_store_engine("postgresql://twin:secret@db.internal:5432/twins")
    assert engine.dialect.driver == "psycopg"
    shown = repr(Store(engine))  # no connection is made
    assert shown == "Store('postgresql+psycopg://twin:***@db.internal:5432/twins')"
    engine.dispose()


def test_driver_errors_become_healthtwin_errors() -> None:
    cause = sqlite3.IntegrityError("UNIQUE constraint failed: observations.id")
    conflict = pytest.raises(ConflictError, match=r"adding rows conflicts.*UNIQUE constraint")
    with conflict, database_errors("adding rows"):
        raise IntegrityError("INSERT", {}, cause)
    failure = pytest.raises(StoreError, match="while reading: disk I/O error; check that")
    with failure, database_errors("reading"):
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))
