"""Assimilation throughput: a 64-member EnKF patient-day, and one step for 1,000 twins.

Scenario: the identical-twin day of ``tests/validation/test_identical_twin.py`` (UVA/Padova
nominal subject with insulin sensitivity 1.4x, three meals with boluses, CGM every 5 min
with SD 8 mg/dL, 64 members estimating Vmx). healthtwin's ETKF updates all members in one
array operation; filterpy 2.0's EnsembleKalmanFilter, timed in the same run on the same
problem, advances and updates member by member (its design). filterpy runs the first
``FILTERPY_HOURS`` hours and its time is scaled to a day. Writes
``benchmarks/results/assimilation.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation, view_for
from healthtwin.core import Twin, lognormal_spread
from healthtwin.physiology import Meal, UvaPadova, load_patient, meal_plan_inputs

OUT = Path(__file__).resolve().parent / "results" / "assimilation.json"
FILTERPY_HOURS = 2
SENSOR_SD = 8.0
STATES = (
    "plasma_glucose_mg_per_kg",
    "tissue_glucose_mg_per_kg",
    "sc_glucose_mg_per_kg",
    "insulin_action_pmol_per_l",
)


def _problem() -> tuple[UvaPadova, Any, Any, np.ndarray, np.ndarray]:
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    vmx = UvaPadova.parameter_index("Vmx")
    plan = meal_plan_inputs(
        [Meal(420, 60), Meal(720, 80), Meal(1080, 70)],
        np.array([patient.basal_u_per_min]),
        np.array([patient.carb_ratio_g_per_u]),
    )
    rng = np.random.default_rng(0)
    truth = model.initial_state(1, rng)
    theta = np.array(truth.theta)
    theta[:, vmx] *= 1.4
    truth = type(truth)(
        truth.x,
        theta,
        truth.planned_meal_g,
        truth.cho_g_per_min,
        truth.meal_start_stomach_mg,
        truth.meal_eaten_g,
    )
    times = np.arange(5.0, 1441.0, 5.0)
    readings = []
    t_prev = 0.0
    for t in times:
        truth = model.advance(truth, t_prev, t, plan, rng)
        t_prev = t
        readings.append(model.observe(truth)[0, 0] + rng.normal(0, SENSOR_SD))
    prior = lognormal_spread(model.initial_state(64, rng), {vmx: 0.3}, np.random.default_rng(1))
    return model, plan, prior, times, np.array(readings)


def healthtwin_day() -> tuple[float, float]:
    model, plan, prior, times, readings = _problem()
    view = view_for(model, states=STATES, parameters={"Vmx": (1e-4, 1.0)})
    twin = Twin(
        model,
        prior,
        0.0,
        seed=0,
        standing_inputs=plan,
        assimilator=EnsembleKalmanFilter(view, inflation=1.01, rtps=0.5),
    )
    cgm = OutputObservation(model, ["glucose_mg_dl"], [SENSOR_SD])
    wall, cpu = time.perf_counter(), time.process_time()
    for t, y in zip(times, readings, strict=True):
        twin.assimilate(float(t), np.array([y]), cgm)
    return time.perf_counter() - wall, time.process_time() - cpu


def filterpy_hours(hours: int) -> tuple[float, float] | None:
    try:
        from filterpy.kalman import EnsembleKalmanFilter as FilterpyEnKF
    except ImportError:
        return None
    model, plan, prior, times, readings = _problem()
    template = prior.take([0])
    rng = np.random.default_rng(0)
    clock = {"t": 0.0}

    def fx(member: np.ndarray, dt: float) -> np.ndarray:
        state = template.from_array(member[None, :])
        nxt = model.advance(state, clock["t"], clock["t"] + dt, plan, rng)
        return np.asarray(nxt.to_array()[0])

    def hx(member: np.ndarray) -> np.ndarray:
        return np.asarray(model.observe(template.from_array(member[None, :]))[0, :1])

    flat = prior.to_array()
    enkf = FilterpyEnKF(
        x=flat.mean(axis=0), P=np.eye(flat.shape[1]), dim_z=1, dt=5.0, N=flat.shape[0], hx=hx, fx=fx
    )
    enkf.sigmas = flat.copy()
    enkf.R = np.array([[SENSOR_SD**2]])
    enkf.Q = np.zeros((flat.shape[1], flat.shape[1]))
    wall, cpu = time.perf_counter(), time.process_time()
    for t, y in zip(times[: hours * 12], readings, strict=False):
        enkf.predict()
        clock["t"] = float(t)
        enkf.update(np.array([y]))
    return time.perf_counter() - wall, time.process_time() - cpu


def step_1000_twins() -> tuple[float, float]:
    """One ETKF update (prediction of readings + analysis) for 1,000 twins x 64 members."""
    model, _, prior, _, readings = _problem()
    big = type(prior).concat([prior] * 1000)
    view = view_for(model, states=STATES, parameters={"Vmx": (1e-4, 1.0)})
    enkf = EnsembleKalmanFilter(view, members_per_twin=64)
    cgm = OutputObservation(model, ["glucose_mg_dl"], [SENSOR_SD])
    y = np.full((1000, 1), readings[0])
    wall, cpu = time.perf_counter(), time.process_time()
    enkf.update(big, y, cgm, np.random.default_rng(0))
    return time.perf_counter() - wall, time.process_time() - cpu


def main(quick: bool = False) -> dict[str, Any]:
    results: dict[str, Any] = {"scenario": "identical-twin UVA/Padova day, 64 members, ETKF"}
    wall, cpu = healthtwin_day()
    results["healthtwin_patient_day"] = {"wall_s": wall, "cpu_s": cpu, "target_cpu_s": 2.0}
    print(f"healthtwin 64-member EnKF patient-day: {cpu:.2f} CPU-s (target <= 2)")
    fp = filterpy_hours(1 if quick else FILTERPY_HOURS)
    if fp is not None:
        hours = 1 if quick else FILTERPY_HOURS
        day_cpu = fp[1] * 24 / hours
        results["filterpy"] = {
            "version": "2.0.0",
            "hours_run": hours,
            "cpu_s": fp[1],
            "patient_day_cpu_s_scaled": day_cpu,
            "ratio": day_cpu / cpu,
        }
        print(
            f"filterpy per-member loop: {day_cpu:.1f} CPU-s per patient-day "
            f"(scaled from {hours} h) -> healthtwin is x{day_cpu / cpu:,.0f}"
        )
    wall, cpu = step_1000_twins()
    results["one_step_1000_twins_x_64"] = {"wall_s": wall, "cpu_s": cpu}
    print(f"one ETKF step, 1,000 twins x 64 members: {cpu:.3f} CPU-s")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")
    return results
