"""``healthtwin synth cohort`` and ``healthtwin synth impute``.

The commands are plain functions registered on the ``synth`` sub-app by :func:`register`
(``cli/synth.py`` owns that sub-app and calls ``register(synth_app)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError

__all__ = ["cohort", "impute", "register"]


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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Generate a virtual cohort matched to the spec's targets, with its validation report.

    With --country the ages follow that country's population pyramid within the spec's
    inclusion range, and the validation report checks them against it.

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
    )

    output = output_for(json_output, quiet)
    cohort_spec = load_cohort(spec, country=country, year=year)
    task = f"generating {n} members from {n * oversample} candidates (stages)"
    with output.progress(task, total=COHORT_STAGES) as bar:
        result = generate_virtual_cohort(
            cohort_spec, n, seed=seed, oversample=oversample, on_progress=bar.update
        )
    result.write(out)
    report = out.with_name(out.stem + "_validation.txt")
    report.write_text(result.report_text() + "\n", encoding="utf-8")
    output.result(
        {"n": result.n, "candidates": result.candidates, "implausible": result.implausible,
         "out": out, "report": report, "validation": result.report_text()},
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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Multiple imputation of a numeric CSV; writes the completed table, flags and variances.

    Beside ``--out`` come ``<out>_imputed.csv`` (1 where a cell was imputed) and
    ``<out>_variance.csv`` (between-imputation variance per cell).

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
            on_copy=bar.update,
        )
    output.result(
        {"imputed_cells": imputed, "m": m, "method": method, "out": out},
        f"{imputed} cells imputed ({m} copies, {method}) -> {out}",
    )


def register(app: typer.Typer) -> None:
    """Add ``cohort`` and ``impute`` to the ``synth`` sub-app."""
    app.command("cohort")(cohort)
    app.command("impute")(impute)
