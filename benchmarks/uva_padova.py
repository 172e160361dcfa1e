"""UVA/Padova throughput: patient-days per CPU-second, healthtwin vs simglucose 0.2.11.

Scenario: 24 h, three meals (45, 70, 80 g at 07:00, 12:00, 18:00) with boluses at the
carb ratio, steady-state basal, 1-min step, adolescent#001 repeated N times. simglucose is
timed in the same run on the same scenario (one patient; it has no batch mode, so its
throughput does not grow with N). CPU time is process time (all threads of this process).
Writes ``benchmarks/results/uva_padova.json``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.physiology import Meal, load_patient, simulate_patients
from healthtwin.physiology.simulate import meal_plan_inputs
from healthtwin.physiology.uva_padova import UvaPadova

MEALS = [Meal(420, 45), Meal(720, 70), Meal(1080, 80)]
OUT = Path(__file__).resolve().parent / "results" / "uva_padova.json"


def _timed(fn: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def healthtwin_run(n: int, backend: str, record: bool) -> tuple[float, float]:
    """Wall and CPU seconds for one 24-h run of ``n`` patients."""
    patient = load_patient("adolescent#001")
    if record:  # the CLI's path: every state of every minute kept
        return _timed(
            lambda: simulate_patients([patient] * n, MEALS, bolus_cr=True, backend=backend)
        )
    model = UvaPadova([patient], backend=backend)
    state = model.initial_state(n, np.random.default_rng(0))
    inputs = meal_plan_inputs(
        MEALS, np.full(n, patient.basal_u_per_min), np.full(n, patient.carb_ratio_g_per_u)
    )
    return _timed(lambda: model.advance(state, 0.0, 1440.0, inputs, np.random.default_rng(0)))


def simglucose_run() -> tuple[float, float]:
    """Wall and CPU seconds for simglucose's T1DPatient over the same day."""
    from simglucose.patient.t1dpatient import Action, T1DPatient

    logging.getLogger("simglucose").setLevel(logging.WARNING)
    patient = T1DPatient.withName("adolescent#001")
    ours = load_patient("adolescent#001")
    basal, cr = ours.basal_u_per_min, ours.carb_ratio_g_per_u
    meals = {int(m.t_min): m.carbs_g for m in MEALS}

    def day() -> None:
        for k in range(1440):
            carbs = meals.get(k, 0.0)
            patient.step(Action(CHO=carbs, insulin=basal + carbs / cr))

    return _timed(day)


def main(quick: bool = False) -> dict[str, Any]:
    sizes = [1, 100, 1000] if quick else [1, 100, 10_000]
    sim_wall, sim_cpu = simglucose_run()
    sim_rate = 1.0 / sim_cpu
    results: dict[str, Any] = {
        "scenario": "adolescent#001, 24 h, 3 meals + boluses at CR, steady basal, 1-min RK4",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "simglucose": {
            "version": "0.2.11",
            "patients": 1,
            "wall_s": sim_wall,
            "cpu_s": sim_cpu,
            "patient_days_per_cpu_s": sim_rate,
        },
        "healthtwin": [],
    }
    backends = ["numpy"]
    try:
        import numba  # noqa: F401

        healthtwin_run(2, "numba", record=False)  # compile outside the timing
        backends.append("numba")
    except ImportError:
        pass
    for backend in backends:
        for n in sizes:
            for record in (False, True):
                if record and n > 1000:
                    continue  # every state of every minute: 1.5 GB at N = 10,000
                wall, cpu = healthtwin_run(n, backend, record)
                rate = n / cpu
                results["healthtwin"].append(
                    {
                        "backend": backend,
                        "patients": n,
                        "records_every_minute": record,
                        "wall_s": wall,
                        "cpu_s": cpu,
                        "patient_days_per_cpu_s": rate,
                        "patient_days_per_wall_s": n / wall,
                        "ratio_vs_simglucose": rate / sim_rate,
                    }
                )
                print(
                    f"{backend:6s} N={n:6d} record={record!s:5s} wall {wall:8.3f} s  "
                    f"{rate:10.1f} patient-days/CPU-s  x{rate / sim_rate:,.0f} simglucose"
                )
    print(f"simglucose 1 patient-day: wall {sim_wall:.2f} s, {sim_rate:.3f} patient-days/CPU-s")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")
    return results
