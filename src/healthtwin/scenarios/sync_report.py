"""The HTML report of a patient sync: assimilated state, forecasts per horizon, parameters.

:func:`write_sync_report` writes one self-contained page for a
:class:`~healthtwin.coupling.patient_sync.SyncedTwin`: for each observed output, the
readings (refused ones marked) with the twin's filtered median and 90 % band after each
reading, and the forecasts made at each reading for every horizon, drawn at the time they
forecast, with their 90 % bands; each estimated parameter's median and 90 % interval
relative to its prior after each reading; and the tables of the final parameter estimates
(the numbers of the command's JSON) and of the last reading's forecasts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from healthtwin.coupling.patient_sync import SyncedTwin
from healthtwin.scenarios.html import html_figure, html_report, html_table, new_figure

__all__ = ["write_sync_report"]

# Columns of the last axis of the report's quantile arrays.
_P5, _P50, _P95 = 0, 1, 2
_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2")


def write_sync_report(synced: SyncedTwin, path: Path, *, title: str, time_unit: str) -> None:
    """Write a self-contained HTML report of a sync (plots embedded, no external files).

    Parameters
    ----------
    synced
        The twin after the last reading and its per-reading report.
    path
        The HTML file written (its folder is created).
    title
        What was replayed (the readings file's name).
    time_unit
        The time unit of the readings and horizons (``"min"``).
    """
    report = synced.report
    n_used = int(np.sum(report.used))
    sections = []
    if synced.estimated:
        sections.append(("Parameter estimates after the last reading", _parameter_table(synced)))
    sections.append(("Forecasts from the last reading", _forecast_table(synced, time_unit)))
    for k, name in enumerate(report.outputs):
        sections.append((f"{name}: readings, assimilated state and forecasts",
                         _output_figure(synced, k, time_unit)))  # fmt: skip
    if synced.estimated:
        sections.append(("Parameters over time", _parameter_figure(synced, time_unit)))
    html_report(
        path,
        f"Patient twin sync: {title}",
        f"{report.times.size} readings of {', '.join(report.outputs)} replayed into the twin "
        f"({n_used} assimilated, {report.times.size - n_used} refused as outliers or empty); "
        f"forecast horizons {', '.join(f'{h:g}' for h in report.horizons)} {time_unit}. "
        "Bands are the 5-95 % quantiles of the ensemble.",
        sections,
    )


def _parameter_table(synced: SyncedTwin) -> str:
    last = synced.report.parameters[-1]
    rows = []
    for j, name in enumerate(synced.estimated):
        prior = synced.nominal[j]
        p5, p50, p95 = (float(last[j, q]) for q in (_P5, _P50, _P95))
        rows.append(
            [f"{name} ({synced.parameters[j]})", f"{p50:.4g}", f"{p5:.4g} to {p95:.4g}",
             f"{prior:.4g}", f"{p50 / prior:.3f}", f"{p5 / prior:.3f} to {p95 / prior:.3f}"]
        )  # fmt: skip
    return html_table(
        ["parameter", "median", "90 % interval", "prior", "median / prior",
         "90 % interval / prior"],
        rows,
        row_headers=True,
    )  # fmt: skip


def _forecast_table(synced: SyncedTwin, time_unit: str) -> str:
    report = synced.report
    t_last = float(report.times[-1])
    rows = []
    for i, h in enumerate(report.horizons):
        for k, name in enumerate(report.outputs):
            p5, p50, p95 = (float(report.forecasts[-1, i, k, q]) for q in (_P5, _P50, _P95))
            rows.append([f"+{h:g} {time_unit} ({t_last + h:g})", name, f"{p50:.4g}",
                         f"{p5:.4g} to {p95:.4g}"])  # fmt: skip
    return html_table(
        [f"horizon (time, {time_unit})", "output", "median", "90 % interval"],
        rows,
        row_headers=True,
        caption=f"Made at the last reading, {t_last:g} {time_unit}",
    )


def _output_figure(synced: SyncedTwin, k: int, time_unit: str) -> str:
    report = synced.report
    t = report.times
    name = report.outputs[k]
    fig = new_figure(10, 5.6)
    state, ahead = fig.subplots(2, 1, sharex=True)
    used = np.asarray(report.used, dtype=bool)
    for ax in (state, ahead):
        ax.scatter(t[used], report.observed[used, k], s=8, color="#333", label="reading",
                   zorder=3)  # fmt: skip
        if (~used).any():
            ax.scatter(t[~used], report.observed[~used, k], s=18, color="#c62828",
                       marker="x", label="refused", zorder=3)  # fmt: skip
    band = report.filtered[:, k]
    state.fill_between(t, band[:, _P5], band[:, _P95], color="#4c78a8", alpha=0.25,
                       label="90 % band")  # fmt: skip
    state.plot(t, band[:, _P50], color="#1f3d63", lw=1.2, label="median")
    state.set_ylabel(name, fontsize=8)
    state.set_title("assimilated state after each reading", fontsize=9)
    state.legend(fontsize=7, ncol=4, loc="upper left")
    for i, h in enumerate(report.horizons):
        colour = _COLOURS[i % len(_COLOURS)]
        f = report.forecasts[:, i, k]
        ahead.fill_between(t + h, f[:, _P5], f[:, _P95], color=colour, alpha=0.15)
        ahead.plot(t + h, f[:, _P50], color=colour, lw=1.0, label=f"+{h:g} {time_unit}")
    ahead.set_ylabel(name, fontsize=8)
    ahead.set_xlabel(f"time ({time_unit})")
    ahead.set_title("forecasts drawn at the time they forecast (median, 90 % band)", fontsize=9)
    ahead.legend(fontsize=7, ncol=len(report.horizons) + 2, loc="upper left")
    fig.tight_layout()
    return html_figure(
        fig,
        f"Two panels for {name} against time: the readings as dots with the twin's median "
        "and 90 % band after each reading, and below them the forecasts of each horizon "
        "drawn at the time they forecast, with 90 % bands.",
        f"{name}: a good twin's band covers the readings; forecasts that track the dots "
        "ahead of time are useful.",
    )


def _parameter_figure(synced: SyncedTwin, time_unit: str) -> str:
    report = synced.report
    fig = new_figure(10, 3.2)
    ax = fig.subplots()
    for j, name in enumerate(synced.estimated):
        colour = _COLOURS[j % len(_COLOURS)]
        relative = report.parameters[:, j] / synced.nominal[j]
        ax.fill_between(report.times, relative[:, _P5], relative[:, _P95], color=colour,
                        alpha=0.2)  # fmt: skip
        ax.plot(report.times, relative[:, _P50], color=colour, lw=1.2, label=name)
    ax.axhline(1.0, color="#999", lw=0.8, ls="--")
    ax.set_ylabel("estimate / prior")
    ax.set_xlabel(f"time ({time_unit})")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return html_figure(
        fig,
        f"Median and 90 % band of {', '.join(synced.estimated)} relative to the prior after "
        "each reading; the dashed line is the prior.",
        "Parameters relative to their prior: bands narrow as the readings inform them.",
    )
