"""Writing epidemic projections: quantile tables by region and nation, and fan charts.

``daily.csv`` has one row per variant, day, region (plus ``national``) and quantity, with
columns ``variant,day,date,region,quantity,mean,q0.025,q0.05,q0.25,q0.5,q0.75,q0.95,q0.975``
(``date`` empty unless the scenario gives a ``start_date``). Quantiles are over replicates
(numpy's default linear interpolation).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, MissingDependencyError
from healthtwin.population.epidemic import EpidemicResult

__all__ = ["LEVELS", "OUTPUT_QUANTITIES", "plot_projection", "write_daily_csv"]

#: Quantile levels of the projection tables.
LEVELS: tuple[float, ...] = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)
#: The quantities written (the issue's: incidence, admissions, ICU occupancy, deaths; and more).
OUTPUT_QUANTITIES: tuple[str, ...] = (
    "incidence",
    "cases",
    "admissions",
    "hospital_occupancy",
    "icu_occupancy",
    "deaths",
    "vaccinated",
)


def write_daily_csv(
    results: Mapping[str, EpidemicResult],
    path: Path,
    *,
    start_date: str | None = None,
    quantities: Sequence[str] = OUTPUT_QUANTITIES,
) -> int:
    """Write the quantile table of every variant; returns the number of data rows."""
    first = _date(start_date)
    header = ["variant", "day", "date", "region", "quantity", "mean"]
    header += [f"q{level:g}" for level in LEVELS]
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for variant, result in results.items():
            names = (*result.regions, "national")
            for quantity in quantities:
                series = result.get(quantity)  # (reps, days, R)
                full = np.concatenate([series, series.sum(axis=2, keepdims=True)], axis=2)
                mean = full.mean(axis=0)
                qs = np.quantile(full, LEVELS, axis=0)
                for day in range(full.shape[1]):
                    date = "" if first is None else (first + dt.timedelta(days=day)).isoformat()
                    for r, region in enumerate(names):
                        writer.writerow(
                            [variant, day, date, region, quantity, _fmt(mean[day, r])]
                            + [_fmt(v) for v in qs[:, day, r]]
                        )
                        rows += 1
    return rows


def plot_projection(
    results: Mapping[str, EpidemicResult],
    path: Path,
    *,
    title: str,
    quantities: Sequence[str] = ("incidence", "admissions", "icu_occupancy", "deaths"),
    capacity: FloatArray | None = None,
) -> None:
    """National fan charts (median, 50 % and 95 % bands) per quantity and variant, as PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingDependencyError(
            "plots need matplotlib: pip install 'healthtwin[plot]'"
        ) from err
    fig = Figure(figsize=(11, 2.6 * len(quantities) + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(quantities), 1, sharex=True, squeeze=False)[:, 0]
    for ax, quantity in zip(axes, quantities, strict=True):
        for k, (variant, result) in enumerate(results.items()):
            national = result.national(quantity)
            days = np.arange(national.shape[1])
            lo95, lo50, med, hi50, hi95 = np.quantile(
                national, [0.025, 0.25, 0.5, 0.75, 0.975], axis=0
            )
            colour = f"C{k}"
            ax.fill_between(days, lo95, hi95, color=colour, alpha=0.15, lw=0)
            ax.fill_between(days, lo50, hi50, color=colour, alpha=0.3, lw=0)
            ax.plot(days, med, color=colour, lw=1.5, label=variant)
        if quantity == "icu_occupancy" and capacity is not None:
            ax.axhline(float(np.sum(capacity)), color="k", ls="--", lw=1, label="ICU beds")
        ax.set_ylabel(quantity.replace("_", " "), fontsize=9)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("day")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _fmt(value: float) -> str:
    return f"{float(value):.6g}"


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInputError(
            f"start_date {text!r} is not an ISO date; write it as YYYY-MM-DD"
        ) from err


#: Weekly hub targets written by :func:`write_hub_csv`: target name -> (quantity, how).
HUB_TARGETS: dict[str, tuple[str, str]] = {
    "wk inc case": ("cases", "sum"),
    "wk inc hosp": ("admissions", "sum"),
    "wk inc death": ("deaths", "sum"),
    "icu occupancy": ("icu_occupancy", "last"),
}


def write_hub_csv(results: Mapping[str, EpidemicResult], path: Path, *, start_date: str) -> int:
    """Weekly targets by region (and ``national``) in the hubs' format, one scenario per variant.

    Columns are the hubverse task and output columns plus ``scenario_id`` (the variant), as
    in the scenario modeling hubs. The reference date is the day before ``start_date`` (the
    first simulated day), so horizon ``h`` is the week of simulated days ``7(h-1) .. 7h-1``
    and its ``target_end_date`` is that week's last day. Quantiles are the hubs' 23 levels,
    and every replicate is also written as a sample.
    """
    from healthtwin.population.forecast_hub import hub_table

    first = _date(start_date)
    assert first is not None
    reference_date = (first - dt.timedelta(days=1)).isoformat()
    tables = []
    for variant, result in results.items():
        weeks = result.n_days // 7
        if weeks < 1:
            raise InvalidInputError("hub output needs at least one whole simulated week")
        names = [*result.regions, "national"]
        for target, (quantity, how) in HUB_TARGETS.items():
            series = result.get(quantity)
            full = np.concatenate([series, series.sum(axis=2, keepdims=True)], axis=2)
            weekly = full[:, : 7 * weeks].reshape(full.shape[0], weeks, 7, full.shape[2])
            values = weekly.sum(axis=2) if how == "sum" else weekly[:, :, -1, :]
            table = hub_table(
                values,
                reference_date=reference_date,
                target=target,
                locations=names,
                horizons=list(range(1, weeks + 1)),
                output_types=("quantile", "sample"),
            )
            table.insert(0, "scenario_id", variant)
            tables.append(table)
    import pandas as pd

    combined = pd.concat(tables, ignore_index=True)
    combined.to_csv(path, index=False, date_format="%Y-%m-%d")
    return len(combined)
