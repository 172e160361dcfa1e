"""Where a world's tasks run: in this process, on a local Dask cluster, or on an existing one.

A world run is cut into tasks that share nothing but their inputs: one per country, or
one per chunk of a country's replicates (its epidemic, routing and hospitals for those
replicates; :func:`~healthtwin.scenarios.run.world_tasks`). Every task draws its random
numbers from streams named after what it simulates and which replicate
(:class:`~healthtwin.core.random.RandomStreams`: ``world/<country>/epidemic`` replicate
``r``, ``world/<country>/routing/rep<r>``, ``world/<country>/hospital/<name>``
replication ``r``...), never from a generator handed from task to task, and
:meth:`Executor.map` returns results in the order of its inputs whatever order the
workers finish in. So the same seed gives bit-identical results in process, on a
``LocalCluster`` and on a multi-machine cluster, whatever the chunk size.

:func:`executor_for` turns the command line's ``--cluster`` into an executor:

- ``None``: :class:`InProcessExecutor` (no Dask needed);
- ``"local"``: a ``distributed.LocalCluster`` of ``workers`` single-threaded worker
  processes on this machine (one per core by default), forked from this process where
  the platform can (they start in under a second, with healthtwin already imported),
  closed afterwards;
- ``"tcp://host:port"`` (or ``tls://``): a client of the scheduler at that address (see
  ``docs/scale_out.md`` for starting one on several machines, on Kubernetes or on an HPC
  scheduler); the cluster stays up afterwards.

Dask is the optional extra ``healthtwin[dask]``, imported only when a cluster is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import dask_client, import_distributed
from healthtwin.scenarios.world import WorldScenario

__all__ = [
    "CountryTask",
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "check_cluster",
    "default_replicates_per_task",
    "executor_for",
    "fork_safe",
    "resolve_cluster",
    "world_tasks",
]

R = TypeVar("R")
OnDone = Callable[[int], None]
_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://")


class Executor(Protocol):
    """Runs ``fn`` over argument lists and returns the results in input order."""

    @property
    def name(self) -> str:
        """``"in-process"`` or the Dask scheduler's address."""
        ...

    @property
    def slots(self) -> int:
        """How many tasks can run at once (1 in process; the cluster's worker threads)."""
        ...

    def map(self, fn: Callable[..., R], *iterables: Iterable[Any]) -> list[R]:
        """``[fn(*args) for args in zip(*iterables)]``, wherever it runs."""
        ...


@dataclass(frozen=True)
class InProcessExecutor:
    """Run every task here, one after the other.

    Examples
    --------
    >>> InProcessExecutor().map(pow, [2, 3], [3, 2])
    [8, 9]
    """

    on_done: OnDone | None = None
    name: str = "in-process"
    slots: int = 1

    def map(self, fn: Callable[..., R], *iterables: Iterable[Any]) -> list[R]:
        """Call ``fn`` on each argument tuple in turn (``on_done(i)`` after task ``i``)."""
        out: list[R] = []
        for i, args in enumerate(zip(*iterables, strict=True)):
            out.append(fn(*args))
            if self.on_done is not None:
                self.on_done(i)
        return out


@dataclass(frozen=True)
class DaskExecutor:
    """Run the tasks on a ``distributed.Client``; gather the results in input order.

    ``on_done(i)`` is called as task ``i`` finishes (in finishing order), for progress.
    A task that raises on a worker raises here, with its own exception.
    """

    client: Any
    on_done: OnDone | None = None

    @property
    def name(self) -> str:
        """The scheduler's address."""
        return str(self.client.scheduler.address)

    @property
    def slots(self) -> int:
        """Worker threads of the cluster now (at least 1)."""
        return max(1, sum(int(n) for n in self.client.nthreads().values()))

    def map(self, fn: Callable[..., R], *iterables: Iterable[Any]) -> list[R]:
        """Submit one task per argument tuple (``pure=False``: never deduplicated)."""
        columns = [list(it) for it in iterables]
        futures = self.client.map(fn, *columns, pure=False)
        if self.on_done is not None:
            index = {f.key: i for i, f in enumerate(futures)}
            for future in import_distributed().as_completed(futures):
                self.on_done(index[future.key])
        return list(self.client.gather(futures))


