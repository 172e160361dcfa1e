"""The three-countries example at small size: monitor, federation, shared model, invariants."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.scenarios import WorldResult, WorldScenario, load_world, run_world, write_outputs

DeathsCheck = Callable[[WorldResult], None]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-countries.yaml"
COUNTRIES = ("Aldoria", "Borduria", "Carpania")


def _small() -> WorldScenario:
    return load_world(EXAMPLE).model_copy(update={"days": 56, "replicates": 2})


@pytest.fixture(scope="module")
def result() -> WorldResult:
    return run_world(_small())


def test_the_monitor_watches_every_country_and_names_alarming_neighbours(
    result: WorldResult,
) -> None:
    assert result.monitor.n_series == 3
    assert {a.key.country for a in result.monitor.alarms} == set(result.alarms)
    assert set(result.alarms) <= set(COUNTRIES)
    neighbours = {"Aldoria": {"Borduria"}, "Borduria": {"Aldoria", "Carpania"},
                  "Carpania": {"Borduria"}}  # fmt: skip
    for alarm in result.monitor.alarms:
        assert set(alarm.neighbours_alarming) <= neighbours[alarm.key.country] & result.alarms
    assert result.summary()["alarming_countries"] == sorted(result.alarms)


def test_federated_metrics_are_reported_for_every_round(result: WorldResult) -> None:
    federation = result.summary()["federation"]
    rounds = federation["rounds"]
    assert [r["round"] for r in rounds] == list(range(1, 16))
    assert all(set(r["metrics"]) == {"auc", "log_loss"} for r in rounds)
    assert rounds[-1]["metrics"]["log_loss"] < rounds[0]["metrics"]["log_loss"]
    assert rounds[-1]["metrics"]["auc"] > 0.7
    assert rounds[-1]["metrics"]["auc"] == pytest.approx(
        federation["central_metrics"]["auc"], abs=0.02
    )
    assert len(federation["sites"]) == 7
    assert all(s["audit_events"] == 15 for s in federation["sites"].values())


def test_the_shared_model_is_in_every_hospitals_results_and_pathway(result: WorldResult) -> None:
    summary = result.summary()
    version = summary["federation"]["version"]
    shared: dict[str, float] = {}
    for country in result.world.countries:
        for site in country.hospitals:
            card = summary["countries"][country.name]["hospitals"][site.name]["prognosis_model"]
            assert card["version"] == version
            assert card["applied_to_pathway"]
            assert card["icu_probability_before"] == 0.12
            # The hospitals ran with the model's probability, not the file's.
            assert site.config.pathways["ward"]["icu"] == card["icu_probability_after"]
            assert sum(site.config.pathways["ward"].values()) == pytest.approx(1.0, abs=1e-12)
            shared[site.name] = card["icu_probability_after"]
    # Borduria's patients are the oldest and Carpania's the youngest (the cohorts).
    assert min(shared["borduria-central"], shared["borduria-hills"]) > max(
        shared["carpania-delta"], shared["carpania-valley"]
    )


def test_every_hospitalisation_is_admitted_once_and_totals_agree(
    result: WorldResult, deaths_add_up: DeathsCheck
) -> None:
    for c in result.countries:
        admissions = c.epidemic.admissions
        np.testing.assert_array_equal(c.routed.sum(axis=3), admissions)
        np.testing.assert_array_equal(c.hospital_admissions().sum(axis=2), admissions.sum(axis=2))
        np.testing.assert_array_equal(c.national("admissions").totals, admissions.sum(axis=2))
        for rep, runs in enumerate(c.hospital_runs):
            for h, run in enumerate(runs):
                np.testing.assert_array_equal(run.admissions, c.routed[rep, :, :, h].sum(axis=1))
                assert run.arrived == run.discharged + run.died + run.in_hospital
    assert sum(int(c.epidemic.admissions.sum()) for c in result.countries) > 0
    deaths_add_up(result)


def test_outputs_include_the_federation(result: WorldResult, tmp_path: Path) -> None:
    names = {p.name for p in write_outputs(result, tmp_path)}
    assert {"summary.json", "monitor.json", "federation.json", "report.html"} <= names
    federation = json.loads((tmp_path / "federation.json").read_text())
    assert federation["provenance"]["target"] == federation["version"]
    assert len(federation["hospitals"]) == 7
    assert "urn:healthtwin:federation-round:15" in federation["provenance"]["inputs"]
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Federation</h2>" in page
    assert federation["version"] in page
    assert page.count("<td>unchanged</td>") == 0


def test_the_command_line_prints_the_summary_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(EXAMPLE), "--out", str(tmp_path), "--days", "21", "--replicates", "1"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["days"] == 21
    assert sorted(summary["countries"]) == list(COUNTRIES)
    assert len(summary["federation"]["rounds"]) == 15
    assert main([*args, "--cluster", "spark://x"]) == 2
