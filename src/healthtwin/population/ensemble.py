"""Scenario ensembles (variants x parameter draws x replicates), in process or on Dask.

An ensemble is cut into tasks of a few replicates of one variant and one parameter draw.
Replicate ``r`` of draw ``d`` is seeded by ``SeedSequence(seed, spawn_key=(d * R + r,))``
(``R`` the scenario's replicates), never by its position in a task, so any cut of the work,
on any number of workers, gives exactly the results of one in-process run with the same
seed. The Dask path uses ``distributed``: a ``LocalCluster`` on this machine by default, or
the scheduler at ``address``; the optional extra ``healthtwin[dask]`` installs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from healthtwin.errors import InvalidInputError, MissingDependencyError
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.population.scenario import PopulationScenario
from healthtwin.population.scenario_build import build_inputs, run_variant

__all__ = [
    "Ensemble",
    "EnsembleTask",
    "dask_client",
    "import_distributed",
    "merge_results",
    "plan_tasks",
    "run_ensemble",
]


@dataclass(frozen=True)
class EnsembleTask:
    """Replicates ``replicate_ids`` of one variant under one parameter draw."""

    variant: str
    draw: int
    disease: Mapping[str, Any]
    replicate_ids: tuple[int, ...]


@dataclass(frozen=True)
class Ensemble:
    """Results by (variant, draw), replicates in seed order."""

    results: Mapping[tuple[str, int], EpidemicResult]
    scheduler: str

    def variant(self, name: str) -> EpidemicResult:
        """All draws of a variant, stacked along the replicate axis."""
        parts = [r for (v, _), r in sorted(self.results.items()) if v == name]
        if not parts:
            known = sorted({v for v, _ in self.results})
            raise InvalidInputError(f"unknown variant {name!r}; the ensemble has {known}")
        return merge_results(parts)


def plan_tasks(
    spec: PopulationScenario,
    *,
    variants: Sequence[str] | None = None,
    draws: Sequence[Mapping[str, Any]] | None = None,
    replicates_per_task: int | None = None,
) -> list[EnsembleTask]:
    """Cut an ensemble into tasks (all replicates in one task per variant and draw by default)."""
    names = [v.name for v in spec.variant_list()] if variants is None else list(variants)
    for name in names:
        spec.variant(name)
    parameter_draws = [{}] if not draws else [dict(d) for d in draws]
    size = spec.replicates if replicates_per_task is None else replicates_per_task
    if size < 1:
        raise InvalidInputError(f"replicates_per_task must be >= 1; got {size}")
    tasks = []
    for name in names:
        for d, disease in enumerate(parameter_draws):
            ids = [d * spec.replicates + r for r in range(spec.replicates)]
            for start in range(0, len(ids), size):
                tasks.append(EnsembleTask(name, d, disease, tuple(ids[start : start + size])))
    return tasks


def run_task(spec: PopulationScenario, task: EnsembleTask) -> EpidemicResult:
    """Run one task (what a worker does)."""
    variant = spec.variant(task.variant)
    if task.disease:
        variant = variant.model_copy(
            update={"disease": {**(variant.disease or {}), **task.disease}}
        )
    return run_variant(spec, variant, build_inputs(spec), replicate_ids=task.replicate_ids)


def run_ensemble(
    spec: PopulationScenario,
    *,
    variants: Sequence[str] | None = None,
    draws: Sequence[Mapping[str, Any]] | None = None,
    scheduler: Literal["local", "dask"] = "local",
    address: str | None = None,
    n_workers: int | None = None,
    replicates_per_task: int | None = None,
) -> Ensemble:
    """Run every task of the ensemble and merge the results by (variant, draw).

    Parameters
    ----------
    spec
        The scenario.
    variants
        Variant names (default: all).
    draws
        Parameter draws: disease values that replace the variant's, one mapping per draw
        (for example posterior samples of ``r0``). Default: one draw, the scenario's values.
    scheduler
        ``"local"``: in this process; ``"dask"``: on a Dask cluster.
    address
        Scheduler address of an existing Dask cluster; None starts a ``LocalCluster``.
    n_workers
        Workers of the ``LocalCluster`` (default: Dask's choice).
    replicates_per_task
        Replicates per task (default: all of a variant and draw in one task).
    """
    tasks = plan_tasks(
        spec, variants=variants, draws=draws, replicates_per_task=replicates_per_task
    )
    if scheduler == "local":
        outputs = [run_task(spec, t) for t in tasks]
    elif scheduler == "dask":
        with dask_client(address, n_workers) as client:
            futures = client.map(run_task, [spec] * len(tasks), tasks, pure=False)
            outputs = client.gather(futures)
    else:
        raise InvalidInputError(f"scheduler must be 'local' or 'dask'; got {scheduler!r}")
    grouped: dict[tuple[str, int], list[EpidemicResult]] = {}
    for task, result in zip(tasks, outputs, strict=True):
        grouped.setdefault((task.variant, task.draw), []).append(result)
    merged = {key: merge_results(parts) for key, parts in grouped.items()}
    return Ensemble(merged, scheduler)


def merge_results(parts: Sequence[EpidemicResult]) -> EpidemicResult:
    """Stack results of the same scenario along the replicate axis, in replicate-id order."""
    if not parts:
        raise InvalidInputError("nothing to merge")
    first = parts[0]
    for p in parts[1:]:
        if (p.regions, p.age_groups, p.n_days, p.engine) != (
            first.regions,
            first.age_groups,
            first.n_days,
            first.engine,
        ):
            raise InvalidInputError("results of different scenarios cannot be merged")
    ids = [i for p in parts for i in p.replicate_ids]
    order = np.argsort(ids, kind="stable")

    def stack(arrays: Sequence[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        return np.concatenate(arrays, axis=0)[order]

    series = {k: stack([p.series[k] for p in parts]) for k in first.series}
    by_age = None
    if all(p.by_age is not None for p in parts) and first.by_age is not None:
        by_age = {k: stack([p.by_age[k] for p in parts if p.by_age]) for k in first.by_age}
    return replace(
        first,
        replicate_ids=tuple(int(ids[i]) for i in order),
        series=series,
        by_age=by_age,
        final_state=stack([p.final_state for p in parts]),
    )


def import_distributed() -> Any:
    """The ``distributed`` module, or an error that names the extra to install."""
    try:
        # Through importlib: distributed's constructors are untyped.
        return importlib.import_module("distributed")
    except ImportError as err:
        raise MissingDependencyError(
            "running on a Dask cluster needs distributed: pip install 'healthtwin[dask]'"
        ) from err


@contextmanager
def dask_client(
    address: str | None, n_workers: int | None, *, processes: bool = True
) -> Iterator[Any]:
    """A Dask client: to the scheduler at ``address``, or to a fresh LocalCluster.

    The local cluster has no dashboard and lets the system choose its ports, so a second
    cluster on the same machine finds nothing taken (and does not warn).
    """
    distributed = import_distributed()
    if address is not None:
        with distributed.Client(address) as client:
            yield client
        return
    with (
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
