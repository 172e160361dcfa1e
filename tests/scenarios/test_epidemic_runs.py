"""Epidemic projections and plans from a scenario file: validation first, common numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.chronic_runs import project_prevention_programme
from healthtwin.scenarios.epidemic_plans import (
    PLAN_RESOURCES,
    default_total,
    plan_resource,
    plan_vaccine,
)
from healthtwin.scenarios.epidemic_runs import (
    estimate_rt_file,
    prepare_population_scenario,
    run_variants,
    variant_names,
    write_projection,
)

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "population" / "two_wave.yaml"


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "short.yaml"
    path.write_text(SCENARIO.read_text().replace("days: 60", "days: 21", 1))
    return path


def test_preparing_overrides_replicates_and_refuses_bad_regions_before_any_run(
    short: Path, tmp_path: Path
) -> None:
    prepared = prepare_population_scenario(short, replicates=2)
    assert prepared.spec.replicates == 2
    assert prepared.inputs.geography.population.shape[0] == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(short.read_text().replace("region_1: 40", "atlantis: 40"))
    with pytest.raises(InvalidInputError, match="atlantis"):
        prepare_population_scenario(bad)


def test_variants_are_checked_and_run_on_common_random_numbers(short: Path) -> None:
    spec = prepare_population_scenario(short, replicates=2).spec
    assert variant_names(spec) == ["no-action", "lockdown"]
    assert variant_names(spec, ["lockdown"]) == ["lockdown"]
    with pytest.raises(InvalidInputError, match="unknown variant"):
        variant_names(spec, ["moon-base"])
    with pytest.raises(InvalidInputError, match="choose local or dask"):
        run_variants(spec, ["no-action"], scheduler="cloud")
    both = run_variants(spec, ["no-action", "lockdown"])
    alone = run_variants(spec, ["no-action"])
    np.testing.assert_array_equal(
        both["no-action"].national("incidence"), alone["no-action"].national("incidence")
    )


def test_the_projection_writes_quantiles_hub_and_the_medians(short: Path, tmp_path: Path) -> None:
    prepared = prepare_population_scenario(short, replicates=3)
    results = run_variants(prepared.spec, variant_names(prepared.spec))
    rows, summary = write_projection(prepared, results, tmp_path, plot=False)
    # 2 variants x 21 days x (4 regions + national) x 7 quantities.
    assert rows == 2 * 21 * 5 * 7
    assert len((tmp_path / "daily.csv").read_text().splitlines()) == rows + 1
    assert (tmp_path / "hub.csv").exists()
    assert not (tmp_path / "national.png").exists()
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    deaths = results["lockdown"].national("deaths").sum(axis=1)
    assert summary["lockdown"]["deaths_median"] == pytest.approx(float(np.median(deaths)))
    assert 0 <= summary["no-action"]["icu_stress"]["probability_any_breach"] <= 1


def test_the_plan_places_every_unit_and_beats_pro_rata(short: Path, tmp_path: Path) -> None:
    assert "vaccine_doses" in PLAN_RESOURCES
    prepared = prepare_population_scenario(short, replicates=2)
    assert default_total(prepared, "icu_beds") == 20
    with pytest.raises(InvalidInputError, match="give --total"):
        default_total(prepared, "ventilators")
    results = run_variants(prepared.spec, variant_names(prepared.spec))
    plan = plan_resource(prepared, results, tmp_path, resource="icu_beds", total=12)
    rows = list(csv.DictReader((tmp_path / "allocation.csv").read_text().splitlines()))
    assert sum(int(r["optimized"]) for r in rows) == 12
    assert sum(int(r["pro_rata"]) for r in rows) == 12
    unmet = plan["expected_unmet_people_days"]
    assert unmet["optimized"] <= unmet["pro_rata"] + 1e-9
    assert plan["paths"] == 4
    assert json.loads((tmp_path / "plan.json").read_text()) == plan


def test_the_vaccine_plan_shares_the_doses(short: Path, tmp_path: Path) -> None:
    prepared = prepare_population_scenario(short, replicates=2)
    plan = plan_vaccine(prepared, 1500, tmp_path)
    rows = list(csv.DictReader((tmp_path / "allocation.csv").read_text().splitlines()))
    assert sum(float(r["optimized_share"]) for r in rows) == pytest.approx(1.0, abs=1e-5)
    assert plan["optimized"] == min(c["mean"] for c in plan["candidates"].values())


def test_rt_file_writes_one_row_per_window(tmp_path: Path) -> None:
    counts = [10, 12, 15, 18, 22, 27, 33, 40, 48, 58, 70, 84, 100, 120, 145]
    (tmp_path / "cases.csv").write_text("I\n" + "\n".join(map(str, counts)) + "\n")
    windows = estimate_rt_file(tmp_path / "cases.csv", tmp_path / "rt.csv", si_mean=2.6, si_sd=1.5)
    rows = list(csv.DictReader((tmp_path / "rt.csv").read_text().splitlines()))
    assert len(rows) == windows > 0
    # Growing incidence: every window's median R is above 1.
    assert all(float(r["median_R"]) > 1 for r in rows)


def test_the_prevention_programme_averts_cases(tmp_path: Path) -> None:
    summary = project_prevention_programme(
        tmp_path, people=1500, years=4, replicates=3, uptake=0.8, seed=2
    )
    rows = list(csv.DictReader((tmp_path / "prevalence.csv").read_text().splitlines()))
    assert [r["year"] for r in rows[:4]] == ["2025", "2026", "2027", "2028"]
    assert {r["arm"] for r in rows} == {"baseline", "programme"}
    for r in rows:
        assert float(r["prevalence_q05"]) <= float(r["prevalence_mean"])
        assert float(r["prevalence_mean"]) <= float(r["prevalence_q95"])
    averted = summary["effect_q05_q50_q95"]["cases_averted"]
    assert averted[0] <= averted[1] <= averted[2]
    assert averted[1] > 0
