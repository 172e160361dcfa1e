"""The patient twin session below ``scenarios/``: vital signs, NEWS2, records, concurrency.

NEWS2 is checked against :func:`healthtwin.physiology.scores.news2` on sets drawn around
every band limit; the range checks against :class:`healthtwin.physiology.vitals.Vitals`.
"""

from __future__ import annotations

import ast
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.physiology.scores import news2
from healthtwin.physiology.vitals import Vitals
from healthtwin.scenarios.patient_session import PatientTwinSession
from healthtwin.scenarios.patient_vitals import (
    MEASURED_RANGES,
    VITAL_CODES,
    VitalSigns,
    latest_news2,
    news2_summaries,
    vital_signs_from_rows,
    vitals_records,
)
from healthtwin.store import open_store

SRC = Path(__file__).resolve().parents[2] / "src" / "healthtwin"
CALM = {
    "respiratory_rate_per_min": 16.0,
    "spo2_percent": 98.0,
    "systolic_bp_mm_hg": 125.0,
    "heart_rate_per_min": 72.0,
    "temperature_c": 36.8,
    "consciousness": "A",
}


def _set(t_min: float = 0.0, **change: object) -> VitalSigns:
    return VitalSigns(t_min=t_min, **{**CALM, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(MEASURED_RANGES))
def test_the_ranges_agree_with_the_physiology_package(name: str) -> None:
    low, high, _inclusive, _ = MEASURED_RANGES[name]
    for value in (low - 0.5, low, low + 0.5, high - 0.5, high, high + 0.5):
        try:
            Vitals.from_arrays(**{**CALM, name: value})  # type: ignore[arg-type]
            physiology_accepts = True
        except InvalidInputError:
            physiology_accepts = False
        try:
            _set(**{name: value})
            ours_accepts = True
        except ResourceValidationError as err:
            ours_accepts = False
            [issue] = err.issues
            assert (issue.path, issue.code) == (name, "value")
            assert f"{value!r}" in issue.message
        assert ours_accepts == physiology_accepts, (name, value)


def test_news2_agrees_with_the_chart_around_every_band_limit() -> None:
    rng = np.random.default_rng(14)
    edges = {
        "respiratory_rate_per_min": [8, 9, 11, 12, 20, 21, 24, 25],
        "spo2_percent": [83, 84, 85, 86, 87, 88, 91, 92, 93, 94, 95, 96, 97],
        "systolic_bp_mm_hg": [90, 91, 100, 101, 110, 111, 219, 220],
        "heart_rate_per_min": [40, 41, 50, 51, 90, 91, 110, 111, 130, 131],
        "temperature_c": [35.0, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.1],
    }
    n = 300
    columns = {k: rng.choice(v, n).astype(float) for k, v in edges.items()}
    levels = rng.choice(list("ACVPU"), n)
    scales = rng.choice([1, 2], n)
    oxygen = rng.random(n) < 0.5
    sets = [
        VitalSigns(
            float(i), consciousness=str(levels[i]), spo2_scale=int(scales[i]),
            on_oxygen=bool(oxygen[i]), **{k: float(v[i]) for k, v in columns.items()},
        )
        for i in range(n)
    ]  # fmt: skip
    ours = news2_summaries(sets)
    reference = news2(
        Vitals.from_arrays(
            **columns, consciousness=list(levels), spo2_scale=scales, on_oxygen=oxygen
        )
    )
    assert [s["total"] for s in ours] == reference.total.tolist()
    assert [s["band"] for s in ours] == [b.label for b in reference.bands()]
    assert [s["subscores"]["spo2"] for s in ours] == reference.spo2.tolist()
    assert [s["monitoring_frequency"] for s in ours] == [
        r.monitoring_frequency for r in reference.responses()
    ]
    assert len({s["total"] for s in ours}) > 8  # the draw spans the scale


def test_every_bad_field_of_every_row_is_reported_with_its_path() -> None:
    rows = [
        {"t_min": 0, **CALM},
        {"t_min": 5, **CALM, "spo2_percent": 101, "consciousness": "sleepy"},
        {"t_min": -1, **CALM},
    ]
    with pytest.raises(ResourceValidationError) as caught:
        vital_signs_from_rows(rows, paths=["a.0", "a.1", "a.2"])
    assert [i.path for i in caught.value.issues] == [
        "a.1.spo2_percent",
        "a.1.consciousness",
        "a.2.t_min",
    ]
    with pytest.raises(InvalidInputError, match="needs t_min"):
        vital_signs_from_rows([{"t_min": 0}])


def test_records_carry_one_code_per_quantity() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 3, 1, 12, tzinfo=UTC)
    records = vitals_records("t", "p", when, _set(consciousness="pain", on_oxygen=True))
    by_code = {r.code.code: r for r in records}
    assert set(by_code) == {c.code for c, _ in VITAL_CODES.values()}
    assert by_code["67775-7"].value == 3.0
    assert by_code["on-oxygen"].value == 1.0
    assert all(r.effective == when and r.patient_id == "p" for r in records)
    assert len({r.id for r in records}) == len(records)


