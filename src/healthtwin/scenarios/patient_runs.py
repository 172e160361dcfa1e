"""Open-loop runs of the patient models, as ``healthtwin patient simulate`` asks for them.

Two kinds of run. A glucose run (:func:`simulate_glucose`) advances UVA/Padova patients (a
named patient, a simglucose group or the 30-patient cohort) or the nominal subject of another
glucose model (Hovorka, Bergman minimal) under meals, basal insulin, optional carb-ratio
boluses, pump and CGM, and returns every minute as a
:class:`~healthtwin.physiology.simulate.CohortRun`. A model run (:func:`prepare_model_run`,
then :meth:`ModelRun.simulate`) takes any other registered model's nominal subject (drug
PK/PD with covariates and NONMEM-style dosing, inflammation, circulation) through a published
scenario or its dosing records and returns every output and state on a grid as a
:class:`~healthtwin.core.trajectory.Trajectory`; a dosing reset (EVID 3/4) restarts the
subject from the model's initial state. :func:`glycaemic_summary` gives the consensus
glycaemic metrics per patient.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthtwin.core.inputs import Inputs
from healthtwin.core.random import RandomStreams
from healthtwin.core.trajectory import Trajectory, concatenate_trajectories
from healthtwin.core.trajectory import simulate as simulate_model
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.cgm import CGMSensor, cgm_params
from healthtwin.physiology.metrics import glycaemic_metrics
from healthtwin.physiology.patients import load_patients
from healthtwin.physiology.pkpd.covariates import parse_covariates
from healthtwin.physiology.pkpd.dosing import read_dosing_csv, split_at_resets
from healthtwin.physiology.pkpd.model import PKPD_MODELS, make_pkpd_model
from healthtwin.physiology.pump import InsulinPump, pump_params
from healthtwin.physiology.registry import make_model, make_scenario, model_names, scenario_names
from healthtwin.physiology.simulate import CohortRun, Meal, simulate_nominal, simulate_patients

__all__ = [
    "DEFAULT_MEALS",
    "GLUCOSE_MODELS",
    "MODEL_NAMES",
    "TIME_UNITS_PER_HOUR",
    "ModelRun",
    "cgm_sensor",
    "glycaemic_summary",
    "meals_for_run",
    "parse_basal",
    "parse_meals",
    "prepare_model_run",
    "simulate_glucose",
]

#: Every registered patient model.
MODEL_NAMES: tuple[str, ...] = model_names()
#: The models driven by meals and insulin (the others by their scenario or dosing).
GLUCOSE_MODELS = ("uva-padova", "hovorka", "bergman-minimal")
#: Model time units per hour.
TIME_UNITS_PER_HOUR = {"min": 60.0, "h": 1.0, "day": 1.0 / 24.0}
#: The default day of meals (those inside the run are kept).
DEFAULT_MEALS = "07:00=45,12:00=70,18:00=80"
_MEAL = re.compile(r"^\s*(?:(\d{1,2}):(\d{2})|(\d+(?:\.\d+)?))\s*=\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_meals(text: str) -> list[Meal]:
    """Parse ``"07:00=45,12:00=70"`` (or minutes: ``"420=45"``) into meals.

    Raises
    ------
    InvalidInputError
        For a malformed item, a time that is not a clock time or negative grams.

    Examples
    --------
    >>> [(m.t_min, m.carbs_g) for m in parse_meals("07:00=45, 90=10")]
    [(420.0, 45.0), (90.0, 10.0)]
    """
    meals: list[Meal] = []
    if not text.strip():
        return meals
    for part in text.split(","):
        match = _MEAL.match(part)
        if match is None:
            raise InvalidInputError(
                f"malformed meal {part.strip()!r}; write HH:MM=grams or minutes=grams, "
                "comma-separated, e.g. 07:00=45,12:00=70"
            )
        hh, mm, minutes, grams = match.groups()
        if minutes is None:
            if int(hh) > 23 or int(mm) > 59:
                raise InvalidInputError(f"meal time {hh}:{mm} is not a clock time (00:00-23:59)")
            t_min = int(hh) * 60.0 + int(mm)
        else:
            t_min = float(minutes)
        carbs = float(grams)
        if carbs < 0:
            raise InvalidInputError(
                f"meal at {part.strip()!r} has negative carbohydrate; use grams >= 0"
            )
        meals.append(Meal(t_min, carbs))
    return meals


def meals_for_run(text: str | None, hours: float) -> list[Meal]:
    """The meals asked for; the default day keeps only the meals inside the run.

    Examples
    --------
    >>> [m.t_min for m in meals_for_run(None, 13.0)]
    [420.0, 720.0]
    """
    if text is not None:
        return parse_meals(text)
    return [m for m in parse_meals(DEFAULT_MEALS) if m.t_min < hours * 60.0]


def parse_basal(text: str) -> float | None:
    """A basal rate in U/min, or ``None`` for ``"steady"`` (each patient's steady state).

    Examples
    --------
    >>> parse_basal("steady"), parse_basal("0.0139")
    (None, 0.0139)
    """
    if text.strip().lower() == "steady":
        return None
    try:
        value = float(text)
    except ValueError as err:
        raise InvalidInputError(
            f"--basal must be a rate in U/min (e.g. 0.0139) or 'steady', got {text!r}"
        ) from err
    if not value >= 0 or value != value:
        raise InvalidInputError(f"--basal must be >= 0 U/min, got {text!r}")
    return value


def cgm_sensor(name: str | None) -> CGMSensor | None:
    """The named CGM sensor (``dexcom``, ``guardian-rt``, ``navigator``), or none.

    Examples
    --------
    >>> cgm_sensor(None) is None, cgm_sensor("dexcom") is not None
    (True, True)
    """
    return None if name is None else CGMSensor(cgm_params(name))


def simulate_glucose(
    model: str,
    patient: str | None,
    meals: Sequence[Meal],
    *,
    hours: float,
    basal_u_per_min: float | None,
    bolus_cr: bool = False,
    step_min: float | None = None,
    method: str | None = None,
    pump: str | None = None,
    cgm: CGMSensor | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> CohortRun:
    """Glucose patients under meals and insulin, every minute.

    Parameters
    ----------
    model
        One of :data:`GLUCOSE_MODELS`.
    patient
        UVA/Padova: a patient, group or ``"all"`` (default ``adolescent#001``); the other
        models have only ``"nominal"``.
    meals
        Announced meals.
    hours
        Length of the run.
    basal_u_per_min
        Basal insulin, or ``None`` for each patient's steady-state basal.
    bolus_cr, pump
        Meal boluses at the carb ratio, and a named pump (UVA/Padova only).
    step_min, method
        Solver step in minutes (default 1) and ``rk4`` (default) or ``dopri5``.
    cgm, seed
        Optional CGM sensor, and the root seed of its noise.
    on_progress
        ``(minutes simulated, minutes in the run)`` each simulated hour (of the whole
        cohort); the traces are the same with or without it.

    Returns
    -------
    CohortRun
        Per-minute traces, one row per patient.

    Raises
    ------
    InvalidInputError
        For ``method="expm"``, a patient other than ``nominal`` for the non-UVA models, or
        boluses/pump asked of a model without a carb ratio.

    Examples
    --------
    >>> run = simulate_glucose("uva-padova", None, [], hours=0.5, basal_u_per_min=None)
    >>> run.names, run.glucose_mg_dl.shape
    (('adolescent#001',), (1, 31))
    """
    solver = _glucose_method(method)
    if model == "uva-padova":
        return simulate_patients(
            load_patients(patient or "adolescent#001"),
            list(meals),
            hours=hours,
            basal_u_per_min=basal_u_per_min,
            bolus_cr=bolus_cr,
            step_min=step_min or 1.0,
            method=solver,
            pump=None if pump is None else InsulinPump(pump_params(pump)),
            cgm=cgm,
            seed=seed,
            on_progress=on_progress,
        )
    twin_model = _other_model(model, patient, bolus_cr=bolus_cr, pump=pump)
    return simulate_nominal(
        twin_model.with_options(step_min=step_min or 1.0, method=solver),
        list(meals),
        hours=hours,
        basal_u_per_min=basal_u_per_min,
        cgm=cgm,
        seed=seed,
        on_progress=on_progress,
    )


def _glucose_method(method: str | None) -> str:
    if method == "expm":
        raise InvalidInputError("--method expm is for the linear drug models; use rk4 or dopri5")
    return method or "rk4"


def _other_model(name: str, patient: str | None, *, bolus_cr: bool, pump: str | None) -> Any:
    """A model other than UVA/Padova with its nominal subject, once the options fit it."""
    twin_model = make_model(name)
    if patient not in (None, "nominal"):
        raise InvalidInputError(
            f"--patient {patient!r} is not available for {name}; it has only 'nominal'"
        )
    if bolus_cr or pump is not None:
        raise InvalidInputError(
            "--bolus-cr and --pump need a patient's carb ratio and pump settings; "
            f"use them with --model uva-padova, not {name}"
        )
    return twin_model


def glycaemic_summary(glucose_mg_dl: FloatArray) -> dict[str, FloatArray]:
    """The consensus glycaemic metrics of each patient, by metric name.

    Parameters
    ----------
    glucose_mg_dl
        Glucose readings, shape ``(n_patients, n_times)``.

    Returns
    -------
    dict
        ``tir_70_180``, ``tbr_70``, ``tar_180``, ``mean``, ``cv``, ``gmi``, ``lbgi``,
        ``hbgi``, ``gri``... each of shape ``(n_patients,)``.

    Examples
    --------
    >>> import numpy as np
    >>> float(glycaemic_summary(np.full((1, 12), 120.0))["tir_70_180"][0])
    100.0
    """
    metrics = glycaemic_metrics(glucose_mg_dl)
    return {f.name: getattr(metrics, f.name) for f in dataclasses.fields(metrics)}


@dataclass(frozen=True)
class ModelRun:
    """A registered model's nominal subject and its inputs, ready to simulate.

    Attributes
    ----------
    model
        The model (its ``name`` and ``time_unit`` are read).
    parts
        ``(start, inputs)`` pairs in the model's time unit; each part starts from the
        model's initial state (a NONMEM reset), the first at time 0.
    """

    model: Any
    parts: tuple[tuple[float, Inputs], ...]

    def simulate(
        self,
        *,
        hours: float,
        patient: str | None = None,
        dt_out: float | None = None,
        step_min: float | None = None,
        method: str | None = None,
        seed: int = 0,
    ) -> Trajectory:
        """Every output and state on a grid of ``dt_out`` (default 1 min or 0.1 h).

        Raises
        ------
        InvalidInputError
            For a patient other than ``nominal``.

        Examples
        --------
        >>> run = prepare_model_run("inflammation")
        >>> run.simulate(hours=1.0).t.size
        11
        """
        twin_model = self.model
        if patient not in (None, "nominal"):
            raise InvalidInputError(
                f"--model {twin_model.name} has only the patient 'nominal', got {patient!r}"
            )
        per_hour = TIME_UNITS_PER_HOUR[twin_model.time_unit]
        options: dict[str, Any] = {} if method is None else {"method": method}
        if step_min is not None:  # the step is in minutes whatever the model's own unit
            options[f"step_{twin_model.time_unit}"] = step_min * per_hour / 60.0
        if options:
            twin_model = twin_model.with_options(**options)
        rng = RandomStreams(seed).generator("patients")
        dt = (1.0 if twin_model.time_unit == "min" else 0.1) if dt_out is None else dt_out
        t_end = hours * per_hour
        pieces = []
        starts = [max(0.0, start) for start, _ in self.parts]
        for k, (_, inputs) in enumerate(self.parts):
            start = starts[k]
            stop = starts[k + 1] if k + 1 < len(self.parts) else t_end
            if stop <= start or start >= t_end:
                continue
            _, piece = simulate_model(
                twin_model,
                twin_model.initial_state(1, rng),
                start,
                min(stop, t_end),
                dt,
                inputs,
                rng,
            )
            pieces.append(piece)
        return concatenate_trajectories(pieces)


def prepare_model_run(
    model: str,
    scenario: str | None = None,
    covariates: str | None = None,
    dosing: Path | None = None,
) -> ModelRun:
    """A model's nominal subject with a published scenario, or drug covariates and dosing.

    Parameters
    ----------
    model
        A registered model that is not a glucose model.
    scenario
        A published run of the model (default its first, if it has any).
    covariates
        Drug models: ``"age=53,weight_kg=77,height_cm=177,sex=male"``.
    dosing
        Drug models: NONMEM-style dosing records (TIME in min, AMT in mg).

    Raises
    ------
    InvalidInputError
        For an option that does not apply to the model, or a missing dosing file.

    Examples
    --------
    >>> prepare_model_run("inflammation", covariates="age=53")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: --covariates and --dosing need a drug model ...
    """
    if model in PKPD_MODELS:
        if scenario is not None:
            raise InvalidInputError(f"--scenario does not apply to --model {model}")
        drug = make_pkpd_model(model, None if covariates is None else parse_covariates(covariates))
        if dosing is None:
            return ModelRun(drug, ((0.0, Inputs()),))
        if not dosing.is_file():
            raise InvalidInputError(f"no dosing file at {dosing}; give the path of a CSV file")
        parts = split_at_resets(read_dosing_csv(dosing))
        return ModelRun(
            drug, tuple((start, drug.inputs_from_records(records)) for start, records in parts)
        )
    if covariates is not None or dosing is not None:
        raise InvalidInputError(
            f"--covariates and --dosing need a drug model ({', '.join(PKPD_MODELS)}), not {model}"
        )
    runs = scenario_names(model)
    if scenario is not None or runs:
        twin_model, inputs = make_scenario(model, scenario or runs[0])
        return ModelRun(twin_model, ((0.0, inputs),))
    return ModelRun(make_model(model), ((0.0, Inputs()),))
