"""One real Flower deployment: SuperLink + 3 SuperNodes as processes on loopback.

TLS from a private test CA, SuperNode authentication (an unregistered node is refused),
telemetry off. One federation (a module-scoped fixture) and one run: a learning round
over SecAgg+, then analytics queries to the same nodes, so processes and the run start
once. About two minutes on two cores, nearly all process start-up and Flower's polling
(SuperNodes poll every 3 s; SecAgg+ takes four exchanges where plain FedAvg takes one).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from healthtwin.federation.analytics import FederatedAnalytics, InProcessSites
from healthtwin.federation.analytics_queries import CountQuery, MomentsQuery, Where
from healthtwin.federation.analytics_site import AnalyticsSite, SitePolicy, site_tables_from_dataset
from healthtwin.federation.deployment import (
    DeploymentResult,
    LoopbackFederation,
    free_port,
)
from healthtwin.federation.pki import make_test_pki

GRADES = ("I", "II", "III")
# Each node holds the keys of both apps: an IID third of gbsg2 for learning, the patients
# of one tumour grade for analytics.
NODES = [
    {"dataset": "gbsg2", "site-index": k, "n-sites": 3, "split": "iid",
     "split-by": "tgrade", "site": grade, "min-cell": 0}
    for k, grade in enumerate(GRADES)
]  # fmt: skip
FLOWER_BIN = Path(sys.executable).parent / "flower-superlink"
LEARNING = {"num-rounds": 1, "model": "cox", "secure-aggregation": True}
QUERIES = [MomentsQuery("age"), CountQuery(Where("horTh", equals="yes"))]

needs_flower = pytest.mark.skipif(
    not FLOWER_BIN.exists() and os.environ.get("HEALTHTWIN_FULL_TESTS") != "1",
    reason="Flower's executables are not installed (pip install 'healthtwin[fed]')",
)


def test_the_server_certificate_verifies_against_the_test_ca(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, 1)
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    assert context.verify_mode == ssl.CERT_REQUIRED
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    done = subprocess.run(
        [openssl, "verify", "-CAfile", str(pki.ca_cert), "-verify_ip", "127.0.0.1",
         str(pki.server_cert)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert oct(pki.node_keys[0].stat().st_mode & 0o777) == "0o600"


def test_free_port_is_bindable() -> None:
    assert 1024 <= free_port() <= 65535


@dataclass(frozen=True)
class Deployed:
    learning: DeploymentResult
    refused: int
    logs: dict[str, str]
    port: int
    leftover: str


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    workdir = tmp_path_factory.mktemp("loopback")
    with LoopbackFederation(NODES, workdir=workdir) as federation:
        refused = federation.start_unregistered_node(NODES[0])
        learning = federation.run(LEARNING, queries=QUERIES, timeout_s=240.0)
        logs = {label: federation.log(label) for label in ("superlink", f"node-{refused}")}
        port = federation.port
    leftover = subprocess.run(
        ["pgrep", "-f", str(workdir)], capture_output=True, text=True, check=False
    ).stdout.strip()
    return Deployed(learning, refused, logs, port, leftover)


@needs_flower
@pytest.mark.slow
def test_secure_aggregation_over_the_deployment_equals_plain_fedavg(deployed: Deployed) -> None:
    pytest.importorskip("flwr")
    from healthtwin.federation.apps import client_app
    from healthtwin.federation.local_grid import InProcessGrid, run_in_grid

    (record,) = deployed.learning.result.rounds
    assert len(record.sampled) == 3
    assert record.failed == ()
    plain = run_in_grid(InProcessGrid(client_app, NODES), {"num-rounds": 1, "model": "cox"})
    # SecAgg+ quantizes each weighted update to a step of 2c/Q = 16 / 2**22.
    np.testing.assert_allclose(deployed.learning.result.theta, plain.theta, rtol=0, atol=2e-5)
    assert record.metrics["c_index"] == pytest.approx(plain.rounds[0].metrics["c_index"], abs=1e-3)
    # Four protocol stages of keys, shares and masked vectors travelled.
    assert record.bytes_received > 3 * 1000


@needs_flower
@pytest.mark.slow
def test_analytics_over_the_deployment_equal_the_pooled_computation(deployed: Deployed) -> None:
    tables = site_tables_from_dataset("gbsg2", by="tgrade")
    local = FederatedAnalytics(
        InProcessSites([AnalyticsSite(g, tables[g], SitePolicy(min_cell=None)) for g in GRADES])
    )
    moments, count = (r["result"] for r in deployed.learning.analytics)
    pooled_age = np.concatenate([tables[g]["age"] for g in GRADES])
    assert moments["n"] == pooled_age.size == 686
    assert moments["mean"] == pytest.approx(float(pooled_age.mean()), rel=1e-12)
    expected = local.count(Where("horTh", equals="yes"))
    assert sorted(count["by_site"].values()) == sorted(expected.by_site.values())
    assert count["total"] == expected.total


@needs_flower
@pytest.mark.slow
def test_the_deployment_used_tls_refused_an_unregistered_node_and_cleaned_up(
    deployed: Deployed,
) -> None:
    assert deployed.learning.refused_nodes[deployed.refused] != 0
    assert "Failed to activate SuperNode" in deployed.logs[f"node-{deployed.refused}"]
    # TLS was on: the SuperLink served HTTPS on loopback only.
    assert f"running on https://127.0.0.1:{deployed.port}" in deployed.logs["superlink"]
    assert deployed.leftover == ""
