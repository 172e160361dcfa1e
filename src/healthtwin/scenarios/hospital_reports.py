"""A hospital simulation written out: per-replication and summary tables, an HTML report.

:func:`write_simulation_tables` writes ``replications.csv`` (one row per replication, every
metric) and ``summary.csv`` (mean and 95 % t-interval per metric);
:func:`write_simulation_report` a self-contained HTML page with the occupancy and wait of
every unit as bar charts with their intervals (matplotlib, Agg backend, embedded as PNG; a
note replaces the charts when matplotlib is missing) and the whole summary table.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import numpy as np

from healthtwin.hospital import SimulationResult

__all__ = ["write_simulation_report", "write_simulation_tables"]


def write_simulation_tables(result: SimulationResult, folder: Path) -> list[Path]:
    """Write ``replications.csv`` and ``summary.csv`` of ``result`` into ``folder``.

    Parameters
    ----------
    result
        A simulation (:func:`healthtwin.hospital.simulate`).
    folder
        An existing folder.

    Returns
    -------
    list of Path
        The two files written.

    Examples
    --------
    >>> import tempfile
    >>> from healthtwin.hospital import mmc_config, simulate
    >>> result = simulate(mmc_config(9.0, 1.0, 10), days=5, replications=2)
    >>> written = write_simulation_tables(result, Path(tempfile.mkdtemp()))
    >>> written[1].read_text().splitlines()[0]
    'metric,mean,low,high,level'
    """
    names = result.metrics
    replications = folder / "replications.csv"
    with replications.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["replication", *names])
        for r in range(result.replications):
            w.writerow([r, *(f"{result.values(m)[r]:.6g}" for m in names)])
    summary = folder / "summary.csv"
    with summary.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["metric", "mean", "low", "high", "level"])
        for m, s in result.summary().items():
            w.writerow([m, f"{s.mean:.6g}", f"{s.low:.6g}", f"{s.high:.6g}", s.level])
    return [replications, summary]


def _bar_png(result: SimulationResult, prefix: str, label: str) -> str | None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    summary = result.summary()
    items = [(m.removeprefix(prefix), s) for m, s in summary.items()
             if m.startswith(prefix) and np.isfinite(s.mean)]  # fmt: skip
    fig = Figure(figsize=(7, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(items))
    means = np.array([s.mean for _, s in items])
    err = np.array([[s.mean - s.low for _, s in items], [s.high - s.mean for _, s in items]])
    ax.bar(x, means, yerr=np.nan_to_num(err), capsize=4, color="#4c78a8")
    ax.set_xticks(x, [u for u, _ in items])
    ax.set_ylabel(label)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_simulation_report(result: SimulationResult, path: Path, title: str) -> None:
    """Write a self-contained HTML report: occupancy and wait plots, the summary table.

    Parameters
    ----------
    result
        A simulation (:func:`healthtwin.hospital.simulate`).
    path
        The HTML file to write.
    title
        What was simulated (the configuration's file name).

    Examples
    --------
    >>> import tempfile
    >>> from healthtwin.hospital import mmc_config, simulate
    >>> result = simulate(mmc_config(9.0, 1.0, 10), days=5, replications=2)
    >>> page = Path(tempfile.mkdtemp()) / "report.html"
    >>> write_simulation_report(result, page, "M/M/10")
    >>> "<h1>Hospital simulation: M/M/10</h1>" in page.read_text()
    True
    """
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{s.mean:.4g}</td><td>{s.low:.4g}</td>"
        f"<td>{s.high:.4g}</td></tr>"
        for m, s in result.summary().items()
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>healthtwin hospital simulation: {html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}</style>",
        "</head><body>",
        f"<h1>Hospital simulation: {html.escape(title)}</h1>",
        f"<p>{result.replications} replications of {result.days:g} days after "
        f"{result.warmup_days:g} warm-up days; engine {result.engine}; seed {result.seed}.</p>",
    ]
    for prefix, label in (("occupancy.", "mean occupancy"), ("wait_hours.", "mean wait (h)")):
        png = _bar_png(result, prefix, label)
        if png is None:
            parts.append("<p>(plots need matplotlib: pip install 'healthtwin[plot]')</p>")
        else:
            parts.append(f"<h2>{label}</h2><img alt='{label} by unit' "
                         f"src='data:image/png;base64,{png}'>")  # fmt: skip
    parts.append("<h2>All metrics (mean and 95 % t-interval over replications)</h2>")
    parts.append(f"<table><tr><th>metric</th><th>mean</th><th>low</th><th>high</th></tr>{rows}"
                 "</table></body></html>")  # fmt: skip
    path.write_text("\n".join(parts), encoding="utf-8")
