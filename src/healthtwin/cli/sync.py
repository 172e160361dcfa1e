"""``healthtwin patient sync``: replay a patient's readings (CGM, labs, monitors) into a twin.

Three kinds of twin are supported: a UVA/Padova glucose twin (CGM, laboratory plasma
glucose and insulin; meals and insulin as inputs), a PK/PD drug twin (measured plasma
concentrations and BIS; NONMEM-style dosing as input) and the Smith 2004 circulation twin
(bedside vitals: heart rate, systolic, diastolic and mean arterial pressure; fluids as
input).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from healthtwin.assimilation import ObservationSeries
from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.core import Events, Inputs, Rate
from healthtwin.core.types import FloatArray
from healthtwin.coupling.patient_sync import (
    CIRCULATION_ESTIMABLE,
    DEFAULT_NOISE,
    GLUCOSE_ALIASES,
    GLUCOSE_STATES,
    TwinRecipe,
    sync_twin,
)
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.circulation import SmithCVS
from healthtwin.physiology.hovorka import MG_DL_PER_MMOL_L
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.pkpd import PKPD_MODELS, make_pkpd_model
from healthtwin.physiology.pkpd.covariates import parse_covariates
from healthtwin.physiology.pkpd.dosing import read_dosing_csv, split_at_resets
from healthtwin.physiology.uva_padova import UvaPadova

GLUCOSE_MG_DL_COLUMNS = ("glucose_mg_dl", "plasma_glucose_mg_dl")


@dataclass(frozen=True)
class _Setup:
    """What a sync run needs to know about the twin's model."""

    model: Any
    plan: Inputs
    states: tuple[str, ...] | None
    estimable: dict[str, tuple[str, float, float]]
    reference: Any  # one-member state giving the prior's nominal parameter values


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


def _observations(path: Path, outputs: tuple[str, ...]) -> tuple[ObservationSeries, list[str]]:
    """Readings in columns named after model outputs (glucose_mmol_l is converted)."""
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a CSV file")
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    accepted = set(outputs) | ({"glucose_mmol_l"} if "glucose_mg_dl" in outputs else set())
    extra = [c for c in header if c != "t_min" and c not in accepted]
    if extra:
        raise InvalidInputError(
            f"{path}: column(s) {extra} are not outputs of the model; reading columns are "
            f"{', '.join(sorted(accepted))} (glucose in mg/dL as glucose_mg_dl, or declared "
            "mmol/L as glucose_mmol_l)"
        )
    cols = _read_columns(path, ("t_min",), tuple(sorted(accepted)))
    if "glucose_mmol_l" in cols:
        if "glucose_mg_dl" in cols:
            raise InvalidInputError(f"{path}: give glucose_mg_dl or glucose_mmol_l, not both")
        cols["glucose_mg_dl"] = cols.pop("glucose_mmol_l") * MG_DL_PER_MMOL_L  # declared unit
    names = [o for o in outputs if o in cols]
    if not names:
        raise InvalidInputError(
            f"{path}: no reading column; give one or more of {', '.join(sorted(accepted))}"
        )
    for name in GLUCOSE_MG_DL_COLUMNS:
        present = cols.get(name, np.array([]))
        present = present[np.isfinite(present)]
        if present.size and (present.min() < 10 or present.max() > 1000):
            raise InvalidInputError(
                f"{path}: {name} readings {present.min():g}-{present.max():g} are not mg/dL; "
                "name the column glucose_mmol_l if they are in mmol/L"
            )
    for name in names:
        if np.any(cols[name] < 0):
            raise InvalidInputError(f"{path}: {name} has negative readings")
    values = np.stack([cols[n] for n in names], axis=1)
    return ObservationSeries(cols["t_min"], values), names


def _glucose_inputs(meals: Path | None, insulin: Path | None, basal_u_per_min: float) -> Inputs:
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


def _fluid_inputs(fluids: Path | None) -> Inputs:
    if fluids is None:
        return Inputs()
    cols = _read_columns(fluids, ("t_min",), ("fluid_bolus_ml", "fluid_infusion_ml_per_min"))
    events, rates = {}, {}
    if "fluid_bolus_ml" in cols:
        events["fluid_bolus_ml"] = Events(cols["t_min"], np.nan_to_num(cols["fluid_bolus_ml"]))
    if "fluid_infusion_ml_per_min" in cols:
        infusion = np.nan_to_num(cols["fluid_infusion_ml_per_min"])
        rates["fluid_infusion_ml_per_min"] = Rate(cols["t_min"], infusion)
    if not events and not rates:
        raise InvalidInputError(
            f"{fluids}: give fluid_bolus_ml and/or fluid_infusion_ml_per_min columns"
        )
    return Inputs(rates=rates, events=events)


