"""Federated boosted trees over Flower's Message API, on an in-process grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError
from healthtwin.federation.gbdt import (
    BoostingConfig,
    FeatureBins,
    GradientBoostedTrees,
    fine_counts,
    sketch_bins,
    train_federated,
)
from healthtwin.federation.sites import SiteData, load_site_data, split_iid

pytest.importorskip("flwr", reason="Flower is the 'fed' extra: pip install 'healthtwin[fed]'")
from healthtwin.federation._flower import Context, RecordDict
from healthtwin.federation.analytics_flower import server_identity
from healthtwin.federation.gbdt_flower import (
    boosting_config_from_run,
    gbdt_client_app,
    run_boosting,
    run_boosting_in_grid,
)
from healthtwin.federation.local_grid import InProcessGrid

RUN: dict[str, Scalar] = {"num-trees": 4, "max-depth": 3, "learning-rate": 0.3, "n-bins": 16}
Node = dict[str, str]
Scalar = bool | float | int | str


@pytest.fixture(scope="module")
def sites() -> list[SiteData]:
    return split_iid(load_site_data("whas500", outcome="binary"), 3, np.random.default_rng(0))


@pytest.fixture(scope="module")
def nodes(sites: list[SiteData], tmp_path_factory: pytest.TempPathFactory) -> list[Node]:
    """Each site's records in its own file, as a harmonised site would keep them."""
    directory = tmp_path_factory.mktemp("gbdt-sites")
    configs = []
    for site in sites:
        path = directory / f"{site.name}.npz"
        np.savez(path, features=site.features, time=site.time, event=site.event)
        configs.append({"data-path": str(path), "site-name": site.name})
    return configs


def test_flower_gives_the_in_process_model_bit_for_bit(
    sites: list[SiteData], nodes: list[Node]
) -> None:
    result = run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes), RUN)
    bins = FeatureBins.uniform([-3.0] * 14, [3.0] * 14, 16)
    local = train_federated(sites, bins, boosting_config_from_run(RUN))
    assert result.model == local.model
    level = result.levels[0]
    assert level.answered == ("node-1", "node-2", "node-3")
    assert level.failed == ()
    # Each site answers one node x 14 features x 16 bins x (g, h) int64 at the root.
    assert level.bytes_received >= 3 * 14 * 16 * 2 * 8
    assert level.bytes_sent > 0
    assert result.bytes_per_tree().shape == (4,)


def test_an_unreachable_site_is_recorded_and_the_rest_train(
    sites: list[SiteData], nodes: list[Node]
) -> None:
    grid = InProcessGrid(gbdt_client_app, nodes, unreachable=[2])
    result = run_boosting_in_grid(grid, RUN)
    bins = FeatureBins.uniform([-3.0] * 14, [3.0] * 14, 16)
    local = train_federated([sites[0], sites[2]], bins, boosting_config_from_run(RUN))
    assert result.model == local.model
    assert all(level.answered == ("node-1", "node-3") for level in result.levels)


def test_sketch_bins_equal_the_in_process_sketch_and_dp_spends_the_target(
    sites: list[SiteData], nodes: list[Node]
) -> None:
    run: dict[str, Scalar] = RUN | {
        "binning": "sketch",
        "sketch-bins": 64,
        "bin-lower": -4.0,
        "bin-upper": 4.0,
    }
    result = run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes), run)
    fine = FeatureBins.uniform([-4.0] * 14, [4.0] * 14, 64)
    bins = sketch_bins([fine_counts(s.features, fine) for s in sites], fine, 16)
    assert result.model.bins.to_dict() == bins.to_dict()
    private = run_boosting_in_grid(
        InProcessGrid(gbdt_client_app, nodes), run | {"dp-epsilon": 3.0, "min-child-weight": 5.0}
    )
    config = BoostingConfig(n_trees=4, max_depth=3, dp_epsilon=3.0)
    assert private.noise_multiplier == pytest.approx(config.noise_multiplier(1))
    assert 0.0 < private.epsilon <= 3.0 + 1e-9
    assert private.model.bins.to_dict() != bins.to_dict()  # the sketch is noisy too


def test_the_server_app_writes_the_model(tmp_path: Path, nodes: list[Node]) -> None:
    path = tmp_path / "gbdt.json"
    grid = InProcessGrid(gbdt_client_app, nodes)
    context = Context(1, 0, {}, RecordDict(), {**RUN, "result-path": str(path)})
    with server_identity(1):
        run_boosting(grid, context)
    payload = json.loads(path.read_text())
    model = GradientBoostedTrees.from_json(json.dumps(payload["model"]))
    assert len(model.trees) == 4
    assert payload["epsilon"] == 0.0
    assert payload["levels"][0]["answered"] == ["node-1", "node-2", "node-3"]


def test_an_unknown_binning_is_refused(nodes: list[Node]) -> None:
    with pytest.raises(InvalidParameterError, match="uniform"):
        run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes), RUN | {"binning": "random"})
