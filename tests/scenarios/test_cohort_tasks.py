"""Cohort work in tasks: the same numbers in process, in any chunks and on a LocalCluster."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from tests.conftest import require

import healthtwin.scenarios.controller_evaluation as evaluation_module
from healthtwin.coupling.closed_loop import ClosedLoopResult, run_closed_loop
from healthtwin.coupling.glucose_scenarios import scenario
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.patients import load_patients
from healthtwin.scenarios.cohort_tasks import (
    default_units_per_task,
    plan_cohort_tasks,
    resolve_cluster,
    run_cohort_tasks,
)
from healthtwin.scenarios.controller_evaluation import Evaluation, evaluate_cohort

PATIENTS = ("adult#001", "child#002")
TRACES = ("bg_mg_dl", "cgm_mg_dl", "basal_u_per_min", "bolus_u", "eaten_g")


def _evaluate(**kwargs: Any) -> Evaluation:
    return evaluate_cohort(["pid"], PATIENTS, ["snacks"], days=1, replicates=3, **kwargs)


@pytest.fixture(scope="module")
def one_batch() -> Evaluation:
    """One task per pair: the evaluation as it ran before tasks existed."""
    return _evaluate()


def _same(a: Evaluation, b: Evaluation) -> None:
    assert (a.controllers, a.scenarios, a.patients, a.seeds) == (
        b.controllers,
        b.scenarios,
        b.patients,
        b.seeds,
    )
    assert a.runs.keys() == b.runs.keys()
    for key, run in a.runs.items():
        other = b.runs[key]
        assert (run.patients, run.seeds) == (other.patients, other.seeds)
        for name in TRACES:
            np.testing.assert_array_equal(getattr(run, name), getattr(other, name))


def test_one_batch_is_the_closed_loop_run_of_every_seed(one_batch: Evaluation) -> None:
    patients = load_patients(list(PATIENTS))
    snacks = scenario("snacks")
    direct = run_closed_loop("pid", patients, snacks, days=1, seeds=(0, 1, 2))
    run = one_batch.runs[("snacks", "pid")]
    assert run.seeds == (0, 1, 2, 0, 1, 2)
    assert run.patients == ("adult#001",) * 3 + ("child#002",) * 3
    np.testing.assert_array_equal(run.bg_mg_dl, direct.bg_mg_dl)


def test_one_replicate_per_task_gives_the_same_numbers(one_batch: Evaluation) -> None:
    seen: list[tuple[int, int]] = []
    chunked = _evaluate(replicates_per_task=1, progress=lambda d, t: seen.append((d, t)))
    _same(one_batch, chunked)
    # Progress counts tasks: announced once, then one step per finished task.
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    # Metrics reshape by (patients, seeds): replicate 2 of child#002 is in the last task.
    np.testing.assert_array_equal(
        chunked.metric("snacks", "pid", "tir_70_180"),
        one_batch.metric("snacks", "pid", "tir_70_180"),
    )


def test_a_local_cluster_of_two_worker_processes_gives_the_same_numbers(
    one_batch: Evaluation,
) -> None:
    require("distributed", "dask")
    seen: list[tuple[int, int]] = []
    on_dask = _evaluate(cluster="local", workers=2, progress=lambda d, t: seen.append((d, t)))
    _same(one_batch, on_dask)
    # Two workers, one pair of 3 replicates: two tasks of several (2) and 1 replicates.
    assert seen[0] == (0, 2)
    assert seen[-1] == (2, 2)


def test_the_mpc_pair_is_never_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its twins share one stream across the batch: cutting it would change its numbers."""
    calls: list[tuple[str, tuple[int, ...]]] = []

    def spy(controller: str, patients: Sequence[Any], *args: Any, **kw: Any) -> ClosedLoopResult:
        # A real MPC day costs about a minute: record the batch, return a blank run.
        seeds = tuple(kw["seeds"])
        calls.append((controller, seeds))
        rows = np.zeros((len(patients) * len(seeds), 2))
        names = tuple(p.name for p in patients for _ in seeds)
        return ClosedLoopResult(
            controller, "snacks", names, seeds * len(patients), np.arange(2.0), *[rows] * 5
        )

    monkeypatch.setattr(evaluation_module, "run_closed_loop", spy)
    ev = evaluate_cohort(
        ["pid", "mpc"], ["nominal-adult"], ["snacks"], days=1, replicates=2,
        replicates_per_task=1,
    )  # fmt: skip
    assert calls == [("pid", (0,)), ("pid", (1,)), ("mpc", (0, 1))]
    assert ev.runs[("snacks", "mpc")].seeds == (0, 1)


