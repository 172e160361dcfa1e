"""FedAvg/FedProx aggregation, sampling, and failures recorded as data (in process)."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.federation.models import LocalResult, LogisticRegression
from healthtwin.federation.privacy import DifferentialPrivacy
from healthtwin.federation.sites import SiteData
from healthtwin.federation.strategies import (
    FederationConfig,
    aggregate,
    fedavg,
    run_in_process,
    sample_sites,
)


def _sites(n_sites: int = 3, n: int = 80) -> list[SiteData]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n_sites):
        x = rng.normal(size=(n, 2))
        out.append(SiteData(x, np.ones(n), x[:, 0] + rng.normal(size=n) > 0, f"s{k}"))
    return out


def test_fedavg_is_the_patient_weighted_mean() -> None:
    thetas = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_allclose(fedavg(thetas, np.array([1.0, 1.0, 2.0])), [1.25, 1.25])
    with pytest.raises(ShapeError):
        fedavg(thetas, np.ones(2))
    with pytest.raises(InvalidParameterError):
        fedavg(thetas, np.zeros(3))


def test_one_local_step_fedavg_is_gradient_descent_on_the_federation() -> None:
    sites = _sites()
    model = LogisticRegression()
    config = FederationConfig(rounds=1, local_steps=1, learning_rate=0.3)
    result = run_in_process(model, sites, config)
    total = sum(s.n_patients for s in sites)
    grad = sum(model.loss_and_gradient(np.zeros(3), s)[1] * s.n_patients / total for s in sites)
    np.testing.assert_allclose(result.theta, -0.3 * grad, atol=1e-12)


def test_dp_aggregation_is_an_unweighted_clipped_mean() -> None:
    theta = np.zeros(2)
    results = [LocalResult(np.array([3.0, 4.0]), 0.0, 1000), LocalResult(np.zeros(2), 0.0, 1)]
    dp = DifferentialPrivacy(clip_norm=1.0, noise_multiplier=1e-12)
    new, clipped = aggregate(theta, results, dp, np.random.default_rng(0))
    np.testing.assert_allclose(new, [0.3, 0.4], atol=1e-9)
    assert clipped == 1


def test_sampling_takes_the_fraction_and_respects_the_minimum() -> None:
    rng = np.random.default_rng(0)
    names = [f"s{k}" for k in range(10)]
    assert len(sample_sites(names, 0.3, 1, rng)) == 3
    assert len(sample_sites(names, 0.1, 4, rng)) == 4
    counts = dict.fromkeys(names, 0)
    for _ in range(500):
        for name in sample_sites(names, 0.2, 1, rng):
            counts[name] += 1
    # Each site is chosen with probability 0.2: 99 % binomial interval over 500 draws.
    assert all(70 <= c <= 130 for c in counts.values())


def test_dropped_sites_are_recorded_and_rounds_go_on() -> None:
    config = FederationConfig(rounds=6, dropout_probability=0.4, seed=3)
    result = run_in_process(LogisticRegression(), _sites(), config)
    failed = [f for r in result.rounds for f in r.failed]
    assert failed
    assert all("dropout" in why for _, why in failed)
    assert len(result.rounds) == 6
    for record in result.rounds:
        answered = len(record.sampled) - len(record.failed)
        assert record.bytes_received == 8 * 3 * answered
        assert np.isnan(record.train_loss) == (answered == 0)
    assert result.rounds[-1].metrics["auc"] > 0.7


def test_a_diverging_site_is_recorded_with_its_reason() -> None:
    sites = _sites()
    corrupt = sites[0].features.copy()
    corrupt[5, 1] = np.nan  # a site whose harmonisation let a missing value through
    bad = SiteData(corrupt, sites[0].time, sites[0].event, "wild")
    result = run_in_process(LogisticRegression(), [bad, *sites[1:]], FederationConfig(rounds=2))
    reasons = dict(result.rounds[0].failed)
    assert "diverged" in reasons["wild"]
    assert len(result.rounds) == 2
    assert np.all(np.isfinite(result.theta))


def test_dp_rounds_report_the_epsilon_spent() -> None:
    dp = DifferentialPrivacy.for_epsilon(2.0, rounds=4, clip_norm=0.1)
    result = run_in_process(LogisticRegression(), _sites(), FederationConfig(rounds=4, dp=dp))
    epsilons = [r.epsilon for r in result.rounds]
    assert epsilons == sorted(epsilons)
    assert epsilons[-1] == pytest.approx(2.0, rel=1e-8)


def test_bad_configs_are_errors() -> None:
    with pytest.raises(InvalidParameterError, match="strategy"):
        FederationConfig(strategy="fedsgd")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="fraction_sites"):
        FederationConfig(fraction_sites=0.0)
