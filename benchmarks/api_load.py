"""API throughput and latency under load: observation ingest and forecasts over loopback.

Two real uvicorn servers (each its own process, one worker, its own embedded SQLite store
in WAL mode) serve ``/api/v1``: the *plain* one with security disabled, and the *governed*
one in production mode, where :class:`~healthtwin.api.v1_governance.ApiGovernance`
validates an Ed25519-signed bearer token, reads the purpose header (``TREAT``), decides
access for the twin's patient with the policy of :mod:`benchmarks.governance_access` and
the patient's consents in the store, and writes one hash-chained audit event per request
before the answer leaves. A load generator in this process (``httpx.AsyncClient``, one
connection per virtual client) runs each workload at 1 and at ``N_CLIENTS`` concurrent
clients, each bounded by a request count *and* a wall-clock limit, whichever comes first:

- ``ingest``: ``POST /api/v1/twins/{id}/observations`` (one CGM reading every 5 min of
  twin time, each client on its own twin): ensemble advance + EnKF update + store write;
- ``forecast``: ``GET /api/v1/twins/{id}/forecast?horizon_min=120`` (quantile bands);
- ``ingest_governed``, ``forecast_governed``: the same two on the governed server, each
  client's twin bound to its own FHIR Patient (a clinician's token for ``TREAT``);
- peers in the same run: ``fhir_create`` (``POST /fhir/Observation``, the store's write
  path without a twin) and ``metadata`` (``GET /fhir/metadata``, the HTTP stack's floor).

Reported per workload and concurrency: requests, seconds, throughput (req/s), p50/p95
latency (ms, ``time.perf_counter`` around each request), status counts (any non-2xx fails
the run); the machine's 1-minute load average before and after; and the ratios
``p50 / metadata p50`` (cost over the bare stack), ``throughput at N / at 1`` (scaling)
and, for the governed workloads, ``governed p50 / plain p50`` and ``governed throughput /
plain throughput`` at the same concurrency (the governance overhead); ``ingest`` and
``forecast`` run in ``ROUNDS`` blocks alternating with their governed twins, so that both
see the same machine load. Run with
``python -m benchmarks.api_load [--quick]``; the full run writes
``benchmarks/results/api_load.json`` (``--quick`` only prints, so the committed results
are not overwritten by a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "api_load.json"
N_CLIENTS = 8
MAX_REQUESTS, MAX_SECONDS = 2_000, 30.0
QUICK_REQUESTS, QUICK_SECONDS = 200, 5.0
TWIN_MEMBERS = 32
ENV_DATABASE = "HEALTHTWIN_BENCH_DATABASE"
#: Hex of the raw Ed25519 public key the governed server trusts (unset: security disabled).
ENV_GOVERNED_KEY = "HEALTHTWIN_BENCH_GOVERNED_KEY"
ISSUER, AUDIENCE = "https://idp.bench", "https://twin.bench/fhir"
GOVERNED = ("ingest", "forecast")
#: Alternating blocks of plain and governed requests per governed workload.
ROUNDS = 5

Request = Callable[[httpx.AsyncClient, int, int], Any]


def app_from_env() -> Any:
    """The application the server process serves (``uvicorn --factory`` calls this)."""
    from healthtwin.api.app import create_app
    from healthtwin.store import open_store

    store = open_store(os.environ[ENV_DATABASE])
    public = os.environ.get(ENV_GOVERNED_KEY)
    if public is None:
        return create_app(store)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from benchmarks.governance_access import POLICY
    from healthtwin.api.security import SecurityConfig, VerificationKey
    from healthtwin.governance.policy import load_policy

    security = SecurityConfig(
        mode="production",
        keys=(
            VerificationKey(
                "EdDSA", Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)), "bench"
            ),
        ),
        issuer=ISSUER,
        audience=AUDIENCE,
        policy=load_policy(POLICY),
        rate_per_s=1e6,  # the rate limiter is on the path but never refuses
        burst=10**6,
    )
    return create_app(store, security=security)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(
    database: str, port: int, public_key_hex: str | None = None
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.api_load:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--lifespan", "off", "--ws", "none", "--workers", "1",
    ]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, ENV_DATABASE: database, "PYTHONPATH": str(root)}
    env.pop(ENV_GOVERNED_KEY, None)
    if public_key_hex is not None:
        env[ENV_GOVERNED_KEY] = public_key_hex
    server = subprocess.Popen(command, env=env, cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the uvicorn server exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the uvicorn server did not answer within 60 s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def _observation(patient: str, k: int) -> dict[str, Any]:
    minute = k % 60
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "99504-3"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"2025-05-01T{8 + k // 60 % 12:02d}:{minute:02d}:00Z",
        "valueQuantity": {
            "value": 120.0 + k % 40,
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    }


def _requests(run: str, patients: list[str]) -> dict[str, Request]:
    """The workloads: each builds the k-th request of virtual client ``c``."""

    def ingest(http: httpx.AsyncClient, c: int, k: int) -> Any:
        body = {"t_min": 5.0 * (k + 1), "glucose_mg_dl": 110.0 + 30.0 * np.sin(k / 12.0)}
        return http.post(f"/api/v1/twins/{run}-{c}/observations", json=body)

    def forecast(http: httpx.AsyncClient, c: int, k: int) -> Any:
        return http.get(f"/api/v1/twins/{run}-{c}/forecast", params={"horizon_min": 120})

    def fhir_create(http: httpx.AsyncClient, c: int, k: int) -> Any:
        return http.post("/fhir/Observation", json=_observation(patients[c], k))

    def metadata(http: httpx.AsyncClient, c: int, k: int) -> Any:
        return http.get("/fhir/metadata")

    return {
        "metadata": metadata,
        "fhir_create": fhir_create,
        "ingest": ingest,
        "forecast": forecast,
    }


@dataclass
class _Block:
    """Latencies (ms), statuses and seconds of the blocks run so far of one workload."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    next_k: dict[int, int] = field(default_factory=dict)  # each client's next request

    def summary(self, clients: int) -> dict[str, Any]:
        p50, p95 = np.percentile(self.latencies, [50, 95])
        return {
            "clients": clients,
            "requests": len(self.latencies),
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(len(self.latencies) / self.seconds, 2),
            "p50_ms": round(float(p50), 3),
            "p95_ms": round(float(p95), 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


async def _load(
    root: str,
    request: Request,
    clients: int,
    max_requests: int,
    max_seconds: float,
    headers: dict[str, str] | None = None,
    block: _Block | None = None,
) -> _Block:
    """Run ``clients`` virtual clients until ``max_requests`` are sent or time is up.

    The results are added to ``block`` (a new one by default); each client goes on from
    the request it reached in the block's earlier runs (so readings keep moving forward).
    """
    block = block if block is not None else _Block()
    issued = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    async def client(c: int) -> None:
        nonlocal issued
        k = block.next_k.get(c, 0)
        async with httpx.AsyncClient(base_url=root, timeout=60, headers=headers) as http:
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                response = await request(http, c, k)
                block.latencies.append((time.perf_counter() - t0) * 1e3)
                block.statuses[response.status_code] += 1
                k += 1
        block.next_k[c] = k

    await asyncio.gather(*(client(c) for c in range(clients)))
    block.seconds += time.perf_counter() - start
    return block


def _create_twins(
    root: str, run: str, clients: int, headers: dict[str, str] | None = None
) -> list[str]:
    """One FHIR Patient and one twin per virtual client; the Patients' ids.

    On the governed server (``headers`` set) each twin is bound to its Patient, so every
    request is decided for that patient.
    """
    patients = []
    with httpx.Client(base_url=root, timeout=60, headers=headers) as http:
        for c in range(clients):
            created = http.post("/fhir/Patient", json={"resourceType": "Patient"})
            created.raise_for_status()
            patients.append(str(created.json()["id"]))
            body = {"twin_id": f"{run}-{c}", "members": TWIN_MEMBERS, "seed": c}
            if headers is not None:
                body["patient_id"] = patients[-1]
            http.post("/api/v1/twins", json=body).raise_for_status()
    return patients


def _clinician(key: Any) -> dict[str, str]:
    """Headers of a clinician acting for ``TREAT`` with a token signed by ``key``."""
    import jwt

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "clinician-1",
        "fhirUser": "Practitioner/clinician-1",
        "scope": "user/*.crus",
        "roles": ["clinician"],
        "organization": "Organization/o1",
        "iat": now,
        "exp": now + 4 * 3600,
    }
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "bench"})
    return {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "TREAT"}


