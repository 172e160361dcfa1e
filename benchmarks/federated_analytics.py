"""Federated analytics: time and bytes per query, beside the pooled computation.

Data: scikit-survival's flchain (7,874 people) split into 9 sites by sample year. For each
query the same statistic is computed three ways:

- ``pooled``: numpy / lifelines on the pooled records (what a central analysis would do);
- ``in_process``: :class:`~healthtwin.federation.analytics.FederatedAnalytics` calling the
  sites directly (local aggregates plus combination);
- ``flower_in_process``: the same over the Flower ClientApp through an in-memory Grid
  (Message encoding, no network).

``bytes`` is the size of the sites' JSON answers (what would travel). DP is off, so all
three give the same numbers; the ratios show the orchestration overhead. Results go to
``benchmarks/results/federated_analytics.json``.

Run: ``python -m benchmarks.federated_analytics [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lifelines import KaplanMeierFitter

from healthtwin.federation.analytics import (
    AnalyticsSite,
    FederatedAnalytics,
    InProcessSites,
    SitePolicy,
    Where,
)
from healthtwin.federation.analytics_flower import (
    GridTransport,
    analytics_client_app,
    server_identity,
)
from healthtwin.federation.analytics_queries import (
    CountQuery,
    HistogramQuery,
    MomentsQuery,
    Query,
    SurvivalQuery,
)
from healthtwin.federation.analytics_site import site_tables_from_dataset
from healthtwin.federation.local_grid import InProcessGrid

OUT = Path(__file__).parent / "results" / "federated_analytics.json"
EDGES = tuple(float(e) for e in range(50, 105, 5))


def _best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(quick: bool = False) -> dict[str, Any]:
    repeats = 3 if quick else 10
    tables = site_tables_from_dataset("flchain", by="sample.yr")
    pooled = {k: np.concatenate([t[k] for t in tables.values()]) for k in tables["1995"]}
    sites = [AnalyticsSite(n, t, SitePolicy(min_cell=None)) for n, t in tables.items()]
    local = FederatedAnalytics(InProcessSites(sites))
    nodes = [
        {"dataset": "flchain", "split-by": "sample.yr", "site": n, "min-cell": 0} for n in tables
    ]
    grid = InProcessGrid(analytics_client_app, nodes)
    remote = FederatedAnalytics(GridTransport(grid))
    cases: dict[str, tuple[Query, Callable[[], object]]] = {
        "count": (CountQuery(Where("mgus", equals="yes")), lambda: np.sum(pooled["mgus"] == "yes")),
        "moments": (MomentsQuery("age"), lambda: (pooled["age"].mean(), pooled["age"].var(ddof=1))),
        "histogram": (
            HistogramQuery("age", edges=EDGES),
            lambda: np.histogram(pooled["age"], EDGES),
        ),
        "kaplan_meier": (
            SurvivalQuery(),
            lambda: KaplanMeierFitter().fit(pooled["time"], pooled["event"]),
        ),
    }
    rows = []
    with server_identity(1):
        remote.ask(CountQuery(Where("mgus", equals="yes")))  # loads each node's records once
        for name, (query, central) in cases.items():
            row = {
                "query": name,
                "sites": len(sites),
                "pooled_s": _best(central, repeats),
                "in_process_s": _best(lambda q=query: local.ask(q), repeats),
                "flower_in_process_s": _best(lambda q=query: remote.ask(q), repeats),
                "bytes": sum(len(a.to_json()) for a in local.ask(query)),
            }
            row["flower_over_in_process"] = row["flower_in_process_s"] / row["in_process_s"]
            rows.append(row)
            print(json.dumps(row))
    result = {"machine": platform.processor() or platform.machine(), "rows": rows}
    if not quick:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.federated_analytics")
    parser.add_argument("--quick", action="store_true", help="fewer repeats; write nothing")
    main(parser.parse_args().quick)
