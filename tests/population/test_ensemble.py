"""Scenario ensembles: any cut of the work, in process or on Dask, gives the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import merge_results, plan_tasks, run_ensemble
from healthtwin.population.scenario import load_scenario
from healthtwin.population.scenario_build import run_variant

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "population" / "two_wave.yaml"


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_scenario(SCENARIO).model_copy(update={"days": 30, "replicates": 4})


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.replicate_ids == b.replicate_ids
    for name in a.series:
        np.testing.assert_array_equal(a.series[name], b.series[name], err_msg=name)
    np.testing.assert_array_equal(a.final_state, b.final_state)


def test_tasks_cover_every_replicate_of_every_variant_and_draw(spec) -> None:  # type: ignore[no-untyped-def]
    tasks = plan_tasks(spec, draws=[{"r0": 2.0}, {"r0": 3.0}], replicates_per_task=3)
    assert len(tasks) == 2 * 2 * 2
    ids = sorted(i for t in tasks if t.variant == "lockdown" for i in t.replicate_ids)
    assert ids == list(range(8))


def test_splitting_the_replicates_changes_nothing(spec) -> None:  # type: ignore[no-untyped-def]
    whole = run_ensemble(spec, variants=["lockdown"])
    split = run_ensemble(spec, variants=["lockdown"], replicates_per_task=1)
    _same(whole.variant("lockdown"), split.variant("lockdown"))
    direct = run_variant(spec, spec.variant("lockdown"))
    _same(whole.variant("lockdown"), direct)


def test_parameter_draws_are_distinct_replicates(spec) -> None:  # type: ignore[no-untyped-def]
    ens = run_ensemble(spec, variants=["no-action"], draws=[{"r0": 1.5}, {"r0": 3.0}])
    low, high = ens.results[("no-action", 0)], ens.results[("no-action", 1)]
    assert high.national("incidence").sum() > low.national("incidence").sum()
    assert ens.variant("no-action").replicate_ids == tuple(range(8))


def test_dask_local_cluster_gives_the_in_process_numbers(spec) -> None:  # type: ignore[no-untyped-def]
    require("distributed", "dask")
    local = run_ensemble(spec)
    dask = run_ensemble(spec, scheduler="dask", n_workers=2, replicates_per_task=2)
    assert dask.scheduler == "dask"
    for name in ("no-action", "lockdown"):
        _same(local.variant(name), dask.variant(name))


def test_bad_requests_are_clear_errors(spec) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="unknown variant 'nope'"):
        plan_tasks(spec, variants=["nope"])
    with pytest.raises(InvalidInputError, match="replicates_per_task"):
        plan_tasks(spec, replicates_per_task=0)
    with pytest.raises(InvalidInputError, match="scheduler"):
        run_ensemble(spec, scheduler="spark")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="nothing to merge"):
        merge_results([])


def test_without_mobility_data_regions_with_coordinates_travel_by_gravity() -> None:
    from healthtwin.population.scenario import parse_scenario
    from healthtwin.population.scenario_build import build_inputs

    base = {"geography": {"synthetic": {"n_regions": 3, "total_population": 3e5}}}
    auto = build_inputs(parse_scenario(base)).mobility
    assert auto is not None
    assert (auto.outflow() > 0).all()
    listed = {"geography": {"regions": [{"name": "a", "population": 10.0},
                                        {"name": "b", "population": 10.0}]}}  # fmt: skip
    assert build_inputs(parse_scenario(listed)).mobility is None
    none = build_inputs(parse_scenario({**base, "mobility": {"model": "none"}})).mobility
    assert none is None
