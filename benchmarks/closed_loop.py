"""Closed-loop evaluation throughput per controller, and the MPC's time per decision.

Scenario: the ``snacks`` day (three announced meals, three unannounced snacks), Guardian
RT CGM (5-min samples, Breton & Kovatchev noise), Insulet pump. healthtwin runs each
controller on ``N`` patient-days in one batch (patients x seeds); the peer is simglucose
0.2.11's own closed loop (``T1DSimEnv`` + ``BBController``, one patient, same sensor and
pump, three meals), timed in the same run. Writes ``benchmarks/results/closed_loop.json``.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from healthtwin.coupling.closed_loop import CONTROLLERS, run_closed_loop
from healthtwin.coupling.glucose_scenarios import scenario
from healthtwin.physiology.patients import cohort_names, load_patients

OUT = Path(__file__).resolve().parent / "results" / "closed_loop.json"


def simglucose_day() -> float:
    """CPU seconds of one simglucose closed-loop patient-day (basal-bolus)."""
    from simglucose.actuator.pump import InsulinPump
    from simglucose.controller.basal_bolus_ctrller import BBController
    from simglucose.patient.t1dpatient import T1DPatient
    from simglucose.sensor.cgm import CGMSensor
    from simglucose.simulation.env import T1DSimEnv
    from simglucose.simulation.scenario import CustomScenario
    from simglucose.simulation.sim_engine import SimObj

    logging.getLogger("simglucose").setLevel(logging.WARNING)
    start = datetime(2026, 1, 1)
    env = T1DSimEnv(
        T1DPatient.withName("adolescent#001"),
        CGMSensor.withName("GuardianRT", seed=1),
        InsulinPump.withName("Insulet"),
        CustomScenario(start_time=start, scenario=[(7, 50), (12.5, 70), (19, 80)]),
    )
    sim = SimObj(env, BBController(), timedelta(days=1), animate=False)
    t0 = time.process_time()
    sim.simulate()
    return time.process_time() - t0


def main(quick: bool = False) -> dict[str, Any]:
    names = list(cohort_names())[: 6 if quick else 30]
    rows = load_patients(names)
    day = scenario("snacks")
    peer_cpu = simglucose_day()
    result: dict[str, Any] = {
        "scenario": "snacks, Guardian RT CGM, Insulet pump, 1 day",
        "patients": len(names),
        "simglucose_bb_patient_days_per_cpu_s": round(1.0 / peer_cpu, 3),
        "controllers": {},
    }
    for name in CONTROLLERS:
        t0 = time.process_time()
        run = run_closed_loop(name, rows, day, days=1, seeds=(0,))
        cpu = time.process_time() - t0
        rate = len(names) / cpu
        entry = {
            "cpu_s": round(cpu, 2),
            "patient_days_per_cpu_s": round(rate, 3),
            "ratio_vs_simglucose_bb": round(rate * peer_cpu, 1),
        }
        if name == "mpc":
            decisions = run.t_min.size  # one batched decision for all patients per sample
            entry["cpu_ms_per_batched_decision"] = round(1000 * cpu / decisions, 1)
            entry["cpu_ms_per_patient_decision"] = round(1000 * cpu / decisions / len(names), 2)
        result["controllers"][name] = entry
        print(name, entry, flush=True)
    if not quick:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result
