"""Evaluate glucose controllers side by side: cohort x scenarios x seeds, paired.

Every controller runs on the same patients, days and seeds (common random numbers), so
outcomes pair up by patient and seed; :func:`~healthtwin.control.comparison.paired_difference`
turns each pair of controllers into a mean difference with its interval.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.control.comparison import PairedDifference, paired_difference
from healthtwin.core.types import FloatArray
from healthtwin.coupling.closed_loop import ClosedLoopResult, run_closed_loop
from healthtwin.coupling.glucose_scenarios import GlucoseScenario
from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.uva_padova import UvaPadovaPatient

__all__ = ["METRICS", "Evaluation", "evaluate_controllers"]

#: Reported metric -> (label, higher is better).
METRICS: dict[str, tuple[str, bool]] = {
    "tir_70_180": ("TIR 70-180 %", True),
    "tbr_70": ("TBR <70 %", False),
    "tbr_54": ("TBR <54 %", False),
    "tar_180": ("TAR >180 %", False),
    "cv": ("CV %", False),
    "lbgi": ("LBGI", False),
    "hbgi": ("HBGI", False),
    "gri": ("GRI", False),
    "insulin_u_per_day": ("insulin U/day", False),
}


@dataclass(frozen=True)
class Evaluation:
    """Runs per (scenario, controller), their metrics and CPU time."""

    controllers: tuple[str, ...]
    scenarios: tuple[str, ...]
    patients: tuple[str, ...]
    seeds: tuple[int, ...]
    days: int
    runs: dict[tuple[str, str], ClosedLoopResult]
    cpu_s: dict[tuple[str, str], float]

    def metric(self, scenario: str, controller: str, name: str) -> FloatArray:
        """One metric per patient and seed, ``(patients, seeds)``."""
        run = self.runs[(scenario, controller)]
        values = (
            run.total_insulin_u / self.days
            if name == "insulin_u_per_day"
            else np.asarray(run.metrics().to_dict()[name], dtype=np.float64)
        )
        return np.asarray(values, dtype=np.float64).reshape(len(self.patients), len(self.seeds))

    def table(self, scenario: str) -> dict[str, dict[str, tuple[float, float]]]:
        """Controller -> metric -> (mean, SD over patient-runs)."""
        return {
            c: {
                m: (
                    float(self.metric(scenario, c, m).mean()),
                    float(self.metric(scenario, c, m).std(ddof=1))
                    if self.metric(scenario, c, m).size > 1
                    else 0.0,
                )
                for m in METRICS
            }
            for c in self.controllers
        }

    def versus(self, scenario: str, baseline: str, other: str, name: str) -> PairedDifference:
        """``other - baseline`` for one metric, paired by patient and seed."""
        return paired_difference(
            self.metric(scenario, baseline, name), self.metric(scenario, other, name)
        )

    def patient_days_per_cpu_s(self, scenario: str, controller: str) -> float:
        """Closed-loop throughput of one controller in one scenario."""
        days = len(self.patients) * len(self.seeds) * self.days
        return days / max(self.cpu_s[(scenario, controller)], 1e-9)


def evaluate_controllers(
    controllers: Sequence[str],
    patients: Sequence[UvaPadovaPatient],
    scenarios: Sequence[GlucoseScenario],
    *,
    days: int = 3,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> Evaluation:
    """Run every controller on every scenario for the cohort and seeds."""
    if not controllers or not scenarios:
        raise InvalidParameterError("give at least one controller and one scenario")
    if len(set(controllers)) != len(controllers):
        raise InvalidParameterError(f"controllers repeat: {list(controllers)}")
    runs: dict[tuple[str, str], ClosedLoopResult] = {}
    cpu: dict[tuple[str, str], float] = {}
    for sc in scenarios:
        for name in controllers:
            start = time.process_time()
            runs[(sc.name, name)] = run_closed_loop(name, patients, sc, days=days, seeds=seeds)
            cpu[(sc.name, name)] = time.process_time() - start
    return Evaluation(
        tuple(controllers),
        tuple(s.name for s in scenarios),
        tuple(p.name for p in patients),
        tuple(int(s) for s in seeds),
        days,
        runs,
        cpu,
    )
