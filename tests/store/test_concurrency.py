"""Concurrent writers: threads and processes on one database, every write lands.

On SQLite this exercises write-ahead logging, the busy timeout and ``BEGIN IMMEDIATE``
(without them, writers fail with "database is locked"); on PostgreSQL, row locks. A shared
counter updated by optimistic concurrency from every thread must end at the number of
increments: no update is lost, conflicts are only ever retried.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.store.concurrent_writer import run_threads

from healthtwin.store import Store

WRITER = Path(__file__).with_name("concurrent_writer.py")
PROCESSES, THREADS, WRITES = 3, 3, 15


def test_threads_and_processes_write_concurrently(store: Store, database_url: str) -> None:
    store.create({"resourceType": "Basic", "id": "counter", "count": 0})
    children = [
        subprocess.Popen(
            [sys.executable, str(WRITER), database_url, str(worker), str(THREADS), str(WRITES)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for worker in range(PROCESSES)
    ]  # fmt: skip
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        _, failures = run_threads(store, "main", THREADS, WRITES)
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert failures == []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip().startswith("retries")
    writers = (PROCESSES + 1) * THREADS
    total = writers * WRITES
    assert store.read("Basic", "counter")["count"] == total
    assert store.read("Basic", "counter")["meta"]["versionId"] == str(total + 1)
    assert len(list(store.iter_resources("Patient"))) == total
    assert len(store.observations("shared")) == total
    assert len(store.audit_events(action="create")) == total
