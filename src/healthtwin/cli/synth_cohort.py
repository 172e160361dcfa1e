"""``healthtwin synth cohort`` and ``healthtwin synth impute``.

The commands are plain functions registered on the ``synth`` sub-app by :func:`register`
(``cli/synth.py`` owns that sub-app and calls ``register(synth_app)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.cohort import generate_cohort
from healthtwin.synthetic.cohort_spec import load_cohort_spec
from healthtwin.synthetic.imputation import multiple_imputation

__all__ = ["cohort", "impute", "register"]


def cohort(
    spec: Annotated[Path, typer.Option("--spec", help="YAML cohort specification")],
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
      healthtwin synth cohort --spec cohort.yaml --n 1000 --out cohort.parquet
      healthtwin synth cohort --spec cohort.yaml --country Japan --out japan.csv
    """
    output = output_for(json_output, quiet)
    cohort_spec = load_cohort_spec(spec)
    if country is not None:
        from healthtwin.coupling.regional_cohorts import regional_spec
        from healthtwin.population.demography import country_geography

        cohort_spec = regional_spec(
            cohort_spec, country_geography(country, level="national", year=year)
        )
    with output.progress(f"generating {n} members ({n * oversample} candidates)"):
        result = generate_cohort(cohort_spec, n, seed=seed, oversample=oversample)
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
    import pandas as pd

    if method not in ("bayes", "gbm"):
        raise InvalidInputError(f"--method must be 'bayes' or 'gbm', got {method!r}")
    if not data.is_file():
        raise InvalidInputError(f"no file at {data}; give the path of a CSV file")
    frame = pd.read_csv(data)
    numeric = frame.select_dtypes(include="number")
    if numeric.shape[1] != frame.shape[1]:
        bad = sorted(set(frame.columns) - set(numeric.columns))
        raise InvalidInputError(f"columns {bad} are not numeric; encode them as numbers first")
    chosen: Literal["bayes", "gbm"] = "gbm" if method == "gbm" else "bayes"
    output = output_for(json_output, quiet)
    with output.progress(f"imputing {m} copies ({method})"):
        result = multiple_imputation(
            numeric.to_numpy(dtype=np.float64), m=m, method=chosen, rng=np.random.default_rng(seed)
        )
    columns = list(frame.columns)
    pd.DataFrame(result.mean, columns=columns).to_csv(out, index=False)
    stem = out.with_suffix("")
    pd.DataFrame(result.mask.astype(int), columns=columns).to_csv(
        f"{stem}_imputed.csv", index=False
    )
    pd.DataFrame(result.variance, columns=columns).to_csv(f"{stem}_variance.csv", index=False)
    output.result(
        {"imputed_cells": int(result.mask.sum()), "m": m, "method": method, "out": out},
        f"{int(result.mask.sum())} cells imputed ({m} copies, {method}) -> {out}",
    )


def register(app: typer.Typer) -> None:
    """Add ``cohort`` and ``impute`` to the ``synth`` sub-app."""
    app.command("cohort")(cohort)
    app.command("impute")(impute)
