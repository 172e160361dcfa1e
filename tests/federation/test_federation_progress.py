"""In process, federated training counts its rounds and trees; the counts change nothing."""

from __future__ import annotations

import numpy as np

from healthtwin.federation.apps import client_app
from healthtwin.federation.gbdt_flower import gbdt_client_app, run_boosting_in_grid
from healthtwin.federation.local_grid import InProcessGrid, run_in_grid

Node = bool | float | int | str


def test_rounds_are_counted_and_the_model_is_the_same() -> None:
    nodes: list[dict[str, Node]] = [
        {"dataset": "veterans", "site-index": k, "n-sites": 2} for k in range(2)
    ]
    config = {"num-rounds": 2}
    reports: list[tuple[int, int]] = []
    counted = run_in_grid(InProcessGrid(client_app, nodes), config,
                          lambda d, t: reports.append((d, t)))  # fmt: skip
    plain = run_in_grid(InProcessGrid(client_app, nodes), config)
    assert reports == [(1, 2), (2, 2)]
    np.testing.assert_array_equal(counted.theta, plain.theta)


def test_trees_are_counted_and_the_trees_are_the_same() -> None:
    nodes: list[dict[str, Node]] = [
        {"dataset": "veterans", "outcome": "binary", "site-index": k, "n-sites": 2}
        for k in range(2)
    ]
    config = {"num-trees": 2, "max-depth": 2}
    reports: list[tuple[int, int]] = []
    counted = run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes), config,
                                   lambda d, t: reports.append((d, t)))  # fmt: skip
    plain = run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes), config)
    assert reports == [(1, 2), (2, 2)]
    assert counted.model.to_json() == plain.model.to_json()
