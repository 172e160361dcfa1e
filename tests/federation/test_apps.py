"""The Flower ServerApp and ClientApp, run in process through an in-memory Grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError

pytest.importorskip("flwr", reason="Flower is the 'fed' extra: pip install 'healthtwin[fed]'")
from healthtwin.federation.apps import client_app, config_from_run, site_data_from_node_config
from healthtwin.federation.local_grid import InProcessGrid, run_in_grid
from healthtwin.federation.models import CoxPH
from healthtwin.federation.sites import load_site_data, split_iid
from healthtwin.federation.strategies import FederationConfig, run_in_process

NODES = [{"dataset": "whas500", "site-index": k, "n-sites": 3, "split": "iid"} for k in range(3)]


def test_flower_apps_give_the_same_model_as_the_in_process_loop() -> None:
    run_config = {"num-rounds": 3, "model": "cox", "local-steps": 5, "learning-rate": 0.5}
    apps = run_in_grid(InProcessGrid(client_app, NODES), run_config)
    sites = split_iid(load_site_data("whas500"), 3, np.random.default_rng(0))
    loop = run_in_process(CoxPH(), sites, FederationConfig(rounds=3, local_steps=5))
    np.testing.assert_allclose(apps.theta, loop.theta, atol=1e-12)
    assert apps.rounds[-1].metrics["c_index"] == pytest.approx(
        loop.rounds[-1].metrics["c_index"], abs=1e-9
    )
    # One float64 vector of 14 parameters each way per site, plus Flower's record framing.
    record = apps.rounds[0]
    assert record.bytes_sent == record.bytes_received >= 3 * 8 * 14


def test_an_unreachable_site_is_recorded_and_the_round_goes_on() -> None:
    grid = InProcessGrid(client_app, NODES, unreachable=[2])
    result = run_in_grid(grid, {"num-rounds": 2, "model": "cox"})
    for record in result.rounds:
        assert record.failed == (("node-2", "no reply before the timeout"),)
        assert len(record.sampled) == 3
    assert result.rounds[-1].metrics["c_index"] > 0.7


def test_a_failing_site_reports_its_reason(tmp_path: Path) -> None:
    data = load_site_data("veterans")
    features = data.features.copy()
    features[0, 0] = np.nan
    path = tmp_path / "corrupt.npz"
    np.savez(path, features=features, time=data.time, event=data.event)
    nodes = [NODES[0] | {"dataset": "veterans", "n-sites": 2}, {"data-path": str(path)}]
    result = run_in_grid(InProcessGrid(client_app, nodes), {"num-rounds": 1, "model": "cox"})
    ((site, reason),) = result.rounds[0].failed
    assert site == "node-2"
    assert "diverged" in reason


def test_dp_run_reports_epsilon_per_round() -> None:
    config = {"num-rounds": 3, "model": "cox", "dp-epsilon": 2.0, "clip-norm": 0.5}
    result = run_in_grid(InProcessGrid(client_app, NODES), config)
    assert [round(r.epsilon, 6) for r in result.rounds][-1] == 2.0
    assert config_from_run(config).dp is not None


def test_sites_with_different_features_are_refused() -> None:
    nodes = [NODES[0], {"dataset": "gbsg2", "site-index": 0, "n-sites": 2}]
    with pytest.raises(InvalidInputError, match="same encoded features"):
        run_in_grid(InProcessGrid(client_app, nodes), {"num-rounds": 1})


def test_node_config_without_data_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="data-path"):
        site_data_from_node_config({"site-index": 0})
