"""Circulation throughput: simulated heart beats per CPU-second (Smith et al. 2004).

Full resolution integrates every beat at 1 ms (RK4); the multi-rate path integrates beats
only until they reach their periodic orbit and holds the beat-averaged outputs over the
rest of each output step. Writes ``benchmarks/results/circulation.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.physiology.circulation.smith2004 import SmithCVS

OUT = Path(__file__).resolve().parent / "results" / "circulation.json"
BEATS_PER_MIN = 80.0


def run(n: int, resolution: str, minutes: float, dt_out: float) -> tuple[float, float]:
    """Wall and CPU seconds to simulate ``n`` members for ``minutes``."""
    model = SmithCVS(resolution=resolution)
    rng = np.random.default_rng(0)
    state = model.initial_state(n, rng)
    model.advance(state, 0.0, dt_out, Inputs(), rng)  # compile outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    t = 0.0
    while t < minutes - 1e-9:
        state = model.advance(state, t, t + dt_out, Inputs(), rng)
        t += dt_out
    return time.perf_counter() - wall, time.process_time() - cpu


def main(quick: bool = False) -> dict[str, Any]:
    cases = [
        ("full", 1, 2.0 if quick else 5.0, 1.0),
        ("full", 100, 0.5 if quick else 2.0, 0.5),
        ("multirate", 1, 60.0 if quick else 24 * 60.0, 5.0),
        ("multirate", 100, 60.0 if quick else 24 * 60.0, 5.0),
    ]
    results: dict[str, Any] = {"model": "cvs-smith (Smith et al. 2004), 80 bpm", "runs": []}
    for resolution, n, minutes, dt_out in cases:
        wall, cpu = run(n, resolution, minutes, dt_out)
        beats = n * minutes * BEATS_PER_MIN
        entry = {
            "resolution": resolution,
            "members": n,
            "patient_minutes": minutes,
            "wall_s": wall,
            "cpu_s": cpu,
            "beats_per_cpu_s": beats / cpu,
            "patient_hours_per_cpu_s": n * minutes / 60.0 / cpu,
        }
        results["runs"].append(entry)
        print(
            f"{resolution:9s} n={n:4d} {minutes:7.1f} min  {beats / cpu:12,.0f} beats/CPU-s  "
            f"{n * minutes / 60.0 / cpu:10,.1f} patient-h/CPU-s"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")
    return results
