"""``healthtwin prognosis``: train survival models on real data sets, predict with intervals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from healthtwin.cli.output import JsonOption, ProgressTask, QuietOption, output_for
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.prognosis_runs import (
    BASELINE_FILE,
    MODEL_FILE,
    TrainedModel,
    load_prognosis_dataset,
    predict_patients,
    survival_fits,
    train_progression,
    train_survival,
)

__all__ = ["BASELINE_FILE", "MODEL_FILE", "prognosis_app"]

prognosis_app = typer.Typer(help="Risk prediction and disease progression.", no_args_is_help=True)


@prognosis_app.command("train")
def train(
    dataset: Annotated[
        str,
        typer.Option(
            "--data", "--dataset", help="A data set: survival (gbsg2, whas500...) or diabetes."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the model, its card and baseline.")],
    model: Annotated[
        str,
        typer.Option(help="Survival: cox, rsf, gbs. Progression: gradient_boosting, ridge."),
    ] = "cox",
    replicates: Annotated[int, typer.Option(help="Bootstrap refits for intervals.")] = 20,
    folds: Annotated[int, typer.Option(help="Cross-validation folds for the card.")] = 5,
    groups: Annotated[
        str | None,
        typer.Option(help="Columns for the fairness report (default: age bands and sex)."),
    ] = None,
    horizon: Annotated[
        float | None, typer.Option(help="Horizon of the fairness report (default: median time).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report: ROC, calibration, AUC over time."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fit a survival model (plus bootstrap refits) and write it with its model card.

    \b
    Example:
      healthtwin prognosis train --data whas500 --model cox \\
          --replicates 20 --out model/ --report model.html
    """
    if replicates < 2 or folds < 2:
        raise InvalidInputError(f"--replicates and --folds must be >= 2, got {replicates}, {folds}")
    output = output_for(json_output, quiet)
    data = load_prognosis_dataset(dataset)
    trained: TrainedModel
    if data.kind == "regression":
        with output.progress(f"fitting {model} on {data.name} (stages)", total=3) as bar:
            trained = train_progression(data, model, out, seed=seed, on_progress=bar.update)
    else:
        chosen = None if groups is None else [c.strip() for c in groups.split(",") if c.strip()]
        fits = survival_fits(replicates, folds)
        with output.progress(f"training {model} on {data.name} (model fits)", total=fits) as bar:
            trained = train_survival(
                data,
                model,
                out,
                replicates=replicates,
                folds=folds,
                groups=chosen,
                horizon=horizon,
                seed=seed,
                reporter=_StageText(bar),
                on_progress=bar.update,
            )
    if report is not None:
        with output.progress("held-out evidence for the report"):
            _write_report(data, model, trained, report, folds=folds, horizon=horizon, seed=seed)
    output.result(
        {
            "model": trained.path,
            "sha256": trained.sha256,
            "metrics": trained.metrics,
            "report": report,
        },
        f"wrote {trained.path} (sha256 {trained.sha256[:12]}...) and its card",
        *(f"{k}: {v:.3f}" for k, v in trained.metrics.items()),
        *(_fairness_table(report) for report in trained.fairness),
        err=True,
    )


def _write_report(
    data: Any,
    model: str,
    trained: TrainedModel,
    path: Path,
    *,
    folds: int,
    horizon: float | None,
    seed: int,
) -> None:
    from healthtwin.scenarios.prognosis_report import (
        progression_evidence,
        survival_evidence,
        write_progression_report,
        write_survival_report,
    )

    title = f"{model} on {data.name}"
    if data.kind == "regression":
        held_out = progression_evidence(data, trained.path, seed=seed)
        write_progression_report(trained.metrics, held_out, path, title=title)
        return
    # The same folds and seed as training: the page shows the card's held-out numbers.
    evidence = survival_evidence(data, model, folds=folds, horizon=horizon, seed=seed)
    write_survival_report(trained.metrics, evidence, path, title=title, time_unit=data.time_unit)


@dataclass
class _StageText:
    """Shows the stage a scenario reports beside the bar (the fits move the bar)."""

    bar: ProgressTask

    def check(self) -> None:
        """A command line run is stopped by Ctrl-C, not between stages."""

    def progress(self, fraction: float, message: str = "") -> None:
        if message:
            self.bar.describe(message)


def _fairness_table(report: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"risk by {report.column} (out-of-fold)", title_justify="left")
    for head in ("group", "n", "event rate", "AUC", "Brier"):
        table.add_column(head, justify="right")
    for g in report.groups:
        m = g.metrics
        table.add_row(
            str(g.group),
            str(g.n) + (" (small)" if g.small else ""),
            f"{m.get('event_rate', float('nan')):.2f}",
            f"{m.get('auc', float('nan')):.3f}",
            f"{m.get('brier', float('nan')):.3f}",
        )
    return table


@prognosis_app.command("predict")
def predict(
    model: Annotated[Path, typer.Option(help="Folder written by prognosis train.")],
    input: Annotated[
        Path,
        typer.Option("--data", "--input", help="CSV of patients, the model's feature columns."),
    ],
    out: Annotated[Path, typer.Option(help="CSV of predictions to write.")],
    times: Annotated[str, typer.Option(help="Times for survival probabilities.")] = "365,730,1825",
    top: Annotated[int, typer.Option(help="Explanations per patient.")] = 3,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Survival probabilities at chosen times with intervals, plus top explanations.

    \b
    Example:
      healthtwin prognosis predict --model model/ --data patients.csv \\
          --out predictions.csv
    """
    try:
        grid = [float(t) for t in times.split(",") if t.strip()]
    except ValueError as err:
        raise InvalidInputError(f"--times takes numbers like 365,730, got {times!r}") from err
    if not grid or min(grid) <= 0:
        raise InvalidInputError(f"--times must be positive, got {times!r}")
    predictions = predict_patients(model, input, grid, top)
    out.parent.mkdir(parents=True, exist_ok=True)
    predictions.table.to_csv(out, index=False, float_format="%.6g")
    n = predictions.patients
    output_for(json_output, quiet).result(
        {"patients": n, "model": predictions.model_name, "out": out},
        f"wrote {out} ({n} patients, model {predictions.model_name})",
        err=True,
    )
