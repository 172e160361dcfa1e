"""Long runs count their work on a bar with a real total (issue 14).

Each command's bar is recorded (its total and how far it got) off a terminal, where
nothing is drawn; the scale packages' tests check that the counted run gives the same
result as the uncounted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from healthtwin.cli.app import app
from healthtwin.cli.output import ProgressTask

runner = CliRunner()


def _json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _counts(bars: list[ProgressTask]) -> list[tuple[float | None, float]]:
    return [(b.total, b.completed) for b in bars]


def _queue(path: Path) -> Path:
    from healthtwin.hospital import mmc_config

    path.write_text(yaml.safe_dump(mmc_config(9.0, 1.0, 10).model_dump(mode="json")))
    return path


def test_hospital_plan_counts_the_replications_it_plans(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    from healthtwin.scenarios.hospital_studies import plan_hospital_capacity

    config = _queue(tmp_path / "queue.yaml")
    document = _json(["hospital", "plan", "--scenario", str(config), "--target",
                      "waited_fraction.queue<0.5", "--days", "3", "--replicates", "2",
                      "--max-replicates", "4"])  # fmt: skip
    [bar] = bars
    simulated = sum(row["replications"] for row in document["candidates"])
    assert bar.total == bar.completed == simulated > 0
    # The counted search is the uncounted one.
    direct = plan_hospital_capacity(config, "waited_fraction.queue<0.5", days=3,
                                    replications=2, max_replications=4)  # fmt: skip
    assert {k: v for k, v in document.items() if k != "out"} == json.loads(
        json.dumps(direct.to_dict())
    )


def test_patient_simulate_counts_the_cohort_minutes(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    out = tmp_path / "trace.csv"
    _json(["patient", "simulate", "--patient", "all", "--hours", "2.5", "--out", str(out)])
    assert _counts(bars) == [(150, 150.0)]
    assert out.is_file()


def test_population_chronic_counts_years_of_both_arms(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    _json(["population", "chronic", "--people", "300", "--years", "3", "--replicates", "2",
           "--out", str(tmp_path / "t2d")])  # fmt: skip
    assert _counts(bars) == [(6, 6.0)]


def test_patient_recommend_counts_bolus_plans(tmp_path: Path, bars: list[ProgressTask]) -> None:
    _json(["patient", "recommend", "--patient", "adult#001", "--meal", "40", "--members", "8",
           "--hours", "1", "--boluses", "0,2,4"])  # fmt: skip
    assert _counts(bars) == [(3, 3.0)]


def test_synth_cohort_and_impute_count_their_work(tmp_path: Path, bars: list[ProgressTask]) -> None:
    from healthtwin.scenarios.synthetic_cohorts import COHORT_STAGES

    spec = tmp_path / "cohort.yaml"
    spec.write_text("name: demo\ninclusion: {diabetes: false}\ntargets: {female_fraction: 0.5}\n")
    _json(["synth", "cohort", "--scenario", str(spec), "--n", "20", "--oversample", "2",
           "--out", str(tmp_path / "cohort.csv")])  # fmt: skip
    table = tmp_path / "gaps.csv"
    table.write_text("a,b\n" + "".join(f"{i},{'' if i % 4 == 0 else 2 * i}\n" for i in range(30)))
    _json(["synth", "impute", "--data", str(table), "--m", "3", "--out", str(tmp_path / "c.csv")])
    assert _counts(bars) == [(COHORT_STAGES, float(COHORT_STAGES)), (3, 3.0)]


def test_a_deployed_federation_keeps_a_spinner_and_in_process_counts_rounds(
    bars: list[ProgressTask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds are counted in process; stubbed training keeps this test fast."""
    import healthtwin.scenarios.federation_runs as runs

    seen: list[bool] = []

    def fake_train(nodes: object, run_config: dict[str, Any], **options: Any) -> Any:
        seen.append(options["in_process"])
        rounds = int(run_config["num-rounds"])
        if options["in_process"]:
            for done in range(1, rounds + 1):
                options["on_round"](done, rounds)
        return runs.DemoTraining(rounds=[], round_lines=[], theta=[], seconds=0.0)

    monkeypatch.setattr(runs, "train_demo", fake_train)
    _json(["federation", "demo", "--sites", "2", "--rounds", "3", "--in-process"])
    _json(["federation", "demo", "--sites", "2", "--rounds", "3"])
    assert seen == [True, False]
    assert _counts(bars) == [(3, 3.0), (None, 0.0)]


def test_educate_debrief_counts_its_replays(tmp_path: Path, bars: list[ProgressTask]) -> None:
    script, session = tmp_path / "script.txt", tmp_path / "session.json"
    script.write_text("info history_nurse\ninfo capillary_glucose\nwait 20\n", encoding="utf-8")
    played = runner.invoke(app, ["educate", "play", "hypoglycaemia", "--script", str(script),
                                 "--out", str(session)])  # fmt: skip
    assert played.exit_code == 0, played.output
    document = _json(["educate", "grade", str(session), "--debrief", "--draws", "1"])
    [bar] = bars
    assert bar.total == bar.completed == len(document["debrief"]["variants"]) > 1


def test_population_plan_counts_vaccine_allocations(
    tmp_path: Path, bars: list[ProgressTask]
) -> None:
    scenario = Path(__file__).resolve().parents[1] / "data" / "population" / "two_wave.yaml"
    document = _json(["population", "plan", "--scenario", str(scenario), "--out",
                      str(tmp_path), "--resource", "vaccine_doses", "--total", "1500"])  # fmt: skip
    [bar] = bars
    # The run without vaccine, then at least every rule's candidate.
    assert bar.total == bar.completed >= 1 + len(document["candidates"])
