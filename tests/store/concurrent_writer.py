"""A writer process for ``test_concurrency.py``: several threads writing to one store.

``python concurrent_writer.py URL WORKER THREADS WRITES`` opens the store, prints
``ready``, waits for a line on standard input, then runs THREADS threads that each make
WRITES rounds of: create a Patient, add an observation, record an audit event, and add one
to the shared counter resource ``Basic/counter`` by optimistic concurrency (read, update
with the version read, retry on conflict). It prints ``retries N`` and exits 0, or prints
every traceback and exits 1.
"""

from __future__ import annotations

import sys
import threading
import traceback
from datetime import UTC, datetime, timedelta

from healthtwin.errors import ConflictError
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.store import Store, open_store

HR = Coding(system="http://loinc.org", code="8867-4")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def increment(store: Store) -> int:
    """Add one to ``Basic/counter``; return how many conflicts had to be retried."""
    retries = 0
    while True:
        counter = store.read("Basic", "counter")
        counter["count"] = counter["count"] + 1
        try:
            store.update(counter, expected_version=counter["meta"]["versionId"])
        except ConflictError:
            retries += 1
            continue
        return retries


def write_rounds(store: Store, prefix: str, writes: int) -> int:
    """Run ``writes`` rounds for one thread (ids start with ``prefix``); return retries."""
    retries = 0
    for i in range(writes):
        tag = f"{prefix}-{i}"
        store.create({"resourceType": "Patient", "id": tag})
        store.add_observations(
            [
                ObservationRecord(
                    id=tag, patient_id="shared", code=HR,
                    effective=T0 + timedelta(seconds=i), value=float(i),
                )
            ]
        )  # fmt: skip
        store.record_audit(
            actor=f"Device/{prefix}", action="create", resource_refs=[f"Patient/{tag}"]
        )
        retries += increment(store)
    return retries


def run_threads(store: Store, prefix: str, threads: int, writes: int) -> tuple[int, list[str]]:
    """Run the threads; return total retries and the tracebacks of any failures."""
    retries: list[int] = []
    failures: list[str] = []

    def body(thread: int) -> None:
        try:
            retries.append(write_rounds(store, f"{prefix}-t{thread}", writes))
        except Exception:  # reported to the parent test, which fails on any
            failures.append(traceback.format_exc())

    workers = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(retries), failures


def main(url: str, worker: str, threads: int, writes: int) -> int:
    with open_store(url) as store:
        print("ready", flush=True)
        sys.stdin.readline()
        retries, failures = run_threads(store, f"p{worker}", threads, writes)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"retries {retries}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
