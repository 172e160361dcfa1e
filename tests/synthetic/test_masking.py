"""Masks and scores of :mod:`healthtwin.synthetic.masking` on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tests.conftest import require

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.synthetic.masking import (
    mar_probabilities,
    mask_mar,
    mask_mcar,
    masking_evaluation,
)


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    """300 rows of three correlated normal columns and one driver-like column."""
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(300, 1))
    return np.hstack([latent @ np.ones((1, 3)) + rng.normal(0, 0.5, (300, 3)), latent])


def test_mcar_hides_only_chosen_columns_at_the_rate() -> None:
    x = np.zeros((5000, 3))
    mask = mask_mcar(x, 0.2, np.random.default_rng(0), columns=[0, 2])
    assert not mask[:, 1].any()
    cells = 2 * x.shape[0]
    # 99 % binomial interval on the share hidden.
    assert abs(mask.sum() / cells - 0.2) < stats.norm.ppf(0.995) * np.sqrt(0.16 / cells)


def test_mar_probabilities_have_the_rate_as_mean_and_rise_with_the_drivers(
    table: np.ndarray,
) -> None:
    p = mar_probabilities(table, 0.2, drivers=[3], strength=1.5)
    assert p.mean() == pytest.approx(0.2, abs=1e-9)
    order = np.argsort(table[:, 3])
    assert np.all(np.diff(p[order]) >= 0)
    assert p[order[-1]] > 3 * p[order[0]]
    flat = mar_probabilities(table, 0.2, drivers=[3], strength=0.0)
    np.testing.assert_allclose(flat, 0.2)


def test_mar_probabilities_are_capped_at_one_and_still_reach_the_rate() -> None:
    x = np.linspace(-3, 3, 101)[:, None]
    p = mar_probabilities(x, 0.6, drivers=[0], strength=5.0)
    assert p.max() == 1.0
    assert p.mean() == pytest.approx(0.6, abs=1e-9)


def test_mar_never_hides_drivers_and_hides_more_where_drivers_are_high(
    table: np.ndarray,
) -> None:
    mask = mask_mar(table, 0.2, np.random.default_rng(1), drivers=[3], targets=[0, 1, 2])
    assert not mask[:, 3].any()
    high = table[:, 3] > np.median(table[:, 3])
    assert mask[high, :3].mean() > 2 * mask[~high, :3].mean()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda x, g: mask_mcar(x, 1.2, g), InvalidParameterError),
        (lambda x, g: mask_mcar(x, 0.2, g, columns=[7]), InvalidParameterError),
        (lambda x, g: mask_mar(x, 0.2, g, drivers=[0], targets=[0, 1]), InvalidParameterError),
        (lambda x, g: mask_mar(np.where(x > 2, np.nan, x), 0.2, g, [3], [0]), InvalidInputError),
        (lambda x, g: mask_mar(np.ones((5, 2)), 0.2, g, [0], [1]), InvalidInputError),
        (lambda x, g: masking_evaluation(x, methods=["knn"], rng=g), InvalidParameterError),
        (lambda x, g: masking_evaluation(x, mechanisms=["mar"], rng=g), InvalidParameterError),
        (lambda x, g: masking_evaluation(x, masks=0, rng=g), InvalidParameterError),
    ],
)
def test_bad_input_is_refused_with_the_error_tree(
    table: np.ndarray, call: object, error: type[Exception]
) -> None:
    assert callable(call)
    with pytest.raises(error):
        call(table, np.random.default_rng(0))


def test_mean_imputation_interval_is_the_normal_one_and_covers_normal_data(
    table: np.ndarray,
) -> None:
    rows = masking_evaluation(
        table, mechanisms=["mcar"], methods=["mean"], masks=4, rng=np.random.default_rng(2)
    )
    honest = [row for row in rows if row.method == "mean"]
    point = [row for row in rows if row.method == "mean-point"]
    assert len(honest) == len(point) == 4
    cells = sum(row.cells for row in honest)
    coverage = sum(row.coverage * row.cells for row in honest) / cells
    n_rows = sum(row.rows for row in honest)
    # Normal columns: the normal interval covers 90 % (99 % band, rows as clusters).
    assert abs(coverage - 0.9) < stats.norm.ppf(0.995) * np.sqrt(0.09 / n_rows)
    for row in honest:
        assert row.width_sd == pytest.approx(2 * stats.norm.ppf(0.95), rel=0.1)
        assert 0.8 < row.nrmse < 1.2
    assert all(row.coverage == 0.0 and row.width_sd == 0.0 for row in point)


def test_every_method_sees_the_same_mask_and_rows_do_not_depend_on_other_requests(
    table: np.ndarray,
) -> None:
    require("sklearn", "ml")
    both = masking_evaluation(
        table,
        methods=["chained", "mean"],
        masks=2,
        m=3,
        max_iter=2,
        drivers=[3],
        rng=np.random.default_rng(4),
    )
    alone = masking_evaluation(
        table,
        mechanisms=["mar"],
        methods=["chained"],
        masks=1,
        m=3,
        max_iter=2,
        drivers=[3],
        rng=np.random.default_rng(4),
    )
    assert [(r.mechanism, r.mask_index, r.method) for r in both[:3]] == [
        ("mcar", 0, "chained"),
        ("mcar", 0, "mean"),
        ("mcar", 0, "mean-point"),
    ]
    for mechanism, index in [("mcar", 0), ("mcar", 1), ("mar", 0), ("mar", 1)]:
        group = [r for r in both if (r.mechanism, r.mask_index) == (mechanism, index)]
        assert len({(r.cells, r.rows) for r in group}) == 1
    mar0 = next(r for r in both if (r.mechanism, r.mask_index, r.method) == ("mar", 0, "chained"))
    assert alone == [mar0]


def test_chained_equations_beat_the_mean_on_correlated_columns(table: np.ndarray) -> None:
    require("sklearn", "ml")
    rows = masking_evaluation(
        table,
        mechanisms=["mcar"],
        methods=["chained", "mean"],
        masks=1,
        m=5,
        max_iter=3,
        columns=[0, 1, 2],
        rng=np.random.default_rng(6),
    )
    chained, mean = rows[0], rows[1]
    # Each column is the shared latent plus N(0, 0.5^2): the others predict it to about
    # 0.45 of a column SD, mean imputation to 1.
    assert chained.nrmse < 0.6 * mean.nrmse
    assert chained.width_sd < 0.7 * mean.width_sd
    assert chained.coverage > 0.8
