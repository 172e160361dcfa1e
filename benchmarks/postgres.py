"""The throwaway PostgreSQL server of the tests, for benchmarks run outside pytest.

``tests/store/postgres_cluster.py`` is loaded by its path: a third-party package (Ciw)
installs a top-level ``tests`` package that shadows this repository's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["cluster_module"]


def cluster_module() -> Any:
    """The module ``tests/store/postgres_cluster.py`` (server_binaries, start_cluster)."""
    where = Path(__file__).resolve().parents[1] / "tests" / "store" / "postgres_cluster.py"
    spec = importlib.util.spec_from_file_location("_healthtwin_postgres_cluster", where)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module
