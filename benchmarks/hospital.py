"""Patients per CPU-second for an ED -> ward -> ICU network with blocking.

The same model (Poisson arrivals 8/h, ED 12 cubicles exp(1 h), 30 % to a 25-bed ward
exp(7 h), 10 % of those to a 3-bed ICU exp(10 h), type I blocking) runs on our fast engine
(hand-written heap event loop over pre-drawn, vectorized patients), on our SimPy engine
(the same draws and rules as SimPy processes and PriorityResources) and on Ciw, in the same
run. ``ratio_vs_simpy`` = our patients per CPU-s / SimPy's (target >= 5). Run with
``python -m benchmarks.hospital [--quick]``; writes ``benchmarks/results/hospital.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from healthtwin.hospital import HospitalConfig, simulate

OUT = Path(__file__).resolve().parent / "results" / "hospital.json"
LAMBDA, BEDS, MEANS, TO_WARD, TO_ICU = 8.0, (12, 25, 3), (1.0, 7.0, 10.0), 0.3, 0.1


def config() -> HospitalConfig:
    kinds, names = ("ed", "ward", "icu"), ("ed", "ward", "icu")
    units = {n: {"kind": k, "beds": b, "los_hours": {"dist": "exponential", "mean": m}}
             for n, k, b, m in zip(names, kinds, BEDS, MEANS, strict=True)}  # fmt: skip
    return HospitalConfig.model_validate({
        "units": units,
        "arrivals": [{"unit": "ed", "rate_per_hour": LAMBDA}],
        "pathways": {"ed": {"ward": TO_WARD, "discharge": 1 - TO_WARD},
                     "ward": {"icu": TO_ICU, "discharge": 1 - TO_ICU},
                     "icu": {"discharge": 1.0}}})  # fmt: skip


def ours(engine: str, hours: float) -> tuple[float, float]:
    start = time.process_time()
    r = simulate(config(), days=hours / 24, replications=1, seed=0, engine=engine)  # type: ignore[arg-type]
    cpu = time.process_time() - start
    return float(r.values("patients.arrived")[0]), cpu


def ciw_run(hours: float) -> tuple[float, float]:
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAMBDA), None, None],
        service_distributions=[ciw.dists.Exponential(rate=1 / m) for m in MEANS],
        routing=[[0.0, TO_WARD, 0.0], [0.0, 0.0, TO_ICU], [0.0, 0.0, 0.0]],
        number_of_servers=list(BEDS),
        queue_capacities=[float("inf"), 0, 0],
    )
    ciw.seed(0)
    start = time.process_time()
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(hours)
    cpu = time.process_time() - start
    patients = sum(1 for x in sim.get_all_records() if x.node == 1)
    return float(patients), cpu


def main(quick: bool = False) -> dict[str, Any]:
    hours = 5_000.0 if quick else 50_000.0
    rows = {}
    runs = {
        "fast": lambda: ours("fast", hours),
        "simpy": lambda: ours("simpy", hours),
        "ciw": lambda: ciw_run(hours),
    }
    for name, run in runs.items():
        patients, cpu = run()
        rows[name] = {"patients": patients, "cpu_s": round(cpu, 3),
                      "patients_per_cpu_s": round(patients / cpu)}  # fmt: skip
    fast = rows["fast"]["patients_per_cpu_s"]
    result = {
        "benchmark": "hospital ED -> ward -> ICU network, patients per CPU-second",
        "hours": hours,
        "python": platform.python_version(),
        "engines": rows,
        "ratio_vs_simpy": round(fast / rows["simpy"]["patients_per_cpu_s"], 2),
        "ratio_vs_ciw": round(fast / rows["ciw"]["patients_per_cpu_s"], 2),
        "target_ratio_vs_simpy": 5.0,
    }
    if not quick:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hospital")
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
