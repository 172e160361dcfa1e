"""``healthtwin patient``: patient physiology twins."""

from __future__ import annotations

import csv
import dataclasses
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from healthtwin.cli.evaluate import evaluate
from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.cli.plots import plot_trajectory
from healthtwin.cli.recommend import recommend_command
from healthtwin.cli.sync import sync
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
from healthtwin.physiology.registry import (
    make_model,
    make_scenario,
    model_names,
    scenario_names,
)
from healthtwin.physiology.scores import (
    News2Band,
    VitalsScores,
    read_vitals_csv,
    score_vitals,
    write_scores_csv,
)
from healthtwin.physiology.simulate import CohortRun, Meal, simulate_nominal, simulate_patients

patient_app = typer.Typer(help="Patient physiology twins.", no_args_is_help=True)

MODELS = model_names()
GLUCOSE_MODELS = ("uva-padova", "hovorka", "bergman-minimal")
TIME_UNITS_PER_HOUR = {"min": 60.0, "h": 1.0, "day": 1.0 / 24.0}
DEFAULT_MEALS = "07:00=45,12:00=70,18:00=80"
_MEAL = re.compile(r"^\s*(?:(\d{1,2}):(\d{2})|(\d+(?:\.\d+)?))\s*=\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_meals(text: str) -> list[Meal]:
    """Parse ``"07:00=45,12:00=70"`` (or minutes: ``"420=45"``) into meals.

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


def _parse_basal(text: str) -> float | None:
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


@patient_app.command("simulate")
def simulate(
    model: Annotated[str, typer.Option(help=f"Patient model: {', '.join(MODELS)}.")] = (
        "uva-padova"
    ),
    patient: Annotated[
        str | None,
        typer.Option(
            help="Patient name, 'all' for the 30-patient cohort (uva-padova; default "
            "adolescent#001), or 'nominal' (the other models)."
        ),
    ] = None,
    meals: Annotated[
        str | None,
        typer.Option(
            help=f"HH:MM=grams (or minutes=grams), comma-separated [default: {DEFAULT_MEALS}, "
            "those inside the run]."
        ),
    ] = None,
    basal: Annotated[
        str | None, typer.Option(help="Basal insulin in U/min, or 'steady' (the default).")
    ] = None,
    bolus_cr: Annotated[
        bool, typer.Option("--bolus-cr", help="Meal boluses at the patient's carb ratio.")
    ] = False,
    hours: Annotated[float, typer.Option(help="Length of the run in hours (> 0).")] = 24.0,
    step_min: Annotated[
        float | None,
        typer.Option(help="Solver step in minutes (> 0; default 1, or the model's own)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(help="Solver: rk4 or dopri5 (drug models also expm, their exact default)."),
    ] = None,
    cgm: Annotated[
        str | None, typer.Option(help="Add CGM readings: dexcom, guardian-rt or navigator.")
    ] = None,
    pump: Annotated[
        str | None, typer.Option(help="Deliver insulin through a pump: cozmo or insulet.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Root seed of the random streams (CGM noise).")] = 0,
    covariates: Annotated[
        str | None,
        typer.Option(help="Drug models: age=53,weight_kg=77,height_cm=177,sex=male."),
    ] = None,
    dosing: Annotated[
        Path | None,
        typer.Option(help="Drug models: NONMEM-style dosing records (TIME in min, AMT in mg)."),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="A published run of the model (inflammation: health, aseptic-death, "
            "septic-death; cvs-smith: nominal, septic-shock; the first is the default)."
        ),
    ] = None,
    dt_out: Annotated[
        float | None,
        typer.Option(help="Output step in the model's time unit (default 1 min or 0.1 h)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="CSV file to write.")] = Path("trace.csv"),
    plot: Annotated[Path | None, typer.Option(help="Also draw the traces to this PNG.")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Simulate patients under meals, basal insulin and optional boluses; write a CSV.

    \b
    Example:
      healthtwin patient simulate --model uva-padova --patient adolescent#001 \\
          --meals 07:00=45,12:00=70,18:00=80 --hours 24 --out trace.csv \\
          --plot trace.png
    """
    _check_numbers(hours, step_min, seed)
    output = output_for(json_output, quiet)
    if method not in (None, "rk4", "dopri5", "expm"):
        raise InvalidInputError(f"--method must be rk4, dopri5 or expm, got {method!r}")
    sensor = None if cgm is None else CGMSensor(cgm_params(cgm))
    glucose_options = {
        "--meals": meals is not None,
        "--basal": basal is not None,
        "--bolus-cr": bolus_cr,
        "--pump": pump is not None,
        "--cgm": cgm is not None,
    }
    if model not in GLUCOSE_MODELS:
        _refuse(model, glucose_options)
        twin_model, parts = _model_and_inputs(model, scenario, covariates, dosing)
        with output.progress(f"simulating {model} for {hours:g} h"):
            trajectory = _simulate_generic(
                twin_model, patient, parts, hours, dt_out, step_min, method, seed, out
            )
        if plot is not None:
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot_trajectory(trajectory, plot, f"{model}: {scenario or 'nominal'}")
        output.result(
            {"model": model, "rows": trajectory.t.size, "out": out, "plot": plot},
            f"wrote {out} ({trajectory.t.size} rows, {model})",
            *([] if plot is None else [f"wrote {plot}"]),
            err=True,
        )
        return
    _refuse(
        model,
        {
            "--covariates": covariates is not None,
            "--dosing": dosing is not None,
            "--dt-out": dt_out is not None,
            "--scenario": scenario is not None,
        },
    )
    progress = output.progress(f"simulating {model} for {hours:g} h")
    if model == "uva-padova":
        with progress:
            run = simulate_patients(
                load_patients(patient or "adolescent#001"),
                _meals(meals, hours),
                hours=hours,
                basal_u_per_min=_parse_basal(basal or "steady"),
                bolus_cr=bolus_cr,
                step_min=step_min or 1.0,
                method=_glucose_method(method),
                pump=None if pump is None else InsulinPump(pump_params(pump)),
                cgm=sensor,
                seed=seed,
            )
    else:
        twin_model = _other_model(model, patient, bolus_cr=bolus_cr, pump=pump)
        with progress:
            run = simulate_nominal(
                twin_model.with_options(step_min=step_min or 1.0, method=_glucose_method(method)),
                _meals(meals, hours),
                hours=hours,
                basal_u_per_min=_parse_basal(basal or "steady"),
                cgm=sensor,
                seed=seed,
            )
    _report(run, out, plot, output)


def _refuse(model: str, given: dict[str, bool]) -> None:
    """Options that mean nothing for ``model`` are an error, not silently ignored."""
    wrong = [name for name, present in given.items() if present]
    if wrong:
        verb = "does" if len(wrong) == 1 else "do"
        raise InvalidInputError(f"{', '.join(wrong)} {verb} not apply to --model {model}")


def _simulate_generic(
    twin_model: Any,
    patient: str | None,
    parts: Sequence[tuple[float, Inputs]],
    hours: float,
    dt_out: float | None,
    step_min: float | None,
    method: str | None,
    seed: int,
    out: Path,
) -> Trajectory:
    """Any registered model's nominal subject: every output and state on a grid.

    ``parts`` are ``(start, inputs)`` pairs; each part starts from the model's initial state
    (a NONMEM reset), the first at time 0.
    """
    if patient not in (None, "nominal"):
        raise InvalidInputError(
            f"--model {twin_model.name} has only the patient 'nominal', got {patient!r}"
        )
    per_hour = TIME_UNITS_PER_HOUR[twin_model.time_unit]
    options: dict[str, Any] = {} if method is None else {"method": method}
    if step_min is not None:  # --step-min is in minutes whatever the model's own unit
        options[f"step_{twin_model.time_unit}"] = step_min * per_hour / 60.0
    if options:
        twin_model = twin_model.with_options(**options)
    rng = RandomStreams(seed).generator("patients")
    dt = (1.0 if twin_model.time_unit == "min" else 0.1) if dt_out is None else dt_out
    t_end = hours * per_hour
    pieces = []
    starts = [max(0.0, start) for start, _ in parts]
    for k, (_, inputs) in enumerate(parts):
        start = starts[k]
        stop = starts[k + 1] if k + 1 < len(parts) else t_end
        if stop <= start or start >= t_end:
            continue
        _, piece = simulate_model(
            twin_model, twin_model.initial_state(1, rng), start, min(stop, t_end), dt, inputs, rng
        )
        pieces.append(piece)
    trajectory = concatenate_trajectories(pieces)
    out.parent.mkdir(parents=True, exist_ok=True)
    trajectory.write_csv(out, ["nominal"])
    return trajectory


def _model_and_inputs(
    model: str, scenario: str | None, covariates: str | None, dosing: Path | None
) -> tuple[Any, list[tuple[float, Inputs]]]:
    """The model and its inputs: a published scenario, or drug covariates and dosing."""
    if model in PKPD_MODELS:
        if scenario is not None:
            raise InvalidInputError(f"--scenario does not apply to --model {model}")
        drug = make_pkpd_model(model, None if covariates is None else parse_covariates(covariates))
        if dosing is None:
            return drug, [(0.0, Inputs())]
        if not dosing.is_file():
            raise InvalidInputError(f"no dosing file at {dosing}; give the path of a CSV file")
        parts = split_at_resets(read_dosing_csv(dosing))
        return drug, [(start, drug.inputs_from_records(records)) for start, records in parts]
    if covariates is not None or dosing is not None:
        raise InvalidInputError(
            f"--covariates and --dosing need a drug model ({', '.join(PKPD_MODELS)}), not {model}"
        )
    runs = scenario_names(model)
    if scenario is not None or runs:
        twin_model, inputs = make_scenario(model, scenario or runs[0])
        return twin_model, [(0.0, inputs)]
    return make_model(model), [(0.0, Inputs())]


def _meals(text: str | None, hours: float) -> list[Meal]:
    """The meals asked for; the default day keeps only the meals inside the run."""
    if text is not None:
        return parse_meals(text)
    return [m for m in parse_meals(DEFAULT_MEALS) if m.t_min < hours * 60.0]


def _glucose_method(method: str | None) -> str:
    if method == "expm":
        raise InvalidInputError("--method expm is for the linear drug models; use rk4 or dopri5")
    return method or "rk4"


def _check_numbers(hours: float, step_min: float | None, seed: int) -> None:
    if not hours > 0:
        raise InvalidInputError(f"--hours must be > 0, got {hours}")
    if step_min is not None and not step_min > 0:
        raise InvalidInputError(f"--step-min must be > 0, got {step_min}")
    if seed < 0:
        raise InvalidInputError(f"--seed must be >= 0, got {seed}")


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


def _report(run: CohortRun, out: Path, plot: Path | None, output: Output) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run.write_csv(out)
    g = run.glucose_mg_dl
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        run.plot(plot)
    metrics = glycaemic_metrics(run.glucose_mg_dl)
    document = {
        "patients": list(run.names),
        "rows_per_patient": run.t_min.size,
        "glucose_mg_dl": {"min": g.min(), "max": g.max()},
        "metrics": {f.name: getattr(metrics, f.name) for f in dataclasses.fields(metrics)},
        "out": out,
        "plot": plot,
    }
    output.result(
        document,
        f"wrote {out} ({len(run.names)} patient(s), {run.t_min.size} rows each); "
        f"glucose {g.min():.1f}-{g.max():.1f} mg/dL",
        _metrics_table(run.glucose_mg_dl),
        *([] if plot is None else [f"wrote {plot}"]),
        err=True,
    )


def _metrics_table(glucose_mg_dl: FloatArray) -> Table:
    """Cohort summary of the glycaemic metrics (median and range over patients)."""
    metrics = glycaemic_metrics(glucose_mg_dl)
    table = Table(title="Glycaemic metrics (subcutaneous glucose)", title_justify="left")
    for column in ("metric", "median", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = [
        ("TIR 70-180 (%)", metrics.tir_70_180),
        ("TBR <70 (%)", metrics.tbr_70),
        ("TAR >180 (%)", metrics.tar_180),
        ("mean (mg/dL)", metrics.mean),
        ("CV (%)", metrics.cv),
        ("GMI (%)", metrics.gmi),
        ("LBGI", metrics.lbgi),
        ("HBGI", metrics.hbgi),
        ("GRI", metrics.gri),
    ]
    for label, values in rows:
        table.add_row(label, *(f"{f(values):.2f}" for f in (np.nanmedian, np.nanmin, np.nanmax)))
    return table


@patient_app.command("news2")
def news2_command(
    vitals: Annotated[Path, typer.Argument(help="CSV of vital signs, one observation a row.")],
    out: Annotated[
        Path | None, typer.Option(help="Write the scored rows here (default: print them).")
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Score NEWS2 (RCP 2017) and qSOFA for every row of a vitals CSV.

    Without --out the scored rows are printed as CSV (with --json: as the document's
    ``rows``); the band counts go to stderr.

    \b
    Example:
      healthtwin patient news2 vitals.csv --out scored.csv
    """
    import io

    if not vitals.is_file():
        raise InvalidInputError(f"no vitals file at {vitals}; give the path of a CSV file")
    scores = score_vitals(read_vitals_csv(vitals))
    output = output_for(json_output, quiet)
    bands = {band.label: int(np.sum(scores.news2.band == band)) for band in News2Band}
    document: dict[str, object] = {"observations": scores.news2.total.size, "bands": bands}
    lines: list[object] = []
    if out is None:
        text = io.StringIO()
        write_scores_csv(scores, text)
        if output.human:
            sys.stdout.write(text.getvalue())
        document["rows"] = list(csv.DictReader(io.StringIO(text.getvalue())))
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_scores_csv(scores, out)
        document["out"] = out
        lines.append(f"wrote {out} ({scores.news2.total.size} rows)")
    output.result(document, *lines, _band_table(scores), err=True)


def _band_table(scores: VitalsScores) -> Table:
    """How many observations fall in each NEWS2 clinical risk band."""
    table = Table(title="NEWS2 clinical risk", title_justify="left")
    table.add_column("band")
    table.add_column("observations", justify="right")
    table.add_column("response")
    bands = scores.news2.band
    for band in News2Band:
        table.add_row(band.label, str(int(np.sum(bands == band))), band.trigger)
    return table


patient_app.command("sync")(sync)
patient_app.command("evaluate")(evaluate)
patient_app.command("recommend")(recommend_command)
