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
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world, write_outputs
from healthtwin.scenarios.world_results import ReplicateBand

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
        national = country.national
        assert national is not None
        days = [d for d in national.days if d < result.world.days]
        assert days
        assert [r["day"] for r in block["reallocations"]] == days
        # Beds move, their number does not, in every replicate.
        for plan in block["reallocations"]:
            assert [sum(after) for after in plan["after_by_replicate"]] == [block["icu_beds"]] * 2
        for name, hospital in block["hospitals"].items():
            assert hospital["prognosis_model"]["version"] == version, name
            patients = hospital["patients"]
            assert patients["course"] == "twins"
    assert result.monitor.n_series == 2


def test_the_outputs_show_waiting_regions_patients_and_the_links(
    result: WorldResult, tmp_path: Path
) -> None:
    names = {p.name for p in write_outputs(result, tmp_path)}
    assert {"regions.csv", "patients.csv", "hospital_totals.csv", "report.html"} <= names
    summary = json.loads((tmp_path / "summary.json").read_text())
    band = ReplicateBand(2)
    assert summary["interval"]["label"] == "range of 2 replicates"
    for c, country in zip(result.countries, result.world.countries, strict=True):
        s = summary["countries"][c.name]
        # Two replicates: medians are means, so the regions' add up to the nation's.
        regions = s["regions"].values()
        assert sum(r["infections"][1] for r in regions) == pytest.approx(s["infections"][1])
        assert all(0 <= r["attack_rate"][0] <= r["attack_rate"][2] <= 1 for r in regions)
        ward = np.zeros(2)
        for h, name in enumerate(c.hospitals):
            runs = [row[h] for row in c.hospital_runs]
            per_rep = np.array([r.queue_days[:, r.units.index("ward")].sum() for r in runs])
            assert s["hospitals"][name]["queue_days"]["ward"] == pytest.approx(band.of(per_rep))
            ward += per_rep
        assert s["ward_queue_days"] == pytest.approx(band.of(ward))
        # Beds move between hospitals, none are created, in each replicate.
        start = np.array([site.icu_beds() for site in country.hospitals])
        for runs in c.hospital_runs:
            end = [r.beds[r.units.index("icu")] for r in runs]
            assert sum(end) == start.sum()
        per_rep = [sum(p.moved for p in plans) for plans in c.reallocations]
        assert s["beds_moved"] == band.of(np.array(per_rep, dtype=float))
        assert s["icu_admissions"] is not None
    # Ruritania's campaign starts on day 30; Syldavia has none.
    assert all(
        r["vaccine_doses"][0] > 0 for r in summary["countries"]["Ruritania"]["regions"].values()
    )
    assert all(
        r["vaccine_doses"] is None for r in summary["countries"]["Syldavia"]["regions"].values()
    )
    page = (tmp_path / "report.html").read_text()
    assert "Links between scales" in page
    assert summary["federation"]["version"] in page
    assert page.count("<figure>") == 4 * len(result.countries)


def test_the_command_line_runs_it_and_reports_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(EXAMPLE), "--out", str(tmp_path), "--days", "28",
                 "--replicates", "1", "--json"])  # fmt: skip
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["countries"]) == {"Ruritania", "Syldavia"}
    assert {p.name for p in tmp_path.iterdir()} >= {"summary.json", "report.html"}


def test_the_shared_model_acts_on_the_hospitals_or_says_why_not(result: WorldResult) -> None:
    summary = result.summary()
    assert result.world.federation is not None
    assert result.world.federation.share_back == "triage"
    triaged = 0
    for name, block in summary["countries"].items():
        for hospital, h in block["hospitals"].items():
            card = h["prognosis_model"]
            assert card["reason"], (name, hospital)
            # Every hospital here has an ICU, twins and a cohort: triage, never the pathway.
            assert card["applied"] == "triage", (name, hospital)
            assert not card["applied_to_pathway"]
            triage = h["patients"]["triage"]
            assert 0 <= triage["triaged"] <= triage["patients"]
            triaged += triage["triaged"]
    assert triaged > 0


def test_triage_changes_the_hospitals_numbers() -> None:
    # Issue 15: with share_back: pathway the model was recorded but the twins routed every
    # patient, so the outputs were byte-identical without it. Triage must change them.
    world = _small().model_copy(update={"days": 28, "replicates": 1})
    assert world.federation is not None
    card = world.federation.model_copy(update={"share_back": "model-card"})
    runs = [run_world(w) for w in (world, world.model_copy(update={"federation": card}))]
    icu = [
        [
            run.unit_occupancy(site.icu_unit or "icu").sum()
            for c, country in zip(r.countries, r.world.countries, strict=True)
            for run, site in zip(c.hospital_runs[0], country.hospitals, strict=True)
        ]
        for r in runs
    ]
    assert icu[0] != icu[1]
    recorded = runs[1].summary()["countries"]["Ruritania"]["hospitals"]
    assert all(h["prognosis_model"]["applied"] == "recorded-only" for h in recorded.values())


def test_in_hospital_fatality_rises_with_age(result: WorldResult) -> None:
    # Pooled over the world's hospitals (the small run admits few children).
    patients = np.zeros(3)
    deaths = np.zeros(3)
    for block in result.summary()["countries"].values():
        for h in block["hospitals"].values():
            for b, band in enumerate(h["patients"]["by_age_band"].values()):
                patients[b] += band["patients"]
                deaths[b] += band["deaths"]
    assert (patients > 10).all()
    fatality = deaths / patients
    assert fatality[0] < 0.05  # children: illustrative 0.9 %
    assert fatality[0] < fatality[1] < fatality[2]
    assert fatality[2] > 0.12  # over-65s: illustrative 21.8 %
