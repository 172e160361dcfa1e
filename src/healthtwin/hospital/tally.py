"""Output accumulators shared by both engines, and the clinical-course hook.

Time averages (occupancy, patients in the hospital) integrate piecewise-constant counts;
everything is reset at the end of the warm-up so that metrics cover ``[warmup, horizon]``,
while the patient totals used for conservation checks cover the whole run.
"""

from __future__ import annotations

import math

import numpy as np

from healthtwin.hospital.course import ClinicalCourse, Patient, plan_visit
from healthtwin.hospital.model import DEATH, CompiledModel, PatientDraws

__all__ = ["CourseHook", "Tally"]


class Tally:
    """Counters and time integrals of one replication."""

    def __init__(self, model: CompiledModel) -> None:
        n = len(model.names)
        self.model = model
        self.occ = [0] * n
        self.area = [0.0] * n
        self.last = [0.0] * n
        self.wait_sum = [0.0] * n
        self.wait_n = [0] * n
        self.wait_pos = [0] * n
        self.in_system = 0
        self.system_area = 0.0
        self.system_last = 0.0
        self.totals = {"arrived": 0, "discharged": 0, "died": 0, "refused": 0}
        self.window_start = 0.0
        self._zero_counts()

    def _zero_counts(self) -> None:
        self.ed_n = self.ed_4h = self.ed_12h = 0
        self.boarding = self.observations = self.sojourn_sum = 0.0
        self.refused = self.arrived = self.discharged = self.died = self.sojourn_n = 0
        self.deteriorations = self.late = 0

    def bed(self, unit: int, now: float, delta: int) -> None:
        """A bed in ``unit`` was taken (+1) or freed (-1) at ``now``."""
        self.area[unit] += self.occ[unit] * (now - self.last[unit])
        self.last[unit] = now
        self.occ[unit] += delta

    def system(self, now: float, delta: int) -> None:
        """A patient entered (+1) or left (-1) the hospital at ``now``."""
        self.system_area += self.in_system * (now - self.system_last)
        self.system_last = now
        self.in_system += delta

    def waited(self, unit: int, hours: float) -> None:
        self.wait_sum[unit] += hours
        self.wait_n[unit] += 1
        self.wait_pos[unit] += hours > 0

    def left_ed(self, hours_in_ed: float, boarding_hours: float) -> None:
        targets = self.model.config.ed_targets_hours
        self.ed_n += 1
        self.ed_4h += hours_in_ed > targets[0]
        self.ed_12h += hours_in_ed > targets[1]
        self.boarding += boarding_hours

    def departed(self, now: float, origin: float, exit_code: int) -> None:
        self.system(now, -1)
        self.sojourn_sum += now - origin
        self.sojourn_n += 1
        if exit_code == DEATH:
            self.died += 1
            self.totals["died"] += 1
        else:
            self.discharged += 1
            self.totals["discharged"] += 1

    def reset(self, now: float) -> None:
        """Start the measurement window at ``now`` (end of warm-up)."""
        for u in range(len(self.occ)):
            self.bed(u, now, 0)
            self.area[u] = 0.0
            self.wait_sum[u] = 0.0
            self.wait_n[u] = 0
            self.wait_pos[u] = 0
        self.system(now, 0)
        self.system_area = 0.0
        self._zero_counts()
        self.window_start = now

    def metrics(self, horizon: float) -> dict[str, float]:
        """Metrics over ``[window_start, horizon]`` (names as in the simulation contract)."""
        for u in range(len(self.occ)):
            self.bed(u, horizon, 0)
        self.system(horizon, 0)
        hours = horizon - self.window_start
        days = hours / 24.0
        nan = math.nan
        out: dict[str, float] = {
            "ed_4h_breach": self.ed_4h / self.ed_n if self.ed_n else nan,
            "ed_12h_breach": self.ed_12h / self.ed_n if self.ed_n else nan,
        }
        for u, name in enumerate(self.model.names):
            n = self.wait_n[u]
            out[f"wait_hours.{name}"] = self.wait_sum[u] / n if n else nan
            out[f"waited_fraction.{name}"] = self.wait_pos[u] / n if n else nan
            beds = self.model.beds[u]
            out[f"occupancy.{name}"] = self.area[u] / (hours * beds) if beds else nan
        shifts = self.model.nurse_shifts_per_day
        out |= {
            "refusals": self.refused / days,
            "boarding_hours": self.boarding / days,
            "deteriorations": self.deteriorations / days,
            "deteriorations_caught_late": self.late / days,
            "nurse_observations": self.observations / days,
            "observations_per_nurse_shift": self.observations / days / shifts if shifts else nan,
            "throughput": self.discharged / days,
            "deaths": self.died / days,
            "arrivals": self.arrived / days,
            "in_system": self.system_area / hours,
            "sojourn_hours": self.sojourn_sum / self.sojourn_n if self.sojourn_n else nan,
        }
        for key, value in self.totals.items():
            out[f"patients.{key}"] = float(value)
        out["patients.in_system"] = float(self.in_system)
        return out


class CourseHook:
    """Re-plans a visit from a :class:`ClinicalCourse` when the patient gets the bed.

    Overwrites the visit's stay, deteriorations and observations in (copies of) the draws,
    and the next step of the route: ``fit_for_discharge`` follows the pathway,
    ``step_down`` goes to the step-down unit, ``death`` leaves.
    """

    def __init__(
        self,
        model: CompiledModel,
        draws: PatientDraws,
        course: ClinicalCourse,
        rng: np.random.Generator,
    ) -> None:
        self.model, self.draws, self.course, self.rng = model, draws, course, rng
        self.los = list(draws.los_hours)
        self.path = list(draws.path)
        self.det = list(draws.deteriorations)
        self.late = list(draws.caught_late)
        self.obs = list(draws.observations)
        self.patients: dict[int, Patient] = {}

    def admit(self, p: int, k: int, unit: int, now: float) -> None:
        """Plan visit ``k`` of patient ``p``, who got a bed in ``unit`` at ``now``."""
        m, d = self.model, self.draws
        k = min(k, d.visits - 1)
        patient = self.patients.get(p)
        if patient is None:
            patient = Patient(p, d.priority[p], m.names[unit], d.origin_hours[p], now)
            self.patients[p] = patient
        patient.unit, patient.admitted_hours, patient.stay_end_hours = m.names[unit], now, None
        safety = m.config.safety
        plan = plan_visit(
            self.course,
            patient,
            now,
            self.rng,
            fixed_interval_hours=m.obs_interval[unit],
            alert_sensitivity=safety.alert_sensitivity,
            late_window_hours=safety.late_window_hours,
        )
        i = p * d.visits + k
        self.los[i], self.det[i], self.late[i] = (
            plan.stay_hours,
            plan.deteriorations,
            plan.caught_late,
        )
        self.obs[i] = plan.observations
        if plan.end == "death":
            nxt = DEATH
        elif plan.end == "step_down" and m.step_down_unit >= 0 and m.step_down_unit != unit:
            nxt = m.step_down_unit
        else:
            nxt = m.next_unit(unit, d.priority[p], float(d.route_uniform[p, k]))
        if k + 1 >= d.visits and nxt >= 0:
            nxt = -1
        self.path[p * (d.visits + 1) + k + 1] = nxt
