"""A cohort's work cut into independent tasks, run here or on Dask, merged in a fixed order.

The work of a cohort command is a grid of *units*: ``groups x units_per_group`` (for
``healthtwin patient evaluate`` a group is one scenario x controller pair and a unit one
replicate of it, run on the whole cohort of patients at once). :func:`plan_cohort_tasks`
cuts each group into tasks of consecutive units; :func:`run_cohort_tasks` runs the tasks
through an :class:`~healthtwin.scenarios.distributed.Executor` (in this process, on a Dask
``LocalCluster`` or on the scheduler at ``tcp://host:port``) and returns their results in
task order, whatever order the workers finish in.

The contract that makes results bit-identical wherever and however they run: a unit's
result depends only on the unit (its random streams are derived from its own seed, never
from a generator handed from task to task or from the units beside it in a task), and the
caller merges the per-task results in task order. Then the same seed gives the same
numbers in process, on a local cluster and on a multi-machine cluster, for every
``units_per_task``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.distributed import executor_for, resolve_cluster

__all__ = [
    "CohortTask",
    "default_units_per_task",
    "plan_cohort_tasks",
    "resolve_cluster",
    "run_cohort_tasks",
]

R = TypeVar("R")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CohortTask:
    """Units ``unit_ids`` (consecutive) of group ``group``; ``label`` names them for people."""

    group: int
    unit_ids: tuple[int, ...]
    label: str


def plan_cohort_tasks(
    group_labels: Sequence[str],
    units_per_group: int,
    units_per_task: int | None = None,
    *,
    splittable: Sequence[bool] | None = None,
    unit_name: str = "replicate",
) -> list[CohortTask]:
    """Cut every group into tasks of ``units_per_task`` consecutive units (None: whole).

    Parameters
    ----------
    group_labels
        One label per group, in the order the results are merged.
    units_per_group
        Units of each group (>= 1).
    units_per_task
        Units per task (>= 1), or None for one task per group.
    splittable
        Per group, whether it may be cut (default: all); the others stay one task, for
        work whose units share random streams.
    unit_name
        What a unit is called in the labels.

    Returns
    -------
    list of CohortTask
        Group by group, units in increasing order.

    Raises
    ------
    InvalidInputError
        For fewer than one unit per group or per task.

    Examples
    --------
    >>> [t.label for t in plan_cohort_tasks(["pid", "mpc"], 3, 2)]
    ['pid replicates 0-1', 'pid replicate 2', 'mpc replicates 0-1', 'mpc replicate 2']
    >>> [t.unit_ids for t in plan_cohort_tasks(["pid"], 3)]
    [(0, 1, 2)]
    >>> [t.label for t in plan_cohort_tasks(["pid", "mpc"], 2, 1, splittable=[True, False])]
    ['pid replicate 0', 'pid replicate 1', 'mpc']
    """
    if units_per_group < 1:
        raise InvalidInputError(f"each group needs at least 1 {unit_name}; got {units_per_group}")
    size = units_per_group if units_per_task is None else units_per_task
    if size < 1:
        raise InvalidInputError(
            f"{unit_name}s per task must be >= 1, got {size}; give 1 or more (or nothing "
            "for one task per group)"
        )
    cut = [True] * len(group_labels) if splittable is None else list(splittable)
    if len(cut) != len(group_labels):
        raise InvalidInputError(
            f"splittable has {len(cut)} entries for {len(group_labels)} groups; give one each"
        )
    tasks: list[CohortTask] = []
    for g, label in enumerate(group_labels):
        step = size if cut[g] else units_per_group
        for a in range(0, units_per_group, step):
            ids = tuple(range(a, min(a + step, units_per_group)))
            span = f"{unit_name} {a}" if len(ids) == 1 else f"{unit_name}s {a}-{ids[-1]}"
            tasks.append(
                CohortTask(g, ids, label if len(ids) == units_per_group else f"{label} {span}")
            )
    return tasks


def default_units_per_task(
    n_groups: int, units_per_group: int, slots: int, n_splittable: int | None = None
) -> int | None:
    """Units per task so that ``slots`` workers get about one task each.

    The ``n_splittable`` groups that may be cut (default: all) share the slots the others
    leave; None (whole groups) when there are no more free slots than such groups: fewer,
    larger tasks keep each task's patients and replicates in one vectorized batch.

    Examples
    --------
    >>> default_units_per_task(3, 5, 1) is None, default_units_per_task(3, 5, 2) is None
    (True, True)
    >>> default_units_per_task(1, 5, 2), default_units_per_task(2, 8, 8)
    (3, 2)
    >>> default_units_per_task(3, 6, 8, n_splittable=2)
    2
    """
    split = n_groups if n_splittable is None else n_splittable
    free = slots - (n_groups - split)
    if split == 0 or free <= split:
        return None
    chunks = min(units_per_group, free // split)
    return -(-units_per_group // chunks)


def run_cohort_tasks(
    run_task: Callable[[CohortTask], R],
    group_labels: Sequence[str],
    units_per_group: int,
    *,
    units_per_task: int | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    processes: bool = True,
    splittable: Sequence[bool] | None = None,
    unit_name: str = "replicate",
) -> list[tuple[CohortTask, R]]:
    """Run a cohort's tasks wherever ``cluster`` says; results in task order.

    Parameters
    ----------
    run_task
        Runs one task; must pickle (a module-level function or a ``functools.partial``
        of one) to travel to Dask workers.
    group_labels, units_per_group, units_per_task, splittable, unit_name
        The tasks (:func:`plan_cohort_tasks`); ``units_per_task`` None: about one task
        per worker (:func:`default_units_per_task`).
    cluster, workers, processes
        Where they run (:func:`~healthtwin.scenarios.distributed.executor_for`).
    progress
        ``(tasks done, tasks)``: once when the tasks are known, then after each task.

    Returns
    -------
    list of (CohortTask, result)
        In task order (:func:`plan_cohort_tasks`).

    Raises
    ------
    InvalidInputError
        A bad cluster or chunk size (before anything runs), or no scheduler answering.

    Examples
    --------
    >>> out = run_cohort_tasks(lambda t: sum(t.unit_ids), ["a", "b"], 3, units_per_task=2)
    >>> [(t.label, r) for t, r in out]
    [('a replicates 0-1', 1), ('a replicate 2', 2), ('b replicates 0-1', 1), ('b replicate 2', 2)]
    """
    plan = functools.partial(
        plan_cohort_tasks, group_labels, units_per_group, splittable=splittable, unit_name=unit_name
    )
    plan(units_per_task)  # a bad request fails before a cluster starts
    count = {"done": 0, "total": 0}

    def done(_: int) -> None:
        count["done"] += 1
        if progress is not None:
            progress(count["done"], count["total"])

    with executor_for(cluster, workers, on_done=done, processes=processes) as executor:
        size = units_per_task
        if size is None:
            n_split = len(group_labels) if splittable is None else sum(map(bool, splittable))
            size = default_units_per_task(
                len(group_labels), units_per_group, executor.slots, n_split
            )
        tasks = plan(size)
        count["total"] = len(tasks)
        if progress is not None:
            progress(0, len(tasks))
        results = executor.map(run_task, tasks)
    return list(zip(tasks, results, strict=True))
