"""``healthtwin synth``: fit tabular generators, sample synthetic patients, report on them.

``synth sample --format fhir|omop`` generates and writes patients in chunks of
:data:`CHUNK_PATIENTS` (250), so memory holds one chunk whatever ``--n``: chunk ``c``
simulates rows ``250 c ...`` of the sampled table with the seed that
:class:`~healthtwin.core.random.RandomStreams` derives from ``--seed`` and the name
``chunk-<c>``, and ids continue across chunks (``synthetic-00000``...). The records depend
on the chunk size, which is therefore fixed. fhir writes FHIR Bulk Data NDJSON
(``Patient.ndjson``, ``Observation.ndjson``...; see
:func:`~healthtwin.synthetic.fhir_output.write_synthetic_ndjson`), plus one
``bundle.json`` collection Bundle when ``--n`` is at most :data:`BUNDLE_MAX_PATIENTS`
(a larger Bundle passes readers' default limit of 100,000 entries); omop appends each
chunk to the CSV tables (:class:`~healthtwin.synthetic.omop_output.SyntheticOmopWriter`).

Measured with ``/usr/bin/time -v`` (copula model fitted on a 1,000-row table that is 20 %
diabetic, ``--follow-up-days 30``, seed 0). Wall times were taken while other jobs loaded
the two shared cores (load average 7-11), so CPU time (user + system) is the comparable
figure; about 70 s of the 10,000-patient runs is the simulation itself
(:func:`~healthtwin.synthetic.longitudinal.generate_patients`, 1.7 s per 250 patients).
Memory stays flat from 1,000 to 10,000 patients.

======  ======  ========  =========  ========  ======================================
format  n       CPU (s)   wall (s)   peak RSS  written
======  ======  ========  =========  ========  ======================================
fhir    1000    12.5      43         294 MiB   120,854 resources, 94 MB NDJSON
fhir    10000   88        413        320 MiB   1,210,328 resources, 936 MB NDJSON
omop    1000    11.5      62         317 MiB   19 MB of CSV tables
omop    10000   85        537        345 MiB   192 MB of CSV tables
======  ======  ========  =========  ========  ======================================

Writing FHIR costs 24 us of CPU per resource (25 patients, 3,458 resources: 0.084 s)
against 1.5 ms through one validated pydantic Bundle (5.3 s), 63 times less; before this
change fhir at n = 10,000 built that Bundle in memory and held 17 GB RSS after 11 minutes,
unfinished.

The work itself is :mod:`healthtwin.scenarios.synthetic_runs`; this module parses the
options, shows progress and says what was written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.cli.synth_cohort import register
from healthtwin.cli.synth_gaps import register as register_fill_gaps
from healthtwin.errors import InvalidInputError, UnknownModelError

synth_app = typer.Typer(
    help="Synthetic patients: fit a generator, sample, and report fidelity/utility/privacy; "
    "virtual cohorts and imputation.",
    no_args_is_help=True,
)
register(synth_app)
register_fill_gaps(synth_app)

METHODS = ("mst", "aim", "copula")
DP_METHODS = ("mst", "aim")
FORMATS = ("csv", "fhir", "omop")
LEDGER_FILE = "privacy_ledger.jsonl"
#: Patients simulated and written at a time by ``synth sample --format fhir|omop``.
CHUNK_PATIENTS = 250
#: Largest ``--n`` for which ``synth sample --format fhir`` also writes ``bundle.json``.
BUNDLE_MAX_PATIENTS = 500


@synth_app.command("fit")
def fit(
    data: Annotated[Path, typer.Option(help="The real table (CSV, one row per patient).")],
    out: Annotated[Path, typer.Option(help="Folder for the fitted generator.")],
    method: Annotated[
        str, typer.Option(help="mst or aim (differentially private), or copula.")
    ] = "mst",
    epsilon: Annotated[float, typer.Option(help="DP epsilon of the fit (mst, aim).")] = 1.0,
    delta: Annotated[float, typer.Option(help="DP delta of the fit (mst, aim).")] = 1e-9,
    bins: Annotated[
        int, typer.Option(help="Public equal-width bins per numeric column without schema bins.")
    ] = 10,
    schema: Annotated[
        Path | None,
        typer.Option(
            help="Public schema (YAML from `synth schema`, or JSON); else inferred from the "
            "data, outside the DP guarantee (a warning says so)."
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help=f"Privacy ledger (JSON lines); default $HEALTHTWIN_HOME/{LEDGER_FILE} "
            "(~/.healthtwin), shared by every fit."
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            help="Epsilon budget of the data set, fixed in the ledger by its first DP fit "
            "(default: that fit's epsilon); later fits spend within it and cannot change it."
        ),
    ] = None,
    budget_delta: Annotated[
        float | None,
        typer.Option(help="Delta of the data set's budget (default: the first fit's --delta)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fit a generator on a real table; MST and AIM charge the privacy ledger first.

    The ledger keys the data set by the SHA-256 of the file (a renamed copy is the same
    data set) and adds up the fits' zCDP rho against the data set's budget, which its
    first DP fit records: a fit that does not fit in what remains is refused (exit 2),
    and so is a different --budget later.

    \b
    Example:
      healthtwin synth fit --data real.csv --method aim --epsilon 1.0 --out model/
    """
    from healthtwin.scenarios.synthetic_runs import (
        dataset_key,
        fit_generator,
        fit_warnings,
        read_table,
        read_table_schema,
    )

    if method not in METHODS:
        raise UnknownModelError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    table = read_table(data)
    public = None if schema is None else read_table_schema(schema)
    output = output_for(json_output, quiet)
    warnings = fit_warnings(method, public)
    for text in warnings:
        output.warn(text)
    key = dataset_key(data) if method in DP_METHODS else data.name
    out.mkdir(parents=True, exist_ok=True)
    description = f"fitting {method} on {len(table)} rows"
    with output.progress(description, total=1.0) as bar:

        def advance(fraction: float, step: str) -> None:
            # MST and AIM report the share of the budget spent, and the step or round.
            bar.update(fraction)
            bar.describe(f"{description}: {step}")

        privacy = fit_generator(
            table, out, method=method, dataset=key, ledger=ledger, epsilon=epsilon,
            delta=delta, bins=bins, schema=public, budget=budget, budget_delta=budget_delta,
            label=data.name, seed=seed, progress=advance,
        )  # fmt: skip
    output.result(
        {"method": method, "out": out, "privacy": privacy, "warnings": list(warnings)},
        f"fitted {method} on {len(table)} rows of {data}; wrote {out}",
        f"privacy: {json.dumps(privacy, default=str)}",
    )


