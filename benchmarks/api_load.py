"""API throughput and latency under load: observation ingest and forecasts over loopback.

A real uvicorn server (its own process, one worker, the embedded SQLite store in WAL mode,
security disabled: ``benchmarks.api_security`` measures the governance layer on its own)
serves ``/api/v1``; a load generator in this process (``httpx.AsyncClient``, one
connection per virtual client) runs each workload at 1 and at ``N_CLIENTS`` concurrent
clients, each bounded by a request count *and* a wall-clock limit, whichever comes first:

- ``ingest``: ``POST /api/v1/twins/{id}/observations`` (one CGM reading every 5 min of
  twin time, each client on its own twin): ensemble advance + EnKF update + store write;
- ``forecast``: ``GET /api/v1/twins/{id}/forecast?horizon_min=120`` (quantile bands);
- peers in the same run: ``fhir_create`` (``POST /fhir/Observation``, the store's write
  path without a twin) and ``metadata`` (``GET /fhir/metadata``, the HTTP stack's floor).

Reported per workload and concurrency: requests, seconds, throughput (req/s), p50/p95
latency (ms, ``time.perf_counter`` around each request), status counts (any non-2xx fails
the run); the machine's 1-minute load average before and after; and the ratios
``p50 / metadata p50`` (cost over the bare stack) and ``throughput at N / at 1``
(scaling). Run with ``python -m benchmarks.api_load [--quick]``; writes
``benchmarks/results/api_load.json``.
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

Request = Callable[[httpx.AsyncClient, int, int], Any]


def app_from_env() -> Any:
    """The application the server process serves (``uvicorn --factory`` calls this)."""
    from healthtwin.api.app import create_app
    from healthtwin.store import open_store

    return create_app(open_store(os.environ[ENV_DATABASE]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(database: str, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.api_load:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--lifespan", "off", "--ws", "none", "--workers", "1",
    ]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, ENV_DATABASE: database, "PYTHONPATH": str(root)}
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


async def _load(
    root: str, request: Request, clients: int, max_requests: int, max_seconds: float
) -> dict[str, Any]:
    """Run ``clients`` virtual clients until ``max_requests`` are sent or time is up."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    issued = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    async def client(c: int) -> None:
        nonlocal issued
        k = 0
        async with httpx.AsyncClient(base_url=root, timeout=60) as http:
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                response = await request(http, c, k)
                latencies.append((time.perf_counter() - t0) * 1e3)
                statuses[response.status_code] += 1
                k += 1

    await asyncio.gather(*(client(c) for c in range(clients)))
    seconds = time.perf_counter() - start
    p50, p95 = np.percentile(latencies, [50, 95])
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "throughput_per_s": round(len(latencies) / seconds, 2),
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def _create_twins(root: str, run: str, clients: int) -> list[str]:
    """One twin and one FHIR Patient per virtual client; the Patients' ids."""
    patients = []
    with httpx.Client(base_url=root, timeout=60) as http:
        for c in range(clients):
            body = {"twin_id": f"{run}-{c}", "members": TWIN_MEMBERS, "seed": c}
            http.post("/api/v1/twins", json=body).raise_for_status()
            created = http.post("/fhir/Patient", json={"resourceType": "Patient"})
            created.raise_for_status()
            patients.append(str(created.json()["id"]))
    return patients


def main(quick: bool = False) -> dict[str, Any]:
    max_requests = QUICK_REQUESTS if quick else MAX_REQUESTS
    max_seconds = QUICK_SECONDS if quick else MAX_SECONDS
    levels = (1, 4 if quick else N_CLIENTS)
    load_before = os.getloadavg()[0]
    directory = Path(tempfile.mkdtemp(prefix="healthtwin-load-"))
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    server = _start_server(f"sqlite:///{directory / 'store.sqlite'}", port)
    rows: dict[str, dict[str, Any]] = {}
    try:
        for clients in levels:
            run = f"c{clients}"
            patients = _create_twins(root, run, clients)
            for name, request in _requests(run, patients).items():
                # A short warm-up (imports, first compilation) is not timed.
                asyncio.run(_load(root, request, clients, 2 * clients, max_seconds))
                result = asyncio.run(_load(root, request, clients, max_requests, max_seconds))
                rows.setdefault(name, {})[str(clients)] = result
    finally:
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
    failed = {
        f"{name}@{level}": r["statuses"]
        for name, results in rows.items()
        for level, r in results.items()
        if any(not code.startswith("2") for code in r["statuses"])
    }
    if failed:
        raise RuntimeError(f"requests failed under load (status counts): {failed}")
    report = {
        "benchmark": "API load over loopback: uvicorn (1 worker, own process), SQLite (WAL)",
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
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, results in rows.items():
        for level, r in results.items():
            print(
                f"{name:12s} clients={level:>2s} {r['requests']:5d} req "
                f"{r['throughput_per_s']:8.1f}/s p50 {r['p50_ms']:8.2f} ms "
                f"p95 {r['p95_ms']:8.2f} ms {r['statuses']}"
            )
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_load")
    parser.add_argument("--quick", action="store_true", help="smaller bounds, for a smoke run")
    main(quick=parser.parse_args().quick)
