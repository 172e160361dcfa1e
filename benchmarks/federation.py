"""Federated learning: round time and bytes per round, by model size and number of sites.

Three ways to run the same rounds, so the orchestration overhead is visible:

- ``numpy``: :func:`healthtwin.federation.strategies.run_in_process` (the computation alone);
- ``flower_in_process``: the real ServerApp and ClientApp through an in-memory Grid
  (message encoding, no network);
- ``flower_secagg_in_process``: the same with Flower's SecAgg+ (four exchanges per round,
  keys, shares and masked vectors; bytes count all of them);
- ``deployment``: SuperLink + SuperNodes as processes on loopback with TLS and node
  authentication (:class:`healthtwin.federation.deployment.LoopbackFederation`).

Sites hold synthetic logistic-regression data (300 patients each) with ``d`` features, so
the parameter vector has ``d + 1`` entries. Bytes are the parameter payloads the server
sends and receives in a round (Flower's ``ArrayRecord.count_bytes`` in the apps, 8 bytes
per float64 in the numpy loop). Results go to ``benchmarks/results/federation.json``.

Run: ``python -m benchmarks.federation [--quick]``.
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

from healthtwin.federation.apps import client_app
from healthtwin.federation.deployment import LoopbackFederation
from healthtwin.federation.local_grid import InProcessGrid, run_in_grid
from healthtwin.federation.models import LogisticRegression
from healthtwin.federation.sites import SiteData
from healthtwin.federation.strategies import FederationConfig, run_in_process

OUT = Path(__file__).parent / "results" / "federation.json"
PATIENTS_PER_SITE = 300
ROUNDS = 3


def synthetic_sites(n_sites: int, n_features: int, seed: int = 0) -> list[SiteData]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(scale=1.0 / np.sqrt(n_features), size=n_features)
    sites = []
    for k in range(n_sites):
        x = rng.normal(size=(PATIENTS_PER_SITE, n_features))
        label = rng.random(PATIENTS_PER_SITE) < 1.0 / (1.0 + np.exp(-x @ truth))
        sites.append(SiteData(x, np.ones(PATIENTS_PER_SITE), label, f"site-{k}"))
    return sites


def _node_configs(sites: list[SiteData], directory: Path) -> list[dict[str, Any]]:
    configs = []
    for site in sites:
        path = directory / f"{site.name}.npz"
        np.savez(path, features=site.features, time=site.time, event=site.event)
        configs.append({"data-path": str(path), "site-name": site.name})
    return configs


def _summary(rounds: Any) -> dict[str, float]:
    return {
        "seconds_per_round": float(np.mean([r.seconds for r in rounds])),
        "bytes_sent_per_round": float(np.mean([r.bytes_sent for r in rounds])),
        "bytes_received_per_round": float(np.mean([r.bytes_received for r in rounds])),
    }


def in_process_rows(sizes: list[int], site_counts: list[int]) -> list[dict[str, Any]]:
    rows = []
    run_config = {"num-rounds": ROUNDS, "model": "logistic", "local-steps": 10}
    for n_features in sizes:
        for n_sites in site_counts:
            sites = synthetic_sites(n_sites, n_features)
            start = time.perf_counter()
            loop = run_in_process(LogisticRegression(), sites, FederationConfig(rounds=ROUNDS))
            numpy_total = time.perf_counter() - start
            with tempfile.TemporaryDirectory() as tmp:
                grid = InProcessGrid(client_app, _node_configs(sites, Path(tmp)))
                start = time.perf_counter()
                apps = run_in_grid(grid, run_config)
                flower_total = time.perf_counter() - start
                grid = InProcessGrid(client_app, _node_configs(sites, Path(tmp)))
                start = time.perf_counter()
                secure = run_in_grid(grid, run_config | {"secure-aggregation": True})
                secure_total = time.perf_counter() - start
            rows.append(
                {
                    "n_parameters": n_features + 1,
                    "n_sites": n_sites,
                    "numpy": _summary(loop.rounds) | {"total_seconds": numpy_total},
                    "flower_in_process": _summary(apps.rounds) | {"total_seconds": flower_total},
                    "flower_secagg_in_process": _summary(secure.rounds)
                    | {
                        "total_seconds": secure_total,
                        "max_abs_difference": float(np.max(np.abs(secure.theta - apps.theta))),
                    },
                }
            )
            print(json.dumps(rows[-1]))
    return rows


def deployment_rows(sizes: list[int], site_counts: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n_features in sizes:
        for n_sites in site_counts:
            sites = synthetic_sites(n_sites, n_features)
            with tempfile.TemporaryDirectory() as tmp:
                nodes = _node_configs(sites, Path(tmp))
                start = time.perf_counter()
                with LoopbackFederation(nodes) as federation:
                    started = time.perf_counter() - start
                    deployed = federation.run(
                        {"num-rounds": ROUNDS, "model": "logistic"}, timeout_s=400.0
                    )
            rows.append(
                {
                    "n_parameters": n_features + 1,
                    "n_sites": n_sites,
                    "start_seconds": started,
                    "run_seconds": deployed.seconds,
                    **_summary(deployed.result.rounds),
                }
            )
            print(json.dumps(rows[-1]))
    return rows


def main(quick: bool = False) -> dict[str, Any]:
    sizes = [10, 1_000] if quick else [10, 1_000, 10_000]
    site_counts = [3] if quick else [2, 3, 5]
    in_process = in_process_rows(sizes, site_counts)
    deployed = deployment_rows([10] if quick else [10, 10_000], [3] if quick else [2, 3])
    overhead = []
    for row in deployed:
        match = next(
            r
            for r in in_process
            if r["n_parameters"] == row["n_parameters"] and r["n_sites"] == row["n_sites"]
        )
        overhead.append(
            {
                "n_parameters": row["n_parameters"],
                "n_sites": row["n_sites"],
                "deployment_over_numpy_round_time": row["seconds_per_round"]
                / match["numpy"]["seconds_per_round"],
                "flower_in_process_over_numpy_round_time": match["flower_in_process"][
                    "seconds_per_round"
                ]
                / match["numpy"]["seconds_per_round"],
            }
        )
    result = {
        "benchmark": "federated rounds: seconds and parameter bytes per round",
        "python": platform.python_version(),
        "patients_per_site": PATIENTS_PER_SITE,
        "rounds": ROUNDS,
        "local_steps": 10,
        "in_process": in_process,
        "deployment": deployed,
        "overhead": overhead,
    }
    if not quick:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.federation")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    main(quick=parser.parse_args().quick)
