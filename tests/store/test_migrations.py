"""Migrations: up, down and up again; the ORM matches the migrated schema; revision checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from healthtwin.errors import StoreError
from healthtwin.store import current_revision, head_revision, open_store
from healthtwin.store.engine import create_store_engine
from healthtwin.store.migrate import MIGRATIONS, downgrade_schema, ensure_schema, upgrade_schema
from healthtwin.store.schema import Base

TABLES = {
    "resources",
    "resource_history",
    "observations",
    "twin_states",
    "audit_events",
    "audit_event_resources",
    "audit_checkpoints",
    "recommendations",
    "recommendation_decisions",
    "model_switches",
}


def _tables(url: str) -> set[str]:
    engine = create_store_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade_schema(engine)
        assert current_revision(engine) == head_revision() == "0002"
        assert _tables(database_url) == TABLES
        downgrade_schema(engine)
        assert current_revision(engine) is None
        assert _tables(database_url) == set()
        upgrade_schema(engine)
        assert _tables(database_url) == TABLES
    finally:
        engine.dispose()


def test_the_orm_matches_the_migrated_schema(database_url: str) -> None:
    with open_store(database_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_opening_twice_is_a_no_op(database_url: str) -> None:
    with open_store(database_url) as store:
        store.create({"resourceType": "Patient", "id": "p1"})
    with open_store(database_url) as store:
        assert store.read("Patient", "p1")["id"] == "p1"
        assert current_revision(store.engine) == head_revision()


def test_a_newer_revision_is_refused_with_advice(database_url: str) -> None:
    with open_store(database_url) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match=r"revision '9999_future'.*upgrade healthtwin"):
        open_store(database_url)


def test_an_old_database_is_refused_when_upgrades_are_off(database_url: str) -> None:
    with pytest.raises(StoreError, match=r"is at schema revision None, not '0002'.*upgrade=True"):
        open_store(database_url, upgrade=False)
    with open_store(database_url):
        pass
    with open_store(database_url, upgrade=False) as store:
        assert store.backend in {"sqlite", "postgresql"}


def test_tables_made_outside_the_migrations_are_a_store_error(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE resources (x INTEGER)"))
        with pytest.raises(StoreError, match="upgrading to head the schema of"):
            ensure_schema(engine)
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_the_packaged_alembic_ini_works_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    command = [sys.executable, "-m", "alembic", "-c", str(MIGRATIONS / "alembic.ini")]
    for step in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        done = subprocess.run(
            [*command, "-x", f"url={url}", *step], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    assert _tables(url) == TABLES
    with open_store(url, upgrade=False) as store:
        assert current_revision(store.engine) == "0002"


def test_migrations_ship_as_package_data() -> None:
    shipped = {p.relative_to(MIGRATIONS).as_posix() for p in MIGRATIONS.rglob("*.py")}
    assert {"env.py", "versions/0001_initial.py"} <= shipped
    assert (MIGRATIONS / "alembic.ini").is_file()
