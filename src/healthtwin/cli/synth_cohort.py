"""``healthtwin synth cohort | trial | impute | pooled-predict``.

The commands are plain functions registered on the ``synth`` sub-app by :func:`register`
(``cli/synth.py`` owns that sub-app and calls ``register(synth_app)``). ``cohort`` writes
the members and their twins' parameters, which ``trial`` runs two insulin therapies on;
``impute`` writes a completed table and, with ``--copies``, the ``m`` completed copies,
which ``pooled-predict`` runs a saved prognosis model on and pools by Rubin's rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError

__all__ = ["cohort", "impute", "pooled_predict", "register", "trial"]


def cohort(
    spec: Annotated[Path, typer.Option("--scenario", "--spec", help="YAML cohort specification")],
    out: Annotated[Path, typer.Option("--out", help="output table (.csv or .parquet)")],
    n: Annotated[int, typer.Option("--n", min=1, help="members in the cohort")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="root random seed")] = 0,
    oversample: Annotated[
        int, typer.Option("--oversample", min=1, help="candidates drawn per member")
    ] = 4,
    country: Annotated[
        str | None,
        typer.Option(
            "--country",
            help="shape ages by this country's UN WPP pyramid (popdata extra), e.g. Kenya",
        ),
    ] = None,
    year: Annotated[int, typer.Option("--year", help="year of the --country pyramid")] = 2020,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="source table (CSV) for the held-out checks: centiles, age-BMI correlation, "
            "prevalence by age band",
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Generate a virtual cohort matched to the spec's targets, with its validation report.

    With --country the ages follow that country's population pyramid within the spec's
    inclusion range, and the validation report checks them against it. The report also
    lists checks the matching did not force ("not matched"), against --reference when
    given. The twins' parameters are written beside the table (<out>_twins.npz) for
    synth trial.

    \b
    Example:
      healthtwin synth cohort --scenario cohort.yaml --n 1000 --out cohort.parquet
      healthtwin synth cohort --scenario cohort.yaml --country Japan \\
          --out japan.csv
    """
    from healthtwin.scenarios.synthetic_cohorts import (
        COHORT_STAGES,
        generate_virtual_cohort,
        load_cohort,
        read_reference_table,
    )

    output = output_for(json_output, quiet)
    cohort_spec = load_cohort(spec, country=country, year=year)
    source = None if reference is None else read_reference_table(reference)
    task = f"generating {n} members from {n * oversample} candidates (stages)"
    with output.progress(task, total=COHORT_STAGES) as bar:
        result = generate_virtual_cohort(
            cohort_spec, n, seed=seed, oversample=oversample, reference=source,
            on_progress=bar.update,
        )  # fmt: skip
    result.write(out)
    report = out.with_name(out.stem + "_validation.txt")
    report.write_text(result.report_text() + "\n", encoding="utf-8")
    held_out = [
        {"check": h.check, "expected": h.expected, "achieved": h.achieved, "lower": h.lower,
         "upper": h.upper, "passed": h.passed}
        for h in result.held_out
    ]  # fmt: skip
    output.result(
        {"n": result.n, "candidates": result.candidates, "implausible": result.implausible,
         "out": out, "report": report, "validation": result.report_text(),
         "not_matched": held_out},
        result.report_text(),
        f"{result.n} members from {result.candidates} candidates "
        f"({result.implausible} implausible twins dropped) -> {out}; report -> {report}",
    )  # fmt: skip


