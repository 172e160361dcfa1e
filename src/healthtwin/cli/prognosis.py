"""``healthtwin prognosis``: train survival models on real data sets, predict with intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.errors import InvalidInputError

prognosis_app = typer.Typer(help="Risk prediction and disease progression.", no_args_is_help=True)

MODEL_FILE = "model.skops"
BASELINE_FILE = "explanation_baseline.json"


@prognosis_app.command("train")
def train(
    dataset: Annotated[
        str, typer.Option(help="A data set: survival (gbsg2, whas500...) or diabetes.")
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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fit a survival model (plus bootstrap refits) and write it with its model card.

    \b
    Example:
      healthtwin prognosis train --dataset whas500 --model cox \\
          --replicates 20 --out model/
    """
    from healthtwin.prognosis.ablation import typical_values
    from healthtwin.prognosis.bootstrap import BootstrapSurvival
    from healthtwin.prognosis.datasets import load_dataset
    from healthtwin.prognosis.evaluation import cross_validate_survival
    from healthtwin.prognosis.persistence import ModelCard, feature_types, save_model

    if replicates < 2 or folds < 2:
        raise InvalidInputError(f"--replicates and --folds must be >= 2, got {replicates}, {folds}")
    output = output_for(json_output, quiet)
    data = load_dataset(dataset)
    if data.kind == "regression":
        _train_progression(data, model, out, seed, output)
        return
    time, event = data.survival_target()
    with output.progress(f"training {model} on {data.name}", total=3) as bar:
        bar.describe(f"cross-validating {model} ({folds} folds)")
        cv = cross_validate_survival(
            model, data.features, time, event, n_splits=folds, n_repeats=1, random_state=seed
        )
        bar.advance()
        bar.describe(f"fitting {model} and {replicates} bootstrap refits")
        fitted = BootstrapSurvival(model, replicates=replicates, seed=seed).fit(
            data.features, time, event
        )
        bar.advance()
        bar.describe("out-of-fold calibration and fairness")
        metrics = {f"cv_{k}": float(v["mean"]) for k, v in cv.summary().items()}
        reports, calibration = _fairness(model, data, time, event, groups, horizon, folds, seed)
        bar.advance()
    metrics[f"calibration_mae_at_{calibration.horizon:g}"] = float(calibration.mean_absolute_error)
    for report in reports:
        for gap in report.gaps:
            metrics[f"fairness_{report.column}_{gap.metric}_gap"] = float(gap.difference)
    card = ModelCard(
        name=f"{model} survival model ({data.name})",
        dataset=data.name,
        dataset_source=data.source,
        dataset_licence=data.licence,
        features=feature_types(data.features),
        metrics=metrics,
        intended_use=(
            "research and education: survival probabilities of patients like those in "
            f"{data.name} ({data.description}), time in {data.time_unit}"
        ),
        limitations=(
            "fitted on one historical cohort; not validated for clinical use or for "
            "populations unlike the training cohort; intervals are bootstrap percentile "
            "intervals of the model's sampling variability, not of the outcome"
        ),
    )
    out.mkdir(parents=True, exist_ok=True)
    saved = save_model(fitted, out / MODEL_FILE, card)
    baseline = {
        k: v if isinstance(v, str) else float(v)  # type: ignore[arg-type]
        for k, v in typical_values(data.features).items()
    }
    (out / BASELINE_FILE).write_text(json.dumps(baseline, indent=2) + "\n")
    output.result(
        {"model": out / MODEL_FILE, "sha256": saved.sha256, "metrics": metrics},
        f"wrote {out / MODEL_FILE} (sha256 {saved.sha256[:12]}...) and its card",
        *(f"{k}: {v:.3f}" for k, v in metrics.items()),
        *(_fairness_table(report) for report in reports),
        err=True,
    )


