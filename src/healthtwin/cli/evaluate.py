"""``healthtwin patient evaluate``: closed-loop controllers on a virtual cohort, side by side.

The runs (tasks of replicates of one scenario x controller pair) go where ``healthtwin
run``'s do: a Dask ``LocalCluster`` sized to this machine by default (``--workers N``),
an existing cluster with ``--cluster tcp://host:port``, this process with ``--cluster
none`` (also the fallback, with a one-line note, when Dask is not installed);
``HEALTHTWIN_CLUSTER`` sets the default. The numbers are the same wherever they run.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from healthtwin.cli.evaluation_report import write_report
from healthtwin.cli.output import (
    ClusterOption,
    JsonOption,
    QuietOption,
    WorkersOption,
    merge_alias,
    output_for,
)
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.cohort_tasks import resolve_cluster
from healthtwin.scenarios.controller_evaluation import (
    COHORTS,
    CONTROLLER_NAMES,
    METRIC_COLUMNS,
    METRICS,
    SCENARIO_NAMES,
    Evaluation,
    cohort_patients,
    evaluate_cohort,
    metric_rows,
)

CONTROLLERS = CONTROLLER_NAMES
SCENARIOS = SCENARIO_NAMES


def _names(text: str, valid: tuple[str, ...] | list[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if not names or unknown:
        raise InvalidInputError(f"unknown {what} {unknown or text!r}; valid: {', '.join(valid)}")
    return names


def evaluate(
    out: Annotated[Path, typer.Option(help="HTML report to write.")] = Path("report.html"),
    controllers: Annotated[
        str, typer.Option(help=f"Comma list, the first is the baseline: {', '.join(CONTROLLERS)}.")
    ] = "basal-bolus,pid,mpc",
    cohort: Annotated[
        str, typer.Option(help=f"Virtual cohort: {', '.join(COHORTS)}.")
    ] = "simglucose",
    patients: Annotated[
        str | None, typer.Option(help="A subset of the cohort, e.g. adult#001,child#003.")
    ] = None,
    scenarios: Annotated[str, typer.Option(help=f"Comma list: {', '.join(SCENARIOS)}.")] = "snacks",
    days: Annotated[int, typer.Option(help="Days per run (>= 1).")] = 3,
    replicates: Annotated[
        int, typer.Option(help="Replicates per patient (seeds 0, 1, ...; >= 1).")
    ] = 5,
    metrics_csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write per-run metrics to this CSV.")
    ] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", hidden=True)] = None,
    cluster: ClusterOption = None,
    workers: WorkersOption = None,
    replicates_per_task: Annotated[
        int | None,
        typer.Option(
            "--replicates-per-task",
            help="Cut each controller x scenario pair into tasks of this many replicates "
            "(default: about one task per worker).",
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run controllers in closed loop (CGM + pump) and report metrics with paired intervals.

    \b
    Example:
      healthtwin patient evaluate --controllers basal-bolus,pid,mpc --days 3 \\
          --replicates 5 --out report.html --csv runs.csv
      healthtwin patient evaluate --cluster none --patients adult#001
      healthtwin patient evaluate --cluster tcp://10.0.0.5:8786 --replicates 20
    """
    seeds = merge_alias(replicates, seeds, 5, name="--replicates", old="--seeds")
    if days < 1 or seeds < 1:
        raise InvalidInputError(f"--days and --replicates must be >= 1, got {days} and {seeds}")
    output = output_for(json_output, quiet)
    where = resolve_cluster(cluster, workers, output.warn)
    chosen = _names(controllers, CONTROLLERS, "controller(s)")
    pool = cohort_patients(cohort)
    names = pool if patients is None else _names(patients, pool, "patient(s)")
    kinds = _names(scenarios, list(SCENARIOS), "scenario(s)")
    with output.progress(
        f"evaluating {', '.join(chosen)} on {len(names)} patients x {seeds} seeds x {days} days"
        " (tasks)"
    ) as bar:
        evaluation = evaluate_cohort(
            chosen, names, kinds, days=days, replicates=seeds, cluster=where, workers=workers,
            replicates_per_task=replicates_per_task, progress=bar.update,
        )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(evaluation, out)
    if metrics_csv is not None:
        _write_metrics(evaluation, metrics_csv)
    document = {
        "controllers": chosen, "patients": names, "replicates": seeds, "days": days,
        "scenarios": {kind: evaluation.table(kind) for kind in evaluation.scenarios},
        "out": out, "csv": metrics_csv,
    }  # fmt: skip
    tables = [_summary(evaluation, kind) for kind in evaluation.scenarios]
    output.result(document, *tables, f"wrote {out}", err=True)


def _summary(evaluation: Evaluation, kind: str) -> Table:
    table = Table(title=f"{kind}: mean over patient-runs", title_justify="left")
    table.add_column("controller")
    shown = ("tir_70_180", "tbr_70", "tbr_54", "tar_180", "gri")
    for m in shown:
        table.add_column(METRICS[m][0], justify="right")
    means = evaluation.table(kind)
    for name in evaluation.controllers:
        table.add_row(name, *(f"{means[name][m][0]:.2f}" for m in shown))
    return table


def _write_metrics(evaluation: Evaluation, path: Path) -> None:
    """One row per scenario x controller x patient x seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(METRIC_COLUMNS)
        writer.writerows(metric_rows(evaluation))
