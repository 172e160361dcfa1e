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
            Error,
            Message,
            MetricRecord,
            RecordDict,
        )
        from flwr.client.mod import secaggplus_mod
        from flwr.clientapp import ClientApp
        from flwr.common import (
            Code,
            EvaluateIns,
            EvaluateRes,
            FitIns,
            FitRes,
            Parameters,
            Status,
            ndarrays_to_parameters,
            parameters_to_ndarrays,
        )
        from flwr.common import (
            Scalar as FlowerScalar,
        )
        from flwr.common.secure_aggregation.secaggplus_constants import (
            RECORD_KEY_CONFIGS as SECAGG_RECORD,
        )
        from flwr.compat.common import recorddict_compat
        from flwr.server.client_manager import ClientManager
        from flwr.server.client_proxy import ClientProxy
        from flwr.server.compat.grid_client_proxy import GridClientProxy
        from flwr.server.compat.legacy_context import LegacyContext
        from flwr.server.strategy import Strategy
        from flwr.server.workflow import SecAggPlusWorkflow
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
    "SECAGG_RECORD",
    "ArrayRecord",
    "ClientApp",
    "ClientManager",
    "ClientProxy",
    "Code",
    "ConfigRecord",
    "Context",
    "Error",
    "EvaluateIns",
    "EvaluateRes",
    "FitIns",
    "FitRes",
    "FlowerScalar",
    "Grid",
    "GridClientProxy",
    "LegacyContext",
    "Message",
    "MetricRecord",
    "Parameters",
    "RecordDict",
    "Run",
    "SecAggPlusWorkflow",
    "ServerApp",
    "Status",
    "Strategy",
    "TaskIdentity",
    "ndarrays_to_parameters",
    "parameters_to_ndarrays",
    "recorddict_compat",
    "secaggplus_mod",
]
