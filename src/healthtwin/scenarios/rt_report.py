"""The HTML report of an Rt estimate: incidence, Rt with its credible intervals, key numbers.

:func:`write_rt_report` writes one self-contained page for a reproduction-number estimate
(Cori et al. 2013, :func:`healthtwin.population.rt.estimate_rt`): the daily incidence
(local and imported) above the posterior median of R at the end of each sliding window
with its 50 % and 95 % credible bands, the latest estimate in words and a table of the
latest windows. :func:`rt_report_file` estimates from the same CSV and options as
:func:`healthtwin.scenarios.epidemic_runs.estimate_rt_file` (so the page shows exactly the
numbers that the CSV holds) and writes the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from healthtwin.population.rt import Incidence, RtEstimate, estimate_rt, read_incidence
from healthtwin.scenarios.html import html_figure, html_report, html_table, new_figure

__all__ = ["latest_rt", "rt_report_file", "write_rt_report"]

#: Windows listed in the report's table (the latest ones).
TABLE_WINDOWS = 14


def latest_rt(estimate: RtEstimate, incidence: Incidence | None = None) -> dict[str, object]:
    """The last window with an estimate: its days, mean, median and 95 % credible interval.

    Parameters
    ----------
    estimate
        An Rt estimate.
    incidence
        The incidence it came from; its dates name the window's last day when present.

    Returns
    -------
    dict
        ``t_start``, ``t_end`` (1-based days), ``date_end`` (ISO date or ``None``),
        ``mean_R``, ``std_R``, ``median_R``, ``q0025_R``, ``q0975_R``; an empty dict when
        no window has an estimate.

    Examples
    --------
    >>> counts = [10, 12, 15, 18, 22, 27, 33, 40, 48, 58, 70, 84, 100, 120, 145]
    >>> rt = estimate_rt(Incidence.from_counts(counts), si_mean=2.6, si_sd=1.5)
    >>> latest = latest_rt(rt)
    >>> latest["t_end"], latest["q0025_R"] < latest["median_R"] < latest["q0975_R"]
    (15, True)
    """
    known = np.flatnonzero(np.isfinite(estimate.mean_r))
    if known.size == 0:
        return {}
    i = int(known[-1])
    table = estimate.columns()
    t_end = int(estimate.t_end[i])
    dates = None if incidence is None else incidence.dates
    return {
        "t_start": int(estimate.t_start[i]),
        "t_end": t_end,
        "date_end": None if dates is None else dates[t_end - 1].isoformat(),
        **{name: float(table[name][i]) for name in _NUMBERS},
    }


_NUMBERS = ("mean_R", "std_R", "median_R", "q0025_R", "q0975_R")


def rt_report_file(
    incidence_path: Path,
    report: Path,
    *,
    si_mean: float | None = None,
    si_sd: float | None = None,
    si_distr: Sequence[float] | None = None,
    window: int = 7,
    prior_mean: float = 5.0,
    prior_sd: float = 5.0,
) -> dict[str, object]:
    """Estimate Rt from an incidence CSV as ``estimate_rt_file`` does; write the HTML report.

    Parameters
    ----------
    incidence_path
        CSV with a column ``I`` (or ``local`` and ``imported``), optional ``dates``.
    report
        The HTML file written.
    si_mean, si_sd, si_distr, window, prior_mean, prior_sd
        As :func:`healthtwin.population.rt.estimate_rt`.

    Returns
    -------
    dict
        The latest estimate (:func:`latest_rt`).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> counts = [10, 12, 15, 18, 22, 27, 33, 40, 48, 58, 70, 84, 100, 120, 145]
    >>> _ = (folder / "cases.csv").write_text("I\\n" + "\\n".join(map(str, counts)) + "\\n")
    >>> latest = rt_report_file(folder / "cases.csv", folder / "rt.html", si_mean=2.6,
    ...                         si_sd=1.5)
    >>> "<figure>" in (folder / "rt.html").read_text(), latest["t_end"]
    (True, 15)
    """
    incidence = read_incidence(incidence_path)
    estimate = estimate_rt(
        incidence,
        si_mean=si_mean,
        si_sd=si_sd,
        si_distr=None if si_distr is None else list(si_distr),
        window=window,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )
    if si_distr is None:
        serial = f"serial interval mean {si_mean:g} days, SD {si_sd:g} days"
    else:
        serial = f"serial interval given as {len(si_distr)} daily weights"
    write_rt_report(
        incidence,
        estimate,
        report,
        title=incidence_path.name,
        method=f"{window}-day sliding windows; {serial}; gamma prior on R with mean "
        f"{prior_mean:g} and SD {prior_sd:g}",
    )
    return latest_rt(estimate, incidence)


def write_rt_report(
    incidence: Incidence, estimate: RtEstimate, path: Path, *, title: str, method: str
) -> None:
    """Write a self-contained HTML report of ``estimate`` (plots embedded, no external files).

    Parameters
    ----------
    incidence
        The daily incidence the estimate came from.
    estimate
        The Rt estimate.
    path
        The HTML file written (its folder is created).
    title
        What was estimated (the incidence file's name).
    method
        One sentence on the windows, serial interval and prior.
    """
    latest = latest_rt(estimate, incidence)
    sections = [("Latest estimate", _latest_text(latest))]
    sections.append(("Incidence and Rt over time", _figure(incidence, estimate)))
    sections.append(("Latest windows", _window_table(incidence, estimate)))
    html_report(
        path,
        f"Reproduction number Rt: {title}",
        f"Cori et al. (2013) estimate over {incidence.n_days} days of incidence; {method}. "
        "Intervals are posterior (credible) intervals.",
        sections,
    )


def _latest_text(latest: dict[str, object]) -> str:
    if not latest:
        return "<p>No window has an estimate: the series is shorter than the serial interval.</p>"
    day = f"day {latest['t_end']}" + (
        f" ({latest['date_end']})" if latest["date_end"] is not None else ""
    )
    rows = [[name, f"{latest[name]:.3f}"] for name in _NUMBERS]
    return (
        f"<p>In the window ending on {day}, Rt has posterior median "
        f"<strong>{latest['median_R']:.2f}</strong> (95 % credible interval "
        f"{latest['q0025_R']:.2f} to {latest['q0975_R']:.2f}; mean "
        f"{latest['mean_R']:.2f}).</p>"
        + html_table(["quantity", "value"], rows, row_headers=True,
                     caption=f"Posterior of R, window days {latest['t_start']}-{latest['t_end']}")
    )  # fmt: skip


def _axis(incidence: Incidence) -> tuple[list[dt.date] | np.ndarray, str]:
    if incidence.dates is not None:
        return list(incidence.dates), "date"
    return np.arange(1, incidence.n_days + 1), "day"


def _figure(incidence: Incidence, estimate: RtEstimate) -> str:
    days, label = _axis(incidence)
    fig = new_figure(9, 5.5)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.3])
    top.bar(days, incidence.local, color="#4c78a8", label="local", width=1.0)
    if incidence.imported.any():
        top.bar(days, incidence.imported, bottom=incidence.local, color="#f58518",
                label="imported", width=1.0)  # fmt: skip
        top.legend(fontsize=8, loc="upper left")
    top.set_ylabel("cases per day")
    q = estimate.quantiles()
    ends = [days[int(t) - 1] for t in estimate.t_end]
    bottom.fill_between(ends, q[:, 0], q[:, 6], color="#4c78a8", alpha=0.2, label="95 % CrI")
    bottom.fill_between(ends, q[:, 2], q[:, 4], color="#4c78a8", alpha=0.35, label="50 % CrI")
    bottom.plot(ends, q[:, 3], color="#1f3d63", lw=1.5, label="median")
    bottom.axhline(1.0, color="#c62828", lw=1, ls="--")
    bottom.set_ylabel("Rt (window end)")
    bottom.set_xlabel(label)
    bottom.legend(fontsize=8, loc="upper right")
    if incidence.dates is not None:
        fig.autofmt_xdate()
    fig.tight_layout()
    return html_figure(
        fig,
        "Two panels: daily case counts as bars, and below them the posterior median of Rt "
        "at the end of each window with shaded 50 % and 95 % credible bands and a dashed "
        "line at Rt = 1.",
        "Top: daily incidence. Bottom: Rt by window end; the epidemic grows while the band "
        "lies above the dashed line at 1 and shrinks while it lies below.",
    )


def _window_table(incidence: Incidence, estimate: RtEstimate) -> str:
    table = estimate.columns()
    first = max(0, estimate.t_end.size - TABLE_WINDOWS)
    rows = []
    for i in range(first, estimate.t_end.size):
        t_end = int(estimate.t_end[i])
        when = str(t_end) if incidence.dates is None else incidence.dates[t_end - 1].isoformat()
        rows.append(
            [when, *(_number(table[name][i]) for name in ("mean_R", "median_R", "q0025_R",
                                                          "q0975_R"))]
        )  # fmt: skip
    head = "window end (date)" if incidence.dates is not None else "window end (day)"
    return html_table(
        [head, "mean", "median", "2.5 %", "97.5 %"],
        rows,
        row_headers=True,
        caption=f"The last {len(rows)} windows (all windows are in the CSV)",
    )


def _number(value: float) -> str:
    return "NA" if not np.isfinite(value) else f"{value:.3f}"
