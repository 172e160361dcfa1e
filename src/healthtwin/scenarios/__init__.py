"""World scenarios: one typed file from hospitals to the world, and its end-to-end run.

:func:`load_world` reads and validates a world scenario (countries -> regions ->
hospitals, the epidemic and its interventions, the surveillance set-up, seed, horizon and
outputs); :func:`run_world` runs it through the coupling adapters of
:mod:`healthtwin.coupling` (epidemic per country, admissions routed to hospitals, hospital
simulation, deaths and ICU queues fed back, national aggregation, cross-border monitor) and
:func:`write_outputs` writes the tables and an HTML report.
"""

from __future__ import annotations

from healthtwin.scenarios.outputs import write_outputs
from healthtwin.scenarios.run import CountryResult, WorldResult, run_world
from healthtwin.scenarios.world import WorldScenario, load_world, parse_world

__all__ = [
    "CountryResult",
    "WorldResult",
    "WorldScenario",
    "load_world",
    "parse_world",
    "run_world",
    "write_outputs",
]
