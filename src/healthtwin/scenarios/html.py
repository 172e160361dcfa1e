"""Self-contained HTML reports: a page, its tables and its figures, with nothing to fetch.

A report is one file a person can open anywhere, offline: figures are matplotlib PNGs
(Agg canvas, no pyplot, no display) embedded as ``data:`` addresses, tables are plain HTML
with header cells scoped for screen readers, and every figure sits in a ``<figure>`` with
alternative text and a ``<figcaption>``. The command line's reports and the report
builders of this package (``*_report`` modules) all use these helpers.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from healthtwin.errors import MissingDependencyError

__all__ = [
    "figure_data_uri",
    "file_data_uri",
    "html_figure",
    "html_report",
    "html_table",
    "new_figure",
]


def new_figure(width_in: float, height_in: float) -> Any:
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot, no display).

    Raises
    ------
    MissingDependencyError
        When matplotlib is not installed (the message names the extra).

    Examples
    --------
    >>> fig = new_figure(4, 3)
    >>> [round(v) for v in fig.get_size_inches()]
    [4, 3]
    """
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


def figure_data_uri(fig: Any) -> str:
    """A matplotlib ``Figure`` as a ``data:image/png;base64,...`` address for HTML.

    Examples
    --------
    >>> figure_data_uri(new_figure(1, 1)).startswith("data:image/png;base64,")
    True
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_data_uri(path: Path) -> str:
    """A PNG file on disk as a ``data:`` address, so the report stands alone."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def html_figure(fig: Any, alt: str, caption: str) -> str:
    """A figure element: the embedded PNG with its alternative text and its caption.

    Parameters
    ----------
    fig
        A matplotlib ``Figure`` (:func:`new_figure`).
    alt
        What the image shows, for a reader who cannot see it (escaped here).
    caption
        What to read from it, shown under the image (escaped here).

    Examples
    --------
    >>> part = html_figure(new_figure(1, 1), "a <blank> square", "Nothing to see.")
    >>> part.startswith("<figure><img alt='a &lt;blank&gt; square' src='data:image/png")
    True
    >>> part.endswith("<figcaption>Nothing to see.</figcaption></figure>")
    True
    """
    return (
        f"<figure><img alt='{html.escape(alt)}' src='{figure_data_uri(fig)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def html_report(path: Path, title: str, intro: str, sections: Sequence[tuple[str, str]]) -> None:
    """Write a self-contained HTML page: a title, a paragraph and ``(heading, html)`` parts.

    ``intro`` is escaped; section bodies are HTML made by the caller (tables, figures).
    The folder of ``path`` is created.

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
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>",
    ]
    parts += [f"<section><h2>{html.escape(heading)}</h2>{body}</section>"
              for heading, body in sections]  # fmt: skip
    parts.append("</main></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    caption: str | None = None,
    row_headers: bool = False,
) -> str:
    """An HTML table of already formatted cells (escaped here).

    Parameters
    ----------
    header
        Column headings (``<th scope='col'>``).
    rows
        The cells, one sequence per row.
    caption
        A caption read before the table.
    row_headers
        Make each row's first cell its heading (``<th scope='row'>``).

    Examples
    --------
    >>> table = html_table(["name", "value"], [["a<b", 1]], row_headers=True)
    >>> "<th scope='col'>value</th>" in table, "<th scope='row'>a&lt;b</th><td>1</td>" in table
    (True, True)
    """
    head = "".join(f"<th scope='col'>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = [html.escape(str(c)) for c in row]
        if row_headers and cells:
            first, rest = f"<th scope='row'>{cells[0]}</th>", cells[1:]
        else:
            first, rest = "", cells
        body.append("<tr>" + first + "".join(f"<td>{c}</td>" for c in rest) + "</tr>")
    title = "" if caption is None else f"<caption>{html.escape(caption)}</caption>"
    return f"<table>{title}<tr>{head}</tr>{''.join(body)}</table>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    "caption{text-align:left;font-weight:600}figure{margin:1em 0}"
    "figcaption{font-size:.9em;color:#444}"
)
