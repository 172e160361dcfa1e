"""A country's run cut into replicate chunks gives exactly the unsplit run's numbers.

Every draw of a country's run is named after its replicate, so running replicates
``[a, b)`` alone reproduces those replicates of the whole run; the parts are merged in
replicate order and the pooled numbers (patients' summaries, prognosis check) computed
after the merge. Checked for the hospital loop example (occupancy line, two hospitals
sharing a region) and for a world of patient twins with a federated prognosis model and
national ICU planners (each replicate plans on its own past), in process and on a
LocalCluster, for chunks of 1, 3 and all replicates.
"""

from __future__ import annotations

import json
import pickle
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import require

import healthtwin.scenarios.run as run_module
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world, write_outputs
from healthtwin.scenarios.distributed import (
    default_replicates_per_task,
    executor_for,
    world_tasks,
)
from healthtwin.scenarios.world import parse_world
from healthtwin.scenarios.world_results import merge_parts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _city() -> WorldScenario:
    world = load_world(EXAMPLES / "city-three-hospitals.yaml")
    return world.model_copy(update={"days": 35, "replicates": 4})


def _twins() -> WorldScenario:
    """The main job, small, its national planners replanning on days 21 and 28.

    Every bed may move and any saving is worth a move, so that the planners do move beds
    in this short run (in some replicates, not in others).
    """
    data = load_world(EXAMPLES / "local-to-global.yaml").model_dump()
    for country in data["countries"]:
        country["national"].update(days=[21, 28], movable_fraction=1.0, min_gain_per_bed=0.0)
        country["patients"]["cohort_size"] = 60
    data["federation"].update(rounds=2, patients_per_hospital=60)
    data.update(days=35, replicates=4, base_dir=str(EXAMPLES))
    return parse_world(data)


def _same(a: WorldResult, b: WorldResult) -> None:
    assert json.dumps(a.summary(), indent=2) == json.dumps(b.summary(), indent=2)
    assert a.monitor.to_json() == b.monitor.to_json()
    for x, y in zip(a.countries, b.countries, strict=True):
        assert x.epidemic.replicate_ids == y.epidemic.replicate_ids
        for name in x.epidemic.series:
            np.testing.assert_array_equal(x.epidemic.series[name], y.epidemic.series[name])
        np.testing.assert_array_equal(x.epidemic.final_state, y.epidemic.final_state)
        np.testing.assert_array_equal(x.routed, y.routed)
        np.testing.assert_array_equal(x.hospital_occupancy(), y.hospital_occupancy())
        np.testing.assert_array_equal(x.hospital_deaths(), y.hospital_deaths())
        np.testing.assert_array_equal(x.icu_queue_days(), y.icu_queue_days())
        np.testing.assert_array_equal(x.deaths(), y.deaths())
        if x.icu_schedule is not None or y.icu_schedule is not None:
            np.testing.assert_array_equal(x.icu_schedule, y.icu_schedule)
        assert [[(p.day, p.after.tolist()) for p in plans] for plans in x.reallocations] == [
            [(p.day, p.after.tolist()) for p in plans] for plans in y.reallocations
        ]
        assert [r.day for r in x.reviews] == [r.day for r in y.reviews]
        for r, s in zip(x.reviews, y.reviews, strict=True):
            np.testing.assert_array_equal(r.occupancy, s.occupancy)
            np.testing.assert_array_equal(r.above, s.above)


@pytest.fixture(scope="module")
def city() -> WorldResult:
    return run_world(_city())


@pytest.fixture(scope="module")
def twins() -> WorldResult:
    return run_world(_twins())


