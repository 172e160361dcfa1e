"""Federated histogram gradient boosting: bins, histograms, splits, trees and the protocol."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.federation.gbdt import (
    SCALE_BITS,
    BoostingConfig,
    FeatureBins,
    GradientBoostedTrees,
    HistogramReply,
    HistogramRequest,
    HistogramSite,
    Tree,
    boost,
    encode_gradients,
    fine_counts,
    fit_central,
    node_histograms,
    secure_sum,
    sketch_bins,
    train_federated,
)
from healthtwin.federation.sites import SiteData, pool

SCALE = 2.0**SCALE_BITS


def _synthetic(n: int, d: int, seed: int, name: str = "site") -> SiteData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-(1.5 * x[:, 0] - x[:, 1] * (x[:, 1] > 0))))
    return SiteData(x, np.ones(n), label, name)


BINS = FeatureBins.uniform([-2.5] * 3, [2.5] * 3, 12)


def test_a_value_on_a_threshold_falls_in_the_lower_bin() -> None:
    bins = FeatureBins.uniform([0.0], [1.0], 4)
    binned = bins.bin(np.array([[0.25], [0.2500001], [-5.0], [5.0]]))
    assert binned.ravel().tolist() == [0, 1, 0, 3]
    assert bins.n_bins == 4
    assert bins.bins_per_feature().tolist() == [4]


@pytest.mark.parametrize(
    ("lower", "upper", "n_bins"), [([0.0], [0.0], 4), ([0.0], [1.0], 1), ([0.0, 1.0], [1.0], 4)]
)
def test_bad_uniform_bins_are_refused(lower: list[float], upper: list[float], n_bins: int) -> None:
    with pytest.raises(InvalidParameterError, match="upper > lower"):
        FeatureBins.uniform(lower, upper, n_bins)


def test_binning_refuses_missing_values_and_wrong_widths() -> None:
    with pytest.raises(InvalidInputError, match="impute"):
        BINS.bin(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ShapeError, match=r"\(n, 3\)"):
        BINS.bin(np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="increasing"):
        FeatureBins((np.array([1.0, 0.5]),))


def test_sketch_bins_sit_at_the_quantiles_of_the_summed_counts() -> None:
    rng = np.random.default_rng(0)
    sites = [rng.normal(size=(400, 2)) for _ in range(3)]
    fine = FeatureBins.uniform([-4.0, -4.0], [4.0, 4.0], 400)
    bins = sketch_bins([fine_counts(x, fine) for x in sites], fine, 4)
    pooled = np.vstack(sites)
    for j in range(2):
        expected = np.quantile(pooled[:, j], [0.25, 0.5, 0.75])
        # The fine grid's step is 0.02.
        np.testing.assert_allclose(bins.thresholds[j], expected, atol=0.03)
    with pytest.raises(InvalidParameterError, match="rng"):
        sketch_bins([fine_counts(sites[0], fine)], fine, 4, noise_multiplier=1.0)


def test_gradients_travel_as_fixed_point_integers() -> None:
    codes = encode_gradients(np.array([0.0, 2.0, -30.0]), np.array([1.0, 0.0, 1.0]))
    p = 1.0 / (1.0 + np.exp(-2.0))
    assert codes.dtype == np.int64
    np.testing.assert_allclose(codes[:, 0] / SCALE, [-0.5, p, -1.0], atol=1e-9)
    np.testing.assert_allclose(codes[:, 1] / SCALE, [0.25, p * (1 - p), 0.0], atol=1e-9)


def test_node_histograms_equal_a_brute_force_count() -> None:
    rng = np.random.default_rng(3)
    binned = rng.integers(0, 5, size=(60, 3))
    grads = rng.integers(-1000, 1000, size=(60, 2))
    node = rng.choice([1, 2, 4], size=60)
    hist = node_histograms(binned, grads, node, [4, 1], 5)
    expected = np.zeros((2, 3, 5, 2), dtype=np.int64)
    for i in range(60):
        if node[i] == 2:
            continue
        slot = 0 if node[i] == 4 else 1
        for j in range(3):
            expected[slot, j, binned[i, j]] += grads[i]
    np.testing.assert_array_equal(hist, expected)


def test_one_split_has_the_textbook_gain_and_leaf_values() -> None:
    x = np.array([[0.1], [0.2], [0.3], [0.7], [0.8], [0.9]])
    label = np.array([False, False, True, True, True, True])
    data = SiteData(x, np.ones(6), label)
    config = BoostingConfig(n_trees=1, max_depth=1, learning_rate=0.5, l2=1.0, min_child_weight=0.0)
    tree = fit_central(data, FeatureBins.uniform([0.0], [1.0], 4), config).trees[0]
    # At raw score 0: g = 1/2 - y, h = 1/4. Candidate splits after bins 0, 1, 2 (x <= 0.25,
    # 0.5, 0.75); the gain is largest for {0.1, 0.2} | rest: G_L = 1, H_L = 0.5.
    assert tree.feature.tolist() == [0, -1, -1]
    assert tree.split_bin[0] == 0
    np.testing.assert_allclose(tree.value[1:], [-0.5 * 1.0 / 1.5, -0.5 * -2.0 / 2.0])


def test_min_child_weight_and_gamma_stop_splits() -> None:
    data = _synthetic(80, 3, 0)
    heavy = BoostingConfig(n_trees=1, max_depth=3, min_child_weight=1e6)
    assert fit_central(data, BINS, heavy).trees[0].n_nodes == 1
    greedy = BoostingConfig(n_trees=1, max_depth=3, min_split_gain=1e6)
    assert fit_central(data, BINS, greedy).trees[0].n_nodes == 1
    light = BoostingConfig(n_trees=1, max_depth=3, min_child_weight=2.0)
    tree = fit_central(data, BINS, light).trees[0]
    node = tree.route(BINS.bin(data.features))
    hessian = encode_gradients(np.zeros(80), data.event.astype(float))[:, 1] / SCALE
    for leaf in np.unique(node):
        assert hessian[node == leaf].sum() >= 2.0


def test_training_lowers_the_loss_and_predictions_follow_the_trees() -> None:
    data = _synthetic(300, 3, 1)
    model = fit_central(data, BINS, BoostingConfig(n_trees=30, max_depth=2, learning_rate=0.3))
    assert model.evaluate(data)["log_loss"] < 0.8 * np.log(2.0)
    assert model.evaluate(data)["auc"] > 0.75
    binned = BINS.bin(data.features)
    by_hand = sum(t.value[t.route(binned)] for t in model.trees)
    np.testing.assert_array_equal(model.decision_function(data.features), by_hand)
    assert np.all(
        (model.predict_proba(data.features) > 0) & (model.predict_proba(data.features) < 1)
    )


def test_the_model_round_trips_through_json_exactly() -> None:
    data = _synthetic(200, 3, 2)
    model = fit_central(data, BINS, BoostingConfig(n_trees=5, max_depth=3))
    again = GradientBoostedTrees.from_json(model.to_json())
    assert again == model
    assert hash(again) == hash(model)
    np.testing.assert_array_equal(
        again.decision_function(data.features), model.decision_function(data.features)
    )
    assert pickle.loads(pickle.dumps(model)) == model
    with pytest.raises(InvalidInputError, match="model JSON"):
        GradientBoostedTrees.from_json('{"bins": {}}')


def test_a_request_round_trips_through_json() -> None:
    tree = Tree.from_dict(
        {"feature": [1, -1, -1], "split_bin": [3, 0, 0], "left": [1, -1, -1],
         "right": [2, -1, -1], "value": [0.0, 0.1, -0.2]}
    )  # fmt: skip
    request = HistogramRequest(4, tree, tree, (1, 2))
    again = HistogramRequest.from_json(request.to_json())
    assert again.to_json() == request.to_json()
    assert again.frontier == (1, 2)


def test_secure_sum_is_exact_and_training_through_it_equals_plain_sums() -> None:
    rng = np.random.default_rng(5)
    parts = [rng.integers(-(2**40), 2**40, size=(4, 3)) for _ in range(3)]
    np.testing.assert_array_equal(secure_sum(parts, np.random.default_rng(0)), sum(parts))
    sites = [_synthetic(100, 3, k, f"s{k}") for k in range(3)]
    config = BoostingConfig(n_trees=4, max_depth=2)
    plain = train_federated(sites, BINS, config).model
    masked = train_federated(sites, BINS, config, np.random.default_rng(1), secure=True).model
    assert masked == plain


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_sites=st.integers(1, 4),
    depth=st.integers(1, 4),
    n_bins=st.integers(2, 20),
)
def test_any_split_of_the_patients_gives_the_central_model(
    seed: int, n_sites: int, depth: int, n_bins: int
) -> None:
    data = _synthetic(120, 3, seed)
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, n_sites, size=data.n_patients)
    sites = [data.subset(np.flatnonzero(owner == k), f"s{k}") for k in range(n_sites)]
    sites = [s for s in sites if s.n_patients > 0]
    bins = FeatureBins.uniform([-2.0] * 3, [2.0] * 3, n_bins)
    config = BoostingConfig(n_trees=3, max_depth=depth, learning_rate=0.3, min_child_weight=0.5)
    federated = train_federated(sites, bins, config).model
    assert federated == fit_central(pool(sites), bins, config)


def test_a_site_that_misses_a_level_catches_up_and_one_that_misses_a_tree_sits_out() -> None:
    sites = [HistogramSite(_synthetic(100, 3, k, f"s{k}"), BINS) for k in range(3)]
    silent = {(1, 0, "s1"), (2, 0, "s2"), (2, 1, "s2")}

    def transport(request: HistogramRequest) -> list[HistogramReply]:
        replies = []
        for site in sites:
            key = (request.tree_index, int(np.log2(max(request.frontier) + 1)), site.name)
            if key in silent:
                replies.append(HistogramReply(site.name, None, "no reply"))
                continue
            try:
                replies.append(HistogramReply(site.name, site.histograms(request)))
            except InvalidInputError as err:
                replies.append(HistogramReply(site.name, None, str(err)))
        return replies

    config = BoostingConfig(n_trees=4, max_depth=2, min_child_weight=0.1)
    result = boost(transport, BINS, config)
    by_level = {(r.tree, r.depth): r for r in result.levels}
    assert by_level[(1, 0)].failed == (("s1", "no reply"),)
    assert by_level[(1, 1)].answered == ("s0", "s1", "s2")
    # s2 never saw tree 2, so at tree 3 it is two trees behind: out of sync for good.
    assert by_level[(3, 0)].answered == ("s0", "s1")
    assert "missed a whole tree" in by_level[(3, 0)].failed[0][1]
    assert len(result.model.trees) == 4


def test_configuration_is_validated() -> None:
    with pytest.raises(InvalidParameterError, match="depth"):
        BoostingConfig(max_depth=0)
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        BoostingConfig(learning_rate=0.0)
    with pytest.raises(InvalidParameterError, match="dp_epsilon"):
        BoostingConfig(dp_epsilon=-1.0)
    with pytest.raises(InvalidParameterError, match="rng"):
        train_federated([_synthetic(50, 3, 0)], BINS, BoostingConfig(n_trees=1, dp_epsilon=1.0))


def test_dp_spends_exactly_the_target_epsilon_over_the_levels_queried() -> None:
    sites = [_synthetic(200, 3, k, f"s{k}") for k in range(2)]
    config = BoostingConfig(n_trees=3, max_depth=2, dp_epsilon=5.0, min_child_weight=5.0)
    result = train_federated(sites, BINS, config, np.random.default_rng(0))
    assert result.noise_multiplier == pytest.approx(config.noise_multiplier())
    assert len(result.levels) <= config.n_levels
    assert 0.0 < result.epsilon <= 5.0 + 1e-9
    if len(result.levels) == config.n_levels:
        assert result.epsilon == pytest.approx(5.0, rel=1e-6)
    again = train_federated(sites, BINS, config, np.random.default_rng(0))
    assert again.model == result.model  # the noise comes only from the rng
