"""Store fixtures: every store test runs against SQLite and against PostgreSQL.

The database fixtures (``database_url``, ``postgres_admin``) live in ``tests/conftest.py``
so that the API tests share them; each test gets a fresh database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from healthtwin.store import Store, open_store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on each backend, closed after the test."""
    opened = open_store(database_url)
    try:
        yield opened
    finally:
        opened.close()
