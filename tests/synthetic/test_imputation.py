"""Multiple imputation, Rubin's rules and twin-based CGM gap filling."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.cgm import cgm_params
from healthtwin.synthetic.cgm_gaps import fill_cgm_gaps
from healthtwin.synthetic.imputation import multiple_imputation, pool_rubin
from healthtwin.synthetic.virtual_population import VirtualPopulation


def _table(rng: np.random.Generator, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    full = np.column_stack([x, 3.0 * x + rng.normal(0.0, 0.5, n), rng.normal(size=n)])
    holed = full.copy()
    holed[rng.random(n) < 0.2, 1] = np.nan
    return full, holed


@pytest.mark.parametrize("method", ["bayes", "gbm"])
def test_imputations_keep_observed_cells_and_vary_only_where_missing(method: str) -> None:
    full, holed = _table(np.random.default_rng(0))
    result = multiple_imputation(holed, m=4, method=method, rng=np.random.default_rng(1))  # type: ignore[arg-type]
    mask = np.isnan(holed)
    assert result.completed.shape == (4, *holed.shape)
    assert (result.mask == mask).all()
    assert np.array_equal(
        result.completed[:, ~mask], np.broadcast_to(holed[~mask], (4, (~mask).sum()))
    )
    assert np.all(result.variance[~mask] == 0.0)
    assert np.mean(result.variance[mask] > 0) > 0.9
    # The imputed column is 3x plus noise of SD 0.5 (column SD ~3): the copies' mean is
    # far closer to the truth than the column mean is.
    rmse = np.sqrt(np.mean((result.mean[mask] - full[mask]) ** 2))
    assert rmse < 0.4 * np.nanstd(holed[:, 1])
    lo, hi = result.interval(0.95)
    assert np.all(lo <= hi)


def test_gbm_draws_are_observed_donor_values() -> None:
    _, holed = _table(np.random.default_rng(2), n=200)
    result = multiple_imputation(holed, m=3, method="gbm", rng=np.random.default_rng(3))
    observed = set(holed[~np.isnan(holed[:, 1]), 1].tolist())
    assert set(result.completed[:, result.mask[:, 1], 1].ravel().tolist()) <= observed


def test_gbm_imputes_a_sparsely_missing_column_from_its_model_in_every_copy() -> None:
    # One missing cell: in about a third of the bootstrap resamples it is left out; every
    # copy must still predict it from the other column, not fall back to the mean.
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    table = np.column_stack([x, 10.0 * x + rng.normal(scale=0.1, size=300)])
    table[0] = [2.5, np.nan]
    truth = 25.0
    result = multiple_imputation(table, m=12, method="gbm", rng=np.random.default_rng(6))
    draws = result.completed[:, 0, 1]
    assert np.all(np.abs(draws - truth) < np.abs(np.nanmean(table[:, 1]) - truth) / 2)


def test_same_generator_seed_gives_the_same_imputations() -> None:
    _, holed = _table(np.random.default_rng(4), n=100)
    a = multiple_imputation(holed, m=2, rng=np.random.default_rng(9))
    b = multiple_imputation(holed, m=2, rng=np.random.default_rng(9))
    assert np.array_equal(a.completed, b.completed)


def test_rubin_rules_by_hand() -> None:
    q = np.array([[10.0, 1.0], [12.0, 1.0], [11.0, 1.0]])
    u = np.array([[1.0, 0.5], [1.5, 0.5], [2.0, 0.5]])
    pooled = pool_rubin(q, u)
    w, b = 1.5, 1.0
    t = w + (1 + 1 / 3) * b
    assert pooled.estimate.tolist() == [11.0, 1.0]
    assert pooled.total_variance[0] == pytest.approx(t)
    lam = (1 + 1 / 3) * b / t
    assert pooled.df[0] == pytest.approx(2 / lam**2)
    assert np.isinf(pooled.df[1])  # no between-imputation variance: normal interval
    assert pooled.upper[1] - 1.0 == pytest.approx(1.959964 * np.sqrt(0.5), rel=1e-5)
    small = pool_rubin(q, u, n_complete=10)
    assert small.df[0] < pooled.df[0]


def test_bad_tables_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="no observed value"):
        multiple_imputation(np.array([[1.0, np.nan], [2.0, np.nan]]), rng=rng)
    with pytest.raises(InvalidParameterError, match="m >= 2"):
        multiple_imputation(np.array([[1.0, np.nan], [2.0, 3.0]]), m=1, rng=rng)
    with pytest.raises(InvalidParameterError, match="method"):
        multiple_imputation(np.array([[1.0, np.nan], [2.0, 3.0]]), method="knn", rng=rng)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="m >= 2"):
        pool_rubin([[1.0]], [[1.0]])


def test_cgm_gap_fill_flags_and_bands() -> None:
    rng = np.random.default_rng(0)
    pop = VirtualPopulation()
    sensor = cgm_params("guardian-rt")
    t = np.arange(0.0, 240.0, 5.0)
    readings = np.vstack([np.full(t.size, 130.0), np.full(t.size, 130.0)])
    readings += rng.normal(0.0, 5.0, readings.shape)
    readings[:, 20:30] = np.nan
    members = pop.sample(np.full(16, 75.0), rng)
    inputs = Inputs(
        rates={"insulin_u_per_min": Rate.constant([m.basal_u_per_min for m in members[::8]], 0.0)},
        events={"meal_g": Events(np.array([1000.0]), np.array([0.0]))},
    )
    fill = fill_cgm_gaps(t, readings, inputs, members, sensor=sensor, rng=rng)
    assert (fill.imputed == np.isnan(readings)).all()
    assert np.array_equal(fill.filled_mg_dl[~fill.imputed], readings[~fill.imputed])
    assert np.all(np.isfinite(fill.filled_mg_dl))
    gap = fill.imputed
    assert np.all(fill.lower_mg_dl[gap] <= fill.filled_mg_dl[gap])
    assert np.all(fill.filled_mg_dl[gap] <= fill.upper_mg_dl[gap])
    assert np.all(fill.variance_mg_dl2[gap] > 0)
    # A steady patient's gap is filled near the readings around it.
    assert np.abs(fill.filled_mg_dl[gap] - 130.0).max() < 40.0
    with pytest.raises(InvalidInputError, match="whole number"):
        fill_cgm_gaps(t, readings, inputs, members[:15], sensor=sensor, rng=rng)
