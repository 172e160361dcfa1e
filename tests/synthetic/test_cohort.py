"""Virtual cohorts: YAML spec, plausibility, matching, validation report and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from tests.conftest import require
from typer.testing import CliRunner

from healthtwin.cli.synth_cohort import register
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.synthetic.cohort import VirtualCohort, entropy_balance, generate_cohort, validate
from healthtwin.synthetic.cohort_spec import CohortSpec, load_cohort_spec
from healthtwin.synthetic.virtual_population import steady_state_ok

SPEC_YAML = """\
name: t1d-adults
inclusion: {age_years: [18, 75], sex: any, diabetes: true}
age_pyramid: {edges: [18, 40, 65, 75], weights: [0.4, 0.4, 0.2]}
targets:
  female_fraction: 0.45
  age_years: {mean: 42, sd: 14}
  bmi_kg_m2: {mean: 26.5, sd: 4.5}
  hba1c_percent: {mean: 8.0, sd: 1.0}
  prevalence: {hypertension: 0.25}
physiology: {basal_glucose_mg_dl: 120, cv: {Vmx: 0.3, kp3: 0.25, kabs: 0.3}}
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "cohort.yaml"
    path.write_text(SPEC_YAML)
    return path


@pytest.fixture(scope="module")
def cohort(spec_file: Path) -> VirtualCohort:
    return generate_cohort(load_cohort_spec(spec_file), 120, seed=3, oversample=3)


def test_matched_cohort_passes_its_validation_report(cohort: VirtualCohort) -> None:
    assert cohort.n == 120
    names = [c.target for c in cohort.report]
    assert names == [
        "female fraction",
        "hypertension fraction",
        "age_years mean",
        "age_years sd",
        "bmi_kg_m2 mean",
        "bmi_kg_m2 sd",
        "hba1c_percent mean",
        "hba1c_percent sd",
    ]
    assert all(c.passed for c in cohort.report), cohort.report_text()
    age = cohort.columns["age_years"]
    assert age.min() >= 18
    assert age.max() <= 75
    assert cohort.columns["diabetes"].all()
    assert all(t is not None for t in cohort.twins)
    assert "hba1c_percent mean" in cohort.report_text()


def test_every_member_twin_holds_a_steady_state(cohort: VirtualCohort) -> None:
    twins = [t for t in cohort.twins if t is not None]
    unique = list({t.name: t for t in twins}.values())
    assert steady_state_ok(unique).all()


def test_report_fails_a_cohort_that_misses_its_target() -> None:
    spec = CohortSpec.model_validate({"name": "x", "targets": {"female_fraction": 0.2}})
    cols = {"age_years": np.full(400, 50.0), "female": np.r_[np.ones(200), np.zeros(200)]}
    (check,) = validate(spec, cols)
    assert check.achieved == 0.5
    assert not check.passed
    assert check.statistic > 10


def test_entropy_balance_hits_the_targets_exactly() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(50.0, 15.0, 2000)
    female = (rng.random(2000) < 0.5).astype(float)
    features = np.column_stack([female, x, x**2])
    goals = np.array([0.3, 45.0, 10.0**2 + 45.0**2])
    w = entropy_balance(features, goals)
    assert w.sum() == pytest.approx(1.0)
    assert w @ features == pytest.approx(goals, rel=1e-4)
    with pytest.raises(InvalidParameterError, match="cannot be matched"):
        entropy_balance(features[:, :1], np.array([1.5]))


def test_unreachable_targets_and_bad_specs_are_refused(tmp_path: Path) -> None:
    spec = CohortSpec.model_validate(
        {
            "name": "old",
            "inclusion": {"age_years": [18, 40]},
            "targets": {"age_years": {"mean": 70, "sd": 5}},
        }
    )
    with pytest.raises(InvalidParameterError, match="cannot be matched"):
        generate_cohort(spec, 50, seed=0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntargets: {prevalence: {hypertension: 1.5}}\n")
    with pytest.raises(InvalidInputError, match="prevalence"):
        load_cohort_spec(bad)
    bad.write_text("name: x\ntargts: {}\n")
    with pytest.raises(InvalidInputError, match="targts"):
        load_cohort_spec(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_cohort_spec(bad)
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_cohort_spec(tmp_path / "missing.yaml")


def test_wide_priors_drop_implausible_twins() -> None:
    spec = CohortSpec.model_validate(
        {
            "name": "wide",
            "inclusion": {"diabetes": True},
            "physiology": {"cv": {"Vg": 0.6, "k1": 1.0, "k2": 1.0, "kp3": 1.0, "Vmx": 1.0}},
        }
    )
    cohort = generate_cohort(spec, 60, seed=0, oversample=4)
    assert cohort.implausible > 0
    unique = list({t.name: t for t in cohort.twins if t is not None}.values())
    assert steady_state_ok(unique).all()


def test_cli_cohort_and_impute(spec_file: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    out = tmp_path / "cohort.csv"
    result = runner.invoke(
        app, ["cohort", "--spec", str(spec_file), "--n", "40", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 41
    assert lines[0].startswith("age_years,female")
    assert "hba1c_percent mean" in (tmp_path / "cohort_validation.txt").read_text()
    data = tmp_path / "incomplete.csv"
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    rows = ["a,b"] + [f"{u:.4f},{'' if i % 5 == 0 else f'{2 * u:.4f}'}" for i, u in enumerate(x)]
    data.write_text("\n".join(rows) + "\n")
    completed = tmp_path / "completed.csv"
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(completed), "--m", "3"]
    )
    assert result.exit_code == 0, result.output
    filled = np.loadtxt(completed, delimiter=",", skiprows=1)
    assert filled.shape == (60, 2)
    assert np.isfinite(filled).all()
    flags = np.loadtxt(tmp_path / "completed_imputed.csv", delimiter=",", skiprows=1)
    assert flags[:, 1].sum() == 12
    assert flags[:, 0].sum() == 0
    variance = np.loadtxt(tmp_path / "completed_variance.csv", delimiter=",", skiprows=1)
    assert (variance[flags == 1] >= 0).all()
    assert (variance[flags == 0] == 0).all()
    bad = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(completed), "--method", "knn"]
    )
    assert isinstance(bad.exception, InvalidInputError)


def test_cli_cohort_writes_parquet(spec_file: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    require("pyarrow", "synth")
    app = typer.Typer()
    register(app)
    out = tmp_path / "cohort.parquet"
    result = CliRunner().invoke(
        app, ["cohort", "--spec", str(spec_file), "--n", "30", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 30
    assert "age_years" in table.columns


def test_cli_cohort_follows_a_countrys_pyramid(spec_file: Path, tmp_path: Path) -> None:
    require("starsim_data", "popdata")
    app = typer.Typer()
    register(app)
    ages = {}
    for country in ("Niger", "Japan"):
        out = tmp_path / f"{country}.csv"
        result = CliRunner().invoke(
            app,
            ["cohort", "--spec", str(spec_file), "--n", "60", "--country", country,
             "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        ages[country] = np.loadtxt(out, delimiter=",", skiprows=1, usecols=0).mean()
        validation = (tmp_path / f"{country}_validation.txt").read_text()
        assert "age_years mean" in validation
        # Held-out age centiles against the country's pyramid, not a normal curve.
        assert "age_years (vs pyramid) q50" in validation
    assert ages["Japan"] - ages["Niger"] > 8
