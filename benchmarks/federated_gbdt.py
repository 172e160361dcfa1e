"""Federated boosted trees: time and bytes per tree, by number of sites and tree depth.

The same trees three ways, so the orchestration overhead is visible:

- ``numpy``: :func:`healthtwin.federation.gbdt.train_federated`, sites in process (the
  computation alone; bytes are the request JSON and the int64 histograms);
- ``flower_in_process``: the real ServerApp and ClientApp of
  :mod:`healthtwin.federation.gbdt_flower` through an in-memory Grid (message encoding,
  node state, no network; bytes are the request text and the ``ArrayRecord`` payloads);
- ``deployment`` (full run only): SuperLink + SuperNodes as processes on loopback with TLS
  and node authentication (:class:`healthtwin.federation.deployment.LoopbackFederation`).

Every run (the deployment's too) is checked against
:func:`~healthtwin.federation.gbdt.fit_central` on the pooled patients (``equal_to_central``).
Sites hold synthetic binary outcomes (500 patients each, 10 features, 32 bins). A level's
histograms are ``open nodes x d x B x 2`` int64 per site, so bytes per tree grow as
``2^depth - 1`` nodes times the number of sites.
Results go to ``benchmarks/results/federated_gbdt.json``.

Run: ``python -m benchmarks.federated_gbdt [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.federation.gbdt import (
    BoostingConfig,
    FeatureBins,
    GradientBoostedTrees,
    fit_central,
    train_federated,
)
from healthtwin.federation.gbdt_flower import GBDT_APP, gbdt_client_app, run_boosting_in_grid
from healthtwin.federation.local_grid import InProcessGrid
from healthtwin.federation.sites import SiteData, pool

OUT = Path(__file__).parent / "results" / "federated_gbdt.json"
PATIENTS_PER_SITE = 500
N_FEATURES = 10
N_BINS = 32
N_TREES = 5


def synthetic_sites(n_sites: int, seed: int = 0) -> list[SiteData]:
    rng = np.random.default_rng(seed)
    sites = []
    for k in range(n_sites):
        x = rng.normal(size=(PATIENTS_PER_SITE, N_FEATURES))
        logit = x[:, 0] - 0.8 * np.abs(x[:, 1]) + 0.5 * x[:, 2] * x[:, 3]
        label = rng.random(PATIENTS_PER_SITE) < 1.0 / (1.0 + np.exp(-logit))
        sites.append(SiteData(x, np.ones(PATIENTS_PER_SITE), label, f"site-{k}"))
    return sites


def _node_configs(sites: list[SiteData], directory: Path) -> list[dict[str, Any]]:
    configs = []
    for site in sites:
        path = directory / f"{site.name}.npz"
        np.savez(path, features=site.features, time=site.time, event=site.event)
        configs.append({"data-path": str(path), "site-name": site.name})
    return configs


def _run_config(depth: int) -> dict[str, Any]:
    return {"num-trees": N_TREES, "max-depth": depth, "n-bins": N_BINS, "learning-rate": 0.3}


def _summary(levels: Any, n_trees: int, total_seconds: float) -> dict[str, float]:
    sent = sum(level.bytes_sent for level in levels)
    received = sum(level.bytes_received for level in levels)
    return {
        "seconds_per_tree": total_seconds / n_trees,
        "seconds_per_level": float(np.mean([level.seconds for level in levels])),
        "levels_per_tree": len(levels) / n_trees,
        "bytes_sent_per_tree": sent / n_trees,
        "bytes_received_per_tree": received / n_trees,
    }


def in_process_rows(site_counts: list[int], depths: list[int]) -> list[dict[str, Any]]:
    rows = []
    bins = FeatureBins.uniform([-3.0] * N_FEATURES, [3.0] * N_FEATURES, N_BINS)
    for n_sites in site_counts:
        sites = synthetic_sites(n_sites)
        for depth in depths:
            config = BoostingConfig(n_trees=N_TREES, max_depth=depth, learning_rate=0.3)
            start = time.perf_counter()
            loop = train_federated(sites, bins, config)
            numpy_total = time.perf_counter() - start
            with tempfile.TemporaryDirectory() as tmp:
                grid = InProcessGrid(gbdt_client_app, _node_configs(sites, Path(tmp)))
                start = time.perf_counter()
                apps = run_boosting_in_grid(grid, _run_config(depth))
                flower_total = time.perf_counter() - start
            central = fit_central(pool(sites), bins, config)
            rows.append(
                {
                    "n_sites": n_sites,
                    "max_depth": depth,
                    "numpy": _summary(loop.levels, N_TREES, numpy_total),
                    "flower_in_process": _summary(apps.levels, N_TREES, flower_total),
                    "flower_over_numpy_time": flower_total / numpy_total,
                    "equal_to_central": loop.model == central and apps.model == central,
                }
            )
            print(json.dumps(rows[-1]))
    return rows


def deployment_rows(site_counts: list[int], depth: int) -> list[dict[str, Any]]:
    from healthtwin.federation.deployment import LoopbackFederation

    rows = []
    for n_sites in site_counts:
        sites = synthetic_sites(n_sites)
        with tempfile.TemporaryDirectory() as tmp:
            nodes = _node_configs(sites, Path(tmp))
            start = time.perf_counter()
            with LoopbackFederation(nodes) as federation:
                started = time.perf_counter() - start
                path, seconds = federation.submit(GBDT_APP, _run_config(depth), timeout_s=600.0)
                payload = json.loads(path.read_text())
        levels = payload["levels"]
        deployed = GradientBoostedTrees.from_json(json.dumps(payload["model"]))
        bins = FeatureBins.uniform([-3.0] * N_FEATURES, [3.0] * N_FEATURES, N_BINS)
        config = BoostingConfig(n_trees=N_TREES, max_depth=depth, learning_rate=0.3)
        rows.append(
            {
                "n_sites": n_sites,
                "max_depth": depth,
                "start_seconds": started,
                "run_seconds": seconds,
                "seconds_per_tree": seconds / N_TREES,
                "seconds_per_level": float(np.mean([lv["seconds"] for lv in levels])),
                "bytes_received_per_tree": sum(lv["bytes_received"] for lv in levels) / N_TREES,
                "equal_to_central": deployed == fit_central(pool(sites), bins, config),
            }
        )
        print(json.dumps(rows[-1]))
    return rows


def main(quick: bool = False) -> dict[str, Any]:
    site_counts = [3] if quick else [2, 3, 5, 10]
    depths = [2, 3] if quick else [2, 3, 4, 6]
    in_process = in_process_rows(site_counts, depths)
    deployed = [] if quick else deployment_rows([3], 3)
    result = {
        "benchmark": "federated gradient-boosted trees: seconds and bytes per tree",
        "python": platform.python_version(),
        "patients_per_site": PATIENTS_PER_SITE,
        "n_features": N_FEATURES,
        "n_bins": N_BINS,
        "n_trees": N_TREES,
        "in_process": in_process,
        "deployment": deployed,
    }
    if not quick:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.federated_gbdt")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    main(quick=parser.parse_args().quick)
