"""``healthtwin synth fill-gaps``: CGM gaps filled by each patient's twin, flagged, with bands.

A thin face on :mod:`healthtwin.scenarios.cgm_gaps` (grid rules, output columns and the
FHIR encoding are documented there); :func:`register` adds the command to the ``synth``
sub-app.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError

if TYPE_CHECKING:
    from healthtwin.scenarios.cgm_gaps import FilledSeries

__all__ = ["FORMATS", "fill_gaps", "register"]

#: What ``--format`` writes: the filled CSV at ``--out``, or ``--out/bundle.json``.
FORMATS = ("csv", "fhir")


def fill_gaps(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="CGM series: CSV patient_id,t_min,glucose_mg_dl (empty glucose = missing) "
            "or a FHIR Bundle (.json) of CGM Observations",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="filled CSV (--format csv) or folder (--format fhir)")
    ],
    output_format: Annotated[
        str, typer.Option("--format", help="csv or fhir (a Bundle, out/bundle.json)")
    ] = "csv",
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="CSV patient_id,t_min with carbs_g, bolus_u and/or insulin_u_per_min",
        ),
    ] = None,
    members: Annotated[
        int, typer.Option("--members", min=2, help="virtual patients per twin ensemble")
    ] = 24,
    level: Annotated[float, typer.Option("--level", help="coverage of the bands")] = 0.9,
    seed: Annotated[int, typer.Option("--seed", help="root random seed")] = 0,
    sensor: Annotated[
        str, typer.Option("--sensor", help="CGM device: guardian-rt, dexcom or navigator")
    ] = "guardian-rt",
    body_weight_kg: Annotated[
        float, typer.Option("--body-weight-kg", help="body weight of the virtual patients")
    ] = 75.0,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="time of t_min = 0 of a CSV series in FHIR output (ISO 8601 with zone)",
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fill the gaps of CGM series with each patient's twin; estimates flagged, with bands.

    Each patient's readings must lie on the sensor's grid (5 min for guardian-rt) from
    its first row; absent rows and empty glucose cells are the gaps. The output has one
    row per grid time: patient_id, t_min, glucose_mg_dl (measured values unchanged),
    imputed (1/0), variance_mg_dl2, lower_mg_dl, upper_mg_dl (the --level band).
    --format fhir writes out/bundle.json instead: estimates are Observations tagged
    imputed, their variance and band in an extension.

    \b
    Example:
      healthtwin synth fill-gaps --data cgm.csv --out filled.csv
      healthtwin synth fill-gaps --data cgm.csv --events meals.csv \\
          --format fhir --out filled/
    """
    from healthtwin.scenarios.cgm_gaps import (
        fill_series,
        read_cgm,
        read_events_csv,
        write_filled_csv,
    )

    if output_format not in FORMATS:
        raise InvalidInputError(
            f"--format must be one of {', '.join(FORMATS)}, got {output_format!r}"
        )
    if not 0 < level < 1:
        raise InvalidInputError(f"--level must be in (0, 1), got {level}")
    fhir_input = data.suffix.lower() == ".json"
    series = read_cgm(data, sensor=sensor)
    if start is not None:
        if fhir_input:
            raise InvalidInputError("--start applies to CSV input; a Bundle's times are its own")
        origin = _start(start)
        series = [dataclasses.replace(s, start=origin) for s in series]
    plan = None if events is None else read_events_csv(events)
    output = output_for(json_output, quiet)
    with output.progress("filling gaps (patients)", total=len(series)) as bar:
        filled = fill_series(
            series, plan, members=members, level=level, seed=seed, sensor=sensor,
            body_weight_kg=body_weight_kg, on_patient=bar.update,
        )  # fmt: skip
    if output_format == "csv":
        written = out
        write_filled_csv(filled, out)
    else:
        written = _write_bundle(filled, out)
    n_imputed = int(sum(int(f.imputed.sum()) for f in filled))
    n_rows = int(sum(f.t_min.size for f in filled))
    output.result(
        {"patients": len(filled), "rows": n_rows, "imputed": n_imputed, "level": level,
         "format": output_format, "out": written},
        f"{len(filled)} patient(s), {n_rows} grid times, {n_imputed} filled by the twin "
        f"(flagged, {level:g} bands) -> {written}",
    )  # fmt: skip


def _start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidInputError(
            f"--start {text!r} is not an ISO 8601 time; give e.g. 2025-01-01T00:00:00+00:00"
        ) from err
    if value.tzinfo is None:
        raise InvalidInputError(f"--start {text!r} has no time zone; add one, e.g. +00:00")
    return value


def _write_bundle(filled: Sequence[FilledSeries], folder: Path) -> Path:
    from healthtwin.interop.fhir_bundle import patients_to_bundle
    from healthtwin.scenarios.cgm_gaps import filled_patients

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bundle.json"
    bundle = patients_to_bundle(filled_patients(filled))
    path.write_text(bundle.model_dump_json(by_alias=True, exclude_none=True), encoding="utf-8")
    return path


def register(app: typer.Typer) -> None:
    """Add ``fill-gaps`` to the ``synth`` sub-app."""
    app.command("fill-gaps")(fill_gaps)
