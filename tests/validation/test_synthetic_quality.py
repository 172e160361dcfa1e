"""Synthetic tables against theory and on real clinical data (whas500, diabetes).

- The Gaussian copula reproduces a known correlation matrix of multivariate normal data
  within sampling error (Fisher z, 99.9 % per pair).
- MST with a huge epsilon reproduces the 2-way marginals closely; with a tiny epsilon it
  is measurably worse.
- The discriminator AUROC of real-vs-real halves is 0.5 within its null spread, and of
  real-vs-shuffled-columns is high.
- The membership attack's advantage on a "generator" that copies records is 1, and on the
  copula it is inside the null spread of the statistic.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.synthetic import (
    MST,
    GaussianCopula,
    discriminator_auc,
    membership_inference,
    train_synthetic_test_real,
)
from healthtwin.synthetic.private_pgm import import_mbi


def _whas500() -> pd.DataFrame:
    require("sksurv", "ml")
    from healthtwin.prognosis.datasets import load_dataset

    data = load_dataset("whas500")
    table = data.features.copy()
    table["died"] = np.where(data.survival_target()[1], "yes", "no")
    return table


def test_copula_reproduces_a_known_correlation_matrix() -> None:
    rng = np.random.default_rng(0)
    truth = np.array(
        [[1.0, 0.7, -0.3, 0.0], [0.7, 1.0, -0.1, 0.2], [-0.3, -0.1, 1.0, 0.5],
         [0.0, 0.2, 0.5, 1.0]]
    )  # fmt: skip
    n_real, n_synthetic = 3000, 30_000
    real = pd.DataFrame(rng.multivariate_normal(np.zeros(4), truth, n_real), columns=list("abcd"))
    synthetic = GaussianCopula().fit(real, rng=rng).sample(n_synthetic, rng)
    estimate = np.corrcoef(synthetic.to_numpy(), rowvar=False)
    tolerance = 3.3 * np.sqrt(1 / (n_real - 3) + 1 / (n_synthetic - 3))
    for i, j in itertools.combinations(range(4), 2):
        assert abs(np.arctanh(estimate[i, j]) - np.arctanh(truth[i, j])) < tolerance, (i, j)


def _chain(n: int, rng: np.random.Generator) -> pd.DataFrame:
    a = rng.integers(0, 4, n)
    b = np.where(rng.uniform(size=n) < 0.8, a, rng.integers(0, 4, n))
    c = np.where(rng.uniform(size=n) < 0.7, b, rng.integers(0, 4, n))
    return pd.DataFrame({"a": a, "b": b, "c": c, "d": rng.integers(0, 3, n)})


def _two_way_tvd(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    distances = []
    for x, y in itertools.combinations(real.columns, 2):
        p = real.groupby([x, y]).size() / len(real)
        q = synthetic.groupby([x, y]).size() / len(synthetic)
        distances.append(0.5 * p.sub(q, fill_value=0.0).abs().sum())
    return float(np.mean(distances))


def test_mst_reproduces_two_way_marginals_at_huge_epsilon_not_at_tiny() -> None:
    require("jax", "synth")
    import_mbi()
    rng = np.random.default_rng(1)
    real = _chain(3000, rng)
    tvd = {}
    for epsilon in (1e4, 0.05):
        fitted = MST(epsilon=epsilon, iters=300).fit(real, rng=np.random.default_rng(2))
        tvd[epsilon] = _two_way_tvd(real, fitted.sample(20_000, np.random.default_rng(3)))
    # Sampling alone: 16 cells from 3,000 and 20,000 rows give a TVD of about 0.03.
    assert tvd[1e4] < 0.04
    assert tvd[0.05] > tvd[1e4] + 0.05


def test_discriminator_is_at_chance_on_real_halves_and_high_on_shuffled_columns() -> None:
    require("sklearn", "ml")
    from healthtwin.prognosis.datasets import load_dataset

    data = load_dataset("diabetes").features
    rng = np.random.default_rng(4)
    order = rng.permutation(len(data))
    halves = data.iloc[order[: len(data) // 2]], data.iloc[order[len(data) // 2 :]]
    null = discriminator_auc(*halves, rng=rng)
    # Null AUROC of 221 vs 221 rows: sd sqrt((n1 + n2 + 1) / (12 n1 n2)) = 0.027; 99 %: 0.07.
    assert abs(null - 0.5) < 0.07 + 0.03
    shuffled = data.apply(lambda column: rng.permutation(column.to_numpy()))
    shuffled["sex"] = pd.Categorical(shuffled["sex"], categories=data["sex"].cat.categories)
    assert discriminator_auc(data, shuffled, rng=rng) > 0.75


@pytest.fixture(scope="module")
def whas_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = _whas500()
    order = np.random.default_rng(5).permutation(len(table))
    return table.iloc[order[:250]].reset_index(drop=True), table.iloc[order[250:]].reset_index(
        drop=True
    )


def test_membership_advantage_is_high_for_copies_and_null_for_the_copula(
    whas_split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, holdout = whas_split
    rng = np.random.default_rng(6)
    copies = membership_inference(train, train, holdout, rng=rng)
    assert copies.advantage == 1.0
    synthetic = GaussianCopula().fit(train, rng=rng).sample(250, rng)
    attack = membership_inference(synthetic, train, holdout, rng=rng)
    # max(TPR - FPR) of 250 vs 250 with no signal is a two-sample KS statistic: 99 % 0.146.
    assert attack.advantage < 0.146


def test_copula_is_useful_for_predicting_death_in_whas500(
    whas_split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, holdout = whas_split
    rng = np.random.default_rng(7)
    synthetic = GaussianCopula().fit(train, rng=rng).sample(250, rng)
    utility = train_synthetic_test_real(train, synthetic, holdout, "died", rng=rng)
    assert utility.trtr > 0.7
    assert utility.tstr > 0.65
