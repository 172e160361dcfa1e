"""Hub-format forecast tables, and an end-to-end calibrate-forecast-score run on a small SIR."""

from __future__ import annotations

import builtins
import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from healthtwin.assimilation.abc_smc import (
    IndependentPrior,
    UniformPrior,
    abc_smc,
    posterior_predictive,
)
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
)
from healthtwin.population.forecast_hub import (
    HUB_COLUMNS,
    HUB_QUANTILES,
    hub_table,
    quantile_forecasts,
    quantiles_from_samples,
    read_hub_table,
    validate_hub_table,
    write_hub_table,
)
from healthtwin.population.scoring import score_hub_table

REFERENCE = dt.date(2024, 10, 5)


def _table(output_types: tuple[str, ...] = ("quantile",)) -> pd.DataFrame:
    draws = np.random.default_rng(0).gamma(4.0, 25.0, size=(50, 2, 3))
    return hub_table(
        draws,
        reference_date=REFERENCE,
        target="wk inc flu hosp",
        locations=["US", "06", "48"],
        horizons=[1, 2],
        output_types=output_types,
    )


def test_hub_quantile_levels() -> None:
    levels = np.asarray(HUB_QUANTILES)
    assert levels.size == 23
    assert (np.diff(levels) > 0).all()
    np.testing.assert_allclose(levels + levels[::-1], 1.0, atol=1e-15)
    assert set(HUB_QUANTILES[:3]) == {0.01, 0.025, 0.05}
    np.testing.assert_allclose(levels[2:-2], np.arange(1, 20) * 0.05, atol=1e-15)


def test_quantiles_from_samples_are_type_7() -> None:
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    # R: quantile(c(3,1,4,1,5,9,2,6), c(0.1, 0.25, 0.9), type = 7) gives 1, 1.75, 6.9.
    assert quantiles_from_samples(x, [0.1, 0.25, 0.9]).tolist() == pytest.approx(
        [1.0, 1.75, 6.9], abs=1e-12
    )
    many = np.random.default_rng(1).normal(size=(100, 4, 2))
    out = quantiles_from_samples(many)
    assert out.shape == (4, 2, 23)
    np.testing.assert_array_equal(out[3, 1], np.quantile(many[:, 3, 1], HUB_QUANTILES))


def test_hub_table_layout() -> None:
    table = _table(("quantile", "sample"))
    assert tuple(table.columns) == HUB_COLUMNS
    quantile_rows = table[table["output_type"] == "quantile"]
    sample_rows = table[table["output_type"] == "sample"]
    assert len(quantile_rows) == 23 * 2 * 3
    assert len(sample_rows) == 50 * 2 * 3
    assert set(table["horizon"]) == {1, 2}
    ends = table.groupby("horizon")["target_end_date"].unique()
    assert ends[1][0] == pd.Timestamp("2024-10-12")
    assert ends[2][0] == pd.Timestamp("2024-10-19")
    assert (table["reference_date"] == pd.Timestamp(REFERENCE)).all()
    assert sorted(set(sample_rows["output_type_id"])) == list(range(50))
    validate_hub_table(table)


def test_daily_horizons_and_free_target_names() -> None:
    table = hub_table(
        np.ones((5, 3, 1)),
        reference_date="2024-01-01",
        target="icu occupancy",
        locations=["north"],
        days_per_horizon=1,
    )
    assert sorted(set(table["target_end_date"].dt.day)) == [1, 2, 3]
    assert set(table["target"]) == {"icu occupancy"}


def test_csv_round_trip_keeps_everything(tmp_path: Path) -> None:
    table = _table(("quantile", "sample"))
    back = read_hub_table(write_hub_table(table, tmp_path / "forecast.csv"))
    assert tuple(back.columns) == HUB_COLUMNS
    assert back["location"].tolist() == table["location"].tolist()
    assert "06" in set(back["location"])
    assert back["value"].tolist() == table["value"].tolist()
    assert back["output_type_id"].tolist() == table["output_type_id"].tolist()
    pd.testing.assert_series_equal(back["target_end_date"], table["target_end_date"])


def test_parquet_needs_pyarrow(tmp_path: Path) -> None:
    table = _table()
    if importlib.util.find_spec("pyarrow") is None:
        with pytest.raises(MissingDependencyError, match="pyarrow"):
            write_hub_table(table, tmp_path / "forecast.parquet")
        return
    back = read_hub_table(write_hub_table(table, tmp_path / "forecast.parquet"))
    assert back["value"].tolist() == table["value"].tolist()


