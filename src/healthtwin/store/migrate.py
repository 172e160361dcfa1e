"""Schema migrations: Alembic scripts shipped in the package, applied on open.

The schema is created and changed only by the revisions in ``migrations/versions``
(never by ``metadata.create_all``), so a database made by any release can be upgraded in
place. :func:`ensure_schema` runs when a store opens: it upgrades an older database to the
head revision, and refuses one stamped with a revision this release does not know (written
by a newer healthtwin). Upgrades run inside one write transaction (SQLite ``BEGIN
IMMEDIATE``; a PostgreSQL advisory lock), so processes that open a new database at the
same moment migrate it once.

From a shell, the same scripts run with Alembic's own command (``-x url=`` names the
database; without it, the default one)::

    alembic -c src/healthtwin/store/migrations/alembic.ini -x url=sqlite:///t.sqlite upgrade head
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from healthtwin.errors import StoreError
from healthtwin.store.engine import create_store_engine, database_errors, default_url, writer
from healthtwin.store.schema import Base

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "downgrade_schema",
    "ensure_schema",
    "head_revision",
    "run_environment",
    "upgrade_schema",
]

#: The folder holding ``env.py`` and ``versions/``.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: serializes concurrent migrations on one PostgreSQL database.
_ADVISORY_LOCK = 7_357_102_024


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged scripts, bound to ``connection`` if given.

    Examples
    --------
    >>> alembic_config().get_main_option("script_location").endswith("migrations")
    True
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this release ships.

    Examples
    --------
    >>> head_revision()
    '0002'
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StoreError(f"no migration scripts found in {MIGRATIONS}; reinstall healthtwin")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is stamped with (``None`` for an empty database)."""
    with database_errors("reading the schema revision"), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(engine: Engine, *, upgrade: bool = True) -> None:
    """Bring the database to the head revision, or explain why it cannot be used.

    Parameters
    ----------
    engine : Engine
        The store's engine.
    upgrade : bool
        Upgrade an empty or older database; with ``False`` such a database raises instead.

    Raises
    ------
    StoreError
        If the database is at a revision this release does not know (a newer healthtwin
        wrote it), or is not at head and ``upgrade`` is false, or a migration fails.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    script = ScriptDirectory.from_config(alembic_config())
    known = {revision.revision for revision in script.walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(
            f"the database {_shown(engine)} is at schema revision {current!r}, which this "
            f"healthtwin (newest revision {head!r}) does not know; it was probably written by "
            "a newer healthtwin: upgrade healthtwin, or use another database"
        )
    if not upgrade:
        raise StoreError(
            f"the database {_shown(engine)} is at schema revision {current!r}, not {head!r}; "
            "open it with upgrade=True (or run 'alembic upgrade head' with the packaged "
            "migrations) to migrate it"
        )
    upgrade_schema(engine)


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply the packaged migrations up to ``revision`` in one write transaction."""
    _run(engine, lambda config: command.upgrade(config, revision), f"upgrading to {revision}")


def downgrade_schema(engine: Engine, revision: str = "base") -> None:
    """Revert the packaged migrations down to ``revision`` (``"base"`` drops every table)."""
    _run(engine, lambda config: command.downgrade(config, revision), f"downgrading to {revision}")


def _run(engine: Engine, step: Callable[[Config], None], what: str) -> None:
    with (
        database_errors(f"{what} the schema of {_shown(engine)}"),
        writer(engine).begin() as connection,
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
        step(alembic_config(connection))


def run_environment() -> None:
    """Body of ``migrations/env.py``: run the migrations Alembic was asked for.

    Called through :func:`upgrade_schema` the connection (already in a transaction) comes in
    the configuration's attributes; from Alembic's command line the URL comes from
    ``-x url=...``, else from :func:`~healthtwin.store.engine.default_url`.
    """
    from alembic import context

    if context.is_offline_mode():
        raise StoreError("offline (--sql) migrations are not supported; run them online")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or default_url()
    engine = create_store_engine(url)
    try:
        with writer(engine).begin() as own:
            _configure_and_run(own)
    finally:
        engine.dispose()


def _configure_and_run(connection: Connection) -> None:
    from alembic import context

    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _shown(engine: Engine) -> str:
    return repr(engine.url.render_as_string(hide_password=True))
