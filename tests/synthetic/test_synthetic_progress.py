"""Cohort generation and imputation report their work, and the reports change nothing."""

from __future__ import annotations

import numpy as np

from healthtwin.synthetic.cohort import COHORT_STAGES, generate_cohort
from healthtwin.synthetic.cohort_spec import CohortSpec
from healthtwin.synthetic.imputation import multiple_imputation


def test_cohort_stages_are_counted_and_the_cohort_is_the_same() -> None:
    spec = CohortSpec.model_validate({"name": "demo", "inclusion": {"diabetes": False},
                                      "targets": {"female_fraction": 0.5}})  # fmt: skip
    reports: list[tuple[int, int]] = []
    counted = generate_cohort(spec, 40, seed=2, on_progress=lambda d, t: reports.append((d, t)))
    plain = generate_cohort(spec, 40, seed=2)
    assert reports == [(k, COHORT_STAGES) for k in range(1, COHORT_STAGES + 1)]
    assert counted.columns.keys() == plain.columns.keys()
    for name in counted.columns:
        np.testing.assert_array_equal(counted.columns[name], plain.columns[name])


def test_imputation_counts_copies_and_draws_the_same_ones() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(60, 3))
    table[::5, 1] = np.nan
    copies: list[int] = []
    counted = multiple_imputation(table, m=3, rng=np.random.default_rng(1), on_copy=copies.append)
    plain = multiple_imputation(table, m=3, rng=np.random.default_rng(1))
    assert copies == [1, 2, 3]
    np.testing.assert_array_equal(counted.completed, plain.completed)
