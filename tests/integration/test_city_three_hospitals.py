"""The city example (``examples/city-three-hospitals.yaml``) at small size, end to end.

Cross-scale invariants, determinism and the outputs. The README's main job,
``examples/local-to-global.yaml``, is tested in ``test_main_job.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world, write_outputs
from healthtwin.scenarios.world_results import ReplicateBand

DeathsCheck = Callable[[WorldResult], None]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "city-three-hospitals.yaml"


def _small() -> WorldScenario:
    world = load_world(EXAMPLE)
    return world.model_copy(update={"days": 42, "replicates": 2})


@pytest.fixture(scope="module")
def result() -> WorldResult:
    return run_world(_small())


def test_every_hospitalisation_is_admitted_in_exactly_one_hospital(result: WorldResult) -> None:
    c = result.countries[0]
    admissions = c.epidemic.admissions
    assert admissions.sum() > 0
    # Region level: routed admissions add back to the population model's, day by day.
    np.testing.assert_array_equal(c.routed.sum(axis=3), admissions)
    # Hospital level: each hospital admitted exactly what was routed to it.
    for rep, runs in enumerate(c.hospital_runs):
        for h, run in enumerate(runs):
            np.testing.assert_array_equal(run.admissions, c.routed[rep, :, :, h].sum(axis=1))
            assert run.arrived == run.admissions.sum()
            assert run.refused == 0
    arrived = sum(run.arrived for runs in c.hospital_runs for run in runs)
    assert arrived == admissions.sum()


def test_deaths_and_discharges_are_counted_once(
    result: WorldResult, deaths_add_up: DeathsCheck
) -> None:
    # Nation = regions = their hospitals' simulated deaths + overflow on their ICU queues.
    deaths_add_up(result)
    assert result.countries[0].deaths().sum() > 0


def test_totals_agree_at_every_level(result: WorldResult) -> None:
    c = result.countries[0]
    region = c.epidemic.admissions.sum(axis=2)  # (reps, days)
    hospital = c.hospital_admissions().sum(axis=2)
    nation = c.national("admissions").totals
    np.testing.assert_array_equal(region, hospital)
    np.testing.assert_array_equal(region, nation)
    summary = result.summary()["countries"][c.name]
    assert summary["admissions"][1] == pytest.approx(np.median(nation.sum(axis=1)))
    # Each hospital's band is that of its own per-replicate totals, which add up, replicate
    # by replicate, to the nation's.
    per_hospital = c.hospital_admissions().sum(axis=1)  # (reps, H)
    np.testing.assert_array_equal(per_hospital.sum(axis=1), nation.sum(axis=1))
    band = ReplicateBand(result.world.replicates)
    for h, name in enumerate(c.hospitals):
        assert summary["hospitals"][name]["admissions"] == band.of(per_hospital[:, h])
    # With two replicates the median is their mean, which adds up over hospitals.
    medians = sum(h["admissions"][1] for h in summary["hospitals"].values())
    assert medians == pytest.approx(summary["admissions"][1])
    assert result.monitor.n_series == 1


def test_same_seed_same_results(result: WorldResult) -> None:
    again = run_world(_small())
    assert again.summary() == result.summary()
    np.testing.assert_array_equal(again.countries[0].routed, result.countries[0].routed)
    other = run_world(_small().model_copy(update={"seed": 7}))
    assert not np.array_equal(other.countries[0].routed, result.countries[0].routed)


def test_outputs_and_report(result: WorldResult, tmp_path: Path) -> None:
    written = write_outputs(result, tmp_path)
    names = {p.name for p in written}
    assert names == {"summary.json", "monitor.json", "national.csv", "regions.csv",
                     "hospitals.csv", "hospital_totals.csv", "report.html"}  # fmt: skip
    page = (tmp_path / "report.html").read_text()
    # Regions, hospitals' occupancy, their waiting and the nation's ICU demand.
    assert page.count("data:image/png;base64,") == 4
    assert "http" not in page
    assert "range of 2 replicates" in page
    assert json.loads((tmp_path / "summary.json").read_text())["seed"] == result.world.seed


def test_the_command_line_runs_the_example(tmp_path: Path) -> None:
    code = main(["run", str(EXAMPLE), "--out", str(tmp_path), "--days", "21", "--replicates", "1"])
    assert code == 0
    assert json.loads((tmp_path / "summary.json").read_text())["days"] == 21
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("replicates: 8", "replicates: -1"))
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
