"""The HTML report of one outbreak detection run: counts, threshold, alarms over time.

:func:`write_detection_report` writes one self-contained page for a
:class:`~healthtwin.surveillance.detect.DetectionTable`: the weekly counts with the
detector's expected count and alarm threshold over the monitored weeks and the alarms
marked, the number of weeks monitored and alarms raised, and a table of the alarm weeks.
:func:`detection_report_file` runs the detector on the same CSV and options as
:func:`healthtwin.scenarios.surveillance_runs.detect_file` (deterministic, so the page
shows the CSV's numbers) and writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from healthtwin.scenarios.html import html_figure, html_report, html_table, new_figure
from healthtwin.surveillance import detect, read_series_csv
from healthtwin.surveillance.detect import DetectionTable

__all__ = ["detection_report_file", "write_detection_report"]


def detection_report_file(
    series: Path,
    report: Path,
    *,
    method: str,
    range_t: tuple[int, int],
    control: Mapping[str, object] | None = None,
) -> tuple[int, int]:
    """Run ``method`` on the series of a CSV as ``detect_file`` does; write the HTML report.

    Returns
    -------
    tuple of int
        The weeks monitored and the alarms raised (those of ``detect_file``).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [f"{t},,{5 + (t % 3) + (40 if t == 60 else 0)}" for t in range(1, 61)]
    >>> _ = (folder / "s.csv").write_text("t,date,observed\\n" + "\\n".join(rows) + "\\n")
    >>> detection_report_file(folder / "s.csv", folder / "alarms.html", method="ears-c1",
    ...                       range_t=(50, 60))
    (11, 1)
    """
    table = detect(read_series_csv(series), method=method, range_t=range_t, control=control)
    write_detection_report(table, report, title=series.name)
    return int(table.detection.t.size), int(table.detection.alarm.sum())


def write_detection_report(table: DetectionTable, path: Path, *, title: str) -> None:
    """Write a self-contained HTML report of a detection run (plot embedded).

    Parameters
    ----------
    table
        The detection result (:func:`healthtwin.surveillance.detect`).
    path
        The HTML file written (its folder is created).
    title
        What was monitored (the series file's name).
    """
    d = table.detection
    weeks, alarms = int(d.t.size), int(d.alarm.sum())
    undefined = int((~d.defined[0]).sum())
    summary = html_table(
        ["quantity", "value"],
        [["method", d.method], ["weeks monitored", weeks], ["alarms", alarms],
         ["weeks without a threshold", undefined]],
        row_headers=True,
    )  # fmt: skip
    html_report(
        path,
        f"Outbreak detection: {title}",
        f"{d.method} on {table.series.observed.size} weeks of counts, monitoring weeks "
        f"{int(d.t[0])}-{int(d.t[-1])}: an alarm is raised when a week's count exceeds the "
        "detector's threshold (upper bound).",
        [
            ("Summary", summary),
            ("Counts and threshold over time", _figure(table)),
            ("Alarm weeks", _alarm_table(table)),
        ],
    )


def _label(table: DetectionTable, t: int) -> str:
    return str(t) if table.series.date is None else str(table.series.date[t - 1])


def _figure(table: DetectionTable) -> str:
    d, series = table.detection, table.series
    fig = new_figure(9, 3.8)
    ax = fig.subplots()
    x_all = series.t if series.date is None else series.date
    x_mon = x_all[d.t - 1]
    ax.plot(x_all, series.observed, color="#888", lw=0.8, label="observed")
    ax.plot(x_mon, d.expected[0], color="#4c78a8", lw=1.2, label="expected")
    ax.step(x_mon, d.upperbound[0], where="mid", color="#c62828", lw=1.2, label="threshold")
    alarm = d.alarm[0]
    ax.scatter(x_mon[alarm], series.observed[d.t - 1][alarm], color="#c62828", zorder=3,
               marker="v", s=30, label="alarm")  # fmt: skip
    ax.set_xlabel("week" if series.date is None else "week (Monday)")
    ax.set_ylabel("count per week")
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    fig.tight_layout()
    return html_figure(
        fig,
        f"Weekly counts as a grey line; over the {d.t.size} monitored weeks the expected "
        f"count (blue) and the alarm threshold (red steps); {int(alarm.sum())} alarm weeks "
        "marked with red triangles.",
        "Counts above the red threshold raise an alarm (triangles).",
    )


def _alarm_table(table: DetectionTable) -> str:
    d = table.detection
    rows = []
    for j in np.flatnonzero(d.alarm[0]):
        t = int(d.t[j])
        rows.append(
            [_label(table, t), f"{table.series.observed[t - 1]:g}", f"{d.expected[0, j]:.3g}",
             f"{d.upperbound[0, j]:.3g}", f"{d.score[0, j]:.3g}"]
        )  # fmt: skip
    if not rows:
        return "<p>No alarm in the monitored weeks.</p>"
    return html_table(
        ["week", "observed", "expected", "threshold", "score"], rows, row_headers=True
    )
