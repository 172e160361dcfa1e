"""Federated boosted trees against central training (issue 11's validation).

- Without DP the federated model equals the same algorithm trained on the pooled patients
  bit for bit, on IID sites and on sites that differ in case mix: the non-IID gap is 0.
- Its held-out AUROC is close to scikit-learn's ``HistGradientBoostingClassifier`` trained
  centrally with the same trees (depth, rate, L2, bins; no early stopping).
- With DP the epsilon spent is the target, and utility falls off gracefully as epsilon
  shrinks.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.federation.gbdt import (
    BoostingConfig,
    FeatureBins,
    fine_counts,
    fit_central,
    sketch_bins,
    train_federated,
)
from healthtwin.federation.models import auc
from healthtwin.federation.sites import SiteData, load_site_data, split_by_case_mix, split_iid


def _held_out(name: str) -> tuple[SiteData, SiteData]:
    data = load_site_data(name, outcome="binary")
    order = np.random.default_rng(0).permutation(data.n_patients)
    cut = int(0.7 * data.n_patients)
    return data.subset(np.sort(order[:cut]), "train"), data.subset(np.sort(order[cut:]), "test")


def _sketch(sites: list[SiteData], n_bins: int) -> FeatureBins:
    d = sites[0].features.shape[1]
    fine = FeatureBins.uniform([-5.0] * d, [5.0] * d, 512)
    return sketch_bins([fine_counts(s.features, fine) for s in sites], fine, n_bins)


@pytest.mark.parametrize("dataset", ["whas500", "gbsg2"])
@pytest.mark.parametrize("split", ["iid", "case-mix"])
def test_federated_trees_equal_central_trees_exactly(dataset: str, split: str) -> None:
    data = load_site_data(dataset, outcome="binary")
    rng = np.random.default_rng(1)
    sites = split_iid(data, 3, rng) if split == "iid" else split_by_case_mix(data, 3, rng, skew=0.9)
    bins = _sketch(sites, 32)
    config = BoostingConfig(n_trees=20, max_depth=3, learning_rate=0.1)
    federated = train_federated(sites, bins, config).model
    central = fit_central(data, bins, config)
    assert federated.to_json() == central.to_json()
    np.testing.assert_array_equal(
        federated.decision_function(data.features), central.decision_function(data.features)
    )


# Measured (test AUROC, 30 % held out, seed 0; federated on 3 IID sites, 100 trees of depth
# 3, rate 0.1, lambda 1, 32 sketch bins): flchain 0.8564 vs scikit-learn 0.8566 (-0.02 %),
# whas500 0.7690 vs 0.7608 (+1.1 %), gbsg2 0.6976 vs 0.6847 (+1.9 %). On the two small
# sets (124-170 test patients) the sign of the difference is noise; flchain (1,791 test
# patients) is the within-1 % check.
@pytest.mark.parametrize(("dataset", "tolerance"), [("flchain", 0.01), ("whas500", 0.03)])
def test_held_out_auroc_is_close_to_scikit_learn(dataset: str, tolerance: float) -> None:
    ensemble = require("sklearn.ensemble", "ml")
    train, test = _held_out(dataset)
    sites = split_iid(train, 3, np.random.default_rng(1))
    config = BoostingConfig(n_trees=100, max_depth=3, learning_rate=0.1, l2=1.0)
    federated = train_federated(sites, _sketch(sites, 32), config).model
    threadpoolctl = require("threadpoolctl", "ml")
    reference = ensemble.HistGradientBoostingClassifier(
        max_iter=100, max_depth=3, learning_rate=0.1, l2_regularization=1.0, max_bins=32,
        min_samples_leaf=1, early_stopping=False, random_state=0,
    )  # fmt: skip
    # One OpenMP thread: on a shared 2-core machine more threads are ten times slower.
    with threadpoolctl.threadpool_limits(1):
        reference.fit(train.features, train.event)
    ours = federated.evaluate(test)["auc"]
    theirs = auc(reference.decision_function(test.features), test.event)
    assert abs(ours - theirs) / theirs < tolerance


def test_dp_reports_its_epsilon_and_utility_degrades_gracefully() -> None:
    train, test = _held_out("flchain")
    sites = split_iid(train, 3, np.random.default_rng(1))
    d = train.features.shape[1]
    # Public bounds for standardised features: no data-dependent step.
    bins = FeatureBins.uniform([-3.0] * d, [3.0] * d, 8)
    base = BoostingConfig(n_trees=10, max_depth=2, learning_rate=0.3, min_child_weight=5.0)
    exact = train_federated(sites, bins, base).model.evaluate(test)["auc"]
    mean_auc = {}
    for epsilon in (1.0, 8.0, 64.0):
        config = dataclasses.replace(base, dp_epsilon=epsilon)
        runs = [train_federated(sites, bins, config, np.random.default_rng(s)) for s in range(5)]
        for run in runs:
            assert run.epsilon <= epsilon + 1e-9
            assert run.epsilon == pytest.approx(epsilon, rel=1e-6) or len(run.levels) < 20
        mean_auc[epsilon] = float(np.mean([r.model.evaluate(test)["auc"] for r in runs]))
    # Measured: no DP 0.846; epsilon 64: 0.845, 8: 0.813, 1: 0.582 (5 noise seeds each).
    assert mean_auc[1.0] < mean_auc[8.0] < mean_auc[64.0] <= exact + 0.005
    assert mean_auc[64.0] > exact - 0.01
    assert mean_auc[8.0] > 0.75
    assert mean_auc[1.0] > 0.5
