"""Where a world's tasks run: in this process, on a local Dask cluster, or on an existing one.

A world run is cut into tasks that share nothing but their inputs (one task per
country: its epidemic, routing, hospitals and overflow feedback). Every task draws its
random numbers from streams named after what it simulates
(:class:`~healthtwin.core.random.RandomStreams`: ``world/<country>/epidemic``,
``world/<country>/hospital/<name>``...), never from a generator handed from task to task,
and :meth:`Executor.map` returns results in the order of its inputs whatever order the
workers finish in. So the same seed gives bit-identical results in process, on a
``LocalCluster`` and on a multi-machine cluster.

:func:`executor_for` turns the command line's ``--cluster`` into an executor:

- ``None``: :class:`InProcessExecutor` (no Dask needed);
- ``"local"``: a ``distributed.LocalCluster`` of ``workers`` single-threaded worker
  processes on this machine (Dask's choice of how many by default), closed afterwards;
- ``"tcp://host:port"`` (or ``tls://``): a client of the scheduler at that address (see
  ``docs/scale_out.md`` for starting one on several machines, on Kubernetes or on an HPC
  scheduler); the cluster stays up afterwards.

Dask is the optional extra ``healthtwin[dask]``, imported only when a cluster is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import dask_client, import_distributed

__all__ = [
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "check_cluster",
    "executor_for",
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
        See :func:`check_cluster`.
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
    with dask_client(address, workers, processes=processes) as client:
        yield DaskExecutor(client, on_done)
