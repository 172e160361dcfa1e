"""``healthtwin surveillance``: outbreak detection on weekly count series."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthtwin.errors import InvalidInputError

surveillance_app = typer.Typer(help="Outbreak detection on count series.", no_args_is_help=True)


@surveillance_app.command("detect")
def detect_command(
    method: Annotated[
        str, typer.Option(help="farrington-flexible, farrington, ears-c1/c2/c3, cusum.")
    ],
    input: Annotated[
        Path, typer.Option("--input", help="CSV: t, date (ISO Monday), observed[, year, week].")
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
) -> None:
    """Run a detector on one series; write the detection table as CSV."""
    from healthtwin.surveillance import detect, read_series_csv

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
    table = detect(read_series_csv(input), method=method, range_t=_range(range_), control=control)
    table.write_csv(out)
    alarms = int(table.detection.alarm.sum())
    typer.echo(f"wrote {table.detection.t.size} weeks ({alarms} alarms) to {out}")


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
