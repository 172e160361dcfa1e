"""World runs on Dask: the same seed gives bit-identical results in process and on a cluster."""

from __future__ import annotations

import importlib
import multiprocessing
import sys
import types
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import require

import healthtwin.scenarios.run as run_module
from healthtwin.errors import InvalidInputError, MissingDependencyError
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world
from healthtwin.scenarios.distributed import (
    DaskExecutor,
    InProcessExecutor,
    check_cluster,
    executor_for,
    fork_safe,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-countries.yaml"


def _world() -> WorldScenario:
    return load_world(EXAMPLE).model_copy(update={"days": 28, "replicates": 2})


@pytest.fixture(scope="module")
def in_process() -> WorldResult:
    return run_world(_world())


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """An existing cluster, reached only by its tcp:// address (as --cluster gives it)."""
    distributed: Any = require("distributed", "dask")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
    ) as cluster:
        yield str(cluster.scheduler_address)


def _same(a: WorldResult, b: WorldResult) -> None:
    assert a.summary() == b.summary()
    assert a.monitor.to_json() == b.monitor.to_json()
    assert [c.name for c in a.countries] == [c.name for c in b.countries]
    for x, y in zip(a.countries, b.countries, strict=True):
        np.testing.assert_array_equal(x.routed, y.routed)
        for name in x.epidemic.series:
            np.testing.assert_array_equal(x.epidemic.series[name], y.epidemic.series[name])
        np.testing.assert_array_equal(x.hospital_occupancy(), y.hospital_occupancy())
        np.testing.assert_array_equal(x.deaths(), y.deaths())
    assert a.federation is not None
    assert b.federation is not None
    np.testing.assert_array_equal(a.federation.result.theta, b.federation.result.theta)


def test_an_existing_cluster_gives_the_in_process_numbers(
    in_process: WorldResult, scheduler: str
) -> None:
    assert scheduler.startswith("tcp://")
    seen: list[str] = []
    steps: list[int] = []
    on_dask = run_world(_world(), cluster=scheduler, progress=seen.append, on_steps=steps.append)
    _same(in_process, on_dask)
    # Two worker threads, three countries: no slot to spare, so one task per country.
    assert sorted(seen) == sorted(["federation", "Aldoria", "Borduria", "Carpania"])
    assert steps == [4]


def test_chunked_countries_on_an_existing_cluster_give_the_same_numbers(
    in_process: WorldResult, scheduler: str
) -> None:
    seen: list[str] = []
    on_dask = run_world(_world(), cluster=scheduler, replicates_per_task=1, progress=seen.append)
    _same(in_process, on_dask)
    assert len(seen) == 1 + 3 * 2
    assert "Aldoria replicate 1" in seen


def test_a_local_cluster_of_two_workers_gives_the_same_numbers(
    in_process: WorldResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("distributed", "dask")
    # Worker threads instead of processes: the same Dask path, without paying for two
    # interpreters importing healthtwin on the CI's two cores.
    monkeypatch.setattr(run_module, "executor_for", partial(executor_for, processes=False))
    _same(in_process, run_world(_world(), cluster="local", workers=2))


def test_results_come_back_in_task_order_and_errors_travel(scheduler: str) -> None:
    done: list[int] = []
    with executor_for(scheduler, on_done=done.append) as executor:
        assert isinstance(executor, DaskExecutor)
        assert executor.name == scheduler
        assert executor.slots == 2
        assert executor.map(pow, [2, 3, 4], [3, 2, 1]) == [8, 9, 4]
        assert sorted(done) == [0, 1, 2]
        with pytest.raises(InvalidInputError, match="cluster 'spark'"):
            executor.map(check_cluster, ["local", "spark"])


def test_in_process_executor_calls_back_after_each_task() -> None:
    done: list[int] = []
    with executor_for(None, on_done=done.append) as executor:
        assert isinstance(executor, InProcessExecutor)
        assert executor.slots == 1
        assert executor.map(divmod, [7, 9], [2, 4]) == [(3, 1), (2, 1)]
    assert done == [0, 1]


@pytest.mark.parametrize(
    ("cluster", "workers", "message"),
    [
        ("spark://x:1", None, "cluster 'spark://x:1' is not known"),
        (None, 2, "only applies to cluster 'local'"),
        ("tcp://127.0.0.1:1", 2, "only applies to cluster 'local'"),
        ("local", 0, "at least 1 worker"),
    ],
)
def test_bad_cluster_requests_are_clear_errors_before_anything_runs(
    cluster: str | None, workers: int | None, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        run_world(_world(), cluster=cluster, workers=workers)


def test_without_distributed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_dask(name: str, package: str | None = None) -> Any:
        if name == "distributed":
            raise ImportError("No module named 'distributed'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_dask)
    with pytest.raises(MissingDependencyError, match=r"healthtwin\[dask\]"), executor_for("local"):
        pass
    with executor_for(None) as executor:  # in process needs no Dask
        assert executor.map(abs, [-3]) == [3]


def test_local_clusters_one_after_another_keep_dasks_config() -> None:
    """Forked local workers: the start method is set only while the cluster runs."""
    dask: Any = require("dask", "dask")
    # Forked where safe; spawned once a threaded runtime (JAX) is loaded in this process.
    method = "fork" if fork_safe() else "spawn"
    for _ in range(2):
        with executor_for("local", 1) as executor:
            assert executor.map(abs, [-2]) == [2]
            assert dask.config.get("distributed.worker.multiprocessing-method") == method
    assert dask.config.get("distributed.comm.require-encryption") in (None, False)
    assert dask.config.get("distributed.worker.multiprocessing-method") == "spawn"


def test_workers_are_not_forked_from_a_process_with_a_threaded_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JAX keeps threads of its own: a process that loaded it spawns its workers."""
    monkeypatch.setitem(sys.modules, "jax", types.ModuleType("jax"))
    assert not fork_safe()
    monkeypatch.delitem(sys.modules, "jax")
    for name in ("torch", "tensorflow"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert fork_safe() == ("fork" in multiprocessing.get_all_start_methods())
