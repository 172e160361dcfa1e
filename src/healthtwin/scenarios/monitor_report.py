"""The HTML report of a multi-country monitor run: alarms over time, thresholds, ranking.

:func:`write_monitor_report` writes one self-contained page for a
:class:`~healthtwin.surveillance.monitor.MonitorReport` and the series it ranked: a grid of
alarms by series over the evaluated weeks, the recent counts of the alarming series (and
the first others) against the detector's expected count and threshold, the ranked alarms
with their evidence (the numbers of the JSON report) and the series without a threshold.
The thresholds over time are recomputed here with the monitor's own detector, method,
control and look-back window (the detector is deterministic and a week's bound depends on
the monitored window only through its start, which is the monitor's), so the latest week
on the page is the week that was ranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from healthtwin.core.types import FloatArray
from healthtwin.scenarios.html import html_figure, html_report, html_table, new_figure
from healthtwin.surveillance.detect import detect_matrix
from healthtwin.surveillance.monitor import MonitorReport

__all__ = ["SeriesHistory", "monitor_histories", "write_monitor_report"]

#: Series drawn as panels (alarming ones first), and weeks of counts shown in each.
MAX_PANELS = 9
WEEKS_SHOWN = 52
_WEEK = np.timedelta64(7, "D")

SeriesPoints = Mapping[tuple[str, str, str], Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class SeriesHistory:
    """One series' counts and its detector output over the evaluated weeks.

    Attributes
    ----------
    key
        ``(country, disease, syndrome)``.
    dates
        ``(n_weeks,)`` Mondays of every week of the series.
    observed
        ``(n_weeks,)`` counts (NaN: missing).
    expected, upperbound
        ``(n_evaluated,)`` expected count and alarm threshold over the last evaluated weeks
        (NaN where undefined).
    alarm
        ``(n_evaluated,)`` alarms over those weeks.
    """

    key: tuple[str, str, str]
    dates: NDArray[np.datetime64]
    observed: FloatArray
    expected: FloatArray
    upperbound: FloatArray
    alarm: NDArray[np.bool_]

    @property
    def evaluated_dates(self) -> NDArray[np.datetime64]:
        """``(n_evaluated,)`` Mondays of the evaluated weeks."""
        return self.dates[self.dates.size - self.alarm.size :]


def monitor_histories(
    series: SeriesPoints,
    *,
    method: str,
    lookback_weeks: int,
    control: Mapping[str, object] | None = None,
) -> list[SeriesHistory]:
    """The detector's output over the evaluated weeks of each series that reaches the end.

    Parameters
    ----------
    series
        ``(country, disease, syndrome)`` -> ``(ISO Monday, count)`` pairs, as given to
        :func:`healthtwin.scenarios.surveillance_runs.monitor_weekly_series`.
    method, lookback_weeks, control
        The monitor's detector method, look-back and control options.

    Returns
    -------
    list of SeriesHistory
        Sorted by key; series that stop before the latest week are left out (the monitor
        reports them as undefined).

    Examples
    --------
    >>> weeks = [f"2024-{m:02d}-{d:02d}" for m, d in [(1, 1), (1, 8), (1, 15), (1, 22),
    ...          (1, 29), (2, 5), (2, 12), (2, 19), (2, 26), (3, 4), (3, 11), (3, 18)]]
    >>> counts = [5, 6, 5, 7, 6, 5, 6, 5, 6, 5, 6, 60]
    >>> [h] = monitor_histories({("FR", "flu", "ili"): list(zip(weeks, counts))},
    ...                         method="ears-c2", lookback_weeks=2)
    >>> h.alarm.tolist(), str(h.evaluated_dates[-1])
    ([False, True], '2024-03-18')
    """
    built: dict[tuple[str, str, str], tuple[np.datetime64, FloatArray]] = {}
    ends: dict[tuple[str, str, str], np.datetime64] = {}
    for key, points in series.items():
        ordered = sorted(points)
        first = np.datetime64(ordered[0][0], "D")
        built[key] = (first, np.array([v for _, v in ordered], dtype=float))
        ends[key] = first + _WEEK * (len(ordered) - 1)
    latest = max(ends.values())
    groups: dict[tuple[np.datetime64, int], list[tuple[str, str, str]]] = {}
    for key in sorted(built):
        if ends[key] == latest:
            groups.setdefault((built[key][0], built[key][1].size), []).append(key)
    histories = []
    for (start, n_weeks), keys in groups.items():
        observed = np.array([built[k][1] for k in keys])
        dates = start + _WEEK * np.arange(n_weeks)
        monitored = np.arange(max(1, n_weeks - lookback_weeks + 1), n_weeks + 1)
        found = detect_matrix(
            observed, method=method, monitored=monitored, dates=dates, control=control
        )
        for i, key in enumerate(keys):
            histories.append(
                SeriesHistory(key, dates, observed[i], np.asarray(found.expected[i]),
                              np.asarray(found.upperbound[i]), np.asarray(found.alarm[i]))
            )  # fmt: skip
    return sorted(histories, key=lambda h: h.key)


def write_monitor_report(
    report: MonitorReport,
    histories: Sequence[SeriesHistory],
    path: Path,
    *,
    title: str,
) -> None:
    """Write a self-contained HTML report of a monitor run (plots embedded).

    Parameters
    ----------
    report
        The ranked alarms of the latest week.
    histories
        The detector's output over the evaluated weeks (:func:`monitor_histories`).
    path
        The HTML file written (its folder is created).
    title
        What was monitored (the input file's name).
    """
    sections = [("Ranked alarms in the latest week", _alarm_table(report))]
    if histories:
        sections.append(("Alarms over time", _alarm_grid(histories)))
        sections.append(("Counts and thresholds", _panels(report, histories)))
    if report.undefined:
        rows = [[f"{u.key.country} / {u.key.disease} / {u.key.syndrome}", u.reason]
                for u in report.undefined]  # fmt: skip
        sections.append(("Series without a threshold", html_table(["series", "reason"], rows,
                                                                  row_headers=True)))  # fmt: skip
    html_report(
        path,
        f"Cross-border monitoring: {title}",
        f"{report.n_series} weekly series monitored with {report.method}; latest week "
        f"{report.week}: {len(report.alarms)} alarm(s), {len(report.undefined)} series "
        "without a threshold. Alarms are ranked by how far the count exceeds its threshold, "
        "then by consecutive alarm weeks and neighbouring countries alarming for the same "
        "disease.",
        sections,
    )


def _alarm_table(report: MonitorReport) -> str:
    if not report.alarms:
        return "<p>No alarm in the latest week.</p>"
    rows = [
        [a.rank, a.key.country, a.key.disease, a.key.syndrome, f"{a.observed:g}",
         f"{a.expected:.3g}", f"{a.upperbound:.3g}", f"{a.exceedance_ratio:.3g}",
         a.consecutive_weeks, ", ".join(a.neighbours_alarming) or "-"]
        for a in report.alarms
    ]  # fmt: skip
    return html_table(
        ["rank", "country", "disease", "syndrome", "observed", "expected", "threshold",
         "observed / threshold", "consecutive weeks", "neighbours alarming"],
        rows,
        row_headers=True,
        caption=f"Week of {report.week}",
    )  # fmt: skip


def _name(key: tuple[str, str, str]) -> str:
    return " / ".join(key)


def _alarm_grid(histories: Sequence[SeriesHistory]) -> str:
    weeks = sorted({d for h in histories for d in h.evaluated_dates.tolist()})
    grid = np.full((len(histories), len(weeks)), np.nan)
    for i, h in enumerate(histories):
        for d, alarm, bound in zip(h.evaluated_dates.tolist(), h.alarm, h.upperbound,
                                   strict=True):  # fmt: skip
            grid[i, weeks.index(d)] = 1.0 if alarm else (0.0 if np.isfinite(bound) else np.nan)
    fig = new_figure(max(4.0, 1.0 + 0.5 * len(weeks)), 1.2 + 0.28 * len(histories))
    ax = fig.subplots()
    ax.imshow(np.ma.masked_invalid(grid), cmap="Reds", vmin=-0.15, vmax=1.0, aspect="auto")
    ax.set_yticks(range(len(histories)), [_name(h.key) for h in histories], fontsize=7)
    ax.set_xticks(range(len(weeks)), [str(w) for w in weeks], fontsize=7, rotation=45)
    ax.set_xlabel("week (Monday)")
    fig.tight_layout()
    n_alarms = int(np.nansum(grid))
    return html_figure(
        fig,
        f"A grid of {len(histories)} series (rows) by {len(weeks)} evaluated weeks "
        f"(columns); {n_alarms} cells are dark red alarms, pale cells had no alarm and "
        "blank cells no threshold.",
        "Alarms by series and week over the monitor's look-back window (dark: alarm).",
    )


def _panels(report: MonitorReport, histories: Sequence[SeriesHistory]) -> str:
    by_key = {h.key: h for h in histories}
    ranked = [(a.key.country, a.key.disease, a.key.syndrome) for a in report.alarms]
    order = [k for k in ranked if k in by_key] + [k for k in sorted(by_key) if k not in ranked]
    shown = [by_key[k] for k in order[:MAX_PANELS]]
    cols = min(3, len(shown))
    rows = -(-len(shown) // cols)
    fig = new_figure(4.0 * cols, 2.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, h in zip(axes, shown, strict=False):
        first = max(0, h.dates.size - WEEKS_SHOWN)
        ax.plot(h.dates[first:], h.observed[first:], color="#888", lw=0.8, label="observed")
        ax.plot(h.evaluated_dates, h.expected, color="#4c78a8", lw=1.2, marker=".",
                label="expected")  # fmt: skip
        ax.step(h.evaluated_dates, h.upperbound, where="mid", color="#c62828", lw=1.2,
                label="threshold")  # fmt: skip
        alarmed = h.observed[h.dates.size - h.alarm.size :][h.alarm]
        ax.scatter(h.evaluated_dates[h.alarm], alarmed, color="#c62828", marker="v", zorder=3,
                   label="alarm")  # fmt: skip
        ax.set_title(_name(h.key), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelrotation=30)
    axes[0].legend(fontsize=7, loc="upper left")
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return html_figure(
        fig,
        f"{len(shown)} panels, one per series, alarming series first: weekly counts as a "
        "grey line, expected count in blue and threshold as red steps over the evaluated "
        "weeks, alarms as red triangles.",
        f"Last {WEEKS_SHOWN} weeks of counts; expected count (blue) and threshold (red) over "
        "the look-back window; alarms marked.",
    )