@synth_app.command("schema")
def schema(
    data: Annotated[Path, typer.Option(help="The real table (CSV) to draft the schema from.")],
    out: Annotated[Path, typer.Option(help="The schema template to write (YAML).")],
    bins: Annotated[int, typer.Option(help="Bins per numeric column in the template.")] = 10,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write an editable public schema template (YAML) for `synth fit --schema`.

    Column kinds, categories, bounds and bins (n with scale linear or log, or explicit
    edges) are filled in from the data as a draft; its bounds must be replaced by public
    knowledge before a differentially private fit (the file's header says so). Skewed,
    positive columns get log-scale bins.

    \b
    Example:
      healthtwin synth schema --data real.csv --out schema.yaml
    """
    from healthtwin.scenarios.synthetic_runs import read_table, write_schema_template

    output = output_for(json_output, quiet)
    drafted = write_schema_template(read_table(data), out, n_bins=bins, source=data.name)
    output.warn(
        f"the bounds in {out} come from {data}: replace them with public knowledge before a DP fit"
    )
    log = [c.name for c in drafted.columns if c.bins is not None and str(c.bins.scale) == "log"]
    output.result(
        {"out": out, "columns": list(drafted.names), "log_scale": log},
        f"wrote {out}: {len(drafted.columns)} columns"
        + (f", log-scale bins for {', '.join(log)}" if log else ""),
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
    columns: Annotated[
        str | None,
        typer.Option(
            help="fhir/omop: the table's columns for the simulator, e.g. "
            "age_years=age,female=gender,bmi_kg_m2=bmi,diabetes=dm."
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Sample ``n`` rows; fhir/omop simulate each patient's records from the sampled table.

    fhir and omop read age_years, bmi_kg_m2, sex (F/M) or female (yes/no, 1/0), and
    optionally diabetes and hypertension (yes/no, true/false, 1/0; none when absent) and
    height_m; --columns maps them to the table's own names. HbA1c comes from each
    diabetic's twin, not from a table column. Patients are simulated and written 250 at a
    time: fhir writes FHIR Bulk Data NDJSON files (Patient.ndjson, Observation.ndjson...;
    also bundle.json when n <= 500), omop the OMOP CDM 5.4 CSV tables.

    \b
    Example:
      healthtwin synth sample --model model/ --n 10000 --format fhir \\
          --columns age_years=age,female=gender,bmi_kg_m2=bmi --out synthetic/
    """
    from healthtwin.scenarios.synthetic_cohorts import parse_column_map, patient_table
    from healthtwin.scenarios.synthetic_runs import sample_generator, write_patient_records

    if format not in FORMATS:
        raise UnknownModelError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    mapping = parse_column_map(columns)
    output = output_for(json_output, quiet)
    table = sample_generator(model, n, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    if format == "csv":
        table.to_csv(out / "synthetic.csv", index=False)
        output.result({"format": format, "n": n, "out": out / "synthetic.csv"},
                      str(out / "synthetic.csv"))  # fmt: skip
        return
    mapped = patient_table(table, mapping)
    for note in mapped.notes:
        output.warn(note)
    table = mapped.table
    description = f"simulating {follow_up_days:g} days of records for {len(table)} patients"
    with output.progress(description, total=len(table)) as bar:
        written = write_patient_records(
            table, out, format="fhir" if format == "fhir" else "omop",
            follow_up_days=follow_up_days, seed=seed, chunk_patients=CHUNK_PATIENTS,
            bundle_max_patients=BUNDLE_MAX_PATIENTS, advance=bar.advance,
        )  # fmt: skip
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
    time: Annotated[
        str | None,
        typer.Option(
            "--time",
            help="Follow-up column of a censored event target: utility becomes the IPCW "
            "AUROC of the event by --horizon, with Harrell's C.",
        ),
    ] = None,
    horizon: Annotated[
        float | None,
        typer.Option(
            "--horizon", help="Horizon in the --time column's unit (default: median follow-up)."
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fidelity, utility and privacy of a synthetic table, as HTML and JSON.

    Utility (train on synthetic, test on real) and the privacy attacks need --holdout, real
    rows the generator never saw; without it the report lists them as not computed (a
    split of --real would not do: the generator saw all of it) and a warning says so. A
    target with two values (0/1, yes/no) is scored by AUROC, others by R squared. For a
    censored outcome give its follow-up column (--time): the event flag within follow-up
    would count a patient censored early as a non-event.

    \b
    Example:
      healthtwin synth report --real real.csv --synthetic synth.csv \\
          --out report.html
      healthtwin synth report --real train.csv --synthetic synth.csv \\
          --holdout test.csv --target died --time lenfol --out report.html
    """
    from healthtwin.scenarios.synthetic_runs import score_synthetic, write_synthetic_report

    output = output_for(json_output, quiet)
    if horizon is not None and time is None:
        raise InvalidInputError("--horizon needs --time, the follow-up column it is counted in")
    if holdout is None:
        output.warn(
            "no --holdout: the report has no utility and no privacy section, and its "
            "discriminator compares with the training rows; give --holdout <rows the "
            "generator never saw> for utility and privacy"
        )
    with output.progress("scoring fidelity, utility and privacy"):
        result = score_synthetic(
            real,
            synthetic,
            holdout=holdout,
            target=target,
            model=model,
            seed=seed,
            time=time,
            horizon=horizon,
        )
    write_synthetic_report(result, out)
    output.result(
        {
            "mean_column_distance": result.mean_column_distance,
            "discriminator_auc": result.discriminator_auc,
            "discriminator_real": result.discriminator_real,
            "missing": sorted(result.missing),
            "out": out,
        },
        f"mean column distance {result.mean_column_distance:.3f}, discriminator AUC "
        f"{result.discriminator_auc:.3f} against the {result.discriminator_real} rows (0.5: "
        f"indistinguishable); wrote {out} and {out.with_suffix('.json')}",
    )