def test_the_session_keeps_vitals_beside_the_glucose_twin() -> None:
    session = PatientTwinSession.create("s1", members=8)
    assert session.state()["vitals"] is None
    session.record_vitals([_set(30.0, respiratory_rate_per_min=26.0), _set(0.0)])
    session.record_vitals([_set(15.0, heart_rate_per_min=115.0)])
    state = session.state()
    assert state["version"] == 2
    assert state["n_readings"] == 0
    vitals = state["vitals"]
    assert vitals["n_sets"] == 3
    assert [(p["t_min"], p["total"]) for p in vitals["news2_trend"]] == [
        (0.0, 0), (15.0, 2), (30.0, 3)
    ]  # fmt: skip
    assert vitals["latest"]["respiratory_rate_per_min"] == 26.0
    assert vitals["news2"]["any_single_3"] is True
    assert vitals["news2"]["band"] == "low-medium"
    with pytest.raises(InvalidInputError, match="ahead of the twin"):
        session.record_vitals([_set(30.0 + 3 * 24 * 60)])
    assert session.state()["vitals"]["n_sets"] == 3


def test_concurrent_writers_lose_no_set() -> None:
    session = PatientTwinSession.create("s2", members=8)
    barrier = threading.Barrier(4)

    def write(worker: int) -> None:
        barrier.wait()
        for k in range(10):
            session.record_vitals([_set(float(worker * 10 + k))])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(session.vitals) == len(session.news2) == 40
    assert session.version == 40
    assert sorted(v.t_min for v in session.vitals) == [float(i) for i in range(40)]
    assert [n["t_min"] for n in session.news2] == [v.t_min for v in session.vitals]


def test_latest_news2_reads_recorded_consciousness_and_oxygen() -> None:
    from datetime import UTC, datetime, timedelta

    with open_store("sqlite://") as store:
        session = PatientTwinSession.create("s3", members=8, start=datetime(2026, 1, 1, tzinfo=UTC))
        store.add_observations(session.record_vitals([_set(0.0)]))
        calm = latest_news2(store, "s3")
        assert (calm["total"], calm["consciousness"], calm["on_oxygen"]) == (0, "A", False)
        later = replace(_set(60.0), consciousness="C", on_oxygen=True)
        store.add_observations(session.record_vitals([later]))
        worse = latest_news2(store, "s3")
        assert (worse["total"], worse["consciousness"], worse["on_oxygen"]) == (5, "C", True)
        assert worse["time"] == (session.start + timedelta(minutes=60)).isoformat()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_session_is_plain_python_and_the_api_holds_no_domain_logic() -> None:
    for module in ("patient_session.py", "patient_vitals.py"):
        found = _imports(SRC / "scenarios" / module)
        assert not {n for n in found if n.split(".")[0] in {"fastapi", "starlette", "pydantic"}}
    allowed = {"api", "scenarios", "governance", "store", "interop", "errors", "core"}
    for module in ("twin_sessions.py", "twins.py"):
        ours = {
            n.split(".")[1] for n in _imports(SRC / "api" / module) if n.startswith("healthtwin.")
        }
        assert ours <= allowed, (module, ours - allowed)
