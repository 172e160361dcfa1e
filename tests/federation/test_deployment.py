"""One real Flower deployment: SuperLink + 3 SuperNodes as processes on loopback, 1 round.

TLS from a private test CA, SuperNode authentication (an unregistered node is refused),
telemetry off. About 40-50 s, nearly all process start-up and Flower's polling.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from healthtwin.federation.deployment import LoopbackFederation, free_port
from healthtwin.federation.pki import make_test_pki

NODES = [{"dataset": "whas500", "site-index": k, "n-sites": 3, "split": "iid"} for k in range(3)]
FLOWER_BIN = Path(sys.executable).parent / "flower-superlink"

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


@needs_flower
@pytest.mark.slow
def test_real_deployment_one_round_with_tls_and_node_auth(tmp_path: Path) -> None:
    with LoopbackFederation(NODES, workdir=tmp_path) as federation:
        refused = federation.start_unregistered_node(NODES[0])
        deployed = federation.run({"num-rounds": 1, "model": "cox"}, timeout_s=120.0)
        logs = {label: federation.log(label) for label in ("superlink", f"node-{refused}")}
    (record,) = deployed.result.rounds
    assert len(record.sampled) == 3
    assert record.failed == ()
    assert record.metrics["c_index"] > 0.7
    assert record.bytes_sent == record.bytes_received > 3 * 8 * 14
    assert deployed.refused_nodes[refused] != 0
    assert "Failed to activate SuperNode" in logs[f"node-{refused}"]
    # TLS was on: the SuperLink served HTTPS on loopback only.
    assert f"running on https://127.0.0.1:{federation.port}" in logs["superlink"]
    leftover = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == ""
