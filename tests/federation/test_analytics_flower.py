"""Federated analytics over Flower's Message API, on an in-process grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.federation.analytics import (
    AnalyticsSite,
    FederatedAnalytics,
    InProcessSites,
    SitePolicy,
    Where,
)
from healthtwin.federation.analytics_queries import CountQuery, SurvivalQuery, query_to_json
from healthtwin.federation.analytics_site import site_tables_from_dataset

pytest.importorskip("flwr", reason="Flower is the 'fed' extra: pip install 'healthtwin[fed]'")
from healthtwin.federation._flower import Context, RecordDict
from healthtwin.federation.analytics_flower import (
    GridTransport,
    analytics_client_app,
    serve_queries,
    server_identity,
    site_from_node_config,
)
from healthtwin.federation.local_grid import InProcessGrid

GRADES = ("I", "II", "III")
NODES = [{"dataset": "gbsg2", "split-by": "tgrade", "site": g, "min-cell": 0} for g in GRADES]


def test_flower_answers_equal_the_in_process_ones() -> None:
    tables = site_tables_from_dataset("gbsg2", by="tgrade")
    local = FederatedAnalytics(
        InProcessSites([AnalyticsSite(g, tables[g], SitePolicy(min_cell=None)) for g in GRADES])
    )
    with server_identity(1):
        remote = FederatedAnalytics(GridTransport(InProcessGrid(analytics_client_app, NODES)))
        moments = remote.moments("age")
        survival = remote.survival()
        count = remote.count(Where("horTh", equals="yes"))
    assert moments == local.moments("age")
    np.testing.assert_array_equal(survival.pooled.survival, local.survival().pooled.survival)
    assert count.by_site == local.count(Where("horTh", equals="yes")).by_site
    assert survival.coverage.answered == GRADES


def test_an_unreachable_node_is_reported_missing_and_the_rest_answer() -> None:
    grid = InProcessGrid(analytics_client_app, NODES, unreachable=[2])
    with server_identity(1):
        result = FederatedAnalytics(GridTransport(grid)).moments("age")
    assert result.coverage.answered == ("I", "III")
    assert result.coverage.missing == (("node-2", "no reply before the timeout"),)
    assert result.n == 81 + 161


def test_the_node_ledger_persists_across_messages_and_refuses_when_spent() -> None:
    dp_node = NODES[0] | {"min-cell": 10, "epsilon-per-query": 0.5, "epsilon-budget": 1.0}
    grid = InProcessGrid(analytics_client_app, [dp_node, NODES[1]])
    with server_identity(1):
        analytics = FederatedAnalytics(GridTransport(grid))
        answered = [analytics.count(Where("horTh", equals="yes")).coverage for _ in range(3)]
    assert [c.answered for c in answered] == [("I", "II"), ("I", "II"), ("II",)]
    assert "privacy budget" in answered[2].missing[0][1]


def test_the_server_app_runs_its_queries_and_writes_results(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    queries = [CountQuery(Where("menostat", equals="Pre")), SurvivalQuery(grid=(365.0, 730.0))]
    run_config = {
        "queries": json.dumps([json.loads(query_to_json(q)) for q in queries]),
        "result-path": str(path),
    }
    grid = InProcessGrid(analytics_client_app, [n | {"min-cell": 10} for n in NODES])
    with server_identity(1):
        serve_queries(grid, Context(1, 0, {}, RecordDict(), run_config))
    results = json.loads(path.read_text())
    assert [r["query"]["kind"] for r in results] == ["count", "survival"]
    assert sum(results[0]["result"]["by_site"].values()) == 290
    # Grade I hides its few censorings in year 1 (k = 10): its curve, and so the pooled
    # one, stop after year 1; grade II shows both years.
    survival = results[1]["result"]
    assert survival["by_site"]["II"]["time"] == [365.0, 730.0]
    assert survival["by_site"]["I"]["time"] == [365.0]
    assert survival["pooled"]["time"] == [365.0]


def test_node_config_without_data_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="data-path"):
        site_from_node_config({"site": "I"})
    with pytest.raises(InvalidInputError, match="has sites"):
        site_from_node_config({"dataset": "gbsg2", "split-by": "tgrade", "site": "IV"})


def test_a_site_reads_its_own_csv(tmp_path: Path) -> None:
    path = tmp_path / "hospital.csv"
    path.write_text("age,sex\n50,F\n60,M\n70,F\n")
    site = site_from_node_config({"data-path": str(path), "min-cell": 0})
    assert site.name == "hospital"
    assert site.columns["age"].tolist() == [50.0, 60.0, 70.0]
    assert site.columns["sex"].tolist() == ["F", "M", "F"]
