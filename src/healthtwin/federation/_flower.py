"""Flower, imported once with the extra to install named when it is missing.

flwr 1.42 pins ``typer < 0.21``; typer 0.20 calls ``click.utils.get_binary_stream`` (and
its siblings), which click 8.5 deprecates with a warning at import time. The warning
concerns those two libraries, not ours or the caller's, so it is silenced for this import
only.
"""

from __future__ import annotations

import warnings

from healthtwin.errors import MissingDependencyError

FED_EXTRA = "pip install 'healthtwin[fed]'"

try:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*click.utils.get_", category=DeprecationWarning)
        from flwr.app import (
            ArrayRecord,
            ConfigRecord,
            Context,
            Message,
            MetricRecord,
            RecordDict,
        )
        from flwr.clientapp import ClientApp
        from flwr.serverapp import Grid, ServerApp
        from flwr.supercore.run import Run
        from flwr.supercore.task_identity import TaskIdentity
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        f"Flower (flwr) is needed for healthtwin.federation's apps but is not installed: "
        f"{FED_EXTRA}"
    ) from err

__all__ = [
    "FED_EXTRA",
    "ArrayRecord",
    "ClientApp",
    "ConfigRecord",
    "Context",
    "Grid",
    "Message",
    "MetricRecord",
    "RecordDict",
    "Run",
    "ServerApp",
    "TaskIdentity",
]
