"""The throwaway PostgreSQL server of the tests, for benchmarks run outside pytest.

``tests/store/postgres_cluster.py`` is loaded by its path: a third-party package (Ciw)
installs a top-level ``tests`` package that shadows this repository's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["cluster_module", "postgres_databases"]


def cluster_module() -> Any:
    """The module ``tests/store/postgres_cluster.py`` (server_binaries, start_cluster)."""
    where = Path(__file__).resolve().parents[1] / "tests" / "store" / "postgres_cluster.py"
    spec = importlib.util.spec_from_file_location("_healthtwin_postgres_cluster", where)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


@contextmanager
def postgres_databases() -> Iterator[Callable[[], str] | None]:
    """A factory of fresh PostgreSQL database URLs, or None when there is no server.

    Uses ``HEALTHTWIN_POSTGRES_URL`` when set, else starts a throwaway server from the
    Debian binaries for the duration of the ``with`` block.
    """
    with ExitStack() as stack:
        server = os.environ.get("HEALTHTWIN_POSTGRES_URL", "").strip()
        if not server:
            pg = cluster_module()
            binaries = pg.server_binaries()
            if binaries is None:
                yield None
                return
            cluster = pg.start_cluster(binaries)
            stack.callback(cluster.stop)
            server = cluster.url
        url = make_url(server).set(drivername="postgresql+psycopg")
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        stack.callback(admin.dispose)

        def fresh() -> str:
            name = f"bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            return url.set(database=name).render_as_string(hide_password=False)

        yield fresh