def main(quick: bool = False) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    max_requests = QUICK_REQUESTS if quick else MAX_REQUESTS
    max_seconds = QUICK_SECONDS if quick else MAX_SECONDS
    levels = (1, 4 if quick else N_CLIENTS)
    load_before = os.getloadavg()[0]
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    headers = _clinician(key)
    directory = Path(tempfile.mkdtemp(prefix="healthtwin-load-"))
    ports = _free_port(), _free_port()
    root, governed_root = (f"http://127.0.0.1:{port}" for port in ports)
    servers = [_start_server(f"sqlite:///{directory / 'store.sqlite'}", ports[0])]
    rows: dict[str, dict[str, Any]] = {}
    try:
        servers.append(
            _start_server(f"sqlite:///{directory / 'governed.sqlite'}", ports[1], public)
        )
        for clients in levels:
            run = f"c{clients}"
            plain = _requests(run, _create_twins(root, run, clients))
            governed = _requests(run, _create_twins(governed_root, run, clients, headers))
            for name, request in plain.items():
                if name in GOVERNED:
                    continue
                # A short warm-up (imports, first compilation) is not timed.
                block = asyncio.run(_load(root, request, clients, 2 * clients, max_seconds))
                timed = asyncio.run(
                    _load(
                        root,
                        request,
                        clients,
                        max_requests,
                        max_seconds,
                        block=_Block(next_k=block.next_k),
                    )
                )
                rows.setdefault(name, {})[str(clients)] = timed.summary(clients)
            for name in GOVERNED:
                # Plain and governed alternate in ROUNDS blocks, so both see the same
                # machine load (the servers are shared with whatever else runs).
                pair = ((root, plain[name], None), (governed_root, governed[name], headers))
                blocks = []
                for url, request, extra in pair:
                    warm = asyncio.run(
                        _load(url, request, clients, 2 * clients, max_seconds, extra)
                    )
                    blocks.append(_Block(next_k=warm.next_k))
                for _ in range(ROUNDS):
                    for (url, request, extra), block in zip(pair, blocks, strict=True):
                        asyncio.run(
                            _load(url, request, clients, max_requests // ROUNDS,
                                  max_seconds / ROUNDS, extra, block)
                        )  # fmt: skip
                rows.setdefault(name, {})[str(clients)] = blocks[0].summary(clients)
                rows.setdefault(f"{name}_governed", {})[str(clients)] = blocks[1].summary(clients)
    finally:
        for server in servers:
            _stop(server)
        shutil.rmtree(directory, ignore_errors=True)
    for results in rows.values():
        for level, result in results.items():
            floor = rows["metadata"][level]["p50_ms"]
            result["p50_over_metadata_p50"] = round(result["p50_ms"] / floor, 2)
        one, many = results[str(levels[0])], results[str(levels[1])]
        many["throughput_ratio_vs_1_client"] = round(
            many["throughput_per_s"] / one["throughput_per_s"], 2
        )
    for name in GOVERNED:
        for level, result in rows[f"{name}_governed"].items():
            peer = rows[name][level]
            result["p50_over_plain_p50"] = round(result["p50_ms"] / peer["p50_ms"], 2)
            result["overhead_p50_ms"] = round(result["p50_ms"] - peer["p50_ms"], 3)
            result["throughput_over_plain"] = round(
                result["throughput_per_s"] / peer["throughput_per_s"], 2
            )
    failed = {
        f"{name}@{level}": r["statuses"]
        for name, results in rows.items()
        for level, r in results.items()
        if any(not code.startswith("2") for code in r["statuses"])
    }
    if failed:
        raise RuntimeError(f"requests failed under load (status counts): {failed}")
    report = {
        "benchmark": (
            "API load over loopback: uvicorn (1 worker, own process), SQLite (WAL); "
            "*_governed: production security (token, purpose, access, audit per request)"
        ),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        # Other work on the machine slows both sides: read the figures against this.
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        "quick": quick,
        "bounds": {"max_requests": max_requests, "max_seconds": max_seconds},
        "twin_members": TWIN_MEMBERS,
        "clients": list(levels),
        "workloads": rows,
    }
    if not quick:  # a smoke run must not overwrite the committed results
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, results in rows.items():
        for level, r in results.items():
            print(
                f"{name:18s} clients={level:>2s} {r['requests']:5d} req "
                f"{r['throughput_per_s']:8.1f}/s p50 {r['p50_ms']:8.2f} ms "
                f"p95 {r['p95_ms']:8.2f} ms {r['statuses']}"
            )
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_load")
    parser.add_argument("--quick", action="store_true", help="smaller bounds, for a smoke run")
    main(quick=parser.parse_args().quick)
