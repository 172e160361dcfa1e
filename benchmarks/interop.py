"""FHIR data in: import throughput of a 100,000-observation Bundle, and API search at 10^7.

Ingest (the issue's "ingest throughput of a 100,000-observation bundle"): a collection
Bundle of ``N_INGEST`` CGM Observations (LOINC 105272-9 in mmol/L, one every 5 min, with
category, display, UCUM unit and a ``urn:uuid:`` fullUrl each) of ``N_PATIENTS`` Patients is
written as compact JSON (about 57 MB) and imported by the path behind ``healthtwin data
import`` (:func:`healthtwin.cli.data.import_file`) into a fresh SQLite file and a fresh
PostgreSQL database. ``import_file`` reports its own phases: ``parse`` (read, decode,
scan the JSON tree, validate the Bundle and every entry with the ``fhir.resources`` R4B
models), ``checks`` (our rules on every resource), ``map`` (records for the time series)
and ``store`` (one transaction: every resource as a new version with its history, the
series rows, an audit event). The peer, in the same run: the store alone,
:meth:`Store.add_observations` of the same records into another fresh database
(``ratio_import_vs_store_only`` = imported observations per second / its rows per second).

Why no process pool for parsing: our checks and the mapping walk the validated models, so
a worker must hand them back pickled; pickling and unpickling cost about half as much as
validating (``pool_feasibility``, on a sample of the same entries, collector paused as in
``import_file``). On 2 idle cores the best split would save about a third of the
validation, roughly a tenth of the import, for a fork of a process holding ~1 GB; on
shared cores less. Not done.

Search (the issue's "search latency for a patient's last 24 h of CGM among 10^7
observations"), through the HTTP API: a SQLite store holds ``N_SEARCH`` observations of
1,000 patients (one every 5 min each), generated inside the database in primary-key and
index order (as in ``benchmarks/store.py``). Resource bodies are stored only for the
queried patient (its Patient and its 10,000 Observations, through
:meth:`Store.write_transaction`): 10^7 bodies would take about 5 GB, and a search reads the
bodies of its index candidates only, which the ``(patient, code, time)`` index confines to
that patient. A real server (``python -m healthtwin serve``: uvicorn in its own process)
answers ``GET /fhir/Observation?patient=...&code=http://loinc.org|105272-9&date=ge...&
_count=300`` (288 matches); the median of ``REPEATS`` requests from an ``httpx`` client
(keep-alive) is compared with the same query on the store (:meth:`Store.observations`,
in this process; ``ratio_api_vs_store``).

PostgreSQL is ``HEALTHTWIN_POSTGRES_URL`` (a role that may create databases) or a
throwaway server started from the Debian binaries (``tests/store/postgres_cluster.py``).
Run with ``python -m benchmarks interop [--quick]``; writes
``benchmarks/results/interop.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fhir.resources.R4B.bundle import BundleEntry
from sqlalchemy import text

from benchmarks.postgres import postgres_databases
from benchmarks.store import _SQLITE_FILL
from healthtwin.cli.data import import_file
from healthtwin.interop.records import Coding
from healthtwin.store import Store, UpdateResource, open_store

OUT = Path(__file__).resolve().parent / "results" / "interop.json"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CGM = Coding(system=LOINC, code="105272-9", display="Glucose [Moles/volume] in Interstitial fluid")
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
N_PATIENTS = 4
REPEATS = 50
POOL_SAMPLE = 10_000


def _patient(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"cgm-p{index:02d}",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": f"MRN{index:06d}"}],
        "name": [{"use": "official", "family": f"Sensor{index}", "given": ["Dana"]}],
        "gender": ("female", "male")[index % 2],
        "birthDate": f"{1950 + 7 * index}-0{1 + index % 9}-15",
    }


def _glucose_mmol_l(minutes: float, rng: random.Random) -> float:
    """A plausible CGM trace: a daily rhythm, meal peaks and sensor noise, 2.2-22 mmol/L."""
    day = 2 * math.pi * minutes / 1440
    meals = sum(2.5 * math.exp(-((((minutes - m) % 1440) / 60) ** 2)) for m in (480, 780, 1140))
    value = 7.0 + 1.2 * math.sin(day) + meals + rng.gauss(0, 0.4)
    return round(min(22.0, max(2.2, value)), 1)


def _observation(index: int, n_patients: int, rng: random.Random) -> dict[str, Any]:
    patient, reading = index % n_patients, index // n_patients
    when = T0 + reading * STEP
    return {
        "fullUrl": f"urn:uuid:5b0c6f1e-3d2a-4c8b-9e7f-{index:012d}",
        "resource": {
            "resourceType": "Observation",
            "id": f"cgm-p{patient:02d}-{reading:06d}",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": CGM.code, "display": CGM.display}]},
            "subject": {"reference": f"Patient/cgm-p{patient:02d}"},
            "effectiveDateTime": when.isoformat().replace("+00:00", "Z"),
            "valueQuantity": {
                "value": _glucose_mmol_l(reading * 5.0, rng),
                "unit": "mmol/L",
                "system": UCUM,
                "code": "mmol/L",
            },
        },
    }


def cgm_bundle(n_observations: int, n_patients: int = N_PATIENTS, seed: int = 7) -> dict[str, Any]:
    """A collection Bundle: ``n_patients`` Patients, then their CGM readings interleaved."""
    rng = random.Random(seed)
    patients = [
        {"fullUrl": f"urn:uuid:5b0c6f1e-3d2a-4c8b-8a00-{i:012x}", "resource": _patient(i)}
        for i in range(n_patients)
    ]
    readings = [_observation(i, n_patients, rng) for i in range(n_observations)]
    return {"resourceType": "Bundle", "type": "collection", "entry": patients + readings}


def _timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _import(fresh: Callable[[], str], path: Path, n_observations: int) -> dict[str, Any]:
    """Import the Bundle into a fresh database; the store alone into another, same records."""
    phases: dict[str, float] = {}
    with open_store(fresh()) as store:
        seconds = _timed(lambda: import_file(store, path, None, "benchmark", timings=phases))
        records = [r for i in range(N_PATIENTS) for r in store.observations(f"cgm-p{i:02d}")]
    assert len(records) == n_observations
    with open_store(fresh()) as peer:
        store_only = _timed(lambda: peer.add_observations(records))
    rate = n_observations / seconds
    return {
        "seconds": round(seconds, 2),
        "observations_per_s": round(rate),
        "phase_seconds": {name: round(value, 2) for name, value in phases.items()},
        "store_phase_observations_per_s": round(n_observations / phases["store"]),
        "store_only_rows_per_s": round(n_observations / store_only),
        "ratio_import_vs_store_only": round(rate * store_only / n_observations, 3),
    }


def _pool_feasibility(bundle: dict[str, Any]) -> dict[str, float]:
    """Validating a sample of entries vs pickling the validated models back from a worker.

    Measured with the garbage collector paused, as ``import_file`` runs.
    """
    sample = bundle["entry"][:POOL_SAMPLE]
    models: list[BundleEntry] = []
    gc.disable()
    try:
        validate = _timed(lambda: models.extend(BundleEntry.model_validate(e) for e in sample))
        blob = pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)
        pickle_s = _timed(lambda: pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL))
        unpickle_s = _timed(lambda: pickle.loads(blob))
    finally:
        gc.enable()
    return {
        "entries": len(sample),
        "validate_s": round(validate, 3),
        "pickle_s": round(pickle_s, 3),
        "unpickle_s": round(unpickle_s, 3),
    }


def _ingest(n_observations: int, folder: Path) -> dict[str, Any]:
    bundle = cgm_bundle(n_observations)
    path = folder / "cgm_bundle.json"
    path.write_text(json.dumps(bundle, separators=(",", ":")))
    result: dict[str, Any] = {
        "bundle": {
            "observations": n_observations,
            "patients": N_PATIENTS,
            "entries": len(bundle["entry"]),
            "megabytes": round(path.stat().st_size / 1e6, 1),
        },
        "pool_feasibility": _pool_feasibility(bundle),
    }
    del bundle
    counter = iter(range(1_000))
    result["sqlite"] = _import(
        lambda: f"sqlite:///{folder / f'ingest{next(counter)}.sqlite'}", path, n_observations
    )
    with postgres_databases() as fresh:
        if fresh is None:
            result["postgresql"] = "skipped: no HEALTHTWIN_POSTGRES_URL and no server binaries"
        else:
            result["postgresql"] = _import(fresh, path, n_observations)
    return result


# -- search through the API --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(url: str) -> Iterator[str]:
    """``python -m healthtwin serve`` on a free port; yields its FHIR base URL."""
    port = _free_port()
    command = [sys.executable, "-m", "healthtwin", "serve", "--database", url, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the server did not start (exit code {server.poll()})")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(30)


def _stored_bodies(store: Store, patient: str, first_row: int, per_patient: int) -> float:
    """Store the queried patient and its observations' bodies (matching the series rows)."""

    def body(k: int) -> dict[str, Any]:
        n = first_row + k
        when = T0 + k * STEP
        return {
            "resourceType": "Observation",
            "id": f"obs-{n:010d}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": CGM.code}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": when.isoformat().replace("+00:00", "Z"),
            "valueQuantity": {
                "value": 5.0 + (n % 97) / 10,
                "unit": "mmol/L",
                "system": UCUM,
                "code": "mmol/L",
            },
        }

    operations = [UpdateResource({"resourceType": "Patient", "id": patient}, upsert=True)]
    operations += [UpdateResource(body(k), upsert=True) for k in range(per_patient)]
    return _timed(lambda: store.write_transaction(operations))


