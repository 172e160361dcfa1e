"""``healthtwin patient``: patient physiology twins."""

from __future__ import annotations

import csv
import io
import math
import sys
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
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.patient_runs import (
    DEFAULT_MEALS,
    GLUCOSE_MODELS,
    MODEL_NAMES,
    cgm_sensor,
    glycaemic_summary,
    meals_for_run,
    parse_basal,
    parse_meals,
    prepare_model_run,
    simulate_glucose,
)
from healthtwin.scenarios.vitals_scoring import ScoredVitals, score_vitals_file

__all__ = ["parse_meals", "patient_app"]

patient_app = typer.Typer(help="Patient physiology twins.", no_args_is_help=True)

MODELS = MODEL_NAMES


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
    sensor = cgm_sensor(cgm)
    glucose_options = {
        "--meals": meals is not None,
        "--basal": basal is not None,
        "--bolus-cr": bolus_cr,
        "--pump": pump is not None,
        "--cgm": cgm is not None,
    }
    if model not in GLUCOSE_MODELS:
        _refuse(model, glucose_options)
        prepared = prepare_model_run(model, scenario, covariates, dosing)
        with output.progress(f"simulating {model} for {hours:g} h"):
            trajectory = prepared.simulate(
                hours=hours,
                patient=patient,
                dt_out=dt_out,
                step_min=step_min,
                method=method,
                seed=seed,
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            trajectory.write_csv(out, ["nominal"])
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
    # Counted in simulated minutes, of the whole cohort at once (a run length the
    # simulation will refuse gets no total: its error comes from the check).
    minutes = round(hours * 60) if math.isfinite(hours * 60) and hours > 0 else None
    with output.progress(f"simulating {model} (minutes)", total=minutes) as bar:
        run = simulate_glucose(
            model,
            patient,
            meals_for_run(meals, hours),
            hours=hours,
            basal_u_per_min=parse_basal(basal or "steady"),
            bolus_cr=bolus_cr,
            step_min=step_min,
            method=method,
            pump=pump,
            cgm=sensor,
            seed=seed,
            on_progress=bar.update,
        )
    _report(run, out, plot, output)


def _refuse(model: str, given: dict[str, bool]) -> None:
    """Options that mean nothing for ``model`` are an error, not silently ignored."""
    wrong = [name for name, present in given.items() if present]
    if wrong:
        verb = "does" if len(wrong) == 1 else "do"
        raise InvalidInputError(f"{', '.join(wrong)} {verb} not apply to --model {model}")


def _check_numbers(hours: float, step_min: float | None, seed: int) -> None:
    if not hours > 0:
        raise InvalidInputError(f"--hours must be > 0, got {hours}")
    if step_min is not None and not step_min > 0:
        raise InvalidInputError(f"--step-min must be > 0, got {step_min}")
    if seed < 0:
        raise InvalidInputError(f"--seed must be >= 0, got {seed}")


def _report(run: Any, out: Path, plot: Path | None, output: Output) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run.write_csv(out)
    g = run.glucose_mg_dl
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        run.plot(plot)
    metrics = glycaemic_summary(run.glucose_mg_dl)
    document = {
        "patients": list(run.names),
        "rows_per_patient": run.t_min.size,
        "glucose_mg_dl": {"min": g.min(), "max": g.max()},
        "metrics": metrics,
        "out": out,
        "plot": plot,
    }
    output.result(
        document,
        f"wrote {out} ({len(run.names)} patient(s), {run.t_min.size} rows each); "
        f"glucose {g.min():.1f}-{g.max():.1f} mg/dL",
        _metrics_table(metrics),
        *([] if plot is None else [f"wrote {plot}"]),
        err=True,
    )


def _metrics_table(metrics: dict[str, Any]) -> Table:
    """Cohort summary of the glycaemic metrics (median and range over patients)."""
    table = Table(title="Glycaemic metrics (subcutaneous glucose)", title_justify="left")
    for column in ("metric", "median", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = [
        ("TIR 70-180 (%)", metrics["tir_70_180"]),
        ("TBR <70 (%)", metrics["tbr_70"]),
        ("TAR >180 (%)", metrics["tar_180"]),
        ("mean (mg/dL)", metrics["mean"]),
        ("CV (%)", metrics["cv"]),
        ("GMI (%)", metrics["gmi"]),
        ("LBGI", metrics["lbgi"]),
        ("HBGI", metrics["hbgi"]),
        ("GRI", metrics["gri"]),
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
    scored = score_vitals_file(vitals)
    output = output_for(json_output, quiet)
    bands = {b.label: b.observations for b in scored.bands()}
    document: dict[str, object] = {"observations": scored.observations, "bands": bands}
    lines: list[object] = []
    if out is None:
        text = scored.csv_text()
        if output.human:
            sys.stdout.write(text)
        document["rows"] = list(csv.DictReader(io.StringIO(text)))
    else:
        scored.write_csv(out)
        document["out"] = out
        lines.append(f"wrote {out} ({scored.observations} rows)")
    output.result(document, *lines, _band_table(scored), err=True)


def _band_table(scored: ScoredVitals) -> Table:
    """How many observations fall in each NEWS2 clinical risk band."""
    table = Table(title="NEWS2 clinical risk", title_justify="left")
    table.add_column("band")
    table.add_column("observations", justify="right")
    table.add_column("response")
    for band in scored.bands():
        table.add_row(band.label, str(band.observations), band.response)
    return table


patient_app.command("sync")(sync)
patient_app.command("evaluate")(evaluate)
patient_app.command("recommend")(recommend_command)
