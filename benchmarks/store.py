"""Store throughput: ingesting observations, and finding one patient's last day of CGM.

Ingest: ``N_INGEST`` CGM observations (100 patients, one reading every 5 min) go into a
fresh, migrated database through :meth:`Store.add_observations` (records built beforehand,
not timed), on SQLite (a file, WAL) and on PostgreSQL. The peers turn the same records into
rows (all 12 columns, no checks; timed) and write them into the same schema in the same
run: the naive way, one ``INSERT`` per row in one transaction (stdlib ``sqlite3``
``execute`` in a loop; psycopg ``execute`` in a loop), and the plain bulk driver call
(``sqlite3.executemany``; psycopg ``executemany``, which pipelines). ``ratio_vs_*`` = our
rows per second / the peer's.

Search: a table of ``N_SEARCH`` observations (1,000 patients, CGM every 5 min, generated
inside the database in primary-key and index order) is queried for one patient's last
24 h of CGM (288 readings) through :meth:`Store.observations`; the median of
``REPEATS`` queries is compared with the same SQL through the bare driver (the cost of
building :class:`ObservationRecord` objects).

PostgreSQL is ``HEALTHTWIN_POSTGRES_URL`` (a role that may create databases) or a
throwaway server started from the Debian binaries (``tests/store/postgres_cluster.py``).
Run with ``python -m benchmarks.store [--quick]``; writes ``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.postgres import postgres_databases
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.store import Store, open_store

OUT = Path(__file__).resolve().parent / "results" / "store.json"
CGM = Coding(system="http://loinc.org", code="105272-9", display="Glucose in ISF")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
REPEATS = 50
COLUMNS = (
    "id, patient_id, code_system, code, code_display, effective, value, unit, status, category, "
    "encounter_id, components"
)


def cgm_records(n: int, n_patients: int) -> list[ObservationRecord]:
    """``n`` CGM readings spread over ``n_patients``, one every 5 min for each."""
    return [
        ObservationRecord(
            id=f"obs-{i:09d}", patient_id=f"p{i % n_patients:04d}", code=CGM,
            effective=T0 + (i // n_patients) * STEP, value=5.0 + (i % 97) / 10, unit="mmol/L",
        )
        for i in range(n)
    ]  # fmt: skip


def plain_rows(records: list[ObservationRecord], sqlite: bool) -> list[tuple[Any, ...]]:
    """The peers' conversion of records to rows: every column, no checks (timed with them)."""

    def when(r: ObservationRecord) -> Any:
        if sqlite:
            return r.effective.replace(tzinfo=None).isoformat(" ", "microseconds")
        return r.effective

    return [
        (
            r.id, r.patient_id, r.code.system, r.code.code, r.code.display, when(r), r.value,
            r.unit, r.status, r.category, r.encounter_id,
            json.dumps([vars(c) for c in r.components], default=vars) if r.components else None,
        )
        for r in records
    ]  # fmt: skip


def _timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _ingest_sqlite(records: list[ObservationRecord], folder: Path) -> dict[str, Any]:
    n = len(records)
    rates: dict[str, float] = {}
    with open_store(f"sqlite:///{folder / 'ours.sqlite'}") as store:
        rates["healthtwin"] = n / _timed(lambda: store.add_observations(records))
    insert = f"INSERT INTO observations ({COLUMNS}) VALUES ({', '.join(['?'] * 12)})"
    for peer in ("row_by_row", "executemany"):
        path = folder / f"{peer}.sqlite"
        open_store(f"sqlite:///{path}").close()  # the same migrated schema and indexes
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")

        def write(connection: sqlite3.Connection = connection, peer: str = peer) -> None:
            rows = plain_rows(records, sqlite=True)
            connection.execute("BEGIN")
            if peer == "executemany":
                connection.executemany(insert, rows)
            else:
                for row in rows:
                    connection.execute(insert, row)
            connection.execute("COMMIT")

        rates[peer] = n / _timed(write)
        connection.close()
    return _ingest_summary(n, rates)


def _ingest_postgres(records: list[ObservationRecord], fresh: Callable[[], str]) -> dict[str, Any]:
    import psycopg

    n = len(records)
    rates: dict[str, float] = {}
    with open_store(fresh()) as store:
        rates["healthtwin"] = n / _timed(lambda: store.add_observations(records))
    insert = f"INSERT INTO observations ({COLUMNS}) VALUES ({', '.join(['%s'] * 12)})"
    for peer in ("row_by_row", "executemany"):
        url = fresh()
        open_store(url).close()
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:

            def write(cursor: Any = cursor, peer: str = peer) -> None:
                rows = plain_rows(records, sqlite=False)
                if peer == "executemany":
                    cursor.executemany(insert, rows)
                else:
                    for row in rows:
                        cursor.execute(insert, row)
                cursor.connection.commit()

            rates[peer] = n / _timed(write)
    return _ingest_summary(n, rates)


