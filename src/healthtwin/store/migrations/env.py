"""Alembic's entry point for the store's migrations (see :mod:`healthtwin.store.migrate`)."""

from __future__ import annotations

from alembic import context

from healthtwin.store.migrate import run_environment

# Only Alembic installs the migration context; other importers (pytest collecting doctests)
# must not run migrations.
if getattr(context, "_proxy", None) is not None:
    run_environment()
