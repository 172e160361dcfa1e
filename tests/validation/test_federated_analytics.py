"""Federated analytics against the pooled computation: exact without DP, within bounds with DP.

Real clinical data shipped in packages, split into sites by a column: scikit-survival's
flchain (7,874 Olmsted County residents) by sample year (9 sites) and GBSG2 (686 breast
cancer patients) by tumour grade (3 sites) and, for the DP checks, by menopausal status
(2 sites, to keep the 100 repetitions of OpenDP releases within a few seconds). The pooled
Kaplan-Meier reference is lifelines' ``KaplanMeierFitter``, an independent implementation.

OpenDP noise cannot be seeded, so the DP checks count failures over 100 repetitions (each
OpenDP release takes a few milliseconds) and compare them with the upper end of the
binomial 99.9 % interval for the stated failure probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from healthtwin.federation.analytics import (
    AnalyticsSite,
    FederatedAnalytics,
    InProcessSites,
    SitePolicy,
    Where,
    histogram_quantiles,
)
from healthtwin.federation.analytics_site import site_tables_from_dataset
from healthtwin.governance.privacy_budget import MemoryLedgerStore, PrivacyBudget, PrivacyLedger

lifelines = pytest.importorskip("lifelines")

Table = dict[str, npt.NDArray[Any]]
AGE_EDGES = tuple(float(e) for e in range(50, 105, 5))
GRID_DAYS = tuple(365.0 * year for year in range(1, 8))
RUNS = 100


@pytest.fixture(scope="module")
def flchain() -> dict[str, Table]:
    return site_tables_from_dataset("flchain", by="sample.yr")


@pytest.fixture(scope="module")
def gbsg2() -> dict[str, Table]:
    return site_tables_from_dataset("gbsg2", by="tgrade")


@pytest.fixture(scope="module")
def gbsg2_by_menopause() -> dict[str, Table]:
    return site_tables_from_dataset("gbsg2", by="menostat")


def _pooled(tables: dict[str, Table]) -> Table:
    first = next(iter(tables.values()))
    return {k: np.concatenate([t[k] for t in tables.values()]) for k in first}


def _exact(tables: dict[str, Table]) -> FederatedAnalytics:
    policy = SitePolicy(min_cell=None)
    return FederatedAnalytics(
        InProcessSites([AnalyticsSite(n, t, policy) for n, t in tables.items()])
    )


def _private(tables: dict[str, Table], epsilon: float, alpha: float) -> FederatedAnalytics:
    sites = []
    for name, table in tables.items():
        budget = PrivacyBudget(1e6)
        ledger = PrivacyLedger(
            MemoryLedgerStore(),
            project_budgets={"federated-analytics": budget},
            dataset_budgets={name: budget},
        )
        policy = SitePolicy(min_cell=None, epsilon_per_query=epsilon)
        sites.append(AnalyticsSite(name, table, policy, ledger))
    return FederatedAnalytics(InProcessSites(sites), alpha=alpha)


def _allowed_failures(probability: float, runs: int = RUNS) -> int:
    """Upper end of the binomial 99.9 % interval for failures at the stated probability."""
    return int(stats.binom.ppf(0.9995, runs, probability))


def test_counts_per_site_and_pooled_equal_the_pooled_table(flchain: dict[str, Table]) -> None:
    result = _exact(flchain).count(Where("mgus", equals="yes"))
    for site, table in flchain.items():
        assert result.by_site[site] == np.sum(table["mgus"] == "yes")
    assert result.total == np.sum(_pooled(flchain)["mgus"] == "yes") == 115
    assert result.coverage.missing == ()
    assert result.total_error == 0.0


def test_mean_and_variance_equal_the_pooled_ones(flchain: dict[str, Table]) -> None:
    pooled = _pooled(flchain)
    for column in ("age", "kappa", "creatinine"):
        values = pooled[column][np.isfinite(pooled[column])]
        moments = _exact(flchain).moments(column)
        assert moments.n == values.size
        assert moments.mean == pytest.approx(values.mean(), rel=1e-12)
        assert moments.variance == pytest.approx(values.var(ddof=1), rel=1e-12)
    # A public shift keeps large offsets exact too.
    shifted = _exact(flchain).moments("age", shift=60.0)
    assert shifted.variance == pytest.approx(pooled["age"].var(ddof=1), rel=1e-12)


def test_histograms_equal_the_pooled_ones_cell_by_cell(flchain: dict[str, Table]) -> None:
    pooled = _pooled(flchain)
    histogram = _exact(flchain).histogram("age", edges=AGE_EDGES)
    inner, _ = np.histogram(pooled["age"], bins=np.asarray(AGE_EDGES))
    # numpy closes its last bin on the right; ours sends x == edges[-1] to the overflow.
    inner[-1] -= np.sum(pooled["age"] == AGE_EDGES[-1])
    expected = [np.sum(pooled["age"] < AGE_EDGES[0]), *inner, np.sum(pooled["age"] >= 100)]
    np.testing.assert_array_equal(histogram.counts, expected)
    sexes = _exact(flchain).histogram("sex", categories=["F", "M"])
    np.testing.assert_array_equal(
        sexes.counts, [np.sum(pooled["sex"] == "F"), np.sum(pooled["sex"] == "M"), 0]
    )


def test_quantiles_are_bracketed_by_the_bin_that_holds_the_pooled_quantile(
    flchain: dict[str, Table],
) -> None:
    pooled = _pooled(flchain)
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    quantiles = _exact(flchain).quantiles("age", edges=AGE_EDGES, levels=levels)
    truth = np.quantile(pooled["age"], levels, method="inverted_cdf")
    for quantile, value in zip(quantiles, truth, strict=True):
        assert quantile.lower <= value <= quantile.upper
        assert quantile.upper - quantile.lower == 5.0  # the stated error: one bin width
        assert quantile.lower <= quantile.value <= quantile.upper


def _lifelines_km(time: npt.NDArray[np.float64], event: npt.NDArray[np.bool_]) -> Any:
    return lifelines.KaplanMeierFitter().fit(time, event)


def test_kaplan_meier_and_greenwood_equal_lifelines_on_the_pooled_data(
    flchain: dict[str, Table],
) -> None:
    pooled = _pooled(flchain)
    result = _exact(flchain).survival()
    assert result.exact
    curve = result.pooled
    reference = _lifelines_km(pooled["time"], pooled["event"])
    at = curve.time
    survival = reference.survival_function_.iloc[:, 0].loc[at].to_numpy()
    greenwood = survival**2 * reference._cumulative_sq_.loc[at].to_numpy()
    interval = reference.confidence_interval_.loc[at].to_numpy()
    np.testing.assert_array_equal(at, np.unique(pooled["time"]))
    np.testing.assert_allclose(curve.survival, survival, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.greenwood_variance, greenwood, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.ci_lower, interval[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.ci_upper, interval[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        curve.at_risk, reference.event_table["at_risk"].loc[at].to_numpy()
    )


def test_survival_by_site_equals_lifelines_on_each_site(gbsg2: dict[str, Table]) -> None:
    result = _exact(gbsg2).survival()
    assert sorted(result.by_site) == ["I", "II", "III"]
    for site, table in gbsg2.items():
        curve = result.by_site[site]
        reference = _lifelines_km(table["time"], table["event"])
        survival = reference.survival_function_.iloc[:, 0].loc[curve.time].to_numpy()
        np.testing.assert_allclose(curve.survival, survival, rtol=0, atol=1e-12)


def _rounded_up(time: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    grid = np.asarray(GRID_DAYS)
    index = np.searchsorted(grid, time, side="left")
    return np.where(index < grid.size, grid[np.minimum(index, grid.size - 1)], grid[-1] + 1)


def _grid_truth(tables: dict[str, Table]) -> npt.NDArray[np.float64]:
    pooled = _pooled(tables)
    beyond = pooled["time"] > GRID_DAYS[-1]
    reference = _lifelines_km(_rounded_up(pooled["time"]), pooled["event"] & ~beyond)
    return np.asarray(reference.survival_function_.iloc[:, 0].loc[list(GRID_DAYS)].to_numpy())


def test_grid_curve_is_the_exact_curve_of_times_rounded_up_to_the_grid(
    gbsg2: dict[str, Table],
) -> None:
    result = _exact(gbsg2).survival(grid=GRID_DAYS)
    assert not result.exact
    np.testing.assert_allclose(result.pooled.survival, _grid_truth(gbsg2), rtol=0, atol=1e-12)


def test_dp_counts_and_means_stay_within_their_stated_bounds(
    gbsg2_by_menopause: dict[str, Table],
) -> None:
    pooled = _pooled(gbsg2_by_menopause)
    analytics = _private(gbsg2_by_menopause, epsilon=0.5, alpha=0.05)
    true_count = float(np.sum(pooled["horTh"] == "yes"))
    site_counts = {n: float(np.sum(t["horTh"] == "yes")) for n, t in gbsg2_by_menopause.items()}
    true_mean = float(pooled["age"].mean())
    count_failures = mean_failures = 0
    noise = []
    for _ in range(RUNS):
        count = analytics.count(Where("horTh", equals="yes"))
        count_failures += abs(count.total - true_count) > count.total_error
        noise += [float(count.by_site[n] or 0.0) - c for n, c in site_counts.items()]
        moments = analytics.moments("age", bounds=(20.0, 90.0))
        mean_failures += not moments.mean_lower <= true_mean <= moments.mean_upper
    assert count.coverage.confidence == pytest.approx(0.95)
    assert count_failures <= _allowed_failures(0.05)
    assert mean_failures <= _allowed_failures(0.05)
    # The noise is real: each site's count has the discrete Laplace variance
    # 2 e^(-1/b) / (1 - e^(-1/b))^2 at scale b = 1 / epsilon = 2. Over 200 draws the sample
    # variance's relative sd is about sqrt(2/199 + 3/200) = 0.16 (excess kurtosis 3), so
    # 0.45-1.55 is a 3.4-sd interval; scale 1 would give 0.26, scale 4 about 3.9.
    decay = np.exp(-0.5)
    expected = 2 * decay / (1 - decay) ** 2
    assert 0.45 < np.var(noise) / expected < 1.55


def test_dp_histogram_quantiles_and_survival_stay_within_their_bounds(
    gbsg2_by_menopause: dict[str, Table],
) -> None:
    pooled = _pooled(gbsg2_by_menopause)
    analytics = _private(gbsg2_by_menopause, epsilon=1.0, alpha=0.05)
    truth_median = float(np.quantile(pooled["age"], 0.5, method="inverted_cdf"))
    truth_curve = _grid_truth(gbsg2_by_menopause)
    histogram_failures = quantile_failures = survival_failures = 0
    true_cells, _ = np.histogram(pooled["age"], bins=np.asarray(AGE_EDGES))
    widths = []
    for _ in range(RUNS):
        histogram = analytics.histogram("age", edges=AGE_EDGES)
        error = np.abs(histogram.counts[1:-2] - true_cells[:-1])
        histogram_failures += bool(np.any(error > histogram.errors[1:-2]))
        (median,) = histogram_quantiles(histogram, [0.5])
        quantile_failures += not median.lower <= truth_median <= median.upper
        widths.append(median.upper - median.lower)
        curve = analytics.survival(grid=GRID_DAYS).pooled
        inside = (curve.dp_lower - 1e-12 <= truth_curve) & (truth_curve <= curve.dp_upper + 1e-12)
        survival_failures += not inside.all()
    for failures in (histogram_failures, quantile_failures, survival_failures):
        assert failures <= _allowed_failures(0.05)
    # The bounds are informative, not just valid: the median is pinned to a few bins.
    assert np.median(widths) <= 15.0
