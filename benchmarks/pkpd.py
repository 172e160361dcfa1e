"""PK/PD throughput: virtual patient-hours per CPU-second, healthtwin vs the oracle.

Scenario: Schnider propofol, 10,000 virtual patients with random covariates (20-80 yr,
50-100 kg, 155-195 cm, male), a 140 mg bolus, 10 mg/min for 3 h then 5 mg/min for 1 h,
outputs every minute for 4 h. python-anesthesia-simulator 1.0.0 (the test oracle, GPL,
never imported by the package) is timed in the same run on the same scenario for a few
patients, one at a time (it has no batch mode), at its 1-s zero-order-hold step.
Writes ``benchmarks/results/pkpd.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.linalg

from healthtwin.physiology.pkpd import Covariates, DoseRecord, make_pkpd_model

OUT = Path(__file__).resolve().parent / "results" / "pkpd.json"
HOURS = 4


def healthtwin_run(n: int) -> tuple[float, float]:
    """Wall and CPU seconds for ``n`` patients over 4 h, outputs every minute."""
    rng = np.random.default_rng(1)
    cov = Covariates(
        age_yr=rng.uniform(20, 80, n),
        weight_kg=rng.uniform(50, 100, n),
        height_cm=rng.uniform(155, 195, n),
        sex="male",
    )
    model = make_pkpd_model("pk-schnider", cov)
    plan = model.inputs_from_records(
        [
            DoseRecord(0.0, amt=140.0),
            DoseRecord(1.0, amt=1800.0, rate=10.0),
            DoseRecord(181.0, amt=300.0, rate=5.0),
        ]
    )
    state = model.initial_state(n, rng)
    wall, cpu = time.perf_counter(), time.process_time()
    for k in range(HOURS * 60):
        state = model.advance(state, float(k), float(k + 1), plan, rng)
        model.observe(state)
    return time.perf_counter() - wall, time.process_time() - cpu


def oracle_run(n: int) -> tuple[float, float] | None:
    """Wall and CPU seconds for ``n`` patients with python-anesthesia-simulator, or None."""
    sys.modules.setdefault("numpy.linalg.linalg", numpy.linalg)  # control 0.9.4 on NumPy 2
    try:
        from python_anesthesia_simulator import pk_models
    except ImportError:
        return None
    rng = np.random.default_rng(1)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        age, weight, height = rng.uniform(20, 80), rng.uniform(50, 100), rng.uniform(155, 195)
        lbm = 1.1 * weight - 128 * (weight / height) ** 2
        pk = pk_models.CompartmentModel(
            [age, height, weight, 1], lbm, drug="Propofol", model="Schnider", ts=1
        )
        t_s = np.arange(HOURS * 3600)
        u = np.where(t_s < 60, 0.0, np.where(t_s < 181 * 60, 10.0 / 60, 5.0 / 60))
        x0 = np.zeros(len(pk.A_init))
        x0[0] = 140.0 / pk.v1
        pk.full_sim(u, x0)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(quick: bool = False) -> dict[str, Any]:
    sizes = [1, 100, 1000] if quick else [1, 100, 10_000]
    results: dict[str, Any] = {
        "scenario": __doc__.split("\n\n")[1].replace("\n", " "),
        "healthtwin": [],
        "oracle": None,
    }
    oracle = oracle_run(3)
    oracle_rate = None
    if oracle is not None:
        oracle_rate = 3 * HOURS / oracle[1]
        results["oracle"] = {
            "package": "python-anesthesia-simulator 1.0.0",
            "patients": 3,
            "wall_s": oracle[0],
            "cpu_s": oracle[1],
            "patient_hours_per_cpu_s": oracle_rate,
        }
        print(f"oracle 3 patients: {oracle_rate:,.1f} patient-hours/CPU-s")
    for n in sizes:
        wall, cpu = healthtwin_run(n)
        rate = n * HOURS / cpu
        entry = {
            "patients": n,
            "wall_s": wall,
            "cpu_s": cpu,
            "patient_hours_per_cpu_s": rate,
            "ratio_vs_oracle": None if oracle_rate is None else rate / oracle_rate,
        }
        results["healthtwin"].append(entry)
        ratio = "" if oracle_rate is None else f"  x{rate / oracle_rate:,.0f} oracle"
        print(f"pk-schnider N={n:6d} wall {wall:7.3f} s  {rate:12,.0f} patient-hours/CPU-s{ratio}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")
    return results