def _ingest_summary(n: int, rates: dict[str, float]) -> dict[str, Any]:
    ours = rates["healthtwin"]
    return {
        "observations": n,
        "rows_per_s": {name: round(rate) for name, rate in rates.items()},
        "ratio_vs_row_by_row": round(ours / rates["row_by_row"], 2),
        "ratio_vs_executemany": round(ours / rates["executemany"], 2),
    }


# Rows n = 0..N-1 in id order: patient n // per_patient, reading n % per_patient.
_SQLITE_FILL = """
WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < :total)
INSERT INTO observations (id, patient_id, code_system, code, code_display, effective, value,
                          unit, status)
SELECT printf('obs-%010d', n), printf('p%04d', n / :per_patient), 'http://loinc.org',
       '105272-9', NULL,
       strftime('%Y-%m-%d %H:%M:%S', '2024-01-01', '+' || ((n % :per_patient) * 300) || ' seconds')
         || '.000000',
       5.0 + (n % 97) / 10.0, 'mmol/L', 'final'
FROM k
"""
_POSTGRES_FILL = """
INSERT INTO observations (id, patient_id, code_system, code, effective, value, unit, status)
SELECT format('obs-%s', lpad(n::text, 10, '0')),
       format('p%s', lpad((n / :per_patient)::text, 4, '0')), 'http://loinc.org', '105272-9',
       timestamptz '2024-01-01 00:00:00+00' + (n % :per_patient) * interval '5 minutes',
       5.0 + (n % 97) / 10.0, 'mmol/L', 'final'
FROM generate_series(0, :total - 1) AS n
"""


def _search(store: Store, total: int, n_patients: int) -> dict[str, Any]:
    per_patient = total // n_patients
    fill = _SQLITE_FILL if store.backend == "sqlite" else _POSTGRES_FILL
    with store.engine.begin() as connection:
        build_s = _timed(
            lambda: connection.execute(
                text(fill), {"total": per_patient * n_patients, "per_patient": per_patient}
            )
        )
    with store.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    patient = f"p{n_patients // 2:04d}"
    end = T0 + per_patient * STEP
    start = end - timedelta(hours=24)
    ours = [
        _timed(lambda: store.observations(patient, CGM, start=start, end=end))
        for _ in range(REPEATS)
    ]
    found = len(store.observations(patient, CGM, start=start, end=end))
    raw = _raw_latencies(store, patient, start, end)
    return {
        "observations": per_patient * n_patients,
        "patients": n_patients,
        "build_s": round(build_s, 1),
        "rows_returned": found,
        "median_ms": round(1000 * statistics.median(ours), 3),
        "bare_driver_median_ms": round(1000 * statistics.median(raw), 3),
        "ratio_vs_bare_driver": round(statistics.median(ours) / statistics.median(raw), 2),
    }


def _raw_latencies(store: Store, patient: str, start: datetime, end: datetime) -> list[float]:
    sqlite = store.backend == "sqlite"
    mark = "?" if sqlite else "%s"
    query = (
        f"SELECT * FROM observations WHERE patient_id = {mark} AND code = {mark} "
        f"AND effective >= {mark} AND effective < {mark} ORDER BY effective, id"
    )
    if sqlite:
        bounds: tuple[Any, ...] = tuple(
            t.replace(tzinfo=None).isoformat(" ", "microseconds") for t in (start, end)
        )
    else:
        bounds = (start, end)
    with store.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

        def fetch() -> list[Any]:
            cursor.execute(query, (patient, CGM.code, *bounds))
            return list(cursor.fetchall())

        latencies = [_timed(fetch) for _ in range(REPEATS)]
        assert len(fetch()) == 288
        cursor.close()
    return latencies


def _measure(quick: bool) -> dict[str, Any]:
    n_ingest = 20_000 if quick else 100_000
    n_search = 1_000_000 if quick else 10_000_000
    records = cgm_records(n_ingest, n_patients=100)
    result: dict[str, Any] = {
        "scenario": (
            "CGM observations; ingest through Store.add_observations vs naive and executemany "
            "driver peers; search = one patient's last 24 h of CGM, median of "
            f"{REPEATS} queries"
        ),
        "quick": quick,
    }
    with tempfile.TemporaryDirectory() as folder:
        result["sqlite_ingest"] = _ingest_sqlite(records, Path(folder))
        with open_store(f"sqlite:///{Path(folder) / 'search.sqlite'}") as store:
            result["sqlite_search"] = _search(store, n_search, n_patients=1000)
    with postgres_databases() as fresh:
        if fresh is None:
            result["postgresql"] = "skipped: no HEALTHTWIN_POSTGRES_URL and no server binaries"
        else:
            result["postgresql_ingest"] = _ingest_postgres(records, fresh)
            with open_store(fresh()) as store:
                result["postgresql_search"] = _search(store, n_search, n_patients=1000)
    return result


def main(quick: bool = False) -> dict[str, Any]:
    result = _measure(quick)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store")
    parser.add_argument("--quick", action="store_true", help="20,000 ingest, 10^6 search")
    main(quick=parser.parse_args().quick)