def check_cluster(cluster: str | None, workers: int | None = None) -> None:
    """Check a ``--cluster``/``--workers`` pair before anything starts.

    Raises
    ------
    InvalidInputError
        An unknown cluster, or ``workers`` with anything but ``"local"``.

    Examples
    --------
    >>> check_cluster("local", 2)
    >>> check_cluster("spark://x")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: cluster 'spark://x' is not known; ...
    """
    if cluster is not None and cluster != "local" and not cluster.startswith(_SCHEMES):
        raise InvalidInputError(
            f"cluster {cluster!r} is not known; give 'local' (a LocalCluster on this "
            "machine), a scheduler address such as 'tcp://10.0.0.5:8786', or nothing to "
            "run in process"
        )
    if workers is not None:
        if cluster != "local":
            raise InvalidInputError(
                f"workers = {workers} only applies to cluster 'local' (got cluster "
                f"{cluster!r}); an existing cluster has the workers it was started with"
            )
        if workers < 1:
            raise InvalidInputError(f"workers = {workers}; give at least 1 worker")


def resolve_cluster(
    cluster: str | None, workers: int | None, note: Callable[[str], None]
) -> str | None:
    """A command line's ``--cluster`` as :func:`executor_for` takes it (None: here).

    The same policy as ``healthtwin run``: nothing given means a ``LocalCluster``, or this
    process with a note when Dask (the extra ``healthtwin[dask]``) is not installed;
    ``none`` means this process; ``local`` asked for explicitly needs Dask.

    Raises
    ------
    InvalidInputError
        ``workers`` given with ``none``.

    Examples
    --------
    >>> resolve_cluster("none", None, print) is None
    True
    >>> resolve_cluster("tcp://10.0.0.5:8786", None, print)
    'tcp://10.0.0.5:8786'
    """
    if cluster is not None and cluster.strip().lower() == "none":
        if workers is not None:
            raise InvalidInputError(
                f"--workers {workers} only applies to a local cluster; drop it or drop "
                "--cluster none"
            )
        return None
    if cluster is None:
        if importlib.util.find_spec("distributed") is None:
            note("Dask is not installed (pip install 'healthtwin[dask]'): running in this process")
            return None
        return "local"
    return cluster


@contextmanager
def executor_for(
    cluster: str | None = None,
    workers: int | None = None,
    *,
    on_done: OnDone | None = None,
    processes: bool = True,
) -> Iterator[Executor]:
    """The executor for ``cluster`` (module docstring), closed on leaving the block.

    Parameters
    ----------
    cluster : {None, "local"} or str
        Nothing (in process), ``"local"`` or a scheduler address (``tcp://host:port``).
    workers : int, optional
        Workers of the local cluster (default: Dask's choice for this machine).
    on_done : callable, optional
        Called with a task's index as it finishes (progress bars).
    processes : bool
        Local cluster only: workers as processes (default) or threads of this process.

    Raises
    ------
    InvalidInputError
        See :func:`check_cluster`; or no scheduler answers at the address given.
    MissingDependencyError
        A cluster is asked for and ``distributed`` is not installed.

    Examples
    --------
    >>> with executor_for(None) as ex:
    ...     ex.name, ex.map(abs, [-1, 2])
    ('in-process', [1, 2])
    """
    check_cluster(cluster, workers)
    if cluster is None:
        yield InProcessExecutor(on_done)
        return
    address = None if cluster == "local" else cluster
    with ExitStack() as stack:
        stack.enter_context(_worker_start(processes and address is None))
        try:
            client = stack.enter_context(dask_client(address, workers, processes=processes))
        except OSError as err:  # TimeoutError included: nothing listens, or too slowly
            if address is None:
                raise
            raise InvalidInputError(
                f"no Dask scheduler answers at cluster {cluster!r} ({err}); check the "
                "address and that the scheduler is running, or give --cluster local (a "
                "cluster on this machine) or --cluster none (this process)"
            ) from err
        yield DaskExecutor(client, on_done)


