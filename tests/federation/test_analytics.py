"""Federated analytics in process: queries, suppression, budgets, refusals as data."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.federation.analytics import (
    AnalyticsSite,
    CountQuery,
    FederatedAnalytics,
    HistogramQuery,
    InProcessSites,
    MomentsQuery,
    SiteAnswer,
    SitePolicy,
    SurvivalQuery,
    Where,
    combine_histograms,
    histogram_quantiles,
)
from healthtwin.federation.analytics_bounds import CONTINUOUS, DISCRETE, Noise
from healthtwin.federation.analytics_queries import query_from_json, query_to_json
from healthtwin.governance.privacy_budget import MemoryLedgerStore, PrivacyBudget, PrivacyLedger

QUERIES = [
    CountQuery(Where("sex", equals="F")),
    MomentsQuery("age", bounds=(0.0, 100.0), where=Where("age", at_least=18.0)),
    HistogramQuery("age", edges=(0.0, 50.0, 100.0)),
    HistogramQuery("sex", categories=("F", "M")),
    SurvivalQuery(grid=(30.0, 60.0)),
    SurvivalQuery(),
]


def _site(name: str, n_f: int, n_m: int, **policy: object) -> AnalyticsSite:
    rng = np.random.default_rng(len(name) + n_f)
    n = n_f + n_m
    columns = {
        "sex": np.array(["F"] * n_f + ["M"] * n_m),
        "age": rng.uniform(20.0, 90.0, n),
        "time": rng.uniform(1.0, 100.0, n).round(),
        "event": rng.random(n) < 0.6,
    }
    return AnalyticsSite(name, columns, SitePolicy(**policy))  # type: ignore[arg-type]


def _ledger(name: str, budget: float) -> PrivacyLedger:
    return PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"federated-analytics": PrivacyBudget(100.0)},
        dataset_budgets={name: PrivacyBudget(budget)},
    )


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.kind)
def test_queries_round_trip_through_json(query: CountQuery) -> None:
    assert query_from_json(query_to_json(query)) == query


def test_bad_queries_are_refused_with_the_reason() -> None:
    with pytest.raises(UnknownModelError, match="known"):
        query_from_json('{"kind": "regression"}')
    with pytest.raises(InvalidInputError, match="not a query"):
        query_from_json("[1, 2")
    with pytest.raises(InvalidParameterError, match="equals= or a range"):
        Where("age")
    with pytest.raises(InvalidParameterError, match="strictly increasing"):
        HistogramQuery("age", edges=(1.0, 1.0))
    with pytest.raises(InvalidParameterError, match="exactly one of"):
        HistogramQuery("age")


def test_small_counts_and_their_complement_are_hidden() -> None:
    small = _site("small", 4, 40).answer(CountQuery(Where("sex", equals="F")))
    # 4 is hidden; so is 40, else total - 40 would give it away.
    assert small.values == {"count": (None,), "other": (None,), "total": (44.0,)}
    large = _site("large", 25, 30).answer(CountQuery(Where("sex", equals="F")))
    assert large.values["count"] == (25.0,)


def test_pooled_count_uses_only_published_sites_and_names_the_others() -> None:
    sites = [_site("a", 25, 30), _site("b", 4, 40), _site("c", 12, 12)]
    result = FederatedAnalytics(InProcessSites(sites)).count(Where("sex", equals="F"))
    assert result.by_site == {"a": 25.0, "b": None, "c": 12.0}
    # The hidden count never enters the total, so no difference recovers it.
    assert result.total == 37.0
    assert result.coverage.answered == ("a", "c")
    assert result.coverage.missing == (("b", "suppressed: fewer than k"),)
    assert "2 of 3 sites answered" in result.coverage.note()


def test_a_small_histogram_cell_is_protected_by_a_complementary_one() -> None:
    site = AnalyticsSite("s", {"age": np.array([10.0] * 3 + [60.0] * 30 + [70.0] * 50)})
    query = HistogramQuery("age", edges=(0.0, 50.0, 65.0, 100.0))
    cells = site.answer(query).values["counts"]
    hidden = [i for i, c in enumerate(cells) if c is None]
    # Two cells hidden; the total and published cells leave each anywhere in [1, 32].
    assert hidden == [1, 2]
    total = site.answer(query).values["total"][0]
    assert total == 83.0
    assert total - sum(c for c in cells if c is not None) - (len(hidden) - 1) >= 10
    pooled = combine_histograms([site.answer(query)], query)
    assert pooled.coverage.missing == (("s", "suppressed cells"),)
    assert pooled.by_site["s"] == cells


def test_moments_of_fewer_than_k_patients_are_withheld() -> None:
    sites = [_site("a", 30, 30), _site("tiny", 3, 2)]
    result = FederatedAnalytics(InProcessSites(sites)).moments("age")
    assert result.n == 60.0
    assert result.coverage.missing == (("tiny", "suppressed: fewer than k patients"),)


def test_refusals_are_answers_with_reasons() -> None:
    site = _site("a", 30, 30)
    assert "column 'weight'" in str(site.answer(MomentsQuery("weight")).refusal)
    exact = site.answer(SurvivalQuery())
    assert exact.values == {}
    assert "exact event times" in str(exact.refusal)
    with pytest.raises(InvalidParameterError, match="no privacy ledger"):
        AnalyticsSite("b", {"x": np.ones(3)}, SitePolicy(epsilon_per_query=1.0))
    with pytest.raises(InvalidParameterError, match="1-D of one length"):
        AnalyticsSite("b", {"x": np.ones(3), "y": np.ones(4)})


def test_a_site_over_budget_refuses_and_the_answer_goes_on_without_it() -> None:
    ledger = _ledger("dp", 1.0)
    dp_site = AnalyticsSite(
        "dp", _site("dp", 30, 30).columns, SitePolicy(epsilon_per_query=0.4), ledger
    )
    analytics = FederatedAnalytics(InProcessSites([_site("a", 30, 30), dp_site]))
    for _ in range(2):
        result = analytics.count(Where("sex", equals="F"))
        assert result.coverage.answered == ("a", "dp")
        assert result.coverage.epsilon["dp"] == pytest.approx(0.4)
        assert result.coverage.confidence == pytest.approx(0.95)
    refused = analytics.count(Where("sex", equals="F"))
    assert refused.coverage.answered == ("a",)
    ((site, reason),) = refused.coverage.missing
    assert site == "dp"
    assert "privacy budget of dataset 'dp' exceeded" in reason
    assert refused.total == 30.0
    # The refused query was not charged.
    assert ledger.spent(dataset="dp").epsilon == Decimal("0.8")
    assert len(ledger.spends()) == 2


def test_moments_budget_is_checked_whole_before_any_release() -> None:
    ledger = _ledger("dp", 0.5)
    site = AnalyticsSite(
        "dp", _site("dp", 30, 30).columns, SitePolicy(epsilon_per_query=0.6), ledger
    )
    answer = site.answer(MomentsQuery("age", bounds=(0.0, 100.0)))
    assert "exceeded" in str(answer.refusal)
    assert ledger.spends() == ()
    unbounded = AnalyticsSite(
        "dp", site.columns, SitePolicy(epsilon_per_query=0.1), _ledger("dp", 1.0)
    ).answer(MomentsQuery("age"))
    assert "public bounds" in str(unbounded.refusal)


def test_dp_moments_spend_the_query_epsilon_in_three_releases() -> None:
    ledger = _ledger("dp", 1.0)
    site = AnalyticsSite(
        "dp", _site("dp", 30, 30).columns, SitePolicy(epsilon_per_query=0.6), ledger
    )
    answer = site.answer(MomentsQuery("age", bounds=(0.0, 100.0)))
    assert answer.refusal is None
    assert [s.mechanism for s in ledger.spends()] == ["discrete laplace", "laplace", "laplace"]
    assert float(ledger.spent(dataset="dp").epsilon) == pytest.approx(0.6)
    assert answer.noise["sum"][0] == CONTINUOUS
    assert answer.noise["n"] == (DISCRETE, pytest.approx(5.0))


def test_survival_table_is_cut_at_the_first_suppressed_cell() -> None:
    time = np.array([5.0] * 20 + [15.0] * 12 + [25.0] * 3 + [35.0] * 40)
    event = np.array([True] * 20 + [False] * 12 + [True] * 3 + [False] * 40)
    site = AnalyticsSite("s", {"time": time, "event": event})
    result = FederatedAnalytics(InProcessSites([site])).survival(grid=(10.0, 20.0, 30.0, 40.0))
    curve = result.by_site["s"]
    # The 3 events by day 30 are hidden: the curve stops at day 20.
    assert curve.time.tolist() == [10.0, 20.0]
    assert curve.survival.tolist() == pytest.approx([1 - 20 / 75, 1 - 20 / 75])
    assert result.pooled.time.tolist() == [10.0, 20.0]


def test_exact_survival_merges_sites_with_different_times() -> None:
    a = AnalyticsSite(
        "a", {"time": np.array([1.0, 3.0, 3.0]), "event": np.array([1, 1, 0])}, SitePolicy(None)
    )
    b = AnalyticsSite(
        "b", {"time": np.array([2.0, 4.0]), "event": np.array([1, 0])}, SitePolicy(None)
    )
    result = FederatedAnalytics(InProcessSites([a, b])).survival()
    assert result.pooled.time.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert result.pooled.at_risk.tolist() == [5.0, 4.0, 3.0, 1.0]
    assert result.pooled.survival.tolist() == pytest.approx([0.8, 0.6, 0.4, 0.4])


def test_quantile_brackets_reach_infinity_outside_the_edges() -> None:
    query = HistogramQuery("x", edges=(0.0, 1.0))
    histogram = combine_histograms([SiteAnswer("a", {"counts": (5.0, 1.0, 4.0)})], query)
    low, high = histogram_quantiles(histogram, [0.2, 0.9])
    assert (low.lower, low.upper) == (-math.inf, 0.0)
    assert (high.lower, high.upper) == (1.0, math.inf)


def test_noise_bounds_are_exact_for_one_term_and_grow_slower_than_the_sum() -> None:
    for scale in (0.5, 2.0, 10.0):
        ratio = math.exp(-1 / scale)
        bound = Noise.cell(DISCRETE, scale).bound(0.01)
        # The smallest t with P(|X| > t) = 2 r^(t+1) / (1 + r) <= 0.01.
        assert 2 * ratio ** (bound + 1) / (1 + ratio) <= 0.01 < 2 * ratio**bound / (1 + ratio)
    one = Noise.cell(DISCRETE, 2.0)
    assert (one * 9).bound(0.01) < 9 * one.bound(0.01)
    assert Noise.cell(CONTINUOUS, 2.0).bound(0.01) == pytest.approx(2.0 * math.log(100))
    assert (one + Noise()).terms == one.terms
    with pytest.raises(InvalidParameterError, match="mechanism"):
        Noise.cell("gaussian", 1.0)