def _search(n_observations: int, folder: Path) -> dict[str, Any]:
    n_patients = 1000
    per_patient = n_observations // n_patients
    url = f"sqlite:///{folder / 'search.sqlite'}"
    patient_index = n_patients // 2
    patient = f"p{patient_index:04d}"
    with open_store(url) as store:
        with store.engine.begin() as connection:
            fill = {"total": per_patient * n_patients, "per_patient": per_patient}
            build_s = _timed(lambda: connection.execute(text(_SQLITE_FILL), fill))
        bodies_s = _stored_bodies(store, patient, patient_index * per_patient, per_patient)
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        end = T0 + per_patient * STEP
        start = end - timedelta(hours=24)
        store_latencies = [
            _timed(lambda: store.observations(patient, CGM, start=start)) for _ in range(REPEATS)
        ]
    params = {
        "patient": patient,
        "code": f"{LOINC}|{CGM.code}",
        "date": "ge" + start.isoformat().replace("+00:00", "Z"),
        "_count": "300",
    }
    with _server(url) as base, httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(5):  # warm up: connections, caches, the server's first requests
            page = client.get("/Observation", params=params).json()
        assert page["total"] == 288 == len(page["entry"]), page.get("total")
        api_latencies = [
            _timed(lambda: client.get("/Observation", params=params).raise_for_status())
            for _ in range(REPEATS)
        ]
    api, ours = statistics.median(api_latencies), statistics.median(store_latencies)
    return {
        "observations": per_patient * n_patients,
        "patients": n_patients,
        "resource_bodies_stored": per_patient + 1,
        "build_s": round(build_s, 1),
        "bodies_s": round(bodies_s, 2),
        "matches": 288,
        "api_median_ms": round(1000 * api, 2),
        "api_p90_ms": round(1000 * statistics.quantiles(api_latencies, n=10)[-1], 2),
        "store_median_ms": round(1000 * ours, 3),
        "ratio_api_vs_store": round(api / ours, 1),
    }


def _measure(quick: bool) -> dict[str, Any]:
    n_ingest = 10_000 if quick else 100_000
    n_search = 1_000_000 if quick else 10_000_000
    result: dict[str, Any] = {
        "scenario": (
            f"ingest: a {n_ingest:,}-observation CGM collection Bundle through "
            "healthtwin data import (import_file) vs Store.add_observations of the same "
            f"records; search: GET /fhir/Observation for one patient's last 24 h of CGM "
            f"among {n_search:,} observations, median of {REPEATS} requests vs the store query"
        ),
        "quick": quick,
        "cpu_count": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as folder:
        result["ingest"] = _ingest(n_ingest, Path(folder))
    with tempfile.TemporaryDirectory() as folder:
        result["search"] = _search(n_search, Path(folder))
    return result


def main(quick: bool = False) -> dict[str, Any]:
    result = _measure(quick)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.interop")
    parser.add_argument("--quick", action="store_true", help="10,000 ingest, 10^6 search")
    main(quick=parser.parse_args().quick)