@contextmanager
def _worker_start(local_processes: bool) -> Iterator[None]:
    """Local worker processes forked from this one where the platform can fork.

    Dask spawns them by default: each fresh interpreter then imports numpy, scipy and
    healthtwin again, which cost 10-15 s of a 2-core machine before the first task (a
    forked worker inherits them: under a second). The workers only run tasks, so the
    usual hazard of forking a threaded process (a lock held by another thread) does not
    reach them, unless this process has loaded a runtime that keeps its own threads (JAX,
    used by the DP synthesizers, warns at every fork): then they are spawned
    (:func:`fork_safe`).
    """
    if not local_processes or not fork_safe():
        yield
        return
    # distributed first: it adds its defaults to Dask's config, which a ``config.set``
    # entered before would delete on leaving (with every other ``distributed.*`` key).
    import_distributed()
    dask = importlib.import_module("dask")
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        yield


#: Modules whose runtimes keep threads of their own, which a forked child must not inherit.
_THREADED_RUNTIMES = ("jax", "torch", "tensorflow")


def fork_safe() -> bool:
    """Whether local workers may be forked from this process.

    The platform must be able to fork, and no runtime with threads of its own may be
    loaded (:data:`_THREADED_RUNTIMES`).

    Examples
    --------
    >>> isinstance(fork_safe(), bool)
    True
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return not any(name in sys.modules for name in _THREADED_RUNTIMES)


@dataclass(frozen=True)
class CountryTask:
    """One task of a world run: replicates ``replicate_ids`` of country ``country``."""

    country: int
    replicate_ids: tuple[int, ...]
    label: str


def world_tasks(world: WorldScenario, replicates_per_task: int | None = None) -> list[CountryTask]:
    """The tasks of a world run: each country whole, or in chunks of replicates.

    Examples
    --------
    >>> from healthtwin.scenarios.world import parse_world
    >>> ward = {"kind": "ward", "beds": 9, "los_hours": {"dist": "fixed", "mean": 48}}
    >>> site = {"name": "h", "region": "c", "catchment_share": 1.0, "icu_unit": None, "config": {
    ...     "units": {"ward": ward}, "pathways": {"ward": {"discharge": 1.0}}}}
    >>> world = parse_world({"replicates": 5, "countries": [{"name": "X",
    ...     "geography": {"regions": [{"name": "c", "population": 1000}]},
    ...     "disease": {"r0": 2.0}, "hospitals": [site]}]})
    >>> [t.label for t in world_tasks(world, 2)]
    ['X replicates 0-1', 'X replicates 2-3', 'X replicate 4']
    >>> [t.label for t in world_tasks(world)]
    ['X']
    """
    out: list[CountryTask] = []
    reps = world.replicates
    for k, country in enumerate(world.countries):
        size = reps if replicates_per_task is None else replicates_per_task
        if size >= reps:
            out.append(CountryTask(k, tuple(range(reps)), country.name))
            continue
        for a in range(0, reps, size):
            ids = tuple(range(a, min(a + size, reps)))
            span = f"replicate {a}" if len(ids) == 1 else f"replicates {a}-{ids[-1]}"
            out.append(CountryTask(k, ids, f"{country.name} {span}"))
    return out


def default_replicates_per_task(world: WorldScenario, slots: int) -> int | None:
    """Replicates per task so that ``slots`` workers get about one task each.

    The countries share the slots; None (no split) when there are no more slots than
    countries. Fewer, larger tasks repeat less per-task
    set-up (the country's inputs, cohorts and twin calibration).

    Examples
    --------
    >>> from healthtwin.scenarios.world import parse_world
    >>> ward = {"kind": "ward", "beds": 9, "los_hours": {"dist": "fixed", "mean": 48}}
    >>> site = {"name": "h", "region": "c", "catchment_share": 1.0, "icu_unit": None, "config": {
    ...     "units": {"ward": ward}, "pathways": {"ward": {"discharge": 1.0}}}}
    >>> world = parse_world({"replicates": 8, "countries": [{"name": "X",
    ...     "geography": {"regions": [{"name": "c", "population": 1000}]},
    ...     "disease": {"r0": 2.0}, "hospitals": [site]}]})
    >>> default_replicates_per_task(world, 2), default_replicates_per_task(world, 3)
    (4, 3)
    >>> default_replicates_per_task(world, 1) is None
    True
    """
    countries = len(world.countries)
    if slots <= countries:
        return None
    chunks = min(world.replicates, slots // countries)
    return -(-world.replicates // chunks)
