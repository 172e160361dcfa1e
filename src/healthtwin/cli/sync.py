"""``healthtwin patient sync``: replay a patient's readings (CGM, labs, monitors) into a twin.

Three kinds of twin are supported: a UVA/Padova glucose twin (CGM, laboratory plasma
glucose and insulin; meals and insulin as inputs), a PK/PD drug twin (measured plasma
concentrations and BIS; NONMEM-style dosing as input) and the Smith 2004 circulation twin
(bedside vitals: heart rate, systolic, diastolic and mean arterial pressure; fluids as
input).

A gap-filled CGM series (``healthtwin synth fill-gaps`` output) is read as it is: its
estimates (``imputed`` 1) are assimilated with the sensor's error widened by their
``variance_mg_dl2``, and the output marks them (``imputed`` column, JSON ``imputed``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.patient_sync import (
    DRUG_MODELS,
    parameter_estimates,
    prepare_sync,
    tracking_warning,
)

PKPD_MODELS = DRUG_MODELS


def sync(
    observations: Annotated[
        Path,
        typer.Option(
            "--data",
            "--observations",
            help="CSV: t_min and one or more output columns (CGM glucose_mg_dl, labs, BIS...), "
            "or the filled CSV of synth fill-gaps (estimates weigh by their variance).",
        ),
    ],
    patient_id: Annotated[
        str | None,
        typer.Option(
            "--patient-id",
            help="The patient to sync from a filled CSV that holds several (fill-gaps output); "
            "not needed for one patient.",
        ),
    ] = None,
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
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report: state, forecast bands, parameters."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Replay readings into a twin: filtered outputs, parameters, forecasts per reading.

    A filled CGM series (synth fill-gaps output) is assimilated with each estimate's
    variance added to the sensor's; the output marks the imputed readings.

    \b
    Example:
      healthtwin patient sync --data cgm.csv --meals meals.csv \\
          --estimate si,egp --out posterior.csv --report sync.html
      healthtwin synth fill-gaps --data cgm.csv --out filled.csv
      healthtwin patient sync --data filled.csv --patient-id p1 \\
          --out posterior.csv
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
    wanted = [n.strip() for n in estimate.split(",") if n.strip()]
    prepared = prepare_sync(
        observations,
        model=model,
        patient=patient,
        meals=meals,
        insulin=insulin,
        covariates=covariates,
        dosing=dosing,
        fluids=fluids,
        noise=noise,
        sensor_sd=sensor_sd,
        patient_id=patient_id,
    )
    series, observed = prepared.series, list(prepared.observed)
    with output.progress(
        f"assimilating {series.times.size} readings ({members} members)",
        total=series.times.size,
    ) as bar:
        synced = prepared.run(
            wanted, members=members, prior_cv=prior_cv, horizons=ahead, seed=seed,
            on_progress=bar.update,
        )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    imputed = prepared.imputed
    extra = None if imputed is None else {"imputed": imputed.astype(int)}
    synced.report.write_csv(out, "min", extra)
    n_imputed = 0 if imputed is None else int(imputed.sum())
    lines = [
        f"wrote {out} ({series.times.size} readings of {', '.join(observed)}, {members} members)"
    ]
    if imputed is not None:
        lines.append(
            f"patient {prepared.patient_id}: {n_imputed} imputed reading(s) assimilated with "
            "their variance (column imputed)"
        )
    narrow = tracking_warning(synced.report, prepared.noise_sd)
    if narrow is not None:
        output.warn(narrow)
    estimates = parameter_estimates(synced)
    for j, (name, e) in enumerate(estimates.items()):
        nominal = e["prior"]
        lines.append(
            f"{name} ({synced.parameters[j]}): {e['p50'] / nominal:.3f}x the prior "
            f"(90 % interval {e['p5'] / nominal:.3f}-{e['p95'] / nominal:.3f})"
        )
    if report is not None:
        from healthtwin.scenarios.sync_report import write_sync_report

        write_sync_report(synced, report, title=observations.name, time_unit="min")
        lines.append(f"wrote {report}")
    document = {"readings": series.times.size, "observed": observed, "members": members,
                "parameters": estimates, "out": out, "report": report,
                "imputed": n_imputed}  # fmt: skip
    if imputed is not None:
        document["patient_id"] = prepared.patient_id
        document["imputed_t_min"] = series.times[imputed].tolist()
    output.result(document, *lines, err=True)