def _train_progression(data: Any, model: str, out: Path, seed: int, output: Output) -> None:
    """Fit a progression model, calibrate its conformal intervals, score them held out."""
    from healthtwin.prognosis.ablation import typical_values
    from healthtwin.prognosis.persistence import ModelCard, feature_types, save_model
    from healthtwin.prognosis.progression import REGRESSORS, ProgressionModel

    if model not in REGRESSORS:
        raise InvalidInputError(
            f"{data.name} is a progression (regression) data set; --model must be one of "
            f"{', '.join(REGRESSORS)}, got {model!r}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.n_patients)
    fit_rows, cal_rows, test_rows = np.array_split(
        order, [int(0.6 * order.size), int(0.8 * order.size)]
    )
    frame, y = data.features, np.asarray(data.y)
    fitted = ProgressionModel(model, categorical=data.categorical, random_state=seed)
    with output.progress(f"fitting {model} on {data.name}"):
        fitted.fit(frame.iloc[fit_rows], y[fit_rows])
        fitted.calibrate(frame.iloc[cal_rows], y[cal_rows])
    held = fitted.predict_interval(frame.iloc[test_rows], alpha=0.1)
    errors = np.abs(fitted.predict(frame.iloc[test_rows]) - y[test_rows])
    metrics = {
        "holdout_mae": float(errors.mean()),
        "holdout_coverage_90": float(np.mean(held.covers(y[test_rows]))),
        "holdout_mean_width_90": float(np.mean(held.width)),
    }
    card = ModelCard(
        name=f"{model} progression model ({data.name})",
        dataset=data.name,
        dataset_source=data.source,
        dataset_licence=data.licence,
        features=feature_types(frame),
        metrics=metrics,
        intended_use=f"research and education: {data.description}",
        limitations=(
            "fitted on one historical cohort; not validated for clinical use; split-conformal "
            "90 % intervals hold on average over patients exchangeable with the calibration set"
        ),
    )
    out.mkdir(parents=True, exist_ok=True)
    saved = save_model(fitted, out / MODEL_FILE, card)
    baseline = {
        k: v if isinstance(v, str) else float(v)  # type: ignore[arg-type]
        for k, v in typical_values(frame).items()
    }
    (out / BASELINE_FILE).write_text(json.dumps(baseline, indent=2) + "\n")
    output.result(
        {"model": out / MODEL_FILE, "sha256": saved.sha256, "metrics": metrics},
        f"wrote {out / MODEL_FILE} (sha256 {saved.sha256[:12]}...) and its card",
        *(f"{k}: {v:.3f}" for k, v in metrics.items()),
        err=True,
    )


def _fairness(
    model: str,
    data: Any,
    time: Any,
    event: Any,
    groups: str | None,
    horizon: float | None,
    folds: int,
    seed: int,
) -> tuple[list[Any], Any]:
    """Out-of-fold calibration at the horizon and subgroup reports (age bands, sex...)."""
    from healthtwin.prognosis.fairness import age_bands
    from healthtwin.prognosis.out_of_fold import out_of_fold_survival, subgroup_fairness
    from healthtwin.prognosis.survival_calibration import calibration_from_risk

    frame = data.features
    if groups is None:
        chosen = [c for c in frame.columns if c.lower() in ("age", "sex", "gender")]
    else:
        chosen = [c.strip() for c in groups.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in frame.columns]
        if unknown:
            raise InvalidInputError(
                f"--groups: no column(s) {unknown} in {data.name}; columns: {list(frame.columns)}"
            )
    at = float(np.median(time)) if horizon is None else horizon
    if not at > 0:
        raise InvalidInputError(f"--horizon must be > 0, got {horizon}")
    survival = out_of_fold_survival(model, frame, time, event, at, folds=folds, seed=seed)
    calibration = calibration_from_risk(1.0 - survival, time, event, at)
    reports = []
    for column in chosen:
        values = frame[column]
        labels = age_bands(values) if column.lower() == "age" else values.astype(str)
        name = "age_band" if column.lower() == "age" else column
        reports.append(subgroup_fairness(labels, survival, time, event, at, column=name))
    return reports, calibration


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


def _read_input(path: Path, features: dict[str, str]) -> Any:
    import pandas as pd

    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give a CSV of patients")
    frame = pd.read_csv(path)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {missing}; the model needs {list(features)}"
        )
    frame = frame[list(features)]
    for name, kind in features.items():
        if kind == "category":
            frame[name] = frame[name].astype(str).astype("category")
    return frame


@prognosis_app.command("predict")
def predict(
    model: Annotated[Path, typer.Option(help="Folder written by prognosis train.")],
    input: Annotated[Path, typer.Option(help="CSV of patients, the model's feature columns.")],
    out: Annotated[Path, typer.Option(help="CSV of predictions to write.")],
    times: Annotated[str, typer.Option(help="Times for survival probabilities.")] = "365,730,1825",
    top: Annotated[int, typer.Option(help="Explanations per patient.")] = 3,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Survival probabilities at chosen times with intervals, plus top explanations.

    \b
    Example:
      healthtwin prognosis predict --model model/ --input patients.csv \\
          --out predictions.csv
    """
    from healthtwin.prognosis.ablation import ablation_contributions
    from healthtwin.prognosis.persistence import load_model

    try:
        grid = [float(t) for t in times.split(",") if t.strip()]
    except ValueError as err:
        raise InvalidInputError(f"--times takes numbers like 365,730, got {times!r}") from err
    if not grid or min(grid) <= 0:
        raise InvalidInputError(f"--times must be positive, got {times!r}")
    import pandas as pd

    fitted, card = load_model(model / MODEL_FILE)
    frame = _read_input(input, dict(card.features))
    baseline = json.loads((model / BASELINE_FILE).read_text())
    columns = list(frame.columns)
    if hasattr(fitted, "predict_interval"):  # a progression model
        interval = fitted.predict_interval(frame, alpha=0.1)
        table = pd.DataFrame(
            {
                "prediction": fitted.predict(frame),
                "lower_90": interval.lower,
                "upper_90": interval.upper,
            }
        )
        contributions = ablation_contributions(fitted.predict, frame, baseline)
    else:
        prediction = fitted.predict(frame, grid)
        contributions = ablation_contributions(fitted.predict_risk, frame, baseline)
        table = pd.DataFrame({"risk_score": fitted.predict_risk(frame)})
        for j, t in enumerate(grid):
            table[f"survival_{t:g}"] = prediction.survival[:, j]
            table[f"survival_{t:g}_p5"] = prediction.low[:, j]
            table[f"survival_{t:g}_p95"] = prediction.high[:, j]
    order = np.argsort(-np.abs(contributions), axis=1)[:, :top]
    for k in range(min(top, len(columns))):
        table[f"explanation_{k + 1}"] = [
            f"{columns[order[i, k]]}={frame.iloc[i][columns[order[i, k]]]} "
            f"({contributions[i, order[i, k]]:+.3g})"
            for i in range(len(frame))
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g")
    output_for(json_output, quiet).result(
        {"patients": len(frame), "model": card.name, "out": out},
        f"wrote {out} ({len(frame)} patients, model {card.name})",
        err=True,
    )
