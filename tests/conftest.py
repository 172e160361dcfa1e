"""Shared test helpers.

``HEALTHTWIN_FULL_TESTS=1`` (set by ``.ci/run``) turns every skip for a missing optional
dependency or service into a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

FULL = os.environ.get("HEALTHTWIN_FULL_TESTS") == "1"


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or skip (fail under HEALTHTWIN_FULL_TESTS=1) naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        message = f"{module} is not installed: pip install 'healthtwin[{extra}]'"
        if FULL:
            pytest.fail(f"{message} (HEALTHTWIN_FULL_TESTS=1 forbids skipping): {err}")
        pytest.skip(message)
