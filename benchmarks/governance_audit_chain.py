"""Audit hash chain: appends per second and chain verification speed on SQLite.

Appends: ``N_SINGLE`` events, each through :meth:`Store.record_audit` in its own write
transaction (the service's per-request path), and ``N_EVENTS`` events through
:meth:`Store.write_transaction` in batches of ``BATCH`` ``RecordAudit`` operations (bulk
import), into a fresh SQLite file (WAL); a signed checkpoint every 1,000 events. The peer
is the same number of plain, unchained inserts of the same rows through the bare
``sqlite3`` driver (``executemany`` in one transaction per batch): ``ratio_vs_sqlite3`` =
our events per second / the peer's.

Verification: :meth:`Store.verify_audit` over all ``N_EVENTS`` events and their
checkpoints (read in keyset pages, re-hashed, checkpoint signatures checked); also the
pure :func:`healthtwin.governance.audit_chain.verify` over events already in memory, which
separates hashing from reading.

Run with ``python -m benchmarks.governance_audit_chain [--quick]``; writes
``benchmarks/results/governance_audit_chain.json``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from healthtwin.governance.audit_chain import verify
from healthtwin.governance.signing import signing_key_from_seed
from healthtwin.store import RecordAudit, open_store
from healthtwin.store.audit import iter_audit

OUT = Path(__file__).resolve().parent / "results" / "governance_audit_chain.json"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 1000


def _operation(i: int) -> RecordAudit:
    return RecordAudit(
        actor=f"Practitioner/dr{i % 50}",
        action="read",
        purpose="TREAT",
        resource_refs=(f"Observation/o{i}",),
        details={"i": i, "client": "bench"},
    )


def _measure(n_events: int, n_single: int) -> dict[str, Any]:
    key = signing_key_from_seed(bytes(32))
    result: dict[str, Any] = {"n_events": n_events, "n_single": n_single, "batch": BATCH}
    with tempfile.TemporaryDirectory() as folder:
        with open_store(f"sqlite:///{Path(folder) / 'single.sqlite'}") as store:
            store.configure_audit_checkpoints(key, every=1000)
            start = time.perf_counter()
            for i in range(n_single):
                store.record_audit(
                    actor=f"Practitioner/dr{i % 50}", action="read", purpose="TREAT",
                    resource_refs=[f"Observation/o{i}"], details={"i": i, "client": "bench"},
                )  # fmt: skip
            result["single_appends_per_s"] = n_single / (time.perf_counter() - start)
        with open_store(f"sqlite:///{Path(folder) / 'bulk.sqlite'}") as store:
            store.configure_audit_checkpoints(key, every=1000)
            start = time.perf_counter()
            for first in range(0, n_events, BATCH):
                store.write_transaction([_operation(i) for i in range(first, first + BATCH)])
                store.audit_checkpoint()
            result["batched_appends_per_s"] = n_events / (time.perf_counter() - start)
            start = time.perf_counter()
            report = store.verify_audit()
            elapsed = time.perf_counter() - start
            assert report.ok, report.reason
            result["verify_store_events_per_s"] = n_events / elapsed
            result["verify_store_s"] = elapsed
            result["n_checkpoints"] = report.n_checkpoints
            with store._session("reading") as session:
                events = list(iter_audit(session))
            start = time.perf_counter()
            assert verify(events).ok
            result["verify_memory_events_per_s"] = n_events / (time.perf_counter() - start)
        result["sqlite3_plain_inserts_per_s"] = _peer(Path(folder) / "peer.sqlite", n_events)
    result["ratio_vs_sqlite3"] = (
        result["batched_appends_per_s"] / result["sqlite3_plain_inserts_per_s"]
    )
    return result


def _peer(path: Path, n: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(
        "CREATE TABLE audit_events (row_id INTEGER PRIMARY KEY, time TEXT, actor TEXT, "
        "action TEXT, purpose TEXT, outcome TEXT, resource_refs TEXT, details TEXT)"
    )
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        rows = [
            (
                (T0 + timedelta(seconds=i)).isoformat(), f"Practitioner/dr{i % 50}", "read",
                "TREAT", "success", json.dumps([f"Observation/o{i}"]),
                json.dumps({"i": i, "client": "bench"}),
            )
            for i in range(first, first + BATCH)
        ]  # fmt: skip
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO audit_events (time, actor, action, purpose, outcome, resource_refs, "
            "details) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return n / elapsed


def main(quick: bool = False) -> dict[str, Any]:
    result = _measure(10_000 if quick else 100_000, 1_000 if quick else 5_000)
    result["quick"] = quick
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.governance_audit_chain")
    parser.add_argument("--quick", action="store_true", help="10^4 events instead of 10^5")
    main(quick=parser.parse_args().quick)
