"""``healthtwin population simulate`` and ``plan`` on a small scenario file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "population" / "two_wave.yaml"


def test_simulate_writes_quantiles_by_region_and_nation(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert (
        main(["population", "simulate", "--scenario", str(SCENARIO), "--out", str(tmp_path)]) == 0
    )
    rows = list(csv.DictReader((tmp_path / "daily.csv").read_text().splitlines()))
    header = list(rows[0])
    assert header[:6] == ["variant", "day", "date", "region", "quantity", "mean"]
    assert header[6:] == ["q0.025", "q0.05", "q0.25", "q0.5", "q0.75", "q0.95", "q0.975"]
    # 2 variants x 60 days x (4 regions + national) x 7 quantities.
    assert len(rows) == 2 * 60 * 5 * 7
    assert rows[0]["date"] == "2026-01-05"
    icu = [r for r in rows if r["quantity"] == "icu_occupancy" and r["region"] == "national"]
    for r in icu:
        qs = [float(r[k]) for k in header[6:]]
        assert qs == sorted(qs)
    # The national row is the sum of the regions' replicate values, so its mean is the sum
    # of the regional means.
    day = [r for r in rows if r["variant"] == "no-action" and r["day"] == "59"
           and r["quantity"] == "incidence"]  # fmt: skip
    regional = sum(float(r["mean"]) for r in day if r["region"] != "national")
    national = next(float(r["mean"]) for r in day if r["region"] == "national")
    assert national == pytest.approx(regional, rel=1e-5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["lockdown"]["deaths_median"] < summary["no-action"]["deaths_median"]
    assert 0 <= summary["no-action"]["icu_stress"]["probability_any_breach"] <= 1
    assert (tmp_path / "national.png").stat().st_size > 10_000
    # The report a person opens: the fan charts inline and the medians of both variants.
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert "lockdown" in page
    assert f"{summary['lockdown']['deaths_median']:.4g}" in page


def test_plan_allocates_the_national_stock_and_beats_pro_rata(tmp_path: Path) -> None:
    args = ["population", "plan", "--scenario", str(SCENARIO), "--out", str(tmp_path),
            "--resource", "icu_beds", "--total", "30"]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader((tmp_path / "allocation.csv").read_text().splitlines()))
    assert sum(int(r["optimized"]) for r in rows) == 30
    assert sum(int(r["pro_rata"]) for r in rows) == 30
    plan = json.loads((tmp_path / "plan.json").read_text())
    unmet = plan["expected_unmet_people_days"]
    assert unmet["optimized"] <= unmet["pro_rata"]
    assert plan["paths"] == 8
    assert set(plan["variants"]) == {"no-action", "lockdown"}
    assert np.isfinite(plan["variants"]["lockdown"]["optimized"]["overflow_deaths_mean"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("days: 60", "days: 0"),
        ("{r0: 2.4,", "{r0: 2.4, incubation: 3,"),
        ("initial_infected: {region_1: 40}", "initial_infected: {atlantis: 40}"),
        ("settings: {community: 0.5, work: 0.5}", "settings: {pub: 0.5}"),
    ],
)
def test_bad_scenarios_exit_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.read_text().replace(change, message, 1))
    code = main(["population", "simulate", "--scenario", str(bad), "--out", str(tmp_path / "o"),
                 "--no-plot"])  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err
    expected = {"days: 0": "days", "incubation": "incubation", "atlantis": "atlantis",
                "pub": "pub"}  # fmt: skip
    key = next(k for k in expected if k in message)
    assert expected[key] in err
    assert "Traceback" not in err


def test_chronic_projects_prevalence_and_the_programme_effect(tmp_path: Path) -> None:
    args = ["population", "chronic", "--out", str(tmp_path), "--people", "3000", "--years", "5",
            "--replicates", "3", "--uptake", "0.8"]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader((tmp_path / "prevalence.csv").read_text().splitlines()))
    assert {r["arm"] for r in rows} == {"baseline", "programme"}
    assert len(rows) == 2 * 5
    assert all(0 < float(r["prevalence_mean"]) < 0.5 for r in rows)
    effect = json.loads((tmp_path / "programme.json").read_text())["effect_q05_q50_q95"]
    assert effect["cases_averted"][1] > 0


def test_simulate_writes_weekly_hub_forecasts(tmp_path: Path) -> None:
    import pandas as pd

    from healthtwin.population.forecast_hub import HUB_QUANTILES, validate_hub_table

    args = ["population", "simulate", "--scenario", str(SCENARIO), "--out", str(tmp_path),
            "--no-plot"]  # fmt: skip
    assert main(args) == 0
    hub = pd.read_csv(tmp_path / "hub.csv", dtype={"location": str, "output_type_id": str})
    assert set(hub["scenario_id"]) == {"no-action", "lockdown"}
    assert set(hub["target"]) == {"wk inc case", "wk inc hosp", "wk inc death", "icu occupancy"}
    assert hub["reference_date"].iloc[0] == "2026-01-04"
    first = hub[hub["horizon"] == 1]["target_end_date"].unique().tolist()
    assert first == ["2026-01-11"]  # the last day of the first simulated week
    for _, part in hub.groupby("scenario_id"):
        table = part.drop(columns="scenario_id").reset_index(drop=True)
        for col in ("reference_date", "target_end_date"):
            table[col] = pd.to_datetime(table[col])
        quantile = table["output_type"] == "quantile"
        table["output_type_id"] = table["output_type_id"].astype(float)
        validate_hub_table(table)
        assert sorted(table.loc[quantile, "output_type_id"].unique()) == sorted(HUB_QUANTILES)


def test_plan_shares_vaccine_doses_by_simulation(tmp_path: Path) -> None:
    args = ["population", "plan", "--scenario", str(SCENARIO), "--out", str(tmp_path),
            "--resource", "vaccine_doses", "--total", "1500"]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader((tmp_path / "allocation.csv").read_text().splitlines()))
    assert sum(float(r["optimized_share"]) for r in rows) == pytest.approx(1.0)
    assert sum(float(r["pro_rata_share"]) for r in rows) == pytest.approx(1.0)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert set(plan["candidates"]) >= {"population", "older_population", "projected_deaths"}
    # The chosen allocation is the best candidate simulated with the same seeds.
    assert plan["optimized"] == min(c["mean"] for c in plan["candidates"].values())
    assert plan["optimized"] <= plan["pro_rata"]


def test_plan_needs_the_ratios_of_staff_and_ventilators(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["population", "plan", "--scenario", str(SCENARIO), "--out", str(tmp_path),
            "--resource", "ventilators", "--total", "10"]  # fmt: skip
    assert main(args) == 2
    assert "ventilated_share_of_icu" in capsys.readouterr().err
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        SCENARIO.read_text().replace(
            "  icu_beds: 20\n",
            "  icu_beds: 20\n  ward_patients_per_nurse: 6\n  icu_patients_per_nurse: 1\n",
        )
    )
    args = ["population", "plan", "--scenario", str(scenario), "--out", str(tmp_path / "n"),
            "--resource", "nurses", "--total", "40"]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader((tmp_path / "n" / "allocation.csv").read_text().splitlines()))
    assert sum(int(r["optimized"]) for r in rows) == 40
