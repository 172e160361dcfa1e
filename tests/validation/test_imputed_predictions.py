"""Predictions on imputed records carry the imputation's uncertainty (masked real data).

Data: the diabetes study of Efron et al. (2004) as shipped by scikit-learn (442 patients),
loaded through :func:`healthtwin.prognosis.datasets.load_dataset`. A linear model of
disease progression is fitted on 300 complete records; on the other 142, 20 % of the nine
numeric inputs are masked (MCAR), filled by multiple imputation (m = 20, Bayesian-ridge
chained equations), and the model's prediction is pooled over the copies
(:func:`healthtwin.synthetic.imputed_predictions.predict_over_imputations`). The reference
is the prediction the complete record gives.

Measured (3 masks): the pooled 90 % intervals covered 0.86, 0.94 and 0.89 of the
complete-record predictions of the records with gaps (mean 0.89), half-width about 22 on a
target whose SD is 77; a single imputation (the model on the mean of the copies) gives the
same point prediction but no interval: it covers none of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.synthetic.imputation import ImputationResult, multiple_imputation
from healthtwin.synthetic.imputed_predictions import predict_over_imputations

pytest.importorskip("sklearn")
from sklearn.linear_model import Ridge

from healthtwin.prognosis.datasets import load_dataset

LEVEL = 0.9


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    d = load_dataset("diabetes")
    f = d.features
    x = np.column_stack([f.drop(columns=["sex"]).to_numpy(float), f["sex"].astype(float)])
    return x, np.asarray(d.y, dtype=float)


def _masked_run(
    x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, object, ImputationResult]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    train, test = order[:300], order[300:]
    model = Ridge(alpha=1e-3).fit(x[train], y[train])
    masked = x.copy()
    mask = np.zeros(x.shape, dtype=bool)
    mask[test, :9] = rng.random((test.size, 9)) < 0.2
    masked[mask] = np.nan
    copies = multiple_imputation(masked, m=20, rng=rng)
    held = ImputationResult(copies.completed[:, test], copies.mask[test])
    return model.predict(x[test]), test, model, held


def test_pooled_intervals_cover_the_complete_record_prediction(data: tuple) -> None:
    x, y = data
    covered, single_covered, rows_seen = [], [], 0
    for seed in range(3):
        truth, _, model, held = _masked_run(x, y, seed)
        pooled = predict_over_imputations(model.predict, held, level=LEVEL)
        rows = pooled.imputed_inputs
        rows_seen += int(rows.sum())
        inside = (pooled.lower <= truth) & (truth <= pooled.upper)
        covered.append(inside[rows].mean())
        single = model.predict(held.mean)
        single_covered.append(np.isclose(single, truth)[rows].mean())
        # records without gaps: the model alone, no interval from imputation
        np.testing.assert_allclose(pooled.estimate[~rows], truth[~rows])
        assert (pooled.between_variance[~rows] == 0).all()
        assert (pooled.between_variance[rows] > 0).all()
    assert rows_seen > 300
    # 3 x ~125 records: nominal 0.90, binomial 99 % band about +-0.04, plus the
    # imputation model's own misfit
    assert 0.82 <= float(np.mean(covered)) <= 0.96
    assert max(single_covered) < 0.05


def test_the_model_variance_adds_to_the_imputation_variance() -> None:
    rng = np.random.default_rng(1)
    table = rng.normal(size=(200, 2))
    table[:40, 1] = np.nan
    copies = multiple_imputation(table, m=5, rng=rng)

    def with_variance(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return t[:, 1] * 3.0, np.full(t.shape[0], 0.25)

    pooled = predict_over_imputations(with_variance, copies)
    b = np.where(copies.mask[:, 1], (3.0 * copies.completed[:, :, 1]).var(axis=0, ddof=1), 0.0)
    np.testing.assert_allclose(pooled.between_variance, b)
    np.testing.assert_allclose(pooled.total_variance, 0.25 + (1 + 1 / 5) * b)
    assert (pooled.upper[40:] > pooled.lower[40:]).all()  # the model's own width
    share = pooled.share_from_imputation
    assert (share[40:] == 0).all()
    assert (share[:40] > 0).all()


def test_bad_model_output_is_refused() -> None:
    rng = np.random.default_rng(2)
    table = rng.normal(size=(20, 2))
    table[:3, 0] = np.nan
    copies = multiple_imputation(table, m=2, rng=rng)
    with pytest.raises(ShapeError, match="one value per record"):
        predict_over_imputations(lambda t: t[:5, 0], copies)
    with pytest.raises(InvalidInputError, match="not finite"):
        predict_over_imputations(lambda t: np.full(t.shape[0], np.nan), copies)
    with pytest.raises(InvalidInputError, match="negative variances"):
        predict_over_imputations(lambda t: (t[:, 0], -np.ones(t.shape[0])), copies)
