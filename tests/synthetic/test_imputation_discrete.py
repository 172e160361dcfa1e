"""Discrete columns stay discrete through multiple imputation; pooled predictions widen."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from scipy import stats

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.imputation import discrete_columns, multiple_imputation
from healthtwin.synthetic.imputed_predictions import predict_over_imputations


def _table(n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    age = rng.normal(60, 10, n)
    sex = rng.integers(1, 3, n).astype(float)  # coded 1/2
    smoker = (rng.random(n) < 1 / (1 + np.exp(-(age - 60) / 5))).astype(float)
    sbp = 100 + 0.6 * age + 8 * smoker + rng.normal(0, 6, n)
    table = np.column_stack([age, sex, smoker, sbp])
    table[rng.random(n) < 0.2, 1] = np.nan
    table[rng.random(n) < 0.2, 2] = np.nan
    table[rng.random(n) < 0.2, 3] = np.nan
    return table


@pytest.mark.parametrize("method", ["bayes", "gbm"])
def test_binary_and_coded_columns_stay_on_their_levels(method: Literal["bayes", "gbm"]) -> None:
    table = _table()
    discrete = discrete_columns(table)
    assert discrete.tolist() == [False, True, True, False]
    result = multiple_imputation(
        table,
        m=4,
        method=method,
        rng=np.random.default_rng(1),
        discrete=discrete,
    )
    assert set(np.unique(result.completed[:, :, 1])) <= {1.0, 2.0}
    assert set(np.unique(result.completed[:, :, 2])) <= {0.0, 1.0}
    point = result.point
    assert set(np.unique(point[:, 1])) <= {1.0, 2.0}  # the mode, never a fraction
    assert set(np.unique(point[:, 2])) <= {0.0, 1.0}
    # The mean over copies is what the old table held: fractions for binary cells.
    assert not set(np.unique(result.mean[:, 2])) <= {0.0, 1.0}
    assert np.array_equal(point[:, 3], result.mean[:, 3])  # continuous: still the mean
    observed = ~np.isnan(table)
    assert np.array_equal(point[observed], table[observed])


def test_the_mode_takes_the_majority_of_the_copies() -> None:
    table = np.array([[0.0, 1.0], [1.0, np.nan], [0.0, 2.0], [1.0, 3.0]])
    result = multiple_imputation(
        table, m=5, rng=np.random.default_rng(3), discrete=np.array([True, False])
    )
    completed = result.completed.copy()
    completed[:, 1, 1] = [5.0, 7.0, 5.0, 9.0, 7.0]  # tie 5 / 7: the earliest copy's wins
    tied = type(result)(completed, result.mask, np.array([False, True]))
    assert tied.point[1, 1] == 5.0


def test_discrete_must_name_one_flag_per_column() -> None:
    with pytest.raises(InvalidInputError, match="one per column"):
        multiple_imputation(_table(), m=2, rng=np.random.default_rng(0), discrete=[True])


def test_pooled_intervals_are_wider_than_one_imputations() -> None:
    table = _table()
    result = multiple_imputation(
        table, m=10, rng=np.random.default_rng(2), discrete=discrete_columns(table)
    )

    def model(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 0.02 * x[:, 3] + 0.3 * x[:, 2], np.full(x.shape[0], 0.01)

    pooled = predict_over_imputations(model, result)
    _, single_variance = model(result.completed[0])
    single_half = stats.norm.ppf(0.975) * np.sqrt(
        single_variance
    )  # one copy: the model's interval alone
    # Records whose predictors (smoker, sbp) were imputed: the gaps widen the interval.
    imputed_inputs = np.isnan(table[:, [2, 3]]).any(axis=1)
    width = pooled.upper - pooled.lower
    disagree = np.ptp(pooled.per_copy, axis=0) > 1e-9  # the copies differ there
    assert imputed_inputs.sum() > 50
    assert disagree[imputed_inputs].mean() > 0.5
    assert np.all(width[disagree] > 2 * single_half[disagree])
    assert np.median(width[disagree] / (2 * single_half[disagree])) > 1.5
    assert np.all(width[imputed_inputs] >= 2 * single_half[imputed_inputs] - 1e-12)
    # Others (complete, or only sex imputed) keep the model's interval.
    assert np.allclose(width[~imputed_inputs], 2 * single_half[~imputed_inputs])
