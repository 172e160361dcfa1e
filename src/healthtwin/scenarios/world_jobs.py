"""A world scenario run on behalf of a client: checked, bounded, reported, stoppable.

:func:`plan_world_run` validates a world scenario sent as data (the schema of
:mod:`~healthtwin.scenarios.world`, with the CLI's ``seed``/``replicates``/``days``
overrides), refuses fields that name files (a client cannot make the server read its
files) and bounds its size; :meth:`WorldRun.run` runs it end to end
(:func:`~healthtwin.scenarios.run.run_world`) with progress after each country (and the
federation) and a stop check between them, and leaves the world's summary (key numbers
with quantiles at every scale), the cross-border monitor's report and each country's
national daily series as bands: the median with the range of the replicates, or their
5-95 % interval from 20 replicates on (:class:`~healthtwin.scenarios.world_results.ReplicateBand`,
as the summary).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.region_forecast import refuse_files
from healthtwin.scenarios.reporting import Reporter, RunOutput
from healthtwin.scenarios.run import WorldResult, run_world
from healthtwin.scenarios.world import WorldScenario, parse_world
from healthtwin.scenarios.world_results import ReplicateBand

__all__ = ["MAX_WORLD_WORK", "WorldRun", "plan_world_run", "world_series"]

#: Most replicate x day x region units one run may ask for (the main job is 1,800).
MAX_WORLD_WORK = 200_000
#: National series reported per day.
SERIES = ("admissions", "deaths", "icu_occupancy")
#: Keys of each series' ``[low, median, high]`` (named for the 5-95 % interval; kept
#: for a range too, ``"band"`` says which).
_KEYS = ("q05", "q50", "q95")


@dataclass(frozen=True)
class WorldRun:
    """A validated world scenario, ready to run."""

    world: WorldScenario

    @property
    def steps(self) -> int:
        """Units of progress: one per country, plus the federation's training."""
        return len(self.world.countries) + (self.world.federation is not None)

    def run(self, reporter: Reporter) -> RunOutput:
        """Run the world; progress after each country, a stop check between them."""
        done = 0
        reporter.check()

        def advance(step: str) -> None:
            nonlocal done
            done += 1
            reporter.progress(done / self.steps, f"{step} done")
            reporter.check()

        result = run_world(self.world, progress=advance)
        return RunOutput(
            {
                "summary": result.summary(),
                "monitor": json.loads(result.monitor.to_json()),
                "series": world_series(result),
            }
        )


def plan_world_run(
    data: Mapping[str, Any],
    *,
    seed: int | None = None,
    replicates: int | None = None,
    days: int | None = None,
    source: str = "request body",
) -> WorldRun:
    """Validate a world scenario sent as data, with optional overrides.

    Raises
    ------
    InvalidInputError
        A field names a file, or the run is larger than :data:`MAX_WORLD_WORK`.
    ResourceValidationError
        The scenario breaks a rule of the schema (each broken rule with its field path).

    Examples
    --------
    >>> unit = {"los_hours": {"dist": "exponential", "mean": 100}}
    >>> world = {"days": 7, "replicates": 2, "countries": [{"name": "X",
    ...     "geography": {"regions": [{"name": "c", "population": 5000}]},
    ...     "disease": {"r0": 2.0}, "initial_infected": {"c": 10},
    ...     "hospitals": [{"name": "h", "region": "c", "catchment_share": 1.0,
    ...         "icu_unit": None,
    ...         "config": {"units": {"ward": {"kind": "ward", "beds": 10, **unit}},
    ...                    "pathways": {"ward": {"discharge": 1.0}}}}]}]}
    >>> plan = plan_world_run(world, days=14)
    >>> plan.world.days, plan.steps
    (14, 1)
    >>> plan_world_run({**world, "base_dir": "/etc"})
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: world.base_dir: files cannot be named over the API; ...
    """
    refuse_files(data, "world")
    update = {k: v for k, v in {"seed": seed, "replicates": replicates, "days": days}.items() if v}
    options = f" with {', '.join(update)}" if update else ""
    world = parse_world({**data, **update}, source=f"{source}{options}")
    regions = sum(len(country.geography.regions or ()) or 1 for country in world.countries)
    work = world.replicates * world.days * regions
    if work > MAX_WORLD_WORK:
        raise InvalidInputError(
            f"the world asks for {world.replicates} replicates x {world.days} days x "
            f"{regions} regions = {work:,} units, more than the {MAX_WORLD_WORK:,} one "
            "request may run; lower replicates or days, or run it with 'healthtwin run' "
            "(on a Dask cluster with --cluster)"
        )
    return WorldRun(world)


def world_series(result: WorldResult) -> dict[str, dict[str, Any]]:
    """Each country's national daily series as bands, and what the bands are.

    The answer is ``{country: {series: {q05, q50, q95}, "band": {...}}}``: ``q50`` is the
    median over replicates and ``q05``/``q95`` the low and high ends of the band the
    world's summary uses (:class:`~healthtwin.scenarios.world_results.ReplicateBand`):
    the minimum and maximum below 20 replicates, else the 5 % and 95 % quantiles. The
    keys keep their names either way; ``"band"`` (:meth:`ReplicateBand.as_dict`) says
    which, with its ``label`` for display. ``deaths`` includes the ICU-overflow deaths
    (one source of truth, see :mod:`~healthtwin.scenarios.run`).
    """
    band = ReplicateBand(result.world.replicates)
    out: dict[str, dict[str, Any]] = {}
    for country in result.countries:
        bands: dict[str, Any] = {}
        for name in SERIES:
            totals = np.asarray(country.national(name).totals, dtype=float)  # (reps, days)
            q = np.quantile(totals, band.levels, axis=0)
            bands[name] = {key: row.round(3).tolist() for key, row in zip(_KEYS, q, strict=True)}
        bands["band"] = band.as_dict()
        out[country.name] = bands
    return out
