"""``healthtwin patient sync``: replay a patient's CGM stream into a UVA/Padova twin."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from healthtwin.assimilation import (
    EnsembleKalmanFilter,
    ObservationSeries,
    OutputObservation,
    synchronise,
    view_for,
)
from healthtwin.core import Events, Inputs, Rate, Twin, lognormal_spread
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.hovorka import MG_DL_PER_MMOL_L
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova

#: Names users estimate -> (UVA/Padova parameter, lower, upper bound).
ESTIMABLE = {
    "si": ("Vmx", 1e-4, 1.0),  # peripheral insulin sensitivity
    "egp": ("kp1", 0.1, 30.0),  # endogenous glucose production at zero glucose/insulin
}
FILTERED_STATES = (
    "plasma_glucose_mg_per_kg",
    "tissue_glucose_mg_per_kg",
    "sc_glucose_mg_per_kg",
    "insulin_action_pmol_per_l",
)


def _read_columns(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, FloatArray]:
    """Numeric columns of a CSV file; errors name the file, row and column."""
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a CSV file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {missing}; found {header}")
        columns: dict[str, list[float]] = {c: [] for c in (*required, *optional) if c in header}
        for row_number, row in enumerate(reader, start=2):
            for name, values in columns.items():
                text = (row.get(name) or "").strip()
                try:
                    values.append(float(text) if text else float("nan"))
                except ValueError as err:
                    raise InvalidInputError(
                        f"{path}, line {row_number}, column {name}: {text!r} is not a number"
                    ) from err
    return {k: np.asarray(v) for k, v in columns.items()}


def _observations(path: Path) -> ObservationSeries:
    """CGM readings in mg/dL (``glucose_mg_dl``) or declared mmol/L (``glucose_mmol_l``)."""
    cols = _read_columns(path, ("t_min",), ("glucose_mg_dl", "glucose_mmol_l"))
    if "glucose_mmol_l" in cols:
        values = cols["glucose_mmol_l"] * MG_DL_PER_MMOL_L  # the unit is declared: convert
    elif "glucose_mg_dl" in cols:
        values = cols["glucose_mg_dl"]
    else:
        raise InvalidInputError(
            f"{path}: give the readings in a column glucose_mg_dl (or glucose_mmol_l)"
        )
    present = values[np.isfinite(values)]
    if present.size and (present.min() < 10 or present.max() > 1000):
        raise InvalidInputError(
            f"{path}: glucose readings {present.min():g}-{present.max():g} are not mg/dL; "
            "name the column glucose_mmol_l if they are in mmol/L"
        )
    return ObservationSeries(cols["t_min"], values)


def _inputs(meals: Path | None, insulin: Path | None, basal_u_per_min: float) -> Inputs:
    events: dict[str, Events] = {}
    rates: dict[str, Rate] = {}
    if meals is not None:
        m = _read_columns(meals, ("t_min", "carbs_g"))
        if np.any(~np.isfinite(m["carbs_g"])) or np.any(m["carbs_g"] < 0):
            raise InvalidInputError(f"{meals}: carbs_g must be numbers >= 0")
        events["meal_g"] = Events(m["t_min"], m["carbs_g"])
    if insulin is None:
        rates["insulin_u_per_min"] = Rate.constant(basal_u_per_min, 0.0)
    else:
        ins = _read_columns(insulin, ("t_min",), ("insulin_u_per_min", "bolus_u"))
        if "insulin_u_per_min" in ins:
            rates["insulin_u_per_min"] = Rate(ins["t_min"], np.nan_to_num(ins["insulin_u_per_min"]))
        else:
            rates["insulin_u_per_min"] = Rate.constant(basal_u_per_min, 0.0)
        if "bolus_u" in ins:
            events["bolus_u"] = Events(ins["t_min"], np.nan_to_num(ins["bolus_u"]))
    return Inputs(rates=rates, events=events)


def sync(
    observations: Annotated[Path, typer.Option(help="CSV: t_min, glucose_mg_dl (CGM).")],
    out: Annotated[Path, typer.Option(help="CSV to write, one row per reading.")] = Path(
        "posterior.csv"
    ),
    model: Annotated[str, typer.Option(help="Patient model (uva-padova).")] = "uva-padova",
    patient: Annotated[str, typer.Option(help="Prior patient.")] = "adolescent#001",
    meals: Annotated[Path | None, typer.Option(help="CSV: t_min, carbs_g.")] = None,
    insulin: Annotated[
        Path | None,
        typer.Option(help="CSV: t_min, insulin_u_per_min and/or bolus_u (default: steady basal)."),
    ] = None,
    estimate: Annotated[
        str, typer.Option(help=f"Parameters to estimate: {', '.join(ESTIMABLE)}.")
    ] = "si",
    members: Annotated[int, typer.Option(help="Ensemble members (>= 8).")] = 64,
    sensor_sd: Annotated[float, typer.Option(help="CGM noise SD, mg/dL (> 0).")] = 8.0,
    prior_cv: Annotated[float, typer.Option(help="Prior CV of estimated parameters.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 0,
) -> None:
    """Replay a CGM stream into a twin: filtered glucose, parameters, 30/60/120-min forecasts."""
    if model != "uva-padova":
        raise InvalidInputError(f"patient sync supports --model uva-padova for now, not {model}")
    if members < 8:
        raise InvalidInputError(f"--members must be >= 8, got {members}")
    if not sensor_sd > 0 or not prior_cv > 0:
        raise InvalidInputError("--sensor-sd and --prior-cv must be > 0")
    names = [n.strip() for n in estimate.split(",") if n.strip()]
    unknown = [n for n in names if n not in ESTIMABLE]
    if unknown:
        raise InvalidInputError(
            f"cannot estimate {unknown}; estimable parameters: {', '.join(ESTIMABLE)}"
        )
    person = load_patient(patient)
    twin_model = UvaPadova([person])
    series = _observations(observations)
    plan = _inputs(meals, insulin, person.basal_u_per_min)
    columns = [UvaPadova.parameter_index(ESTIMABLE[n][0]) for n in names]
    rng = np.random.default_rng(seed)
    prior = lognormal_spread(
        twin_model.initial_state(members, rng), dict.fromkeys(columns, prior_cv), rng
    )
    view = view_for(
        twin_model,
        states=FILTERED_STATES,
        parameters={ESTIMABLE[n][0]: ESTIMABLE[n][1:] for n in names},
    )
    twin = Twin(
        twin_model,
        prior,
        min(0.0, float(series.times[0])),
        seed=seed,
        standing_inputs=plan,
        assimilator=EnsembleKalmanFilter(view, inflation=1.01, rtps=0.5),
    )
    cgm = OutputObservation(twin_model, ["glucose_mg_dl"], [sensor_sd])
    report = synchronise(
        twin,
        series,
        cgm,
        parameter_columns=columns,
        parameter_names=[ESTIMABLE[n][0] for n in names],
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    report.write_csv(out, "glucose_mg_dl", "min")
    console = Console(stderr=True)
    console.print(f"wrote {out} ({series.times.size} readings, {members} members)")
    for j, name in enumerate(names):
        p5, p50, p95, _ = report.parameters[-1, j]
        nominal = float(np.asarray(getattr(person.params, ESTIMABLE[name][0]))[0])
        console.print(
            f"{name} ({ESTIMABLE[name][0]}): {p50 / nominal:.3f}x the prior patient "
            f"(90 % interval {p5 / nominal:.3f}-{p95 / nominal:.3f})"
        )
