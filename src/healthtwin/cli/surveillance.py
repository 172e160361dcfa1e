"""``healthtwin surveillance``: outbreak detection on weekly count series."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, merge_alias, output_for
from healthtwin.errors import InvalidInputError

if TYPE_CHECKING:
    from healthtwin.scenarios.surveillance_runs import EvaluationResult

surveillance_app = typer.Typer(help="Outbreak detection on count series.", no_args_is_help=True)


@surveillance_app.command("detect")
def detect_command(
    method: Annotated[
        str, typer.Option(help="farrington-flexible, farrington, ears-c1/c2/c3, cusum.")
    ],
    input: Annotated[
        Path,
        typer.Option(
            "--data", "--input", help="CSV: t, date (ISO Monday), observed[, year, week]."
        ),
    ],
    range_: Annotated[str, typer.Option("--range", help="Weeks to monitor, FIRST:LAST in t.")],
    out: Annotated[Path, typer.Option(help="Output CSV.")],
    b: Annotated[int | None, typer.Option("--b", help="Years back.")] = None,
    w: Annotated[int | None, typer.Option("--w", help="Half window, weeks.")] = None,
    alpha: Annotated[float | None, typer.Option(help="One-sided level.")] = None,
    no_periods: Annotated[int | None, typer.Option(help="Seasonal periods.")] = None,
    past_weeks_not_included: Annotated[
        int | None, typer.Option(help="Recent weeks left out.")
    ] = None,
    threshold_method: Annotated[str | None, typer.Option(help="delta, nbPlugin or muan.")] = None,
    weights_threshold: Annotated[
        float | None, typer.Option(help="Anscombe residual cut-off.")
    ] = None,
    p_threshold_trend: Annotated[float | None, typer.Option(help="Trend test level.")] = None,
    powertrans: Annotated[str | None, typer.Option(help="2/3, 1/2 or none.")] = None,
    limit54: Annotated[str | None, typer.Option(help="CASES,WEEKS, e.g. 5,4.")] = None,
    baseline: Annotated[int | None, typer.Option(help="EARS/CUSUM baseline weeks.")] = None,
    min_sigma: Annotated[float | None, typer.Option(help="EARS minimum sigma.")] = None,
    reweight: Annotated[bool | None, typer.Option("--reweight/--no-reweight")] = None,
    trend: Annotated[bool | None, typer.Option("--trend/--no-trend")] = None,
    r_compat: Annotated[bool | None, typer.Option("--r-compat/--no-r-compat")] = None,
    k: Annotated[float | None, typer.Option("--k", help="CUSUM reference value.")] = None,
    h: Annotated[float | None, typer.Option("--h", help="CUSUM decision interval.")] = None,
    m: Annotated[float | None, typer.Option("--m", help="CUSUM in-control mean.")] = None,
    trans: Annotated[str | None, typer.Option(help="CUSUM transform.")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report: counts, threshold and alarms over time."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a detector on one series; write the detection table as CSV.

    \b
    Example:
      healthtwin surveillance detect --method farrington-flexible \\
          --data salmonella.csv --range 373:528 --out alarms.csv \\
          --report alarms.html
    """
    from healthtwin.scenarios.surveillance_runs import detect_file

    given = {
        "b": b, "w": w, "alpha": alpha, "no_periods": no_periods,
        "past_weeks_not_included": past_weeks_not_included,
        "threshold_method": threshold_method, "weights_threshold": weights_threshold,
        "p_threshold_trend": p_threshold_trend, "powertrans": powertrans,
        "limit54": None if limit54 is None else _pair(limit54), "baseline": baseline,
        "min_sigma": min_sigma, "reweight": reweight, "trend": trend, "r_compat": r_compat,
        "k": k, "h": h, "m": m, "trans": trans,
    }  # fmt: skip
    control = {key: value for key, value in given.items() if value is not None}
    weeks, alarms = detect_file(input, out, method=method, range_t=_range(range_), control=control)
    if report is not None:
        from healthtwin.scenarios.detection_report import detection_report_file

        # Run again on the same file and options (deterministic): the page shows the CSV.
        detection_report_file(input, report, method=method, range_t=_range(range_), control=control)
    output_for(json_output, quiet).result(
        {"method": method, "weeks": weeks, "alarms": alarms, "out": out, "report": report},
        f"wrote {weeks} weeks ({alarms} alarms) to {out}"
        + ("" if report is None else f" and {report}"),
    )


