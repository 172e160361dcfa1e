"""World scenarios: one typed file from hospitals to the world, and its end-to-end run.

:func:`load_world` reads and validates a world scenario (countries -> regions ->
hospitals, the epidemic and its interventions, the surveillance set-up, seed, horizon and
outputs); :func:`run_world` runs it through the coupling adapters of
:mod:`healthtwin.coupling` (epidemic per country, admissions routed to hospitals, hospital
simulation, deaths and ICU queues fed back, national aggregation, cross-border monitor) and
:func:`write_outputs` writes the tables and an HTML report.

The package also holds what the faces (API, dashboard, CLI) run, one module per use
(patient sessions, hospital forecasts, region ensembles, federated runs...). Its names
load on first use (PEP 562), so a face that needs one of them does not import the world
run and every scale with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthtwin.scenarios.outputs import write_outputs
    from healthtwin.scenarios.run import CountryResult, WorldResult, run_world
    from healthtwin.scenarios.world import WorldScenario, load_world, parse_world

_EXPORTS = {
    "CountryResult": "run",
    "WorldResult": "run",
    "run_world": "run",
    "WorldScenario": "world",
    "load_world": "world",
    "parse_world": "world",
    "write_outputs": "outputs",
}

__all__ = [
    "CountryResult",
    "WorldResult",
    "WorldScenario",
    "load_world",
    "parse_world",
    "run_world",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    """Load the module that holds ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'healthtwin.scenarios' has no attribute {name!r}")
    return getattr(importlib.import_module(f"healthtwin.scenarios.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
