"""The Gaussian copula: marginals, categorical frequencies, parametric families."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from healthtwin.errors import InvalidParameterError, UnknownModelError
from healthtwin.synthetic import GaussianCopula, column_distances


def test_empirical_marginals_are_kept() -> None:
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.exponential(2.0, 1000), "g": rng.choice(list("abc"), 1000,
                         p=[0.6, 0.3, 0.1])})  # fmt: skip
    synthetic = GaussianCopula().fit(real, rng=rng).sample(20_000, rng)
    ks, tvd = (d.value for d in column_distances(real, synthetic))
    # Two-sample KS 99 % critical value for n = 1000 vs 20,000: 1.63 * sqrt(1/1000 + 1/20000).
    assert ks < 1.63 * np.sqrt(1 / 1000 + 1 / 20_000)
    shares = synthetic["g"].astype(str).value_counts(normalize=True)
    observed = real["g"].value_counts(normalize=True)
    for level in "abc":
        assert abs(shares[level] - observed[level]) < 3.3 * np.sqrt(0.25 / 20_000)
    assert tvd < 0.02


def test_categorical_dependence_is_carried_through_the_scores() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    real = pd.DataFrame({"x": x, "high": np.where(x > 0.5, "yes", "no")})
    synthetic = GaussianCopula().fit(real, rng=rng).sample(5000, rng)
    high = synthetic["high"].astype(str) == "yes"
    gap = synthetic.loc[high, "x"].mean() - synthetic.loc[~high, "x"].mean()
    real_gap = x[x > 0.5].mean() - x[x <= 0.5].mean()
    # A jittered category is only rank-correlated with x, so the copula attenuates (measured
    # 0.93 of 1.65) but must keep the direction and most of the size.
    assert 0.4 * real_gap < gap < real_gap


@pytest.mark.parametrize(
    ("draw", "family"),
    [(lambda r: r.normal(5, 1, 3000), "norm"), (lambda r: r.lognormal(0, 1, 3000), "lognorm")],
)
def test_parametric_marginals_pick_the_generating_family(draw: object, family: str) -> None:
    rng = np.random.default_rng(2)
    real = pd.DataFrame({"x": draw(rng)})  # type: ignore[operator]
    fitted = GaussianCopula(marginals="parametric").fit(real, rng=rng)
    assert fitted.families[0][0] == family
    synthetic = fitted.sample(3000, rng)
    assert stats.ks_2samp(real["x"], synthetic["x"]).pvalue > 0.01


def test_constant_and_single_columns_do_not_break_the_correlation() -> None:
    rng = np.random.default_rng(3)
    real = pd.DataFrame({"c": np.ones(50), "x": rng.normal(size=50)})
    fitted = GaussianCopula().fit(real, rng=rng)
    assert np.all(np.linalg.eigvalsh(fitted.correlation) > 0)
    assert (fitted.sample(10, rng)["c"] == 1).all()
    single = GaussianCopula().fit(real[["x"]], rng=rng)
    assert single.correlation.shape == (1, 1)


def test_settings_are_validated() -> None:
    with pytest.raises(UnknownModelError, match="'kde'"):
        GaussianCopula(marginals="kde")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="n_quantiles"):
        GaussianCopula(n_quantiles=1)
    assert GaussianCopula().fit(pd.DataFrame({"x": [1.0, 2.0]}), rng=np.random.default_rng(0)
                                ).privacy()["mechanism"] == "none"  # fmt: skip