def test_an_address_where_no_scheduler_answers_is_a_clear_error() -> None:
    dask: Any = require("dask", "dask")
    require("distributed", "dask")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(InvalidInputError, match=r"no Dask scheduler answers at cluster 'tcp://"),
    ):
        _evaluate(cluster="tcp://127.0.0.1:9")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cluster": "spark://x:1"}, "cluster 'spark://x:1' is not known"),
        ({"workers": 2}, "only applies to cluster 'local'"),
        ({"units_per_task": 0}, "replicates per task must be >= 1"),
    ],
)
def test_bad_requests_fail_before_anything_runs(kwargs: dict[str, Any], message: str) -> None:
    def never(_: object) -> None:
        raise AssertionError("a task ran")

    with pytest.raises(InvalidInputError, match=message):
        run_cohort_tasks(never, ["pid on snacks"], 3, **kwargs)


def test_tasks_cut_groups_in_order_and_keep_unsplittable_groups_whole() -> None:
    tasks = plan_cohort_tasks(["a", "b", "c"], 3, 2, splittable=[True, False, True])
    assert [(t.group, t.unit_ids) for t in tasks] == [
        (0, (0, 1)), (0, (2,)), (1, (0, 1, 2)), (2, (0, 1)), (2, (2,)),
    ]  # fmt: skip
    assert [t.label for t in tasks][:3] == ["a replicates 0-1", "a replicate 2", "b"]
    with pytest.raises(InvalidInputError, match="one each"):
        plan_cohort_tasks(["a", "b"], 3, splittable=[True])
    with pytest.raises(InvalidInputError, match="at least 1 replicate"):
        plan_cohort_tasks(["a"], 0)


def test_default_chunks_give_each_worker_about_one_task() -> None:
    assert default_units_per_task(3, 5, 1) is None  # in process: whole pairs
    assert default_units_per_task(3, 5, 3) is None  # as many workers as pairs
    assert default_units_per_task(1, 5, 2) == 3
    assert default_units_per_task(2, 10, 8) == 3  # 4 chunks of each pair
    assert default_units_per_task(2, 10, 8, n_splittable=1) == 2  # one pair takes 1 slot
    assert default_units_per_task(2, 10, 8, n_splittable=0) is None


def test_the_cluster_choice_follows_healthtwin_run(monkeypatch: pytest.MonkeyPatch) -> None:
    notes: list[str] = []
    assert resolve_cluster("none", None, notes.append) is None
    assert resolve_cluster(" None ", None, notes.append) is None
    assert resolve_cluster("tcp://h:8786", None, notes.append) == "tcp://h:8786"
    with pytest.raises(InvalidInputError, match="--workers 2 only applies to a local cluster"):
        resolve_cluster("none", 2, notes.append)
    real = importlib.util.find_spec

    def no_dask(name: str, package: str | None = None) -> Any:
        return None if name == "distributed" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_dask)
    assert resolve_cluster(None, None, notes.append) is None
    assert notes == [
        "Dask is not installed (pip install 'healthtwin[dask]'): running in this process"
    ]
    monkeypatch.setattr(importlib.util, "find_spec", real)
    if real("distributed") is not None:
        assert resolve_cluster(None, None, notes.append) == "local"


def test_an_unknown_controller_fails_before_any_task_runs() -> None:
    with pytest.raises(InvalidParameterError, match=r"\['bang-bang'\]; valid: basal-bolus"):
        evaluate_cohort(["pid", "bang-bang"], PATIENTS, ["snacks"], cluster="tcp://nowhere:1")
