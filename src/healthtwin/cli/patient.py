"""``healthtwin patient``: patient physiology twins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from healthtwin.errors import InvalidInputError
from healthtwin.physiology.patients import load_patients
from healthtwin.physiology.simulate import Meal, simulate_patients

patient_app = typer.Typer(help="Patient physiology twins.", no_args_is_help=True)

MODELS = ("uva-padova",)
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
        str, typer.Option(help="Patient name, or 'all' for the 30-patient cohort.")
    ] = "adolescent#001",
    meals: Annotated[
        str, typer.Option(help="HH:MM=grams (or minutes=grams), comma-separated.")
    ] = "07:00=45,12:00=70,18:00=80",
    basal: Annotated[str, typer.Option(help="Basal insulin in U/min, or 'steady'.")] = "steady",
    bolus_cr: Annotated[
        bool, typer.Option("--bolus-cr", help="Meal boluses at the patient's carb ratio.")
    ] = False,
    hours: Annotated[float, typer.Option(help="Length of the run in hours (> 0).")] = 24.0,
    step_min: Annotated[float, typer.Option(help="Solver step in minutes (> 0).")] = 1.0,
    method: Annotated[str, typer.Option(help="Solver: rk4 or dopri5.")] = "rk4",
    out: Annotated[Path, typer.Option(help="CSV file to write.")] = Path("trace.csv"),
    plot: Annotated[Path | None, typer.Option(help="Also draw the traces to this PNG.")] = None,
) -> None:
    """Simulate patients under meals, basal insulin and optional boluses; write a CSV."""
    if model not in MODELS:
        raise InvalidInputError(f"unknown model {model!r}; valid models: {', '.join(MODELS)}")
    if not hours > 0:
        raise InvalidInputError(f"--hours must be > 0, got {hours}")
    if not step_min > 0:
        raise InvalidInputError(f"--step-min must be > 0, got {step_min}")
    if method not in ("rk4", "dopri5"):
        raise InvalidInputError(f"--method must be rk4 or dopri5, got {method!r}")
    cohort = load_patients(patient)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = simulate_patients(
        cohort,
        parse_meals(meals),
        hours=hours,
        basal_u_per_min=_parse_basal(basal),
        bolus_cr=bolus_cr,
        step_min=step_min,
        method=method,
    )
    run.write_csv(out)
    console = Console(stderr=True)
    g = run.glucose_mg_dl
    console.print(
        f"wrote {out} ({len(run.names)} patient(s), {run.t_min.size} rows each); "
        f"glucose {g.min():.1f}-{g.max():.1f} mg/dL"
    )
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        run.plot(plot)
        console.print(f"wrote {plot}")
