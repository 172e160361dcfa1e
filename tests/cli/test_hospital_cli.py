"""``healthtwin hospital simulate``: tables and an HTML report, and the textbook M/M/c."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from healthtwin.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "hospital" / "example_hospital.yaml"


def test_simulate_writes_tables_and_a_report(tmp_path: Path) -> None:
    args = ["hospital", "simulate", "--config", str(EXAMPLE), "--days", "10",
            "--replications", "3", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader((tmp_path / "summary.csv").read_text().splitlines()))
    metrics = {r["metric"]: r for r in rows}
    assert float(metrics["ed_4h_breach"]["low"]) <= float(metrics["ed_4h_breach"]["mean"])
    assert {"occupancy.icu", "wait_hours.acute_ward", "throughput"} <= set(metrics)
    reps = list(csv.DictReader((tmp_path / "replications.csv").read_text().splitlines()))
    assert len(reps) == 3
    report = (tmp_path / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 2
    assert "occupancy" in report


def test_mmc_prints_the_mean_wait_with_erlang_c(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hospital", "simulate", "--mmc", "9,1,10", "--hours", "20000",
                 "--replications", "5"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("mean_wait_hours"))
    assert "Erlang C 0.66873" in line
    assert "95% CI [" in line


def test_mmc_writes_to_out_and_refuses_options_it_would_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    command = ["hospital", "simulate", "--mmc", "9,1,10", "--hours", "2000", "--replicates", "2"]
    assert main([*command, "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "mmc.json").read_text())
    assert written["mmc"]["servers"] == 10
    capsys.readouterr()
    assert main([*command, "--twins", "--days", "5"]) == 2
    err = capsys.readouterr().err
    assert "drop --twins, --days" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mmc", "9,1"], "arrival_rate,service_rate,servers"),
        (["--mmc", "11,1,10"], "unstable"),
        ([], "--config"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hospital", "simulate", *args]) == 2
    assert message in capsys.readouterr().err


def test_plan_prints_and_writes_the_cheapest_plan(tmp_path: Path) -> None:
    import json

    import yaml

    def unit(kind: str, beds: int, mean_los: float, **extra: object) -> dict[str, object]:
        los = {"dist": "exponential", "mean": mean_los}
        return {"kind": kind, "beds": beds, "los_hours": los, "cost_per_bed_day": 100.0, **extra}

    config = {
        "units": {"ed": unit("ed", 10, 1.0), "ward": unit("ward", 40, 48.0)},
        "arrivals": [{"unit": "ed", "rate_per_hour": [2.0] * 12 + [4.0] * 12}],
        "pathways": {"ed": {"ward": 0.3, "discharge": 0.7}, "ward": {"discharge": 1.0}},
    }
    path = tmp_path / "hospital.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "plan"
    code = main(
        ["hospital", "plan", "--config", str(path), "--target", "ed_4h_breach<0.05",
         "--days", "10", "--warmup-days", "2", "--replications", "6", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["found"] is True
    assert plan["metrics"]["ed_4h_breach"]["high"] < 0.05
    assert main(["hospital", "plan", "--config", str(path), "--target", "ed_4h_breach<<1"]) == 2


def test_plan_on_the_example_hospital_widens_or_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    short = ["--days", "7", "--replications", "4", "--max-replications", "8", "--seed", "1"]
    out = tmp_path / "plan"
    args = ["hospital", "plan", "--config", str(EXAMPLE), "--target", "ed_4h_breach<0.25"]
    assert main([*args, *short, "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["found"] is True
    assert plan["metrics"]["ed_4h_breach"]["high"] < 0.25
    assert "plan: beds ed=" in capsys.readouterr().out
    # About 22 % of the example's ED stays last over 4 h by themselves: beds cannot help.
    args[-1] = "ed_4h_breach<0.05"
    assert main([*args, *short, "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["found"] is False
    assert "will not meet" in plan["reason"]


def test_twin_patients_give_an_early_warning_evaluation(tmp_path: Path) -> None:
    import json

    config = tmp_path / "small.yaml"
    config.write_text(
        "units:\n"
        "  ed: {kind: ed, beds: 10, los_hours: {dist: exponential, mean: 2.0}}\n"
        "  ward: {kind: ward, beds: 40, los_hours: {dist: lognormal, mean: 72.0, cv: 0.8}}\n"
        "arrivals:\n  - {unit: ed, rate_per_hour: [0.4]}\n"
        "pathways:\n  ed: {ward: 0.6, discharge: 0.4}\n  ward: {discharge: 1.0}\n"
    )
    out = tmp_path / "run"
    args = ["hospital", "simulate", "--config", str(config), "--days", "20"]
    assert main([*args, "--replications", "2", "--seed", "1", "--twins", "--out", str(out)]) == 0
    found = json.loads((out / "early_warning.json").read_text())
    assert found["deteriorations"] > 0
    assert 0.0 <= found["sensitivity_95_low"] <= found["sensitivity"] <= 1.0
    assert found["lead_time_median_hours"] > 0.0
    assert found["false_alerts_per_100_patient_days"] >= 0.0
