"""Interval score, WIS and its decomposition, coverage, PIT and hub-table scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.forecast_hub import HUB_QUANTILES, hub_table
from healthtwin.population.scoring import (
    central_interval_coverage,
    interval_score,
    pit_values,
    quantile_loss,
    score_hub_table,
    weighted_interval_score,
)

LEVELS = np.asarray(HUB_QUANTILES)


def _normal_quantiles(mean: np.ndarray, sd: float) -> np.ndarray:
    return np.asarray(stats.norm.ppf(LEVELS, loc=np.asarray(mean)[..., None], scale=sd))


def test_interval_score_inside_below_and_above() -> None:
    score = interval_score(2.0, 6.0, np.array([4.0, 1.0, 8.0]), 0.2)
    # width 4; below by 1 costs 2/0.2 * 1 = 10; above by 2 costs 20.
    assert score.tolist() == [4.0, 14.0, 24.0]


def test_quantile_loss_is_asymmetric_absolute_error() -> None:
    loss = quantile_loss([5.0, 5.0], [0.1, 0.9], 7.0)
    assert loss == pytest.approx([0.2, 1.8])
    assert quantile_loss([5.0], [0.5], 3.0)[0] == pytest.approx(1.0)


def test_wis_with_only_the_median_is_the_absolute_error() -> None:
    result = weighted_interval_score([[4.0], [10.0]], [0.5], [7.0, 7.0])
    assert result.wis.tolist() == [3.0, 3.0]
    assert result.underprediction.tolist() == [3.0, 0.0]
    assert result.overprediction.tolist() == [0.0, 3.0]


def test_decomposition_adds_up_and_has_the_right_sign() -> None:
    rng = np.random.default_rng(3)
    q = np.sort(rng.normal(size=(200, LEVELS.size)) * 3 + 10, axis=1)
    y = rng.normal(10, 4, size=200)
    parts = weighted_interval_score(q, LEVELS, y)
    assert parts.wis.shape == (200,)
    np.testing.assert_allclose(
        parts.dispersion + parts.overprediction + parts.underprediction, parts.wis, rtol=1e-14
    )
    above_all = y > q[:, -1]
    assert (parts.overprediction[above_all] == 0).all()
    assert (parts.underprediction[above_all] > 0).all()
    below_all = y < q[:, 0]
    assert (parts.underprediction[below_all] == 0).all()
    assert (parts.dispersion >= 0).all()


def test_a_point_forecast_on_the_truth_scores_zero() -> None:
    parts = weighted_interval_score(np.full((3, LEVELS.size), 5.0), LEVELS, 5.0)
    assert parts.wis.tolist() == [0.0, 0.0, 0.0]


def test_wis_broadcasts_over_leading_axes() -> None:
    q = np.sort(np.random.default_rng(0).normal(size=(4, 3, LEVELS.size)), axis=-1)
    y = np.zeros((4, 3))
    whole = weighted_interval_score(q, LEVELS, y).wis
    one = weighted_interval_score(q[2, 1], LEVELS, 0.0).wis
    assert whole.shape == (4, 3)
    assert whole[2, 1] == pytest.approx(float(one), rel=1e-15)


def test_wis_rewards_the_true_distribution() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(0.0, 1.0, size=4000)
    true = weighted_interval_score(_normal_quantiles(np.zeros(4000), 1.0), LEVELS, y).wis
    too_narrow = weighted_interval_score(_normal_quantiles(np.zeros(4000), 0.3), LEVELS, y).wis
    biased = weighted_interval_score(_normal_quantiles(np.ones(4000), 1.0), LEVELS, y).wis
    assert true.mean() < too_narrow.mean()
    assert true.mean() < biased.mean()


@pytest.mark.parametrize(
    ("levels", "match"),
    [
        ([0.25, 0.75], "median"),
        ([0.1, 0.5, 0.8], "symmetric"),
        ([0.0, 0.5, 1.0], r"\(0, 1\)"),
    ],
)
def test_wis_rejects_levels_it_cannot_pair(levels: list[float], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        weighted_interval_score(np.zeros(len(levels)), levels, 0.0)


def test_bad_shapes_and_values_are_rejected() -> None:
    with pytest.raises(ShapeError, match="n_levels"):
        weighted_interval_score(np.zeros((2, 3)), LEVELS, np.zeros(2))
    with pytest.raises(ShapeError, match="broadcast"):
        weighted_interval_score(np.zeros((2, 3)), [0.25, 0.5, 0.75], np.zeros(3))
    with pytest.raises(InvalidInputError, match="NaN"):
        weighted_interval_score([0.0, np.nan, 1.0], [0.25, 0.5, 0.75], 0.0)
    with pytest.raises(InvalidParameterError, match="alpha"):
        interval_score(0.0, 1.0, 0.5, 1.5)


def test_coverage_of_a_calibrated_forecaster_is_nominal() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    means = rng.normal(0, 5, size=n)
    y = means + rng.normal(size=n)
    cov = central_interval_coverage(_normal_quantiles(means, 1.0), LEVELS, y)
    assert cov.n_forecasts == n
    assert cov.nominal == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98])
    # 99 % binomial intervals around each nominal level.
    lower = stats.binom.ppf(0.005, n, cov.nominal) / n
    upper = stats.binom.ppf(0.995, n, cov.nominal) / n
    assert ((cov.coverage >= lower) & (cov.coverage <= upper)).all()


def test_coverage_detects_an_overconfident_forecaster() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(size=2000)
    cov = central_interval_coverage(_normal_quantiles(np.zeros(2000), 0.5), LEVELS, y)
    ninety = cov.coverage[np.isclose(cov.nominal, 0.9)][0]
    assert ninety < 0.7  # true coverage of a +-0.82 interval is 0.59


def test_pit_is_uniform_for_calibrated_samples() -> None:
    rng = np.random.default_rng(8)
    n, m = 2000, 200
    y = rng.poisson(20, size=n).astype(float)
    samples = rng.poisson(20, size=(n, m)).astype(float)
    pit = pit_values(samples, y, rng=rng)
    assert pit.shape == (n,)
    assert ((pit >= 0) & (pit <= 1)).all()
    # KS test at the 1 % level: the randomized PIT of a calibrated count forecast is uniform.
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    shifted = pit_values(samples + 5, y, rng=rng)
    assert stats.kstest(shifted, "uniform").pvalue < 1e-6


def test_pit_mid_point_and_shape_errors() -> None:
    assert pit_values([[0.0, 0.0, 0.0, 0.0]], [0.0]).tolist() == [0.5]
    assert pit_values([[1.0, 2.0]], [5.0]).tolist() == [1.0]
    with pytest.raises(ShapeError):
        pit_values(np.zeros((3, 4)), np.zeros(2))


def _table_and_truth() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    draws = rng.gamma(5.0, 10.0, size=(300, 3, 2))
    table = hub_table(draws, reference_date="2024-11-23", target="inc case", locations=["A", "B"])
    observed = rng.gamma(5.0, 10.0, size=(3, 2))
    dates = pd.to_datetime(["2024-11-23", "2024-11-30", "2024-12-07"])
    truth = pd.DataFrame(
        {
            "location": ["A", "B"] * 3,
            "target_end_date": np.repeat(dates, 2),
            "value": observed.reshape(-1),
        }
    )
    quantiles = np.quantile(draws, LEVELS, axis=0)  # (23, 3, 2)
    return table, truth, np.moveaxis(quantiles, 0, -1), observed


def test_score_hub_table_matches_direct_scores() -> None:
    table, truth, quantiles, observed = _table_and_truth()
    direct = weighted_interval_score(quantiles, LEVELS, observed)
    by_horizon = score_hub_table(table, truth, by=("horizon",))
    assert by_horizon["horizon"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(by_horizon["wis"], direct.wis.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(by_horizon["dispersion"], direct.dispersion.mean(axis=1))
    assert by_horizon["n_forecasts"].tolist() == [2.0, 2.0, 2.0]
    overall = score_hub_table(table, truth, by=())
    assert overall["wis"].iloc[0] == pytest.approx(direct.wis.mean(), rel=1e-12)
    inside90 = (quantiles[..., 2] <= observed) & (observed <= quantiles[..., 20])
    assert overall["coverage_90"].iloc[0] == pytest.approx(inside90.mean())
    assert {"coverage_50", "coverage_98", "ae_median"} <= set(overall.columns)


def test_score_hub_table_leaves_out_tasks_without_truth() -> None:
    table, truth, _, _ = _table_and_truth()
    scores = score_hub_table(table, truth.iloc[:2], by=("location",))
    assert scores["n_forecasts"].tolist() == [1.0, 1.0]


def test_score_hub_table_bad_truth_is_explained() -> None:
    table, truth, _, _ = _table_and_truth()
    with pytest.raises(InvalidInputError, match="lacks columns"):
        score_hub_table(table, truth.drop(columns="value"))
    with pytest.raises(InvalidInputError, match="more than one value"):
        score_hub_table(table, pd.concat([truth, truth.iloc[:1]]))
    shifted = truth.assign(location=[f"Z{i}" for i in range(len(truth))])
    with pytest.raises(InvalidInputError, match="no forecast task"):
        score_hub_table(table, shifted)
    with pytest.raises(InvalidParameterError, match="cannot group by"):
        score_hub_table(table, truth, by=("model",))
