"""``healthtwin synth``: fit tabular generators, sample synthetic patients, report on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.cli.synth_cohort import register
from healthtwin.errors import InvalidInputError, UnknownModelError

synth_app = typer.Typer(
    help="Synthetic patients: fit a generator, sample, and report fidelity/utility/privacy; "
    "virtual cohorts and imputation.",
    no_args_is_help=True,
)
register(synth_app)

METHODS = ("mst", "aim", "copula")
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
    method: Annotated[
        str, typer.Option(help="mst or aim (differentially private), or copula.")
    ] = "mst",
    epsilon: Annotated[float, typer.Option(help="DP epsilon of the fit (mst, aim).")] = 1.0,
    delta: Annotated[float, typer.Option(help="DP delta of the fit (mst, aim).")] = 1e-9,
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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fit a generator on a real table; MST and AIM charge the privacy ledger first.

    \b
    Example:
      healthtwin synth fit --data real.csv --method aim --epsilon 1.0 --out model/
    """
    from healthtwin.governance.privacy_budget import (
        BudgetAccount,
        JsonLinesLedgerStore,
        PrivacyBudget,
        PrivacyLedger,
    )
    from healthtwin.synthetic.aim import AIM
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
    output = output_for(json_output, quiet)
    fitted: FittedGenerator
    progress = output.progress(f"fitting {method} on {len(table)} rows")
    if method == "copula":
        with progress:
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
        account = BudgetAccount(
            book, "synthetic-data", dataset, f"{method.upper()} synthetic table"
        )
        kind = AIM if method == "aim" else MST
        generator = kind(epsilon=epsilon, delta=delta, n_bins=bins, schema=public, account=account)
        with progress:
            fitted = generator.fit(table, rng=rng)
    fitted.save(out)
    privacy = fitted.privacy()
    output.result(
        {"method": method, "out": out, "privacy": privacy},
        f"fitted {method} on {len(table)} rows of {data}; wrote {out}",
        f"privacy: {json.dumps(privacy, default=str)}",
    )


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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Sample ``n`` rows; fhir/omop simulate each patient's records from the sampled table.

    fhir and omop need the columns age_years, sex, bmi_kg_m2 and diabetes.

    \b
    Example:
      healthtwin synth sample --model model/ --n 10000 --format fhir \\
          --out synthetic/
    """
    from healthtwin.synthetic.tabular import load_generator

    if format not in FORMATS:
        raise UnknownModelError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    output = output_for(json_output, quiet)
    table = load_generator(model).sample(n, np.random.default_rng(seed))
    out.mkdir(parents=True, exist_ok=True)
    if format == "csv":
        table.to_csv(out / "synthetic.csv", index=False)
        output.result({"format": format, "n": n, "out": out / "synthetic.csv"},
                      str(out / "synthetic.csv"))  # fmt: skip
        return
    from healthtwin.synthetic.demographics import demographics_from_table
    from healthtwin.synthetic.longitudinal import LongitudinalConfig, generate_patients

    with output.progress(f"simulating {follow_up_days} days of records for {n} patients"):
        patients = generate_patients(
            demographics_from_table(table),
            config=LongitudinalConfig(follow_up_days=follow_up_days),
            seed=seed,
        )
    written = out / "bundle.json" if format == "fhir" else out
    if format == "fhir":
        from healthtwin.synthetic.fhir_output import synthetic_bundle

        bundle = synthetic_bundle(patients)
        written.write_text(bundle.model_dump_json(exclude_none=True))
    else:
        from healthtwin.synthetic.omop_output import write_synthetic_omop

        write_synthetic_omop(patients, out, description="healthtwin synth sample")
    output.result({"format": format, "n": n, "out": written}, str(written))


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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fidelity, utility and privacy of a synthetic table, as HTML and JSON.

    \b
    Example:
      healthtwin synth report --real real.csv --synthetic synth.csv \\
          --out report.html
    """
    from healthtwin.synthetic.evaluation import evaluate, write_report
    from healthtwin.synthetic.tabular import load_generator

    fitted = load_generator(model) if model is not None else None
    output = output_for(json_output, quiet)
    with output.progress("scoring fidelity, utility and privacy"):
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
    output.result(
        {
            "mean_column_distance": result.mean_column_distance,
            "discriminator_auc": result.discriminator_auc,
            "out": out,
        },
        f"mean column distance {result.mean_column_distance:.3f}, discriminator AUC "
        f"{result.discriminator_auc:.3f} (0.5: indistinguishable); wrote {out} and "
        f"{out.with_suffix('.json')}",
    )
