"""The DP mechanisms against theory: noise scale, stated accuracy, budget arithmetic.

OpenDP draws its noise from its own cryptographically secure generator, which cannot be
seeded (on purpose), so these checks are statistical. Every interval below is a binomial
(or normal) interval at level ``1 - 1e-4 / N_CHECKS``: the family of checks in this file
holds with 99.99 % probability (Bonferroni), about one false failure in 10,000 runs.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats
from tests.conftest import require

from healthtwin.errors import ConsentError
from healthtwin.governance.dp import dp_histogram, dp_mean, dp_quantile, dp_sum
from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
)

require("opendp.prelude", "privacy")

N_CHECKS = 12
LEVEL = 1 - 1e-4 / N_CHECKS
ALPHA = 0.1


def _binomial_ok(exceed: int, n: int, p: float) -> bool:
    low, high = stats.binom.interval(LEVEL, n, p)
    return bool(low <= exceed <= high)


def _discrete_pmf(kind: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    support = np.arange(-int(60 * scale) - 60, int(60 * scale) + 61)
    log_p = -np.abs(support) / scale if kind == "laplace" else -(support**2) / (2 * scale**2)
    p = np.exp(log_p - log_p.max())
    return support, p / p.sum()


@pytest.mark.parametrize(
    ("privacy", "kind"), [({"epsilon": 0.5}, "laplace"), ({"rho": 0.08}, "gaussian")]
)
def test_discrete_noise_of_counts_matches_its_stated_accuracy(
    privacy: dict[str, float], kind: str
) -> None:
    categories = [f"c{i}" for i in range(200)]
    truth = np.arange(200) % 3 + 1
    values = [c for c, n in zip(categories, truth, strict=True) for _ in range(n)]
    noise = []
    for _ in range(10):
        release = dp_histogram(values, categories=categories, alpha=ALPHA, **privacy)
        assert isinstance(release.value, tuple)
        noise.extend(np.array(release.value[:-1]) - truth)
    noise_arr = np.array(noise)
    scale = 2.0 if kind == "laplace" else 1 / math.sqrt(2 * 0.08)
    assert release.scale == pytest.approx(scale, rel=1e-12)
    support, pmf = _discrete_pmf(kind, release.scale)
    tail = float(pmf[np.abs(support) > release.accuracy].sum())
    assert tail <= ALPHA
    exceed = int((np.abs(noise_arr) > release.accuracy).sum())
    assert _binomial_ok(exceed, noise_arr.size, tail), (exceed, noise_arr.size, tail)
    mean_abs = float((np.abs(support) * pmf).sum())
    sd_abs = math.sqrt(float((support**2 * pmf).sum()) - mean_abs**2)
    z = stats.norm.ppf(1 - (1 - LEVEL) / 2)
    assert abs(np.abs(noise_arr).mean() - mean_abs) < z * sd_abs / math.sqrt(noise_arr.size)


@pytest.mark.parametrize(
    ("privacy", "kind"), [({"epsilon": 1.0}, "laplace"), ({"rho": 0.5}, "gaussian")]
)
def test_continuous_noise_of_sums_matches_its_stated_accuracy(
    privacy: dict[str, float], kind: str
) -> None:
    data = [float(i % 10) for i in range(100)]
    truth = sum(data)
    runs = [dp_sum(data, bounds=(0.0, 10.0), alpha=ALPHA, **privacy) for _ in range(250)]
    noise = np.array([r.value for r in runs]) - truth
    scale = runs[0].scale
    if kind == "laplace":
        assert scale == pytest.approx(10.0, rel=1e-6)
        assert runs[0].accuracy == pytest.approx(scale * math.log(1 / ALPHA))
        statistic, expected, spread = np.abs(noise).mean(), scale, scale
    else:
        assert scale == pytest.approx(10.0 / math.sqrt(2 * 0.5), rel=1e-6)
        assert runs[0].accuracy == pytest.approx(stats.norm.ppf(1 - ALPHA / 2) * scale)
        statistic, expected = np.abs(noise).mean(), scale * math.sqrt(2 / math.pi)
        spread = scale * math.sqrt(1 - 2 / math.pi)
    exceed = int((np.abs(noise) > runs[0].accuracy).sum())
    assert _binomial_ok(exceed, noise.size, ALPHA), exceed
    z = stats.norm.ppf(1 - (1 - LEVEL) / 2)
    assert abs(statistic - expected) < z * spread / math.sqrt(noise.size)


def test_mean_noise_scale_is_range_over_size_over_epsilon() -> None:
    data = [float(i % 50) for i in range(50)]
    runs = [
        dp_mean(data, bounds=(0.0, 50.0), size=50, epsilon=0.5, alpha=ALPHA) for _ in range(250)
    ]
    assert runs[0].scale == pytest.approx(50.0 / 50 / 0.5, rel=1e-6)
    noise = np.array([r.value for r in runs]) - np.mean(data)
    exceed = int((np.abs(noise) > runs[0].accuracy).sum())
    assert _binomial_ok(exceed, noise.size, ALPHA), exceed


def test_quantile_error_stays_within_its_stated_bound() -> None:
    data = np.arange(100.0)
    candidates = [float(c) for c in range(0, 101, 5)]
    q = 0.25
    lt = np.array([(data < c).sum() for c in candidates])
    gt = np.array([(data > c).sum() for c in candidates])
    score = np.abs((1 - q) * lt - q * gt)
    runs = [
        dp_quantile(list(data), candidates=candidates, quantile=q, epsilon=0.2, alpha=ALPHA)
        for _ in range(250)
    ]
    index = {c: i for i, c in enumerate(candidates)}
    excess = np.array([score[index[r.value]] - score.min() for r in runs])
    assert runs[0].accuracy == pytest.approx(runs[0].scale * math.log(len(candidates) / ALPHA))
    exceed = int((excess > runs[0].accuracy).sum())
    assert exceed <= stats.binom.ppf(LEVEL, excess.size, ALPHA)
    # The mechanism must concentrate near the true quantile, not merely satisfy the bound.
    assert np.median(excess) <= 2 * runs[0].scale


def test_budget_accounting_adds_up_exactly() -> None:
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"p": PrivacyBudget(1.0)},
        dataset_budgets={"d": PrivacyBudget(1.0)},
    )
    account = BudgetAccount(ledger, "p", "d", "validation")
    epsilons = [0.1, 0.2, 0.05, 0.15, 0.3, 0.1, 0.1]
    for epsilon in epsilons:
        dp_histogram(["a", "b"], categories=["a", "b"], epsilon=epsilon, account=account)
    spends = ledger.spends()
    assert sum(s.epsilon for s in spends) == Decimal("1.0") == ledger.spent(project="p").epsilon
    assert [float(s.epsilon) for s in spends] == epsilons
    with pytest.raises(ConsentError):
        dp_histogram(["a"], categories=["a"], epsilon=1e-9, account=account)
    assert len(ledger.spends()) == len(epsilons)