def impute(
    data: Annotated[Path, typer.Option("--data", help="CSV with empty cells to fill")],
    out: Annotated[Path, typer.Option("--out", help="completed CSV (mean of the copies)")],
    m: Annotated[int, typer.Option("--m", min=2, help="number of imputations")] = 5,
    method: Annotated[str, typer.Option("--method", help="bayes or gbm")] = "bayes",
    seed: Annotated[int, typer.Option("--seed", help="root random seed")] = 0,
    copies: Annotated[
        Path | None,
        typer.Option("--copies", help="folder for the m completed copies (for pooled-predict)"),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Multiple imputation of a numeric CSV; writes the completed table, flags and variances.

    Continuous columns in ``--out`` are the mean of the copies; discrete ones (whole
    numbers with at most 10 levels: binary flags, coded categories) their per-cell mode.
    Beside ``--out`` come ``<out>_imputed.csv`` (1 where a cell was imputed),
    ``<out>_variance.csv`` (between-imputation variance per cell) and
    ``<out>_columns.csv`` (each column's kind and summary). ``--copies DIR`` also writes
    the m completed copies there, for ``synth pooled-predict``.

    \b
    Example:
      healthtwin synth impute --data incomplete.csv --out completed.csv
    """
    from healthtwin.scenarios.synthetic_cohorts import impute_table, read_numeric_table

    if method not in ("bayes", "gbm"):
        raise InvalidInputError(f"--method must be 'bayes' or 'gbm', got {method!r}")
    frame = read_numeric_table(data)
    output = output_for(json_output, quiet)
    with output.progress(f"imputing copies ({method})", total=m) as bar:
        imputed = impute_table(
            frame,
            out,
            m=m,
            method="gbm" if method == "gbm" else "bayes",
            seed=seed,
            copies=copies,
            on_copy=bar.update,
        )
    output.result(
        {"imputed_cells": imputed, "m": m, "method": method, "out": out, "copies": copies},
        f"{imputed} cells imputed ({m} copies, {method}) -> {out}"
        + ("" if copies is None else f"; copies -> {copies}"),
    )


def trial(
    data: Annotated[
        Path, typer.Option("--data", help="cohort table written by synth cohort (.csv/.parquet)")
    ],
    arms: Annotated[
        str, typer.Option("--arms", help="two arm files A,B (YAML: name, basal_factor, ...)")
    ],
    out: Annotated[Path, typer.Option("--out", help="output folder")],
    days: Annotated[int, typer.Option("--days", min=1, help="days simulated per arm")] = 2,
    level: Annotated[float, typer.Option("--level", help="coverage of the intervals")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="root random seed")] = 0,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """In-silico trial of two insulin therapies on a cohort's members with diabetes.

    Both arms see the same twins, meals and sensor noise (common random numbers); the
    effect B - A on mean glucose, time in range and time below 70 mg/dL comes with a
    Student-t interval. Writes trial.json, effects.csv and outcomes.csv into --out.

    \b
    Example:
      healthtwin synth trial --data cohort.parquet --arms usual.yaml,more.yaml \\
          --out trial/
    """
    from healthtwin.scenarios.synthetic_trials import load_arm, run_cohort_trial, write_trial

    files = [Path(a.strip()) for a in arms.split(",") if a.strip()]
    if len(files) != 2:
        raise InvalidInputError(f"--arms needs two files A,B separated by a comma, got {arms!r}")
    if not 0 < level < 1:
        raise InvalidInputError(f"--level must be in (0, 1), got {level}")
    arm_a, arm_b = load_arm(files[0]), load_arm(files[1])
    output = output_for(json_output, quiet)
    with output.progress(f"simulating {arm_a.name} and {arm_b.name}"):
        result = run_cohort_trial(data, arm_a, arm_b, days=days, seed=seed, level=level)
    summary, effects, _ = write_trial(result, out)
    lines = [
        f"{e.outcome}: {arm_b.name} - {arm_a.name} = {e.difference:+.3f} "
        f"[{e.lower:+.3f}, {e.upper:+.3f}]"
        for e in result.result.effects
    ]
    output.result(
        {"patients": len(result.member_rows), "out": out, "summary": summary,
         "effects": json.loads(summary.read_text(encoding="utf-8"))["effects"]},
        *lines,
        f"{len(result.member_rows)} patients, {days} days per arm -> {summary}, {effects}",
    )  # fmt: skip


def pooled_predict(
    data: Annotated[Path, typer.Option("--data", help="folder written by synth impute --copies")],
    model: Annotated[Path, typer.Option("--model", help="saved prognosis model folder")],
    out: Annotated[Path, typer.Option("--out", help="pooled predictions (CSV)")],
    level: Annotated[float, typer.Option("--level", help="coverage of the intervals")] = 0.95,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Predict on every imputed copy with a saved model; pool by Rubin's rules.

    Each record's interval adds the spread across copies (what the gaps leave unknown)
    to the model's own variance; records without an imputed input keep the model's.

    \b
    Example:
      healthtwin synth pooled-predict --data copies/ --model model/ \\
          --out pooled.csv
    """
    from healthtwin.scenarios.synthetic_cohorts import pooled_predictions

    if not 0 < level < 1:
        raise InvalidInputError(f"--level must be in (0, 1), got {level}")
    output = output_for(json_output, quiet)
    with output.progress("predicting on each copy"):
        table, pooled = pooled_predictions(model, data, level=level)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    imputed = int(pooled.imputed_inputs.sum())
    output.result(
        {"records": len(table), "with_imputed_inputs": imputed, "copies": pooled.per_copy.shape[0],
         "out": out},
        f"{len(table)} records ({imputed} with imputed inputs) pooled over "
        f"{pooled.per_copy.shape[0]} copies -> {out}",
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``cohort``, ``trial``, ``impute`` and ``pooled-predict`` to the ``synth`` sub-app."""
    app.command("cohort")(cohort)
    app.command("trial")(trial)
    app.command("impute")(impute)
    app.command("pooled-predict")(pooled_predict)
