"""The 47-region ICU-planning example at small size: invariants, the planner, determinism."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world

DeathsCheck = Callable[[WorldResult], None]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "country-47-regions.yaml"


def _small() -> WorldScenario:
    """Shorter, one replicate, a bigger seed so the wave peaks inside the run."""
    world = load_world(EXAMPLE)
    country = world.countries[0]
    assert country.initial_infected is not None
    assert country.national is not None
    seeded = {k: 100 * v for k, v in country.initial_infected.items()}
    national = country.national.model_copy(update={"days": [21, 35]})
    country = country.model_copy(update={"initial_infected": seeded, "national": national})
    return world.model_copy(update={"days": 42, "replicates": 1, "countries": [country]})


@pytest.fixture(scope="module")
def result() -> WorldResult:
    return run_world(_small())


def test_the_example_is_a_47_region_country_with_a_hospital_each() -> None:
    world = load_world(EXAMPLE)
    (country,) = world.countries
    assert country.geography.regions is not None
    assert len(country.geography.regions) == 47
    assert {h.region for h in country.hospitals} == {r.name for r in country.geography.regions}
    assert country.mobility.model == "gravity"
    assert country.national is not None
    assert country.national.days == list(range(28, 85, 7))


def test_every_hospitalisation_is_admitted_once_and_totals_agree(
    result: WorldResult, deaths_add_up: DeathsCheck
) -> None:
    c = result.countries[0]
    admissions = c.epidemic.admissions
    assert admissions.sum() > 200
    np.testing.assert_array_equal(c.routed.sum(axis=3), admissions)
    for rep, runs in enumerate(c.hospital_runs):
        for h, run in enumerate(runs):
            np.testing.assert_array_equal(run.admissions, c.routed[rep, :, :, h].sum(axis=1))
            assert (
                run.arrived == run.admissions.sum() == run.discharged + run.died + run.in_hospital
            )
    np.testing.assert_array_equal(
        c.hospital_admissions().sum(axis=2), c.national("admissions").totals
    )
    deaths_add_up(result)


def test_the_planner_conserves_beds_and_pushes_them_down(result: WorldResult) -> None:
    c = result.countries[0]
    assert c.icu_schedule is not None
    stock = int(c.icu_beds.sum())
    assert (c.icu_schedule.sum(axis=2) == stock).all()
    for i, (plans, runs) in enumerate(zip(c.reallocations, c.hospital_runs, strict=True)):
        assert [r.day for r in plans] == [21, 35]
        last = plans[-1]
        np.testing.assert_array_equal(c.icu_schedule[i, 35:], np.broadcast_to(last.after, (7, 47)))
        icu = [int(run.beds[run.units.index("icu")]) for run in runs]
        np.testing.assert_array_equal(np.bincount(c.hospital_region, icu, 47), last.after)
        # Half of each region's beds stay put.
        for plan in plans:
            assert (plan.after >= np.ceil(plan.before * 0.5)).all()
    assert c.unmet_icu_bed_days(reallocated=False).mean() > 0


def test_the_planner_helps_when_its_forecast_is_right() -> None:
    # The optimiser, given the replicate's own future (forecast: ensemble, an oracle),
    # never leaves more ICU demand unmet than keeping the beds where they are; this
    # checks the allocation, not the forecast (tests/validation/test_icu_planner.py
    # checks the forecast's plans).
    world = _small()
    country = world.countries[0]
    assert country.national is not None
    oracle = country.national.model_copy(update={"forecast": "ensemble"})
    world = world.model_copy(
        update={"countries": [country.model_copy(update={"national": oracle})]}
    )
    c = run_world(world).countries[0]
    assert any(c.reallocations)
    assert (c.unmet_icu_bed_days() <= c.unmet_icu_bed_days(reallocated=False)).all()


def test_same_seed_same_results(result: WorldResult) -> None:
    again = run_world(_small())
    assert again.summary() == result.summary()


def test_the_command_line_runs_it_shortened(tmp_path: Path) -> None:
    # Reallocation days past a shortened horizon are skipped, not an error.
    code = main(["run", str(EXAMPLE), "--out", str(tmp_path), "--days", "21", "--replicates", "1"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["countries"]["Utopia"]["reallocations"] == []
    assert len(summary["countries"]["Utopia"]["hospitals"]) == 47


def test_the_benchmark_generator_writes_the_example_byte_for_byte(tmp_path: Path) -> None:
    # benchmarks/world_scaling.py:country_47 is the example's source of truth (its growth
    # axes vary it); the file must be what `--write-example` writes, comments included.
    from benchmarks.world_scaling import write_example

    written = tmp_path / "country-47-regions.yaml"
    write_example(written)
    assert written.read_bytes() == EXAMPLE.read_bytes(), (
        "examples/country-47-regions.yaml and benchmarks/world_scaling.py:country_47 differ: "
        "change the generator and run `python -m benchmarks.world_scaling --write-example "
        "examples/country-47-regions.yaml`"
    )
