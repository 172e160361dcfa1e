"""Figures and self-contained HTML reports for the command line (matplotlib, Agg)."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from healthtwin.core.trajectory import Trajectory
from healthtwin.errors import MissingDependencyError

__all__ = [
    "figure_data_uri",
    "file_data_uri",
    "html_report",
    "html_table",
    "new_figure",
    "plot_trajectory",
]


def plot_trajectory(trajectory: Trajectory, path: Path, title: str) -> None:
    """One panel per output channel against time, saved as a PNG (Agg, no pyplot)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingDependencyError(
            "plots need matplotlib: pip install 'healthtwin[plot]'"
        ) from err
    channels = trajectory.output_channels
    cols = 2 if len(channels) > 3 else 1
    rows = math.ceil(len(channels) / cols)
    fig = Figure(figsize=(10, 2.2 * rows + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for k, channel in enumerate(channels):
        ax = axes[k]
        for i in range(trajectory.n_members):
            ax.plot(trajectory.t, trajectory.outputs[i, :, k], lw=1.0)
        ax.set_ylabel(f"{channel.name}\n({channel.unit})", fontsize=8)
    for ax in axes[len(channels) :]:
        ax.set_visible(False)
    for ax in axes[-cols:]:
        ax.set_xlabel(f"time ({trajectory.time_unit})")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def figure_data_uri(fig: Any) -> str:
    """A matplotlib ``Figure`` as a ``data:image/png;base64,...`` address for HTML."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_data_uri(path: Path) -> str:
    """A PNG file on disk as a ``data:`` address, so the report stands alone."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def new_figure(width_in: float, height_in: float) -> Any:
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot, no display)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingDependencyError(
            "plots need matplotlib: pip install 'healthtwin[plot]'"
        ) from err
    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def html_report(path: Path, title: str, intro: str, sections: Sequence[tuple[str, str]]) -> None:
    """Write a self-contained HTML page: a title, a paragraph and ``(heading, html)`` parts.

    ``intro`` is escaped; section bodies are HTML made by the caller (tables, ``<img>``).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     page = Path(d) / "r.html"
    ...     html_report(page, "A & B", "two runs", [("Table", "<table></table>")])
    ...     text = page.read_text(encoding="utf-8")
    >>> "<h1>A &amp; B</h1>" in text and "<h2>Table</h2>" in text
    True
    """
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>",
    ]
    parts += [f"<h2>{html.escape(heading)}</h2>{body}" for heading, body in sections]
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table of already formatted cells (escaped here)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)
