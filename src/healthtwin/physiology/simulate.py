"""Open-loop simulation of UVA/Padova patients: meals, basal insulin and meal boluses.

This is the patient twin's batch job: a cohort (one member per patient) is advanced on a
1-min grid and every minute is recorded, as simglucose records its results.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.protocols import Model
from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, MissingDependencyError
from healthtwin.physiology.cgm import CGMSensor
from healthtwin.physiology.pump import InsulinPump
from healthtwin.physiology.uva_padova import (
    STATE_NAMES,
    UvaPadova,
    UvaPadovaPatient,
    UvaPadovaState,
)

__all__ = [
    "MAX_HOURS",
    "CohortRun",
    "Meal",
    "meal_plan_inputs",
    "run_minutes",
    "simulate_nominal",
    "simulate_patients",
]


@dataclass(frozen=True)
class Meal:
    """An announced meal: carbohydrate ``carbs_g`` at ``t_min`` minutes after midnight."""

    t_min: float
    carbs_g: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.t_min) or self.t_min < 0:
            raise InvalidInputError(f"meal time must be >= 0 min, got {self.t_min}")
        if not np.isfinite(self.carbs_g) or self.carbs_g < 0:
            raise InvalidInputError(
                f"meal carbohydrate must be >= 0 g, got {self.carbs_g}; give grams eaten"
            )


@dataclass(frozen=True)
class CohortRun:
    """Per-minute traces of a cohort.

    Attributes
    ----------
    names
        Patient names, one per member.
    t_min
        Time grid, shape ``(T,)``.
    glucose_mg_dl
        Subcutaneous glucose, shape ``(n, T)``.
    cho_g_per_min
        Carbohydrate eaten over ``[t, t + 1)``, shape ``(n, T)``.
    insulin_u_per_min
        Insulin delivered over ``[t, t + 1)`` (basal + boluses), shape ``(n, T)``.
    states
        Every model state, shape ``(n, T, len(state_names))``.
    cgm_mg_dl
        CGM readings on the sensor's grid (NaN between readings), shape ``(n, T)``, or
        ``None`` without a sensor.
    state_names
        Names of the state columns.
    model
        Registry name of the model that produced the run.
    """

    names: tuple[str, ...]
    t_min: FloatArray
    glucose_mg_dl: FloatArray
    cho_g_per_min: FloatArray
    insulin_u_per_min: FloatArray
    states: FloatArray
    cgm_mg_dl: FloatArray | None = None
    state_names: tuple[str, ...] = STATE_NAMES
    model: str = "uva-padova"

    def write_csv(self, path: Path) -> None:
        """One row per patient and minute: ``t_min, glucose_mg_dl, cho_g_per_min,
        insulin_u_per_min``, every state by name, ``cgm_mg_dl`` (with a sensor; empty
        between readings), then ``patient``."""
        header = ["t_min", "glucose_mg_dl", "cho_g_per_min", "insulin_u_per_min", *self.state_names]
        if self.cgm_mg_dl is not None:
            header.append("cgm_mg_dl")
        header.append("patient")
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for i, name in enumerate(self.names):
                columns = [
                    self.t_min,
                    self.glucose_mg_dl[i],
                    self.cho_g_per_min[i],
                    self.insulin_u_per_min[i],
                    self.states[i],
                ]
                if self.cgm_mg_dl is not None:
                    columns.append(self.cgm_mg_dl[i])
                for row in np.column_stack(columns):
                    writer.writerow([*("" if np.isnan(v) else f"{v:.10g}" for v in row), name])

    def plot(self, path: Path) -> None:
        """Glucose traces (with the 70-180 mg/dL target band) and inputs, as a PNG."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as err:
            raise MissingDependencyError(
                "plots need matplotlib: pip install 'healthtwin[plot]'"
            ) from err
        # A figure of its own with the Agg canvas: no pyplot, no global backend switch.
        fig = Figure(figsize=(10, 7))
        FigureCanvasAgg(fig)
        ax_g, ax_c, ax_i = fig.subplots(3, 1, sharex=True, height_ratios=[3, 1, 1])
        hours = self.t_min / 60.0
        ax_g.axhspan(70, 180, color="tab:green", alpha=0.12, label="target 70-180 mg/dL")
        for i, name in enumerate(self.names):
            line = ax_g.plot(hours, self.glucose_mg_dl[i], lw=1.0, label=name if i < 10 else None)
            if self.cgm_mg_dl is not None:
                ax_g.plot(hours, self.cgm_mg_dl[i], ".", ms=2, color=line[0].get_color())
            ax_c.plot(hours, self.cho_g_per_min[i], lw=0.8)
            ax_i.plot(hours, self.insulin_u_per_min[i], lw=0.8)
        ax_g.set_ylabel("glucose (mg/dL)")
        ax_c.set_ylabel("CHO (g/min)")
        ax_i.set_ylabel("insulin (U/min)")
        ax_i.set_xlabel("time (h)")
        ax_g.legend(fontsize=7, ncol=3, loc="upper right")
        ax_g.set_title(f"{self.model}: {len(self.names)} patient(s)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)


def meal_plan_inputs(
    meals: Sequence[Meal],
    basal_u_per_min: FloatArray,
    carb_ratio_g_per_u: FloatArray | None,
    pump: InsulinPump | None = None,
) -> Inputs:
    """Inputs for a meal plan: announced meals, a basal rate and optional meal boluses.

    Boluses (``carbs / carb ratio``) are delivered as a rate over the minute the meal
    starts, as simglucose's basal-bolus controller does. With a ``pump``, the basal rate
    and each bolus are what the pump can deliver (its increments and limits).
    """
    basal = np.asarray(basal_u_per_min, dtype=np.float64).reshape(-1)
    if np.any(basal < 0) or not np.all(np.isfinite(basal)):
        raise InvalidInputError(f"basal rate must be >= 0 U/min, got {basal.tolist()}")
    if pump is not None:
        basal = pump.basal(basal)
    times = np.array([m.t_min for m in meals], dtype=np.float64)
    carbs = np.array([m.carbs_g for m in meals], dtype=np.float64)
    events = {"meal_g": Events(times, carbs)} if meals else {}
    if carb_ratio_g_per_u is None or not meals:
        return Inputs(rates={"insulin_u_per_min": Rate.constant(basal, 0.0)}, events=events)
    cr = np.asarray(carb_ratio_g_per_u, dtype=np.float64).reshape(-1, 1)
    order = np.argsort(times, kind="stable")
    times, carbs = times[order], carbs[order]
    # Each meal minute gets basal + bolus; the next minute returns to basal.
    change = np.unique(np.concatenate([[0.0], times, times + 1.0]))
    rate = np.broadcast_to(basal.reshape(-1, 1), (max(basal.size, cr.shape[0]), change.size))
    rate = rate.copy()
    for t, g in zip(times, carbs, strict=True):
        bolus_u = (g / cr).reshape(-1)
        delivered = bolus_u if pump is None else pump.bolus(bolus_u)
        # Every slot inside the bolus minute: another meal may split it.
        rate[:, (change >= t) & (change < t + 1.0)] += delivered[:, None]
    return Inputs(rates={"insulin_u_per_min": Rate(change, rate)}, events=events)


def simulate_patients(
    patients: Sequence[UvaPadovaPatient],
    meals: Sequence[Meal],
    *,
    hours: float = 24.0,
    basal_u_per_min: float | None = None,
    bolus_cr: bool = False,
    step_min: float = 1.0,
    method: str = "rk4",
    backend: str = "numpy",
    pump: InsulinPump | None = None,
    cgm: CGMSensor | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> CohortRun:
    """Simulate each patient once over ``hours``, recording every minute.

    Parameters
    ----------
    patients
        The cohort, one member each.
    meals
        Announced meals (same for every patient).
    hours
        Length of the run (> 0).
    basal_u_per_min
        Fixed basal rate for everyone, or ``None`` for each patient's steady-state basal.
    bolus_cr
        Add meal boluses at each patient's carb ratio.
    step_min, method, backend
        Solver settings (see :class:`UvaPadova`).
    pump
        Deliver basal and boluses through this pump (increments, limits).
    cgm
        Add CGM readings of subcutaneous glucose on the sensor's grid.
    seed
        Root seed of the random streams (the CGM noise is stream ``"cgm"``).
    on_progress
        Called with ``(minutes simulated, minutes in the run)`` after each hour of the
        whole cohort. With it the run advances hour by hour on the clock ticks; every
        solver interval starts on a tick, so the traces are identical to one call.

    Examples
    --------
    >>> from healthtwin.physiology.patients import load_patient
    >>> run = simulate_patients([load_patient("nominal-adult")], [Meal(60, 50)], hours=3)
    >>> run.glucose_mg_dl.shape
    (1, 181)
    >>> bool(run.glucose_mg_dl.max() > run.glucose_mg_dl[0, 0])
    True
    """
    n_min = run_minutes(hours, meals)
    model = UvaPadova(patients, step_min=step_min, method=method, backend=backend)
    streams = RandomStreams(seed)
    rng = streams.generator("patients")
    state = model.initial_state(len(patients), rng)
    basal = (
        np.array([p.basal_u_per_min for p in patients])
        if basal_u_per_min is None
        else np.full(len(patients), float(basal_u_per_min))
    )
    cr = np.array([p.carb_ratio_g_per_u for p in patients]) if bolus_cr else None
    inputs = meal_plan_inputs(meals, basal, cr, pump)
    t = np.arange(n_min + 1, dtype=np.float64)
    end, recorded = _run_recorded(model, state, n_min, inputs, on_progress)
    states = np.concatenate([state.x[:, None, :], recorded[:, :, :13]], axis=1)
    # The intake over [t, t + 1) is decided on the clock tick at t.
    # Row k reports the intake over [k, k + 1), recorded at the end of that minute.
    cho = np.concatenate([recorded[:, :, 13], np.zeros((len(patients), 1))], axis=1)
    insulin = inputs.rate("insulin_u_per_min", t, len(patients))
    vg = end.theta[:, [UvaPadova.parameter_index("Vg")]]
    glucose = states[:, :, 12] / vg
    readings = None if cgm is None else cgm_readings(t, glucose, cgm, streams)
    return CohortRun(
        tuple(p.name for p in patients), t, glucose, cho, np.array(insulin), states, readings
    )


def _run_recorded(
    model: UvaPadova,
    state: UvaPadovaState,
    n_min: int,
    inputs: Inputs,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[UvaPadovaState, FloatArray]:
    """``model.run`` over ``[0, n_min]`` recording, in hour chunks when reporting."""
    if on_progress is None:
        end, _, recorded = model.run(state, 0.0, float(n_min), inputs, record=True)
        return end, recorded
    chunks = []
    for start in range(0, n_min, 60):
        stop = min(start + 60, n_min)
        state, _, part = model.run(state, float(start), float(stop), inputs, record=True)
        chunks.append(part)
        on_progress(stop, n_min)
    return state, np.concatenate(chunks, axis=1)


def simulate_nominal(
    model: Model[Any],
    meals: Sequence[Meal],
    *,
    hours: float = 24.0,
    basal_u_per_min: float | None = None,
    cgm: CGMSensor | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> CohortRun:
    """Simulate a registered model's nominal subject, recording every minute.

    Any model with ``insulin_u_per_min`` and ``meal_g`` channels and a ``glucose_mg_dl``
    output runs here (Hovorka, Bergman); meals are given to the model at their minute.
    ``on_progress`` is called with ``(minutes simulated, minutes in the run)`` every hour
    and at the end; it only observes.

    Examples
    --------
    >>> from healthtwin.physiology.registry import make_model
    >>> run = simulate_nominal(make_model("hovorka"), [Meal(30, 50)], hours=2)
    >>> run.glucose_mg_dl.shape, bool(run.glucose_mg_dl.max() > run.glucose_mg_dl[0, 0])
    ((1, 121), True)
    """
    n_min = run_minutes(hours, meals)
    streams = RandomStreams(seed)
    rng = streams.generator("patients")
    state = model.initial_state(1, rng)
    basal = (
        basal_inputs_of(model, state)
        if basal_u_per_min is None
        else Inputs(rates={"insulin_u_per_min": Rate.constant(float(basal_u_per_min), 0.0)})
    )
    times = np.array([m.t_min for m in meals], dtype=np.float64)
    carbs = np.array([m.carbs_g for m in meals], dtype=np.float64)
    inputs = basal.merged(Inputs(events={"meal_g": Events(times, carbs)})) if meals else basal
    t = np.arange(n_min + 1, dtype=np.float64)
    states = [model.state_matrix(state)[0]]
    glucose = [model.observe(state)[0, 0]]
    for k in range(n_min):
        state = model.advance(state, t[k], t[k + 1], inputs, rng)
        states.append(model.state_matrix(state)[0])
        glucose.append(model.observe(state)[0, 0])
        if on_progress is not None and ((k + 1) % 60 == 0 or k + 1 == n_min):
            on_progress(k + 1, n_min)
    trace = np.array([glucose])
    cho = inputs.event_totals("meal_g", t, t + 1.0, 1)
    insulin = inputs.rate("insulin_u_per_min", t, 1)
    return CohortRun(
        ("nominal",),
        t,
        trace,
        cho,
        np.array(insulin),
        np.array([states]),
        cgm_mg_dl=None if cgm is None else cgm_readings(t, trace, cgm, streams),
        state_names=tuple(model.states),
        model=model.name,
    )


def cgm_readings(
    t_min: FloatArray, glucose_mg_dl: FloatArray, cgm: CGMSensor, streams: RandomStreams
) -> FloatArray:
    """CGM readings on the sensor's grid (NaN between readings), shape ``(n, T)``."""
    on_grid = np.isclose(np.mod(t_min, cgm.params.sample_time_min), 0.0)
    readings = np.full_like(glucose_mg_dl, np.nan)
    readings[:, on_grid] = cgm.measure(glucose_mg_dl[:, on_grid], streams.generator("cgm"))
    return readings


def basal_inputs_of(model: Model[Any], state: Any) -> Inputs:
    """The model's own steady-state basal plan (``model.basal_inputs``)."""
    basal = getattr(model, "basal_inputs", None)
    if basal is None:
        raise InvalidInputError(f"model {model.name!r} has no steady basal; give --basal")
    plan: Inputs = basal(state)
    return plan


#: Longest run recorded minute by minute (31 days); longer ones belong in a Twin loop.
MAX_HOURS = 24.0 * 31


def run_minutes(hours: float, meals: Sequence[Meal]) -> int:
    """Whole minutes in a run of ``hours``, after checking the run and its meals fit.

    Raises
    ------
    InvalidInputError
        For a run that is not a positive whole number of minutes up to ``MAX_HOURS``, or
        a meal at or after its end.
    """
    if not (np.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise InvalidInputError(
            f"hours must be > 0 and at most {MAX_HOURS:g} (31 days), got {hours}"
        )
    minutes = hours * 60.0
    n_min = round(minutes)
    if n_min < 1 or abs(minutes - n_min) > 1e-6:
        raise InvalidInputError(
            f"hours must be a whole number of minutes (at least 1/60), got {hours}"
        )
    late = [m for m in meals if m.t_min >= n_min]
    if late:
        raise InvalidInputError(
            f"meal at {late[0].t_min:g} min falls at or after the end of the run "
            f"({n_min} min); lengthen the run or drop the meal"
        )
    return n_min