def test_missing_pandas_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(MissingDependencyError, match="pip install pandas"):
        hub_table(np.ones((3, 1, 1)), reference_date=REFERENCE, target="x", locations=["a"])


def test_unknown_suffix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"\.csv or \.parquet"):
        write_hub_table(_table(), tmp_path / "forecast.xlsx")


def _broken(edit: str) -> pd.DataFrame:
    table = _table(("quantile", "sample"))
    quantiles = table.index[table["output_type"] == "quantile"]
    samples = table.index[table["output_type"] == "sample"]
    if edit == "decreasing":
        table.loc[quantiles[5], "value"] = 1e9
    elif edit == "missing level":
        table = table.drop(index=quantiles[0])
    elif edit == "nan":
        table.loc[quantiles[3], "value"] = np.nan
    elif edit == "output type":
        table.loc[quantiles[0], "output_type"] = "mean"
    elif edit == "sample id":
        table.loc[samples[0], "output_type_id"] = 1.5
    elif edit == "repeated sample":
        table.loc[samples[1], "output_type_id"] = 0
    elif edit == "level range":
        table.loc[quantiles[0], "output_type_id"] = 1.5
    elif edit == "column":
        table = table.drop(columns="horizon")
    return table


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ("decreasing", "quantiles decrease in task .*location=US"),
        ("missing level", r"lacks quantile levels \[0.01\]"),
        ("nan", "NaN or infinite at row 3"),
        ("output type", r"unknown output_type values \['mean'\]"),
        ("sample id", "non-negative integer"),
        ("repeated sample", "sample 0 repeats"),
        ("level range", r"\[0, 1\]"),
        ("column", "lacks columns"),
    ],
)
def test_validation_names_the_problem(edit: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        validate_hub_table(_broken(edit))


def test_required_levels_can_be_relaxed() -> None:
    table = _broken("missing level")
    validate_hub_table(table, required_levels=None)
    with pytest.raises(InvalidInputError, match="different quantile levels"):
        quantile_forecasts(table)


def test_reading_bad_files_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("reference_date,target,value\n2024-10-05,inc case,1\n")
    with pytest.raises(InvalidInputError, match="missing hub columns"):
        read_hub_table(path)
    good = write_hub_table(_table(), tmp_path / "good.csv")
    text = good.read_text().splitlines()
    bad_date = tmp_path / "date.csv"
    bad_date.write_text("\n".join([text[0], text[1].replace("2024-10-05", "05/10/2024", 1)]))
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD"):
        read_hub_table(bad_date)
    bad_id = tmp_path / "id.csv"
    bad_id.write_text("\n".join([text[0], text[1].replace(",0.01,", ",low,")]))
    with pytest.raises(InvalidInputError, match="row 2: output_type_id 'low'"):
        read_hub_table(bad_id)


def test_hub_table_bad_arguments() -> None:
    with pytest.raises(ShapeError, match="n_samples, n_horizons, n_locations"):
        hub_table(np.ones((5, 3)), reference_date=REFERENCE, target="x", locations=["a"])
    with pytest.raises(ShapeError, match="2 locations"):
        hub_table(np.ones((5, 3, 1)), reference_date=REFERENCE, target="x", locations=["a", "b"])
    with pytest.raises(InvalidParameterError, match="unknown output types"):
        hub_table(
            np.ones((5, 1, 1)),
            reference_date=REFERENCE,
            target="x",
            locations=["a"],
            output_types=("mean",),
        )
    with pytest.raises(InvalidParameterError, match="ISO date"):
        hub_table(np.ones((5, 1, 1)), reference_date="5 Oct", target="x", locations=["a"])
    with pytest.raises(InvalidInputError, match="NaN"):
        hub_table(np.full((5, 1, 1), np.nan), reference_date=REFERENCE, target="x", locations=["a"])


# ---------------------------------------------------------------------------------------
# End to end: a stochastic SIR with under-ascertainment and a reporting delay.

POPULATION = 200_000
INITIAL_INFECTED = 50
RECOVERY_PER_DAY = 0.25
REPORTING_FRACTION = 0.3
DELAY_PROBS = np.array([0.4, 0.3, 0.2, 0.1])  # days 0..3 from infection report to record
CALIBRATION_WEEKS = 6
FORECAST_WEEKS = 4
BETA_TRUE_PER_DAY = 0.4


def _weekly_reported(beta_per_day: np.ndarray, weeks: int, rng: np.random.Generator) -> np.ndarray:
    """Chain-binomial SIR, one row per beta: reported cases per week, shape (n, weeks)."""
    n = beta_per_day.size
    days = 7 * weeks
    susceptible = np.full(n, POPULATION - INITIAL_INFECTED)
    infected = np.full(n, INITIAL_INFECTED)
    recorded = np.zeros((n, days + DELAY_PROBS.size))
    p_recover = 1 - np.exp(-RECOVERY_PER_DAY)
    for day in range(days):
        p_infect = 1 - np.exp(-beta_per_day * infected / POPULATION)
        new = rng.binomial(susceptible, p_infect)
        recovered = rng.binomial(infected, p_recover)
        susceptible = susceptible - new
        infected = infected + new - recovered
        remaining = rng.binomial(new, REPORTING_FRACTION)
        left = 1.0
        for delay, p in enumerate(DELAY_PROBS):
            part = rng.binomial(remaining, min(p / left, 1.0)) if left > 0 else remaining
            recorded[:, day + delay] += part
            remaining = remaining - part
            left -= p
    return recorded[:, :days].reshape(n, weeks, 7).sum(axis=2)


def _calibration_summaries(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.log1p(_weekly_reported(theta[:, 0], CALIBRATION_WEEKS, rng))


def _forecast_samples(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    weeks = CALIBRATION_WEEKS + FORECAST_WEEKS
    return _weekly_reported(theta[:, 0], weeks, rng)[:, CALIBRATION_WEEKS:]


def test_calibrate_forecast_and_score_a_small_epidemic() -> None:
    n_places, n_samples = 6, 400
    rng = np.random.default_rng(2024)
    truth_weeks = _weekly_reported(
        np.full(n_places, BETA_TRUE_PER_DAY), CALIBRATION_WEEKS + FORECAST_WEEKS, rng
    )
    prior = IndependentPrior((UniformPrior(0.1, 1.0),), names=("beta_per_day",))
    calibrated = np.empty((n_samples, FORECAST_WEEKS, n_places))
    uncalibrated = np.empty_like(calibrated)
    for place in range(n_places):
        observed = np.log1p(truth_weeks[place, :CALIBRATION_WEEKS])
        post = abc_smc(
            _calibration_summaries,
            observed,
            prior,
            n_particles=200,
            n_generations=6,
            seed=100 + place,
        )
        sd = float(post.sd()[0])
        assert abs(post.mean()[0] - BETA_TRUE_PER_DAY) < 4 * max(sd, 0.005)
        calibrated[:, :, place] = posterior_predictive(
            _forecast_samples, post, n_samples, seed=200 + place
        )
        uncalibrated[:, :, place] = _forecast_samples(prior.sample(n_samples, rng), rng)

    locations = [f"R{i}" for i in range(n_places)]
    reference = REFERENCE
    horizons = list(range(1, FORECAST_WEEKS + 1))
    tables = {
        name: hub_table(
            draws,
            reference_date=reference,
            target="wk inc case",
            locations=locations,
            horizons=horizons,
            output_types=("quantile", "sample"),
        )
        for name, draws in (("calibrated", calibrated), ("prior", uncalibrated))
    }
    validate_hub_table(tables["calibrated"])
    truth = pd.DataFrame(
        {
            "location": np.tile(locations, FORECAST_WEEKS),
            "target_end_date": np.repeat(
                [pd.Timestamp(reference + dt.timedelta(weeks=h)) for h in horizons], n_places
            ),
            "value": truth_weeks[:, CALIBRATION_WEEKS:].T.reshape(-1),
        }
    )
    by_horizon = score_hub_table(tables["calibrated"], truth, by=("horizon",))
    assert by_horizon["horizon"].tolist() == horizons
    assert (by_horizon["n_forecasts"] == n_places).all()
    overall = score_hub_table(tables["calibrated"], truth, by=())
    prior_overall = score_hub_table(tables["prior"], truth, by=())
    # Calibration must pay (measured: 368 against 4,363 for the prior predictive).
    assert overall["wis"].iloc[0] < 0.2 * prior_overall["wis"].iloc[0]
    # 90 % intervals: 24 held-out weeks; 1 % lower binomial bound for a calibrated forecast.
    n_points = n_places * FORECAST_WEEKS
    floor = stats.binom.ppf(0.01, n_points, 0.9) / n_points
    assert overall["coverage_90"].iloc[0] >= floor
