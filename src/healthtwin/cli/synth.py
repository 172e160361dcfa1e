"""``healthtwin synth``: fit tabular generators, sample synthetic patients, report on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from healthtwin.cli.synth_cohort import register
from healthtwin.errors import InvalidInputError, UnknownModelError

synth_app = typer.Typer(
    help="Synthetic patients: fit a generator, sample, and report fidelity/utility/privacy; "
    "virtual cohorts and imputation.",
    no_args_is_help=True,
)
register(synth_app)

METHODS = ("mst", "copula")
FORMATS = ("csv", "fhir", "omop")
LEDGER_FILE = "privacy_ledger.jsonl"


def _read_csv(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"cannot read {path} as CSV: {err}") from err


@synth_app.command("fit")
def fit(
    data: Annotated[Path, typer.Option(help="The real table (CSV, one row per patient).")],
    out: Annotated[Path, typer.Option(help="Folder for the fitted generator.")],
    method: Annotated[str, typer.Option(help="mst (differentially private) or copula.")] = "mst",
    epsilon: Annotated[float, typer.Option(help="DP epsilon of the fit (mst).")] = 1.0,
    delta: Annotated[float, typer.Option(help="DP delta of the fit (mst).")] = 1e-9,
    bins: Annotated[int, typer.Option(help="Public equal-width bins per numeric column.")] = 10,
    schema: Annotated[
        Path | None,
        typer.Option(help="Public column metadata (JSON of TableSchema.to_dict); else inferred."),
    ] = None,
    ledger: Annotated[
        Path | None, typer.Option(help=f"Privacy ledger (JSON lines); default OUT/{LEDGER_FILE}.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(help="Epsilon budget of the data set in the ledger.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Fit a generator on a real table; MST charges the privacy ledger before it measures."""
    from healthtwin.governance.privacy_budget import (
        BudgetAccount,
        JsonLinesLedgerStore,
        PrivacyBudget,
        PrivacyLedger,
    )
    from healthtwin.synthetic.copula import GaussianCopula
    from healthtwin.synthetic.private_pgm import MST
    from healthtwin.synthetic.tabular import FittedGenerator, TableSchema

    if method not in METHODS:
        raise UnknownModelError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    table = _read_csv(data)
    public = None
    if schema is not None:
        try:
            public = TableSchema.from_dict(json.loads(schema.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InvalidInputError(f"cannot read the schema {schema}: {err}") from err
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    fitted: FittedGenerator
    if method == "copula":
        fitted = GaussianCopula(schema=public).fit(table, rng=rng)
    else:
        dataset = data.stem
        cap = PrivacyBudget(budget if budget is not None else epsilon, delta)
        book = PrivacyLedger(
            JsonLinesLedgerStore(ledger or out / LEDGER_FILE),
            project_budgets={"synthetic-data": cap},
            dataset_budgets={dataset: cap},
            gaussian_delta=delta,
        )
        account = BudgetAccount(book, "synthetic-data", dataset, "MST synthetic table")
        generator = MST(epsilon=epsilon, delta=delta, n_bins=bins, schema=public, account=account)
        fitted = generator.fit(table, rng=rng)
    fitted.save(out)
    typer.echo(json.dumps({"method": method, "out": str(out), "privacy": fitted.privacy()}))


@synth_app.command("sample")
def sample(
    model: Annotated[Path, typer.Option(help="Folder of a fitted generator.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    n: Annotated[int, typer.Option(help="Number of synthetic patients.")] = 1000,
    format: Annotated[str, typer.Option(help="csv, fhir or omop.")] = "csv",
    follow_up_days: Annotated[
        int, typer.Option(help="fhir/omop: days of simulated records per patient.")
    ] = 30,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Sample ``n`` rows; fhir/omop simulate each patient's records from the sampled table.

    fhir and omop need the columns age_years, sex, bmi_kg_m2 and diabetes.
    """
    from healthtwin.synthetic.tabular import load_generator

    if format not in FORMATS:
        raise UnknownModelError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    table = load_generator(model).sample(n, np.random.default_rng(seed))
    out.mkdir(parents=True, exist_ok=True)
    if format == "csv":
        table.to_csv(out / "synthetic.csv", index=False)
        typer.echo(str(out / "synthetic.csv"))
        return
    from healthtwin.synthetic.demographics import demographics_from_table
    from healthtwin.synthetic.longitudinal import LongitudinalConfig, generate_patients

    patients = generate_patients(
        demographics_from_table(table),
        config=LongitudinalConfig(follow_up_days=follow_up_days),
        seed=seed,
    )
    if format == "fhir":
        from healthtwin.synthetic.fhir_output import synthetic_bundle

        bundle = synthetic_bundle(patients)
        (out / "bundle.json").write_text(bundle.model_dump_json(exclude_none=True))
        typer.echo(str(out / "bundle.json"))
    else:
        from healthtwin.synthetic.omop_output import write_synthetic_omop

        write_synthetic_omop(patients, out, description="healthtwin synth sample")
        typer.echo(str(out))


@synth_app.command("report")
def report(
    real: Annotated[Path, typer.Option(help="The real table the generator was fitted on.")],
    synthetic: Annotated[Path, typer.Option(help="The synthetic table.")],
    out: Annotated[Path, typer.Option(help="report.html (a .json is written beside it).")],
    holdout: Annotated[
        Path | None, typer.Option(help="Real rows never given to the generator (utility, DCR).")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Column predicted in the utility task (default: last).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="The generator's folder: its schema and privacy.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Fidelity, utility and privacy of a synthetic table, as HTML and JSON."""
    from healthtwin.synthetic.evaluation import evaluate, write_report
    from healthtwin.synthetic.tabular import load_generator

    fitted = load_generator(model) if model is not None else None
    result = evaluate(
        _read_csv(real),
        _read_csv(synthetic),
        rng=np.random.default_rng(seed),
        holdout=None if holdout is None else _read_csv(holdout),
        target=target,
        schema=None if fitted is None else fitted.schema,
        privacy=None if fitted is None else fitted.privacy(),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(result, out)
    write_report(result, out.with_suffix(".json"))
    typer.echo(
        json.dumps(
            {
                "mean_column_distance": result.mean_column_distance,
                "discriminator_auc": result.discriminator_auc,
                "out": str(out),
            }
        )
    )
