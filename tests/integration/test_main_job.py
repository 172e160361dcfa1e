"""The README's main job, ``examples/local-to-global.yaml``, at small size: every link used.

Patient twins in the hospitals, the occupancy line and ICU overflow back to the regions,
the national planner and vaccine campaign, the cross-border monitor and the federated model
shared back to the hospitals, all in one world, with the cross-scale invariants holding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world

DeathsCheck = Callable[[WorldResult], None]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "local-to-global.yaml"


def _small() -> WorldScenario:
    world = load_world(EXAMPLE)
    federation = world.federation
    assert federation is not None
    return world.model_copy(
        update={
            "days": 49,
            "replicates": 2,
            "federation": federation.model_copy(update={"rounds": 3, "patients_per_hospital": 120}),
        }
    )


@pytest.fixture(scope="module")
def result() -> WorldResult:
    return run_world(_small())


def test_the_example_uses_every_link() -> None:
    world = load_world(EXAMPLE)
    assert len(world.countries) == 2
    for country in world.countries:
        assert country.patients is not None
        assert country.patients.course == "twins"
        assert country.national is not None
    assert world.countries[0].national is not None
    assert world.countries[0].national.vaccine_daily_doses
    assert world.feedback.occupancy_line is not None
    assert world.surveillance.neighbours
    assert world.federation is not None


def test_patients_are_conserved_from_region_to_nation(
    result: WorldResult, deaths_add_up: DeathsCheck
) -> None:
    for c in result.countries:
        admissions = c.epidemic.admissions
        assert admissions.sum() > 0
        np.testing.assert_array_equal(c.routed.sum(axis=3), admissions)
        np.testing.assert_array_equal(c.hospital_admissions().sum(axis=2), admissions.sum(axis=2))
        np.testing.assert_array_equal(c.national("admissions").totals, admissions.sum(axis=2))
        for runs in c.hospital_runs:
            for run in runs:
                assert run.arrived == run.discharged + run.died + run.in_hospital
    deaths_add_up(result)


def test_every_scale_reports(result: WorldResult) -> None:
    summary = result.summary()
    version = summary["federation"]["version"]
    for country in result.world.countries:
        block = summary["countries"][country.name]
        assert [r["day"] for r in block["reallocations"]] == [35]
        # Beds move, their number does not.
        assert sum(block["reallocations"][0]["after"]) == block["icu_beds"]
        for name, hospital in block["hospitals"].items():
            assert hospital["prognosis_model"]["version"] == version, name
            patients = hospital["patients"]
            assert patients["course"] == "twins"
    assert result.monitor.n_series == 2


def test_the_command_line_runs_it_and_reports_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(EXAMPLE), "--out", str(tmp_path), "--days", "28",
                 "--replicates", "1", "--json"])  # fmt: skip
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["countries"]) == {"Ruritania", "Syldavia"}
    assert {p.name for p in tmp_path.iterdir()} >= {"summary.json", "report.html"}