def _setup(
    model: str,
    patient: str,
    meals: Path | None,
    insulin: Path | None,
    covariates: str | None,
    dosing: Path | None,
    fluids: Path | None,
) -> _Setup:
    rng = np.random.default_rng(0)
    if fluids is not None and model != "cvs-smith":
        raise InvalidInputError("--fluids applies to --model cvs-smith only")
    if model == "cvs-smith":
        if any(x is not None for x in (meals, insulin, covariates, dosing)):
            raise InvalidInputError(
                "--model cvs-smith takes --fluids; --meals, --insulin, --covariates and "
                "--dosing belong to other models"
            )
        circulation = SmithCVS()
        estimable = {n: (n, 1e-3, 1e4) for n in CIRCULATION_ESTIMABLE}
        # Parameters only: the beat-resolved states re-equilibrate within beats.
        return _Setup(
            circulation, _fluid_inputs(fluids), (), estimable, circulation.initial_state(1, rng)
        )
    if model == "uva-padova":
        if covariates is not None or dosing is not None:
            raise InvalidInputError("--covariates and --dosing apply to drug models only")
        person = load_patient(patient)
        twin_model = UvaPadova([person])
        return _Setup(
            twin_model,
            _glucose_inputs(meals, insulin, person.basal_u_per_min),
            GLUCOSE_STATES,
            dict(GLUCOSE_ALIASES),
            twin_model.initial_state(1, rng),
        )
    if model in PKPD_MODELS:
        if meals is not None or insulin is not None:
            raise InvalidInputError("--meals and --insulin apply to --model uva-padova only")
        if dosing is None:
            raise InvalidInputError(f"--model {model} needs --dosing (NONMEM-style CSV)")
        drug = make_pkpd_model(model, None if covariates is None else parse_covariates(covariates))
        parts = split_at_resets(read_dosing_csv(dosing))
        if len(parts) > 1:
            raise InvalidInputError(
                f"{dosing}: EVID 3/4 resets start a new patient state; sync one part at a time"
            )
        reference = drug.initial_state(1, rng)
        names = ("v1_l", "k10", "k12", "k21", "k13", "k31", "ka", "ke0", "ec50", "gamma")
        estimable = {}
        for name in names:
            value = float(reference.theta[0, drug.parameter_index(name)])
            if value > 0:
                estimable[name] = (name, value / 1e3, value * 1e3)
        return _Setup(drug, drug.inputs_from_records(parts[0][1]), None, estimable, reference)
    raise InvalidInputError(
        f"patient sync supports --model uva-padova, cvs-smith and {', '.join(PKPD_MODELS)}, "
        f"not {model}"
    )


def _noise(
    text: str | None, names: list[str], sensor_sd: float, outputs: dict[str, Any]
) -> list[float]:
    given: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        try:
            given[key.strip()] = float(value) if sep else float("nan")
        except ValueError:
            given[key.strip()] = float("nan")
    bad = [k for k, v in given.items() if k not in outputs or not v > 0]
    if bad:
        raise InvalidInputError(
            f"--noise takes output=SD pairs with SD > 0 (outputs: {', '.join(outputs)}); "
            f"cannot use {bad}"
        )
    defaults = {"glucose_mg_dl": sensor_sd, **DEFAULT_NOISE}
    sds = []
    for name in names:
        sd = given.get(name, defaults.get(name))
        if sd is None:
            raise InvalidInputError(
                f"give the reading noise of {name} as --noise {name}=SD "
                f"(in {outputs[name].unit}); it depends on the assay or monitor"
            )
        sds.append(sd)
    return sds