@pytest.mark.parametrize("size", [1, 3, 4])
def test_city_chunks_in_process_are_the_unsplit_run(city: WorldResult, size: int) -> None:
    seen: list[str] = []
    split = run_world(_city(), replicates_per_task=size, progress=seen.append)
    _same(city, split)
    assert len(seen) == -(-4 // size)
    # Not vacuous: the loop reviewed, and the centre's admissions were split between its
    # two hospitals (a multinomial draw per replicate and day).
    assert city.countries[0].reviews
    assert city.countries[0].routed[:, :, 0, :2].sum(axis=(0, 1)).min() > 0


def test_twin_chunks_in_process_are_the_unsplit_run(twins: WorldResult) -> None:
    summary = twins.summary()
    patients = [
        h["patients"] for c in summary["countries"].values() for h in c["hospitals"].values()
    ]
    # Not vacuous: about a hundred twins, and the pooled prognosis check on each hospital.
    assert all(p["course"] == "twins" and "prognosis_check" in p for p in patients)
    assert sum(p["patients"] for p in patients) > 50
    # Chunks of 3 (and 1) are checked on a local cluster below.
    _same(twins, run_world(_twins(), replicates_per_task=1))


def test_summary_json_files_are_byte_identical(city: WorldResult, tmp_path: Path) -> None:
    world = _city().model_copy(update={"outputs": _city().outputs.model_copy(
        update={"report": False, "tables": False})})  # fmt: skip
    whole = write_outputs(run_world(world), tmp_path / "whole")[0]
    split = write_outputs(run_world(world, replicates_per_task=1), tmp_path / "split")[0]
    assert whole.name == "summary.json"
    assert whole.read_bytes() == split.read_bytes()


def test_chunks_on_a_local_cluster_are_the_unsplit_run(
    city: WorldResult, twins: WorldResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("distributed", "dask")
    monkeypatch.setattr(run_module, "executor_for", partial(executor_for, processes=False))
    steps: list[int] = []
    seen: list[str] = []
    on_dask = run_world(
        _city(), cluster="local", workers=2, on_steps=steps.append, progress=seen.append
    )
    _same(city, on_dask)
    # Two workers: the default cut gives each about one task.
    assert steps == [2]
    assert sorted(seen) == ["Ruritania replicates 0-1", "Ruritania replicates 2-3"]
    _same(twins, run_world(_twins(), cluster="local", workers=2, replicates_per_task=3))


def test_a_country_with_a_national_planner_splits_like_any_other(twins: WorldResult) -> None:
    world = load_world(EXAMPLES / "local-to-global.yaml")
    assert [t.label for t in world_tasks(world, 2)] == [
        "Ruritania replicates 0-1",
        "Ruritania replicates 2-3",
        "Syldavia replicates 0-1",
        "Syldavia replicates 2-3",
    ]
    assert default_replicates_per_task(world, 16) == 1
    assert default_replicates_per_task(world, 2) is None
    city = _city()
    assert [t.replicate_ids for t in world_tasks(city, 3)] == [(0, 1, 2), (3,)]
    assert default_replicates_per_task(city, 2) == 2
    # Not vacuous: the twins world's planners planned and moved beds, not alike in every
    # replicate (each plans on its own past).
    plans = twins.countries[0].reallocations
    assert [[p.day for p in row] for row in plans] == [[21, 28]] * 4
    moved = [sum(p.moved for p in row) for row in plans]
    assert max(moved) > 0
    assert len(set(moved)) > 1
    schedule = twins.countries[0].icu_schedule
    assert schedule is not None
    assert any((schedule[i] != schedule[0]).any() for i in range(1, 4))


def test_merging_refuses_overlaps_and_nothing() -> None:
    with pytest.raises(InvalidInputError, match="at least one part"):
        merge_parts([])
    world = _city().model_copy(update={"days": 7, "replicates": 2})
    streams = run_module.RandomStreams(world.seed)
    part: Any = run_module._run_part(world, world.countries[0], streams, [1])
    with pytest.raises(InvalidInputError, match="appear twice"):
        merge_parts([part, part])


def test_bad_chunk_sizes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="replicates_per_task = 0"):
        run_world(_city(), replicates_per_task=0)


def test_forked_worker_processes_give_the_same_numbers(city: WorldResult) -> None:
    """Real worker processes (forked, so they start fast): every part travels pickled."""
    require("distributed", "dask")
    _same(city, run_world(_city(), cluster="local", workers=2, replicates_per_task=1))
    world = _twins().model_copy(update={"days": 7, "replicates": 2, "federation": None})
    part = run_module._run_part(world, world.countries[1], run_module.RandomStreams(1), [1])
    assert any(a is not None for a in part.admitted)
    again = pickle.loads(pickle.dumps(part))
    assert again.replicate_ids == (1,)
    np.testing.assert_array_equal(again.routed_ages, part.routed_ages)
