"""Regenerate ``simglucose_reference.csv.gz``: simglucose 0.2.11 glucose traces.

All 30 virtual patients, 24 h from their initial states, meals announced at 07:00 (45 g),
12:00 (70 g) and 18:00 (80 g), a fixed basal of 0.0139 U/min, driven minute by minute
through ``T1DPatient.step`` (simglucose's own dopri5 integration). Columns: ``patient``,
``t_min``, ``glucose_mg_dl`` (subcutaneous glucose ``x[12] / Vg``, 4 decimals).

Run: python tests/data/make_simglucose_reference.py  (needs healthtwin[simglucose])
"""

from __future__ import annotations

import csv
import gzip
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MEALS = {420: 45.0, 720: 70.0, 1080: 80.0}
BASAL_U_PER_MIN = 0.0139
MINUTES = 1440
OUT = Path(__file__).with_name("simglucose_reference.csv.gz")


def trace(name: str) -> list[float]:
    from simglucose.patient.t1dpatient import Action, T1DPatient

    logging.getLogger("simglucose").setLevel(logging.WARNING)
    patient = T1DPatient.withName(name)
    glucose = [float(patient.observation.Gsub)]
    for k in range(MINUTES):
        patient.step(Action(CHO=MEALS.get(k, 0.0), insulin=BASAL_U_PER_MIN))
        glucose.append(float(patient.observation.Gsub))
    return glucose


def main() -> None:
    names = [f"{g}#{i:03d}" for g in ("adolescent", "adult", "child") for i in range(1, 11)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        traces = list(pool.map(trace, names))
    with gzip.open(OUT, "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "t_min", "glucose_mg_dl"])
        for name, glucose in zip(names, traces, strict=True):
            for k, g in enumerate(glucose):
                writer.writerow([name, k, f"{g:.4f}"])


if __name__ == "__main__":
    main()