def _range(text: str) -> tuple[int, int]:
    parts = text.split(":")
    try:
        first, last = (int(p) for p in parts)
    except ValueError as err:
        raise InvalidInputError(
            f"--range: got {text!r}; give FIRST:LAST in t, such as 373:528"
        ) from err
    return first, last


def _pair(text: str) -> tuple[int, int]:
    try:
        cases, weeks = (int(p) for p in text.split(","))
    except ValueError as err:
        raise InvalidInputError(f"--limit54: got {text!r}; give CASES,WEEKS such as 5,4") from err
    return cases, weeks


@surveillance_app.command("evaluate")
def evaluate_command(
    out: Annotated[Path, typer.Option(help="Output: .md (summary and tables) or .csv (tidy).")],
    replicates: Annotated[int, typer.Option(help="Replicate series per scenario.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    methods: Annotated[
        str, typer.Option(help="Comma list of methods (default: all detectors).")
    ] = "farrington-flexible,farrington,ears-c1,ears-c2,ears-c3,cusum",
    report: Annotated[
        Path | None, typer.Option(help="Also write an HTML report with plots (FPR, POD).")
    ] = None,
    reps: Annotated[int | None, typer.Option("--reps", hidden=True)] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run detectors on the Noufaily et al. (2013) simulation design; FPR, POD, timeliness.

    \b
    Example:
      healthtwin surveillance evaluate --replicates 30 --out evaluation.md \\
          --report evaluation.html
    """
    from healthtwin.scenarios.surveillance_runs import (
        DETECTORS,
        evaluate_methods,
        simulate_evaluation_design,
    )

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in DETECTORS]
    if unknown or not chosen:
        raise InvalidInputError(f"--methods: unknown {unknown}; choose from {list(DETECTORS)}")
    replicates = merge_alias(replicates, reps, 30, name="--replicates", old="--reps")
    if replicates < 1:
        raise InvalidInputError(f"--replicates must be >= 1; got {replicates}")
    output = output_for(json_output, quiet)
    simulated = simulate_evaluation_design(replicates, seed)
    calls = len(chosen) * len(simulated.scenarios)
    with output.progress(f"evaluating {len(chosen)} detector(s)", total=calls) as bar:

        def step(method: str, scenario: int) -> None:
            bar.describe(f"{method}, scenario {scenario}")
            bar.advance()

        result = evaluate_methods(simulated, chosen, progress=step)
    if out.suffix == ".csv":
        result.to_frame().to_csv(out, index=False)
    else:
        out.write_text(result.to_markdown(), encoding="utf-8")
    if report is not None:
        _evaluation_report(result, report, replicates)
    output.result(
        {"replicates": replicates, "seed": seed, "out": out, "report": report,
         "summary": result.summary()},
        f"evaluated {len(chosen)} method(s) on 42 scenarios x {replicates} series: {out}"
        + ("" if report is None else f" and {report}"),
    )  # fmt: skip


def _evaluation_report(result: EvaluationResult, path: Path, replicates: int) -> None:
    """FPR and POD of each method by scenario, with the averaged summary table."""
    from healthtwin.cli.plots import figure_data_uri, html_report, html_table, new_figure

    frame = result.to_frame()
    summary = result.summary()
    fig = new_figure(10, 6)
    axes = fig.subplots(2, 1, sharex=True)
    for method, rows in frame.groupby("method", sort=False):
        axes[0].plot(rows["scenario"], rows["false_positive_rate"], marker=".", label=method)
        axes[1].plot(rows["scenario"], rows["probability_of_detection"], marker=".")
    axes[0].set_ylabel("false positive rate")
    axes[1].set_ylabel("probability of detection")
    axes[1].set_xlabel("Noufaily scenario")
    axes[0].legend(fontsize=8, ncol=3, loc="upper left")
    fig.tight_layout()
    metrics = list(next(iter(summary.values())))
    rows = [[m, *(f"{v[k]:.3f}" for k in metrics)] for m, v in summary.items()]
    html_report(
        path,
        "Outbreak detectors on the Noufaily et al. (2013) design",
        f"{replicates} replicate series per scenario; metrics averaged over scenarios.",
        [
            ("Averaged over scenarios", html_table(["method", *metrics], rows)),
            ("By scenario", f"<img alt='FPR and POD by scenario' src='{figure_data_uri(fig)}'>"),
        ],
    )


@surveillance_app.command("monitor")
def monitor_command(
    input: Annotated[
        Path,
        typer.Option(
            "--data",
            "--input",
            help="Long CSV: country, disease, syndrome, date (ISO Monday), observed.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Alarms as JSON.")],
    method: Annotated[str, typer.Option(help="Detector method.")] = "farrington-flexible",
    neighbours: Annotated[
        Path | None, typer.Option(help='JSON {"FR": ["BE", "DE"], ...} of bordering countries.')
    ] = None,
    lookback_weeks: Annotated[int, typer.Option(help="Latest weeks evaluated per series.")] = 4,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report: alarms over time, thresholds, ranking."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Monitor many series across countries; rank the latest week's alarms with evidence.

    \b
    Example:
      healthtwin surveillance monitor --data weekly_counts.csv \\
          --neighbours borders.json --out alarms.json --report alarms.html
    """
    import csv
    import json
    import math

    from healthtwin.scenarios.surveillance_runs import monitor_weekly_series

    try:
        rows = list(csv.DictReader(input.read_text(encoding="utf-8").splitlines()))
    except FileNotFoundError as err:
        raise InvalidInputError(f"--input {input} does not exist") from err
    needed = {"country", "disease", "syndrome", "date", "observed"}
    if not rows or not needed <= set(rows[0]):
        raise InvalidInputError(f"--input needs the columns {sorted(needed)}")
    borders = {}
    if neighbours is not None:
        try:
            borders = json.loads(neighbours.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise InvalidInputError(f"--neighbours {neighbours}: not a readable JSON map") from err
    series: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for line, row in enumerate(rows, start=2):
        key = (row["country"], row["disease"], row["syndrome"])
        try:
            value = float(row["observed"]) if row["observed"] not in ("", "NA") else math.nan
        except ValueError as err:
            raise InvalidInputError(
                f"--input line {line}: observed {row['observed']!r} is not a number"
            ) from err
        series.setdefault(key, []).append((row["date"], value))
    output = output_for(json_output, quiet)
    with output.progress(f"monitoring {len(series)} series", total=len(series)) as bar:
        ranked = monitor_weekly_series(
            series, method=method, neighbours=borders, lookback_weeks=lookback_weeks,
            on_progress=bar.update,
        )  # fmt: skip
    out.write_text(ranked.to_json(), encoding="utf-8")
    if report is not None:
        from healthtwin.scenarios.monitor_report import monitor_histories, write_monitor_report

        histories = monitor_histories(series, method=method, lookback_weeks=lookback_weeks)
        write_monitor_report(ranked, histories, report, title=input.name)
    output.result(
        {"series": len(series), "out": out, "report": json.loads(ranked.to_json()),
         "html_report": report},
        f"monitored {len(series)} series; wrote {out}"
        + ("" if report is None else f" and {report}"),
    )  # fmt: skip