def sync(
    observations: Annotated[
        Path,
        typer.Option(
            help="CSV: t_min and one or more output columns (CGM glucose_mg_dl, labs, BIS...)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="CSV to write, one row per reading.")] = Path(
        "posterior.csv"
    ),
    model: Annotated[
        str,
        typer.Option(help=f"uva-padova, cvs-smith or a drug model ({', '.join(PKPD_MODELS)})."),
    ] = "uva-padova",
    patient: Annotated[str, typer.Option(help="Prior patient (uva-padova).")] = "adolescent#001",
    meals: Annotated[Path | None, typer.Option(help="CSV: t_min, carbs_g.")] = None,
    insulin: Annotated[
        Path | None,
        typer.Option(help="CSV: t_min, insulin_u_per_min and/or bolus_u (default: steady basal)."),
    ] = None,
    covariates: Annotated[
        str | None, typer.Option(help="Drug models: e.g. age=53,weight_kg=77,...")
    ] = None,
    dosing: Annotated[
        Path | None, typer.Option(help="Drug models: NONMEM-style dosing records.")
    ] = None,
    fluids: Annotated[
        Path | None,
        typer.Option(help="cvs-smith: CSV t_min, fluid_bolus_ml, fluid_infusion_ml_per_min."),
    ] = None,
    estimate: Annotated[
        str,
        typer.Option(
            help="Parameters to estimate: si, egp (uva-padova), PK/PD names (v1_l, k10, ...) "
            "or circulation names (R_sys, ...)."
        ),
    ] = "si",
    noise: Annotated[
        str | None, typer.Option(help="Reading noise SDs, e.g. plasma_mg_l=0.3,bis=5.")
    ] = None,
    horizons: Annotated[str, typer.Option(help="Forecast horizons, min.")] = "30,60,120",
    members: Annotated[int, typer.Option(help="Ensemble members (>= 8).")] = 64,
    sensor_sd: Annotated[float, typer.Option(help="CGM noise SD, mg/dL (> 0).")] = 8.0,
    prior_cv: Annotated[float, typer.Option(help="Prior CV of estimated parameters.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 0,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Replay readings into a twin: filtered outputs, parameters, forecasts per reading.

    \b
    Example:
      healthtwin patient sync --observations cgm.csv --meals meals.csv \\
          --estimate si,egp --out posterior.csv
    """
    output = output_for(json_output, quiet)
    if members < 8:
        raise InvalidInputError(f"--members must be >= 8, got {members}")
    if not sensor_sd > 0 or not prior_cv > 0:
        raise InvalidInputError("--sensor-sd and --prior-cv must be > 0")
    try:
        ahead = [float(h) for h in horizons.split(",") if h.strip()]
    except ValueError as err:
        raise InvalidInputError(
            f"--horizons takes minutes like 30,60,120, got {horizons!r}"
        ) from err
    if not ahead or any(not h > 0 for h in ahead):
        raise InvalidInputError(f"--horizons must be positive minutes, got {horizons!r}")
    setup = _setup(model, patient, meals, insulin, covariates, dosing, fluids)
    wanted = [n.strip() for n in estimate.split(",") if n.strip()]
    series, observed = _observations(observations, tuple(setup.model.outputs))
    sds = _noise(noise, observed, sensor_sd, dict(setup.model.outputs))
    recipe = TwinRecipe(setup.model, setup.plan, setup.states, setup.estimable)
    with output.progress(f"assimilating {series.times.size} readings ({members} members)"):
        synced = sync_twin(
            recipe,
            series,
            observed,
            sds,
            estimate=wanted,
            members=members,
            prior_cv=prior_cv,
            horizons=ahead,
            seed=seed,
        )
    report = synced.report
    out.parent.mkdir(parents=True, exist_ok=True)
    report.write_csv(out, "min")
    lines = [
        f"wrote {out} ({series.times.size} readings of {', '.join(observed)}, {members} members)"
    ]
    estimates: dict[str, dict[str, float]] = {}
    for j, name in enumerate(wanted):
        p5, p50, p95, _ = report.parameters[-1, j]
        nominal = synced.nominal[j]
        estimates[name] = {"p5": p5, "p50": p50, "p95": p95, "prior": nominal}
        lines.append(
            f"{name} ({synced.parameters[j]}): {p50 / nominal:.3f}x the prior "
            f"(90 % interval {p5 / nominal:.3f}-{p95 / nominal:.3f})"
        )
    document = {"readings": series.times.size, "observed": observed, "members": members,
                "parameters": estimates, "out": out}  # fmt: skip
    output.result(document, *lines, err=True)
